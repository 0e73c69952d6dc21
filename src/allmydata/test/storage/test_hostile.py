"""A storage server against a client that does not play by the rules.

The first tests run the contract fixtures (in-process and over Foolscap);
the broker tests put a server behind a Tub with the node's broker; the
last ones (``integration``) start a real storage node process and talk to
it through a bare Foolscap Tub that knows none of our schemas, so that
only the server's own schema and checks stand in the way.  Memory and disk
figures are measured (the server's RSS with psutil, blocks on disk with
``os.stat().st_blocks``), before and after.
"""

import os
import re
import subprocess

import psutil
import pytest
import pytest_twisted
from foolscap.api import Referenceable, Tub
from twisted.internet import reactor, task
from twisted.logger import globalLogPublisher

from allmydata.storage.common import (
    AnswerTooLargeError, BadArgumentError, DataTooLargeError, LeaseLimitError, NoSpaceError,
    ShareTypeError,
)
from allmydata.storage.immutable import ImmutableShareFile
from allmydata.storage.interfaces import RIStorageServer
from allmydata.storage.limits import (
    MAX_ADVISORIES_PER_SHARE, MAX_CALL_SHARE_DATA, MAX_CORRUPTION_REASON, MAX_LEASES_PER_SHARE,
    MAX_TEST_LENGTH, MAX_VECTORS,
)
from allmydata.storage.mutable import MutableShareFile
from allmydata.storage.server import StorageServer
from allmydata.testing.processes import TAHOE, run_tahoe
from allmydata.testing.tubs import start_tub
from allmydata.testing.waiting import wait_for
from allmydata.util.broker import StringWaitingBroker
from allmydata.util.idlib import nodeid_a2b
from allmydata.util.rrefutil import RemoteException, call_remote

from .suite_data import all_files, make_si, secret, share_path
from .test_server import FixedDisk

SI = make_si(90)
WE, R, C = secret("write-enabler"), secret("renew"), secret("cancel")
SECRETS = (WE, R, C)
NEW = [(0, 1, b"eq", b"")]
MB = 1000 * 1000
MiB = 1024 * 1024


async def twrite(t, tw, r_vector=(), secrets=SECRETS, si=SI):
    return await t.server.call("slot_testv_and_readv_and_writev", si, secrets, tw,
                               list(r_vector))


async def readv(t, shares, r_vector, si=SI):
    return await t.server.call("slot_readv", si, list(shares), list(r_vector))


async def allocate(t, si, sharenums, size, canary=None, renew=R):
    return await t.server.call("allocate_buckets", si, renew, C, set(sharenums), size,
                               canary or t.new_canary())


def container_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# ---- one kind of share per storage index ------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_immutable_shares_cannot_be_planted_beside_mutable_ones(t):
    await twrite(t, {0: (NEW, [(0, b"mutable data")], None)})
    with t.raises(ShareTypeError, match="holds mutable shares"):
        await allocate(t, SI, {0, 1, 2}, 100)
    assert os.listdir(os.path.dirname(share_path(t.storedir, SI, 0))) == ["0"]
    assert not os.path.exists(os.path.dirname(share_path(t.storedir, SI, 1, incoming=True)))
    assert await readv(t, [], [(0, 20)]) == {0: [b"mutable data"]}
    ok, _ = await twrite(t, {0: ([], [(0, b"MUTABLE")], None)})
    assert ok and await readv(t, [], [(0, 20)]) == {0: [b"MUTABLE data"]}


@pytest_twisted.ensureDeferred
async def test_mutable_shares_cannot_be_planted_beside_an_upload_in_progress(t):
    _, writers = await allocate(t, SI, {0}, 9)
    with t.raises(ShareTypeError, match="being uploaded"):
        await twrite(t, {1: (NEW, [(0, b"planted")], None)})
    with t.raises(ShareTypeError, match="being uploaded"):
        await twrite(t, {0: (NEW, [(0, b"planted")], None)})
    assert not os.path.exists(os.path.dirname(share_path(t.storedir, SI, 1)))
    await writers[0].call("write", 0, b"immutable")
    await writers[0].call("close")
    (reader,) = (await t.server.call("get_buckets", SI)).values()
    assert await reader.call("read", 0, 9) == b"immutable"
    with t.raises(ShareTypeError, match="immutable"):
        await twrite(t, {1: (NEW, [(0, b"planted")], None)})


@pytest_twisted.ensureDeferred
async def test_immutable_shares_planted_earlier_leave_the_mutable_ones_usable(t):
    """What a server that let shares be planted may still hold on disk."""
    await twrite(t, {0: (NEW, [(0, b"mutable zero")], None),
                     1: (NEW, [(0, b"mutable one")], None)})
    planted = share_path(t.storedir, SI, 5)
    ImmutableShareFile.create(planted, 7, lease=(0, R, C, 2_000_000_000))
    with open(planted, "rb+") as f:
        f.seek(12)
        f.write(b"planted")
    before = container_bytes(planted)
    assert await readv(t, [], [(0, 20)]) == {0: [b"mutable zero"], 1: [b"mutable one"]}
    ok, _ = await twrite(t, {0: ([], [(0, b"MUTABLE")], None)})
    assert ok and await readv(t, [0], [(0, 20)]) == {0: [b"MUTABLE zero"]}
    with t.raises(ShareTypeError, match="are immutable"):
        await twrite(t, {2: (NEW, [(0, b"two")], None), 5: (NEW, [(0, b"x")], None)})
    assert container_bytes(planted) == before
    assert not os.path.exists(share_path(t.storedir, SI, 2))


# ---- gaps and growth -----------------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_a_gap_is_a_hole_not_zeros_in_memory_or_on_disk(t):
    me = psutil.Process()
    rss_before = me.memory_info().rss
    ok, _ = await twrite(t, {0: (NEW, [(200_000_000, b"x")], None)})
    rss_after = me.memory_info().rss
    assert ok
    path = share_path(t.storedir, SI, 0)
    st = os.stat(path)
    assert st.st_size > 200_000_000
    assert st.st_blocks * 512 < 1 * MB  # a hole, not 200 MB of zeros
    assert rss_after - rss_before < 50 * MB
    assert await readv(t, [0], [(199_999_996, 10), (0, 4)]) == {
        0: [b"\x00\x00\x00\x00x", b"\x00" * 4]}


@pytest_twisted.ensureDeferred
async def test_bytes_left_by_a_truncation_read_as_zeros_when_the_share_grows_again(t):
    await twrite(t, {0: (NEW, [(0, b"A" * 5000)], None)})
    await twrite(t, {0: ([], [], 10)})
    await twrite(t, {0: ([], [(6000, b"end")], None)})
    (data,) = (await readv(t, [0], [(0, 7000)]))[0]
    assert data == b"A" * 10 + b"\x00" * 5990 + b"end"


@pytest_twisted.ensureDeferred
async def test_growth_past_the_space_above_the_reserve_changes_nothing(make_transport):
    t = await make_transport(disk_stats=FixedDisk(free=3 * MB), reserved_space=1 * MB)
    await twrite(t, {0: (NEW, [(0, b"kept")], None)})
    path = share_path(t.storedir, SI, 0)
    before = container_bytes(path)
    for offset in (2 * MB, 10 ** 12, 10 ** 16):
        with t.raises(NoSpaceError, match="left above its reserve"):
            await twrite(t, {0: ([], [(offset, b"x")], None), 1: (NEW, [(0, b"new")], None)},
                         secrets=(WE, secret("renew", 2), secret("cancel", 2)))
    assert container_bytes(path) == before  # no data, no new lease
    assert all_files(os.path.join(t.storedir, "shares")) == [os.path.relpath(
        path, os.path.join(t.storedir, "shares"))]
    ok, _ = await twrite(t, {0: ([], [(1 * MB, b"fits")], None)})
    assert ok
    # with no room left, what does not grow a share is still written
    full = await make_transport(storedir=t.storedir, disk_stats=FixedDisk(free=1 * MB),
                                reserved_space=1 * MB)
    ok, _ = await twrite(full, {0: ([], [(0, b"KEPT")], None)})
    assert ok and await readv(full, [0], [(0, 4)]) == {0: [b"KEPT"]}
    with full.raises(NoSpaceError):
        await twrite(full, {0: ([], [(2 * MB, b"K")], None)})


@pytest_twisted.ensureDeferred
async def test_readonly_storage_still_takes_mutable_writes_within_the_reserve(make_transport):
    t = await make_transport(disk_stats=FixedDisk(free=2 * MB), reserved_space=1 * MB,
                             readonly_storage=True)
    ok, _ = await twrite(t, {0: (NEW, [(0, b"small")], None)})
    assert ok
    with t.raises(NoSpaceError):
        await twrite(t, {0: ([], [(1 * MB + 100, b"x")], None)})


@pytest_twisted.ensureDeferred
async def test_mutable_growth_counts_what_uploads_were_promised(make_transport):
    t = await make_transport(disk_stats=FixedDisk(free=10 * MB), reserved_space=0)
    _, writers = await allocate(t, make_si(91), {0}, 4 * MB)
    assert sorted(writers) == [0]
    with t.raises(NoSpaceError):
        await twrite(t, {0: (NEW, [(6 * MB, b"x")], None)})
    await writers[0].call("abort")
    ok, _ = await twrite(t, {0: (NEW, [(6 * MB, b"x")], None)})
    assert ok


# ---- sizes of one call ---------------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_a_write_carries_at_most_the_share_data_of_one_call(t):
    half = b"d" * (MAX_CALL_SHARE_DATA // 2 + 1)
    with t.raises(DataTooLargeError, match="one call writes at most"):
        await twrite(t, {0: (NEW, [(0, half)], None), 1: (NEW, [(0, half)], None)})
    assert all_files(os.path.join(t.storedir, "shares")) == []


@pytest_twisted.ensureDeferred
async def test_answers_are_bounded_before_anything_is_read(t):
    size = 8 * MiB
    await twrite(t, {0: (NEW, [(0, b"s" * size)], None)})
    assert [len(d) for d in (await readv(t, [0], [(0, size)]))[0]] == [size]
    many = [(0, size)] * (MAX_CALL_SHARE_DATA // size + 1)
    with t.raises(AnswerTooLargeError, match="read them in parts"):
        await readv(t, [0], many)
    with t.raises(AnswerTooLargeError):
        await twrite(t, {0: ([], [], None)}, r_vector=many)
    # reads past the end count only what they return
    past = [(size - 10, 2 ** 31 - 1)] * MAX_VECTORS
    assert (await readv(t, [0], past))[0] == [b"s" * 10] * MAX_VECTORS


async def refused_by_schema_or_server(t, name, *args):
    """A call the Foolscap schema refuses (sent unchecked, so the receiver
    refuses it); in-process, the server's own checks refuse it."""
    if t.name == "foolscap":
        with t.raises_constraint_violation(sender_checks=False):
            await t.server.call_unchecked(name, *args)
    else:
        with t.raises(BadArgumentError):
            await t.server.call(name, *args)


@pytest_twisted.ensureDeferred
async def test_test_vectors_and_read_vectors_are_bounded(t):
    await twrite(t, {0: (NEW, [(0, b"data")], None)})
    write = "slot_testv_and_readv_and_writev"
    too_many_tests = [(0, 1, b"ge", b"")] * (MAX_VECTORS + 1)
    too_large_specimen = [(0, 4, b"eq", b"x" * (MAX_TEST_LENGTH + 1))]
    for testv in (too_many_tests, too_large_specimen):
        await refused_by_schema_or_server(t, write, SI, SECRETS,
                                          {0: (testv, [(0, b"XXXX")], None)}, [])
    await refused_by_schema_or_server(t, "slot_readv", SI, [], [(0, 1)] * (MAX_VECTORS + 1))
    with t.raises(BadArgumentError, match="compares at most"):
        await twrite(t, {0: ([(0, MAX_TEST_LENGTH + 1, b"eq", b"")], [(0, b"XXXX")], None)})
    assert await readv(t, [], [(0, 10)]) == {0: [b"data"]}


@pytest_twisted.ensureDeferred
async def test_corruption_reports_are_bounded(t):
    _, writers = await allocate(t, SI, {0}, 4)
    await writers[0].call("write", 0, b"data")
    await writers[0].call("close")
    await refused_by_schema_or_server(t, "advise_corrupt_share", b"immutable", SI, 0,
                                      b"r" * (MAX_CORRUPTION_REASON + 1))
    for i in range(MAX_ADVISORIES_PER_SHARE + 5):
        await t.server.call("advise_corrupt_share", b"immutable", SI, 0, b"report %d" % i)
    reports = os.listdir(os.path.join(t.storedir, "corruption-advisories"))
    assert len(reports) == MAX_ADVISORIES_PER_SHARE


# ---- leases ----------------------------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_leases_on_one_share_are_bounded(make_transport):
    t = await make_transport()
    _, writers = await allocate(t, SI, {0}, 4)
    await writers[0].call("write", 0, b"data")
    await writers[0].call("close")
    await twrite(t, {0: (NEW, [(0, b"mutable")], None)}, si=make_si(92))
    for n in range(1, MAX_LEASES_PER_SHARE):
        await t.server.call("add_lease", SI, secret("renew", n), secret("cancel", n))
        await t.server.call("add_lease", make_si(92), secret("renew", n), secret("cancel", n))
    immutable = ImmutableShareFile(share_path(t.storedir, SI, 0))
    mutable = MutableShareFile(share_path(t.storedir, make_si(92), 0))
    assert immutable.lease_count() == mutable.lease_count() == MAX_LEASES_PER_SHARE
    for si in (SI, make_si(92)):
        with t.raises(LeaseLimitError, match="as many as a share may"):
            await t.server.call("add_lease", si, secret("renew", -1), secret("cancel", -1))
        await t.server.call("add_lease", si, secret("renew", 5), secret("cancel", 5))  # renews
    # the data stays writable and uploadable: only no lease is added
    ok, _ = await twrite(t, {0: ([], [(0, b"MUTABLE")], None)}, si=make_si(92),
                         secrets=(WE, secret("renew", -2), secret("cancel", -2)))
    assert ok
    already, _ = await allocate(t, SI, {0}, 4, renew=secret("renew", -3))
    assert already == {0}
    assert immutable.lease_count() == mutable.lease_count() == MAX_LEASES_PER_SHARE


# ---- space held by uploads -------------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_only_progress_keeps_an_upload_alive(t):
    _, writers = await allocate(t, SI, {0}, 100)
    incoming = share_path(t.storedir, SI, 0, incoming=True)
    await writers[0].call("write", 0, b"0123456789")
    t.clock.advance(29 * 60)
    await writers[0].call("write", 0, b"0123456789")  # the same bytes again
    t.clock.advance(2 * 60)
    assert not os.path.exists(incoming)
    assert t.storage_server.promised_space() == 0


@pytest_twisted.ensureDeferred
async def test_a_lost_connection_releases_what_it_held(make_transport):
    t = await make_transport(disk_stats=FixedDisk(free=10 * MB))
    canary = t.new_canary()
    _, writers = await allocate(t, SI, {0, 1}, 2 * MB, canary=canary)
    assert sorted(writers) == [0, 1]
    assert t.storage_server.promised_space() == 4 * MB
    await t.lose_canary(canary)
    assert t.storage_server.promised_space() == 0
    assert t.storage_server.allocated_size() == 0
    assert all_files(os.path.join(t.storedir, "shares")) == []


# ---- the node's broker --------------------------------------------------------------------
async def _server_behind_limited_broker(tmp_path, max_call_cost):
    server_tub = start_tub()
    server_tub.brokerClass = StringWaitingBroker.with_call_limit(max_call_cost, 64)
    server_tub.setOption("logLocalFailures", False)
    server = StorageServer(str(tmp_path / "storage"), nodeid_a2b(server_tub.getTubID()))
    server.startService()
    furl = server_tub.registerReference(server)
    client_tub = Tub()
    client_tub.startService()
    rref = await client_tub.getReference(furl)
    return server, server_tub, client_tub, rref


@pytest_twisted.ensureDeferred
async def test_the_broker_refuses_a_call_costing_more_than_its_limit(tmp_path):
    server, server_tub, client_tub, rref = await _server_behind_limited_broker(
        tmp_path, 1 * MiB)
    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        pieces = [(i * 300_000, b"p" * 300_000) for i in range(4)]  # each within the schema
        with pytest.raises(RemoteException) as info:
            await call_remote(rref, "slot_testv_and_readv_and_writev", SI, SECRETS,
                              {0: (NEW, pieces, None)}, [])
        assert info.value.is_type("Violation"), info.value
        assert "larger than the 1048576 bytes" in info.value.message
        assert all_files(os.path.join(str(tmp_path), "storage", "shares")) == []
        # the connection is still good, and a call within the limit runs
        ok, _ = await call_remote(rref, "slot_testv_and_readv_and_writev", SI, SECRETS,
                                  {0: (NEW, pieces[:2], None)}, [])
        assert ok
        # a call refused by the server is logged in one line, without its arguments
        with pytest.raises(RemoteException):
            await call_remote(rref, "slot_testv_and_readv_and_writev", SI,
                              (secret("other"), R, C), {0: ([], [(0, b"Z" * 500_000)], None)},
                              [])
    finally:
        globalLogPublisher.removeObserver(events.append)
        await client_tub.stopService()
        await server_tub.stopService()
        await server.stopService()
    lines = [e for e in events if e.get("log_namespace") == "allmydata.util.broker"]
    assert any("BadWriteEnablerError" in e["reason"] and
               e["method"].endswith("slot_testv_and_readv_and_writev") for e in lines), lines
    assert all(len(repr(e)) < 5000 for e in lines)


# ---- a real storage node and a client without our schemas -------------------------------------
class StorageNode:
    """One storage node process (``tahoe run``) in ``basedir``, on 127.0.0.1."""

    def __init__(self, basedir: str, reserved_space: str = "1G"):
        self.basedir = basedir
        run_tahoe("create-node", "--hostname", "127.0.0.1", "--webport", "none",
                  "--nickname", "hostile", basedir)
        cfg = os.path.join(basedir, "tahoe.cfg")
        with open(cfg) as f:
            text = f.read()
        text = re.sub(r"(?m)^reserved_space = .*$", "reserved_space = %s" % reserved_space, text)
        with open(cfg, "w") as f:
            f.write(text)
        self.popen = None

    def start(self):
        furl_file = os.path.join(self.basedir, "private", "storage.furl")
        nodeid_file = os.path.join(self.basedir, "my_nodeid")
        if os.path.exists(nodeid_file):  # written again once the node runs
            os.unlink(nodeid_file)
        os.makedirs(os.path.join(self.basedir, "logs"), exist_ok=True)
        with open(os.path.join(self.basedir, "logs", "test-run.log"), "ab") as out:
            self.popen = subprocess.Popen(TAHOE + ["run", "--allow-stdin-close", self.basedir],
                                          stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(nodeid_file), 60,
                 what="the storage node to start")
        with open(furl_file) as f:
            self.furl = f.read().strip()
        self.process = psutil.Process(self.popen.pid)

    def stop(self):
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self.popen = None

    def rss(self) -> int:
        return self.process.memory_info().rss

    def share_file(self, storage_index: bytes, shnum: int) -> str:
        return share_path(os.path.join(self.basedir, "storage"), storage_index, shnum)


@pytest.fixture
def storage_node(tmp_path):
    node = StorageNode(str(tmp_path / "node"))
    try:
        node.start()
        yield node
    finally:
        node.stop()


def raw(rref, name, *args):
    """``callRemote`` with the arguments as they are: this process knows our
    interfaces (Foolscap would check them here), a hostile client does not."""
    return call_remote(rref, name, *args, _useSchema=False)


class BareClient:
    """A Foolscap Tub that sends arguments as they are (see :func:`raw`)."""

    def __init__(self):
        self.tub = Tub()
        self.tub.startService()
        self.canary = Referenceable()

    async def connect(self, furl):
        self.rref = await self.tub.getReference(furl)
        return self

    def call(self, name, *args):
        return raw(self.rref, name, *args)

    async def close(self):
        await self.tub.stopService()


def _assert_refused(info, type_name):
    assert info.value.is_type(type_name), info.value


@pytest.mark.integration
@pytest_twisted.ensureDeferred
async def test_a_running_node_refuses_planted_shares_and_keeps_its_slot(storage_node):
    c = await BareClient().connect(storage_node.furl)
    try:
        ok, _ = await c.call("slot_testv_and_readv_and_writev", SI, SECRETS,
                             {0: (NEW, [(0, b"a directory")], None)}, [])
        assert ok
        for sharenums in ({0}, {1, 2, 3}):
            with pytest.raises(RemoteException) as info:
                await c.call("allocate_buckets", SI, R, C, sharenums, 1000, c.canary)
            _assert_refused(info, "ShareTypeError")
        # an upload in progress keeps mutable shares out of its storage index too
        other = make_si(93)
        _, writers = await c.call("allocate_buckets", other, R, C, {0}, 10, c.canary)
        with pytest.raises(RemoteException) as info:
            await c.call("slot_testv_and_readv_and_writev", other, SECRETS,
                         {1: (NEW, [(0, b"planted")], None)}, [])
        _assert_refused(info, "ShareTypeError")
        await raw(writers[0], "abort")
    finally:
        await c.close()
    storage_node.stop()
    storage_node.start()
    c = await BareClient().connect(storage_node.furl)
    try:
        assert await c.call("slot_readv", SI, [], [(0, 20)]) == {0: [b"a directory"]}
        ok, _ = await c.call("slot_testv_and_readv_and_writev", SI, SECRETS,
                             {0: ([], [(0, b"A")], None)}, [])
        assert ok
    finally:
        await c.close()


@pytest.mark.integration
@pytest_twisted.ensureDeferred
async def test_a_running_node_writes_gaps_as_holes_and_checks_bounds_first(storage_node):
    c = await BareClient().connect(storage_node.furl)
    try:
        rss_before = storage_node.rss()
        ok, _ = await c.call("slot_testv_and_readv_and_writev", SI, SECRETS,
                             {0: (NEW, [(200_000_000, b"x")], None)}, [])
        assert ok
        rss_after = storage_node.rss()
        path = storage_node.share_file(SI, 0)
        assert os.stat(path).st_size > 200_000_000
        assert os.stat(path).st_blocks * 512 < 1 * MB
        assert rss_after - rss_before < 20 * MB
        before = container_bytes(path)
        for offset in (2 ** 50, 2 ** 62):
            with pytest.raises(RemoteException) as info:
                await c.call("slot_testv_and_readv_and_writev", SI,
                             (WE, secret("renew", 7), secret("cancel", 7)),
                             {0: ([], [(offset, b"x")], None)}, [])
            assert info.value.is_type("NoSpaceError") or info.value.is_type(
                "DataTooLargeError"), info.value
        assert container_bytes(path) == before  # no data, no lease
        assert storage_node.rss() - rss_before < 20 * MB
    finally:
        await c.close()


@pytest.mark.integration
@pytest_twisted.ensureDeferred
async def test_a_running_node_bounds_what_one_call_carries(storage_node):
    c = await BareClient().connect(storage_node.furl)
    try:
        _, writers = await c.call("allocate_buckets", SI, R, C, {0}, 1 * MB, c.canary)
        writer = writers[0]
        rss_start = storage_node.rss()
        # larger than the schema allows: refused as it arrives, never held
        with pytest.raises(RemoteException) as info:
            await raw(writer, "write", 0, b"w" * (MAX_CALL_SHARE_DATA + 1))
        _assert_refused(info, "Violation")
        assert storage_node.rss() - rss_start < 30 * MB
        # refused by the server after it arrived: nothing of it is kept
        with pytest.raises(RemoteException) as info:
            await raw(writer, "write", 0, b"w" * (50 * MiB))
        _assert_refused(info, "DataTooLargeError")
        rss_base = storage_node.rss()
        for _ in range(3):
            with pytest.raises(RemoteException):
                await raw(writer, "write", 0, b"w" * (50 * MiB))
        assert storage_node.rss() - rss_base < 60 * MB
        await raw(writer, "write", 0, b"ok")  # the upload goes on
        await raw(writer, "abort")

        # a read answers at most what one call may carry
        msi = make_si(94)
        size = 40 * MiB
        ok, _ = await c.call("slot_testv_and_readv_and_writev", msi, SECRETS,
                             {0: (NEW, [(0, b"m" * size)], None)}, [])
        assert ok
        (data,) = (await c.call("slot_readv", msi, [0], [(0, size)]))[0]
        assert len(data) == size
        del data
        rss_base = storage_node.rss()
        with pytest.raises(RemoteException) as info:
            await c.call("slot_readv", msi, [0], [(0, size)] * 10)
        _assert_refused(info, "AnswerTooLargeError")
        assert storage_node.rss() - rss_base < 60 * MB

        # many vectors, each within the schema, are refused as a whole: by
        # the server past the share data of one call, and by the node's
        # broker while they arrive past what one call may cost
        piece = b"v" * (10 * MiB)
        for count, refusal in ((7, "DataTooLargeError"), (10, "Violation")):
            pieces = [(i * len(piece), piece) for i in range(count)]
            rss_base = storage_node.rss()
            with pytest.raises(RemoteException) as info:
                await c.call("slot_testv_and_readv_and_writev", make_si(95), SECRETS,
                             {0: (NEW, pieces, None)}, [])
            _assert_refused(info, refusal)
            assert storage_node.rss() - rss_base < 60 * MB
            assert not os.path.exists(storage_node.share_file(make_si(95), 0))
        del pieces, piece

        with pytest.raises(RemoteException) as info:
            await c.call("advise_corrupt_share", b"mutable", msi, 0, b"r" * (1 * MB))
        _assert_refused(info, "Violation")
    finally:
        await c.close()


@pytest.mark.integration
@pytest_twisted.ensureDeferred
async def test_one_connection_cannot_squat_all_the_space(storage_node):
    a = await BareClient().connect(storage_node.furl)
    b = await BareClient().connect(storage_node.furl)
    try:
        version = await a.call("get_version")
        room = version[b"http://allmydata.org/tahoe/protocols/storage/v1"][b"available-space"]
        assert room > 100 * MB
        _, got = await a.call("allocate_buckets", make_si(96), R, C, {0}, room - 10 * MB,
                              a.canary)
        assert got == {}  # all of it: refused
        _, got_a = await a.call("allocate_buckets", make_si(96), R, C, {0, 1},
                                int(room * 0.2), a.canary)
        assert sorted(got_a) == [0, 1]  # 40% of the room, never written
        _, got_b = await b.call("allocate_buckets", make_si(97), R, C, {0},
                                int(room * 0.25), b.canary)
        assert sorted(got_b) == [0]  # another uploader still has room
        _, more = await b.call("allocate_buckets", make_si(98), R, C, {0},
                               int(room * 0.2), b.canary)
        assert more == {}  # 45% would be more than half of what A leaves
        await a.close()  # A's connection goes: what it held is released

        async def b_gets_more():
            _, more = await b.call("allocate_buckets", make_si(98), R, C, {0},
                                   int(room * 0.2), b.canary)
            return more

        for _ in range(200):
            more = await b_gets_more()
            if more:
                break
            await _later(0.05)
        assert sorted(more) == [0]
        storedir = os.path.join(storage_node.basedir, "storage")
        for shnum in (0, 1):  # what A held is gone from the disk too
            assert not os.path.exists(share_path(storedir, make_si(96), shnum, incoming=True))
    finally:
        await b.close()


def _later(seconds):
    return task.deferLater(reactor, seconds, lambda: None)


def test_the_schema_bounds_every_string_and_list_of_a_slot_write():
    schema = RIStorageServer["slot_testv_and_readv_and_writev"]
    tw = schema.argConstraints["tw_vectors"]
    assert tw.maxKeys == 256
    testv, datav, _new_length = tw.valueConstraint.constraints
    assert testv.maxLength == MAX_VECTORS
    assert datav.constraint.constraints[1].maxLength == MAX_CALL_SHARE_DATA
    assert schema.argConstraints["r_vector"].maxLength == MAX_VECTORS
