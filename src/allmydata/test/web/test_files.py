"""The web API for immutable files against a real in-process grid: 4 storage
nodes and a client (k=2, happy=3, n=4, 64 KiB segments) built from node
directories, talked to over HTTP on 127.0.0.1."""

import os
import re
import urllib.parse

import pytest
import pytest_twisted

from allmydata.testing.nodegrid import http_request, multipart_body, start_grid
from allmydata.util import base32

SEGMENT = 64 * 1024
PLAIN = {"Accept": "text/plain"}


@pytest_twisted.async_yield_fixture(scope="module")
async def grid(tmp_path_factory):
    g = await start_grid(tmp_path_factory.mktemp("webgrid"), storage_count=4, needed=2, happy=3,
                         total=4, max_segment_size=SEGMENT)
    try:
        yield g
    finally:
        await g.stop()


def q(cap) -> str:
    return urllib.parse.quote(cap, safe="")


def data_of(size, seed=b"x") -> bytes:
    out, counter = [], 0
    while sum(map(len, out)) < size:
        out.append(base32.b2a(seed + b"%d" % counter) * 7)
        counter += 1
    return b"".join(out)[:size]


async def put(grid, data, query="", headers=None):
    return await http_request("PUT", grid.url + "uri" + query, body=data, headers=headers or PLAIN)


async def upload(grid, data) -> str:
    r = await put(grid, data)
    assert r.code == 200, r.text
    return r.text


@pytest.fixture(scope="module")
def big():
    return os.urandom(5 * SEGMENT + 12345)


@pytest_twisted.async_yield_fixture(scope="module")
async def big_cap(grid, big):
    yield await upload(grid, big)


@pytest_twisted.ensureDeferred
async def test_put_and_get(grid, big, big_cap):
    assert re.fullmatch(r"URI:CHK:[a-z2-7]+:[a-z2-7]+:2:4:%d" % len(big), big_cap)
    for prefix in ("uri", "cap"):
        r = await http_request("GET", grid.url + prefix + "/" + q(big_cap))
        assert r.code == 200 and r.body == big and r.length == len(big)
        assert r.header("content-type") == "text/plain"
        assert r.header("accept-ranges") == "bytes"
        assert r.header("x-frame-options") == "DENY"
        assert r.header("referrer-policy") == "no-referrer"
    si = grid.client.create_node_from_uri(big_cap).get_storage_index()
    assert r.header("etag") == '"%s"' % base32.b2a(si).decode()
    assert len(grid.share_files(si)) >= 3
    # the same bytes converge on the same cap
    assert await upload(grid, big) == big_cap


@pytest_twisted.ensureDeferred
async def test_put_answers_text_plain_cap(grid):
    r = await put(grid, data_of(1000))
    assert r.code == 200 and r.header("content-type").startswith("text/plain")
    assert r.text.startswith("URI:CHK:") and not r.text.endswith("\n")


@pytest.mark.parametrize("size", [0, 1, 55])
@pytest_twisted.ensureDeferred
async def test_literal_files(grid, size):
    data = data_of(size, b"lit")
    cap = await upload(grid, data)
    assert cap.startswith("URI:LIT:")
    r = await http_request("GET", grid.url + "uri/" + q(cap))
    assert r.code == 200 and r.body == data and r.length == size
    assert r.header("etag") is None
    r = await http_request("GET", grid.url + "uri/" + q(cap) + "?t=json")
    kind, info = r_json(r)
    assert kind == "filenode"
    assert info == {"mutable": False, "format": "CHK", "size": size, "ro_uri": cap}


def r_json(r):
    import json
    assert r.code == 200, r.text
    assert r.header("content-type").startswith("application/json")
    return json.loads(r.body)


@pytest_twisted.ensureDeferred
async def test_json(grid, big, big_cap):
    kind, info = r_json(await http_request("GET", grid.url + "uri/" + q(big_cap) + "?t=json"))
    assert kind == "filenode"
    assert info["ro_uri"] == big_cap and info["size"] == len(big)
    assert info["mutable"] is False and info["format"] == "CHK"
    node = grid.client.create_node_from_uri(big_cap)
    assert info["verify_uri"] == node.get_verify_cap().to_string().decode()
    assert info["verify_uri"].startswith("URI:CHK-Verifier:")
    assert set(info) == {"ro_uri", "size", "mutable", "format", "verify_uri"}


@pytest_twisted.ensureDeferred
async def test_t_uri_readonly_uri_and_bad_t(grid, big_cap):
    for t in ("uri", "readonly-uri"):
        r = await http_request("GET", grid.url + "uri/" + q(big_cap) + "?t=" + t)
        assert r.code == 200 and r.text == big_cap
    r = await http_request("GET", grid.url + "uri/" + q(big_cap) + "?t=bogus", headers=PLAIN)
    assert r.code == 400 and r.text == "GET file: bad t=bogus\n"


@pytest_twisted.ensureDeferred
async def test_info_page(grid, big, big_cap):
    r = await http_request("GET", grid.url + "uri/" + q(big_cap) + "?t=info")
    assert r.code == 200 and r.header("content-type").startswith("text/html")
    node = grid.client.create_node_from_uri(big_cap)
    html = r.text
    for expected in (big_cap, base32.b2a(node.get_storage_index()).decode(),
                     "%d bytes" % len(big), "CHK", "2 of 4",
                     node.get_verify_cap().to_string().decode(), "/uri/" + q(big_cap)):
        assert expected in html
    lit = await upload(grid, b"tiny")
    r = await http_request("GET", grid.url + "uri/" + q(lit) + "?t=info")
    assert r.code == 200 and "LIT" in r.text and lit in r.text


RANGES = [
    # (Range header, expected slice (start, stop) of the file)
    ("bytes=0-9", (0, 10)),
    ("bytes=%d-%d" % (SEGMENT - 5, SEGMENT + 4), (SEGMENT - 5, SEGMENT + 5)),  # across segments
    ("bytes=%d-" % (3 * SEGMENT + 7), (3 * SEGMENT + 7, None)),
    ("bytes=-100", (-100, None)),
    ("bytes=-99999999", (0, None)),
    ("bytes=%d-99999999" % (5 * SEGMENT), (5 * SEGMENT, None)),  # end clipped, tail segment
]


@pytest_twisted.ensureDeferred
async def test_ranges(grid, big, big_cap):
    url = grid.url + "uri/" + q(big_cap)
    for header, (start, stop) in RANGES:
        want = big[start:stop]
        r = await http_request("GET", url, headers={"Range": header})
        assert r.code == 206, header
        assert r.body == want and r.length == len(want), header
        first = start if start >= 0 else len(big) + start
        assert r.header("content-range") == "bytes %d-%d/%d" % (first, first + len(want) - 1,
                                                               len(big))


@pytest_twisted.ensureDeferred
async def test_ignored_and_unsatisfiable_ranges(grid, big, big_cap):
    url = grid.url + "uri/" + q(big_cap)
    for header in ("bytes=0-1,5-6", "bytes=abc", "pages=1-2", "bytes=9-2"):
        r = await http_request("GET", url, headers={"Range": header})
        assert r.code == 200 and r.body == big and r.header("content-range") is None
    for header in ("bytes=%d-" % len(big), "bytes=%d-%d" % (len(big) + 10, len(big) + 20),
                   "bytes=-0"):
        r = await http_request("GET", url, headers={"Range": header, "Accept": "text/plain"})
        assert r.code == 416, header
        assert r.header("content-range") == "bytes */%d" % len(big)
        assert "past the end" in r.text
    lit = await upload(grid, b"")
    r = await http_request("GET", grid.url + "uri/" + q(lit), headers={"Range": "bytes=0-"})
    assert r.code == 416 and r.header("content-range") == "bytes */0"


@pytest_twisted.ensureDeferred
async def test_head(grid, big, big_cap):
    url = grid.url + "uri/" + q(big_cap)
    r = await http_request("HEAD", url)
    assert r.code == 200 and r.body == b"" and r.header("content-length") == str(len(big))
    assert r.header("accept-ranges") == "bytes"
    r = await http_request("HEAD", url, headers={"Range": "bytes=10-19"})
    assert r.code == 206 and r.header("content-length") == "10"
    assert r.header("content-range") == "bytes 10-19/%d" % len(big)
    r = await http_request("HEAD", url + "?filename=a.png&save=true")
    assert r.header("content-type") == "image/png"
    assert r.header("content-disposition") == 'attachment; filename="a.png"'


@pytest_twisted.ensureDeferred
async def test_conditional_get(grid, big_cap):
    url = grid.url + "uri/" + q(big_cap)
    etag = (await http_request("HEAD", url)).header("etag")
    r = await http_request("GET", url, headers={"If-None-Match": etag})
    assert r.code == 304 and r.body == b""


@pytest_twisted.ensureDeferred
async def test_filename_and_save(grid, big, big_cap):
    url = grid.url + "uri/" + q(big_cap)
    r = await http_request("GET", url + "?filename=page.html")
    assert r.header("content-type") == "text/html" and r.header("content-disposition") is None
    assert r.body == big
    r = await http_request("GET", url + "?filename=" + q("r\u00e9sum\u00e9.pdf") + "&save=true")
    assert r.header("content-type") == "application/pdf"
    assert r.header("content-disposition") == (
        "attachment; filename=\"r_sum_.pdf\"; filename*=utf-8''r%C3%A9sum%C3%A9.pdf")
    r = await http_request("GET", url + "?save=maybe", headers=PLAIN)
    assert r.code == 400 and "save=maybe" in r.text


@pytest_twisted.ensureDeferred
async def test_named(grid, big, big_cap):
    for prefix in ("named", "file"):
        r = await http_request("GET", grid.url + "%s/%s/picture.png" % (prefix, q(big_cap)))
        assert r.code == 200 and r.body == big and r.header("content-type") == "image/png"
    r = await http_request("GET", grid.url + "named/%s/ignored/dir/notes.txt" % q(big_cap),
                           headers={"Range": "bytes=0-3"})
    assert r.code == 206 and r.body == big[:4] and r.header("content-type") == "text/plain"
    r = await http_request("GET", grid.url + "named/%s/x.json?t=json" % q(big_cap))
    assert r_json(r)[1]["ro_uri"] == big_cap
    r = await http_request("GET", grid.url + "named/", headers=PLAIN)
    assert r.code == 400


@pytest_twisted.ensureDeferred
async def test_redirect_from_uri_argument(grid, big_cap):
    r = await http_request("GET", grid.url + "uri?uri=%s&t=json" % q(big_cap))
    assert r.code == 302
    assert r.header("location") == "/uri/%s?t=json" % q(big_cap)
    r = await http_request("GET", grid.url + "cap?uri=%s" % q(big_cap))
    assert r.code == 302 and r.header("location") == "/cap/%s" % q(big_cap)
    r = await http_request("GET", grid.url + "uri", headers=PLAIN)
    assert r.code == 400 and r.text == "GET /uri requires uri=\n"


@pytest_twisted.ensureDeferred
async def test_bad_caps(grid, big_cap):
    r = await http_request("GET", grid.url + "uri/" + q("URI:CHK:abc"), headers=PLAIN)
    assert r.code == 400 and r.text.startswith("Invalid cap: ")
    r = await http_request("GET", grid.url + "uri/" + q("URI:CHK:abc"))
    assert r.code == 400 and r.header("content-type").startswith("text/html")
    assert "Invalid cap" in r.text and "Traceback" not in r.text
    r = await http_request("GET", grid.url + "uri/" + q(big_cap) + "/child", headers=PLAIN)
    assert r.code == 400 and "Files have no children" in r.text


@pytest_twisted.ensureDeferred
async def test_unknown_caps(grid):
    for cap, expected in (("FOO:bar", {}), ("ro.FOO:bar", {"ro_uri": "ro.FOO:bar"})):
        r = await http_request("GET", grid.url + "uri/" + q(cap), headers=PLAIN)
        assert r.code == 400
        assert r.text.startswith("GET unknown URI type: can only do t=info and t=json, not t=.")
        assert r_json(await http_request("GET", grid.url + "uri/" + q(cap) + "?t=json")) == [
            "unknown", expected]
        r = await http_request("GET", grid.url + "uri/" + q(cap) + "?t=info")
        assert r.code == 200 and cap in r.text


@pytest_twisted.ensureDeferred
async def test_refused_uploads(grid, big_cap):
    for query, message in (("?format=XYZ", "unknown format=XYZ"),
                           ("?t=frob", "PUT /uri accepts no t=frob")):
        r = await put(grid, b"data", query)
        assert r.code == 400 and message in r.text, query
    r = await http_request("PUT", grid.url + "uri/" + q(big_cap), body=b"x", headers=PLAIN)
    assert r.code == 400 and "immutable" in r.text
    r = await http_request("POST", grid.url + "uri?t=frob", body=b"", headers=PLAIN)
    assert r.code == 400 and "bad t=frob" in r.text
    r = await put(grid, b"x" * 100, "?format=chk")
    assert r.code == 200 and r.text.startswith("URI:CHK:")


@pytest_twisted.ensureDeferred
async def test_form_upload(grid):
    data = data_of(300000, b"form")
    body, ctype = multipart_body([("t", "upload"), ("file", "notes.txt", data)])
    # t= in the form, and the default answer: an HTML results page
    r = await http_request("POST", grid.url + "uri", body=body, headers={"Content-Type": ctype})
    assert r.code == 200 and r.header("content-type").startswith("text/html")
    cap = re.search(r"URI:CHK:[a-z2-7:0-9]+", r.text).group(0)
    assert "/named/%s/notes.txt" % q(cap) in r.text
    got = await http_request("GET", grid.url + "uri/" + q(cap))
    assert got.body == data
    # Accept: text/plain gets the bare cap
    r = await http_request("POST", grid.url + "uri?t=upload", body=body,
                           headers={"Content-Type": ctype, "Accept": "text/plain"})
    assert r.code == 200 and r.text == cap


@pytest_twisted.ensureDeferred
async def test_form_upload_redirects(grid):
    data = b"redirect me " * 100
    body, ctype = multipart_body([("file", "a", data),
                                  ("when_done", "/status?x=%20&done=%(uri)s")])
    r = await http_request("POST", grid.url + "uri?t=upload", body=body,
                           headers={"Content-Type": ctype})
    assert r.code == 302
    location = r.header("location")
    assert location.startswith("/status?x=%20&done=URI%3ACHK%3A")
    cap = urllib.parse.unquote(location.split("done=")[1])
    assert (await http_request("GET", grid.url + "uri/" + q(cap))).body == data
    body, ctype = multipart_body([("file", "a", data)])
    r = await http_request("POST", grid.url + "uri?t=upload&redirect_to_result=true", body=body,
                           headers={"Content-Type": ctype})
    assert r.code == 302 and r.header("location") == "/uri/" + q(cap)


@pytest_twisted.ensureDeferred
async def test_form_upload_errors(grid):
    body, ctype = multipart_body([("t", "upload"), ("other", "x", b"data")])
    r = await http_request("POST", grid.url + "uri", body=body,
                           headers={"Content-Type": ctype, "Accept": "text/plain"})
    assert r.code == 400 and "'file' field" in r.text
    body, ctype = multipart_body([("file", "x", b"data"), ("format", "XYZ")])
    r = await http_request("POST", grid.url + "uri?t=upload", body=body,
                           headers={"Content-Type": ctype, "Accept": "text/plain"})
    assert r.code == 400 and "unknown format=XYZ" in r.text
    # format= as a form field makes a mutable file
    body, ctype = multipart_body([("file", "x", b"data"), ("format", "MDMF")])
    r = await http_request("POST", grid.url + "uri?t=upload", body=body,
                           headers={"Content-Type": ctype, "Accept": "text/plain"})
    assert r.code == 200 and r.text.startswith("URI:MDMF:"), r.text
    r = await http_request("GET", grid.url + "uri/" + q(r.text))
    assert (r.code, r.body) == (200, b"data")
    r = await http_request("POST", grid.url + "uri?t=upload", body=b"--nope",
                           headers={"Content-Type": "multipart/form-data; boundary=zzz",
                                    "Accept": "text/plain"})
    assert r.code == 400 and "boundary" in r.text


def other_key_cap(cap: str) -> str:
    """The same cap with another encryption key: a file nobody stored."""
    parts = cap.split(":")
    parts[2] = base32.b2a(os.urandom(16)).decode()
    return ":".join(parts)


@pytest_twisted.ensureDeferred
async def test_missing_file_is_410(grid, big_cap):
    cap = other_key_cap(big_cap)
    r = await http_request("GET", grid.url + "uri/" + q(cap), headers=PLAIN)
    assert r.code == 410 and r.text.startswith("NoSharesError: ")
    # HEAD and the metadata need no shares
    r = await http_request("HEAD", grid.url + "uri/" + q(cap))
    assert r.code == 200
    r = await http_request("GET", grid.url + "uri/" + q(cap) + "?t=json")
    assert r.code == 200


@pytest_twisted.ensureDeferred
async def test_not_enough_shares_is_410(grid):
    data = data_of(2 * SEGMENT + 3, b"doomed")
    cap = await upload(grid, data)
    si = grid.client.create_node_from_uri(cap).get_storage_index()
    shares = grid.share_files(si)
    assert len(shares) >= 3
    for path in shares[1:]:
        os.unlink(path)
    r = await http_request("GET", grid.url + "uri/" + q(cap), headers=PLAIN)
    assert r.code == 410 and r.text.startswith("NotEnoughSharesError: ")
    r = await http_request("GET", grid.url + "uri/" + q(cap))
    assert r.code == 410 and r.header("content-type").startswith("text/html")


@pytest_twisted.ensureDeferred
async def test_big_upload_streams_through_a_temporary_file(grid):
    data = os.urandom(3 * 1024 * 1024 + 17)
    cap = await upload(grid, data)
    r = await http_request("GET", grid.url + "uri/" + q(cap), headers={
        "Range": "bytes=%d-%d" % (2 * 1024 * 1024 - 3, 2 * 1024 * 1024 + 2)})
    assert r.code == 206 and r.body == data[2 * 1024 * 1024 - 3:2 * 1024 * 1024 + 3]
    r = await http_request("GET", grid.url + "uri/" + q(cap))
    assert r.body == data


@pytest_twisted.ensureDeferred
async def test_client_going_away_mid_download(grid):
    from twisted.internet import endpoints, protocol, reactor
    from twisted.internet.defer import Deferred

    data = os.urandom(20 * SEGMENT)
    cap = await upload(grid, data)

    class Impatient(protocol.Protocol):
        def __init__(self):
            self.got = 0
            self.closed = Deferred()

        def connectionMade(self):
            self.transport.write(b"GET /uri/%s HTTP/1.1\r\nHost: x\r\n\r\n" % q(cap).encode())

        def dataReceived(self, chunk):
            self.got += len(chunk)
            if self.got > 1000:
                self.transport.abortConnection()

        def connectionLost(self, reason):
            self.closed.callback(self.got)

    port = int(grid.url.rsplit(":", 1)[1].strip("/"))
    endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    client = await endpoints.connectProtocol(endpoint, Impatient())
    got = await client.closed
    assert 1000 < got < len(data)
    # the node carries on serving
    r = await http_request("GET", grid.url + "uri/" + q(cap), headers={"Range": "bytes=-10"})
    assert r.code == 206 and r.body == data[-10:]


@pytest_twisted.ensureDeferred
async def test_unhappy_upload_is_explained(tmp_path):
    small = await start_grid(tmp_path, storage_count=2, needed=2, happy=3, total=4)
    try:
        r = await put(small, os.urandom(1000))
        assert r.code == 500
        assert r.text.startswith("UploadUnhappinessError: the file could not be placed on "
                                 "enough storage servers: ")
        assert "Traceback" not in r.text
    finally:
        await small.stop()
