"""The web server's log lines, over real HTTP on 127.0.0.1: one access-log
line per request with the caps of its path and query censored, and the
failure of a request logged without the cap it was about."""

import urllib.parse

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.logger import globalLogPublisher
from twisted.web import resource

from allmydata import uri
from allmydata.scripts.logging import censored_line
from allmydata.testing.nodegrid import http_request
from allmydata.util import base32
from allmydata.web.common import async_render, make_site

WRITEKEY = bytes(range(16))
CAP = uri.DirectoryURI(uri.WriteableSSKFileURI(WRITEKEY, bytes(range(32)))).to_string().decode()
FILECAP = uri.CHKFileURI(bytes(range(16, 32)), bytes(32), 2, 3, 999).to_string().decode()
SECRETS = (base32.b2a(WRITEKEY).decode(), base32.b2a(bytes(range(16, 32))).decode())


class CapPage(resource.Resource):
    """``/uri/$CAP[/...]``: 200, or a bug (a 500) whose message quotes the cap."""

    isLeaf = True

    def __init__(self, cap):
        resource.Resource.__init__(self)
        self._cap = cap

    @async_render
    def render_GET(self, request):
        if request.args.get(b"t") == [b"boom"]:
            raise RuntimeError("cannot list %r" % (self._cap,))
        return b"ok"

    render_PUT = render_POST = render_GET


class CapRoute(resource.Resource):
    def getChild(self, name, request):
        return CapPage(name)


class Root(resource.Resource):
    def __init__(self):
        resource.Resource.__init__(self)
        for route in (b"uri", b"cap", b"file", b"named"):
            self.putChild(route, CapRoute())


@pytest.fixture
def site_url():
    port = reactor.listenTCP(0, make_site(Root()), interface="127.0.0.1")
    yield "http://127.0.0.1:%d/" % port.getHost().port
    port.stopListening()


@pytest.fixture
def events():
    seen = []
    globalLogPublisher.addObserver(seen.append)
    yield seen
    globalLogPublisher.removeObserver(seen.append)


def access_lines(events):
    return [e["log_io"] for e in events if str(e.get("log_io", "")).startswith("web: ")]


def assert_no_cap(text):
    for secret in SECRETS:
        assert secret not in text, text
    assert "URI:DIR2:" + SECRETS[0][:4] not in text and "URI%3ADIR2%3A" not in text


@pytest_twisted.ensureDeferred
async def test_access_log_censors_caps_in_path_and_query(site_url, events):
    q = urllib.parse.quote(CAP, safe="")
    requests = [
        ("GET", "uri/%s?t=json" % q, "GET /uri/[CENSORED]?t=json HTTP/1.1\" 200 2"),
        ("PUT", "uri/%s/sub/new.txt?t=uri&uri=%s" % (q, urllib.parse.quote(FILECAP, safe="")),
         "PUT /uri/[CENSORED]/sub/new.txt?t=uri&uri=[CENSORED] HTTP/1.1\" 200 2"),
        ("POST", "cap/%s?t=set_children&when_done=/uri/%s/" % (q, q),
         "POST /cap/[CENSORED]?t=set_children&when_done=[CENSORED] HTTP/1.1\" 200 2"),
        ("GET", "named/%s/report.pdf" % FILECAP, "GET /named/[CENSORED]/report.pdf HTTP/1.1\" 200 2"),
        ("GET", "file/%s/x?filename=%s" % (q, q),
         "GET /file/[CENSORED]/x?filename=URI:DIR2:[CENSORED] HTTP/1.1\" 200 2"),
    ]
    for method, path, _ in requests:
        r = await http_request(method, site_url + path, body=b"" if method != "GET" else None,
                               headers={"Referer": site_url + "uri/" + q})
        assert r.code == 200
    lines = access_lines(events)
    assert len(lines) == len(requests), lines
    for line, (_, _, expected) in zip(lines, requests, strict=True):
        assert line == 'web: 127.0.0.1 "%s' % expected
        assert_no_cap(line)


@pytest_twisted.ensureDeferred
async def test_a_failed_request_is_logged_without_its_cap(site_url, events):
    r = await http_request("GET", site_url + "uri/%s/a?t=boom" % urllib.parse.quote(CAP, safe=""),
                           headers={"Accept": "text/plain"})
    assert r.code == 500
    failures = [e for e in events if e.get("log_failure") is not None]
    assert len(failures) == 1
    event = failures[0]
    assert event["uri"] == "/uri/[CENSORED]/a?t=boom" and event["method"] == "GET"
    # the exception's message quotes the cap: the line written to the log does not
    line = censored_line(event)
    assert "RuntimeError: cannot list b'URI:DIR2:[CENSORED]'" in line
    assert "web request GET /uri/[CENSORED]/a?t=boom failed" in line
    assert_no_cap(line)
    assert access_lines(events) == ['web: 127.0.0.1 "GET /uri/[CENSORED]/a?t=boom HTTP/1.1" 500 %d'
                                    % len(r.body)]
