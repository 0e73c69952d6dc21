"""Mutable directories (SDMF and MDMF) on an in-process grid: every
IDirectoryNode method, nested trees, read-only views, unknown children,
metadata rules and racing writers."""

import pytest
import pytest_twisted
from twisted.internet import defer

from allmydata.dirnode import (ONLY_FILES, ChildOfWrongTypeError, DirectoryNode,
                               ExistingChildError, NoSuchChildError, NotMutableError)
from allmydata.dirnode_format import decrypt_rwcapdata, unpack_contents
from allmydata.immutable.filenode import ImmutableFileNode
from allmydata.immutable.literal import LiteralFileNode
from allmydata.immutable.upload import Data
from allmydata.mutable.filenode import MutableFileNode
from allmydata.unknown import UnknownChildNode
from allmydata.test.dirnode.conftest import make_client

BIG = b"a CHK file: long enough not to be a LIT file. " * 30
LIT = b"URI:LIT:mfrgg"


@pytest.fixture(params=["sdmf", "mdmf"])
def fmt(request):
    return request.param


@pytest.fixture
def mclient(dir_grid, fmt):
    return make_client(dir_grid, mutable_format=fmt)


def fresh(client):
    """Another client on the same grid: nothing cached is shared."""
    return make_client(_G(client.storage_broker), client.nodemaker.mutable_format,
                       client.get_convergence_secret())


class _G:
    def __init__(self, broker):
        self.broker = broker


def _prefix(fmt):
    return b"URI:DIR2:" if fmt == "sdmf" else b"URI:DIR2-MDMF:"


@pytest_twisted.ensureDeferred
async def test_empty_directory(mclient, fmt):
    d = await mclient.create_empty_dirnode()
    assert isinstance(d, DirectoryNode)
    assert d.get_uri().startswith(_prefix(fmt))
    assert d.get_write_uri() == d.get_uri()
    ro = d.get_readonly_uri()
    assert ro.startswith(b"URI:DIR2-RO:" if fmt == "sdmf" else b"URI:DIR2-MDMF-RO:")
    assert d.get_verify_cap().to_string().startswith(
        b"URI:DIR2-Verifier:" if fmt == "sdmf" else b"URI:DIR2-MDMF-Verifier:")
    assert d.is_mutable() and not d.is_readonly() and not d.is_unknown()
    assert not d.is_allowed_in_immutable_directory()
    assert d.get_storage_index() == d.get_filenode().get_storage_index()
    assert await d.list() == {}
    assert await fresh(mclient).create_node_from_uri(d.get_uri()).list() == {}
    # the explicit version wins over the client default
    other = await mclient.create_empty_dirnode(version="mdmf" if fmt == "sdmf" else "sdmf")
    assert not other.get_uri().startswith(_prefix(fmt))


@pytest_twisted.ensureDeferred
async def test_every_method_on_one_directory(mclient):
    c = mclient
    d = await c.create_dirnode()
    big = (await c.upload(Data(BIG, c.get_convergence_secret()))).get_uri()

    # set_uri, set_node, add_file, set_children, set_nodes
    n = await d.set_uri("lit", None, LIT, metadata={"k": 1})
    assert isinstance(n, LiteralFileNode)
    bignode = c.create_node_from_uri(big)
    assert await d.set_node("big", bignode) is bignode
    added = await d.add_file("added", Data(b"added file " * 20, None))
    assert isinstance(added, ImmutableFileNode)
    assert await d.set_children({"c1": (None, LIT), "c2": (None, LIT, {"m": 2})}) is d
    assert await d.set_nodes({"n1": bignode, "n2": (bignode, {"m": 3})}) is d

    kids = await fresh(c).create_node_from_uri(d.get_uri()).list()
    assert set(kids) == {"lit", "big", "added", "c1", "c2", "n1", "n2"}
    assert kids["lit"][1]["k"] == 1 and kids["c2"][1]["m"] == 2 and kids["n2"][1]["m"] == 3
    for name, (_node, md) in kids.items():
        assert set(md["tahoe"]) == {"linkcrtime", "linkmotime"}, name
    assert kids["big"][0].get_uri() == big
    assert await kids["added"][0].download_to_data() == b"added file " * 20

    # has_child, get, get_metadata_for, get_child_at_path
    assert await d.has_child("big") and not await d.has_child("nope")
    assert (await d.get("big")).get_uri() == big
    with pytest.raises(NoSuchChildError):
        await d.get("nope")
    md = await d.get_metadata_for("lit")
    assert md["k"] == 1

    # set_metadata_for: other keys replaced, tahoe kept (linkcrtime) and moved on
    assert await d.set_metadata_for("lit", {"new": True, "tahoe": {"linkcrtime": 0}}) is d
    md2 = await d.get_metadata_for("lit")
    assert "k" not in md2 and md2["new"] is True
    assert md2["tahoe"]["linkcrtime"] == md["tahoe"]["linkcrtime"]
    assert md2["tahoe"]["linkmotime"] >= md["tahoe"]["linkmotime"]
    with pytest.raises(NoSuchChildError):
        await d.set_metadata_for("nope", {})

    # replacing a link with metadata=None keeps its other keys and linkcrtime
    await d.set_uri("c2", None, big)
    md3 = await d.get_metadata_for("c2")
    assert md3["m"] == 2 and (await d.get("c2")).get_uri() == big

    # overwrite rules
    with pytest.raises(ExistingChildError):
        await d.set_uri("lit", None, LIT, overwrite=False)
    sub = await d.create_subdirectory("sub")
    await d.set_uri("lit", None, big, overwrite=ONLY_FILES)
    assert (await d.get("lit")).get_uri() == big
    with pytest.raises(ExistingChildError):
        await d.set_uri("sub", None, LIT, overwrite="only-files")
    with pytest.raises(ExistingChildError):
        await d.create_subdirectory("sub", overwrite=False)
    assert (await d.get("sub")).get_uri() == sub.get_uri()

    # delete
    with pytest.raises(ChildOfWrongTypeError):
        await d.delete("sub", must_be_file=True)
    with pytest.raises(ChildOfWrongTypeError):
        await d.delete("lit", must_be_directory=True)
    removed = await d.delete("lit")
    assert removed.get_uri() == big
    with pytest.raises(NoSuchChildError):
        await d.delete("lit")
    assert await d.delete("lit", must_exist=False) is None
    assert (await d.delete("sub", must_be_directory=True)).get_uri() == sub.get_uri()
    assert set(await d.list()) == {"big", "added", "c1", "c2", "n1", "n2"}


@pytest_twisted.ensureDeferred
async def test_nested_tree(mclient, fmt):
    c = mclient
    root = await c.create_empty_dirnode()
    a = await root.create_subdirectory("a")
    b = await a.create_empty_directory("b")
    cdir = await b.create_subdirectory("c", version="mdmf")
    assert cdir.get_uri().startswith(b"URI:DIR2-MDMF:")
    imm = await cdir.create_subdirectory("imm", {"x": c.create_node_from_uri(LIT)},
                                         mutable=False)
    assert imm.get_uri().startswith((b"URI:DIR2-CHK:", b"URI:DIR2-LIT:"))
    await cdir.add_file("deep.txt", Data(b"deep " * 100, c.get_convergence_secret()))

    other = fresh(c)
    root2 = other.create_node_from_uri(root.get_uri())
    node = await root2.get_child_at_path("a/b/c/deep.txt")
    assert await node.download_to_data() == b"deep " * 100
    node, md = await root2.get_child_and_metadata_at_path(["a", "b", "c", "imm", "x"])
    assert node.get_uri() == LIT and "tahoe" in md
    sub = await root2.get_child_at_path("a/b")
    assert isinstance(sub, DirectoryNode) and sub.get_uri() == b.get_uri()
    with pytest.raises(NoSuchChildError):
        await root2.get_child_at_path("a/nope/c")
    with pytest.raises(ChildOfWrongTypeError):
        await root2.get_child_at_path("a/b/c/deep.txt/further")

    m = await root2.build_manifest().when_done()
    paths = {p for p, _cap in m["manifest"]}
    assert paths == {(), ("a",), ("a", "b"), ("a", "b", "c"), ("a", "b", "c", "imm"),
                     ("a", "b", "c", "imm", "x"), ("a", "b", "c", "deep.txt")}
    assert root.get_verify_cap().to_string() in m["verifycaps"]


@pytest_twisted.ensureDeferred
async def test_read_only_view(mclient):
    c = mclient
    root = await c.create_empty_dirnode()
    sub = await root.create_subdirectory("sub")
    mfile = await c.create_mutable_file(b"mutable contents")
    await root.set_node("mfile", mfile)
    await root.set_uri("lit", None, LIT)

    ro = fresh(c).create_node_from_uri(root.get_readonly_uri())
    assert ro.is_readonly() and ro.is_mutable()
    assert ro.get_uri() == root.get_readonly_uri() and ro.get_write_uri() is None
    kids = await ro.list()
    assert set(kids) == {"sub", "mfile", "lit"}
    # transitive read-only: the children are read-only too
    assert kids["sub"][0].is_readonly() and kids["sub"][0].get_uri() == sub.get_readonly_uri()
    assert kids["mfile"][0].is_readonly()
    assert kids["mfile"][0].get_uri() == mfile.get_readonly_uri()
    assert await kids["mfile"][0].download_best_version() == b"mutable contents"
    lit = kids["lit"][0]
    for call in (lambda: ro.set_uri("x", None, LIT), lambda: ro.set_node("x", lit),
                 lambda: ro.set_nodes({"x": lit}), lambda: ro.set_children({"x": (None, LIT)}),
                 lambda: ro.set_metadata_for("lit", {}), lambda: ro.delete("lit"),
                 lambda: ro.add_file("x", Data(b"x", None)), lambda: ro.create_subdirectory("x"),
                 lambda: ro.move_child_to("lit", root), lambda: root.move_child_to("lit", ro)):
        with pytest.raises(NotMutableError):
            await call()
    with pytest.raises(NotMutableError):
        await kids["sub"][0].set_uri("x", None, LIT)
    # the read-only holder cannot decrypt the write caps, the writer can
    data = await root.get_filenode().download_best_version()
    entries = unpack_contents(data, mutable=True)
    assert entries["mfile"].rw_uri(None) is None
    assert decrypt_rwcapdata(root.get_filenode().get_writekey(),
                             entries["mfile"].rwcapdata) == mfile.get_uri()
    assert entries["lit"].rw_uri(root.get_filenode().get_writekey()) is None


@pytest_twisted.ensureDeferred
async def test_move_child_to(mclient):
    c = mclient
    a = await c.create_empty_dirnode()
    b = await c.create_empty_dirnode()
    await a.set_uri("f", None, LIT, metadata={"keep": "me"})
    await a.move_child_to("f", b, "g")
    assert set(await a.list()) == set()
    node, md = await b.get_child_and_metadata("g")
    assert node.get_uri() == LIT and md["keep"] == "me"
    # rename inside one directory
    await b.move_child_to("g", b, "h")
    assert set(await b.list()) == {"h"}
    # onto itself: nothing changes
    await b.move_child_to("h", b)
    assert set(await b.list()) == {"h"}
    # refused when the target exists and overwrite=False; nothing is lost
    await a.set_uri("h", None, LIT)
    with pytest.raises(ExistingChildError):
        await b.move_child_to("h", a, overwrite=False)
    assert set(await b.list()) == {"h"}
    with pytest.raises(NoSuchChildError):
        await b.move_child_to("nope", a)


@pytest_twisted.ensureDeferred
async def test_unknown_children_are_kept_unchanged(mclient):
    c = mclient
    d = await c.create_empty_dirnode()
    await d.set_children({
        "both": (b"x-future-rw:abc", b"ro.x-future-ro:abc", {"a": 1}),
        "ro-only": (None, b"ro.x-future-ro:def"),
        "imm": (None, b"imm.x-future-imm:ghi")})
    before = unpack_contents(await d.get_filenode().download_best_version(), mutable=True)
    kids = await fresh(c).create_node_from_uri(d.get_uri()).list()
    both = kids["both"][0]
    assert isinstance(both, UnknownChildNode) and both.is_unknown()
    assert both.get_write_uri() == b"x-future-rw:abc"
    assert both.get_readonly_uri() == b"ro.x-future-ro:abc"
    assert kids["ro-only"][0].get_uri() == b"ro.x-future-ro:def"
    assert kids["imm"][0].get_uri() == b"imm.x-future-imm:ghi"
    # another change, through a different client: the unknown entries keep their bytes
    d2 = fresh(c).create_node_from_uri(d.get_uri())
    await d2.set_uri("new", None, LIT)
    await d2.set_metadata_for("both", {"b": 2})
    after = unpack_contents(await d.get_filenode().download_best_version(), mutable=True)
    assert after["ro-only"].raw == before["ro-only"].raw
    assert after["imm"].raw == before["imm"].raw
    wk = d.get_filenode().get_writekey()
    assert after["both"].rw_uri(wk) == b"x-future-rw:abc"
    assert after["both"].ro_uri == b"x-future-ro:abc"
    # through a read-only view the unknown write cap is not visible
    ro_kids = await fresh(c).create_node_from_uri(d.get_readonly_uri()).list()
    assert ro_kids["both"][0].get_write_uri() is None
    assert ro_kids["both"][0].get_readonly_uri() == b"ro.x-future-ro:abc"


@pytest_twisted.ensureDeferred
async def test_tahoe_metadata_is_ours(mclient):
    d = await mclient.create_empty_dirnode()
    await d.set_children({"x": (None, LIT, {"tahoe": {"linkcrtime": 1, "evil": 1}, "u": 1})})
    md = await d.get_metadata_for("x")
    assert md["u"] == 1 and set(md["tahoe"]) == {"linkcrtime", "linkmotime"}
    assert md["tahoe"]["linkcrtime"] > 1e9


@pytest_twisted.ensureDeferred
async def test_no_write_link_stores_only_the_read_cap(mclient):
    c = mclient
    d = await c.create_empty_dirnode()
    sub = await c.create_empty_dirnode()
    await d.set_node("sub", sub, metadata={"no-write": True})
    kid = await fresh(c).create_node_from_uri(d.get_uri()).get("sub")
    assert kid.is_readonly() and kid.get_uri() == sub.get_readonly_uri()


@pytest_twisted.ensureDeferred
async def test_create_with_initial_children_and_mutable_file(mclient):
    c = mclient
    mfile = await c.create_mutable_file(b"version one")
    assert isinstance(mfile, MutableFileNode)
    d = await c.create_dirnode({"m": (mfile, {"x": 1}), "l": c.create_node_from_uri(LIT)})
    kids = await fresh(c).create_node_from_uri(d.get_uri()).list()
    assert set(kids) == {"m", "l"} and kids["m"][1]["x"] == 1
    assert "linkcrtime" in kids["m"][1]["tahoe"]
    m2 = kids["m"][0]
    assert isinstance(m2, MutableFileNode) and not m2.is_readonly()
    await m2.overwrite(b"version two")
    assert await mfile.download_best_version() == b"version two"


@pytest_twisted.ensureDeferred
async def test_racing_writers_both_land(mclient):
    """Two clients change one directory at once: modify() re-applies the
    change that lost the race, so both children are there."""
    c = mclient
    d = await c.create_empty_dirnode()
    d1 = fresh(c).create_node_from_uri(d.get_uri())
    d2 = fresh(c).create_node_from_uri(d.get_uri())
    await defer.gatherResults([
        defer.ensureDeferred(_add_many(d1, "one-", 3)),
        defer.ensureDeferred(_add_many(d2, "two-", 3))])
    names = set(await d.list())
    assert names == {"one-0", "one-1", "one-2", "two-0", "two-1", "two-2"}


async def _add_many(d, prefix, n):
    for i in range(n):
        await d.set_uri(prefix + str(i), None, LIT)


@pytest_twisted.ensureDeferred
async def test_same_cap_gives_the_same_node(mclient):
    d = await mclient.create_empty_dirnode()
    assert mclient.create_node_from_uri(d.get_uri()) is d
    ro = mclient.create_node_from_uri(d.get_readonly_uri())
    assert ro is not d and ro.is_readonly()


@pytest_twisted.ensureDeferred
async def test_unchanged_children_are_not_parsed_again(mclient):
    """The speed design: after a change, the unchanged children (and their
    nodes) are the ones already made, not parsed again."""
    c = mclient
    big = c.create_node_from_uri(
        (await c.upload(Data(BIG, c.get_convergence_secret()))).get_uri())
    d = await c.create_dirnode({"a": big, "b": c.create_node_from_uri(LIT)})
    d = fresh(c).create_node_from_uri(d.get_uri())
    first = await d.list()
    await d.set_uri("c", None, LIT)
    second = await d.list()
    assert set(second) == {"a", "b", "c"}
    assert second["a"][0] is first["a"][0] and second["b"][0] is first["b"][0]
    # metadata handed out are copies: changing them changes nothing stored
    second["a"][1]["tahoe"]["linkcrtime"] = 0
    assert (await d.get_metadata_for("a"))["tahoe"]["linkcrtime"] > 0
