"""The one place where errors become HTTP answers, the async render
plumbing, and form parsing, exercised over real HTTP on 127.0.0.1."""

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.web import resource
from twisted.web.client import ResponseFailed
from twisted.web.http import _DataLoss

from allmydata.immutable.download.errors import NoSharesError, NotEnoughSharesError
from allmydata.testing.nodegrid import http_request, multipart_body
from allmydata.uri import BadURIError
from allmydata.web.common import (
    RangeNotSatisfiable,
    WebError,
    async_render,
    get_format_arg,
    humanize_exception,
    make_site,
)
from allmydata.web.forms import get_form


class Boom(resource.Resource):
    isLeaf = True

    @async_render
    def render_GET(self, request):
        what = request.args[b"what"][0]
        if what == b"webError":
            raise WebError("you <b>asked</b> for it", 409)
        if what == b"unexpected":
            raise RuntimeError("a bug")
        if what == b"range":
            raise RangeNotSatisfiable(1234)
        if what == b"noshares":
            return defer.fail(NoSharesError("no shares (need 2)"))
        if what == b"notenough":
            async def later():
                await task.deferLater(reactor, 0.01, lambda: None)
                raise NotEnoughSharesError("found 1 share of 2 needed")
            return later()
        if what == b"coroutine":
            async def ok():
                await task.deferLater(reactor, 0.01, lambda: None)
                return b"fine"
            return ok()
        if what == b"midstream":
            request.setHeader(b"Content-Length", b"100")
            request.write(b"x" * 10)
            return task.deferLater(reactor, 0.01, lambda: 1 / 0)
        return b"?"

    @async_render
    async def render_POST(self, request):
        form = await get_form(request)
        names = sorted(k.decode() for k in request.args)
        parts = ["%s:%s:%d" % (p.name, p.filename, p.size) for p in form.parts]
        return (" ".join(names) + "|" + " ".join(parts) + "|" + get_format_arg(request)).encode()


@pytest.fixture
def site_url():
    port = reactor.listenTCP(0, make_site(Boom()), interface="127.0.0.1")
    yield "http://127.0.0.1:%d/" % port.getHost().port
    port.stopListening()


def get(url, what, plain=True):
    headers = {"Accept": "text/plain"} if plain else {"Accept": "text/html,*/*"}
    return http_request("GET", url + "?what=" + what, headers=headers)


@pytest_twisted.ensureDeferred
async def test_web_error_plain_and_html(site_url):
    r = await get(site_url, "webError")
    assert r.code == 409 and r.text == "you <b>asked</b> for it\n"
    assert r.header("content-type").startswith("text/plain")
    assert r.header("x-frame-options") == "DENY" and r.header("referrer-policy") == "no-referrer"
    r = await get(site_url, "webError", plain=False)
    assert r.code == 409 and r.header("content-type").startswith("text/html")
    assert "you &lt;b&gt;asked&lt;/b&gt; for it" in r.text and "<b>asked" not in r.text


@pytest_twisted.ensureDeferred
async def test_unexpected_error_is_500_without_traceback(site_url):
    for plain in (True, False):
        r = await get(site_url, "unexpected", plain)
        assert r.code == 500
        assert "RuntimeError: a bug" in r.text and "Traceback" not in r.text
        assert 'File "' not in r.text


@pytest_twisted.ensureDeferred
async def test_unrecoverable_files_are_410(site_url):
    r = await get(site_url, "noshares")
    assert r.code == 410 and r.text.startswith("NoSharesError: ")
    assert "no shares (need 2)" in r.text
    r = await get(site_url, "notenough")
    assert r.code == 410 and r.text.startswith("NotEnoughSharesError: ")
    assert "found 1 share of 2 needed" in r.text
    assert r.length == len(r.body)


@pytest_twisted.ensureDeferred
async def test_range_not_satisfiable(site_url):
    r = await get(site_url, "range")
    assert r.code == 416 and r.header("content-range") == "bytes */1234"


@pytest_twisted.ensureDeferred
async def test_coroutine_result(site_url):
    r = await get(site_url, "coroutine")
    assert r.code == 200 and r.body == b"fine" and r.length == 4


@pytest_twisted.ensureDeferred
async def test_failure_after_body_began_drops_the_connection(site_url):
    # Content-Length said 100, 10 came, then the connection closed: the client knows
    with pytest.raises(ResponseFailed) as e:
        await get(site_url, "midstream")
    assert any(f.check(_DataLoss) for f in e.value.reasons)


def test_humanize_exception():
    assert humanize_exception(WebError("x", 404)) == (404, "x")
    status, text = humanize_exception(ValueError("v"))
    assert status == 500 and "ValueError: v" in text

    class Sub(BadURIError):
        pass

    # a subclass answers like its nearest listed base
    assert humanize_exception(Sub("bad base32")) == (400, "Invalid cap: bad base32")

    class NoSuchChildError(KeyError):
        """Only the name of a known error, not the class."""

    assert humanize_exception(NoSuchChildError("x"))[0] == 500


@pytest_twisted.ensureDeferred
async def test_multipart_form_is_parsed_by_us(site_url):
    body, ctype = multipart_body([("t", "upload"), ("format", "chk"),
                                  ("file", "a.bin", b"\x00" * 200000)])
    r = await http_request("POST", site_url + "?x=1", body=body, headers={"Content-Type": ctype})
    assert r.code == 200
    # small fields joined the query arguments; the file stayed a region of the body
    assert r.text == "format t x|t:None:6 format:None:3 file:a.bin:200000|CHK"


@pytest_twisted.ensureDeferred
async def test_urlencoded_form_and_bad_multipart(site_url):
    r = await http_request("POST", site_url, body=b"format=mdmf&a=b",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.text == "a format||MDMF"
    r = await http_request("POST", site_url, body=b"garbage", headers={
        "Content-Type": "multipart/form-data; boundary=xyz", "Accept": "text/plain"})
    assert r.code == 400 and "boundary" in r.text
    r = await http_request("POST", site_url + "?format=LIT", body=b"",
                           headers={"Accept": "text/plain"})
    assert r.code == 400 and "unknown format=LIT" in r.text
