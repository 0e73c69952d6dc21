"""The welcome page, ``/`` and ``/?t=json``: the JSON in Tahoe-LAFS 1.20's
shape (against both, through the ``webapi`` fixture), and the HTML page of
our nodes: links to the status, statistics, storage and helper pages, the
node's services, the introducer's and every server's connection, and the
state of the uploader's helper connection, whose FURL never shows its
secret part."""

import json
import re

import pytest_twisted
from foolscap.api import fireEventually
from twisted.internet import reactor

from allmydata.node import create_node
from allmydata.scripts.runner import main
from allmydata.testing.nodeconfig import edit_config
from allmydata.testing.nodegrid import http_request
from allmydata.testing.ports import free_port
from allmydata.testing.waiting import eventually
from allmydata.util import base32

SERVER_KEYS = {"nodeid", "connection_status", "available_space", "nickname", "version",
               "last_received_data"}
LINK = re.compile(r'<a href="([^"]*)">')
# a FURL nobody answers at: a well-formed tub id, a port nothing listens on
DEAD_SWISSNUM = "deadhelperswissnumabcdefghijklmn"


def links(html) -> set:
    return set(LINK.findall(html))


def dead_furl() -> str:
    tubid = base32.b2a(b"\x01" * 20).decode("ascii")
    return "pb://%s@tcp:127.0.0.1:%d/%s" % (tubid, free_port(), DEAD_SWISSNUM)


async def get(url):
    r = await http_request("GET", url)
    assert r.code == 200, "%s: %d %s" % (url, r.code, r.text[:2000])
    return r


@pytest_twisted.ensureDeferred
async def test_welcome_json_shape(webapi):
    """Both answer the keys Tahoe-LAFS 1.20 answers, with values of the same
    kinds, for a client that knows three or four servers and no introducer."""
    r = await get(webapi.url + "?t=json")
    assert r.header("content-type").startswith("application/json")
    doc = json.loads(r.body)
    assert set(doc) == {"introducers", "servers"}
    assert doc["introducers"] == {"statuses": []}
    assert len(doc["servers"]) >= 3
    for server in doc["servers"]:
        assert set(server) == SERVER_KEYS
        assert server["nodeid"].startswith("v0-")
        assert server["connection_status"].lower().startswith("connected")
        assert isinstance(server["available_space"], int) and server["available_space"] > 0
        assert isinstance(server["version"], str) and server["version"]
        assert isinstance(server["nickname"], str)
        assert isinstance(server["last_received_data"], float)


@pytest_twisted.ensureDeferred
async def test_welcome_page_of_a_client(ours_webapi):
    """A client without storage server, helper or introducer: links to the
    status and statistics pages only; each server's state, times, version
    and space; no helper configured."""
    grid = ours_webapi.grid
    html = (await get(ours_webapi.url)).text
    assert links(html) == {"status", "statistics"}
    assert "Storage server: not running" in html
    assert "Upload helper: not running on this node" in html
    assert ('Uploads through a helper: <span class="state-not-configured">not configured</span>'
            in html)
    assert 'Stats gatherer: <span class="state-not-configured">not configured</span>' in html
    assert "No introducer configured" in html
    assert "Connected to 4 of 4 known storage servers" in html
    doc = json.loads((await get(ours_webapi.url + "?t=json")).body)
    rows = re.findall(r"<tr><td>(storage\d)</td>(.*?)</tr>", html)
    assert sorted(name for name, _ in rows) == ["storage%d" % i for i in range(4)]
    for name, row in rows:
        (server,) = [s for s in doc["servers"] if s["nickname"] == name]
        cells = re.findall(r"<td>(.*?)</td>", row)
        assert cells[0] == "<code>%s</code>" % server["nodeid"]
        assert cells[1] == server["connection_status"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \((just now|\d+ \w+ ago)\)",
                            cells[2]), cells[2]
        assert cells[3].endswith(" UTC (just now)") or cells[3].endswith(" ago)"), cells[3]
        assert cells[4] == server["version"] == grid.client_node.version
        assert cells[5].endswith("B")


async def _stop(*nodes):
    for node in nodes:
        if node.running:
            await node.stopService()
    await fireEventually()


@pytest_twisted.ensureDeferred
async def test_welcome_pages_of_nodes_with_introducer_and_helpers(tmp_path):
    """Alice runs a storage server and an upload helper, is connected to an
    introducer (through which she finds her own server) and to a stats
    gatherer, and is given a helper FURL nobody answers; Bob, a client,
    uploads through Alice's helper and is given a stats gatherer FURL nobody
    answers.  Their pages: the storage and helper_status links and states,
    the introducer's connection and then its loss, the helper and gatherer
    connections "not connected" and "connected" with their FURLs censored."""
    intro_dir = str(tmp_path / "introducer")
    assert main(["create-introducer", "--hostname", "127.0.0.1", "--webport", "none",
                 intro_dir]) == 0
    gatherer_dir = str(tmp_path / "gatherer")
    assert main(["create-stats-gatherer", "--hostname", "127.0.0.1", gatherer_dir]) == 0
    introducer = create_node(intro_dir, reactor)
    gatherer = create_node(gatherer_dir, reactor)
    alice = bob = None
    try:
        introducer.startService()
        gatherer.startService()
        furl = introducer.introducer_service.furl
        gatherer_furl = gatherer.stats_gatherer.furl
        alice_dir, bob_dir = str(tmp_path / "alice"), str(tmp_path / "bob")
        assert main(["create-node", "--hostname", "127.0.0.1", "--nickname", "alice",
                     "--webport", "tcp:0:interface=127.0.0.1", "--introducer", furl,
                     "--shares-needed", "1", "--shares-happy", "1", "--shares-total", "1",
                     alice_dir]) == 0
        dead = dead_furl()
        edit_config(alice_dir, {"storage": {"reserved_space": "0"}, "helper": {"enabled": "true"},
                                "client": {"helper.furl": dead,
                                           "stats_gatherer.furl": gatherer_furl}})
        alice = create_node(alice_dir, reactor)
        alice.startService()
        helper_furl = alice.helper.furl
        assert main(["create-client", "--listen", "none", "--nickname", "bob",
                     "--webport", "tcp:0:interface=127.0.0.1", "--introducer", furl,
                     bob_dir]) == 0
        edit_config(bob_dir, {"client": {"helper.furl": helper_furl,
                                         "stats_gatherer.furl": dead_furl()}})
        bob = create_node(bob_dir, reactor)
        bob.startService()
        await eventually(lambda: alice.storage_broker.get_connected_servers()
                         and bob.storage_broker.get_connected_servers()
                         and bob.client.uploader.get_helper_info()[1]
                         and alice.stats_gatherer_client.connected, 30,
                         what="both connected to alice's storage server, bob to her helper, "
                              "alice to the stats gatherer")

        html = (await get(alice.web.url)).text
        assert links(html) == {"status", "statistics", "storage", "helper_status"}
        for link in links(html):  # each page is there
            await get(alice.web.url + link)
        assert re.search(r'<a href="storage">Storage server</a>: accepting new shares, '
                         r'[0-9.]+ [kMGTPE]B available', html)
        assert '<a href="helper_status">Upload helper</a>: running, 0 active uploads' in html
        assert ('Uploads through a helper: <span class="state-not-connected">not connected</span>'
                ' (<code>%s/[CENSORED]</code>)' % dead.rsplit("/", 1)[0]) in html
        assert DEAD_SWISSNUM not in html
        assert ('Stats gatherer: <span class="state-connected">connected</span>'
                ' (<code>%s/[CENSORED]</code>)' % gatherer_furl.rsplit("/", 1)[0]) in html
        assert gatherer_furl.rsplit("/", 1)[1] not in html
        # the introducer: its FURL without the swissnum, connected, since when
        assert furl.rsplit("/", 1)[1] not in html
        row = re.search(r"<tbody><tr><td><code>(.*?)</code></td><td>(.*?)</td><td>(.*?)</td>",
                        html)
        assert row.group(1) == furl.rsplit("/", 1)[0] + "/[CENSORED]"
        assert row.group(2).startswith("Connected to tcp:127.0.0.1:")
        assert row.group(3).endswith(" UTC (just now)") or row.group(3).endswith(" ago)")
        assert "Connected to 1 of 1 known storage servers" in html
        assert "<td>alice</td>" in html
        doc = json.loads((await get(alice.web.url + "?t=json")).body)
        assert doc["introducers"]["statuses"][0].startswith("Connected to tcp:127.0.0.1:")
        assert [s["nickname"] for s in doc["servers"]] == ["alice"]

        html = (await get(bob.web.url)).text
        assert links(html) == {"status", "statistics"}
        assert "Storage server: not running" in html
        assert "Upload helper: not running on this node" in html
        assert ('Uploads through a helper: <span class="state-connected">connected</span>'
                ' (<code>%s/[CENSORED]</code>)' % helper_furl.rsplit("/", 1)[0]) in html
        assert helper_furl.rsplit("/", 1)[1] not in html
        assert 'Stats gatherer: <span class="state-not-connected">not connected</span>' in html
        assert DEAD_SWISSNUM not in html

        # the introducer goes away: the page says so
        await _stop(introducer)
        await eventually(lambda: not alice.introducer_client.connected_to_introducer(), 30,
                         what="the loss of the introducer")
        html = (await get(alice.web.url)).text
        row = re.search(r"<tbody><tr><td><code>.*?</code></td><td>(.*?)</td><td>(.*?)</td>"
                        r"<td>(.*?)</td>", html)
        assert row.group(1).startswith("Not connected; trying since ")
        assert row.groups()[1:] == ("N/A", "N/A")
        doc = json.loads((await get(alice.web.url + "?t=json")).body)
        assert doc["introducers"]["statuses"][0].startswith("Not connected")
    finally:
        await _stop(*[n for n in (bob, alice, introducer, gatherer) if n is not None])
