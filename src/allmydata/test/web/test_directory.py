"""The directory endpoints of the web API (as Tahoe-LAFS 1.20's web API has them), run against our
client and against Tahoe-LAFS 1.20's (the ``webapi`` fixture of conftest.py):
mkdir in all its forms, PUT of children (intermediate directories, 201/200,
replace=), t=uri linking, t=json shapes with metadata, set_children, DELETE
and t=unlink, t=rename, t=relink, t=upload into a directory, read-only
directories and the HTML listing."""

import json
import re

import pytest_twisted


LIT_HELLO = "URI:LIT:nbswy3dpebqwoyljny"  # b"hello again"
LIT_ABC = "URI:LIT:mfrgg"  # b"abc"
DIR_RE = r"URI:DIR2:[a-z2-7]{26}:[a-z2-7]{52}"


def _link_times(metadata):
    t = metadata["tahoe"]
    assert set(t) == {"linkcrtime", "linkmotime"}, metadata
    return t["linkcrtime"], t["linkmotime"]


@pytest_twisted.ensureDeferred
async def test_mkdir_unlinked(webapi):
    cap = await webapi.mkdir()
    assert re.fullmatch(DIR_RE, cap), cap
    cap = await webapi.ok_text("PUT", webapi.url + "uri?t=mkdir")
    assert re.fullmatch(DIR_RE, cap), cap
    cap = await webapi.mkdir("t=mkdir&format=MDMF")
    assert re.fullmatch(r"URI:DIR2-MDMF:[a-z2-7]{26}:[a-z2-7]{52}", cap), cap
    kind, info = await webapi.json(webapi.path(cap, query="t=json"))
    assert kind == "dirnode"
    assert info["children"] == {} and info["mutable"] is True and info["rw_uri"] == cap
    assert info["ro_uri"].startswith("URI:DIR2-MDMF-RO:")
    assert info["verify_uri"].startswith("URI:DIR2-MDMF-Verifier:")
    assert set(info) == {"children", "rw_uri", "ro_uri", "verify_uri", "mutable"}

    r = await webapi.post(webapi.url + "uri?t=mkdir&redirect_to_result=true")
    assert r.code in (302, 303), r.text
    assert re.search(r"uri/URI%3ADIR2%3A[a-z2-7]+%3A[a-z2-7]+$", r.header("location"))

    for bad in ("CHK", "bogus"):
        r = await webapi.post(webapi.url + "uri?t=mkdir&format=" + bad)
        webapi.expect(r, 400)


@pytest_twisted.ensureDeferred
async def test_mkdir_with_children_and_immutable(webapi):
    mut = await webapi.ok_text("PUT", webapi.url + "uri?format=MDMF", b"mutable contents")
    mut_ro = await webapi.ok_text("GET", webapi.path(mut, query="t=readonly-uri"))
    children = {
        "f1": ["filenode", {"ro_uri": LIT_HELLO, "metadata": {"k": "v"}}],
        "m": ["filenode", {"rw_uri": mut, "ro_uri": mut_ro}],
        "u": ["unknown", {"ro_uri": "ro.x-tahoe-future:abc"}],
    }
    cap = await webapi.mkdir("t=mkdir-with-children", json.dumps(children).encode())
    assert re.fullmatch(DIR_RE, cap), cap
    kind, info = await webapi.json(webapi.path(cap, query="t=json"))
    kids = info["children"]
    assert sorted(kids) == ["f1", "m", "u"]
    for kind, child in kids.values():
        # Tahoe adds no link times here; ours may (they are the directory's own key)
        child["metadata"].pop("tahoe", None)
    assert kids["f1"] == ["filenode", {"mutable": False, "format": "CHK", "size": 11,
                                       "ro_uri": LIT_HELLO, "metadata": {"k": "v"}}]
    assert kids["m"][0] == "filenode"
    m = kids["m"][1]
    assert (m["rw_uri"], m["ro_uri"], m["mutable"], m["format"]) == (mut, mut_ro, True, "MDMF")
    assert m["verify_uri"].startswith("URI:MDMF-Verifier:")
    assert kids["u"] == ["unknown", {"ro_uri": "ro.x-tahoe-future:abc", "metadata": {}}]
    assert await webapi.ok_text("GET", webapi.path(cap, "m")) == "mutable contents"

    # immutable directories take immutable children only
    r = await webapi.post(webapi.url + "uri?t=mkdir-immutable", json.dumps(children).encode())
    webapi.expect(r, 400)
    imm = {"f1": ["filenode", {"ro_uri": LIT_HELLO, "metadata": {"k": "v"}}]}
    cap = await webapi.mkdir("t=mkdir-immutable", json.dumps(imm).encode())
    assert cap.startswith("URI:DIR2-CHK:"), cap
    kind, info = await webapi.json(webapi.path(cap, query="t=json"))
    assert kind == "dirnode" and info["mutable"] is False and "rw_uri" not in info
    assert info["ro_uri"] == cap
    assert info["children"]["f1"][1]["ro_uri"] == LIT_HELLO
    assert await webapi.ok_text("GET", webapi.path(cap, "f1")) == "hello again"
    assert await webapi.mkdir("t=mkdir-immutable", b"{}") == "URI:DIR2-LIT:"
    r = await webapi.post(webapi.url + "uri?t=mkdir-with-children", b"not json")
    webapi.expect(r, 400, tahoe=500)


def _fake_chk(i):
    import hashlib

    from allmydata.util import base32
    key = base32.b2a(hashlib.sha256(b"key %d" % i).digest()[:16]).decode()
    ueb = base32.b2a(hashlib.sha256(b"ueb %d" % i).digest()).decode()
    return "URI:CHK:%s:%s:3:10:%d" % (key, ueb, 1000 + i)


@pytest_twisted.ensureDeferred
async def test_big_directory_json(webapi):
    """A listing of a directory of more than 200 children (ours writes it from
    per-child texts it keeps) shows every child as a small listing does, and
    the next listing after a change shows the change."""
    mut = await webapi.ok_text("PUT", webapi.url + "uri?format=SDMF", b"mutable")
    mut_ro = await webapi.ok_text("GET", webapi.path(mut, query="t=readonly-uri"))
    sub = await webapi.mkdir()
    sub_ro = await webapi.ok_text("GET", webapi.path(sub, query="t=readonly-uri"))
    odd = {"size": 5, "mtime": 1.5e9, "note": "caf\u00e9 \"q\" \\ \x00", "list": [1, 2.5, None],
           "nested": {"b": True, "a": []}}
    special = {
        "lit": ["filenode", {"ro_uri": LIT_HELLO, "metadata": odd}],
        "mut": ["filenode", {"rw_uri": mut, "ro_uri": mut_ro, "metadata": {}}],
        "sub": ["dirnode", {"rw_uri": sub, "ro_uri": sub_ro}],
        "sub-ro": ["dirnode", {"ro_uri": sub_ro, "metadata": {"x": 1}}],
        "unk": ["unknown", {"ro_uri": "ro.x-tahoe-future:abc"}],
        "\u00e9t\u00e9 \"x\"": ["filenode", {"ro_uri": LIT_ABC}],
    }
    children = dict(special)
    for i in range(240):
        children["file-%03d" % i] = ["filenode", {"ro_uri": _fake_chk(i),
                                                  "metadata": {"mtime": 1.7e9 + i, "i": i}}]
    big = await webapi.mkdir("t=mkdir-with-children", json.dumps(children).encode())
    small = await webapi.mkdir("t=mkdir-with-children", json.dumps(
        dict(special, **{"file-007": children["file-007"]})).encode())

    def without_link_times(kids):
        for _kind, child in kids.values():
            child["metadata"].pop("tahoe", None)
        return kids

    _, big_info = await webapi.json(webapi.path(big, query="t=json"))
    _, small_info = await webapi.json(webapi.path(small, query="t=json"))
    assert big_info["rw_uri"] == big and big_info["mutable"] is True
    big_kids = without_link_times(big_info["children"])
    small_kids = without_link_times(small_info["children"])
    assert sorted(big_kids) == sorted(children)
    for name, listed in small_kids.items():
        assert big_kids[name] == listed, name
    assert big_kids["lit"][1]["metadata"] == odd
    assert big_kids["file-123"] == ["filenode", {
        "mutable": False, "format": "CHK", "size": 1123, "ro_uri": _fake_chk(123),
        "verify_uri": big_kids["file-123"][1]["verify_uri"],
        "metadata": {"mtime": 1.7e9 + 123, "i": 123}}]
    assert big_kids["file-123"][1]["verify_uri"].startswith("URI:CHK-Verifier:")
    assert big_kids["mut"][1]["rw_uri"] == mut

    # a change shows in the next listing (and an unchanged child stays as it was)
    webapi.expect(await webapi.put(webapi.path(big, "file-005", query="t=uri"),
                                   LIT_ABC.encode()), 200)
    r = await webapi.post(webapi.path(big, query="t=unlink&name=file-006"))
    webapi.expect(r, 200)
    _, again = await webapi.json(webapi.path(big, query="t=json"))
    kids = without_link_times(again["children"])
    assert "file-006" not in kids and len(kids) == len(children) - 1
    assert kids["file-005"][1]["ro_uri"] == LIT_ABC and kids["file-005"][1]["size"] == 3
    assert kids["file-123"] == big_kids["file-123"]


@pytest_twisted.ensureDeferred
async def test_put_children_and_json(webapi):
    root = await webapi.mkdir()
    r = await webapi.put(webapi.path(root, "a", "b", "file.txt"), b"hello world")
    webapi.expect(r, 201)
    assert r.text.strip() == "URI:LIT:nbswy3dpeb3w64tmmq"
    r = await webapi.put(webapi.path(root, "a", "b", "file.txt"), b"hello again")
    webapi.expect(r, 200)
    assert r.text.strip() == LIT_HELLO
    r = await webapi.put(webapi.path(root, "a", "b", "file.txt", query="replace=false"), b"x")
    webapi.expect(r, 409)
    big = bytes(range(256)) * 40
    r = await webapi.put(webapi.path(root, "a", "big.bin"), big)
    webapi.expect(r, 201)
    big_cap = r.text.strip()
    assert big_cap.startswith("URI:CHK:")

    r = await webapi.get(webapi.path(root, "a", "b", "file.txt"))
    assert (r.code, r.body) == (200, b"hello again")
    r = await webapi.get(webapi.path(root, "a", "big.bin"), headers={"Range": "bytes=10-19"})
    assert (r.code, r.body) == (206, big[10:20])
    assert r.header("content-range") == "bytes 10-19/%d" % len(big)
    r = await webapi.get(webapi.path(root, "a", "x.json"))
    webapi.expect(r, 404)
    r = await webapi.request("HEAD", webapi.path(root, "a", "big.bin"))
    assert r.code == 200 and r.body == b""

    # the file's json on a child path carries the link metadata
    kind, info = await webapi.json(webapi.path(root, "a", "b", "file.txt", query="t=json"))
    assert kind == "filenode"
    crtime, motime = _link_times(info.pop("metadata"))
    assert motime >= crtime
    assert info == {"mutable": False, "format": "CHK", "size": 11, "ro_uri": LIT_HELLO}
    kind, info = await webapi.json(webapi.path(root, "a", "big.bin", query="t=json"))
    assert info["verify_uri"].startswith("URI:CHK-Verifier:") and info["size"] == len(big)

    kind, info = await webapi.json(webapi.path(root, query="t=json"))
    assert kind == "dirnode" and set(info) == {"children", "rw_uri", "ro_uri", "verify_uri",
                                               "mutable"}
    assert info["rw_uri"] == root and info["ro_uri"].startswith("URI:DIR2-RO:")
    assert list(info["children"]) == ["a"]
    akind, a = info["children"]["a"]
    assert akind == "dirnode" and set(a) == {"mutable", "metadata", "rw_uri", "ro_uri",
                                             "verify_uri"}
    _link_times(a["metadata"])
    # a directory on a child path: no metadata at the top
    kind, ainfo = await webapi.json(webapi.path(root, "a", query="t=json"))
    assert ainfo["rw_uri"] == a["rw_uri"] and "metadata" not in ainfo
    assert sorted(ainfo["children"]) == ["b", "big.bin"]
    # trailing slash
    kind, binfo = await webapi.json(webapi.path(root, "a", "b", "", query="t=json"))
    assert list(binfo["children"]) == ["file.txt"]

    assert await webapi.ok_text("GET", webapi.path(root, query="t=uri")) == root
    ro = await webapi.ok_text("GET", webapi.path(root, query="t=readonly-uri"))
    assert ro == info["ro_uri"]
    assert await webapi.ok_text("GET", webapi.path(root, "a", "b", "file.txt",
                                                   query="t=uri")) == LIT_HELLO

    # walking into a file or a missing child
    r = await webapi.get(webapi.path(root, "a", "b", "file.txt", "x"))
    webapi.expect(r, 400)
    r = await webapi.get(webapi.path(root, "nope", "deeper"))
    webapi.expect(r, 404)
    r = await webapi.get(webapi.path(root, "nope", query="t=json"))
    webapi.expect(r, 404)
    # a file is in the way of an intermediate directory
    r = await webapi.put(webapi.path(root, "a", "big.bin", "x"), b"zz")
    webapi.expect(r, 409)
    # a directory is not replaced by a PUT of a file
    r = await webapi.put(webapi.path(root, "a", "b"), b"zz")
    webapi.expect(r, 400)
    r = await webapi.put(webapi.path(root, "x", query="format=bogus"), b"zz")
    webapi.expect(r, 400)
    r = await webapi.get(webapi.path(root, query="t=bogus"))
    webapi.expect(r, 400)
    r = await webapi.post(webapi.path(root, query="t=bogus"))
    webapi.expect(r, 400)


@pytest_twisted.ensureDeferred
async def test_unicode_names(webapi):
    root = await webapi.mkdir()
    name = "\u00e9t\u00e9 \u2603.txt"
    r = await webapi.put(webapi.path(root, "d", name), b"uni")
    webapi.expect(r, 201)
    kind, info = await webapi.json(webapi.path(root, "d", query="t=json"))
    assert list(info["children"]) == [name]
    assert (await webapi.get(webapi.path(root, "d", name))).body == b"uni"
    r = await webapi.delete(webapi.path(root, "d", name))
    assert (r.code, r.text.strip()) == (200, "URI:LIT:ovxgs")


@pytest_twisted.ensureDeferred
async def test_mkdir_under_a_directory(webapi):
    root = await webapi.mkdir()
    new = await webapi.ok_text("POST", webapi.path(root, query="t=mkdir&name=newdir"))
    assert re.fullmatch(DIR_RE, new)
    again = await webapi.ok_text("POST", webapi.path(root, query="t=mkdir&name=newdir"))
    assert re.fullmatch(DIR_RE, again) and again != new  # replaced by default
    r = await webapi.post(webapi.path(root, query="t=mkdir&name=newdir&replace=false"))
    webapi.expect(r, 409)
    sub = await webapi.ok_text("POST", webapi.path(root, "sub2", query="t=mkdir"))
    assert re.fullmatch(DIR_RE, sub)
    # the path exists now: its cap is answered, nothing replaced
    assert await webapi.ok_text("POST", webapi.path(root, "sub2", query="t=mkdir")) == sub
    deep = await webapi.ok_text("POST", webapi.path(root, "x", "y", "z",
                                                    query="t=mkdir&format=MDMF"))
    assert deep.startswith("URI:DIR2-MDMF:")
    kind, info = await webapi.json(webapi.path(root, "x", "y", query="t=json"))
    assert info["children"]["z"][1]["rw_uri"] == deep
    made = await webapi.ok_text("PUT", webapi.path(root, "putdir", query="t=mkdir"))
    assert re.fullmatch(DIR_RE, made)

    kids = {"f": ["filenode", {"ro_uri": LIT_ABC}]}
    withkids = await webapi.ok_text("POST", webapi.path(root, query="t=mkdir-with-children&name=wk"),
                                    json.dumps(kids).encode())
    kind, info = await webapi.json(webapi.path(root, "wk", query="t=json"))
    assert info["rw_uri"] == withkids and list(info["children"]) == ["f"]
    imm = await webapi.ok_text("POST", webapi.path(root, "im", query="t=mkdir-immutable"),
                               json.dumps(kids).encode())
    assert imm.startswith("URI:DIR2-LIT:") or imm.startswith("URI:DIR2-CHK:")
    assert await webapi.ok_text("GET", webapi.path(root, "im", "f")) == "abc"
    kind, info = await webapi.json(webapi.path(root, query="t=json"))
    assert sorted(info["children"]) == ["im", "newdir", "putdir", "sub2", "wk", "x"]

    r = await webapi.put(webapi.path(root, "file"), b"data")
    webapi.expect(r, 201)
    r = await webapi.post(webapi.path(root, "file", query="t=mkdir"))
    webapi.expect(r, 400)


@pytest_twisted.ensureDeferred
async def test_link_with_t_uri_and_set_children(webapi):
    root = await webapi.mkdir()
    r = await webapi.put(webapi.path(root, "linked", query="t=uri"), LIT_HELLO.encode())
    assert (r.code, r.text.strip()) == (200, LIT_HELLO)
    r = await webapi.put(webapi.path(root, "linked", query="t=uri&replace=false"), LIT_ABC.encode())
    webapi.expect(r, 409)
    # unknown caps only with a ro./imm. prefix
    r = await webapi.put(webapi.path(root, "unk", query="t=uri"), b"x-tahoe-future:abc")
    webapi.expect(r, 400)
    r = await webapi.put(webapi.path(root, "unk", query="t=uri"), b"ro.x-tahoe-future:abc")
    assert (r.code, r.text.strip()) == (200, "ro.x-tahoe-future:abc")

    r = await webapi.post(webapi.path(root, query={"t": "uri", "name": "viauri", "uri": LIT_ABC}))
    assert (r.code, r.text.strip()) == (200, LIT_ABC)
    r = await webapi.post(webapi.path(root, query={"t": "uri", "name": "viauri", "uri": LIT_HELLO,
                                                   "replace": "false"}))
    webapi.expect(r, 409)
    # replace=only-files: files are replaced, directories are not
    await webapi.ok_text("POST", webapi.path(root, query="t=mkdir&name=d"))
    r = await webapi.post(webapi.path(root, query={"t": "uri", "name": "d", "uri": LIT_ABC,
                                                   "replace": "only-files"}))
    webapi.expect(r, 409)
    r = await webapi.post(webapi.path(root, query={"t": "uri", "name": "viauri",
                                                   "uri": LIT_HELLO, "replace": "only-files"}))
    assert (r.code, r.text.strip()) == (200, LIT_HELLO)

    kids = {"s1": ["filenode", {"ro_uri": LIT_HELLO,
                                "metadata": {"k": "v", "tahoe": {"linkcrtime": 5}}}],
            "s2": ["filenode", {"ro_uri": LIT_ABC}]}
    for t in ("set_children", "set-children"):
        r = await webapi.post(webapi.path(root, query="t=" + t), json.dumps(kids).encode())
        assert r.code == 200, r.text
    kind, info = await webapi.json(webapi.path(root, "s1", query="t=json"))
    meta = info["metadata"]
    assert meta["k"] == "v"
    crtime, _ = _link_times(meta)
    assert crtime > 1e9  # the 'tahoe' key given by the client is ignored
    r = await webapi.post(webapi.path(root, query="t=set_children&replace=false"),
                          json.dumps(kids).encode())
    webapi.expect(r, 409)
    kind, info = await webapi.json(webapi.path(root, query="t=json"))
    assert sorted(info["children"]) == ["d", "linked", "s1", "s2", "unk", "viauri"]
    assert info["children"]["unk"] == ["unknown", {"ro_uri": "ro.x-tahoe-future:abc",
                                                   "metadata": info["children"]["unk"][1]["metadata"]}]


@pytest_twisted.ensureDeferred
async def test_unlink_rename_relink(webapi):
    root = await webapi.mkdir()
    for name, cap in (("a", LIT_HELLO), ("b", LIT_ABC), ("c", LIT_ABC)):
        await webapi.ok_text("PUT", webapi.path(root, name, query="t=uri"), cap.encode())
    r = await webapi.delete(webapi.path(root, "a"))
    assert (r.code, r.text.strip()) == (200, LIT_HELLO)
    r = await webapi.delete(webapi.path(root, "a"))
    webapi.expect(r, 404)
    r = await webapi.post(webapi.path(root, query="t=unlink&name=b"))
    assert r.code == 200
    r = await webapi.post(webapi.path(root, query="t=unlink&name=b"))
    webapi.expect(r, 404)
    await webapi.ok_text("PUT", webapi.path(root, "b", query="t=uri"), LIT_ABC.encode())
    r = await webapi.post(webapi.path(root, query="t=delete&name=b"))
    assert r.code == 200

    await webapi.ok_text("PUT", webapi.path(root, "b", query="t=uri"), LIT_HELLO.encode())
    r = await webapi.post(webapi.path(root, "", query="t=rename&from_name=c&to_name=c2"))
    assert r.code == 200, r.text
    r = await webapi.post(webapi.path(root, "", query="t=rename&from_name=c&to_name=c3"))
    webapi.expect(r, 404)
    r = await webapi.post(webapi.path(root, "", query="t=rename&from_name=c2&to_name=b"
                                                      "&replace=false"))
    webapi.expect(r, 409)
    r = await webapi.post(webapi.path(root, "", query="t=rename&from_name=c2&to_name=x/y"))
    webapi.expect(r, 400)
    kind, info = await webapi.json(webapi.path(root, query="t=json"))
    assert sorted(info["children"]) == ["b", "c2"]
    assert info["children"]["c2"][1]["ro_uri"] == LIT_ABC

    target = await webapi.ok_text("POST", webapi.path(root, query="t=mkdir&name=target"))
    r = await webapi.post(webapi.path(root, "", query={"t": "relink", "from_name": "c2",
                                                       "to_dir": target, "to_name": "moved"}))
    assert r.code == 200, r.text
    r = await webapi.post(webapi.path(root, "", query={"t": "relink", "from_name": "b",
                                                       "to_dir": target}))
    assert r.code == 200, r.text
    r = await webapi.post(webapi.path(root, "", query={"t": "relink", "from_name": "nope",
                                                       "to_dir": target}))
    webapi.expect(r, 404)
    r = await webapi.post(webapi.path(root, "", query={"t": "relink", "from_name": "target",
                                                       "to_dir": target + "/missing"}))
    webapi.expect(r, 404)
    kind, info = await webapi.json(webapi.path(root, "target", query="t=json"))
    assert sorted(info["children"]) == ["b", "moved"]
    assert info["children"]["moved"][1]["ro_uri"] == LIT_ABC
    kind, info = await webapi.json(webapi.path(root, query="t=json"))
    assert sorted(info["children"]) == ["target"]
    r = await webapi.delete(webapi.path(root))
    webapi.expect(r, 400, tahoe=500)


@pytest_twisted.ensureDeferred
async def test_upload_into_a_directory(webapi):
    root = await webapi.mkdir()
    data = b"form data\n" * 1000
    r = await webapi.post_form(webapi.path(root, "", query="t=upload"),
                               [("file", "up.txt", data)])
    assert r.code == 200, r.text
    cap = r.text.strip()
    assert cap.startswith("URI:CHK:")
    assert (await webapi.get(webapi.path(root, "up.txt"))).body == data
    r = await webapi.post_form(webapi.path(root, "", query="t=upload"),
                               [("file", "up.txt", data), ("name", "other.txt")])
    assert (r.code, r.text.strip()) == (200, cap)
    r = await webapi.post_form(webapi.path(root, "", query="t=upload&replace=false"),
                               [("file", "up.txt", b"x")])
    webapi.expect(r, 409)
    r = await webapi.post_form(webapi.path(root, "", query="t=upload&when_done=/done"),
                               [("file", "up2.txt", b"y")])
    assert (r.code, r.header("location")) == (302, "/done")
    r = await webapi.post_form(webapi.path(root, "", query="t=upload&format=MDMF"),
                               [("file", "m.txt", b"mutable via form")])
    assert r.code == 200 and r.text.startswith("URI:MDMF:"), r.text
    r = await webapi.post_form(webapi.path(root, ""), [("t", "upload"), ("file", "f.txt", b"t field")])
    assert r.code == 200, r.text
    kind, info = await webapi.json(webapi.path(root, query="t=json"))
    assert sorted(info["children"]) == ["f.txt", "m.txt", "other.txt", "up.txt", "up2.txt"]
    assert info["children"]["m.txt"][1]["format"] == "MDMF"
    assert (await webapi.get(webapi.path(root, "f.txt"))).body == b"t field"
    # POST t=upload to an existing file replaces it
    r = await webapi.post_form(webapi.path(root, "up.txt", query="t=upload"),
                               [("file", "whatever", b"replaced")])
    assert r.code == 200, r.text
    assert (await webapi.get(webapi.path(root, "up.txt"))).body == b"replaced"


@pytest_twisted.ensureDeferred
async def test_readonly_directory(webapi):
    root = await webapi.mkdir()
    await webapi.ok_text("PUT", webapi.path(root, "f"), b"abc", code=201)
    await webapi.ok_text("POST", webapi.path(root, query="t=mkdir&name=sub"))
    ro = await webapi.ok_text("GET", webapi.path(root, query="t=readonly-uri"))
    kind, info = await webapi.json(webapi.path(ro, query="t=json"))
    assert "rw_uri" not in info and info["ro_uri"] == ro
    sub = info["children"]["sub"][1]
    assert "rw_uri" not in sub and sub["ro_uri"].startswith("URI:DIR2-RO:")
    assert (await webapi.get(webapi.path(ro, "f"))).body == b"abc"
    for r in [await webapi.put(webapi.path(ro, "new"), b"zz"),
              await webapi.post(webapi.path(ro, query="t=mkdir&name=x")),
              await webapi.delete(webapi.path(ro, "f")),
              await webapi.post(webapi.path(ro, query="t=unlink&name=f")),
              await webapi.post(webapi.path(ro, "", query="t=rename&from_name=f&to_name=g"))]:
        webapi.expect(r, 400, tahoe=500)
    kind, info = await webapi.json(webapi.path(ro, query="t=json"))
    assert sorted(info["children"]) == ["f", "sub"]


@pytest_twisted.ensureDeferred
async def test_html_listing(webapi):
    root = await webapi.mkdir()
    await webapi.ok_text("PUT", webapi.path(root, "file <1>.txt"), b"x" * 100, code=201)
    await webapi.ok_text("PUT", webapi.path(root, "mut", query="format=SDMF"), b"m", code=201)
    await webapi.ok_text("POST", webapi.path(root, query="t=mkdir&name=subdir"))
    r = await webapi.get(webapi.path(root, ""), headers={"Accept": "text/html"})
    assert r.code == 200 and r.header("content-type").startswith("text/html")
    page = r.text
    assert "file &lt;1&gt;.txt" in page and "subdir" in page and "mut" in page
    assert ">100<" in page
    assert re.search(r'<a href="[^"]*%3A[^"]*/@@named=/file%20%3C1%3E.txt" rel="noreferrer">', page)
    # forms: upload and mkdir, posted back to this directory
    assert 'name="t" value="upload"' in page and 'name="t" value="mkdir"' in page
    assert 'type="file"' in page and 'enctype="multipart/form-data"' in page
    assert "DIR" in page and "FILE" in page
    r = await webapi.get(webapi.path(root, "subdir", ""))
    assert r.code == 200 and "<table" in r.text
    # the read-only view has no forms
    ro = await webapi.ok_text("GET", webapi.path(root, query="t=readonly-uri"))
    r = await webapi.get(webapi.path(ro, ""))
    assert r.code == 200 and "subdir" in r.text and 'value="upload"' not in r.text
    r = await webapi.get(webapi.path(root, query="t=info"))
    assert r.code == 200 and r.header("content-type").startswith("text/html")
    r = await webapi.get(webapi.path(root, query={"t": "rename-form", "name": "mut"}))
    assert r.code == 200 and "rename" in r.text.lower()
    # following the listing's file link gives the file
    link = re.search(r'href="([^"]*/@@named=/file%20%3C1%3E.txt)"', page).group(1)
    r = await webapi.get(webapi.url + re.sub(r"^(\.\./)+|^/", "", link))
    assert (r.code, r.body) == (200, b"x" * 100)


@pytest_twisted.ensureDeferred
async def test_mkdir_with_private_key(webapi):
    """private-key= (urlsafe-base64 of the PKCS#8 DER of an RSA-2048 key)
    fixes the directory's caps: they derive from the key alone."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    arg = base64.urlsafe_b64encode(der).decode("ascii")
    first = await webapi.mkdir("t=mkdir&private-key=" + arg)
    assert re.fullmatch(DIR_RE, first), first
    kind, info = await webapi.json(webapi.path(first, query="t=json"))
    assert info["children"] == {}
    other = await webapi.mkdir("t=mkdir")
    assert other != first
    r = await webapi.post(webapi.url + "uri?t=mkdir&private-key=bm90IGEga2V5")
    webapi.expect(r, 400, tahoe=500)
    # the same key again names the same directory
    r = await webapi.post(webapi.url + "uri?t=mkdir&private-key=" + arg)
    if r.code == 200:
        assert r.text.strip() == first
