"""The pieces that turn client input into values or 400s: ASCII numbers,
redirect targets, JSON bodies with bounded nesting, multipart charsets,
and errors raised while Twisted looks a resource up (served over HTTP on
127.0.0.1)."""

import json

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.web import resource

from allmydata.testing.nodegrid import http_request
from allmydata.web.common import (MAX_BYTE_COUNT, WebError, ascii_decimal, get_arg,
                                  local_location, make_site)
from allmydata.web.filenode import parse_range
from allmydata.web.forms import MultipartError, _parse_part_headers
from allmydata.web.jsonbody import MAX_DEPTH, nesting_depth, parse_json_body


# ---- numbers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, value", [
    ("0", 0), ("17", 17), ("007", 7), ("0" * 5000, 0), ("0" * 5000 + "12", 12),
    (str(MAX_BYTE_COUNT), MAX_BYTE_COUNT), (str(MAX_BYTE_COUNT + 1), MAX_BYTE_COUNT + 1),
    ("9" * 21, MAX_BYTE_COUNT + 1), ("9" * 5000, MAX_BYTE_COUNT + 1),
    ("", None), ("\u00b2", None), ("\u0661\u0662", None), ("1\u00b2", None), ("+1", None),
    ("-1", None), (" 1", None), ("1_000", None), ("1e3", None), ("\uff11", None),
])
def test_ascii_decimal(text, value):
    assert ascii_decimal(text) == value


@pytest.mark.parametrize("header", ["bytes=\u00b2-", "bytes=0-\u00b9", b"bytes=\xb2-",
                                    "bytes=\u0661-", "bytes=1-2\u00a0"])
def test_a_range_header_outside_ascii_is_refused(header):
    with pytest.raises(WebError, match="Range header is not ASCII") as e:
        parse_range(header, 100)
    assert e.value.status == 400


@pytest.mark.parametrize("header, expected", [
    ("bytes=5-" + "9" * 5000, (5, 95)),
    ("bytes=-" + "9" * 5000, (0, 100)),
    ("bytes=" + "0" * 5000 + "5-" + "0" * 5000 + "9", (5, 5)),
])
def test_ranges_with_long_numbers(header, expected):
    assert parse_range(header, 100) == expected


# ---- when_done= -------------------------------------------------------------------------------
@pytest.mark.parametrize("target, location", [
    ("/uri/URI%3ALIT%3Amfrgg", "/uri/URI%3ALIT%3Amfrgg"), ("/", "/"), (".", "."),
    ("../x?y=1#z", "../x?y=1#z"), ("x/y", "x/y"), ("/a:b", "/a:b"), ("?t=info", "?t=info"),
    ("/caf\u00e9", "/caf%C3%A9"), ("/%2F%2Fhost", "/%2F%2Fhost"),
])
def test_local_location_follows_paths(target, location):
    assert local_location(target) == location


@pytest.mark.parametrize("target", [
    "http://host/", "HTTPS://host", "//host/x", "///host", "/\\host", "\\\\host", "/x\\y",
    "javascript:alert(1)", "data:text/html,x", "mailto:a@b", "a:b", "/\t/host", "\t//host",
    "/\n/host", "/ /host", " //host", "/\x7f", "/\x00",
])
def test_local_location_refuses_other_sites(target):
    with pytest.raises(WebError, match="when_done= must be a path on this node") as e:
        local_location(target)
    assert e.value.status == 400


# ---- JSON bodies ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, depth", [
    ("{}", 1), ("[]", 1), ("1", 0), ('{"a": [1, {"b": []}]}', 4), ('["[[[[", "]"]', 1),
    ('{"a\\"[[": "\\\\"}', 1), ("[" * 20000 + "]" * 20000, MAX_DEPTH + 1),
])
def test_nesting_depth(text, depth):
    assert nesting_depth(text) == depth


def test_parse_json_body_bounds_the_nesting():
    for depth in (MAX_DEPTH + 1, 1000, 200000):
        with pytest.raises(WebError, match="nested more than %d levels deep" % MAX_DEPTH):
            parse_json_body(b"[" * depth + b"]" * depth, "a test body")
    deepest = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json_body(deepest, "x") == json.loads(deepest)


@pytest.mark.parametrize("body, complaint", [
    (b"\xff{}", "not UTF-8"), (b"{", "Expecting"), (b"[NaN]", "NaN is not a JSON value"),
    (b"[-Infinity]", "-Infinity is not a JSON value"), (b"[" + b"1" * 5000 + b"]", "digits"),
])
def test_parse_json_body_refuses(body, complaint):
    with pytest.raises(WebError, match=complaint) as e:
        parse_json_body(body, "a test body")
    assert e.value.status == 400 and "the body is not a test body" in str(e.value)


# ---- multipart filename* ------------------------------------------------------------------------
def _disposition(star: bytes) -> bytes:
    return b'Content-Disposition: form-data; name="file"; filename*=' + star


@pytest.mark.parametrize("star, filename", [
    (b"utf-8''r%C3%A9sum%C3%A9.txt", "r\u00e9sum\u00e9.txt"),
    (b"UTF-8'en'a%20b", "a b"), (b"iso-8859-1''caf%E9", "caf\u00e9"), (b"''plain", "plain"),
])
def test_filename_star_in_a_known_charset(star, filename):
    assert _parse_part_headers(_disposition(star)) == ("file", filename, None)


@pytest.mark.parametrize("charset", [b"nosuchcodec", b"hex", b"base64", b"rot13", b"zlib",
                                     b"idna", b"x\x00y", b"utf-8\xff"])
def test_filename_star_in_another_charset_is_a_400(charset):
    with pytest.raises(MultipartError, match="filename\\*") as e:
        _parse_part_headers(_disposition(charset + b"''abc%41"))
    assert e.value.status == 400


# ---- errors raised while a resource is looked up ---------------------------------------------
class Picky(resource.Resource):
    """Raises from getChild, or from a render method that is not wrapped in
    async_render, as a resource of Twisted's own style would."""

    def getChild(self, name, request):
        if name == b"webError":
            raise WebError("looked up a bad name", 409)
        if name == b"bug":
            raise RuntimeError("a lookup bug")
        return self

    def render_GET(self, request):
        return ("t is %s" % get_arg(request, "t", "")).encode("utf-8")


@pytest.fixture
def picky_url():
    port = reactor.listenTCP(0, make_site(Picky()), interface="127.0.0.1")
    yield "http://127.0.0.1:%d/" % port.getHost().port
    port.stopListening()


@pytest_twisted.ensureDeferred
async def test_errors_of_lookup_and_plain_render_are_answered_like_handlers(picky_url):
    plain = {"Accept": "text/plain"}
    r = await http_request("GET", picky_url + "webError", headers=plain)
    assert (r.code, r.text) == (409, "looked up a bad name\n")
    r = await http_request("GET", picky_url + "x?t=%FF", headers=plain)
    assert r.code == 400 and r.text == ("t= is not UTF-8 text (byte 0xff at position 0, after "
                                        "URL-decoding)\n")
    assert r.header("x-content-type-options") == "nosniff"
    r = await http_request("HEAD", picky_url + "x?t=%FF", headers=plain)
    assert r.code == 400 and r.body == b""
    r = await http_request("GET", picky_url + "bug", headers=plain)
    assert r.code == 500 and "RuntimeError: a lookup bug" in r.text and "Traceback" not in r.text
    r = await http_request("GET", picky_url + "x?t=ok", headers=plain)
    assert (r.code, r.text) == (200, "t is ok")
