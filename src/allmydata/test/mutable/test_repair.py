"""Repair of mutable files (SDMF and MDMF) on real storage servers: corrupt
shares replaced, lost shares placed again, old versions brought up to date;
unrecoverable files and read-only nodes left alone, other writers not
clobbered."""

import pytest
import pytest_twisted

from allmydata.mutable import layout
from allmydata.mutable.common import MDMF_VERSION, SDMF_VERSION

from .test_check import REGIONS, VERSIONS, LyingGrid, contents_for, corrupt
from .test_publish import verify_on_disk


def seqnums_on_disk(grid, si) -> dict:
    return {(i, sh): layout.unpack_prefix(grid.read_share(p)).seqnum
            for i, sh, p in grid.share_files(si)}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("region", sorted(REGIONS))
@pytest_twisted.ensureDeferred
async def test_repair_replaces_a_corrupt_share(grid, version, region):
    data = contents_for(version)
    node = await grid.create(data, version=version)
    si = node.get_storage_index()
    i, path = corrupt(grid, si, 4, region)
    before = grid.save_shares(si)

    plain = await node.check_and_repair()
    if REGIONS[region]:
        assert plain.repair_attempted and plain.repair_successful
        assert not plain.pre_repair_results.healthy
    else:
        # a plain check sees nothing wrong: no repair, nothing written
        assert not plain.repair_attempted and plain.post_repair_results is \
            plain.pre_repair_results and plain.pre_repair_results.healthy
        assert grid.save_shares(si) == before
        r = await node.check_and_repair(verify=True)
        assert r.repair_attempted and r.repair_successful and r.repair_error is None
        pre = r.pre_repair_results
        assert not pre.healthy
        assert [(s.get_serverid(), sh) for s, _si, sh in pre.corrupt_shares] == \
            [(grid.serverids[i], 4)]
    with open(path, "rb") as f:
        assert f.read() != before[path], "the corrupt share was rewritten"
    # every share is the next version, on the same servers, and good
    assert set(seqnums_on_disk(grid, si).values()) == {2}, "the next seqnum, whatever the " \
        "corrupt header claimed"
    verify_on_disk(grid, node, data)
    after = await node.check(verify=True)
    assert after.healthy and after.corrupt_shares == [] and after.count_shares_good == 10
    assert await grid.node(node.get_readonly_uri()).download_best_version() == data


@pytest.mark.parametrize("version", VERSIONS)
@pytest_twisted.ensureDeferred
async def test_repair_after_losing_servers(grid, version):
    data = contents_for(version)
    node = await grid.create(data, version=version)
    si = node.get_storage_index()
    await grid.stop_server(0)
    await grid.stop_server(1)
    r = await node.check_and_repair()
    pre, post = r.pre_repair_results, r.post_repair_results
    assert pre.recoverable and not pre.healthy and pre.count_shares_good == 6
    assert r.repair_attempted and r.repair_successful
    assert post.healthy and post.count_shares_good == 10
    assert post.count_good_share_hosts == 3 and post.count_happiness == 3
    live = {grid.serverids[k] for k in (2, 3, 4)}
    assert {s.get_serverid() for servers in post.sharemap.values() for s in servers} == live
    assert sorted(sh for k, sh, _p in grid.share_files(si) if k >= 2) == list(range(10))
    assert await grid.node(node.get_readonly_uri()).download_best_version() == data
    # healthy now: nothing more to do
    again = await node.check_and_repair()
    assert again.pre_repair_results.healthy and not again.repair_attempted


@pytest.mark.parametrize("version", VERSIONS)
@pytest_twisted.ensureDeferred
async def test_repair_brings_old_shares_up_to_date(grid, version):
    node = await grid.create(b"first version", version=version)
    si = node.get_storage_index()
    saved = grid.save_shares(si)
    on_server0 = [p for k, _sh, p in grid.share_files(si) if k == 0]
    await node.overwrite(b"second version")
    grid.restore_shares(saved, only=on_server0)     # server 0 missed the second publish
    checker = grid.node(node.get_uri())             # a fresh node with the write cap
    r = await checker.check_and_repair()
    assert r.pre_repair_results.count_wrong_shares == 2
    assert r.repair_attempted and r.repair_successful
    post = r.post_repair_results
    assert post.healthy and post.count_wrong_shares == 0
    assert (post.count_recoverable_versions, post.count_unrecoverable_versions) == (1, 0)
    assert set(seqnums_on_disk(grid, si).values()) == {3}
    assert await grid.node(node.get_readonly_uri()).download_best_version() == b"second version"


@pytest.mark.parametrize("version", VERSIONS)
@pytest_twisted.ensureDeferred
async def test_unrecoverable_file_is_reported_and_left_alone(grid, version):
    node = await grid.create(contents_for(version), version=version)
    si = node.get_storage_index()
    for k in range(4):
        await grid.stop_server(k)                   # two shares left, three needed
    before = grid.save_shares(si)
    grid.clear_logs()
    r = await node.check_and_repair(verify=True)
    assert not r.pre_repair_results.recoverable
    assert r.repair_attempted and not r.repair_successful
    assert "no version of the file is recoverable" in r.repair_error
    assert "nothing was written" in r.repair_error
    assert not r.post_repair_results.recoverable
    assert grid.written() == [] and grid.save_shares(si) == before


@pytest.mark.parametrize("version", VERSIONS)
@pytest_twisted.ensureDeferred
async def test_newer_unrecoverable_version_is_not_discarded(grid, version):
    """Only two shares of the newest version survive: republishing the older,
    recoverable version would throw the newer one away, so the repair
    refuses (as Tahoe-LAFS does without force)."""
    node = await grid.create(b"old", version=version)
    si = node.get_storage_index()
    saved = grid.save_shares(si)
    await node.overwrite(b"new")
    keep_new = [p for k, _sh, p in grid.share_files(si) if k == 0]
    grid.restore_shares(saved, only=[p for p in saved if p not in keep_new])
    before = grid.save_shares(si)
    grid.clear_logs()
    r = await node.check_and_repair()
    pre = r.pre_repair_results
    assert pre.recoverable and (pre.count_recoverable_versions,
                                pre.count_unrecoverable_versions) == (1, 1)
    assert r.repair_attempted and not r.repair_successful
    assert "seq2" in r.repair_error and "nothing was written" in r.repair_error
    assert grid.written() == [] and grid.save_shares(si) == before
    # forced, the recoverable version wins
    rr = await node.repair(pre, force=True)
    assert rr.successful and rr.seqnum == 3
    assert await grid.node(node.get_readonly_uri()).download_best_version() == b"old"


@pytest.mark.parametrize("version", VERSIONS)
@pytest_twisted.ensureDeferred
async def test_read_only_node_does_not_repair(grid, version):
    node = await grid.create(contents_for(version), version=version)
    si = node.get_storage_index()
    await grid.stop_server(0)
    before = grid.save_shares(si)
    for cap in (node.get_readonly_uri(), node.get_verify_cap().to_string()):
        grid.clear_logs()
        r = await grid.node(cap).check_and_repair()
        assert not r.pre_repair_results.healthy
        assert not r.repair_attempted and not r.repair_successful
        assert r.post_repair_results is r.pre_repair_results
        assert "write cap" in r.repair_error
        assert grid.written() == [] and grid.save_shares(si) == before


@pytest.mark.parametrize("version", VERSIONS)
@pytest_twisted.ensureDeferred
async def test_repair_does_not_clobber_another_writer(grid, version):
    """Another writer publishes between the repair's map update and its
    writes: every test-and-set of the repair fails, the other writer's
    version stays, and the repair says so."""
    node = await grid.create(b"v1", version=version)
    await grid.stop_server(0)
    repairer = grid.node(node.get_uri())
    other = grid.node(node.get_uri())
    real_read = repairer.read_for_repair

    async def read_then_someone_writes(consumer, smap):
        await real_read(consumer, smap)
        await other.overwrite(b"the other writer's version")
    repairer.read_for_repair = read_then_someone_writes
    r = await repairer.check_and_repair()
    assert r.repair_attempted and not r.repair_successful
    assert "another writer" in r.repair_error
    assert await grid.node(node.get_readonly_uri()).download_best_version() == \
        b"the other writer's version"


@pytest_twisted.async_yield_fixture
async def lying_grid(tmp_path, grid_certs):
    g = LyingGrid(tmp_path, grid_certs)
    try:
        await g.start(5)
        yield g
    finally:
        await g.close()


@pytest.mark.parametrize("version", [SDMF_VERSION, MDMF_VERSION])
@pytest_twisted.ensureDeferred
async def test_repair_with_a_lying_server(lying_grid, version):
    """A server claims shares it does not hold and hides the ones it holds:
    the repair ends with a clear answer, the other servers hold the file
    again, and it stays readable."""
    grid = lying_grid
    data = contents_for(version)
    node = await grid.create(data, version=version)
    si = node.get_storage_index()
    # the liar holds share 0 (which it hides behind garbage) and another one
    liar = [k for k, sh, _p in grid.share_files(si) if sh == 0][0]
    grid.servers[liar].lie = "claims"
    r = await node.check_and_repair()
    assert not r.pre_repair_results.healthy and r.repair_attempted
    if not r.repair_successful:
        assert r.repair_error
    assert await grid.node(node.get_readonly_uri()).download_best_version() == data
    honest = {sh for k, sh, _p in grid.share_files(si) if k != liar and
              layout.unpack_prefix(grid.read_share(_p)).seqnum == 2}
    assert honest == set(range(10)), "every share number is on an honest server, renewed"
