"""The stats gatherer: providers on Tubs of their own, connected over real
Foolscap to a gatherer whose polls and writes run on a ``task.Clock``; the
``tahoe create-stats-gatherer`` command; and a gatherer and a client node as
``tahoe run`` processes."""

import json
import math
import os
import stat
import subprocess

import pytest
import pytest_twisted
from foolscap.api import Referenceable, Tub, fireEventually
from twisted.internet import defer, reactor, task
from zope.interface import implementer

from allmydata.config import ConfigError, load_config
from allmydata.node import create_node
from allmydata.scripts.runner import main
from allmydata.stats import StatsProvider
from allmydata.stats_gatherer import (
    FURL_FILE, STATS_FILE, BadStatsFile, MalformedStats, StatsGatherer, parse_stats,
    register_gatherer,
)
from allmydata.stats_interfaces import MAX_STATS, RIStatsProvider
from allmydata.testing.nodeconfig import edit_config
from allmydata.testing.processes import TAHOE, NodeProcesses, read_text
from allmydata.testing.tubs import start_tub
from allmydata.testing.waiting import eventually, wait_for
from allmydata.util.rrefutil import RemoteException, call_remote

INTERVAL = 60.0


@implementer(RIStatsProvider)
class HostileProvider(Referenceable):
    """A provider that claims RIStatsProvider but checks nothing of what it
    sends (as a peer with other code could): ``answer`` is what get_stats
    returns, and a Deferred that never fires when it is ``"never"``."""

    def __init__(self, answer):
        self.answer = answer
        self.calls = 0

    def getInterface(self):
        return None  # no outbound checks on this side

    def getInterfaceName(self):
        return RIStatsProvider.__remote_name__

    def remote_get_stats(self):
        self.calls += 1
        if self.answer == "never":
            return defer.Deferred()
        return self.answer


@implementer(RIStatsProvider)
class CountingProvider(StatsProvider):
    """A real StatsProvider that counts the polls it answers."""

    def __init__(self):
        StatsProvider.__init__(self)
        self.calls = 0

    def remote_get_stats(self):
        self.calls += 1
        self.count("test.polls")
        return StatsProvider.remote_get_stats(self)


class Harness:
    """A gatherer on a listening Tub (no gifts), and provider Tubs."""

    def __init__(self, tmp_path, **kwargs):
        self.clock = task.Clock()
        self.path = str(tmp_path / STATS_FILE)
        self.gatherer = StatsGatherer(self.path, self.clock, **kwargs)
        self.tub = start_tub()
        self.tub.setOption("accept-gifts", False)
        self.furl = register_gatherer(self.tub, self.gatherer, str(tmp_path / FURL_FILE))
        self.gatherer.startService()
        self.provider_tubs = []

    async def provide(self, provider, nickname=b"node"):
        """``provide(provider, nickname)`` from a Tub of its own; that Tub."""
        tub = Tub()
        tub.startService()
        self.provider_tubs.append(tub)
        rref = await tub.getReference(self.furl)
        await call_remote(rref, "provide", provider, nickname)
        return tub

    def entry(self, tub):
        return self.gatherer.nodes[tub.getTubID()]

    def file(self):
        """The stats file once the pending write is done."""
        self.clock.advance(self.gatherer.write_delay)
        with open(self.path) as f:
            return json.load(f)

    async def stop(self):
        for tub in self.provider_tubs:
            if tub.running:
                await tub.stopService()
        await self.gatherer.stopService()
        await self.tub.stopService()
        await fireEventually()


@pytest_twisted.async_yield_fixture
async def harness(tmp_path):
    h = Harness(tmp_path)
    try:
        yield h
    finally:
        await h.stop()


async def polled(h, tub, provider, calls):
    await eventually(lambda: provider.calls >= calls and h.entry(tub).polling is None,
                     what="poll %d answered" % calls)


# ---- the acceptance test ------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_three_providers_one_disconnects_one_answers_garbage(harness):
    h = harness
    good, leaving = CountingProvider(), CountingProvider()
    garbage = HostileProvider({b"counters": {b"x": 1}, b"stats": [1, 2, 3]})
    good_tub = await h.provide(good, b"good")
    leaving_tub = await h.provide(leaving, b"leaving")
    garbage_tub = await h.provide(garbage, b"garbage")
    for tub, p in ((good_tub, good), (leaving_tub, leaving), (garbage_tub, garbage)):
        await polled(h, tub, p, 1)  # each is polled at once
    await leaving_tub.stopService()
    await eventually(lambda: not h.entry(leaving_tub).connected, what="the disconnection")
    for n in (2, 3):
        h.clock.advance(INTERVAL)
        await polled(h, good_tub, good, n)
        await polled(h, garbage_tub, garbage, n)
    assert leaving.calls == 1
    data = h.file()
    assert set(data) == {good_tub.getTubID(), leaving_tub.getTubID(), garbage_tub.getTubID()}
    kept = data[good_tub.getTubID()]
    assert (kept["nickname"], kept["connected"], kept["error"]) == ("good", True, None)
    assert kept["stats"]["counters"]["test.polls"] == 3
    assert kept["timestamp"] == 2 * INTERVAL
    gone = data[leaving_tub.getTubID()]
    assert (gone["nickname"], gone["connected"]) == ("leaving", False)
    assert gone["stats"]["counters"]["test.polls"] == 1 and gone["timestamp"] == 0
    bad = data[garbage_tub.getTubID()]
    assert bad["connected"] and bad["timestamp"] is None
    assert bad["stats"] == {"counters": {}, "stats": {}}
    assert "Violation" in bad["error"] and "list" in bad["error"]


# ---- what providers may send ----------------------------------------------------------------

GARBAGE = [
    ("not a dict", [1, 2], "Violation"),
    ("a section missing", {b"counters": {}}, "no stats section"),
    ("an unknown section", {b"counters": {}, b"stats": {}, b"extra": {}}, "Violation"),
    ("a string value", {b"counters": {b"a": b"b"}, b"stats": {}}, "Violation"),
    ("a bool value", {b"counters": {b"a": True}, b"stats": {}}, "Violation"),
    ("a non-UTF-8 name", {b"counters": {b"\xff": 1}, b"stats": {}}, "not UTF-8"),
    ("not a number", {b"counters": {}, b"stats": {b"a": math.nan}}, "not a finite number"),
    ("infinity", {b"counters": {}, b"stats": {b"a": math.inf}}, "not a finite number"),
    ("too many names", {b"counters": {b"n%d" % i: i for i in range(MAX_STATS + 1)},
                        b"stats": {}}, "Violation"),
    ("a long name", {b"counters": {b"n" * 129: 1}, b"stats": {}}, "Violation"),
    ("a long string", {b"counters": {}, b"stats": {b"s": b"x" * 10_000_000}}, "Violation"),
]


@pytest.mark.parametrize("answer,why", [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
@pytest_twisted.ensureDeferred
async def test_garbage_is_refused_and_the_last_good_stats_stay(harness, answer, why):
    h = harness
    provider = HostileProvider({b"counters": {b"a": 1}, b"stats": {b"b": 2.5}})
    tub = await h.provide(provider, b"hostile")
    await polled(h, tub, provider, 1)
    provider.answer = answer
    h.clock.advance(INTERVAL)
    await polled(h, tub, provider, 2)
    entry = h.file()[tub.getTubID()]
    assert entry["stats"] == {"counters": {"a": 1}, "stats": {"b": 2.5}}
    assert entry["timestamp"] == 0 and why in entry["error"], entry["error"]
    provider.answer = {b"counters": {b"a": 2}, b"stats": {}}
    h.clock.advance(INTERVAL)
    await polled(h, tub, provider, 3)
    entry = h.file()[tub.getTubID()]
    assert (entry["stats"]["counters"], entry["error"]) == ({"a": 2}, None)


def test_parse_stats():
    assert parse_stats({b"counters": {b"a": 1}, b"stats": {"b": 0.5}}) == {
        "counters": {"a": 1}, "stats": {"b": 0.5}}
    for bad in (None, {b"counters": {}, b"stats": 3}, {b"counters": {}, b"stats": {1: 2}},
                {b"counters": {}, b"stats": {b"a": None}}):
        with pytest.raises(MalformedStats):
            parse_stats(bad)


@pytest_twisted.ensureDeferred
async def test_a_provider_that_never_answers_holds_one_call(harness):
    h = harness
    silent = HostileProvider("never")
    tub = await h.provide(silent, b"silent")
    await eventually(lambda: silent.calls == 1, what="the first poll")
    for _ in range(5):
        h.clock.advance(INTERVAL)
    # a provide() again (a reconnection on the same connection) does not add a call either
    rref = await tub.getReference(h.furl)
    await call_remote(rref, "provide", silent, b"silent")
    await fireEventually()
    assert (silent.calls, h.gatherer.polls, h.gatherer.skipped_polls) == (1, 1, 6)
    entry = h.file()[tub.getTubID()]
    assert entry["connected"] and entry["timestamp"] is None
    # once its connection is gone, the call fails and the entry is marked
    await tub.stopService()
    await eventually(lambda: not h.entry(tub).connected and h.entry(tub).polling is None,
                     what="the disconnection")


@pytest_twisted.ensureDeferred
async def test_a_call_that_fails_after_the_gatherer_stopped_writes_nothing(harness):
    """The gatherer writes its file when it stops; a poll that fails after
    that (its provider's connection goes) changes nothing on disk later."""
    h = harness
    silent = HostileProvider("never")
    tub = await h.provide(silent, b"silent")
    await eventually(lambda: silent.calls == 1, what="the first poll")
    await h.gatherer.stopService()
    written = h.gatherer.writes
    await tub.stopService()
    await eventually(lambda: h.entry(tub).polling is None, what="the failed poll")
    assert h.entry(tub).error is not None
    assert not h.clock.getDelayedCalls() and h.gatherer.writes == written


@pytest_twisted.ensureDeferred
async def test_a_bounded_number_of_nodes(tmp_path):
    h = Harness(tmp_path, max_nodes=2)
    try:
        first, second = CountingProvider(), CountingProvider()
        first_tub = await h.provide(first, b"first")
        await h.provide(second, b"second")
        with pytest.raises(RemoteException) as e:
            await h.provide(CountingProvider(), b"third")
        assert e.value.is_type("GathererFull") and "2 connected nodes" in str(e.value)
        assert len(h.gatherer.nodes) == 2
        await first_tub.stopService()
        await eventually(lambda: not h.entry(first_tub).connected, what="the disconnection")
        fourth_tub = await h.provide(CountingProvider(), b"fourth")  # evicts "first"
        assert set(h.gatherer.nodes) == {h.provider_tubs[1].getTubID(), fourth_tub.getTubID()}
        assert first_tub.getTubID() not in h.file()
    finally:
        await h.stop()


@pytest_twisted.ensureDeferred
async def test_a_node_that_comes_back_replaces_its_entry(harness):
    h = harness
    cert = Tub().getCertData()
    provider = CountingProvider()
    tub = Tub(certData=cert)
    tub.startService()
    rref = await tub.getReference(h.furl)
    await call_remote(rref, "provide", provider, b"before")
    await eventually(lambda: provider.calls == 1, what="the first poll")
    await tub.stopService()
    await eventually(lambda: not h.gatherer.nodes[tub.getTubID()].connected, what="gone")
    again = Tub(certData=cert)  # the same node, restarted
    again.startService()
    h.provider_tubs.append(again)
    rref = await again.getReference(h.furl)
    await call_remote(rref, "provide", provider, b"after")
    await eventually(lambda: provider.calls == 2, what="the poll after the return")
    data = h.file()
    assert list(data) == [again.getTubID()]
    assert (data[again.getTubID()]["nickname"], data[again.getTubID()]["connected"]) == (
        "after", True)


@pytest_twisted.ensureDeferred
async def test_a_restarted_gatherer_continues_its_file(tmp_path):
    h = Harness(tmp_path)
    try:
        provider = CountingProvider()
        tub = await h.provide(provider, b"kept")
        await eventually(lambda: provider.calls == 1, what="the first poll")
        await fireEventually()
    finally:
        await h.stop()  # writes the file
    with open(h.path) as f:
        assert json.load(f)[tub.getTubID()]["connected"] is False  # no longer polled
    again = StatsGatherer(h.path, task.Clock())
    kept = again.nodes[tub.getTubID()]
    assert (kept.nickname, kept.connected, kept.stats["counters"]["test.polls"]) == (
        "kept", False, 1)
    with open(h.path, "w") as f:
        f.write('{"x": {"stats": []}}')
    with pytest.raises(BadStatsFile) as e:
        StatsGatherer(h.path, task.Clock())
    assert h.path in str(e.value) and "move it away" in str(e.value)
    with open(h.path) as f:
        assert f.read() == '{"x": {"stats": []}}'  # left as it was


# ---- the node type and the command ----------------------------------------------------------

def test_create_stats_gatherer(tmp_path):
    d = str(tmp_path / "gatherer")
    assert main(["create-stats-gatherer", "--hostname", "127.0.0.1", d]) == 0
    assert os.path.exists(os.path.join(d, "tahoe-stats-gatherer.tac"))
    config = load_config(d)
    assert config.node_type == "stats-gatherer" and config.node.tub_port.startswith("tcp:")
    assert main(["create-stats-gatherer", "--hostname", "127.0.0.1", d]) == 1  # not empty
    assert main(["create-stats-gatherer", "--listen", "none", str(tmp_path / "x")]) == 1
    assert main(["create-stats-gatherer", str(tmp_path / "y")]) == 1  # no --hostname
    assert not os.path.exists(tmp_path / "x") and not os.path.exists(tmp_path / "y")
    port = tmp_path / "ported"
    assert main(["create-stats-gatherer", "--port", "tcp:4711:interface=127.0.0.1",
                 "--location", "tcp:127.0.0.1:4711", str(port)]) == 0
    assert load_config(str(port)).node.tub_location == "tcp:127.0.0.1:4711"


@pytest.mark.parametrize("section,key,value,why", [
    ("client", "shares.needed", "2", "a stats gatherer reads only"),
    ("storage", "enabled", "false", "a stats gatherer reads only"),
    ("node", "web.port", "tcp:0:interface=127.0.0.1", "has no web server"),
])
def test_a_gatherer_refuses_what_it_would_ignore(tmp_path, section, key, value, why):
    d = str(tmp_path / "gatherer")
    assert main(["create-stats-gatherer", "--hostname", "127.0.0.1", d]) == 0
    edit_config(d, {section: {key: value}})
    with pytest.raises(ConfigError) as e:
        load_config(d)
    assert why in str(e.value)


@pytest_twisted.ensureDeferred
async def test_gatherer_node_and_a_client_node(tmp_path):
    g = str(tmp_path / "gatherer")
    assert main(["create-stats-gatherer", "--hostname", "127.0.0.1", g]) == 0
    gatherer = create_node(g, reactor)
    assert gatherer.storage_server is None and gatherer.client is None
    furl_path = os.path.join(g, "stats_gatherer.furl")
    assert stat.S_IMODE(os.stat(furl_path).st_mode) == 0o600
    furl = read_text(furl_path).strip()
    assert create_node(g, reactor).stats_gatherer.furl == furl  # the same FURL next time
    c = str(tmp_path / "client")
    assert main(["create-client", "--webport", "none", "--nickname", "alice", c]) == 0
    edit_config(c, {"client": {"stats_gatherer.furl": furl}})
    client = create_node(c, reactor)
    assert not client.listening  # the gatherer polls over the client's own connection
    gatherer.startService()
    client.startService()
    try:
        tubid = client.tub.getTubID()
        await eventually(lambda: gatherer.stats_gatherer.nodes.get(tubid) is not None
                         and gatherer.stats_gatherer.nodes[tubid].timestamp is not None, 30,
                         what="the client's stats")
        entry = gatherer.stats_gatherer.to_json()[tubid]
        assert entry["nickname"] == "alice" and entry["connected"]
        names = set(client.stats_provider.get_stats()["stats"])
        assert entry["stats"]["stats"] and set(entry["stats"]["stats"]) <= names
        assert client.stats_gatherer_client.provided == 1
    finally:
        await client.stopService()
        await gatherer.stopService()
        await fireEventually()
    with open(os.path.join(g, STATS_FILE)) as f:
        assert json.load(f)[tubid]["nickname"] == "alice"


# ---- processes -------------------------------------------------------------------------------

@pytest.mark.integration
def test_gatherer_and_client_processes(tmp_path):
    procs = NodeProcesses()
    g, c = str(tmp_path / "gatherer"), str(tmp_path / "client")
    try:
        subprocess.run(TAHOE + ["create-stats-gatherer", "--hostname", "127.0.0.1", g],
                       check=True, capture_output=True)
        procs.start(g, wait_file="stats_gatherer.furl")
        furl = read_text(os.path.join(g, "stats_gatherer.furl")).strip()
        subprocess.run(TAHOE + ["create-client", "--webport", "none", "--nickname", "bob", c],
                       check=True, capture_output=True)
        edit_config(c, {"client": {"stats_gatherer.furl": furl}})
        procs.start(c, wait_file="my_nodeid")
        nodeid = read_text(os.path.join(c, "my_nodeid")).strip()

        def entry():
            try:
                with open(os.path.join(g, STATS_FILE)) as f:
                    e = json.load(f).get(nodeid)
            except (FileNotFoundError, ValueError):
                return None
            return e if e and e["timestamp"] is not None else None
        got = wait_for(entry, 60, what="the client's stats in stats.json")
        assert got["nickname"] == "bob" and got["connected"] and got["error"] is None
        assert set(got["stats"]) == {"counters", "stats"} and got["stats"]["stats"]
        subprocess.run(TAHOE + ["stop", c], check=True, capture_output=True)
        wait_for(lambda: entry() and not entry()["connected"], 60,
                 what="the client marked disconnected")
    finally:
        for d in (c, g):
            if os.path.exists(os.path.join(d, "running.process")):
                subprocess.run(TAHOE + ["stop", d], capture_output=True)
        procs.cleanup()
