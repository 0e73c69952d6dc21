"""``/status`` of uploads through an upload helper: the client's upload says
it used the helper, and the helper's own record of the upload (on the
helper's node) is an ``up-N`` page too.  In process: storage servers and our
helper on Tubs of their own, our uploader with a connection to the helper,
one History for both, served by the ``/status`` resource on 127.0.0.1."""

import json
import re

import pytest
import pytest_twisted
from foolscap.api import Tub, fireEventually
from twisted.internet import reactor
from twisted.web import resource
from twisted.web.template import flattenString, tags

from allmydata.helper.client import HelperConnection
from allmydata.helper.interfaces import HelperUploadResults
from allmydata.history import History
from allmydata.immutable.upload import Data, Uploader, UploadStatus
from allmydata.testing.nodegrid import http_request
from allmydata.testing.storagegrid import grid_secrets
from allmydata.testing.waiting import eventually
from allmydata.util import base32
from allmydata.web.common import make_site
from allmydata.web.status import ServerNames, Status, upload_page

from ..helper.helpergrid import start_helper_grid

PARAMS = {"k": 3, "happy": 5, "n": 10, "max_segment_size": 128 * 1024}


@pytest.fixture(scope="module")
def certs():
    return [Tub().getCertData() for _ in range(6)]


@pytest_twisted.ensureDeferred
async def test_uploads_through_a_helper_are_listed(tmp_path, certs):
    history = History()
    hg = await start_helper_grid(tmp_path, certs, history=history)
    tub = Tub()
    tub.startService()
    uploader = Uploader(hg.grid.broker, grid_secrets(), PARAMS, history=history,
                        helper=HelperConnection(tub, hg.furl))
    uploader.startService()
    root = resource.Resource()
    root.putChild(b"status", Status(history, hg.grid.broker))
    port = reactor.listenTCP(0, make_site(root), interface="127.0.0.1")
    url = "http://127.0.0.1:%d/" % port.getHost().port
    try:
        await eventually(lambda: uploader.get_helper_info()[1], 30,
                         what="the connection to the helper")
        data = bytes(range(256)) * 1200
        results = await uploader.upload(Data(data, b"\x07" * 32))
        si = base32.b2a(results.storage_index).decode("ascii")

        listed = json.loads((await http_request("GET", url + "status?t=json")).body)
        uploads = [i for i in listed["recent"] if i["type"] == "upload"]
        # the client's upload, and the helper's
        assert len(uploads) == 2
        assert {i["storage-index-string"] for i in uploads} == {si}
        assert {i["total-size"] for i in uploads} == {len(data)}

        page = (await http_request("GET", url + "status")).text
        links = sorted(set(re.findall(r'href="/status/(up-[0-9]+)"', page)))
        assert len(links) == 2
        helped = []
        for link in links:
            r = await http_request("GET", url + "status/" + link)
            assert r.code == 200 and si in r.text
            if "Helper?: Yes" in r.text:
                helped.append(r.text)
        (client_page,) = helped
        assert "Ciphertext Fetched By The Helper: %d bytes" % results.ciphertext_fetched \
            in client_page
        assert results.ciphertext_fetched > 0
    finally:
        await port.stopListening()
        await uploader.stopService()
        await tub.stopService()
        await fireEventually()
        await hg.close()


def test_a_helpers_odd_results_still_render():
    """Results from another node with fields left out or of the wrong type:
    the page says "?" or "(not measured)" instead of failing."""
    status = UploadStatus()
    status.set_helper(True)
    status.set_size(1000)
    results = HelperUploadResults()
    results.timings = {"total": "soon", "storage_index": True, "peer_selection": -1.0,
                       "contacting_helper": 0.25}
    results.sharemap = {0: {b"\x01" * 20}}
    status.set_results(results)
    _title, body = upload_page(status, ServerNames())
    html = flattened(tags.div(*body))
    assert "Total: (not measured)" in html and "Storage Index: (not measured)" in html
    assert "Peer Selection: (not measured)" in html
    assert "[Contacting Helper]: 250ms" in html
    assert "Shares Pushed: ?" in html and "Ciphertext Fetched By The Helper: ? bytes" in html
    assert "File Size: 1000 bytes" in html


def flattened(tag) -> str:
    out = []
    flattenString(None, tag).addCallback(out.append)
    (html,) = out
    return html.decode("utf-8")
