"""Deep traversal on an in-process grid: manifest and deep-stats over a tree
with every kind of node, a cycle and an unknown cap; each object once; the
bound on operations in flight; cancellation; a failing operation; an
unreadable directory; the JSON of the operation statuses and stream lines."""

import json
import os

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from allmydata import deep_results
from allmydata.deep_stats import COUNT_AND_SIZE_KEYS, DeepStats, size_bucket
from allmydata.deep_traversal import DEFAULT_LIMIT, ManifestWalker, deep_traverse
from allmydata.dirnode import DirectoryNode
from allmydata.monitor import OperationCancelledError
from allmydata.test.dirnode.conftest import make_client
from allmydata.test.dirnode.deeptree import (BUCKETS, FUTURE_RW, build_tree, cap_of,
                                             expected_stats, expected_walk, reference_walk,
                                             upload)
from allmydata.util import base32

def fresh(client, grid):
    """Another client on the grid: nothing parsed or cached is shared."""
    return make_client(grid)


@pytest_twisted.async_yield_fixture(scope="module")
async def tree(dir_grid):
    yield await build_tree(make_client(dir_grid))


def test_size_buckets_are_tahoes():
    for lo, hi in BUCKETS:
        assert size_bucket(lo) == (lo, hi) and size_bucket(hi) == (lo, hi)
    assert size_bucket(10001) == (10001, 31622)
    assert size_bucket(10 ** 12) == (316227766017, 1000000000000)
    with pytest.raises(ValueError):
        size_bucket(-1)


@pytest_twisted.ensureDeferred
async def test_manifest_of_every_kind_of_node(tree, dir_grid):
    root = fresh(None, dir_grid).create_node_from_uri(tree.root.get_uri())
    monitor = root.build_manifest()
    m = await monitor.when_done()
    assert monitor.is_finished()
    want = [(path, cap_of(x)) for path, x in expected_walk(tree)]
    assert m["manifest"] == want
    ref = await reference_walk(fresh(None, dir_grid).create_node_from_uri(root.get_uri()))
    assert m["manifest"] == [(path, node.get_uri()) for path, node in ref]
    objects = [x for _p, x in expected_walk(tree) if not isinstance(x, bytes)]
    assert m["verifycaps"] == {x.get_verify_cap().to_string() for x in objects
                               if x.get_verify_cap() is not None}
    assert m["storage-index"] == {base32.b2a(x.get_storage_index()).decode("ascii")
                                  for x in objects if x.get_storage_index()}
    assert len(m["verifycaps"]) == 7    # root, sub, imm, chk, chk2, sdmf, mdmf
    assert m["stats"] == await expected_stats(tree)


@pytest_twisted.ensureDeferred
async def test_deep_stats(tree, dir_grid):
    root = fresh(None, dir_grid).create_node_from_uri(tree.root.get_readonly_uri())
    stats = await root.start_deep_stats().when_done()
    assert stats == await expected_stats(tree)
    assert set(stats) == set(COUNT_AND_SIZE_KEYS) | {"api-version", "size-files-histogram"}


class CountingWalker(ManifestWalker):
    """The manifest walker, counting the calls for each object."""

    def __init__(self):
        super().__init__()
        self.calls = {}
        self.entered = []

    def add_node(self, node, path):
        v = node.get_verify_cap()
        key = v.to_string() if v is not None else (path, node.get_uri())
        self.calls[key] = self.calls.get(key, 0) + 1
        return super().add_node(node, path)

    def enter_directory(self, node, children):
        self.entered.append(node.get_verify_cap() or node.get_uri())
        return super().enter_directory(node, children)


@pytest_twisted.ensureDeferred
async def test_each_object_once_through_cycles(tree, dir_grid):
    root = fresh(None, dir_grid).create_node_from_uri(tree.root.get_uri())
    walker = CountingWalker()
    await deep_traverse(root, walker).when_done()
    assert set(walker.calls.values()) == {1}
    assert len(walker.calls) == len(expected_walk(tree))
    # every directory read once: root, sub, imm, and the LIT directory at its two paths
    assert len(walker.entered) == 5
    assert len({e for e in walker.entered if not isinstance(e, bytes)}) == 3


@pytest_twisted.ensureDeferred
async def test_walk_from_a_read_only_cap_and_a_lit_root(tree, dir_grid):
    c = fresh(None, dir_grid)
    ro = c.create_node_from_uri(tree.nodes["sub"].get_readonly_uri())
    m = await ro.build_manifest().when_done()
    paths = [p for p, _c in m["manifest"]]
    # sub's read-only self-link and the link back up to root lead to objects
    # already found (sub itself) or new (root, and all of root's tree)
    assert paths[0] == () and ("ro_sub",) not in paths and ("up",) in paths
    assert ("up", "sub") not in paths and ("up", "chk") not in paths   # chk found as "again"
    assert ("again",) in paths
    lit = c.create_node_from_uri(tree.nodes["litdir"].get_uri())
    m = await lit.build_manifest().when_done()
    assert m["manifest"] == [((), lit.get_uri())]
    assert m["verifycaps"] == set() and m["storage-index"] == set()
    assert m["stats"]["count-directories"] == 1


class Counter:
    def __init__(self):
        self.now = 0
        self.most = 0
        self.started = 0

    def start(self):
        self.now += 1
        self.started += 1
        self.most = max(self.most, self.now)

    def end(self, result):
        self.now -= 1
        return result


def count_directory_reads(monkeypatch, counter):
    real_list = DirectoryNode.list

    def counted_list(self):
        counter.start()
        return real_list(self).addBoth(counter.end)
    monkeypatch.setattr(DirectoryNode, "list", counted_list)


class ReadingWalker(ManifestWalker):
    """The manifest walker, also reading every file from the grid: a real
    operation per file, counted while it runs."""

    def __init__(self, counter):
        super().__init__()
        self.counter = counter

    def add_node(self, node, path):
        self.counter.start()
        super().add_node(node, path)
        if node.is_unknown() or isinstance(node, DirectoryNode):
            d = defer.succeed(None)
        else:
            d = node.download_to_data()
        return d.addBoth(self.counter.end)


@pytest_twisted.async_yield_fixture(scope="module")
async def wide_tree(dir_grid):
    c = make_client(dir_grid)
    root = await c.create_dirnode()
    a = await root.create_subdirectory("a")
    b = await root.create_subdirectory("b", mutable=False, initial_children={
        "f%02d" % i: await upload(c, b"immutable child %d " % i * 10) for i in range(8)})
    await root.set_nodes({"f%02d" % i: await upload(c, b"file %d " % i * 20) for i in range(24)})
    await a.set_nodes({"g%02d" % i: await upload(c, b"file in a %d " % i * 20)
                       for i in range(8)})
    await a.set_uri("loop", root.get_uri(), root.get_readonly_uri())
    assert b is not None
    yield root


@pytest.mark.parametrize("limit", [DEFAULT_LIMIT, 3])
@pytest_twisted.ensureDeferred
async def test_operations_in_flight_never_exceed_the_limit(wide_tree, dir_grid, monkeypatch,
                                                           limit):
    counter = Counter()
    root = fresh(None, dir_grid).create_node_from_uri(wide_tree.get_uri())
    count_directory_reads(monkeypatch, counter)
    walker = ReadingWalker(counter)
    m = await deep_traverse(root, walker, limit=limit).when_done()
    assert len(m["manifest"]) == 1 + 24 + 2 + 8 + 8
    assert counter.most == limit          # parallel, up to the limit and no further
    assert counter.now == 0
    assert counter.started == len(m["manifest"]) + 3     # and three directory reads


class HoldingWalker(ManifestWalker):
    """Every add_node answers a Deferred that the walker fires itself: the
    oldest one, a turn after ``limit`` of them are waiting; all of them once
    ``total`` objects have been reported."""

    def __init__(self, limit, total):
        super().__init__()
        self.limit = limit
        self.total = total
        self.waiting = []
        self.most = 0

    def add_node(self, node, path):
        super().add_node(node, path)
        d = defer.Deferred()
        self.waiting.append(d)
        self.most = max(self.most, len(self.waiting))
        if len(self.manifest) == self.total:
            reactor.callLater(0, self._release, len(self.waiting))
        elif len(self.waiting) >= self.limit:
            reactor.callLater(0, self._release, 1)
        return d

    def _release(self, count):
        for _ in range(count):
            self.waiting.pop(0).callback(None)


@pytest_twisted.ensureDeferred
async def test_a_big_directory_is_walked_within_the_bound(dir_grid):
    c = make_client(dir_grid)
    many = 3000
    root = await c.create_dirnode()
    litcaps = {"n%05d" % i: (None, b"URI:LIT:" + base32.b2a(b"%d" % i)) for i in range(many)}
    await root.set_children(litcaps)
    walker = HoldingWalker(DEFAULT_LIMIT, many + 1)
    monitor = deep_traverse(fresh(None, dir_grid).create_node_from_uri(root.get_uri()), walker)
    m = await monitor.when_done()
    assert len(m["manifest"]) == many + 1
    assert walker.most == DEFAULT_LIMIT and not walker.waiting
    assert m["stats"]["count-literal-files"] == many


@pytest_twisted.ensureDeferred
async def test_cancel_stops_the_walk(tree, dir_grid):
    root = fresh(None, dir_grid).create_node_from_uri(tree.root.get_uri())

    class Cancelling(CountingWalker):
        def add_node(self, node, path):
            out = super().add_node(node, path)
            if len(self.manifest) == 3:
                self.monitor.cancel()
            return out
    walker = Cancelling()
    monitor = deep_traverse(root, walker)
    with pytest.raises(OperationCancelledError):
        await monitor.when_done()
    assert monitor.is_finished() and monitor.is_cancelled()
    assert len(walker.manifest) == 3      # nothing was started after the cancel
    assert monitor.get_failure().check(OperationCancelledError)


@pytest_twisted.ensureDeferred
async def test_a_failing_operation_ends_the_walk(tree, dir_grid):
    root = fresh(None, dir_grid).create_node_from_uri(tree.root.get_uri())

    class Failing(CountingWalker):
        finished = False

        def add_node(self, node, path):
            super().add_node(node, path)
            if path == ("lit",):
                raise ValueError("this walker cannot take a LIT file")

        def finish(self):
            self.finished = True
            return super().finish()
    walker = Failing()
    monitor = deep_traverse(root, walker)
    with pytest.raises(ValueError, match="cannot take a LIT file"):
        await monitor.when_done()
    assert [p for p, _c in walker.manifest][-1] == ("lit",)
    assert not walker.finished


def test_the_limit_must_allow_one_operation(tree):
    with pytest.raises(ValueError):
        deep_traverse(tree.root, DeepStats(), limit=0)


async def make_unrecoverable(grid, node):
    """Delete all but two shares (k=3) of ``node``'s file."""
    files = grid.share_files(node.get_storage_index())
    for _i, _shnum, path in files[2:]:
        os.remove(path)


@pytest_twisted.ensureDeferred
async def test_an_unreadable_directory_ends_a_manifest(dir_grid):
    c = make_client(dir_grid)
    root = await c.create_dirnode()
    doomed = await root.create_subdirectory("doomed")
    await doomed.set_uri("x", None, b"URI:LIT:mfrgg")
    await root.create_subdirectory("zzz")
    await make_unrecoverable(dir_grid, doomed)
    walker = CountingWalker()
    monitor = deep_traverse(fresh(None, dir_grid).create_node_from_uri(root.get_uri()), walker)
    with pytest.raises(Exception) as info:
        await monitor.when_done()
    assert "recoverable" in str(info.value)
    # the directory itself was reported; nothing below it, nor after it
    assert [p for p, _c in walker.manifest] == [(), ("doomed",)]
    with pytest.raises(Exception):
        await fresh(None, dir_grid).create_node_from_uri(root.get_uri()) \
            .start_deep_stats().when_done()


# ---- JSON of the operation statuses and stream lines -----------------------------------------
@pytest_twisted.ensureDeferred
async def test_manifest_json(tree, dir_grid):
    root = fresh(None, dir_grid).create_node_from_uri(tree.root.get_uri())
    monitor = root.build_manifest()
    running = deep_results.manifest_json(monitor, root.get_storage_index())
    assert running["finished"] is False and "manifest" not in running
    assert running["origin"] == base32.b2a(root.get_storage_index()).decode("ascii")
    m = await monitor.when_done()
    out = json.loads(json.dumps(deep_results.manifest_json(monitor, root.get_storage_index())))
    assert set(out) == {"stats", "finished", "origin", "manifest", "verifycaps",
                        "storage-index"}
    assert out["finished"] is True
    assert out["manifest"] == [[list(p), c.decode("ascii")] for p, c in m["manifest"]]
    assert sorted(out["verifycaps"]) == sorted(v.decode("ascii") for v in m["verifycaps"])
    assert sorted(out["storage-index"]) == sorted(m["storage-index"])
    assert out["stats"]["size-files-histogram"] == [list(t) for t in
                                                    m["stats"]["size-files-histogram"]]
    lit = tree.nodes["litdir"]
    assert deep_results.manifest_json(lit.build_manifest(), lit.get_storage_index())["origin"] \
        == ""
    text = deep_results.manifest_text(monitor).splitlines()
    assert text[0] == "finished: yes"
    assert text[1] == " " + root.get_uri().decode("ascii")
    assert text[2] == "future " + FUTURE_RW.decode("ascii")
    assert ("sub/imm/chk2 " + tree.nodes["chk2"].get_uri().decode("ascii")) in text


@pytest_twisted.ensureDeferred
async def test_deep_size_and_stats_json(tree, dir_grid):
    root = fresh(None, dir_grid).create_node_from_uri(tree.root.get_uri())
    monitor = root.start_deep_stats()
    assert deep_results.deep_size_text(monitor) == "finished: no\n"
    stats = await monitor.when_done()
    size = deep_results.deep_size_json(monitor)
    assert size == {"finished": True, "size": stats}
    total = stats["size-immutable-files"] + stats["size-directories"]
    assert deep_results.deep_size_text(monitor) == "finished: yes\nsize: %d\n" % total
    out = deep_results.deep_stats_json(monitor)
    assert out["finished"] is True and out["count-files"] == 6
    assert set(out) == set(stats) | {"finished"}
    json.dumps(out)


@pytest_twisted.ensureDeferred
async def test_stream_units(tree):
    n = tree.nodes
    unit = deep_results.manifest_unit(("sub", "imm", "chk2"), n["chk2"])
    assert unit == {"path": ["sub", "imm", "chk2"], "cap": n["chk2"].get_uri().decode(),
                    "type": "file",
                    "verifycap": n["chk2"].get_verify_cap().to_string().decode(),
                    "repaircap": n["chk2"].get_repair_cap().to_string().decode(),
                    "storage-index": base32.b2a(n["chk2"].get_storage_index()).decode()}
    unit = deep_results.manifest_unit((), n["root"])
    assert unit["type"] == "directory" and unit["path"] == []
    assert unit["repaircap"] == n["root"].get_uri().decode()
    unit = deep_results.manifest_unit(("lit",), n["lit"])
    assert (unit["verifycap"], unit["repaircap"], unit["storage-index"]) == ("", "", "")
    future = (await n["root"].list())["future"][0]
    unit = deep_results.manifest_unit(("future",), future)
    assert unit["type"] == "unknown" and unit["cap"] == FUTURE_RW.decode()
    assert deep_results.deep_check_unit(("lit",), n["lit"], None)["check-results"] == \
        {"storage-index": "", "results": {"healthy": True}}
    assert deep_results.deep_check_and_repair_unit(("lit",), n["lit"], None)[
        "check-and-repair-results"] == {"storage-index": "", "repair-attempted": False}
    assert deep_results.stats_unit({"count-files": 1}) == {"type": "stats",
                                                           "stats": {"count-files": 1}}
    for u in (unit,):
        assert "\n" not in json.dumps(u)
