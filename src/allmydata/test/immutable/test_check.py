"""Check and verify of CHK files, on real storage servers in this process.

A check believes what the servers say they hold; a verify reads every share
in full.  The damage is done to the share files on disk (one byte of one
region), and the lying servers are real servers with one remote method
replaced.
"""

import os
import struct

import pytest
import pytest_twisted
from foolscap.api import Referenceable
from twisted.internet import defer, reactor
from zope.interface import implementer

from allmydata import uri
from allmydata.check_results import check_results_json
from allmydata.client import SecretHolder
from allmydata.immutable import checker
from allmydata.immutable.checker import check_immutable, lease_secrets
from allmydata.immutable.filenode import ImmutableFileNode
from allmydata.immutable.literal import LiteralFileNode
from allmydata.monitor import Monitor, OperationCancelledError
from allmydata.storage.immutable import ImmutableShareFile
from allmydata.storage.interfaces import RIBucketReader
from allmydata.testing.storagegrid import (
    CONTAINER_HEADER, ReadLog, flip_byte, grid_secrets, share_layout,
)

from .watched_budget import WatchedBudget

DATA_SIZE = 300_000          # three segments of 128 KiB
K, N = 3, 10


def vcap_of(cap):
    return uri.from_string(cap).get_verifier()


def region_offset(layout, region: str) -> int:
    """A share-data offset inside ``region`` of a share with this layout."""
    if region == "data":
        return layout.data + layout.block_size + 17          # inside block 1
    if region == "first block":
        return layout.data + 17
    if region == "block hashes":
        return layout.block_hashes + 32 * 2 + 5               # a node below the root
    if region == "share hashes":
        return layout.share_hashes + 2 + 7                    # the leaf's hash, not its index
    if region == "crypttext hashes":
        return layout.crypttext_hash_tree + 32 + 3
    if region == "UEB":
        return layout.uri_extension + layout.fieldsize + 9
    raise ValueError(region)


def lease_count(path: str) -> int:
    with open(path, "rb") as f:
        return struct.unpack(">L", f.read(12)[8:12])[0]


async def upload(grid, data=None):
    data = data if data is not None else os.urandom(DATA_SIZE)
    cap = await grid.upload(data, k=K, n=N)
    return cap, vcap_of(cap)


@pytest_twisted.ensureDeferred
async def test_healthy_file(grid):
    cap, vcap = await upload(grid)
    for verify in (False, True):
        r = await check_immutable(vcap, grid.broker, verify=verify)
        assert r.healthy and r.recoverable
        assert (r.count_shares_good, r.count_shares_needed, r.count_shares_expected) == (N, K, N)
        assert r.count_good_share_hosts == 5 and r.count_happiness == 5
        assert len(r.servers_responding) == 5
        assert r.summary == "Healthy"
        assert r.corrupt_shares == [] and r.count_wrong_shares == 0
        assert sorted(r.sharemap) == list(range(N))
        assert r.storage_index == vcap.get_storage_index()
        assert not r.needs_rebalancing()
        js = check_results_json(r)
        assert js["results"]["healthy"] is True
        assert js["results"]["count-shares-good"] == N
    assert grid.all_advisories() == {}


@pytest_twisted.ensureDeferred
async def test_read_cap_and_file_node(grid):
    cap, vcap = await upload(grid)
    r = await check_immutable(cap, grid.broker)           # a read cap is reduced to its verify cap
    assert r.uri == vcap.to_string()
    node = ImmutableFileNode(cap, grid.broker, grid_secrets())
    r = await node.check(Monitor(), verify=True)
    assert r.healthy and r.count_shares_good == N


@pytest_twisted.ensureDeferred
async def test_literal_node_answers_none():
    node = LiteralFileNode(uri.LiteralFileURI(b"small").to_string())
    assert await node.check(Monitor()) is None
    assert await node.check_and_repair(Monitor(), verify=True) is None
    assert check_results_json(None) == {"storage-index": "", "results": {"healthy": True}}


@pytest_twisted.ensureDeferred
async def test_missing_shares(grid):
    cap, vcap = await upload(grid)
    si = vcap.get_storage_index()
    assert grid.delete_shares(si, shnums=(0, 4, 7)) == {0, 4, 7}
    r = await check_immutable(vcap, grid.broker)
    assert not r.healthy and r.recoverable
    assert r.count_shares_good == 7
    assert r.summary == "Not Healthy: 7 shares (enc 3-of-10)"
    assert sorted(r.sharemap) == [1, 2, 3, 5, 6, 8, 9]
    grid.delete_shares(si, shnums=(1, 2, 3, 5, 6))
    r = await check_immutable(vcap, grid.broker, verify=True)
    assert not r.healthy and not r.recoverable
    assert r.count_shares_good == 2
    assert r.summary == "Not Healthy: 2 shares (enc 3-of-10)"
    assert (r.count_recoverable_versions, r.count_unrecoverable_versions) == (0, 1)


@pytest.mark.parametrize("region", ["data", "first block", "block hashes", "share hashes",
                                    "crypttext hashes", "UEB"])
@pytest_twisted.ensureDeferred
async def test_one_corrupt_byte(grid, region):
    cap, vcap = await upload(grid)
    si = vcap.get_storage_index()
    server_index, shnum, path = [f for f in grid.share_files(si) if f[1] == 4][0]
    flip_byte(path, region_offset(share_layout(path), region))

    r = await check_immutable(vcap, grid.broker)
    assert r.healthy, "a check believes the servers"
    assert grid.all_advisories() == {}

    r = await check_immutable(vcap, grid.broker, verify=True)
    assert not r.healthy and r.recoverable
    assert r.count_shares_good == N - 1
    assert 4 not in r.sharemap
    assert [(s.get_serverid(), si_, sh) for s, si_, sh in r.corrupt_shares] == \
        [(grid.serverids[server_index], si, 4)]
    js = check_results_json(r)
    assert js["results"]["count-corrupt-shares"] == 1
    assert js["results"]["list-corrupt-shares"][0][2] == 4
    # the server was told, once
    advisories = grid.all_advisories()
    assert list(advisories) == [server_index]
    assert len(advisories[server_index]) == 1
    assert any("share 4" in line and "corrupt" in line for line in r.report)


@pytest_twisted.ensureDeferred
async def test_add_lease(grid):
    cap, vcap = await upload(grid)
    si = vcap.get_storage_index()
    paths = [p for _i, _s, p in grid.share_files(si)]
    assert {lease_count(p) for p in paths} == {1}
    with pytest.raises(ValueError):
        await check_immutable(vcap, grid.broker, add_lease=True)
    # the uploading client's own lease is renewed, not doubled
    r = await check_immutable(vcap, grid.broker, add_lease=True, secret_holder=grid_secrets())
    assert r.healthy
    assert {lease_count(p) for p in paths} == {1}
    # another client gets a lease of its own on every share, with its secrets
    other = SecretHolder(b"O" * 32, b"C" * 32)
    r = await check_immutable(vcap, grid.broker, verify=True, add_lease=True,
                              secret_holder=other)
    assert r.healthy
    assert {lease_count(p) for p in paths} == {2}
    for server_index, _shnum, path in grid.share_files(si):
        renew, _cancel = lease_secrets(other, si, grid.serverids[server_index])
        assert ImmutableShareFile(path).has_lease(renew)


@pytest_twisted.ensureDeferred
async def test_add_lease_refused(grid):
    cap, vcap = await upload(grid)

    def refuse(storage_index, renew_secret, cancel_secret):
        raise IndexError("no add_lease here")
    grid.servers[1].remote_add_lease = refuse
    r = await check_immutable(vcap, grid.broker, add_lease=True,
                              secret_holder=SecretHolder(b"O" * 32, b"C" * 32))
    assert r.healthy and len(r.servers_responding) == 5
    assert any("add_lease" in text for _s, _sh, text in r.share_problems)


# ---- lying servers ------------------------------------------------------------------

@implementer(RIBucketReader)
class FakeReader(Referenceable):
    """A bucket reader for a share the server does not have."""

    def __init__(self, read):
        self._read = read
        self.advised = []

    def remote_read(self, offset, length):
        return self._read(offset, length)

    def remote_advise_corrupt_share(self, reason):
        self.advised.append(reason)


def server_without(grid, si, shnum) -> int:
    """The index of a server that holds no copy of share ``shnum``."""
    return [i for i in range(len(grid.servers))
            if shnum not in {sh for j, sh, _p in grid.share_files(si) if j == i}][0]


def add_fake_share(server, shnum, read):
    """``server`` also claims share ``shnum`` (replacing any real copy it
    has), served by ``read(offset, length)``."""
    real = server.remote_get_buckets

    def get_buckets(storage_index):
        buckets = dict(real(storage_index))
        buckets[shnum] = FakeReader(read)
        return buckets
    server.remote_get_buckets = get_buckets


@pytest_twisted.ensureDeferred
async def test_server_claims_share_it_cannot_read(grid):
    cap, vcap = await upload(grid)
    si = vcap.get_storage_index()
    lying = server_without(grid, si, 9)

    def read(offset, length):
        raise IOError("no such share")
    add_fake_share(grid.servers[lying], 9, read)
    r = await check_immutable(vcap, grid.broker)
    assert grid.serverids[lying] in {s.get_serverid() for s in r.sharemap[9]}
    r = await check_immutable(vcap, grid.broker, verify=True)
    assert r.healthy   # the real copy of share 9 elsewhere is good
    assert grid.serverids[lying] not in {s.get_serverid() for s in r.sharemap[9]}
    assert r.corrupt_shares == []
    assert any(s.get_serverid() == grid.serverids[lying] and sh == 9
               for s, sh, _text in r.share_problems)


@pytest_twisted.ensureDeferred
async def test_server_returns_wrong_data(grid):
    cap, vcap = await upload(grid)
    si = vcap.get_storage_index()
    held = {sh for j, sh, _p in grid.share_files(si) if j == 2}
    victim = sorted(held)[0]
    real_path = [p for j, sh, p in grid.share_files(si) if j == 2 and sh == victim][0]
    with open(real_path, "rb") as f:
        raw = f.read()
    nleases = struct.unpack(">L", raw[8:12])[0]
    good = bytearray(raw[CONTAINER_HEADER:len(raw) - 72 * nleases])
    os.unlink(real_path)
    good[len(good) // 3] ^= 0x55      # a well-formed share with one wrong data byte

    def read(offset, length):
        return bytes(good[offset:offset + length])
    add_fake_share(grid.servers[2], victim, read)
    r = await check_immutable(vcap, grid.broker, verify=True)
    assert [(s.get_serverid(), sh) for s, _si, sh in r.corrupt_shares] == \
        [(grid.serverids[2], victim)]
    assert not r.healthy and victim not in r.sharemap


@pytest_twisted.ensureDeferred
async def test_server_that_never_answers(grid):
    cap, vcap = await upload(grid)
    grid.servers[3].remote_get_buckets = lambda storage_index: defer.Deferred()
    r = await check_immutable(vcap, grid.broker, query_timeout=0.5)
    assert len(r.servers_responding) == 4
    assert grid.serverids[3] not in {s.get_serverid() for s in r.servers_responding}
    assert r.count_shares_good == 8 and not r.healthy and r.recoverable
    assert any("get_buckets" in text for _s, _sh, text in r.share_problems)


@pytest_twisted.ensureDeferred
async def test_reads_that_never_answer(grid):
    cap, vcap = await upload(grid)
    si = vcap.get_storage_index()
    lying = server_without(grid, si, 8)
    add_fake_share(grid.servers[lying], 8, lambda offset, length: defer.Deferred())
    r = await check_immutable(vcap, grid.broker, verify=True, read_timeout=0.5)
    assert r.healthy   # the real share 8 is elsewhere
    assert grid.serverids[lying] not in {s.get_serverid() for s in r.sharemap[8]}
    assert r.corrupt_shares == []


@pytest_twisted.ensureDeferred
async def test_stopped_server_is_not_responding(grid):
    cap, vcap = await upload(grid)
    await grid.stop_server(4)
    r = await check_immutable(vcap, grid.broker, verify=True)
    assert len(r.servers_responding) == 4
    assert r.count_shares_good == 8 and r.recoverable and not r.healthy


@pytest_twisted.ensureDeferred
async def test_cancelled(grid):
    cap, vcap = await upload(grid)
    monitor = Monitor()
    monitor.cancel()
    with pytest.raises(OperationCancelledError):
        await check_immutable(vcap, grid.broker, verify=True, monitor=monitor)


@pytest_twisted.ensureDeferred
async def test_verify_reads_a_bounded_amount_at_once(grid, monkeypatch):
    """Many segments: the blocks are read in spans of whole blocks of at
    most SPAN_BYTES, and every byte of every share's data is read."""
    monkeypatch.setattr(checker, "SPAN_BYTES", 4096)
    cap = await grid.upload(os.urandom(200_000), k=K, n=N, max_segment_size=3 * 1024)
    vcap = vcap_of(cap)
    si = vcap.get_storage_index()
    _i, _sh, path = grid.share_files(si)[0]
    lay = share_layout(path)
    reads = ReadLog(monkeypatch)
    r = await check_immutable(vcap, grid.broker, verify=True, reactor=reactor)
    assert r.healthy and r.count_shares_good == N
    data_reads = [(shnum, offset, length) for _si, shnum, offset, length in reads.entries
                  if lay.data <= offset < lay.plaintext_hash_tree]
    assert max(length for _s, _o, length in data_reads) <= 4096
    # every data byte of every share was read (block 0 comes with the header)
    for shnum in range(N):
        covered = set()
        for _si, s, offset, length in reads.entries:
            if s == shnum:
                covered.update(range(max(offset, lay.data),
                                     min(offset + length, lay.plaintext_hash_tree)))
        assert len(covered) == lay.plaintext_hash_tree - lay.data
    flip_byte(path, (lay.data + lay.plaintext_hash_tree) // 2)
    r = await check_immutable(vcap, grid.broker, verify=True)
    assert len(r.corrupt_shares) == 1


@pytest_twisted.ensureDeferred
async def test_unknown_share_version_is_incompatible(grid):
    cap, vcap = await upload(grid)
    si = vcap.get_storage_index()
    server_index, _shnum, path = [f for f in grid.share_files(si) if f[1] == 6][0]
    with open(path, "r+b") as f:
        f.seek(CONTAINER_HEADER)
        f.write(struct.pack(">L", 7))
    r = await check_immutable(vcap, grid.broker, verify=True)
    assert [(s.get_serverid(), sh) for s, _si, sh in r.incompatible_shares] == \
        [(grid.serverids[server_index], 6)]
    assert r.corrupt_shares == [] and 6 not in r.sharemap
    assert grid.all_advisories() == {}


@pytest_twisted.ensureDeferred
async def test_share_numbers_out_of_range_are_ignored(grid):
    cap, vcap = await upload(grid)
    add_fake_share(grid.servers[0], N + 5, lambda offset, length: b"")
    r = await check_immutable(vcap, grid.broker, verify=True)
    assert r.healthy and sorted(r.sharemap) == list(range(N))
    assert any("outside" in text for _s, _sh, text in r.share_problems)


@pytest_twisted.ensureDeferred
async def test_results_under_tahoe_names(grid):
    """The accessors of Tahoe-LAFS 1.20's ICheckResults give the same
    numbers as the JSON (which is what its web API writes from them)."""
    cap, vcap = await upload(grid)
    si = vcap.get_storage_index()
    grid.delete_shares(si, shnums=(2,))
    r = await check_immutable(vcap, grid.broker, verify=True)
    results = check_results_json(r)["results"]
    assert results["count-happiness"] == r.get_happiness() == 5
    assert results["count-shares-good"] == r.get_share_counter_good() == N - 1
    assert results["count-shares-needed"] == r.get_encoding_needed() == K
    assert results["count-shares-expected"] == r.get_encoding_expected() == N
    assert results["count-good-share-hosts"] == r.get_host_counter_good_shares() == 5
    assert results["count-wrong-shares"] == r.get_share_counter_wrong() == 0
    assert results["count-recoverable-versions"] == r.get_version_counter_recoverable() == 1
    assert results["count-unrecoverable-versions"] == r.get_version_counter_unrecoverable() == 0
    assert r.get_incompatible_shares() == [] and r.get_servermap() is None
    assert r.get_report() and r.get_report()[0].startswith("Verified: 9 of the 10 shares")
    assert sorted(results["sharemap"]) == sorted(str(s) for s in range(N) if s != 2)
    assert check_results_json(r)["summary"] == "Not Healthy: 9 shares (enc 3-of-10)"


@pytest_twisted.ensureDeferred
async def test_verifies_share_one_memory_budget(grid, monkeypatch):
    """Two verifies at once, with a budget of little more than one share's
    reads: they take turns, never hold more than the budget, and both end."""
    monkeypatch.setattr(checker, "SPAN_BYTES", 64 * 1024)
    per_share = checker.SPANS_IN_FLIGHT * 64 * 1024 + 4096
    budget = WatchedBudget(per_share + per_share // 2)
    monkeypatch.setattr(checker, "_budget", budget)
    caps = [(await upload(grid))[1] for _ in range(2)]
    results = await defer.gatherResults([defer.ensureDeferred(
        check_immutable(vcap, grid.broker, verify=True)) for vcap in caps])
    assert all(r.healthy for r in results)
    used = budget.used_after_acquire
    assert len(used) == 2 * N and max(used) <= budget.limit
    assert budget.used == 0
