"""A web API under test, as a base URL: ours or the real Tahoe-LAFS 1.20's.

The directory and mutable-file tests (``test_directory.py``,
``test_mutable.py``) run their bodies against the ``webapi`` fixture, once
per implementation:

* ``"ours"``: the in-process grid of :mod:`allmydata.testing.nodegrid` (4 storage
  nodes and a client, k=2 happy=3 n=4);
* ``"tahoe-1.20"`` (marked ``interop``): three Tahoe-LAFS 1.20 storage nodes
  and a Tahoe-LAFS 1.20 client, as separate processes (the interop harness).
  It is the reference: a test that fails on it tests something Tahoe-LAFS
  does not do.

Where the two legitimately differ (Tahoe answers some errors with a 500 and
a traceback where we answer a 4xx that says what is wrong) the tests say so
through :meth:`WebAPI.expect`.
"""

import json
import os
import urllib.parse

import attrs
import pytest
import pytest_twisted

from allmydata.testing import refvenv
from allmydata.testing.nodegrid import http_request, multipart_body, start_grid
from allmydata.testing.reference import ReferenceStorageGrid, TahoeClient, running

PLAIN = {"Accept": "text/plain"}


def q(text) -> str:
    """URL-escape a cap or a child name for a path segment."""
    return urllib.parse.quote(text, safe="")


@attrs.define
class WebAPI:
    kind: str  # "ours" or "tahoe-1.20"
    url: str  # ends with "/"
    grid: object = None  # our Grid, for white-box checks of "ours" only

    @property
    def ours(self) -> bool:
        return self.kind == "ours"

    def path(self, cap, *segments, query=None) -> str:
        out = self.url + "uri/" + q(cap)
        for s in segments:
            out += "/" + (q(s) if s else "")
        if query:
            out += "?" + (query if isinstance(query, str) else urllib.parse.urlencode(query))
        return out

    async def request(self, method, url, body=None, headers=None):
        h = dict(PLAIN)
        h.update(headers or {})
        return await http_request(method, url, body=body, headers=h)

    async def get(self, url, headers=None):
        return await self.request("GET", url, headers=headers)

    async def put(self, url, body=b"", headers=None):
        return await self.request("PUT", url, body=body, headers=headers)

    async def post(self, url, body=b"", headers=None):
        return await self.request("POST", url, body=body, headers=headers)

    async def delete(self, url):
        return await self.request("DELETE", url)

    async def post_form(self, url, fields):
        body, ctype = multipart_body(fields)
        return await self.request("POST", url, body=body, headers={"Content-Type": ctype})

    async def json(self, url):
        r = await self.get(url)
        assert r.code == 200, "%s: %d %s" % (url, r.code, r.text)
        return json.loads(r.body)

    async def ok_text(self, method, url, body=b"", code=200) -> str:
        r = await self.request(method, url, body=body)
        assert r.code == code, "%s %s: %d %s" % (method, url, r.code, r.text)
        return r.text.strip()

    async def mkdir(self, query="t=mkdir", body=b"") -> str:
        return await self.ok_text("POST", self.url + "uri?" + query, body)

    def expect(self, r, code, tahoe=None):
        """Assert the status: ``code`` from ours; ``tahoe`` (default the same)
        from Tahoe-LAFS 1.20, where it differs."""
        wanted = code if self.ours or tahoe is None else tahoe
        assert r.code == wanted, "%s answered %d (expected %d): %s" % (self.kind, r.code, wanted,
                                                                         r.text[:2000])


@pytest_twisted.async_yield_fixture(scope="module")
async def ours_webapi(tmp_path_factory):
    grid = await start_grid(tmp_path_factory.mktemp("webapi-ours"), storage_count=4, needed=2,
                            happy=3, total=4)
    try:
        yield WebAPI("ours", grid.url, grid)
    finally:
        await grid.stop()


@pytest.fixture(scope="module")
def tahoe_webapi(tmp_path_factory):
    # blocking: the reactor is not running while a synchronous fixture is set up
    workdir = str(tmp_path_factory.mktemp("webapi-tahoe"))
    venv = refvenv.ensure_ref_venv()
    storage = ReferenceStorageGrid(venv, workdir, 3)
    client = TahoeClient(venv, os.path.join(workdir, "client"), 2, 3, 4)
    with running(storage, client):
        yield WebAPI("tahoe-1.20", client.url + "/")


@pytest.fixture(scope="module",
                params=["ours", pytest.param("tahoe-1.20", marks=pytest.mark.interop)])
def webapi(request):
    # (one parametrized async fixture per implementation would not do: pytest-twisted's
    # async fixtures cannot be torn down and set up again with another parameter)
    name = "ours_webapi" if request.param == "ours" else "tahoe_webapi"
    return request.getfixturevalue(name)
