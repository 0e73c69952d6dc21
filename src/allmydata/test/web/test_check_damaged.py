"""The check pages of damaged files on our grid (the tests corrupt and remove
share files on the storage nodes' disks, so they run on ours only): what ``t=check`` (JSON and HTML)
shows of a corrupt share found by a verify and of lost shares, what a
repair through the web API reports, and the deep-check pages that name the
damaged object and link to its own page."""

import json
import os
import re

import pytest_twisted
from twisted.internet import reactor, task

from allmydata.testing.storagegrid import flip_byte, share_layout
from allmydata.util import base32

HTML = {"Accept": "text/html"}
DATA = b"a file that will lose a share or two. " * 60


async def _upload(webapi, tag: bytes):
    cap = await webapi.ok_text("PUT", webapi.url + "uri", DATA + tag)
    kind, info = await webapi.json(webapi.path(cap, query="t=json"))
    si_text = info["verify_uri"].split(":")[2]
    return cap, si_text, base32.a2b(si_text.encode("ascii"))


def _shnum(path) -> int:
    return int(os.path.basename(path))


@pytest_twisted.ensureDeferred
async def test_corrupt_share_found_by_verify_and_repaired(ours_webapi):
    webapi = ours_webapi
    cap, si_text, si = await _upload(webapi, b"corrupt")
    victim = webapi.grid.share_files(si)[0]
    flip_byte(victim, share_layout(victim).data)
    url = webapi.path(cap)
    data = json.loads((await webapi.post(url + "?t=check&output=JSON")).body)
    assert data["results"]["healthy"] is True      # a check reads no share
    data = json.loads((await webapi.post(url + "?t=check&verify=true&output=JSON")).body)
    assert data["results"]["healthy"] is False and data["results"]["recoverable"] is True
    assert data["results"]["count-corrupt-shares"] == 1
    [(server, corrupt_si, shnum)] = data["results"]["list-corrupt-shares"]
    assert corrupt_si == si_text and shnum == _shnum(victim)
    assert re.fullmatch(r"v0-[a-z2-7]{52}", server)

    r = await webapi.request("POST", url + "?t=check&verify=true", headers=HTML)
    assert r.code == 200
    assert "Not Healthy!" in r.text and data["summary"] in r.text
    assert "sh#%d" % shnum in r.text               # the corrupt share ...
    assert re.search(r"storage\d", r.text)          # ... and servers by nickname

    r = await webapi.request("POST", url + "?t=check&verify=true&repair=true", headers=HTML)
    assert r.code == 200 and "Repair successful" in r.text, r.text
    assert "Pre-repair check results" in r.text and "sh#%d" % shnum in r.text
    data = json.loads((await webapi.post(url + "?t=check&verify=true&output=JSON")).body)
    assert data["results"]["healthy"] is True


@pytest_twisted.ensureDeferred
async def test_lost_shares_and_the_deep_check_pages(ours_webapi):
    webapi = ours_webapi
    root = await webapi.mkdir()
    cap, si_text, si = await _upload(webapi, b"lost")
    r = await webapi.put(webapi.path(root, "sick", query="t=uri"), cap.encode())
    assert r.code in (200, 201)
    for path in webapi.grid.share_files(si)[:2]:
        os.unlink(path)
    data = json.loads((await webapi.post(webapi.path(cap, query="t=check&output=JSON"))).body)
    assert data["results"]["count-shares-good"] == 2 and data["results"]["healthy"] is False
    assert data["summary"] != "Healthy"

    handle = "lost-" + si_text[:8]
    r = await webapi.post(webapi.path(root, query="t=start-deep-check&ophandle=" + handle))
    assert r.code == 302
    status = webapi.url + "operations/" + handle
    while True:
        data = json.loads((await webapi.get(status + "?output=JSON")).body)
        if data["finished"]:
            break
        await task.deferLater(reactor, 0.1, lambda: None)
    assert data["count-objects-unhealthy"] == 1
    [(path, results)] = data["list-unhealthy-files"]
    assert path == ["sick"] and results["storage-index"] == si_text
    r = await webapi.request("GET", status, headers=HTML)
    assert r.code == 200
    assert "sick" in r.text and 'href="/operations/%s/%s"' % (handle, si_text) in r.text
    r = await webapi.request("GET", status + "/" + si_text, headers=HTML)
    assert r.code == 200 and si_text in r.text and "Not Healthy!" in r.text

    r = await webapi.post(webapi.path(root, query="t=start-deep-check&repair=true&ophandle="
                                      + handle + "r"))
    status = webapi.url + "operations/" + handle + "r"
    while True:
        data = json.loads((await webapi.get(status + "?output=JSON")).body)
        if data["finished"]:
            break
        await task.deferLater(reactor, 0.1, lambda: None)
    assert data["count-repairs-attempted"] == 1 and data["count-repairs-successful"] == 1
    assert data["count-objects-healthy-post-repair"] == data["count-objects-checked"] == 2
    r = await webapi.request("GET", status, headers=HTML)
    assert r.code == 200 and "Repairs Successful: 1" in r.text
    r = await webapi.request("GET", status + "/" + si_text, headers=HTML)
    assert r.code == 200 and "Repair successful" in r.text
