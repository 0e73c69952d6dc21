"""Directories through the web API on a grid of real node processes.

One module-scoped :class:`~allmydata.testing.procweb.MultiClientGrid`: an introducer, three
storage nodes and a client at 2-of-3, driven only over HTTP on 127.0.0.1.
The tests build trees several levels deep and check every operation a
directory offers through the web API -- which is how a person reaches the
``IDirectoryNode`` methods: listing (``t=json``, HTML), children at paths,
``PUT`` with intermediate directories (201, then 200), ``mkdir`` (unlinked,
under paths, with children, immutable, MDMF), ``t=uri`` linking,
``set_children``, ``rename``, ``relink``, unlink (``DELETE`` and
``t=unlink``), ``replace=false`` (409), the link metadata, and read-only
directory caps that refuse every change and hide their children's write caps.
"""

import json
import os
import time

import pytest

from allmydata.testing.procweb import MultiClientGrid

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def module_grid(tmp_path_factory):
    yield from MultiClientGrid(tmp_path_factory.mktemp("dirgrid"), num_storage=3, encoding=(2, 3, 3),
                           extra_clients=0).lifetime()


@pytest.fixture
def web(module_grid):
    module_grid.heal()
    return module_grid.clients[0]


def names(web, dircap, sub=""):
    return sorted(web.children(dircap, sub))


def child_info(web, dircap, path):
    parent, _, name = path.rpartition("/")
    kind, info = web.children(dircap, parent)[name]
    return kind, info


def test_nested_tree_with_intermediate_directories(web):
    t0 = time.time()
    root = web.mkdir()
    assert root.startswith("URI:DIR2:"), root
    assert web.children(root) == {}
    deep = "a/b/c/d/e/file.txt"
    data = os.urandom(5000)
    r = web.put(root, data, deep)
    assert r.status == 201, r
    filecap = r.text.strip()
    assert filecap.startswith("URI:CHK:"), filecap
    assert web.read(root, deep) == data
    # every level is a mutable directory holding the next one
    path = ""
    for name in "abcde":
        assert names(web, root, path) == [name]
        kind, info = web.children(root, path)[name]
        assert kind == "dirnode" and info["mutable"] is True, info
        assert info["rw_uri"].startswith("URI:DIR2:") and info["ro_uri"].startswith("URI:DIR2-RO:")
        tahoe = info["metadata"]["tahoe"]
        assert t0 - 5 <= tahoe["linkcrtime"] <= tahoe["linkmotime"] <= time.time() + 5, tahoe
        path = path + "/" + name if path else name
        # the subdirectory reached by its own cap lists the same as by the path
        assert web.children(info["rw_uri"]) == web.children(root, path)
    kind, info = child_info(web, root, deep)
    assert kind == "filenode" and info["size"] == len(data) and info["format"] == "CHK"
    assert info["ro_uri"] == filecap and info["mutable"] is False
    # t=json of a file reached through its path carries the link's metadata
    kind, info = web.json(root, deep)
    assert kind == "filenode" and "tahoe" in info["metadata"], info
    r = web.get(root, deep, "t=uri")
    assert r.status == 200 and r.text.strip() == filecap
    r = web.get(root, "a/b", "t=readonly-uri")
    assert r.status == 200 and r.text.strip().startswith("URI:DIR2-RO:")

    # PUT again to the same name replaces it: 200, and linkcrtime is kept
    crtime = child_info(web, root, deep)[1]["metadata"]["tahoe"]["linkcrtime"]
    data2 = b"tiny"  # a LIT file now
    r = web.put(root, data2, deep)
    assert r.status == 200, r
    assert r.text.strip().startswith("URI:LIT:")
    assert web.read(root, deep) == data2
    tahoe = child_info(web, root, deep)[1]["metadata"]["tahoe"]
    assert tahoe["linkcrtime"] == crtime and tahoe["linkmotime"] >= crtime

    # errors: a missing child, a path through a file, replace=false
    r = web.get(root, "a/b/nothing")
    assert r.status == 404, r
    r = web.get(root, deep + "/x")
    assert r.status == 400, r
    r = web.put(root, b"x", deep, "replace=false")
    assert r.status == 409, r
    assert web.read(root, deep) == data2
    r = web.put(root, b"x", deep + "/under-a-file")
    assert r.status in (400, 409), r

    # the HTML listing names the children and links to them
    r = web.get(root, "a/b/c/d/e")
    assert r.status == 200 and r.headers["content-type"].startswith("text/html"), r
    assert "file.txt" in r.text


def test_mkdir_under_paths_and_formats(web):
    root = web.mkdir("MDMF")
    assert root.startswith("URI:DIR2-MDMF:"), root
    # POST ?t=mkdir at a path creates the intermediate directories too
    r = web.post(root, "x/y/z", "t=mkdir")
    assert r.status == 200, r
    zcap = r.text.strip()
    assert zcap.startswith("URI:DIR2"), zcap
    assert names(web, root, "x/y") == ["z"]
    # PUT ?t=mkdir, and again on the same path: the existing directory
    r = web.put(root, b"", "p/q", "t=mkdir")
    assert r.status in (200, 201), r
    qcap = r.text.strip()
    r = web.put(root, b"", "p/q", "t=mkdir")
    assert r.status in (200, 201) and r.text.strip() == qcap, r
    # POST ?t=mkdir&name= in a directory, with format=MDMF and SDMF
    r = web.post(root, "p", "t=mkdir&name=m&format=MDMF")
    assert r.status == 200 and r.text.strip().startswith("URI:DIR2-MDMF:"), r
    r = web.post(root, "p", "t=mkdir&name=s&format=SDMF")
    assert r.status == 200 and r.text.strip().startswith("URI:DIR2:"), r
    assert names(web, root, "p") == ["m", "q", "s"]
    r = web.post(root, "p", "t=mkdir&name=s&replace=false")
    assert r.status == 409, r
    # mkdir-with-children at a path
    filecap = web.upload(os.urandom(3000))
    kids = {"f": ["filenode", {"ro_uri": filecap, "metadata": {"color": "blue"}}],
            "sub": ["dirnode", {"rw_uri": zcap}]}
    r = web.post(root, "p/withkids", "t=mkdir-with-children", body=json.dumps(kids).encode())
    assert r.status == 200, r
    listing = web.children(root, "p/withkids")
    assert sorted(listing) == ["f", "sub"]
    assert listing["f"][1]["ro_uri"] == filecap
    assert listing["f"][1]["metadata"]["color"] == "blue"
    assert listing["sub"][1]["rw_uri"] == zcap
    # the shared subdirectory is one object: a change through one path shows in the other
    r = web.put(root, b"shared", "p/withkids/sub/new.txt")
    assert r.status == 201, r
    assert web.read(root, "x/y/z/new.txt") == b"shared"
    # a file in the way of mkdir
    r = web.put(root, b"data", "p/afile")
    assert r.status == 201, r
    r = web.post(root, "p/afile/below", "t=mkdir")
    assert r.status in (400, 409), r


def test_mutable_children(web):
    root = web.mkdir()
    v1 = os.urandom(20000)
    r = web.put(root, v1, "docs/notes.txt", "format=MDMF")
    assert r.status == 201, r
    cap = r.text.strip()
    assert cap.startswith("URI:MDMF:"), cap
    _kind, info = child_info(web, root, "docs/notes.txt")
    assert info["format"] == "MDMF" and info["mutable"] is True and info["rw_uri"] == cap
    # a PUT to the name of a mutable file overwrites it in place: same cap
    v2 = os.urandom(30000)
    r = web.put(root, v2, "docs/notes.txt")
    assert r.status == 200 and r.text.strip() == cap, r
    assert web.read(cap) == v2
    # and ?offset= writes into it
    r = web.put(root, b"PATCH", "docs/notes.txt", "offset=100")
    assert r.status == 200, r
    assert web.read(root, "docs/notes.txt") == v2[:100] + b"PATCH" + v2[105:]
    r = web.get(root, "docs/notes.txt", headers={"Range": "bytes=98-106"})
    assert r.status == 206 and r.body == v2[98:100] + b"PATCH" + v2[105:107]
    # an SDMF child by mutable=true
    r = web.put(root, b"sdmf", "docs/s.txt", "mutable=true")
    assert r.status == 201 and r.text.strip().startswith("URI:SSK:"), r
    # offset= on an immutable file is refused
    r = web.put(root, b"xx", "docs/imm.txt")
    assert r.status == 201, r
    r = web.put(root, b"yy", "docs/imm.txt", "offset=1")
    assert r.status == 400, r
    assert web.read(root, "docs/imm.txt") == b"xx"


def test_link_rename_relink_unlink_set_children(web):
    root = web.mkdir()
    other = web.mkdir()
    fcap = web.upload(os.urandom(2000))
    # t=uri by PUT (creating intermediates) and by POST
    r = web.put(root, fcap.encode(), "one/two/linked", "t=uri")
    assert r.status in (200, 201), r
    assert web.children(root, "one/two")["linked"][1]["ro_uri"] == fcap
    r = web.post(root, "one", "t=uri&name=again&uri=%s" % fcap)
    assert r.status == 200, r
    r = web.post(root, "one", "t=uri&name=again&uri=%s&replace=false" % fcap)
    assert r.status == 409, r
    r = web.put(root, fcap.encode(), "one/again", "t=uri&replace=false")
    assert r.status == 409, r
    # a directory linked under a second name (the same object)
    r = web.put(root, other.encode(), "one/other", "t=uri")
    assert r.status in (200, 201), r
    assert web.children(root, "one")["other"][1]["rw_uri"] == other

    # rename within a directory (and its refusal to overwrite with replace=false)
    crtime = web.children(root, "one")["again"][1]["metadata"]["tahoe"]["linkcrtime"]
    r = web.post(root, "one", "t=rename&from_name=again&to_name=renamed")
    assert r.status == 200, r
    listing = web.children(root, "one")
    assert "again" not in listing and listing["renamed"][1]["ro_uri"] == fcap
    assert listing["renamed"][1]["metadata"]["tahoe"]["linkcrtime"] >= crtime - 1
    r = web.post(root, "one", "t=rename&from_name=renamed&to_name=two&replace=false")
    assert r.status == 409, r
    r = web.post(root, "one", "t=rename&from_name=nothing&to_name=x")
    assert r.status == 404, r
    r = web.post(root, "one", "t=rename&from_name=renamed&to_name=a/b")
    assert r.status == 400, r

    # relink into another directory, by cap and by cap/path
    r = web.post(root, "one", "t=relink&from_name=renamed&to_dir=%s" % other)
    assert r.status == 200, r
    assert "renamed" not in web.children(root, "one")
    assert web.children(other)["renamed"][1]["ro_uri"] == fcap
    web.post(other, "", "t=mkdir&name=inner")
    r = web.post(other, "", "t=relink&from_name=renamed&to_dir=%s/inner&to_name=moved" % other)
    assert r.status == 200, r
    assert sorted(web.children(other)) == ["inner"]
    assert web.children(root, "one/other/inner")["moved"][1]["ro_uri"] == fcap
    r = web.post(other, "", "t=relink&from_name=inner&to_dir=%s&to_name=one&replace=false"
                 % root)
    assert r.status == 409, r

    # set_children: several at once, the tahoe key of the metadata is not taken
    dcap = web.mkdir()
    kids = {"k1": ["filenode", {"ro_uri": fcap, "metadata": {"tag": 1,
                                                             "tahoe": {"linkcrtime": 1}}}],
            "k2": ["dirnode", {"rw_uri": dcap}],
            "k3": ["filenode", {"ro_uri": web.upload(b"lit")}]}
    r = web.post(root, "one/two", "t=set_children", body=json.dumps(kids).encode())
    assert r.status == 200, r
    listing = web.children(root, "one/two")
    assert sorted(listing) == ["k1", "k2", "k3", "linked"]
    assert listing["k1"][1]["metadata"]["tag"] == 1
    assert listing["k1"][1]["metadata"]["tahoe"]["linkcrtime"] > 1000
    assert listing["k2"][1]["rw_uri"] == dcap
    r = web.post(root, "one/two", "t=set-children&replace=false",
                 body=json.dumps({"k1": kids["k1"]}).encode())
    assert r.status == 409, r

    # unlink: DELETE answers the removed cap; t=unlink; a missing name is 404
    r = web.delete(root, "one/two/k1")
    assert r.status == 200 and r.text.strip() == fcap, r
    r = web.post(root, "one/two", "t=unlink&name=k3")
    assert r.status == 200, r
    assert sorted(web.children(root, "one/two")) == ["k2", "linked"]
    r = web.delete(root, "one/two/k1")
    assert r.status == 404, r
    r = web.delete(root, "one/other")  # unlinking a directory leaves it whole
    assert r.status == 200, r
    assert "inner" in web.children(other)


def test_upload_form_into_a_directory(web):
    root = web.mkdir()
    boundary = "b0undary"
    body = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"up.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n" % boundary).encode() + \
        b"uploaded by form" + ("\r\n--%s--\r\n" % boundary).encode()
    r = web.post(root, "", "t=upload", body=body,
                 headers={"Content-Type": "multipart/form-data; boundary=%s" % boundary,
                          "Accept": "text/plain"})
    assert r.status in (200, 303), r
    assert web.read(root, "up.bin") == b"uploaded by form"


def test_readonly_directory_refuses_changes(web):
    root = web.mkdir()
    web.put(root, b"one", "sub/file")
    r = web.put(root, b"mutable", "sub/mfile", "format=SDMF")
    mcap = r.text.strip()
    rocap = web.json(root)[1]["ro_uri"]
    assert rocap.startswith("URI:DIR2-RO:")
    # reading works through the read cap; write caps of children are hidden
    assert web.read(rocap, "sub/file") == b"one"
    listing = web.children(rocap, "sub")
    assert "rw_uri" not in listing["mfile"][1], listing["mfile"]
    assert listing["mfile"][1]["ro_uri"].startswith("URI:SSK-RO:")
    _kind, subinfo = web.children(rocap)["sub"]
    assert "rw_uri" not in subinfo and subinfo["ro_uri"].startswith("URI:DIR2-RO:")
    fcap = web.upload(b"x" * 100)
    attempts = [
        ("PUT file", lambda: web.put(rocap, b"no", "new")),
        ("PUT file deeper", lambda: web.put(rocap, b"no", "sub/new")),
        ("PUT replacing", lambda: web.put(rocap, b"no", "sub/file")),
        ("PUT into mutable child", lambda: web.put(rocap, b"no", "sub/mfile")),
        ("mkdir", lambda: web.post(rocap, "", "t=mkdir&name=d")),
        ("mkdir at path", lambda: web.post(rocap, "sub/d2", "t=mkdir")),
        ("t=uri", lambda: web.put(rocap, fcap.encode(), "sub/l", "t=uri")),
        ("DELETE", lambda: web.delete(rocap, "sub/file")),
        ("unlink", lambda: web.post(rocap, "sub", "t=unlink&name=file")),
        ("rename", lambda: web.post(rocap, "sub", "t=rename&from_name=file&to_name=f2")),
        ("set_children", lambda: web.post(rocap, "", "t=set_children",
                                          body=json.dumps({"z": ["filenode",
                                                                 {"ro_uri": fcap}]}).encode())),
    ]
    for what, attempt in attempts:
        r = attempt()
        assert 400 <= r.status < 500, "%s through a read-only directory answered %r" % (what, r)
    assert sorted(web.children(root)) == ["sub"]
    assert sorted(web.children(root, "sub")) == ["file", "mfile"]
    assert web.read(root, "sub/file") == b"one" and web.read(mcap) == b"mutable"


def test_immutable_directories(web):
    fcap = web.upload(os.urandom(4000))
    lit = web.upload(b"little")
    inner = {"deep.txt": ["filenode", {"ro_uri": lit}]}
    r = web.request("POST", "/uri?t=mkdir-immutable", body=json.dumps(inner).encode())
    assert r.status == 200, r
    inner_cap = r.text.strip()
    assert inner_cap.startswith(("URI:DIR2-CHK:", "URI:DIR2-LIT:")), inner_cap
    kids = {"big": ["filenode", {"ro_uri": fcap, "metadata": {"k": "v"}}],
            "small": ["filenode", {"ro_uri": lit}],
            "inner": ["dirnode", {"ro_uri": inner_cap}]}
    r = web.request("POST", "/uri?t=mkdir-immutable", body=json.dumps(kids).encode())
    assert r.status == 200, r
    dcap = r.text.strip()
    assert dcap.startswith("URI:DIR2-CHK:"), dcap
    kind, info = web.json(dcap)
    assert kind == "dirnode" and info["mutable"] is False and "rw_uri" not in info
    assert sorted(info["children"]) == ["big", "inner", "small"]
    assert info["children"]["big"][1]["metadata"]["k"] == "v"
    assert web.read(dcap, "inner/deep.txt") == b"little"
    assert web.read(dcap, "big") == web.read(fcap)
    # it cannot be changed
    r = web.put(dcap, b"no", "new")
    assert 400 <= r.status < 500, r
    r = web.delete(dcap, "big")
    assert 400 <= r.status < 500, r
    assert sorted(web.children(dcap)) == ["big", "inner", "small"]
    # mutable children are refused
    mcap = web.create_mutable(b"m")
    r = web.request("POST", "/uri?t=mkdir-immutable",
                    body=json.dumps({"m": ["filenode", {"rw_uri": mcap}]}).encode())
    assert r.status == 400, r
    # mkdir-immutable under a path of a mutable directory; linking it there
    root = web.mkdir()
    r = web.post(root, "a/frozen", "t=mkdir-immutable", body=json.dumps(kids).encode())
    assert r.status == 200, r
    assert r.text.strip().startswith("URI:DIR2-CHK:"), r
    assert web.children(root, "a")["frozen"][1]["mutable"] is False
    assert web.read(root, "a/frozen/inner/deep.txt") == b"little"


def test_unicode_names_only_files_and_info(web):
    root = web.mkdir()
    name = "caf\u00e9 \u2603/na\u0303me 100%.txt"  # decomposed: stored NFC
    r = web.put(root, b"unicode", name)
    assert r.status == 201, r
    assert names(web, root) == ["caf\u00e9 \u2603"]
    assert names(web, root, "caf\u00e9 \u2603") == ["n\u00e3me 100%.txt"]
    assert web.read(root, "caf\u00e9 \u2603/n\u00e3me 100%.txt") == b"unicode"
    assert web.read(root, name) == b"unicode"  # the decomposed spelling finds it too
    # replace=only-files replaces a file but not a directory
    r = web.put(root, b"v2", "caf\u00e9 \u2603/n\u00e3me 100%.txt", "replace=only-files")
    assert r.status == 200, r
    fcap = web.upload(b"a file")
    r = web.put(root, fcap.encode(), "caf\u00e9 \u2603", "t=uri&replace=only-files")
    assert r.status == 409, r
    r = web.put(root, b"a file", "caf\u00e9 \u2603")
    assert r.status in (400, 409), r  # a file is not PUT over a directory
    assert web.children(root)["caf\u00e9 \u2603"][0] == "dirnode"
    # t=info of a directory and of a mutable file in it
    r = web.put(root, b"m", "mut", "format=MDMF")
    assert r.status == 201, r
    for sub in ("", "mut", "caf\u00e9 \u2603"):
        r = web.get(root, sub, "t=info")
        assert r.status == 200 and "html" in r.headers["content-type"], (sub, r)
