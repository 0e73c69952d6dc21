"""Directory trees and mutable files shared between our client and Tahoe-LAFS 1.20.

The check: "a directory tree with files, mutable files
and subdirectories made by our client is listed, read and changed by a
Tahoe-LAFS client, and one made by Tahoe-LAFS is listed, read and changed by
ours".

Each test runs on the ``cross_grid`` fixture (one grid per storage kind for
this module: our storage nodes, and Tahoe-LAFS's own as the control), in both
directions: one client (the *builder*) makes a tree through its web API, the
other (the *changer*) lists it, reads every file, changes it, and the builder
reads the changes back.  The tree holds:

* nested subdirectories (``docs/deep/deeper``, made by one ``t=mkdir`` on a
  path, so the intermediate directories too) and an MDMF directory;
* immutable files: a LIT one, a CHK one, one with a non-ASCII name;
* an SDMF and an MDMF (three segments) mutable file;
* an immutable directory (``t=mkdir-immutable``) holding another one;
* read-only links to a directory and to a mutable file;
* directories made by ``t=mkdir-with-children`` (unlinked, and MDMF under a
  path; children with metadata, a link to the immutable directory, a second
  write link to the MDMF file) and a file uploaded by a form (``t=upload``);
* a child with application metadata (``t=set_children``).

The changer adds a child, makes a subdirectory, overwrites the SDMF file
through its path, replaces an immutable file through its path, writes into
the MDMF file at an offset across a segment boundary (by path and by cap) and
past its end, renames, relinks into another directory and unlinks
(``t=unlink`` and ``DELETE``); both clients then read ranges of the MDMF file.

``test_refused_writes`` makes a small tree with each client and has both
clients try writes that must fail (through read-only links and caps, into an
immutable directory, ``replace=false``, ``offset=`` into an immutable file):
the statuses are compared with Tahoe-LAFS's and the tree must not change.

Every directory and file is described with ``t=json`` by both clients and the
answers are compared field by field (caps, sizes, mutable, format, children
names, metadata); a mismatch lists every differing field as "ours ... /
Tahoe's ...".
"""

import os

import pytest

from allmydata.test.interop import webapi

pytestmark = pytest.mark.interop

SEGMENT = 128 * 1024  # MDMF segment size (k=2 divides it)

LIT_DATA = b"a literal file: small enough\n"
UNICODE_NAME = "na\u00efve \u2603.txt"


def _clients(grid, builder):
    """``(builder client, changer client, builder label, changer label)``."""
    if builder == "ours":
        return grid.ours, grid.client, "ours", "Tahoe"
    return grid.client, grid.ours, "Tahoe", "ours"


class Tree:
    """What the builder made: the root cap, the caps of the interesting objects, the contents."""

    def __init__(self):
        self.root = None
        self.caps = {}      # path -> cap the builder got
        self.contents = {}  # path of a file -> bytes expected there

    def __repr__(self):
        return "Tree(root=%s, caps=%s)" % (self.root, self.caps)


def build_tree(c):
    """Make the tree of the module docstring with client ``c``; return a :class:`Tree`."""
    t = Tree()
    t.root = webapi.mkdir(c)
    assert t.root.startswith("URI:DIR2:"), t.root
    t.caps["docs/deep/deeper"] = webapi.mkdir_at(c, t.root, "docs/deep/deeper")
    t.caps["mdmfdir"] = webapi.mkdir_at(c, t.root, "mdmfdir", format="MDMF")
    assert t.caps["mdmfdir"].startswith("URI:DIR2-MDMF:"), t.caps["mdmfdir"]

    files = {
        "docs/lit.txt": (LIT_DATA, None, "URI:LIT:"),
        "docs/deep/chk.bin": (os.urandom(70_000), None, "URI:CHK:"),
        "docs/" + UNICODE_NAME: (b"unicode name\n" * 10, None, "URI:CHK:"),
        "docs/sdmf.txt": (os.urandom(5_000), "SDMF", "URI:SSK:"),
        "mdmfdir/mdmf.bin": (os.urandom(2 * SEGMENT + 5_000), "MDMF", "URI:MDMF:"),
        "docs/deep/deeper/leaf.txt": (b"the leaf of the tree\n" * 5, None, "URI:CHK:"),
    }
    for path, (data, fmt, prefix) in files.items():
        status, cap = webapi.put_child(c, t.root, path, data, format=fmt)
        assert (status, cap[:len(prefix)]) == (201, prefix), (path, status, cap)
        t.caps[path] = cap
        t.contents[path] = data

    inner = webapi.mkdir_immutable(c, {"inner-lit.txt": t.caps["docs/lit.txt"]})
    assert inner.startswith(("URI:DIR2-CHK:", "URI:DIR2-LIT:")), inner
    t.caps["frozen"] = webapi.mkdir_immutable_at(c, t.root, "frozen", {
        "chk.bin": t.caps["docs/deep/chk.bin"],
        "lit.txt": t.caps["docs/lit.txt"],
        "inner": inner,
    })
    assert t.caps["frozen"].startswith("URI:DIR2-CHK:"), t.caps["frozen"]
    t.contents["frozen/chk.bin"] = files["docs/deep/chk.bin"][0]
    t.contents["frozen/inner/inner-lit.txt"] = LIT_DATA

    t.caps["docs"] = webapi.get_uri(c, t.root, "docs")
    docs_ro = webapi.get_uri(c, t.root, "docs", readonly=True)
    assert docs_ro.startswith("URI:DIR2-RO:"), docs_ro
    sdmf_ro = webapi.get_uri(c, t.root, "docs/sdmf.txt", readonly=True)
    assert sdmf_ro.startswith("URI:SSK-RO:"), sdmf_ro
    for name, cap in (("docs-ro", docs_ro), ("sdmf-ro", sdmf_ro)):
        status, _ = webapi.link(c, t.root, name, cap)
        assert status in (200, 201), (name, status)
        t.caps[name] = cap
    t.contents["docs-ro/sdmf.txt"] = t.contents["docs/sdmf.txt"]
    t.contents["sdmf-ro"] = t.contents["docs/sdmf.txt"]

    # directories made with their children in one request (one with metadata), and a form upload.
    # (Tahoe-LAFS 1.20 ignores format= on the unlinked POST /uri?t=mkdir-with-children and makes
    # an SDMF directory; ours honours it.  Under a path both honour it.)
    t.caps["kids"] = webapi.mkdir_with_children(c, {
        "lit": ("filenode", {"ro_uri": t.caps["docs/lit.txt"], "metadata": {"note": "given at mkdir"}}),
        "frozen-link": t.caps["frozen"],
    })
    assert t.caps["kids"].startswith("URI:DIR2:"), t.caps["kids"]
    status, _ = webapi.link(c, t.root, "kids", t.caps["kids"])
    assert status in (200, 201), status
    t.caps["kids/sub"] = webapi.mkdir_with_children_at(c, t.root, "kids/sub", {
        "mdmf-link": ("filenode", {"rw_uri": t.caps["mdmfdir/mdmf.bin"], "metadata": {"n": 1}}),
    }, format="MDMF")
    assert t.caps["kids/sub"].startswith("URI:DIR2-MDMF:"), t.caps["kids/sub"]
    t.contents["kids/sub/mdmf-link"] = t.contents["mdmfdir/mdmf.bin"]
    uploaded = os.urandom(3_000)
    cap = webapi.upload_form(c, t.root, "kids", "uploaded.bin", uploaded)
    assert cap.startswith("URI:CHK:"), cap
    t.contents["kids/lit"] = LIT_DATA
    t.contents["kids/frozen-link/lit.txt"] = LIT_DATA
    t.contents["kids/uploaded.bin"] = uploaded

    # a child with metadata of the application's own
    status = webapi.set_children(c, t.caps["mdmfdir"], {
        "tagged-lit": ("filenode", {"ro_uri": t.caps["docs/lit.txt"], "metadata": {"color": "blue"}}),
    })
    assert status == 200, status
    t.contents["mdmfdir/tagged-lit"] = LIT_DATA
    return t


DIRECTORIES = ["", "docs", "docs/deep", "docs/deep/deeper", "mdmfdir", "frozen", "frozen/inner", "docs-ro", "kids", "kids/sub"]

# The fields compared in t=json, for a node and for each child in a directory listing.
NODE_FIELDS = ("rw_uri", "ro_uri", "verify_uri", "mutable", "format", "size")


def _diff_node(where, ours, theirs, problems, in_listing=False):
    """Compare one ``[kind, details]`` pair; append "where: field ours X, Tahoe's Y" lines.

    In a directory listing (``in_listing``) the ``size`` of a mutable file
    child is left out: Tahoe-LAFS gives it only when that node object has
    been read or written in the same process (the size is whatever it last
    saw), so it depends on each client's history, not on the stored bytes.
    ``t=json`` on the file itself asks the servers, and is compared.
    """
    (kind_o, det_o), (kind_t, det_t) = ours, theirs
    if kind_o != kind_t:
        problems.append("%s: node type ours %r, Tahoe's %r" % (where, kind_o, kind_t))
        return
    for key in sorted(set(det_o) | set(det_t)):
        if key == "children":
            continue
        if in_listing and key == "size" and kind_t == "filenode" and det_t.get("mutable"):
            continue
        a, b = det_o.get(key, "<absent>"), det_t.get(key, "<absent>")
        if key == "metadata":
            if not isinstance(a, dict) or not isinstance(b, dict):
                if a != b:
                    problems.append("%s: metadata ours %r, Tahoe's %r" % (where, a, b))
                continue
            if sorted(a) != sorted(b):
                problems.append("%s: metadata keys ours %s, Tahoe's %s" % (where, sorted(a), sorted(b)))
            for mkey in sorted(set(a) & set(b)):
                if a[mkey] != b[mkey]:
                    problems.append("%s: metadata[%r] ours %r, Tahoe's %r" % (where, mkey, a[mkey], b[mkey]))
        elif a != b:
            problems.append("%s: %s ours %r, Tahoe's %r" % (where, key, a, b))
    if "children" in det_o or "children" in det_t:
        kids_o, kids_t = det_o.get("children", {}), det_t.get("children", {})
        if sorted(kids_o) != sorted(kids_t):
            problems.append("%s: children ours %s, Tahoe's %s" % (where, sorted(kids_o), sorted(kids_t)))
        for name in sorted(set(kids_o) & set(kids_t)):
            _diff_node("%s child %r" % (where, name), kids_o[name], kids_t[name], problems, in_listing=True)


def compare_json(grid, root, paths, extra_caps=()):
    """Both clients' ``t=json`` of every path under ``root`` and of the extra caps: equal."""
    problems = []
    targets = [(root, p, "GET /uri/$ROOT/%s?t=json" % p) for p in paths]
    targets += [(cap, "", "GET /uri/%s?t=json" % cap) for cap in extra_caps]
    for cap, path, where in targets:
        ours = webapi.get_json(grid.ours, cap, path)
        theirs = webapi.get_json(grid.client, cap, path)
        _diff_node(where, ours, theirs, problems)
    assert not problems, "t=json differs between our client and Tahoe-LAFS 1.20 (%s storage):\n%s" % (
        grid.kind, "\n".join(problems))


def read_all(client, label, root, contents):
    """Every expected file of the tree, read by ``client`` through paths under ``root``."""
    wrong = []
    for path, data in sorted(contents.items()):
        got = webapi.get(client, root, path)
        if got != data:
            wrong.append("%s: %d bytes, expected %d (first difference at %d)" % (
                path, len(got), len(data),
                next((i for i, (a, b) in enumerate(zip(got, data)) if a != b), min(len(got), len(data)))))
    assert not wrong, "%s read the tree wrongly:\n%s" % (label, "\n".join(wrong))


def _child_names(client, root, path):
    kind, details = webapi.get_json(client, root, path)
    assert kind == "dirnode", (path, kind)
    return sorted(details["children"])


def change_tree(c, label, t):
    """The changer's edits; return ``(new contents, {dir path: expected child names})``."""
    contents = dict(t.contents)
    mdmf_old = contents["mdmfdir/mdmf.bin"]

    # add a child and a subdirectory
    added = b"added by the other client\n"
    status, added_cap = webapi.put_child(c, t.root, "docs/deep/added.txt", added)
    assert status == 201, ("PUT of a new child by %s" % label, status, added_cap)
    contents["docs/deep/added.txt"] = added
    sub = webapi.mkdir_at(c, t.root, "docs/deep/deeper/made-by-changer", format="MDMF")
    assert sub.startswith("URI:DIR2-MDMF:"), sub
    status, _ = webapi.put_child(c, t.root, "docs/deep/deeper/made-by-changer/x.txt", b"x" * 100,
                                 format="SDMF")
    assert status == 201, status
    contents["docs/deep/deeper/made-by-changer/x.txt"] = b"x" * 100

    # overwrite the SDMF file through its path: the same cap, new contents, 200
    sdmf_new = os.urandom(7_000)
    status, cap = webapi.put_child(c, t.root, "docs/sdmf.txt", sdmf_new)
    assert (status, cap) == (200, t.caps["docs/sdmf.txt"]), \
        "%s overwrote docs/sdmf.txt: %s %s (the cap was %s)" % (label, status, cap, t.caps["docs/sdmf.txt"])
    for p in ("docs/sdmf.txt", "docs-ro/sdmf.txt", "sdmf-ro"):
        contents[p] = sdmf_new

    # MDMF: write across the first segment boundary by path, and near the end by cap
    patch1 = b"<<across the segment boundary>>"
    status, _ = webapi.put_at_offset(c, t.root, "mdmfdir/mdmf.bin", patch1, SEGMENT - 10)
    assert status == 200, status
    patch2 = b"<<past the old end>>"
    offset2 = len(mdmf_old) - 5
    c.overwrite(t.caps["mdmfdir/mdmf.bin"], patch2, offset=offset2)
    new = bytearray(mdmf_old)
    new[SEGMENT - 10:SEGMENT - 10 + len(patch1)] = patch1
    new[offset2:] = patch2
    contents["mdmfdir/mdmf.bin"] = contents["kids/sub/mdmf-link"] = bytes(new)

    # PUT by path onto an immutable file replaces the link: a new cap, 200
    replacement = b"a new version of an immutable file\n" * 4
    status, cap = webapi.put_child(c, t.root, "docs/" + UNICODE_NAME, replacement)
    assert (status, cap[:8]) == (200, "URI:CHK:") and cap != t.caps["docs/" + UNICODE_NAME], \
        ("PUT onto an immutable file by %s" % label, status, cap)
    contents["docs/" + UNICODE_NAME] = replacement

    # rename within a directory, relink into another one
    assert webapi.rename(c, t.root, "docs", "lit.txt", "renamed.txt") == 200
    contents["docs/renamed.txt"] = contents.pop("docs/lit.txt")
    assert webapi.relink(c, t.root, "docs", "renamed.txt", t.caps["mdmfdir"], "moved.txt") == 200
    contents["mdmfdir/moved.txt"] = contents.pop("docs/renamed.txt")

    # unlink two ways
    assert webapi.unlink(c, t.root, "docs/deep", "chk.bin") == 200
    del contents["docs/deep/chk.bin"]
    status, _ = webapi.delete(c, t.root, "docs/deep/deeper/leaf.txt")
    assert status == 200, status
    del contents["docs/deep/deeper/leaf.txt"]

    expected_names = {
        "": ["docs", "docs-ro", "frozen", "kids", "mdmfdir", "sdmf-ro"],
        "kids": ["frozen-link", "lit", "sub", "uploaded.bin"],
        "kids/sub": ["mdmf-link"],
        "docs": sorted([UNICODE_NAME, "deep", "sdmf.txt"]),
        "docs/deep": ["added.txt", "deeper"],
        "docs/deep/deeper": ["made-by-changer"],
        "docs/deep/deeper/made-by-changer": ["x.txt"],
        "mdmfdir": ["mdmf.bin", "moved.txt", "tagged-lit"],
        "frozen": ["chk.bin", "inner", "lit.txt"],
    }
    return contents, expected_names


# Writes that must be refused, and the statuses each client answers:
# {what: (ours, Tahoe-LAFS 1.20's)}.  Tahoe-LAFS answers a write into a
# read-only or immutable directory with 500 and a NotWriteableError
# traceback; ours answers 400 with a sentence saying why (Tahoe-LAFS 1.20's web API:
# 400 is "bad arguments", 500 "anything else").  Both refuse, which is what a
# client of the API relies on.
REFUSALS = {
    "PUT a child into a read-only dir": (400, 500),
    "PUT to a read-only mutable file cap": (400, 400),
    "PUT by path onto a read-only link to a mutable file": (400, 400),
    "t=unlink in an immutable dir": (400, 500),
    "PUT a child into an immutable dir": (400, 500),
    "PUT replace=false on an existing name": (409, 409),
    "PUT offset= into an immutable file": (400, 400),
    "GET a missing child": (404, 404),
}


def build_small_tree(c):
    """A root holding a mutable file, read-only links to it and to a directory,
    an immutable file and an immutable directory: ``(root, {name: cap}, {name: bytes})``."""
    root = webapi.mkdir(c)
    data = {"mut": os.urandom(1000), "imm": os.urandom(1000)}
    caps = {}
    caps["mut"] = webapi.put_child(c, root, "mut", data["mut"], format="SDMF")[1]
    caps["imm"] = webapi.put_child(c, root, "imm", data["imm"])[1]
    caps["sub"] = webapi.mkdir_at(c, root, "sub")
    caps["frozen"] = webapi.mkdir_immutable_at(c, root, "frozen", {"imm": caps["imm"]})
    for name, target in (("mut-ro", "mut"), ("sub-ro", "sub")):
        caps[name] = webapi.get_uri(c, root, target, readonly=True)
        webapi.link(c, root, name, caps[name])
    data["mut-ro"] = data["mut"]
    data["frozen/imm"] = data["imm"]
    return root, caps, data


def _refusals(client, root, caps):
    """``{what: HTTP status}`` of the writes of :data:`REFUSALS`, made by ``client``."""
    def at(path, query=""):
        return webapi.cap_path(root, path) + query
    calls = {
        "PUT a child into a read-only dir": ("PUT", at("sub-ro/new.txt"), b"no"),
        "PUT to a read-only mutable file cap": ("PUT", webapi.cap_path(caps["mut-ro"]), b"no"),
        "PUT by path onto a read-only link to a mutable file": ("PUT", at("mut-ro"), b"no"),
        "t=unlink in an immutable dir": ("POST", at("frozen", "/?t=unlink&name=imm"), b""),
        "PUT a child into an immutable dir": ("PUT", at("frozen/new.txt"), b"no"),
        "PUT replace=false on an existing name": ("PUT", at("mut", "?replace=false"), b"no"),
        "PUT offset= into an immutable file": ("PUT", at("imm", "?offset=3"), b"no"),
        "GET a missing child": ("GET", at("no-such-child"), None),
    }
    return {what: webapi.raw(client, *call).status for what, call in calls.items()}


@pytest.mark.parametrize("builder", ["ours", "tahoe"], ids=["our-tree", "tahoe-tree"])
def test_refused_writes(cross_grid, builder):
    """Writes through read-only and immutable links are refused by both
    clients alike, and leave the tree as it was."""
    grid = cross_grid
    b, _, b_label, _ = _clients(grid, builder)
    root, caps, data = build_small_tree(b)
    before = {who: webapi.get_json(cl, root) for who, cl in (("ours", grid.ours), ("Tahoe", grid.client))}
    # Tahoe-LAFS first: were ours to accept a write, Tahoe would not see a changed tree
    theirs = _refusals(grid.client, root, caps)
    ours = _refusals(grid.ours, root, caps)
    got = {what: (ours[what], theirs[what]) for what in REFUSALS}
    wrong = ["%s: ours %d, Tahoe's %d; expected ours %d, Tahoe's %d" % (what, *got[what], *REFUSALS[what])
             for what in REFUSALS if got[what] != REFUSALS[what]]
    assert not wrong, "refused writes (tree made by %s, %s storage):\n%s" % (b_label, grid.kind,
                                                                           "\n".join(wrong))
    for who, cl in (("ours", grid.ours), ("Tahoe", grid.client)):
        assert webapi.get_json(cl, root) == before[who], "%s lists the root differently after the refusals" % who
        read_all(cl, who, root, data)


@pytest.mark.parametrize("builder", ["ours", "tahoe"], ids=["our-tree", "tahoe-tree"])
def test_tree_listed_read_and_changed_by_the_other_client(cross_grid, builder):
    grid = cross_grid
    b, c, b_label, c_label = _clients(grid, builder)
    t = build_tree(b)

    # 1. both clients describe every directory and file alike, and the changer reads it all
    file_paths = sorted(p for p in t.contents)
    compare_json(grid, t.root, [""] + DIRECTORIES[1:] + file_paths, extra_caps=[t.root, t.caps["frozen"]])
    read_all(c, "%s (reading the tree %s made)" % (c_label, b_label), t.root, t.contents)

    # the read-only view hides the write caps, transitively
    kind, ro = webapi.get_json(c, t.caps["docs-ro"])
    assert kind == "dirnode" and "rw_uri" not in ro, ro
    for name, (_, child) in ro["children"].items():
        assert "rw_uri" not in child, (name, child)

    # 2. the changer edits; the builder sees every change
    contents, expected_names = change_tree(c, c_label, t)
    for path, names in sorted(expected_names.items()):
        got = _child_names(b, t.root, path)
        assert got == names, "%s lists %r as %s after %s's changes, expected %s" % (
            b_label, path, got, c_label, names)
    read_all(b, "%s (reading %s's changes)" % (b_label, c_label), t.root, contents)
    _, details = webapi.get_json(b, t.root, "mdmfdir/tagged-lit")
    assert details["metadata"]["color"] == "blue", details
    mdmf = contents["mdmfdir/mdmf.bin"]
    for spec, (first, last) in (("bytes=%d-%d" % (SEGMENT - 20, SEGMENT + 30), (SEGMENT - 20, SEGMENT + 30)),
                                ("bytes=-30", (len(mdmf) - 30, len(mdmf) - 1))):
        answers = [(cl.fetch("GET", webapi.cap_path(t.root, "mdmfdir/mdmf.bin"), headers={"Range": spec}), who)
                   for cl, who in ((grid.ours, "ours"), (grid.client, "Tahoe"))]
        for resp, who in answers:
            assert (resp.status, resp.headers.get("content-range"), resp.body) == \
                (206, "bytes %d-%d/%d" % (first, last, len(mdmf)), mdmf[first:last + 1]), \
                "%s's GET of the changed MDMF file with Range: %s: %s %s" % (who, spec, resp.status, resp.headers)

    # 3. and both still describe the changed tree alike
    compare_json(grid, t.root, sorted(expected_names) + sorted(contents))
