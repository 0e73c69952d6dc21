"""Tests of server selection (immutable/selector.py) on an in-process grid.

The grid is real (:class:`allmydata.testing.storagegrid.StorageGrid`): each
storage server is an ``allmydata.storage.server.StorageServer`` registered on
its own Foolscap Tub on 127.0.0.1, and a client Tub holds references to them,
handed to ``StorageFarmBroker.from_rrefs``; the tests add servers one by one.
"""

import hashlib
import os

import pytest
import pytest_twisted
from foolscap.api import Referenceable, Tub
from twisted.internet import defer

from allmydata.immutable.happiness import servers_of_happiness
from allmydata.immutable.selector import (
    NoAnswerError,
    UploadUnhappinessError,
    _SharedTimer,
    _with_timeout,
    max_immutable_share_size,
    select_servers,
)
from allmydata.stats import StatsProvider
from allmydata.storage.immutable import ImmutableShareFile
from allmydata.testing.storagegrid import StorageGrid
from allmydata.testing.waiting import eventually
from allmydata.util.rrefutil import call_remote

SI = b"\x01" * 16
SIZE = 1000  # allocated_size of one share in these tests


def renew_secret_for(serverid):
    return hashlib.sha256(b"renew" + serverid).digest()


def cancel_secret_for(serverid):
    return hashlib.sha256(b"cancel" + serverid).digest()


@pytest.fixture(scope="module")
def tub_certs():
    """Tub certificates, made once (each costs a fraction of a second)."""
    return [Tub().getCertData() for _ in range(8)]


class PausingStats(StatsProvider):
    """A stats provider that can run a callback when the server counts an
    operation; used to stop a server reading from a connection at an exact
    moment of the protocol."""

    def __init__(self):
        StatsProvider.__init__(self)
        self.on_count = {}

    def count(self, name, delta=1):
        StatsProvider.count(self, name, delta)
        hook = self.on_count.pop(name, None)
        if hook is not None:
            hook()


class Grid(StorageGrid):
    """Servers added one by one, each with its own :class:`PausingStats`."""

    def __init__(self, tmp_path, certs):
        StorageGrid.__init__(self, tmp_path, certs)
        self.stats = []

    async def add_server(self, **kwargs):
        stats = PausingStats()
        self.stats.append(stats)
        return await StorageGrid.add_server(self, stats_provider=stats, **kwargs)

    def index_of(self, server_obj) -> int:
        return [c[0] for c in self.connections].index(server_obj.get_serverid())

    def server_side_broker(self, i):
        """Server i's end of the client's connection."""
        (broker,) = self.server_tubs[i].brokers.values()
        return broker

    def incoming_files(self, i):
        found = []
        for dirpath, _dirs, files in os.walk(self.servers[i].incomingdir):
            found.extend(os.path.join(dirpath, f) for f in files)
        return found

    def shares_on(self, i, si=SI):
        return {shnum for shnum, _path in self.servers[i]._share_paths(si)}


@pytest_twisted.async_yield_fixture
async def grid(tmp_path, tub_certs):
    g = Grid(tmp_path, tub_certs)
    yield g
    await g.close()


async def select(grid, k=3, happy=4, n=10, si=SI, size=SIZE, **kwargs):
    return await select_servers(grid.make_broker(), si, size, k, happy, n,
                                renew_secret_for, cancel_secret_for, **kwargs)


async def fill_and_close(placement, data=b"x" * SIZE):
    for _server, writer in placement.writers.values():
        await call_remote(writer, "write", 0, data)
        await call_remote(writer, "close")


# ---- tests ------------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_every_share_placed_on_enough_servers(grid):
    for _ in range(5):
        await grid.add_server()
    placement = await select(grid, k=3, happy=4, n=10)
    assert sorted(placement.writers) == list(range(10))
    assert placement.preexisting == {}
    assert placement.happiness == 5 == servers_of_happiness(placement.sharemap())
    # spread evenly: two shares on every server, the first five in ring order
    per_server = {}
    for shnum, (server, _writer) in placement.writers.items():
        per_server.setdefault(server.get_serverid(), []).append(shnum)
    assert sorted(len(v) for v in per_server.values()) == [2] * 5
    ring = [s.get_serverid() for s in grid.make_broker().get_servers_for_psi(SI)]
    assert [placement.writers[i][0].get_serverid() for i in range(5)] == ring
    assert "servers-of-happiness 5 (wanted 4)" in placement.summary
    # the writers are real: after writing and closing, the servers hold the shares
    await fill_and_close(placement)
    held = set()
    for i in range(5):
        held |= grid.shares_on(i)
        assert len(grid.shares_on(i)) == 2
    assert held == set(range(10))


@pytest_twisted.ensureDeferred
async def test_more_servers_than_shares(grid):
    for _ in range(6):
        await grid.add_server()
    placement = await select(grid, k=2, happy=3, n=4)
    assert placement.happiness == 4
    # one share per server, on the first four of the ring
    ring = [s.get_serverid() for s in grid.make_broker().get_servers_for_psi(SI)]
    assert {placement.writers[i][0].get_serverid() for i in range(4)} == set(ring[:4])
    await placement.abort()
    assert all(grid.incoming_files(i) == [] for i in range(6))


@pytest_twisted.ensureDeferred
async def test_existing_shares_are_reused(grid):
    for _ in range(4):
        await grid.add_server()
    first = await select(grid, k=2, happy=4, n=4)
    await fill_and_close(first)
    # a read-only server keeps (and renews) what it holds
    grid.servers[0].readonly_storage = True
    # same file again, by another client: nothing new to write, the shares
    # found count, and every one of them gets that client's lease
    again = await select_servers(grid.make_broker(), SI, SIZE, 2, 4, 4,
                                 lambda sid: b"R" * 32, lambda sid: b"C" * 32)
    assert again.writers == {}
    for i in range(4):
        for _shnum, path in grid.servers[i]._share_paths(SI):
            assert len(ImmutableShareFile(path).get_leases()) == 2
    assert again.happiness == 4
    assert again.sharemap() == first.sharemap()
    assert {shnum: {s.get_serverid() for s in servers}
            for shnum, servers in again.preexisting.items()} == first.sharemap()


@pytest_twisted.ensureDeferred
async def test_some_shares_already_present(grid):
    for _ in range(4):
        await grid.add_server()
    # the server last in ring order already holds shares 0 and 1
    ring = grid.make_broker().get_servers_for_psi(SI)
    last = grid.index_of(ring[-1])
    rref = grid.connections[last][1]
    _, writers = await call_remote(rref, "allocate_buckets", SI, renew_secret_for(b"x" * 20),
                                   cancel_secret_for(b"x" * 20), {0, 1}, SIZE, Referenceable())
    for w in writers.values():
        await call_remote(w, "write", 0, b"y" * SIZE)
        await call_remote(w, "close")
    placement = await select(grid, k=2, happy=4, n=6)
    # Writable servers are not asked get_buckets first: the holder's answer
    # to allocate_buckets reveals its shares, which then count as found
    # (their leases renewed).  Shares 0 and 1 may also get a new copy, as
    # with Tahoe-LAFS's uploader; every share has a home either way.
    holder = ring[-1].get_serverid()
    for shnum in (0, 1):
        assert {s.get_serverid() for s in placement.preexisting[shnum]} == {holder}
    assert placement.happiness == 4
    assert sorted(placement.sharemap()) == [0, 1, 2, 3, 4, 5]
    assert not {0, 1} & {shnum for shnum, (server, _w) in placement.writers.items()
                         if server.get_serverid() == holder}
    await placement.abort()


@pytest_twisted.ensureDeferred
async def test_readonly_server_is_asked_what_it_holds(grid):
    await grid.add_server()
    await grid.add_server()
    await grid.add_server()
    ring = grid.make_broker().get_servers_for_psi(SI)
    holder = grid.index_of(ring[0])
    rref = grid.connections[holder][1]
    _, writers = await call_remote(rref, "allocate_buckets", SI, renew_secret_for(b"x" * 20),
                                   cancel_secret_for(b"x" * 20), {0}, SIZE, Referenceable())
    for w in writers.values():
        await call_remote(w, "write", 0, b"y" * SIZE)
        await call_remote(w, "close")
    grid.servers[holder].readonly_storage = True
    grid.connections[holder][2][b"http://allmydata.org/tahoe/protocols/storage/v1"][
        b"maximum-immutable-share-size"] = 0
    placement = await select(grid, k=1, happy=3, n=3)
    # the read-only holder was asked with get_buckets; its share 0 counts
    assert {s.get_serverid() for s in placement.preexisting[0]} == {ring[0].get_serverid()}
    assert placement.happiness == 3
    assert all(server is not ring[0] for server, _w in placement.writers.values())
    await placement.abort()


@pytest_twisted.ensureDeferred
async def test_servers_without_room_are_skipped(grid):
    await grid.add_server()
    await grid.add_server(readonly_storage=True)
    await grid.add_server(reserved_space=2**62)  # more than any disk: no room
    await grid.add_server()
    for i in (1, 2):
        assert max_immutable_share_size(grid.connections[i][2]) < SIZE
    placement = await select(grid, k=1, happy=2, n=4)
    used = {server.get_serverid() for server, _w in placement.writers.values()}
    assert used == {grid.connections[0][0], grid.connections[3][0]}
    assert placement.happiness == 2
    assert "2 read-only" in placement.summary
    for i in (1, 2):
        assert grid.incoming_files(i) == []
    await placement.abort()


@pytest_twisted.ensureDeferred
async def test_server_that_fills_up_after_announcing(grid):
    for _ in range(4):
        await grid.add_server()
    # announced room when we connected, but refuses everything now
    grid.servers[1].readonly_storage = True
    placement = await select(grid, k=2, happy=3, n=6)
    full = grid.connections[1][0]
    assert sorted(placement.writers) == list(range(6))  # its shares went elsewhere
    assert all(s.get_serverid() != full for s, _w in placement.writers.values())
    assert placement.happiness == 3
    assert "1 full" in placement.summary
    await placement.abort()
    assert all(grid.incoming_files(i) == [] for i in range(4))


@pytest_twisted.ensureDeferred
async def test_server_that_errors_is_skipped(grid):
    for _ in range(4):
        await grid.add_server()
    await grid.server_tubs[2].stopService()  # its connection is gone
    placement = await select(grid, k=2, happy=3, n=6)
    gone = grid.connections[2][0]
    assert sorted(placement.writers) == list(range(6))
    assert all(s.get_serverid() != gone for s, _w in placement.writers.values())
    assert placement.happiness == 3
    assert "1 failed" in placement.summary
    await placement.abort()


@pytest_twisted.ensureDeferred
async def test_too_few_servers_is_unhappy_and_leaves_nothing_behind(grid):
    await grid.add_server()
    await grid.add_server(readonly_storage=True)
    await grid.add_server()
    await grid.add_server()
    await grid.server_tubs[3].stopService()
    with pytest.raises(UploadUnhappinessError) as info:
        await select(grid, k=2, happy=3, n=5)
    error = info.value
    message = str(error)
    assert error.happiness == 2 and error.wanted == 3
    assert error.servers_found == 4 and error.servers_queried == 4
    assert "only 2 distinct server(s)" in message
    assert "at least 3" in message
    assert "4 storage server(s) are connected and 4 were asked" in message
    states = {name: state for name, state, _reason in error.servers}
    assert sorted(states.values()) == ["failed", "read-only", "writable", "writable"]
    assert "takes shares of at most 0 bytes" in message
    assert "DeadReferenceError" in message
    assert "now given up" in message
    # the writers were aborted: no partial share anywhere, nothing complete either
    for i in range(3):
        assert grid.incoming_files(i) == []
        assert grid.shares_on(i) == set()
        assert grid.servers[i].get_stats()["storage_server.active_uploads"] == 0


@pytest_twisted.ensureDeferred
async def test_no_servers_at_all(grid):
    with pytest.raises(UploadUnhappinessError, match="No storage servers are connected"):
        await select(grid, k=1, happy=1, n=1)


@pytest_twisted.ensureDeferred
async def test_bad_parameters(grid):
    with pytest.raises(ValueError, match="happy"):
        await select(grid, k=3, happy=11, n=10)


@pytest_twisted.ensureDeferred
async def test_server_that_does_not_answer_get_buckets(grid):
    await grid.add_server()
    await grid.add_server(readonly_storage=True)  # asked with get_buckets only
    await grid.add_server()
    grid.server_side_broker(1).transport.pauseProducing()  # it stops reading
    placement = await select(grid, k=1, happy=2, n=3, timeout=0.5)
    silent = grid.connections[1][0]
    assert all(s.get_serverid() != silent for s, _w in placement.writers.values())
    assert placement.happiness == 2
    (reason,) = [r for s, state, r in placement.servers if s.get_serverid() == silent]
    assert "get_buckets got no answer" in reason
    grid.server_side_broker(1).transport.resumeProducing()
    await placement.abort()


@pytest_twisted.ensureDeferred
async def test_late_allocation_is_aborted(grid):
    for _ in range(3):
        await grid.add_server()
    # server 1 stops reading: allocate_buckets times out
    transport = grid.server_side_broker(1).transport
    transport.pauseProducing()
    placement = await select(grid, k=1, happy=2, n=3, timeout=0.5)
    late = grid.connections[1][0]
    assert all(s.get_serverid() != late for s, _w in placement.writers.values())
    assert sorted(placement.writers) == [0, 1, 2]
    (reason,) = [r for s, state, r in placement.servers if s.get_serverid() == late]
    assert "allocate_buckets got no answer" in reason
    # now it reads the request and allocates; the late writers are aborted
    transport.resumeProducing()
    counters = grid.stats[1].counters
    await eventually(lambda: counters["storage_server.abort"] >= 1,
                     what="the late writer to be aborted")
    assert counters["storage_server.allocate"] == 1
    assert grid.servers[1].get_stats()["storage_server.active_uploads"] == 0
    assert grid.incoming_files(1) == []
    await placement.abort()


@pytest_twisted.ensureDeferred
async def test_with_timeout_passes_results_and_errors_through():
    from twisted.internet import task
    clock = task.Clock()
    ok = _with_timeout(defer.succeed(7), 1.0, clock, "x", "srv")
    assert ok.result == 7
    assert clock.getDelayedCalls() == []
    bad = _with_timeout(defer.fail(ValueError("no")), 1.0, clock, "x", "srv")
    with pytest.raises(ValueError):
        await bad
    late = []
    pending = defer.Deferred()
    d = _with_timeout(pending, 1.0, clock, "get_buckets", "srv", on_late=late.append)
    clock.advance(1.0)
    with pytest.raises(NoAnswerError, match="get_buckets got no answer from srv within 1 s"):
        await d
    pending.callback("finally")
    assert late == ["finally"]


@pytest_twisted.ensureDeferred
async def test_with_timeout_sharing_one_timer():
    from twisted.internet import task
    clock = task.Clock()
    shared = _SharedTimer(2.0, clock)
    answered, slow, late = defer.Deferred(), defer.Deferred(), []
    a = _with_timeout(answered, 2.0, clock, "allocate_buckets", "fast", shared=shared)
    b = _with_timeout(slow, 2.0, clock, "allocate_buckets", "slow", shared=shared,
                      on_late=late.append)
    assert len(clock.getDelayedCalls()) == 1  # one timer for both calls
    answered.callback("yes")
    assert a.result == "yes"
    assert len(clock.getDelayedCalls()) == 1  # still running for the slow one
    clock.advance(2.0)
    with pytest.raises(NoAnswerError, match="allocate_buckets got no answer from slow"):
        await b
    slow.callback("too late")
    assert late == ["too late"]
    # once every call of a group has answered, its timer is gone
    shared2 = _SharedTimer(2.0, clock)
    c1, c2 = defer.Deferred(), defer.Deferred()
    r1 = _with_timeout(c1, 2.0, clock, "get_buckets", "one", shared=shared2)
    r2 = _with_timeout(c2, 2.0, clock, "get_buckets", "two", shared=shared2)
    c2.callback(2)
    c1.callback(1)
    assert (r1.result, r2.result) == (1, 2)
    assert clock.getDelayedCalls() == []
