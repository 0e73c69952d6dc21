"""The control port: a client node of an in-process grid with real storage
servers, driven over a real Foolscap connection by a Tub of the test's own
(calls by method name, as any Foolscap client would make them); and
``misc/control.py`` against a grid of node processes."""

import os
import stat
import subprocess
import sys

import pytest
import pytest_twisted
from foolscap.api import Referenceable, Tub
from twisted.internet import defer, reactor, task
from twisted.logger import formatEvent, globalLogPublisher

from allmydata.control.interfaces import RIControlClient
from allmydata.control.service import (PING_TIMEOUT, POLL_INTERVAL, ControlError,
                                       ControlServer, ControlService, read_memory_usage)
from allmydata.storage_client import StorageFarmBroker
from allmydata.testing.nodegrid import start_grid
from allmydata.testing.procgrid import ProcessGrid
from allmydata.testing.tubs import start_tub
from allmydata.testing.waiting import eventually
from allmydata.util.idlib import nodeid_b2a
from allmydata.util.rrefutil import RemoteException, Violation, call_remote

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
CONTROL_SCRIPT = os.path.join(REPO, "misc", "control.py")


@pytest_twisted.async_yield_fixture(scope="module")
async def grid(tmp_path_factory):
    g = await start_grid(tmp_path_factory.mktemp("controlgrid"), storage_count=3, needed=2,
                         happy=2, total=3)
    try:
        yield g
    finally:
        await g.stop()


@pytest_twisted.async_yield_fixture(scope="module")
async def control(grid):
    tub = Tub()
    tub.startService()
    try:
        with open(os.path.join(grid.client_dir, "private", "control.furl")) as f:
            furl = f.read().strip()
        yield await tub.getReference(furl)
    finally:
        await tub.stopService()


async def refused(d, *words, remote_type="ControlError"):
    """The remote error of a call, of class ``remote_type`` (a Foolscap
    ``Violation`` for arguments the schema refuses), naming every one of
    ``words``."""
    with pytest.raises(RemoteException) as info:
        await d
    assert info.value.is_type(remote_type), info.value
    text = str(info.value)
    for w in words:
        assert w in text, text
    return text


async def violates_schema(d, *words):
    """A call the schema refuses.  This process registered RIControlClient,
    so Foolscap checks the arguments before sending; the process test checks
    that the node refuses them from a client that does not know the schema."""
    with pytest.raises(Violation) as info:
        await d
    text = str(info.value)
    for w in words:
        assert w in text, text


def test_remote_name_is_tahoe_lafs():
    assert RIControlClient.__remote_name__ == "allmydata.interfaces.RIControlClient"


def test_furl_file_is_private(grid):
    path = os.path.join(grid.client_dir, "private", "control.furl")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        furl = f.read().strip()
    assert furl.startswith("pb://") and "tcp:127.0.0.1:" in furl


def test_a_node_that_does_not_listen_has_a_control_port(grid):
    # the grid's client was made with --listen none; the control port has its own Tub
    assert not grid.client_node.listening
    assert grid.client_node.control.furl is not None


@pytest_twisted.ensureDeferred
async def test_wait_for_client_connections(grid, control):
    assert await call_remote(control, "wait_for_client_connections", num_clients=3) is None
    assert await call_remote(control, "wait_for_client_connections", num_clients=0) is None
    await refused(call_remote(control, "wait_for_client_connections", num_clients=-1),
                  "num_clients")
    await refused(call_remote(control, "wait_for_client_connections", num_clients=10**9),
                  "num_clients")
    await violates_schema(call_remote(control, "wait_for_client_connections", num_clients="3"),
                          "num_clients")


@pytest_twisted.ensureDeferred
async def test_upload_and_download(grid, control, tmp_path):
    data = os.urandom(150_000)
    src = tmp_path / "src"
    src.write_bytes(data)
    cap = await call_remote(control, "upload_from_file_to_uri", filename=str(src), convergence=None)
    assert isinstance(cap, bytes) and cap.startswith(b"URI:CHK:")
    dst = tmp_path / "dst"
    got = await call_remote(control, "download_from_uri_to_file", uri=cap, filename=str(dst))
    assert got == str(dst)
    assert dst.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []

    # convergence: the same secret gives the same cap, another secret another cap
    c1 = await call_remote(control, "upload_from_file_to_uri", filename=str(src),
                           convergence=b"secret one")
    c2 = await call_remote(control, "upload_from_file_to_uri", filename=str(src),
                           convergence=b"secret one")
    c3 = await call_remote(control, "upload_from_file_to_uri", filename=str(src),
                           convergence=b"secret two")
    assert c1 == c2 != c3

    small = tmp_path / "small"
    small.write_bytes(b"tiny")
    lit = await call_remote(control, "upload_from_file_to_uri", filename=str(small),
                            convergence=None)
    assert lit.startswith(b"URI:LIT:")
    await call_remote(control, "download_from_uri_to_file", uri=lit, filename=str(dst))
    assert dst.read_bytes() == b"tiny"



@pytest_twisted.ensureDeferred
async def test_download_a_mutable_file(grid, control, tmp_path):
    data = os.urandom(30_000)
    node = await grid.client.create_mutable_file(data)
    dst = tmp_path / "mutable"
    got = await call_remote(control, "download_from_uri_to_file", uri=node.get_uri(),
                            filename=str(dst))
    assert got == str(dst)
    assert dst.read_bytes() == data

@pytest_twisted.ensureDeferred
async def test_upload_refusals(grid, control, tmp_path):
    await refused(call_remote(control, "upload_from_file_to_uri", filename="relative/file",
                              convergence=None), "absolute")
    await refused(call_remote(control, "upload_from_file_to_uri",
                              filename=str(tmp_path / "missing"), convergence=None),
                  "not a regular file")
    await refused(call_remote(control, "upload_from_file_to_uri", filename=str(tmp_path),
                              convergence=None), "not a regular file")
    (tmp_path / "f").write_bytes(b"x" * 100)
    # wrong types are refused by the schema before any method runs
    await violates_schema(call_remote(control, "upload_from_file_to_uri",
                                      filename=str(tmp_path / "f"), convergence=12),
                          "convergence")
    await violates_schema(call_remote(control, "upload_from_file_to_uri", filename=b"/bytes/path",
                                      convergence=None), "filename")


@pytest_twisted.ensureDeferred
async def test_download_refusals(grid, control, tmp_path):
    (tmp_path / "f").write_bytes(os.urandom(5000))
    cap = await call_remote(control, "upload_from_file_to_uri", filename=str(tmp_path / "f"),
                            convergence=None)
    await refused(call_remote(control, "download_from_uri_to_file", uri=cap, filename="rel"),
                  "absolute")
    await refused(call_remote(control, "download_from_uri_to_file", uri=cap,
                              filename=str(tmp_path / "no" / "such" / "dir" / "f")),
                  "no such directory")
    await refused(call_remote(control, "download_from_uri_to_file", uri=cap,
                              filename=str(tmp_path)), "directory is in the way")
    await refused(call_remote(control, "download_from_uri_to_file", uri=b"URI:CHK:garbage",
                              filename=str(tmp_path / "out")), "bad cap")
    dircap = (await grid.client.create_empty_dirnode()).get_uri()
    await refused(call_remote(control, "download_from_uri_to_file", uri=dircap,
                              filename=str(tmp_path / "out")), "not a file cap")
    # a download that fails (a cap of a file no server holds) leaves the old file alone
    keep = tmp_path / "keep"
    keep.write_bytes(b"old contents")
    unknown = bytearray(cap)
    i = len(b"URI:CHK:")  # the key's first character: no padding bits in it
    unknown[i] = ord("a") if unknown[i] != ord("a") else ord("b")
    await refused(call_remote(control, "download_from_uri_to_file", uri=bytes(unknown),
                              filename=str(keep)), "no shares", remote_type="NoSharesError")
    assert keep.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
    assert not (tmp_path / "out").exists()


@pytest_twisted.ensureDeferred
async def test_memory_usage(control):
    usage = await call_remote(control, "get_memory_usage")
    assert set(usage) == {"VmPeak", "VmSize", "VmData"}
    assert all(isinstance(v, int) and v > 0 for v in usage.values())
    assert usage["VmPeak"] >= usage["VmSize"]


def test_memory_usage_parses_kernel_figures(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t  2000 kB\nVmSize:\t  1500 kB\nVmData:\t 700 kB\n")
    assert read_memory_usage(str(status)) == {"VmPeak": 2000 * 1024, "VmSize": 1500 * 1024,
                                              "VmData": 700 * 1024}
    status.write_text("VmPeak:\t  2000 kB\n")
    with pytest.raises(Exception, match="VmSize, VmData"):
        read_memory_usage(str(status))


def speed_files(grid):
    tempdir = grid.client_node.config.node.tempdir
    return [n for n in os.listdir(tempdir) if n.startswith("speedtest-")]


@pytest.mark.parametrize("mutable", [None, "create", "upload", b"create"])
@pytest_twisted.ensureDeferred
async def test_speed_test(grid, control, mutable):
    result = await call_remote(control, "speed_test", count=3, size=10_000, mutable=mutable)
    assert isinstance(result, tuple) and len(result) == 2
    assert all(isinstance(t, float) and t >= 0.0 for t in result)
    assert speed_files(grid) == []


@pytest_twisted.ensureDeferred
async def test_speed_test_stores_the_files(grid, control):
    def share_count():
        return sum(len(files) for d in grid.storage_dirs
                   for _, _, files in os.walk(os.path.join(d, "storage", "shares")))
    before = share_count()
    await call_remote(control, "speed_test", count=2, size=20_000, mutable=None)
    assert share_count() == before + 2 * 3  # random data: two new files, n=3 shares each


@pytest_twisted.ensureDeferred
async def test_speed_test_refusals(grid, control):
    await refused(call_remote(control, "speed_test", count=0, size=10, mutable=None), "count")
    await refused(call_remote(control, "speed_test", count=10**6, size=10, mutable=None), "count")
    await refused(call_remote(control, "speed_test", count=1, size=-1, mutable=None), "size")
    await refused(call_remote(control, "speed_test", count=1, size=2**40, mutable=None), "size")
    await refused(call_remote(control, "speed_test", count=10000, size=2**30, mutable=None),
                  "count * size")
    await refused(call_remote(control, "speed_test", count=1, size=2**30, mutable="create"),
                  "size")
    await refused(call_remote(control, "speed_test", count=1, size=10, mutable="sideways"),
                  "mutable")
    await violates_schema(call_remote(control, "speed_test", count="1", size=10, mutable=None),
                          "count")
    assert speed_files(grid) == []


@pytest_twisted.ensureDeferred
async def test_measure_peer_response_time(grid, control):
    times = await call_remote(control, "measure_peer_response_time")
    assert set(times) == {n.nodeid for n in grid.storage_nodes}
    assert all(isinstance(k, bytes) and len(k) == 20 for k in times)
    assert all(isinstance(t, float) and t >= 0.0 for t in times.values())


@pytest_twisted.ensureDeferred
async def test_unknown_method_is_refused(control):
    await violates_schema(call_remote(control, "delete_everything"), "delete_everything")


# ---- a node that stops, servers that fail ------------------------------------------

class _Caller:
    """A ControlService of its own (its server on ``clock``) and a Tub of
    the test's, connected to it over real Foolscap."""

    def __init__(self, server, furl_path):
        self.service = ControlService(server, str(furl_path))
        self.furl_path = furl_path
        self.tub = Tub()

    async def __aenter__(self):
        self.service.startService()
        self.tub.startService()
        self.rref = await self.tub.getReference(self.service.furl)
        return self

    async def __aexit__(self, *exc):
        await self.tub.stopService()
        if self.service.running:
            await self.service.stopService()

    async def delivered(self):
        """Foolscap runs the calls of one connection in the order they were
        made: once this call answers, every earlier one's method has run."""
        await call_remote(self.rref, "get_memory_usage")


@pytest_twisted.ensureDeferred
async def test_wait_polls_the_broker_on_the_clock(grid, tmp_path):
    # a broker of its own, not started yet: no server connected
    tub = Tub()
    tub.startService()
    broker = StorageFarmBroker(tub=tub, clock=reactor, static_servers={
        "s%d" % i: {"furl": n.storage_server.furl, "nickname": None, "seed": b"s%d" % i}
        for i, n in enumerate(grid.storage_nodes)})
    clock = task.Clock()
    server = ControlServer(grid.client, broker, str(tmp_path), clock)
    try:
        async with _Caller(server, tmp_path / "control.furl") as c:
            waiting = call_remote(c.rref, "wait_for_client_connections", num_clients=3)
            await c.delivered()
            clock.advance(10 * POLL_INTERVAL)
            assert not waiting.called
            broker.startService()
            await eventually(lambda: len(broker.get_connected_servers()) == 3,
                             what="the broker connected")
            assert len(clock.getDelayedCalls()) == 1  # the next check, not yet due
            clock.advance(POLL_INTERVAL)
            assert await waiting is None
            assert clock.getDelayedCalls() == []
    finally:
        if broker.running:
            await broker.stopService()
        await tub.stopService()


@pytest_twisted.ensureDeferred
async def test_wait_pending_when_the_control_port_stops_fails_with_the_reason(grid, tmp_path):
    clock = task.Clock()
    server = ControlServer(grid.client, grid.client_node.storage_broker, str(tmp_path), clock)
    furl_path = tmp_path / "control.furl"
    async with _Caller(server, furl_path) as c:
        assert furl_path.exists()
        waits = [call_remote(c.rref, "wait_for_client_connections", num_clients=n)
                 for n in (4, 7)]
        await c.delivered()
        clock.advance(10 * POLL_INTERVAL)
        assert not any(w.called for w in waits)
        assert len(clock.getDelayedCalls()) == 2
        await c.service.stopService()
        await refused(waits[0], "node is stopping", "4 storage servers", "3 connected")
        await refused(waits[1], "node is stopping", "7 storage servers")
        assert clock.getDelayedCalls() == []
        assert not furl_path.exists()
    # a stopped server refuses new waits at once (its Tub is gone; a local call)
    with pytest.raises(ControlError, match="stopping"):
        server.remote_wait_for_client_connections(1)


@pytest_twisted.ensureDeferred
async def test_wait_pending_when_the_node_stops(tmp_path):
    g = await start_grid(tmp_path / "grid", storage_count=1, needed=1, happy=1, total=1)
    tub = Tub()
    tub.startService()
    try:
        furl_path = os.path.join(g.client_dir, "private", "control.furl")
        with open(furl_path) as f:
            rref = await tub.getReference(f.read().strip())
        waiting = call_remote(rref, "wait_for_client_connections", num_clients=2)
        await call_remote(rref, "get_memory_usage")  # the wait's method has run
        await g.client_node.stopService()
        await refused(waiting, "node is stopping", "2 storage servers", "1 connected")
        assert not os.path.exists(furl_path)
    finally:
        await tub.stopService()
        await g.stop()


class FaultyStorageServer(Referenceable):
    """A storage server that fails ``get_version``: ``"error"`` answers
    with an exception, ``"hold"`` keeps the call unanswered (until the test
    fires or drops it)."""

    def __init__(self, how):
        self.how = how
        self.calls = []

    def remote_get_version(self):
        if self.how == "error":
            raise ValueError("the disk is on fire")
        d = defer.Deferred()
        self.calls.append(d)
        return d


@pytest.fixture
def log_events():
    events = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


def left_out(events):
    return [formatEvent(e) for e in events if "left out of the response times" in
            (e.get("log_format") or "")]


@pytest_twisted.ensureDeferred
async def test_measure_leaves_out_a_server_that_fails(grid, tmp_path, log_events):
    """Real storage servers, one that answers with an error, one that never
    answers (given up after PING_TIMEOUT on the clock) and one whose
    connection is lost while the call is out: the answer has the real
    servers' times only, and each one left out is logged with the reason."""
    faulty_tub = start_tub()
    dropping_tub = start_tub()  # a Tub of its own, to lose its connection
    caller = Tub()
    caller.startService()
    try:
        erring, holding, dropping = (FaultyStorageServer(h) for h in ("error", "hold", "hold"))
        rrefs = [await caller.getReference(faulty_tub.registerReference(erring)),
                 await caller.getReference(faulty_tub.registerReference(holding)),
                 await caller.getReference(dropping_tub.registerReference(dropping))]
        real = [(s.get_serverid(), s.get_rref(), s.get_version())
                for s in grid.client_node.storage_broker.get_connected_servers()]
        faulty_ids = [b"\x01" * 20, b"\x02" * 20, b"\x03" * 20]
        broker = StorageFarmBroker.from_rrefs(
            real + [(i, r, None) for i, r in zip(faulty_ids, rrefs)])
        clock = task.Clock()
        server = ControlServer(grid.client, broker, str(tmp_path), clock)
        async with _Caller(server, tmp_path / "control.furl") as c:
            measuring = call_remote(c.rref, "measure_peer_response_time")
            await eventually(lambda: holding.calls and dropping.calls,
                             what="the held calls reached their servers")
            await dropping_tub.stopService()
            await eventually(lambda: len(left_out(log_events)) == 2,
                             what="the failing and the dropped server logged")
            assert not measuring.called  # the held server is still awaited
            clock.advance(PING_TIMEOUT)
            times = await measuring
            assert set(times) == {serverid for serverid, _, _ in real}
            assert all(isinstance(t, float) and t >= 0.0 for t in times.values())
            # a late answer after the timeout is dropped quietly
            holding.calls[0].callback({})
        logged = left_out(log_events)
        assert len(logged) == 3
        names = {nodeid_b2a(i)[:8]: i for i in faulty_ids}
        text = "\n".join(logged)
        assert all(name in text for name in names), text
        assert "the disk is on fire" in text
        assert "DeadReferenceError" in text
        assert "no answer in %g s" % PING_TIMEOUT in text
    finally:
        await caller.stopService()
        await faulty_tub.stopService()
        if dropping_tub.running:
            await dropping_tub.stopService()


@pytest_twisted.ensureDeferred
async def test_measure_with_every_server_failing_is_empty(grid, tmp_path):
    faulty_tub = start_tub()
    caller = Tub()
    caller.startService()
    try:
        rref = await caller.getReference(faulty_tub.registerReference(
            FaultyStorageServer("error")))
        broker = StorageFarmBroker.from_rrefs([(b"\x01" * 20, rref, None)])
        server = ControlServer(grid.client, broker, str(tmp_path), task.Clock())
        async with _Caller(server, tmp_path / "control.furl") as c:
            assert await call_remote(c.rref, "measure_peer_response_time") == {}
    finally:
        await caller.stopService()
        await faulty_tub.stopService()


# ---- misc/control.py against node processes ----------------------------------------

@pytest.fixture(scope="module")
def procgrid(tmp_path_factory):
    yield from ProcessGrid(tmp_path_factory.mktemp("controlprocs"), num_storage=3,
                           encoding=(2, 3, 3)).lifetime()


# A Foolscap client that knows nothing of this project (no RemoteInterface
# registered), so every argument reaches the node, whose schema and checks
# must refuse it.  It prints one line per call: the call, then "ok" or the
# remote exception's type.
BARE_CLIENT = r"""
import sys
from foolscap.api import Tub
from twisted.internet import defer, task

CALLS = [
    ("wait_for_client_connections", {"num_clients": "3"}),
    ("wait_for_client_connections", {"num_clients": -1}),
    ("upload_from_file_to_uri", {"filename": "relative", "convergence": None}),
    ("upload_from_file_to_uri", {"filename": b"/bytes", "convergence": None}),
    ("upload_from_file_to_uri", {"filename": sys.argv[2], "convergence": 7}),
    ("download_from_uri_to_file", {"uri": b"URI:LIT:mfrgg", "filename": "relative"}),
    ("download_from_uri_to_file", {"uri": "URI:LIT:mfrgg", "filename": sys.argv[3]}),
    ("speed_test", {"count": 1, "size": 10, "mutable": "sideways"}),
    ("speed_test", {"count": 1.5, "size": 10, "mutable": None}),
    ("get_memory_usage", {"extra": 1}),
    ("get_memory_usage", {}),
]

async def main(reactor):
    furl = open(sys.argv[1]).read().strip()
    for name, kwargs in CALLS:
        # a Tub per call: a wrong token type ends the connection it came on
        tub = Tub()
        tub.startService()
        rref = await tub.getReference(furl)
        d = rref.callRemote(name, **kwargs)
        outcome = []
        d.addCallbacks(lambda r: outcome.append("ok"),
                       lambda f: outcome.append(str(getattr(f.type, "__name__", f.type))))
        await d
        print(name, outcome[0])
        await tub.stopService()

task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
"""


@pytest.mark.integration
def test_bare_foolscap_client_is_refused(procgrid, tmp_path):
    src = tmp_path / "f"
    src.write_bytes(b"some bytes")
    r = subprocess.run([sys.executable, "-c", BARE_CLIENT,
                        os.path.join(procgrid.client, "private", "control.furl"),
                        str(src), str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    outcomes = [line.split() for line in r.stdout.splitlines()]
    # bytes where text is due is refused at the token level: Foolscap drops
    # that connection (the caller sees it lost); the node keeps answering
    assert [o[1] for o in outcomes] == ["Violation", "ControlError", "ControlError",
                                        "DeadReferenceError", "Violation", "ControlError",
                                        "Violation", "ControlError", "Violation", "Violation",
                                        "ok"], r.stdout
    assert not (tmp_path / "out").exists()


def run_control(grid, *args):
    return subprocess.run([sys.executable, CONTROL_SCRIPT, grid.client] + list(args),
                          capture_output=True, text=True, timeout=300)


@pytest.mark.integration
def test_control_script(procgrid, tmp_path):
    r = run_control(procgrid, "wait-for-connections", "3")
    assert r.returncode == 0, r.stderr
    r = run_control(procgrid, "speed-test", "--count", "2", "--size", "20KiB")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["upload", "download"]
    r = run_control(procgrid, "speed-test", "--count", "2", "--size", "1KiB", "--mutable", "upload")
    assert r.returncode == 0, r.stderr

    src = tmp_path / "src"
    src.write_bytes(os.urandom(70_000))
    r = run_control(procgrid, "upload", str(src))
    assert r.returncode == 0, r.stderr
    cap = r.stdout.strip()
    assert cap.startswith("URI:CHK:")
    r = run_control(procgrid, "download", cap, str(tmp_path / "dst"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "dst").read_bytes() == src.read_bytes()

    r = run_control(procgrid, "memory")
    assert r.returncode == 0, r.stderr
    assert [line.split(":")[0] for line in r.stdout.splitlines()] == ["VmData", "VmPeak", "VmSize"]
    r = run_control(procgrid, "ping")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 3

    r = run_control(procgrid, "upload", str(tmp_path / "missing"))
    assert r.returncode == 1
    assert r.stderr.startswith("control.py upload: "), r.stderr
    assert "ControlError: not a regular file" in r.stderr

    r = subprocess.run([sys.executable, CONTROL_SCRIPT, str(tmp_path), "memory"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "control.furl (is the client node running?)" in r.stderr
