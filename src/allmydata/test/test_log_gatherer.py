"""``[node] log_gatherer.furl``: a node built from its directory publishes its
log events to Foolscap's own log gatherer (``foolscap.logging.gatherer``,
running in this process and writing its usual ``.flog`` file), censored; and
a node process publishes to a gatherer process made by ``flogtool
create-gatherer``."""

import glob
import json
import os
import signal
import subprocess
import sys

import pytest
import pytest_twisted
from foolscap.api import Tub, fireEventually
from foolscap.logging import flogfile
from foolscap.logging.gatherer import GathererService
from twisted.internet import reactor, task
from twisted.logger import Logger

from allmydata.config import ConfigError
from allmydata.log_publisher import FACILITY
from allmydata.node import create_node
from allmydata.scripts.runner import main
from allmydata.stats import StatsProvider
from allmydata.testing.processes import TAHOE, NodeProcesses, read_text, terminate
from allmydata.testing.nodeconfig import edit_config
from allmydata.testing.ports import free_port
from allmydata.testing.waiting import eventually, wait_for
from allmydata.util.rrefutil import call_remote

log = Logger()

CAP = "URI:CHK:" + "a" * 26 + ":" + "b" * 52 + ":3:10:123456"
SWISSNUM = "s3cr3tswissnumberofagatherer"
FURL = "pb://%s@tcp:127.0.0.1:1/%s" % ("c" * 32, SWISSNUM)


class QuietGatherer(GathererService):
    verbose = False


class Gatherer:
    """Foolscap's log gatherer in ``basedir`` (``port`` and ``location`` as
    ``flogtool create-gatherer`` writes them), started."""

    def __init__(self, basedir):
        os.makedirs(basedir)
        port = free_port()
        with open(os.path.join(basedir, "port"), "w") as f:
            f.write("tcp:%d:interface=127.0.0.1\n" % port)
        with open(os.path.join(basedir, "location"), "w") as f:
            f.write("tcp:127.0.0.1:%d\n" % port)
        self.service = QuietGatherer(rotate=None, use_bzip=False, basedir=basedir)
        self.service.startService()
        self.furl = self.service.my_furl

    def raw(self) -> bytes:
        with open(self.service._savefile_name, "rb") as f:
            return f.read()

    def events(self):
        return flog_events(self.raw())

    async def stop(self):
        await self.service.stopService()


def flog_events(raw: bytes):
    """[(from tub id, event)] in a gatherer's flog file: its complete lines
    (the one being written may be incomplete)."""
    assert raw.startswith(flogfile.MAGIC)
    lines = raw[len(flogfile.MAGIC):].split(b"\n")[:-1]
    # a gatherer restarted within the same second appends to the same file,
    # magic line included
    wrappers = [json.loads(line) for line in lines if not line.startswith(b"#")]
    return [(w["from"], w["d"]) for w in wrappers if "d" in w]


@pytest.fixture
def sighup():
    """The gatherer sets a SIGHUP handler (to rotate its file): put ours back."""
    old = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, old)


def client_dir(tmp_path, settings=None):
    d = str(tmp_path / "client")
    assert main(["create-client", "--webport", "none", "--nickname", "logger", d]) == 0
    if settings:
        edit_config(d, settings)
    return d


async def probe_until_received(gatherers, tubid):
    """Log probe events until every gatherer got one from ``tubid`` (a
    gatherer sees only the events after it subscribed)."""
    count = [0]

    def received():
        count[0] += 1
        log.info("log gatherer probe {n}", n=count[0])
        return all(any(sender == tubid and "log gatherer probe" in e["message"]
                       for sender, e in g.events()) for g in gatherers)
    await eventually(received, 30, interval=0.1, what="a probe event at each gatherer")


@pytest_twisted.ensureDeferred
async def test_node_events_reach_the_gatherer_censored(tmp_path, sighup):
    gatherer = Gatherer(str(tmp_path / "gatherer"))
    d = client_dir(tmp_path, {"node": {"log_gatherer.furl": gatherer.furl}})
    node = create_node(d, reactor)
    publishing = node.log_publishing
    assert publishing.furls == [gatherer.furl]
    node.startService()
    try:
        tubid = publishing.tub.getTubID()
        await probe_until_received([gatherer], tubid)
        log.info("secret things {cap} {furl}", cap=CAP, furl=FURL)
        log.debug("below the threshold")
        log.warn("the last one")
        await eventually(lambda: any("the last one" in e["message"]
                                     for _, e in gatherer.events()), 30, what="the last event")
        events = [e for sender, e in gatherer.events() if sender == tubid]
        secret = next(e for e in events if "secret things" in e["message"])
        assert secret["message"] == ("secret things URI:CHK:[CENSORED] "
                                     "pb://%s@tcp:127.0.0.1:1/[CENSORED]" % ("c" * 32))
        assert secret["facility"] == FACILITY
        assert not any("below the threshold" in e["message"] for e in events)
        last = next(e for e in events if "the last one" in e["message"])
        assert last["level"] > secret["level"]
        raw = gatherer.raw()
        assert CAP.encode() not in raw and SWISSNUM.encode() not in raw
        assert b"a" * 26 not in raw
    finally:
        await node.stopService()
        await gatherer.stop()
        await fireEventually()


@pytest_twisted.ensureDeferred
async def test_a_gatherer_that_comes_later_is_reached(tmp_path, sighup):
    base = str(tmp_path / "late")
    # the gatherer's FURL is known before it runs (its files are made first)
    late = Gatherer(base)
    furl = late.furl
    await late.stop()
    d = client_dir(tmp_path, {"node": {"log_gatherer.furl": furl}})
    node = create_node(d, reactor)
    node.startService()
    try:
        service = QuietGatherer(rotate=None, use_bzip=False, basedir=base)
        service.startService()
        late.service = service
        assert service.my_furl == furl
        await probe_until_received([late], node.log_publishing.tub.getTubID())
    finally:
        await node.stopService()
        await late.stop()
        await fireEventually()


def test_no_gatherer_no_log_tub(tmp_path):
    node = create_node(client_dir(tmp_path), reactor)
    assert node.log_publishing is None


def test_the_old_furl_file_is_refused(tmp_path):
    d = client_dir(tmp_path)
    path = os.path.join(d, "log_gatherer.furl")
    with open(path, "w") as f:
        f.write("pb://%s@tcp:127.0.0.1:1/x\n" % ("d" * 32))
    with pytest.raises(ConfigError) as e:
        create_node(d, reactor)
    assert str(e.value).startswith(path) and "[node] log_gatherer.furl" in str(e.value)


def test_tcp_disabled_reaches_the_log_tub(tmp_path):
    furl = "pb://%s@tcp:127.0.0.1:1/x" % ("d" * 32)
    node = create_node(client_dir(tmp_path, {"node": {"log_gatherer.furl": furl},
                                             "connections": {"tcp": "disabled"}}), reactor)
    assert node.log_publishing.tub._connectionHandlers == {}


@pytest.mark.integration
@pytest_twisted.ensureDeferred
async def test_a_node_process_and_a_flogtool_gatherer(tmp_path):
    """A stats gatherer node (it logs each provide() call, so the test can
    make it log on demand) publishes to ``flogtool create-gatherer``'s
    gatherer, run by ``twistd``."""
    gdir, node_dir = str(tmp_path / "flog"), str(tmp_path / "statsgatherer")
    port = free_port()
    bindir = os.path.dirname(sys.executable)
    subprocess.run([os.path.join(bindir, "flogtool"), "create-gatherer", "--quiet",
                    "--port", "tcp:%d:interface=127.0.0.1" % port,
                    "--location", "tcp:127.0.0.1:%d" % port, gdir], check=True)
    procs = NodeProcesses()
    gatherer = subprocess.Popen([os.path.join(bindir, "twistd"), "--nodaemon", "--logfile",
                                 "twistd.log", "--pidfile", "twistd.pid", "-y", "gatherer.tac"],
                                cwd=gdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT)
    tub = None
    try:
        furl = wait_for(lambda: os.path.exists(os.path.join(gdir, "log_gatherer.furl"))
                        and read_text(os.path.join(gdir, "log_gatherer.furl")).strip(), 60,
                        what="the log gatherer's FURL")
        subprocess.run(TAHOE + ["create-stats-gatherer", "--hostname", "127.0.0.1", node_dir],
                       check=True, capture_output=True)
        edit_config(node_dir, {"node": {"log_gatherer.furl": furl}})
        procs.start(node_dir, wait_file="stats_gatherer.furl")
        stats_furl = read_text(os.path.join(node_dir, "stats_gatherer.furl")).strip()
        tub = Tub()
        tub.startService()
        stats_gatherer = await tub.getReference(stats_furl)

        def raw():
            data = b""
            for name in glob.glob(os.path.join(gdir, "*.flog")):
                with open(name, "rb") as f:
                    data += f.read()
            return data

        def arrived():
            data = raw()
            return data and any("provides its stats" in e.get("message", "")
                                for _, e in flog_events(data))

        async def provide_until_logged():
            for _ in range(300):
                await call_remote(stats_gatherer, "provide", StatsProvider(), b"probe")
                if arrived():
                    return
                await task.deferLater(reactor, 0.2, lambda: None)
            raise AssertionError("no event of the node reached the gatherer")
        await provide_until_logged()
        assert stats_furl.rsplit("/", 1)[1].encode() not in raw()  # no swissnum of ours
    finally:
        if tub is not None:
            await tub.stopService()
        if os.path.exists(os.path.join(node_dir, "running.process")):
            subprocess.run(TAHOE + ["stop", node_dir], capture_output=True)
        procs.cleanup()
        terminate([gatherer.pid], [gatherer], timeout=10)
        gatherer.wait(timeout=10)
