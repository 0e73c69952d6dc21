"""Deep-check and deep-check-and-repair on an in-process grid: a healthy tree
of every kind of node; unhealthy, unrecoverable and unreadable objects in the
results with their paths while the walk goes on; corrupt shares found by
verify; damaged files repaired; leases added; cancel; the JSON of the
operation statuses."""

import json
import os

import pytest
import pytest_twisted

from allmydata import deep_results
from allmydata.client import Client, SecretHolder
from allmydata.check_results import check_results_json
from allmydata.deep_results import DeepCheckAndRepairResults, DeepCheckResults
from allmydata.deep_traversal import DeepCheckWalker, deep_traverse
from allmydata.monitor import OperationCancelledError
from allmydata.storage.shares import open_share_file
from allmydata.test.dirnode.conftest import make_client
from allmydata.test.dirnode.deeptree import (build_tree, expected_stats, expected_walk,
                                             upload)
from allmydata.testing.storagegrid import flip_byte, share_layout
from allmydata.util import base32

DEEP_CHECK_KEYS = {
    "finished", "root-storage-index", "count-objects-checked", "count-objects-healthy",
    "count-objects-unhealthy", "count-corrupt-shares", "list-corrupt-shares",
    "list-unhealthy-files", "stats"}
DEEP_REPAIR_KEYS = {
    "finished", "root-storage-index", "count-objects-checked",
    "count-objects-healthy-pre-repair", "count-objects-unhealthy-pre-repair",
    "count-objects-healthy-post-repair", "count-objects-unhealthy-post-repair",
    "count-repairs-attempted", "count-repairs-successful", "count-repairs-unsuccessful",
    "count-corrupt-shares-pre-repair", "count-corrupt-shares-post-repair",
    "list-corrupt-shares", "list-remaining-corrupt-shares", "list-unhealthy-files", "stats"}


@pytest_twisted.async_yield_fixture(scope="module")
async def tree(dir_grid):
    yield await build_tree(make_client(dir_grid))


def fresh_root(grid, node):
    return make_client(grid).create_node_from_uri(node.get_uri())


def b32(si):
    return base32.b2a(si).decode("ascii")


def checked_objects(tree):
    """{path: node} of the objects with shares on servers (not LIT, not unknown)."""
    return {path: x for path, x in expected_walk(tree)
            if not isinstance(x, bytes) and x.get_storage_index()}


@pytest.mark.parametrize("verify", [False, True])
@pytest_twisted.ensureDeferred
async def test_deep_check_of_a_healthy_tree(tree, dir_grid, verify):
    root = fresh_root(dir_grid, tree.root)
    monitor = root.start_deep_check(verify=verify)
    assert isinstance(monitor.get_status(), DeepCheckResults)     # from the start
    res = await monitor.when_done()
    want = checked_objects(tree)
    assert len(want) == 7
    assert res.get_counters() == {"count-objects-checked": 7, "count-objects-healthy": 7,
                                  "count-objects-unhealthy": 0,
                                  "count-objects-unrecoverable": 0, "count-corrupt-shares": 0}
    assert set(res.get_all_results()) == set(want)
    for path, node in want.items():
        r = res.get_results_for_storage_index(node.get_storage_index())
        assert r is res.get_all_results()[path] and r.is_healthy()
    assert res.get_stats() == await expected_stats(tree)
    assert res.get_root_storage_index_string() == b32(root.get_storage_index())
    out = json.loads(json.dumps(deep_results.deep_check_json(monitor)))
    assert set(out) == DEEP_CHECK_KEYS
    assert out["finished"] is True and out["count-objects-checked"] == 7
    assert out["list-unhealthy-files"] == [] and out["list-corrupt-shares"] == []
    assert out["root-storage-index"] == b32(root.get_storage_index())
    assert out["stats"]["count-directories"] == 5


@pytest_twisted.ensureDeferred
async def test_deep_check_of_a_lit_directory(dir_grid):
    c = make_client(dir_grid)
    lit = await c.create_immutable_dirnode({})
    monitor = lit.start_deep_check()
    res = await monitor.when_done()
    assert res.get_counters()["count-objects-checked"] == 0
    assert deep_results.deep_check_json(monitor)["root-storage-index"] == "<none>"
    assert res.get_stats()["count-directories"] == 1


def lose_shares(grid, node, count):
    for _i, _shnum, path in grid.share_files(node.get_storage_index())[:count]:
        os.remove(path)


async def damaged_tree(c, grid):
    """root/{a_sick, b_dead, c_deaddir/{inside}, d_after, e_sickdir/{child}}: a file
    that lost shares, an unrecoverable file, an unrecoverable directory, a
    healthy file walked after it, a directory that lost shares."""
    sick = await upload(c, b"sick file " * 30)
    dead = await upload(c, b"dead file " * 30)
    after = await upload(c, b"healthy file after the dead directory " * 5)
    inside = await upload(c, b"unreachable: its directory is gone " * 5)
    child = await upload(c, b"child of a sick directory " * 9)
    deaddir = await c.create_dirnode({"inside": inside})
    sickdir = await c.create_dirnode({"child": child})
    root = await c.create_dirnode({"a_sick": sick, "b_dead": dead, "c_deaddir": deaddir,
                                   "d_after": after, "e_sickdir": sickdir})
    lose_shares(grid, sick, 2)
    lose_shares(grid, dead, 8)
    lose_shares(grid, deaddir, 8)
    lose_shares(grid, sickdir, 1)
    return root, dict(sick=sick, dead=dead, after=after, inside=inside, child=child,
                      deaddir=deaddir, sickdir=sickdir)


@pytest_twisted.ensureDeferred
async def test_unhealthy_and_unrecoverable_objects_are_reported_and_the_walk_goes_on(dir_grid):
    root, n = await damaged_tree(make_client(dir_grid), dir_grid)
    monitor = fresh_root(dir_grid, root).start_deep_check()
    res = await monitor.when_done()
    assert res.get_counters() == {"count-objects-checked": 7, "count-objects-healthy": 3,
                                  "count-objects-unhealthy": 4,
                                  "count-objects-unrecoverable": 2, "count-corrupt-shares": 0}
    assert set(res.get_all_results()) == {(), ("a_sick",), ("b_dead",), ("c_deaddir",),
                                           ("d_after",), ("e_sickdir",),
                                           ("e_sickdir", "child")}
    assert [p for p, _f in res.get_unlisted_directories()] == [("c_deaddir",)]
    out = json.loads(json.dumps(deep_results.deep_check_json(monitor)))
    unhealthy = {tuple(path): r for path, r in out["list-unhealthy-files"]}
    assert set(unhealthy) == {("a_sick",), ("b_dead",), ("c_deaddir",), ("e_sickdir",)}
    assert unhealthy[("b_dead",)]["results"]["recoverable"] is False
    assert unhealthy[("c_deaddir",)]["results"]["count-recoverable-versions"] == 0
    assert unhealthy[("a_sick",)]["results"]["count-shares-good"] == 8
    assert unhealthy[("a_sick",)] == json.loads(json.dumps(check_results_json(
        res.get_all_results()[("a_sick",)])))
    assert unhealthy[("e_sickdir",)]["results"]["recoverable"] is True
    assert out["stats"]["count-directories"] == 3 and out["stats"]["count-files"] == 4


@pytest_twisted.ensureDeferred
async def test_verify_finds_a_corrupt_share_in_the_tree(dir_grid):
    c = make_client(dir_grid)
    f = await upload(c, b"a file with a corrupt share " * 20)
    sub = await c.create_dirnode({"f": f})
    root = await c.create_dirnode({"sub": sub})
    server_index, shnum, path = dir_grid.share_files(f.get_storage_index())[0]
    flip_byte(path, share_layout(path).data)
    res = await fresh_root(dir_grid, root).start_deep_check().when_done()
    assert res.get_counters()["count-corrupt-shares"] == 0      # a check reads no share
    monitor = fresh_root(dir_grid, root).start_deep_check(verify=True)
    res = await monitor.when_done()
    assert res.get_counters()["count-corrupt-shares"] == 1
    out = deep_results.deep_check_json(monitor)
    longname = res.get_corrupt_shares()[0][0].get_longname()
    assert out["list-corrupt-shares"] == [[longname, b32(f.get_storage_index()), shnum]]
    assert [p for p, _r in out["list-unhealthy-files"]] == [["sub", "f"]]


@pytest_twisted.ensureDeferred
async def test_deep_check_and_repair_repairs_the_damaged_objects(dir_grid):
    c = make_client(dir_grid)
    root, n = await damaged_tree(c, dir_grid)
    sdmf = await c.create_mutable_file(b"a sick SDMF file " * 9, version="sdmf")
    await root.set_node("f_sdmf", sdmf)
    lose_shares(dir_grid, sdmf, 3)
    monitor = fresh_root(dir_grid, root).start_deep_check_and_repair()
    assert isinstance(monitor.get_status(), DeepCheckAndRepairResults)
    res = await monitor.when_done()
    c8s = res.get_counters()
    assert c8s["count-objects-checked"] == 8
    assert c8s["count-objects-unhealthy-pre-repair"] == 5
    repaired = {("a_sick",), ("e_sickdir",), ("f_sdmf",)}
    for path in repaired:
        crr = res.get_all_results()[path]
        assert crr.repair_attempted and crr.repair_successful, (path, crr.repair_error)
        assert crr.post_repair_results.is_healthy()
    for path in (("b_dead",), ("c_deaddir",)):
        assert not res.get_all_results()[path].post_repair_results.is_recoverable()
        assert not res.get_all_results()[path].repair_successful
    assert c8s["count-repairs-successful"] == 3
    assert c8s["count-objects-healthy-post-repair"] == 6
    assert c8s["count-objects-unhealthy-post-repair"] == 2
    out = json.loads(json.dumps(deep_results.deep_check_and_repair_json(monitor)))
    assert set(out) == DEEP_REPAIR_KEYS
    assert {tuple(p) for p, _r in out["list-unhealthy-files"]} == repaired | {
        ("b_dead",), ("c_deaddir",)}
    # a fresh deep-check finds only the unrecoverable objects unhealthy
    res = await fresh_root(dir_grid, root).start_deep_check().when_done()
    assert {p for p, _r in res.get_unhealthy()} == {("b_dead",), ("c_deaddir",)}
    assert res.get_counters()["count-objects-healthy"] == 6


@pytest_twisted.ensureDeferred
async def test_deep_check_and_repair_replaces_a_corrupt_share(dir_grid):
    c = make_client(dir_grid)
    f = await upload(c, b"corrupt, then repaired " * 20)
    root = await c.create_dirnode({"f": f})
    _i, shnum, path = dir_grid.share_files(f.get_storage_index())[0]
    flip_byte(path, share_layout(path).data)
    monitor = fresh_root(dir_grid, root).start_deep_check_and_repair(verify=True)
    res = await monitor.when_done()
    out = deep_results.deep_check_and_repair_json(monitor)
    assert out["count-corrupt-shares-pre-repair"] == 1
    assert out["count-repairs-successful"] == 1
    post = res.get_all_results()[("f",)].post_repair_results
    assert post.is_healthy() and post.count_shares_good == 10
    # the corrupt copy stays on its server (which still claims it) beside the new good one
    assert out["count-corrupt-shares-post-repair"] == len(post.get_corrupt_shares())
    assert len(out["list-remaining-corrupt-shares"]) == len(post.get_corrupt_shares())
    res = await fresh_root(dir_grid, root).start_deep_check(verify=True).when_done()
    assert res.get_counters()["count-objects-healthy"] == 2


def lease_counts(grid, node):
    return {len(open_share_file(p).get_leases())
            for _i, _s, p in grid.share_files(node.get_storage_index())}


@pytest_twisted.ensureDeferred
async def test_deep_check_adds_leases(tree, dir_grid):
    c = make_client(dir_grid)
    f = await upload(c, b"a file to lease " * 20)
    sub = await c.create_dirnode({"f": f})
    root = await c.create_dirnode({"sub": sub, "lit": c.create_node_from_uri(b"URI:LIT:mfrgg")})
    objects = (root, sub, f)
    assert [lease_counts(dir_grid, x) for x in objects] == [{1}] * 3
    other = Client(dir_grid.broker, SecretHolder(b"O" * 32, b"C" * 32),
                   {"k": 3, "happy": 5, "n": 10, "max_segment_size": 128 * 1024})
    res = await other.create_node_from_uri(root.get_uri()).start_deep_check().when_done()
    assert res.get_counters()["count-objects-healthy"] == 3
    assert [lease_counts(dir_grid, x) for x in objects] == [{1}] * 3
    res = await other.create_node_from_uri(root.get_uri()).start_deep_check(
        add_lease=True).when_done()
    assert res.get_counters()["count-objects-healthy"] == 3
    assert [lease_counts(dir_grid, x) for x in objects] == [{2}] * 3


class CancelAtTheSecond(DeepCheckWalker):
    """The deep-check walker, cancelling the walk when the second check starts."""

    started = 0

    def add_node(self, node, path):
        self.started += 1
        d = super().add_node(node, path)
        if self.started == 2:
            self.monitor.cancel()
        return d


@pytest_twisted.ensureDeferred
async def test_cancel_during_a_deep_check(tree, dir_grid):
    root = fresh_root(dir_grid, tree.root)
    walker = CancelAtTheSecond(root)
    monitor = deep_traverse(root, walker)
    with pytest.raises(OperationCancelledError):
        await monitor.when_done()
    assert walker.started == 2                     # no check started after the cancel
    assert monitor.get_status().get_counters()["count-objects-checked"] <= 2
