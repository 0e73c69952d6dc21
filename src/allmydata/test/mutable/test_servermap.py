"""ServerMap and ServermapUpdater against real servers."""

import pytest_twisted

from allmydata.mutable.common import (
    MDMF_VERSION,
    MODE_CHECK,
    MODE_READ,
    MODE_WRITE,
    SDMF_VERSION,
)



@pytest_twisted.ensureDeferred
async def test_map_of_a_new_file(grid):
    node = await grid.create(b"mapped", version=SDMF_VERSION)
    reader = grid.node(node.get_readonly_uri())
    smap = await reader.get_servermap(MODE_CHECK)
    best = smap.best_recoverable_version()
    assert best is not None and best[0] == 1 and best[4] == 6 and (best[5], best[6]) == (3, 10)
    assert len(smap.shares_of(best)) == 10
    assert smap.recoverable_versions() == {best} and not smap.unrecoverable_versions()
    assert smap.highest_seqnum() == 1 and not smap.needs_merge()
    assert set(smap.make_sharemap()) == set(range(10))
    assert "seq1" in smap.summary()
    assert smap.privkey is None   # a read cap never fetches it


@pytest_twisted.ensureDeferred
async def test_write_mode_fetches_the_private_key(grid):
    for version in (SDMF_VERSION, MDMF_VERSION):
        node = await grid.create(b"k" * 5000, version=version)
        writer = grid.node(node.get_uri())
        assert writer.get_privkey() is None
        smap = await writer.get_servermap(MODE_WRITE)
        assert smap.privkey is not None and writer.get_privkey() is not None
        await writer.overwrite(b"new")
        assert await node.download_best_version() == b"new"


@pytest_twisted.ensureDeferred
async def test_read_mode_stops_early(grid10):
    node = await grid10.create(b"early", version=SDMF_VERSION, k=2, n=3)
    reader = grid10.node(node.get_readonly_uri(), k=2, n=3)
    grid10.clear_logs()
    smap = await reader.get_servermap(MODE_READ)
    assert smap.best_recoverable_version() is not None
    asked = sum(1 for ss in grid10.servers if ss.read_log)
    assert asked == 3       # one batch of N servers was enough
    smap = await reader.get_servermap(MODE_CHECK)
    assert len(smap.servers_answered) == 10


@pytest_twisted.ensureDeferred
async def test_no_shares(grid):
    node = await grid.create(b"gone", version=SDMF_VERSION)
    for _i, _sh, path in grid.share_files(node.get_storage_index()):
        import os
        os.unlink(path)
    smap = await grid.node(node.get_uri()).get_servermap(MODE_READ)
    assert smap.best_recoverable_version() is None
    assert "no shares" in smap.describe_failure()


@pytest_twisted.ensureDeferred
async def test_write_mode_walks_the_ring_not_the_whole_grid(grid10):
    node = await grid10.create(b"few shares", version=SDMF_VERSION, k=2, n=3)
    holders = {i for i, _sh, _p in grid10.share_files(node.get_storage_index())}
    assert len(holders) == 3
    writer = grid10.node(node.get_uri(), k=2, n=3)
    grid10.clear_logs()
    smap = await writer.get_servermap(MODE_WRITE)
    asked = {i for i, ss in enumerate(grid10.servers) if ss.read_log}
    # N + k servers in ring order: the three holders, then a run of k = 2 without shares
    assert len(asked) == 5 and holders <= asked
    assert len(smap.shares_of(smap.best_recoverable_version())) == 3
    await writer.overwrite(b"still found")
    assert await node.download_best_version() == b"still found"
    assert {i for i, _sh, _p in grid10.share_files(node.get_storage_index())} == holders


@pytest_twisted.ensureDeferred
async def test_write_mode_keeps_walking_past_servers_without_shares(grid10):
    node = await grid10.create(b"spread", version=SDMF_VERSION, k=2, n=10)
    si = node.get_storage_index()
    # leave only the shares of the last three servers in ring order
    ring = [s.get_serverid() for s in grid10.broker.get_servers_for_psi(si)]
    keep = {grid10.index_of(sid) for sid in ring[-3:]}
    import os
    for i, _sh, path in grid10.share_files(si):
        if i not in keep:
            os.unlink(path)
    writer = grid10.node(node.get_uri(), k=2, n=10)
    smap = await writer.get_servermap(MODE_WRITE)
    assert {sid for sid, _sh in smap.all_seen()} == {grid10.serverids[i] for i in keep}
    assert len(smap.servers_answered) == 10


@pytest_twisted.ensureDeferred
async def test_share_replaced_between_two_reads_is_read_again_not_called_corrupt(grid):
    # Another writer replaces the shares between the map's first read of a
    # share and its follow-up read (here: the private key, past the first
    # 4000 bytes).  The two pieces belong to different versions; judged
    # together they would look corrupt.  The map must read the share again.
    node = await grid.create(b"1" * 30000, version=SDMF_VERSION)
    si = node.get_storage_index()
    old = grid.save_shares(si)
    await node.overwrite(b"2" * 40000)
    new = grid.save_shares(si)
    grid.restore_shares(old)
    paths_of = {}
    for i, _sh, path in grid.share_files(si):
        paths_of.setdefault(i, []).append(path)

    def swap_after_first_read(i, ss):
        answer_first = ss.remote_slot_readv

        def remote_slot_readv(storage_index, shares, readv):
            answer = answer_first(storage_index, shares, readv)
            del ss.remote_slot_readv  # only once
            grid.restore_shares(new, only=paths_of.get(i, []))  # the other writer lands
            return answer
        ss.remote_slot_readv = remote_slot_readv

    for i, ss in enumerate(grid.servers):
        swap_after_first_read(i, ss)
    writer = grid.node(node.get_uri())
    smap = await writer.get_servermap(MODE_WRITE)
    assert not smap.bad_shares()
    assert not any(grid.all_advisories().values()), grid.all_advisories()
    best = smap.best_recoverable_version()
    assert best[0] == 2 and best[4] == 40000
    assert smap.privkey is not None
    assert await writer.download_best_version() == b"2" * 40000
