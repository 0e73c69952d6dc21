"""Repair of CHK files, on real storage servers in this process.

The shares a repair writes are checked by the independent share reader of
:mod:`.sharecheck` (they must be valid shares of the same cap), the shares
already in place must be left alone (same file, same bytes), and an
unrecoverable file must get nothing written.
"""

import os

import pytest
import pytest_twisted
from twisted.internet import defer

from allmydata import uri
from allmydata.check_results import check_and_repair_json
from allmydata.immutable.checker import check_immutable
from allmydata.immutable.encode import Encoder
from allmydata.immutable.filenode import ImmutableFileNode
from allmydata.immutable import repairer
from allmydata.immutable.happiness import share_placement
from allmydata.immutable.repairer import check_and_repair_immutable, repair_immutable
from allmydata.monitor import Monitor
from allmydata.storage.immutable import BucketWriter, ImmutableShareFile
from allmydata.testing.storagegrid import flip_byte, grid_secrets, share_layout

from .sharecheck import check_and_decode
from .test_check import add_fake_share, region_offset
from .watched_budget import WatchedBudget

K, N = 3, 10


def vcap_of(cap):
    return uri.from_string(cap).get_verifier()


def snapshot(grid, si) -> dict:
    """{path: (inode, share data)} of every share file of the file (the
    leases may be renewed: a repair renews them as an upload does)."""
    out = {}
    for _i, _shnum, path in grid.share_files(si):
        share = ImmutableShareFile(path)
        out[path] = (os.stat(path).st_ino, share.read_share_data(0, share.data_length))
    return out


def all_files_under(grid) -> set:
    found = set()
    for ss in grid.servers:
        for root, _dirs, files in os.walk(ss.storedir):
            found.update(os.path.join(root, name) for name in files)
    return found


def assert_valid_shares(grid, cap, data):
    """Every share on the grid is a valid share of ``cap``, and any k of
    them (here: the newest copy of each number) give back ``data``."""
    si = uri.from_string(cap).get_storage_index()
    by_shnum = {shnum: path for _i, shnum, path in grid.share_files(si)}
    assert check_and_decode(cap, by_shnum) == data


@pytest_twisted.ensureDeferred
async def test_lost_server_repaired(grid):
    data = os.urandom(700_000)
    cap = await grid.upload(data, k=K, n=N)
    vcap = vcap_of(cap)
    si = vcap.get_storage_index()
    lost = grid.delete_shares(si, server=1)
    before = snapshot(grid, si)

    pre = await check_immutable(vcap, grid.broker)
    assert not pre.healthy and pre.recoverable
    assert pre.count_shares_good == N - len(lost)

    node = ImmutableFileNode(cap, grid.broker, grid_secrets())
    crr = await node.check_and_repair(Monitor())
    assert crr.repair_attempted and crr.repair_successful
    assert crr.pre_repair_results.count_shares_good == N - len(lost)
    post = crr.post_repair_results
    assert post.healthy and post.count_shares_good == N
    assert post.count_happiness == 5
    js = check_and_repair_json(crr)
    assert js["repair-attempted"] is True and js["repair-successful"] is True
    assert js["post-repair-results"]["results"]["healthy"] is True

    # the shares in place were not written again; only the lost numbers are new
    after = snapshot(grid, si)
    for path, state in before.items():
        assert after[path] == state
    new = {shnum for _i, shnum, path in grid.share_files(si) if path not in before}
    assert new == lost
    assert_valid_shares(grid, cap, data)
    assert await node.download_to_data() == data
    r = await check_immutable(vcap, grid.broker, verify=True)
    assert r.healthy and r.corrupt_shares == []


@pytest_twisted.ensureDeferred
async def test_stopped_servers_repaired_happiness_restored(grid):
    """Servers leave: the file is placed again on those left, as widely as
    they allow."""
    data = os.urandom(400_000)
    cap = await grid.upload(data, k=K, n=N)
    vcap = vcap_of(cap)
    await grid.stop_server(0)
    await grid.stop_server(3)
    crr = await check_and_repair_immutable(vcap, grid.broker, grid_secrets(), verify=True)
    assert crr.pre_repair_results.count_shares_good == 6
    assert crr.pre_repair_results.recoverable and not crr.pre_repair_results.healthy
    assert crr.repair_successful
    post = crr.post_repair_results
    assert post.healthy and post.count_happiness == 3
    assert len(post.servers_responding) == 3


@pytest.mark.parametrize("region", ["data", "block hashes", "share hashes",
                                    "crypttext hashes", "UEB"])
@pytest_twisted.ensureDeferred
async def test_corrupt_share_replaced(grid, region):
    """The copy of share 4 is damaged on the server that still holds it: the
    repair puts a good copy on another server, and the file is healthy."""
    data = os.urandom(300_000)
    cap = await grid.upload(data, k=K, n=N)
    vcap = vcap_of(cap)
    si = vcap.get_storage_index()
    bad_server, _shnum, bad_path = [f for f in grid.share_files(si) if f[1] == 4][0]
    flip_byte(bad_path, region_offset(share_layout(bad_path), region))

    crr = await check_and_repair_immutable(vcap, grid.broker, grid_secrets(), verify=True)
    pre, post = crr.pre_repair_results, crr.post_repair_results
    assert [(s.get_serverid(), sh) for s, _si, sh in pre.corrupt_shares] == \
        [(grid.serverids[bad_server], 4)]
    assert crr.repair_attempted and crr.repair_successful, crr.repair_error
    assert post.healthy
    holders = {s.get_serverid() for s in post.sharemap[4]}
    assert holders and grid.serverids[bad_server] not in holders
    # the server heard about its bad share once, from the check before the repair
    assert len(grid.advisories(bad_server)) == 1
    # a verify afterwards: healthy, the bad copy still there and still named
    r = await check_immutable(vcap, grid.broker, verify=True)
    assert r.healthy
    assert [(s.get_serverid(), sh) for s, _si, sh in r.corrupt_shares] == \
        [(grid.serverids[bad_server], 4)]
    good_copy = [p for i, sh, p in grid.share_files(si)
                 if sh == 4 and i != bad_server]
    assert len(good_copy) == 1
    by_shnum = {sh: p for i, sh, p in grid.share_files(si) if sh != 4}
    by_shnum[4] = good_copy[0]
    assert check_and_decode(cap, by_shnum) == data


@pytest_twisted.ensureDeferred
async def test_healthy_file_not_repaired(grid):
    cap = await grid.upload(os.urandom(100_000), k=K, n=N)
    vcap = vcap_of(cap)
    before = all_files_under(grid)
    crr = await check_and_repair_immutable(vcap, grid.broker, grid_secrets())
    assert not crr.repair_attempted and not crr.repair_successful
    assert crr.post_repair_results is crr.pre_repair_results
    assert all_files_under(grid) == before


@pytest_twisted.ensureDeferred
async def test_unrecoverable_nothing_written(grid):
    cap = await grid.upload(os.urandom(200_000), k=K, n=N)
    vcap = vcap_of(cap)
    si = vcap.get_storage_index()
    grid.delete_shares(si, shnums=range(2, N))
    before = all_files_under(grid)
    crr = await check_and_repair_immutable(vcap, grid.broker, grid_secrets(), verify=True)
    assert not crr.pre_repair_results.recoverable
    assert crr.repair_attempted and not crr.repair_successful
    assert "not recoverable" in crr.repair_error
    assert all_files_under(grid) == before
    js = check_and_repair_json(crr)
    assert js["repair-successful"] is False
    # asked directly, with a check that overstated what is there: still nothing written
    pre = await check_immutable(vcap, grid.broker)
    r = await repair_immutable(vcap, grid.broker, grid_secrets(), pre)
    assert not r.successful and "not recoverable" in r.error
    assert all_files_under(grid) == before


@pytest_twisted.ensureDeferred
async def test_shares_vanish_during_repair_nothing_kept(grid):
    """A check said the file was recoverable, but the shares are gone by
    the time the repair reads them: the repair fails and leaves no share."""
    cap = await grid.upload(os.urandom(200_000), k=K, n=N)
    vcap = vcap_of(cap)
    si = vcap.get_storage_index()
    grid.delete_shares(si, shnums=range(5, N))
    pre = await check_immutable(vcap, grid.broker)
    assert pre.recoverable
    grid.delete_shares(si, shnums=range(1, N))
    before = all_files_under(grid)
    r = await repair_immutable(vcap, grid.broker, grid_secrets(), pre)
    assert not r.successful and r.error
    assert all_files_under(grid) == before


@pytest_twisted.ensureDeferred
async def test_repair_of_many_segments_is_streamed(grid, monkeypatch):
    """A file of many segments, with a small stream buffer: the download is
    paused and resumed many times, and the result is still right."""
    data = os.urandom(600_000)
    cap = await grid.upload(data, k=K, n=N, max_segment_size=6 * 1024)
    vcap = vcap_of(cap)
    si = vcap.get_storage_index()
    grid.delete_shares(si, server=2)
    monkeypatch.setattr(repairer, "STREAM_BUFFER", 16 * 1024)
    crr = await check_and_repair_immutable(vcap, grid.broker, grid_secrets())
    assert crr.repair_successful and crr.post_repair_results.healthy
    assert_valid_shares(grid, cap, data)


@pytest_twisted.ensureDeferred
async def test_only_the_written_shares_are_made(grid, monkeypatch):
    """The block-tree roots of the shares in place come from their proven
    share-hash chains, so only the shares written are erasure-coded; the
    result is still valid shares (checked independently)."""
    made = []
    real = Encoder.encode_only

    def encode_only(self, shnums, other_leaves):
        made.append((sorted(shnums), sorted(other_leaves)))
        return real(self, shnums, other_leaves)
    monkeypatch.setattr(Encoder, "encode_only", encode_only)
    data = os.urandom(500_000)
    cap = await grid.upload(data, k=K, n=N)
    vcap = vcap_of(cap)
    si = vcap.get_storage_index()
    grid.delete_shares(si, shnums=(4, 5))
    crr = await check_and_repair_immutable(vcap, grid.broker, grid_secrets(), verify=True)
    assert crr.repair_successful and crr.post_repair_results.healthy
    assert made == [([4, 5], [0, 1, 2, 3, 6, 7, 8, 9])]
    assert_valid_shares(grid, cap, data)


def test_placement_avoids_servers_with_a_corrupt_copy():
    # server "a" holds a corrupt copy of share 1: it keeps share 0, and share 1
    # goes to a server that may take it
    placement = share_placement(["a", "b", "c"], [], range(3), {"a": {0, 1}, "b": {2}},
                                forbidden={"a": {1}})
    assert placement[0] == "a" and placement[2] == "b"
    assert placement[1] == "c"
    # with every other server read-only, a forbidden share gets no place at all
    placement = share_placement(["a", "b"], ["b"], range(2), {"a": {0}}, forbidden={"a": {1}})
    assert 1 not in placement


@pytest_twisted.ensureDeferred
async def test_servers_that_stop_taking_writes(grid, monkeypatch):
    """The servers accept the new shares and then never answer a write: the
    repair gives up on each after the write timeout instead of waiting
    forever, says which shares it could not place, and leaves no partial
    share behind; a later repair places them."""
    cap = await grid.upload(os.urandom(300_000), k=K, n=N)
    vcap = vcap_of(cap)
    si = vcap.get_storage_index()
    lost = grid.delete_shares(si, server=0)
    before = set(grid.share_files(si))
    real_write, real_close = BucketWriter.remote_write, BucketWriter.remote_close
    monkeypatch.setattr(BucketWriter, "remote_write",
                        lambda self, offset, data: defer.Deferred())
    monkeypatch.setattr(BucketWriter, "remote_close", lambda self: defer.Deferred())
    pre = await check_immutable(vcap, grid.broker)
    r = await repair_immutable(vcap, grid.broker, grid_secrets(), pre, write_timeout=0.5)
    assert not r.successful and r.placed == {}
    for shnum in lost:
        assert "%d" % shnum in r.error
    monkeypatch.setattr(BucketWriter, "remote_write", real_write)
    monkeypatch.setattr(BucketWriter, "remote_close", real_close)
    assert set(grid.share_files(si)) == before
    crr = await check_and_repair_immutable(vcap, grid.broker, grid_secrets(), verify=True)
    assert crr.repair_successful and crr.post_repair_results.healthy


@pytest_twisted.ensureDeferred
async def test_unreadable_claimed_share_replaced(grid):
    """A server claims the only copy of share 9 but cannot deliver it: a
    verify counts it as not good, and the repair writes share 9 elsewhere."""
    data = os.urandom(300_000)
    cap = await grid.upload(data, k=K, n=N)
    vcap = vcap_of(cap)
    si = vcap.get_storage_index()
    holder, _shnum, path = [f for f in grid.share_files(si) if f[1] == 9][0]
    os.unlink(path)

    def read(offset, length):
        raise IOError("disk error")
    add_fake_share(grid.servers[holder], 9, read)
    crr = await check_and_repair_immutable(vcap, grid.broker, grid_secrets(), verify=True)
    assert 9 not in crr.pre_repair_results.sharemap
    assert crr.repair_successful, crr.repair_error
    post = crr.post_repair_results
    assert post.healthy
    assert grid.serverids[holder] not in {s.get_serverid() for s in post.sharemap[9]}


@pytest_twisted.ensureDeferred
async def test_repairs_share_one_memory_budget(grid, monkeypatch):
    """Two repairs at once with a budget for one: the second waits for the
    first, both succeed, and the budget is all given back."""
    budget = WatchedBudget(repairer.REPAIR_COST)
    monkeypatch.setattr(repairer, "_budget", budget)
    vcaps = []
    for _ in range(2):
        cap = await grid.upload(os.urandom(20 * 1024 * 1024 // 2), k=K, n=N)
        vcap = vcap_of(cap)
        grid.delete_shares(vcap.get_storage_index(), server=3)
        vcaps.append(vcap)
    results = await defer.gatherResults([defer.ensureDeferred(
        check_and_repair_immutable(vcap, grid.broker, grid_secrets())) for vcap in vcaps])
    assert all(crr.repair_successful for crr in results)
    used = budget.used_after_acquire
    assert len(used) == 2 and max(used) <= budget.limit
    assert budget.used == 0
