"""``/status``: the operations a client node made, as HTML and as JSON in
Tahoe-LAFS 1.20's shape, and the page of each operation; against our node
and a Tahoe-LAFS 1.20 node (the ``webapi`` fixture)."""

import json
import os
import re
import subprocess
import urllib.parse

import pytest
import pytest_twisted
from twisted.internet import threads

from allmydata import uri
from allmydata.history import History
from allmydata.immutable.download.status import DownloadStatus
from allmydata.immutable.upload import UploadStatus
from allmydata.mutable.status import PublishStatus, RetrieveStatus, ServermapUpdateStatus
from allmydata.testing import refvenv
from allmydata.util import base32
from allmydata.web.status import status_json as status_json_of

CHK_DATA = b"status page test data " * 100          # 2300 bytes: a CHK file
LIT_DATA = b"tiny"                                   # a LIT cap
#: what the page of each kind of operation shows of every server (ours)
DETAILS = {
    "up": [r"\[[a-z0-9]{8}\] has share: #\d", r"Peer Selection: \d"],
    "lit": [r"Sharemap: none", r"Total Size: 4B"],
    "down": [r"Servers Used: \[", r"\[[a-z0-9]{8}\] has share: #\d",
             r"Per-Server Share Query Times:<ul><li>\[[a-z0-9]{8}\]: \d",
             r"Per-Server Segment Fetch Response Times[^:]*:<ul><li>\[[a-z0-9]{8}\]: \d"],
    "mapupdate": [r"Servers Queried: [1-9]",
                  r"Per-Server Response Times:<ul><li>\[[a-z0-9]{8}\]: query \d"],
    "publish": [r"Encoding: 2 of 4", r"\[[a-z0-9]{8}\] has share: #\d",
                r"Per-Server Response Times:<ul><li>\[[a-z0-9]{8}\]: write \d"],
    "retrieve": [r"Encoding: 2 of 4",
                 r"Per-Server Fetch Response Times:<ul><li>\[[a-z0-9]{8}\]: fetch \d"],
}
LINK = re.compile(r'href="/status/((?:up|down|mapupdate|publish|retrieve)-[0-9]+)"')


def si_of(cap: str) -> str:
    return base32.b2a(uri.from_string(cap).get_storage_index()).decode("ascii")


async def status_json(webapi) -> dict:
    r = await webapi.get(webapi.url + "status?t=json")
    assert r.code == 200, r.text
    assert r.header("content-type").startswith("application/json")
    return json.loads(r.body)


def find(items, kind, si=None, size=None) -> list:
    return [i for i in items if i["type"] == kind
            and (si is None or i["storage-index-string"] == si)
            and (size is None or i["total-size"] == size)]


@pytest_twisted.async_yield_fixture(scope="module")
async def operations(webapi):
    """Operations made once for the module's tests: a CHK and a LIT upload,
    a download of the CHK file, a mutable file made, changed, read and checked.
    Returns {name: cap}."""
    chk = await webapi.ok_text("PUT", webapi.url + "uri", CHK_DATA)
    lit = await webapi.ok_text("PUT", webapi.url + "uri", LIT_DATA)
    r = await webapi.get(webapi.path(chk))
    assert (r.code, r.body) == (200, CHK_DATA)
    mut = await webapi.ok_text("PUT", webapi.url + "uri?format=SDMF", b"first version")
    assert await webapi.ok_text("PUT", webapi.path(mut), b"second version!") == mut
    r = await webapi.get(webapi.path(mut))
    assert (r.code, r.body) == (200, b"second version!")
    r = await webapi.post(webapi.path(mut, query="t=check&output=JSON"))
    assert r.code == 200 and json.loads(r.body)["results"]["healthy"]
    yield {"chk": chk, "lit": lit, "mutable": mut}


@pytest_twisted.ensureDeferred
async def test_json_lists_every_operation(webapi, operations):
    data = await status_json(webapi)
    assert set(data) == {"active", "recent"}
    recent = data["recent"]
    for item in data["active"] + recent:
        assert {"type", "storage-index-string", "total-size", "status"} <= set(item)
    chk_si, mut_si = si_of(operations["chk"]), si_of(operations["mutable"])

    (up,) = find(recent, "upload", chk_si)
    assert up["total-size"] == len(CHK_DATA) and up["status"] == "Finished"
    assert (up["progress-hash"], up["progress-ciphertext"], up["progress-encode-push"]) == (
        1.0, 1.0, 1.0)
    if webapi.ours:     # Tahoe-LAFS 1.20 does not list LIT uploads
        (lit,) = find(recent, "upload", size=len(LIT_DATA))
        assert lit["storage-index-string"] is None and lit["status"] == "Finished"

    downloads = find(recent, "download", chk_si)
    assert downloads and all(d["progress"] == 1.0 for d in downloads)
    assert any(d["total-size"] == len(CHK_DATA) for d in downloads)

    # the mutable file: a publish for its creation and one for the change, the map
    # updates before them (MODE_WRITE), before the read (MODE_READ) and of the check
    # (MODE_CHECK), and the read
    publishes = find(recent, "publish", mut_si)
    assert len(publishes) == 2
    assert {p["total-size"] for p in publishes} == {len(b"first version"),
                                                   len(b"second version!")}
    mapupdates = find(recent, "mapupdate", mut_si)
    assert {"MODE_WRITE", "MODE_READ", "MODE_CHECK"} <= {m["mode"] for m in mapupdates}
    assert {m["total-size"] for m in mapupdates} == {"-NA-"}      # as Tahoe-LAFS 1.20 says
    retrieves = find(recent, "retrieve", mut_si)
    assert retrieves and all(r["status"] == "Finished" for r in retrieves)
    # newest first: the read came after the creation's publish
    kinds = [(i["type"], i["storage-index-string"]) for i in recent]
    assert kinds.index(("retrieve", mut_si)) < kinds.index(("publish", mut_si))


@pytest_twisted.ensureDeferred
async def test_json_by_post_as_tahoe_status_asks(webapi, operations):
    body = urllib.parse.urlencode({"t": "json", "token": "not checked here"}).encode()
    r = await webapi.post(webapi.url + "status?t=json", body,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.code == 200, r.text
    assert find(json.loads(r.body)["recent"], "upload", si_of(operations["chk"]))


@pytest_twisted.ensureDeferred
async def test_html_list_and_operation_pages(webapi, operations):
    r = await webapi.get(webapi.url + "status", headers={"Accept": "text/html"})
    assert r.code == 200 and r.header("content-type").startswith("text/html")
    assert "Active Operations" in r.text and "Recent Operations" in r.text
    chk_si, mut_si = si_of(operations["chk"]), si_of(operations["mutable"])
    assert chk_si in r.text and mut_si in r.text
    links = sorted(set(LINK.findall(r.text)))
    prefixes = {link.split("-")[0] for link in links}
    assert prefixes == {"up", "down", "mapupdate", "publish", "retrieve"}
    titles = {"up": "File Upload Status", "down": "File Download Status",
              "mapupdate": "Mutable File Servermap Update Status",
              "publish": "Mutable File Publish Status",
              "retrieve": "Mutable File Retrieve Status"}
    secrets = [operations["chk"], operations["mutable"], operations["lit"]]
    secrets += [c.split(":")[2] for c in secrets]     # the key fields alone
    named = set()
    for link in links:
        page = await webapi.get(webapi.url + "status/" + link, headers={"Accept": "text/html"})
        assert page.code == 200, (link, page.text)
        assert titles[link.split("-")[0]] in page.text
        assert "Storage Index" in page.text and "Status" in page.text
        named |= set(re.findall(r"\[([a-z0-9]{8})\]", page.text))
        if webapi.ours:
            kind = link.split("-")[0]
            if "Storage Index: (None)" in page.text:     # the LIT upload
                kind = "lit"
            for detail in DETAILS[kind]:
                assert re.search(detail, page.text), (link, detail, page.text)
        for secret in secrets:
            assert secret not in page.text, link
        if webapi.ours:     # (Tahoe-LAFS 1.20: 404)
            again = await webapi.get(webapi.url + "status/" + link + "/")
            assert again.code == 200, (link, again.text)
    if webapi.ours:
        # every server is named as the welcome page names it, on every page
        broker = webapi.grid.client_node.storage_broker
        assert named and named <= {s.get_name() for s in broker.get_known_servers()}


@pytest_twisted.ensureDeferred
async def test_download_timeline_json(webapi, operations):
    r = await webapi.get(webapi.url + "status", headers={"Accept": "text/html"})
    downs = [link for link in LINK.findall(r.text) if link.startswith("down-")]
    assert downs
    found = False
    for link in downs:
        r = await webapi.get(webapi.url + "status/%s/event_json" % link)
        assert r.code == 200, r.text
        data = json.loads(r.body)
        assert {"misc", "read", "segment", "dyhb", "block", "block_rownums", "server_info",
                "num_serverids", "serverids", "bounds"} <= set(data)
        if data["block"]:
            found = True
            assert data["num_serverids"] == len(data["server_info"]) >= 1
            assert all(len(b["row"]) == 2 for b in data["block"])
            assert data["bounds"]["min"] <= data["bounds"]["max"]
            assert data["dyhb"] and data["segment"]
        for read in data["read"]:  # time spent paused by the consumer is within the read
            if read["finish_time"] is not None:
                assert 0 <= read["paused_time"] <= read["finish_time"] - read["start_time"]
    assert found


@pytest.mark.parametrize("name", ["up-999999", "down-999999", "mapupdate-999999",
                                  "publish-999999", "retrieve-999999"])
@pytest_twisted.ensureDeferred
async def test_unknown_operation_is_404(webapi, operations, name):
    r = await webapi.get(webapi.url + "status/" + name)
    webapi.expect(r, 404)
    if webapi.ours:
        assert "only the running and the most recent" in r.text


@pytest.mark.parametrize("name,tahoe_answers", [
    ("bogus", True), ("helper-1", True), ("up-1-2", True), ("up--1", True),
    # Tahoe-LAFS 1.20 closes the connection without an answer for these
    ("up-", False), ("up-x1", False), ("%FF-1", False)])
@pytest_twisted.ensureDeferred
async def test_malformed_operation_name_is_404(webapi, name, tahoe_answers):
    if not (webapi.ours or tahoe_answers):
        pytest.skip("Tahoe-LAFS 1.20 gives no answer")
    r = await webapi.get(webapi.url + "status/" + name)
    if webapi.ours:
        assert r.code == 404, r.text
        assert "an operation's page is /status/up-N" in r.text
    else:   # Tahoe-LAFS 1.20 answers these with a 400 or a 404
        assert r.code in (400, 404)


@pytest_twisted.ensureDeferred
async def test_unknown_t_is_400(webapi):
    r = await webapi.get(webapi.url + "status?t=bogus")
    webapi.expect(r, 400)


#: runs in Tahoe-LAFS 1.20's Python: its ``tahoe status`` renders our JSON (stdin)
RENDER_WITH_TAHOE = """
import json, sys
from allmydata.scripts.tahoe_status import render_active, render_recent
data = json.load(sys.stdin)
render_active(sys.stdout, data)
render_recent(True, sys.stdout, data)
"""


@pytest.mark.interop
@pytest_twisted.ensureDeferred
async def test_tahoe_status_renders_our_json(webapi, operations):
    """Tahoe-LAFS 1.20's ``tahoe status`` prints our lists: the node's
    recent operations, and running ones of every kind."""
    if not webapi.ours:
        pytest.skip("this reads our node's JSON")
    data = await status_json(webapi)
    running = History()
    up, down = UploadStatus(), DownloadStatus(b"\x01" * 16, 5000)
    up.set_size(4000)
    up.set_progress(0, 1.0)
    down.set_progress(0.5)
    mapupdate = ServermapUpdateStatus(b"\x02" * 16, "MODE_READ")
    for s, add in ((up, running.add_upload), (down, running.add_download),
                   (mapupdate, running.add_mapupdate),
                   (PublishStatus(b"\x03" * 16), running.add_publish),
                   (RetrieveStatus(b"\x04" * 16), running.add_retrieve)):
        s.set_status("Working")
        add(s)
    data["active"] = status_json_of(running)["active"]
    assert len(data["active"]) == 5
    venv = refvenv.ensure_ref_venv()

    def run():
        return subprocess.run([os.path.join(venv, "bin", "python"), "-c", RENDER_WITH_TAHOE],
                              input=json.dumps(data).encode(), capture_output=True,
                              env=refvenv.clean_env({"PYTHONIOENCODING": "utf-8"}),
                              timeout=120)
    p = await threads.deferToThread(run)
    assert p.returncode == 0, p.stderr.decode()
    out = p.stdout.decode()
    assert "Active operations:" in out and "Recent operations:" in out
    assert out.count("Working") == 5
    assert si_of(operations["chk"]) in out and si_of(operations["mutable"]) in out
    for label in (" put ", " get ", "mapup", " pub ", "retr "):
        assert label in out
