"""Malformed input to the web API of a running client node (the ``webapi``
grid of conftest.py): each answer is a 400 (or the status the input calls
for) with a plain message saying what is wrong -- never a 500.

Where Tahoe-LAFS 1.20 answers differently the tests say so through
:meth:`WebAPI.expect`: it answers some of these with a 500 or drops the
connection, follows ``when_done=`` anywhere, and links children named
``.``, ``..``, with NUL or (except through rename, relink and upload) with
``/``, which we refuse."""

import json

import pytest
import pytest_twisted

from allmydata.util import base32

LIT_ABC = "URI:LIT:mfrgg"
KEY = base32.b2a(bytes(range(16))).decode()
UEB = base32.b2a(bytes(range(32, 64))).decode()


def assert_plain_400(r, *words):
    assert r.code == 400, "%d %s" % (r.code, r.text[:500])
    assert r.header("content-type").startswith("text/plain"), r.header("content-type")
    assert "Internal server error" not in r.text and "Traceback" not in r.text
    for w in words:
        assert w in r.text, (w, r.text[:500])


def nested(depth: int) -> bytes:
    """set_children JSON whose one child's metadata is nested ``depth`` deep."""
    inner = "[" * depth + "]" * depth
    return ('{"deep": ["filenode", {"ro_uri": "%s", "metadata": {"x": %s}}]}'
            % (LIT_ABC, inner)).encode("ascii")


@pytest_twisted.ensureDeferred
async def test_arguments_that_are_not_utf8(webapi):
    root = await webapi.mkdir()
    for url in (webapi.url + "?t=%FF", webapi.url + "uri?uri=%FF%FE",
                webapi.path(root, query="t=%FF"), webapi.path(LIT_ABC, query="t=%FF"),
                webapi.path(LIT_ABC, query="filename=%C3%28")):
        r = await webapi.get(url)
        webapi.expect(r, 400, tahoe=r.code)
        if webapi.ours:
            assert_plain_400(r, "not UTF-8")
    r = await webapi.post(webapi.path(root, query="t=mkdir&name=%FF"))
    webapi.expect(r, 400, tahoe=r.code)
    if webapi.ours:
        assert_plain_400(r, "name=", "not UTF-8")
        assert (await webapi.json(webapi.path(root, query="t=json")))[1]["children"] == {}


@pytest_twisted.ensureDeferred
async def test_path_segments_that_are_not_utf8(webapi):
    if not webapi.ours:
        return      # Tahoe-LAFS 1.20 drops the connection without an answer
    root = await webapi.mkdir()
    for method in ("GET", "PUT", "POST", "DELETE"):
        r = await webapi.request(method, webapi.path(root) + "/%FF%FE?t=mkdir", body=b"x")
        webapi.expect(r, 400, tahoe=r.code)
        if webapi.ours:
            assert_plain_400(r, "path segment", "not UTF-8")
    assert (await webapi.json(webapi.path(root, query="t=json")))[1]["children"] == {}


@pytest_twisted.ensureDeferred
async def test_ranges_with_digits_outside_ascii(webapi):
    cap = await webapi.ok_text("PUT", webapi.url + "uri", b"0123456789" * 10)
    for value in ("bytes=\u00b2-", "bytes=0-\u00b9", "bytes=\u00bd-"):   # superscripts, a half
        r = await webapi.get(webapi.path(cap), headers={"Range": value.encode("latin-1")})
        webapi.expect(r, 400, tahoe=r.code)     # Tahoe-LAFS 1.20: a 500
        if webapi.ours:
            assert_plain_400(r, "Range header is not ASCII")
    # ASCII ranges with numbers of any length are answered as numbers
    r = await webapi.get(webapi.path(cap), headers={"Range": "bytes=" + "9" * 5000 + "-"})
    webapi.expect(r, 416, tahoe=r.code)
    # (Tahoe-LAFS 1.20 ignores these: it sends the whole file)
    r = await webapi.get(webapi.path(cap), headers={"Range": "bytes=95-" + "9" * 5000})
    webapi.expect(r, 206, tahoe=r.code)
    assert r.body == b"56789" or not webapi.ours
    r = await webapi.get(webapi.path(cap), headers={"Range": "bytes=-" + "0" * 5000 + "3"})
    webapi.expect(r, 206, tahoe=r.code)
    assert r.body == b"789" or not webapi.ours


@pytest_twisted.ensureDeferred
async def test_offsets_are_ascii_numbers(webapi):
    if not webapi.ours:
        return      # Tahoe-LAFS 1.20 answers these with a 500
    cap = await webapi.ok_text("PUT", webapi.url + "uri?format=MDMF", b"mutable contents")
    for offset in ("%C2%B2", "1" * 5000, "-1", "1e3"):
        r = await webapi.put(webapi.path(cap, query="offset=" + offset), b"x")
        assert_plain_400(r, "offset=")
    r = await webapi.put(webapi.path(cap, query="offset=" + "9" * 25), b"x")
    assert_plain_400(r, "larger than any file")
    assert (await webapi.get(webapi.path(cap))).body == b"mutable contents"


@pytest_twisted.ensureDeferred
async def test_caps_with_numbers_of_thousands_of_digits(webapi):
    if not webapi.ours:
        return      # Tahoe-LAFS 1.20 drops the connection without an answer
    root = await webapi.mkdir()
    for numbers in ("3:10:" + "5" * 5000, "5" * 5000 + ":10:100", "3:10:%d" % 2 ** 64):
        cap = "URI:CHK:%s:%s:%s" % (KEY, UEB, numbers)
        for url in (webapi.path(cap), webapi.path(cap, query="t=json"),
                    webapi.url + "named/%s/x.txt" % cap.replace(":", "%3A")):
            r = await webapi.get(url)
            webapi.expect(r, 400, tahoe=r.code)
            if webapi.ours:
                assert_plain_400(r, "Invalid cap")
        r = await webapi.post(webapi.path(root, query="t=uri&name=big&uri=" + cap))
        webapi.expect(r, 400, tahoe=r.code)
        children = {"big": ["filenode", {"ro_uri": cap}]}
        r = await webapi.post(webapi.path(root, query="t=set_children"),
                              json.dumps(children).encode())
        webapi.expect(r, 400, tahoe=r.code)
        if webapi.ours:
            assert_plain_400(r, "Invalid cap")
    if webapi.ours:
        assert (await webapi.json(webapi.path(root, query="t=json")))[1]["children"] == {}


def _form_with_filename_star(value: bytes):
    boundary = b"----bad-input-boundary"
    body = (b"--" + boundary + b"\r\n"
            b'Content-Disposition: form-data; name="file"; filename*=' + value + b"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n"
            b"some file contents\r\n"
            b"--" + boundary + b"--\r\n")
    return body, "multipart/form-data; boundary=" + boundary.decode()


@pytest_twisted.ensureDeferred
async def test_form_filename_in_an_unknown_charset(webapi):
    root = await webapi.mkdir()
    for value in (b"nosuchcodec''x", b"hex''41", b"rot13''abc"):
        body, ctype = _form_with_filename_star(value)
        for url in (webapi.url + "uri?t=upload", webapi.path(root, query="t=upload")):
            r = await webapi.post(url, body, headers={"Content-Type": ctype})
            webapi.expect(r, 400, tahoe=r.code)
            if webapi.ours:
                assert_plain_400(r, "unknown charset")
    # a known charset is decoded
    body, ctype = _form_with_filename_star(b"utf-8''r%C3%A9sum%C3%A9.txt")
    r = await webapi.post(webapi.path(root, query="t=upload"), body,
                          headers={"Content-Type": ctype})
    assert r.code == 200, r.text
    children = (await webapi.json(webapi.path(root, query="t=json")))[1]["children"]
    if webapi.ours:
        assert list(children) == ["r\u00e9sum\u00e9.txt"]


@pytest_twisted.ensureDeferred
async def test_children_json_nested_deep(webapi):
    if not webapi.ours:
        return      # Tahoe-LAFS 1.20 drops the connection without an answer
    root = await webapi.mkdir()
    for depth in (20000, 1000, 70):
        for url in (webapi.path(root, query="t=set_children"),
                    webapi.url + "uri?t=mkdir-with-children",
                    webapi.path(root, "sub", query="t=mkdir-with-children")):
            r = await webapi.post(url, nested(depth))
            webapi.expect(r, 400, tahoe=r.code)
            if webapi.ours:
                assert_plain_400(r, "nested more than 64 levels deep")
    # brackets inside strings are not nesting; a deep but allowed one is stored
    body = nested(40).replace(b'"x"', b'"' + b"[" * 5000 + b'"')
    r = await webapi.post(webapi.path(root, query="t=set_children"), body)
    assert r.code == 200, r.text
    kind, info = await webapi.json(webapi.path(root, query="t=json"))
    metadata = info["children"]["deep"][1]["metadata"]
    assert metadata["[" * 5000] == json.loads("[" * 40 + "]" * 40)


@pytest_twisted.ensureDeferred
async def test_children_json_that_is_not_json(webapi):
    root = await webapi.mkdir()
    for body in (b"\xff\xfe{}", b"{", b'{"a": NaN}', b'{"a": ["filenode", {"metadata": '
                 b'{"x": Infinity}, "ro_uri": "URI:LIT:mfrgg"}]}',
                 b'{"a": ["filenode", {"metadata": {"x": ' + b"1" * 5000 + b"}}]}"):
        r = await webapi.post(webapi.path(root, query="t=set_children"), body)
        webapi.expect(r, 400, tahoe=r.code)
        if webapi.ours:
            assert_plain_400(r, "the body is not the JSON of a set of children")
    if webapi.ours:     # Tahoe-LAFS 1.20 stores NaN and Infinity
        assert (await webapi.json(webapi.path(root, query="t=json")))[1]["children"] == {}


# ---- when_done= -------------------------------------------------------------------------------
FOREIGN = ["http://elsewhere.example/x?cap=%(uri)s", "https://elsewhere.example/",
           "//elsewhere.example/%(uri)s", "/\\elsewhere.example/", "\\\\elsewhere.example",
           "javascript:alert(1)", "data:text/html,x", "/\t/elsewhere.example",
           "HTTP://elsewhere.example", "\t//elsewhere.example", "ftp:x"]


@pytest_twisted.ensureDeferred
async def test_when_done_follows_only_paths_on_this_node(webapi):
    root = await webapi.mkdir()
    for target in FOREIGN:
        r = await webapi.post(webapi.path(root, query={"t": "mkdir", "name": "d",
                                                       "when_done": target}))
        # Tahoe-LAFS 1.20 redirects anywhere
        webapi.expect(r, 400, tahoe=r.code)
        if webapi.ours:
            assert_plain_400(r, "when_done=")
            assert r.header("location") is None
        for url in (webapi.url + "uri?t=upload", webapi.path(root, query="t=upload"),
                    webapi.path(root, "sub", query="t=mkdir")):
            r = await webapi.post_form(url, [("file", "f.txt", b"x"), ("when_done", target)])
            webapi.expect(r, 400, tahoe=r.code)
            if webapi.ours:
                assert_plain_400(r, "when_done=")
    if webapi.ours:
        # refused before anything was made or linked
        assert (await webapi.json(webapi.path(root, query="t=json")))[1]["children"] == {}
    # paths on this node, absolute and relative, are followed (the cap escaped)
    for target, expected in (("/uri/%(uri)s?t=info", "/uri/URI%3ALIT%3Amfrgg?t=info"),
                             (".", "."), ("../up", "../up"), ("/", "/"),
                             ("/caf\u00e9", "/caf%C3%A9")):
        r = await webapi.post(webapi.path(root, query={"t": "uri", "name": "abc",
                                                       "uri": LIT_ABC, "when_done": target}))
        assert r.code in (302, 303), r.text
        if webapi.ours:
            assert r.header("location") == expected


@pytest_twisted.ensureDeferred
async def test_nosniff_on_files_and_errors(webapi):
    if not webapi.ours:
        return      # Tahoe-LAFS 1.20 does not send it
    cap = await webapi.ok_text("PUT", webapi.url + "uri", b"<html><script>x</script>" * 10)
    root = await webapi.mkdir()
    await webapi.ok_text("PUT", webapi.path(root, "page.txt"), b"<html>", code=201)
    for url in (webapi.path(cap), webapi.path(cap, query="filename=x.txt"),
                webapi.url + "named/%s/x.txt" % cap.replace(":", "%3A"),
                webapi.path(root, "page.txt"), webapi.path(root), webapi.url,
                webapi.path(cap, query="t=bogus"), webapi.url + "uri/URI%3ACHK%3Abad"):
        r = await webapi.get(url)
        assert r.header("x-content-type-options") == "nosniff", (url, r.code)
    r = await webapi.request("HEAD", webapi.path(cap))
    assert r.header("x-content-type-options") == "nosniff"


# ---- child names ------------------------------------------------------------------------------
BAD_NAMES = [".", "..", "a\x00b", "\x00"]


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("name", BAD_NAMES)
async def test_names_a_link_may_not_have(webapi, name):
    root = await webapi.mkdir()
    q = {"name": name}
    attempts = [
        ("POST", webapi.path(root, query=dict(q, t="mkdir")), b""),
        ("POST", webapi.path(root, query=dict(q, t="uri", uri=LIT_ABC)), b""),
        ("POST", webapi.path(root, query=dict(q, t="mkdir-with-children")), b"{}"),
        ("POST", webapi.path(root, query=dict(q, t="mkdir-immutable")), b"{}"),
        ("POST", webapi.path(root, query="t=set_children"),
         json.dumps({name: ["filenode", {"ro_uri": LIT_ABC}]}).encode()),
        ("POST", webapi.url + "uri?t=mkdir-with-children",
         json.dumps({name: ["filenode", {"ro_uri": LIT_ABC}]}).encode()),
    ]
    # as path segments (sent as they are: neither the client nor Twisted's
    # server removes "." or ".." from a path)
    attempts += [
        ("PUT", webapi.path(root, name), b"file contents"),
        ("PUT", webapi.path(root, name, query="t=mkdir"), b""),
        ("PUT", webapi.path(root, name, query="t=uri"), LIT_ABC.encode()),
        ("PUT", webapi.path(root, "new-dir", name), b"file contents"),
        ("PUT", webapi.path(root, "new-dir", name, "deeper"), b"file contents"),
        ("POST", webapi.path(root, name, query="t=mkdir"), b""),
    ]
    for method, url, body in attempts:
        r = await webapi.request(method, url, body=body)
        webapi.expect(r, 400, tahoe=r.code)     # Tahoe-LAFS 1.20 links them (200)
        if webapi.ours:
            assert_plain_400(r, "Invalid child name", "cannot be the name of a child")
    if webapi.ours:
        # nothing was made on the way: not even the intermediate directory
        assert (await webapi.json(webapi.path(root, query="t=json")))[1]["children"] == {}


@pytest_twisted.ensureDeferred
async def test_names_with_a_slash(webapi):
    root = await webapi.mkdir()
    await webapi.ok_text("PUT", webapi.path(root, "f"), b"contents", code=201)
    attempts = [
        webapi.path(root, query={"t": "mkdir", "name": "a/b"}),
        webapi.path(root, query={"t": "uri", "name": "a/b", "uri": LIT_ABC}),
        webapi.path(root, query={"t": "rename", "from_name": "f", "to_name": "a/b"}),
        webapi.path(root, query={"t": "relink", "from_name": "f", "to_name": "a/b"}),
    ]
    for url in attempts:
        r = await webapi.post(url)
        # Tahoe-LAFS refuses a slash in rename and relink names, and makes a
        # child named "a/b" for mkdir and t=uri
        webapi.expect(r, 400, tahoe=r.code)
        if webapi.ours:
            assert_plain_400(r)
    r = await webapi.post_form(webapi.path(root, query="t=upload"),
                               [("file", "x", b"contents"), ("name", "a/b")])
    webapi.expect(r, 400)
    if webapi.ours:
        children = (await webapi.json(webapi.path(root, query="t=json")))[1]["children"]
        assert list(children) == ["f"]


@pytest_twisted.ensureDeferred
async def test_empty_path_segments(webapi):
    root = await webapi.mkdir()
    for method, path in (("PUT", "/a//b"), ("GET", "//"), ("POST", "//x?t=mkdir"),
                         ("PUT", "//?t=mkdir")):
        r = await webapi.request(method, webapi.path(root) + path, body=b"x")
        webapi.expect(r, 400)
        if webapi.ours:
            assert_plain_400(r, "empty segment")
    if webapi.ours:     # Tahoe-LAFS 1.20 makes "a" before it refuses "a//b"
        assert (await webapi.json(webapi.path(root, query="t=json")))[1]["children"] == {}
    # a trailing slash is no empty name
    r = await webapi.get(webapi.path(root) + "/")
    assert r.code == 200


@pytest_twisted.ensureDeferred
async def test_bad_arguments_are_refused_before_intermediate_directories_are_made(webapi):
    root = await webapi.mkdir()
    attempts = [
        ("PUT", webapi.path(root, "a", "b", "f", query="format=bogus"), b"x"),
        ("PUT", webapi.path(root, "a", "b", "f", query="replace=bogus"), b"x"),
        ("PUT", webapi.path(root, "a", "b", "f", query="offset=x"), b"x"),
        ("PUT", webapi.path(root, "a", "b", "f", query="t=bogus"), b"x"),
        ("PUT", webapi.path(root, "a", "b", query="t=mkdir&format=CHK"), b""),
        ("POST", webapi.path(root, "a", "b", query="t=mkdir-with-children"), b"{"),
        ("POST", webapi.path(root, "a", "b", query="t=mkdir-immutable"),
         json.dumps({"m": ["dirnode", {"rw_uri": root}]}).encode()),
        ("POST", webapi.path(root, "a", "b", query="t=mkdir&replace=bogus"), b""),
        ("POST", webapi.path(root, "a", "b", query="t=mkdir&when_done=http://x/"), b""),
        ("PUT", webapi.path(root, "a", "..", "f"), b"x"),
    ]
    for method, url, body in attempts:
        r = await webapi.request(method, url, body=body)
        webapi.expect(r, 400, tahoe=r.code)
        if webapi.ours:     # (Tahoe-LAFS 1.20 makes "a" and "a/b" first)
            children = (await webapi.json(webapi.path(root, query="t=json")))[1]["children"]
            assert children == {}, (method, url, r.text)


@pytest_twisted.ensureDeferred
async def test_links_with_such_names_can_be_unlinked_and_renamed(webapi):
    if not webapi.ours:
        return      # the names are written into the directory directly
    from allmydata.dirnode_format import ChildEntry, pack_entries, unpack_contents
    root = await webapi.mkdir()
    await webapi.ok_text("PUT", webapi.path(root, "ok"), b"ok", code=201)
    node = webapi.grid.client.create_node_from_uri(root.encode("ascii"))
    filenode = node.get_filenode()
    children = unpack_contents(await filenode.download_best_version(), mutable=True)
    for name in ("", "..", "a/b"):
        children[name] = ChildEntry.new(name, None, LIT_ABC.encode(), {})
    await filenode.overwrite(pack_entries(children, filenode.get_writekey(), False))

    children = (await webapi.json(webapi.path(root, query="t=json")))[1]["children"]
    assert sorted(children) == ["", "..", "a/b", "ok"]
    # such a link is read, but not replaced by an upload to its path
    r = await webapi.get(webapi.path(root, "a/b"))
    assert (r.code, r.body) == (200, b"abc")
    r = await webapi.post_form(webapi.path(root, "a/b", query="t=upload"),
                               [("file", "new", b"new contents")])
    assert_plain_400(r, "Invalid child name")
    assert (await webapi.get(webapi.path(root, "a/b"))).body == b"abc"
    r = await webapi.post(webapi.path(root, query={"t": "unlink", "name": ""}))
    assert r.code == 200, r.text
    r = await webapi.post(webapi.path(root, query={"t": "rename", "from_name": "..",
                                                   "to_name": "dots"}))
    assert r.code == 200, r.text
    r = await webapi.post(webapi.path(root, query={"t": "unlink", "name": "a/b"}))
    assert r.code == 200, r.text
    r = await webapi.post(webapi.path(root, query={"t": "unlink"}))
    assert_plain_400(r, "needs name=")
    children = (await webapi.json(webapi.path(root, query="t=json")))[1]["children"]
    assert sorted(children) == ["dots", "ok"]
