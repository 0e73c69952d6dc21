"""Bad input to the web API of a client node running as its own process
(an introducer, two storage nodes and a client, on 127.0.0.1): every one is
answered with a 400 and a plain message, nothing changes on the grid, and a
connection that sends half a request is closed by the node's own idle
timeout (its default, 60 seconds).  The in-process tests in
``test/web/test_bad_input.py`` and ``test/web/test_timeouts.py`` cover the
details; these check that a real node runs with them."""

import json
import socket
import urllib.parse

import pytest

from allmydata.testing.procweb import MultiClientGrid
from allmydata.util import base32
from allmydata.web.channel import IDLE_TIMEOUT

pytestmark = pytest.mark.integration

LIT_ABC = "URI:LIT:mfrgg"


@pytest.fixture(scope="module")
def module_grid(tmp_path_factory):
    yield from MultiClientGrid(tmp_path_factory.mktemp("badinput"), num_storage=2,
                           encoding=(1, 2, 2), extra_clients=0).lifetime()


@pytest.fixture
def web(module_grid):
    return module_grid.clients[0]


def assert_plain_400(r, *words):
    assert r.status == 400, r
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    assert "Internal server error" not in r.text
    for w in words:
        assert w in r.text, (w, r.text[:300])


def children(web, dircap) -> dict:
    r = web.get(dircap, query="t=json")
    assert r.status == 200, r
    return json.loads(r.body)[1]["children"]


def test_each_bad_input_is_a_400(web):
    root = web.request("POST", "/uri?t=mkdir").text.strip()
    filecap = web.upload(b"0123456789" * 10)

    assert_plain_400(web.request("GET", "/?t=%FF"), "t= is not UTF-8")
    assert_plain_400(web.get(filecap, headers={"Range": "bytes=\u00b2-"}),
                     "Range header is not ASCII")
    huge = "URI:CHK:%s:%s:3:10:%s" % (base32.b2a(b"k" * 16).decode(),
                                      base32.b2a(b"u" * 32).decode(), "5" * 5000)
    assert_plain_400(web.get(huge), "Invalid cap", "5000 digits")

    boundary = "----bad-input"
    form = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; "
            "filename*=nosuchcodec''x\r\n\r\ncontents\r\n--%s--\r\n" % (boundary, boundary))
    r = web.request("POST", web.path(root, query="t=upload"), body=form.encode("ascii"),
                    headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
    assert_plain_400(r, "unknown charset")

    deep = "[" * 20000 + "]" * 20000
    body = ('{"x": ["filenode", {"ro_uri": "%s", "metadata": {"d": %s}}]}'
            % (LIT_ABC, deep)).encode("ascii")
    assert_plain_400(web.request("POST", web.path(root, query="t=set_children"), body=body),
                     "nested more than")

    for target in ("https://elsewhere.example/%(uri)s", "//elsewhere.example/", "/\\elsewhere"):
        r = web.request("POST", web.path(root, query={"t": "mkdir", "name": "d",
                                                      "when_done": target}))
        assert_plain_400(r, "when_done=")
    r = web.request("POST", web.path(root, query={"t": "mkdir", "name": "d",
                                                  "when_done": "/uri/%(uri)s"}))
    assert r.status == 302 and r.headers["location"].startswith("/uri/URI%3ADIR2%3A"), r

    for name in (".", "..", "a/b", "nul\x00"):
        r = web.request("POST", web.path(root, query={"t": "uri", "name": name,
                                                      "uri": LIT_ABC}))
        assert_plain_400(r, "Invalid child name")
    r = web.request("PUT", web.path(root) + "/new/a%00b", body=b"contents")
    assert_plain_400(r, "Invalid child name")
    assert list(children(web, root)) == ["d"]       # "new" was not made either
    assert web.get(filecap).headers["x-content-type-options"] == "nosniff"


def test_a_half_sent_request_is_closed_by_the_node(web):
    parts = urllib.parse.urlsplit(web.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=IDLE_TIMEOUT * 3)
    try:
        sock.sendall(b"PUT /uri HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        # recv returns b"" when the node closes the connection; a socket
        # timeout (three idle timeouts) would fail the test
        assert sock.recv(1000) == b""
    finally:
        sock.close()


def test_a_content_length_of_thousands_of_digits_is_a_400(web):
    parts = urllib.parse.urlsplit(web.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=IDLE_TIMEOUT * 3)
    try:
        sock.sendall(b"PUT /uri HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + b"5" * 5000
                     + b"\r\n\r\n")
        answer = b""
        while True:
            data = sock.recv(1000)
            if not data:
                break
            answer += data
        assert answer.startswith(b"HTTP/1.1 400 Bad Request"), answer[:200]
    finally:
        sock.close()
