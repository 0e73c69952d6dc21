"""Names a new link may not have (the empty name, ``.``, ``..``, names with
``/`` or NUL): every way of making a link refuses them before it changes,
uploads or creates anything, while links that already carry such a name
(written by another implementation) can still be read, renamed and
unlinked."""

import pytest
import pytest_twisted

from allmydata.dirnode import BadChildNameError
from allmydata.dirnode_format import ChildEntry, check_new_name, pack_entries, unpack_contents
from allmydata.immutable.upload import Data

LIT = b"URI:LIT:mfrgg"
BAD_NAMES = ["", ".", "..", "a/b", "/", "a/", "nul\x00inside", "\x00"]
# close to the refused names, and allowed
GOOD_NAMES = [" ", "...", ".a", "a.", "..a", "a..b", "\u2024", "\u2025", "back\\slash",
              "e\u0301", "tab\there", "\u00e9t\u00e9"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_check_new_name_refuses(name):
    with pytest.raises(BadChildNameError, match="cannot be the name of a child"):
        check_new_name(name)


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_check_new_name_allows(name):
    assert check_new_name(name) == name


async def _contents(d) -> bytes:
    return await d.get_filenode().download_best_version()


class CountingData(Data):
    """A real uploadable that counts how often the uploader asked it for its
    size or its bytes."""

    def __init__(self, data, convergence):
        Data.__init__(self, data, convergence)
        self.reads = 0

    def get_size(self):
        self.reads += 1
        return Data.get_size(self)

    def read_sync(self, length):
        self.reads += 1
        return Data.read_sync(self, length)


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("name", BAD_NAMES)
async def test_every_way_of_linking_refuses_the_name(client, name):
    d = await client.create_dirnode({"kept": client.create_node_from_uri(LIT)})
    lit = client.create_node_from_uri(LIT)
    before = await _contents(d)
    attempts = [
        lambda: d.set_node(name, lit),
        lambda: d.set_uri(name, LIT),
        lambda: d.set_nodes({name: lit}),
        lambda: d.set_nodes([(name, lit, {"a": 1})]),
        lambda: d.set_children({name: (None, LIT)}),
        lambda: d.create_subdirectory(name),
        lambda: d.create_subdirectory(name, mutable=False),
        lambda: d.move_child_to("kept", d, name),
    ]
    for attempt in attempts:
        with pytest.raises(BadChildNameError):
            await attempt()
    assert await _contents(d) == before
    assert set(await d.list()) == {"kept"}


@pytest_twisted.ensureDeferred
async def test_add_file_refuses_before_reading_the_file(client):
    d = await client.create_empty_dirnode()
    data = CountingData(b"never uploaded " * 100, client.get_convergence_secret())
    with pytest.raises(BadChildNameError):
        await d.add_file("..", data)
    assert data.reads == 0
    assert await d.list() == {}
    # the same uploadable under a good name is read and linked
    node = await d.add_file("ok", data)
    assert data.reads > 0 and (await d.get("ok")).get_uri() == node.get_uri()


@pytest_twisted.ensureDeferred
async def test_create_subdirectory_refuses_before_making_the_directory(client, monkeypatch):
    made = []
    real = client.nodemaker.create_new_mutable_directory

    def counting(*args, **kwargs):
        made.append(args)
        return real(*args, **kwargs)
    monkeypatch.setattr(client.nodemaker, "create_new_mutable_directory", counting)
    d = await client.create_empty_dirnode()
    made.clear()
    with pytest.raises(BadChildNameError):
        await d.create_subdirectory("a/b")
    assert made == []
    await d.create_subdirectory("a b")
    assert len(made) == 1


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("name", [".", "..", "a/b", "x\x00y", ""])
async def test_new_directories_refuse_the_name_among_their_children(client, name):
    lit = client.create_node_from_uri(LIT)
    with pytest.raises(BadChildNameError):
        await client.create_dirnode({name: lit})
    with pytest.raises(BadChildNameError):
        await client.create_immutable_dirnode({"fine": lit, name: lit})


@pytest_twisted.ensureDeferred
async def test_links_that_already_have_such_names_are_readable_and_can_be_fixed(client):
    d = await client.create_empty_dirnode()
    await d.set_uri("normal", LIT)
    # Another implementation wrote these names: put them in the contents directly.
    children = unpack_contents(await _contents(d), mutable=True)
    for name in ("..", "a/b", ""):
        children[name] = ChildEntry.new(name, None, LIT, {"legacy": True})
    writekey = d.get_filenode().get_writekey()
    await d.get_filenode().overwrite(pack_entries(children, writekey, False))

    fresh = client.create_node_from_uri(d.get_uri())
    listing = await fresh.list()
    assert set(listing) == {"normal", "..", "a/b", ""}
    assert (await fresh.get("a/b")).get_uri() == LIT
    assert (await fresh.get_metadata_for(".."))["legacy"] is True
    # renamed to a good name (the old one goes), unlinked, but not re-made
    await fresh.move_child_to("..", fresh, "parent-dots")
    await fresh.delete("a/b")
    with pytest.raises(BadChildNameError):
        await fresh.move_child_to("", fresh)       # to the same bad name elsewhere: refused
    await fresh.move_child_to("", fresh, "was-empty")
    assert set(await fresh.list()) == {"normal", "parent-dots", "was-empty"}
