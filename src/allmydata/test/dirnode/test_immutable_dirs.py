"""Immutable directories (DIR2-CHK, DIR2-LIT) on an in-process grid: made by
the client, read back through a fresh client, refusing every change."""

import pytest
import pytest_twisted

from allmydata import uri
from allmydata.dirnode import (CapConstraintError, DirectoryNode, ExistingChildError, MustBeDeepImmutableError,
                               MustNotBeUnknownRWError, NoSuchChildError, NotMutableError)
from allmydata.dirnode_format import unpack_contents
from allmydata.immutable.filenode import ImmutableFileNode
from allmydata.immutable.literal import LiteralFileNode
from allmydata.immutable.upload import Data
from allmydata.unknown import UnknownChildNode
from allmydata.test.dirnode.conftest import make_client
from allmydata.util.netstring import netstring

SSK = b"URI:SSK:fs6ul2fju2fvb2cfx7gt6ngycm:hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq"
SSK_RO = b"URI:SSK-RO:65ruo2zytr3uxnaxkptdoqkth4:hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq"
BIG = b"the contents of a CHK file, long enough not to be a LIT file. " * 40


async def _upload(client, data):
    results = await client.upload(Data(data, client.get_convergence_secret()))
    return client.create_node_from_uri(results.get_uri())


async def _tree(client):
    """An immutable tree three levels deep: top/{big, small, future, mid/{deep/{leaf}}}."""
    big = await _upload(client, BIG)
    small = await _upload(client, b"small")
    leaf = await _upload(client, b"leaf " * 30)
    deep = await client.create_immutable_dirnode({"leaf": (leaf, {"k": "v"})})
    mid = await client.create_immutable_dirnode({"deep": deep})
    future = client.create_node_from_uri(None, b"imm.x-future-cap:1", deep_immutable=True)
    top = await client.create_immutable_dirnode({
        "big": (big, {"color": "blue"}), "small": small, "future": future, "mid": mid})
    return top, big, small, leaf, deep, mid


@pytest_twisted.ensureDeferred
async def test_immutable_tree_lists_and_reads(client):
    top, big, small, leaf, deep, mid = await _tree(client)
    assert top.get_uri().startswith(b"URI:DIR2-CHK:")
    assert top.get_readonly_uri() == top.get_uri()
    assert top.is_readonly() and not top.is_mutable() and not top.is_unknown()
    assert top.is_allowed_in_immutable_directory()
    assert top.get_write_uri() is None
    assert top.get_verify_cap().to_string().startswith(b"URI:DIR2-CHK-Verifier:")
    assert top.get_storage_index() == top.get_filenode().get_storage_index()
    assert top.get_size() > 0

    # read it back through another client (no caches shared)
    other = make_client_for(client)
    top2 = other.create_node_from_uri(top.get_uri())
    assert isinstance(top2, DirectoryNode)
    children = await top2.list()
    assert set(children) == {"big", "small", "future", "mid"}
    bignode, bigmd = children["big"]
    assert isinstance(bignode, ImmutableFileNode) and bignode.get_uri() == big.get_uri()
    assert bigmd["color"] == "blue"
    assert set(bigmd["tahoe"]) == {"linkcrtime", "linkmotime"}
    assert isinstance(children["small"][0], LiteralFileNode)
    fut = children["future"][0]
    assert isinstance(fut, UnknownChildNode) and fut.get_uri() == b"imm.x-future-cap:1"
    assert isinstance(children["mid"][0], DirectoryNode)
    assert await bignode.download_to_data() == BIG

    assert await top2.has_child("big") and not await top2.has_child("nope")
    assert (await top2.get("small")).get_uri() == small.get_uri()
    assert (await top2.get_metadata_for("big"))["color"] == "blue"
    node = await top2.get_child_at_path("mid/deep/leaf")
    assert node.get_uri() == leaf.get_uri()
    node, md = await top2.get_child_and_metadata_at_path(["mid", "deep", "leaf"])
    assert md["k"] == "v" and await node.download_to_data() == b"leaf " * 30
    assert (await top2.get_child_at_path("")) is top2
    with pytest.raises(NoSuchChildError):
        await top2.get("nope")
    with pytest.raises(NoSuchChildError):
        await top2.get_child_at_path("mid/nope/leaf")
    with pytest.raises(NoSuchChildError):
        await top2.get_metadata_for("nope")


def make_client_for(client):
    return make_client(_GridOf(client), convergence=client.get_convergence_secret())


class _GridOf:
    def __init__(self, client):
        self.broker = client.storage_broker


@pytest_twisted.ensureDeferred
async def test_immutable_contents_on_the_grid(client):
    top, *_ = await _tree(client)
    data = await top.get_filenode().download_to_data()
    entries = unpack_contents(data, mutable=False)
    assert list(entries) == sorted(entries)
    assert all(e.rwcapdata == b"" for e in entries.values())
    # the imm. prefix is implied in an immutable directory, so not stored
    assert entries["future"].ro_uri == b"x-future-cap:1"


@pytest_twisted.ensureDeferred
async def test_small_immutable_directory_is_literal(client):
    small = client.create_node_from_uri(b"URI:LIT:mfrgg")
    d = await client.create_immutable_dirnode({"a": small})
    # with its tahoe link times the one entry is over 55 bytes: a CHK file
    assert d.get_uri().startswith(b"URI:DIR2-CHK:")
    assert d.get_filenode().get_size() > 55
    empty = await client.create_immutable_dirnode({})
    assert empty.get_uri() == b"URI:DIR2-LIT:"
    assert await empty.list() == {}
    assert empty.get_verify_cap() is None and empty.get_storage_index() is None
    # an immutable directory written elsewhere with no metadata fits in a DIR2-LIT cap
    lit_dir = client.create_node_from_uri(
        b"URI:DIR2-LIT:" + uri.LiteralFileURI(netstring(
            netstring(b"a") + netstring(b"URI:LIT:mfrgg") + netstring(b"") + netstring(b"{}"))
        ).to_string()[len(b"URI:LIT:"):])
    children = await lit_dir.list()
    assert children["a"][0].get_uri() == b"URI:LIT:mfrgg" and children["a"][1] == {}


@pytest_twisted.ensureDeferred
async def test_immutable_directory_refuses_changes(client):
    top, big, small, *_ = await _tree(client)
    for call in (lambda: top.set_uri("x", None, b"URI:LIT:mfrgg"),
                 lambda: top.set_node("x", small),
                 lambda: top.set_nodes({"x": small}),
                 lambda: top.set_children({"x": (None, b"URI:LIT:mfrgg")}),
                 lambda: top.set_metadata_for("big", {}),
                 lambda: top.delete("big"),
                 lambda: top.add_file("x", Data(b"abc", None)),
                 lambda: top.create_subdirectory("x"),
                 lambda: top.create_empty_directory("x"),
                 lambda: top.move_child_to("big", top, "x")):
        with pytest.raises(NotMutableError):
            await call()
    assert set(await top.list()) == {"big", "small", "future", "mid"}


@pytest_twisted.ensureDeferred
async def test_immutable_directory_accepts_only_immutable_children(client):
    unknown_rw = client.create_node_from_uri(b"x-future-rw-cap", None)
    with pytest.raises(MustNotBeUnknownRWError):
        await client.create_immutable_dirnode({"u": unknown_rw})
    # a lone read cap of an unknown kind may be immutable: it is allowed, as imm.
    unknown_ro = client.create_node_from_uri(None, b"ro.x-future-ro-cap")
    d = await client.create_immutable_dirnode({"u": unknown_ro})
    (node, _md), = (await client.create_node_from_uri(d.get_uri()).list()).values()
    assert node.get_uri() == b"imm.x-future-ro-cap" and node.is_unknown()
    # known mutable caps are refused, whichever slot they come in
    with pytest.raises(MustBeDeepImmutableError):
        await client.create_immutable_dirnode(
            {"m": client.create_node_from_uri(None, SSK_RO, deep_immutable=True)})
    with pytest.raises(CapConstraintError):
        await client.create_immutable_dirnode(
            {"m": client.create_node_from_uri(SSK, None, deep_immutable=True)})
    # a write cap and an imm. read cap together make no sense
    both = client.create_node_from_uri(b"x-future-rw", b"imm.x-future-ro")
    with pytest.raises(MustBeDeepImmutableError):
        await client.create_immutable_dirnode({"b": both})


@pytest_twisted.ensureDeferred
async def test_mutable_caps_inside_an_immutable_directory_are_left_out(client):
    """Another writer's DIR2-CHK with a mutable child: readers skip it."""
    entries = (netstring(netstring(b"mut") + netstring(SSK) + netstring(b"") + netstring(b"{}"))
               + netstring(netstring(b"ok") + netstring(b"URI:LIT:mfrgg") + netstring(b"")
                           + netstring(b"{}")))
    results = await client.upload(Data(entries * 1, client.get_convergence_secret()))
    dircap = b"URI:DIR2-CHK:" + results.get_uri()[len(b"URI:CHK:"):]
    d = client.create_node_from_uri(dircap)
    assert set(await d.list()) == {"ok"}


@pytest_twisted.ensureDeferred
async def test_immutable_manifest(client):
    top, big, small, leaf, deep, mid = await _tree(client)
    m = await top.build_manifest().when_done()
    paths = {p: cap for p, cap in m["manifest"]}
    assert paths[()] == top.get_uri()
    assert paths[("mid", "deep", "leaf")] == leaf.get_uri()
    assert set(paths) == {(), ("big",), ("small",), ("future",), ("mid",), ("mid", "deep"),
                          ("mid", "deep", "leaf")}
    assert big.get_verify_cap().to_string() in m["verifycaps"]
    assert top.get_verify_cap().to_string() in m["verifycaps"]
    assert isinstance(m["verifycaps"], set)
    # LIT files and LIT directories have no verify cap and no storage index
    assert len(m["storage-index"]) == len(m["verifycaps"])


def test_errors_are_distinct():
    assert not issubclass(ExistingChildError, NotMutableError)
    assert issubclass(NoSuchChildError, KeyError)
