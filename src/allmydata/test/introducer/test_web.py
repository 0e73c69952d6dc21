"""The introducer's web page, fetched over HTTP from a real Site on 127.0.0.1."""

import json

import pytest_twisted
from twisted.internet import reactor
from twisted.web.client import Agent, readBody
from twisted.web.server import Site

from allmydata.introducer.server import IntroducerService
from allmydata.testing.introducer_grid import IntroducerGrid
from allmydata.testing.waiting import eventually
from allmydata.util import idlib
from allmydata.web.introweb import IntroducerRoot


class WebServer:
    def __init__(self, root):
        self.port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.base = "http://127.0.0.1:%d" % self.port.getHost().port

    async def get(self, path, method=b"GET"):
        response = await Agent(reactor).request(method, (self.base + path).encode("ascii"))
        body = await readBody(response)
        return response, body

    async def stop(self):
        await self.port.stopListening()


def _header(response, name):
    return response.headers.getRawHeaders(name)


def _assert_protective_headers(response):
    assert _header(response, b"X-Frame-Options") == [b"DENY"]
    assert _header(response, b"Referrer-Policy") == [b"no-referrer"]


@pytest_twisted.ensureDeferred
async def test_introducer_page_html_and_json():
    grid = IntroducerGrid()
    intro = grid.introducer
    web = WebServer(IntroducerRoot(intro.service, "the-introducer", intro.tub.tubID, "tahoe-test/1.0"))
    try:
        await grid.wait_connected()
        await eventually(lambda: intro.service.announcement_summary() == {"storage": 3, "stub_client": 1})

        response, body = await web.get("/")
        assert response.code == 200
        _assert_protective_headers(response)
        assert _header(response, b"Content-Type")[0].startswith(b"text/html")
        html = body.decode("utf-8")
        assert "Introducer Status" in html
        assert "the-introducer" in html and intro.tub.tubID in html
        assert "3 storage, 1 stub_client" in html
        for node in grid.storage:
            assert node.nickname in html
            assert node.nodeid in html
            assert "tcp:127.0.0.1:%d" % node.port in html
            # the swissnum (here the registered name "storage") never shows
            assert node.furl not in html
        assert "3, 7, 10" in html
        assert grid.client.tub.tubID in html  # the subscriber's row

        response, body = await web.get("/?t=json")
        assert response.code == 200
        _assert_protective_headers(response)
        assert _header(response, b"Content-Type")[0].startswith(b"application/json")
        data = json.loads(body)
        assert data["subscription_summary"] == {"storage": 1}
        assert data["announcement_summary"] == {"storage": 3, "stub_client": 1}
        assert data["announcement_distinct_hosts"] == {"storage": 1, "stub_client": 1}
        assert data["encoding_parameters"] == [3, 7, 10]
        anns = {a["nickname"]: a for a in data["announcements"]}
        assert set(anns) == {"storage-0", "storage-1", "storage-2", "client"}
        a0 = anns["storage-0"]
        assert a0["nodeid"] == grid.storage[0].nodeid
        assert a0["service_name"] == "storage"
        assert a0["remoteinterface_name"] == "RIStorageServer.tahoe.allmydata.com"
        assert a0["version"] == "allmydata-tahoe/test"
        assert a0["oldest_supported"] == "allmydata-tahoe/0.1"
        assert a0["location_hints"] == ["tcp:127.0.0.1:%d" % grid.storage[0].port]
        assert isinstance(a0["announced"], float)
        assert "/storage" not in body.decode("utf-8")
        [sub] = data["subscribers"]
        assert sub["nodeid"] == grid.client.tub.tubID
        assert sub["service_name"] == "storage"
        assert sub["nickname"] == "client"
        assert sub["remote_address"].startswith("127.0.0.1:")
        assert sub["since"] <= anns["client"]["announced"] + 5
    finally:
        await web.stop()
        await grid.stop()


@pytest_twisted.ensureDeferred
async def test_empty_introducer_and_errors():
    service = IntroducerService()
    nodeid_s = idlib.nodeid_b2a(b"\x01" * 20)
    web = WebServer(IntroducerRoot(service, "lonely", nodeid_s, "v"))
    try:
        response, body = await web.get("/")
        assert response.code == 200
        assert b"No announcements yet." in body and b"No subscribers yet." in body
        assert b"not set" in body

        response, body = await web.get("/?t=json")
        data = json.loads(body)
        assert data == {
            "subscription_summary": {}, "announcement_summary": {},
            "announcement_distinct_hosts": {}, "announcements": [], "subscribers": [],
            "encoding_parameters": None,
        }

        response, body = await web.get("/?t=bogus")
        assert response.code == 400
        _assert_protective_headers(response)
        assert _header(response, b"Content-Type")[0].startswith(b"text/plain")
        assert body == b"Unknown t=bogus: the introducer page offers only t=json\n"

        response, body = await web.get("/elsewhere")
        assert response.code == 404
        _assert_protective_headers(response)

        response, body = await web.get("/", method=b"POST")
        assert response.code == 405
        _assert_protective_headers(response)
    finally:
        await web.stop()
