"""Long operations started through the web API (as Tahoe-LAFS 1.20's web API
runs them), against our client and Tahoe-LAFS 1.20's (the ``webapi``
fixture): t=start-deep-check (with verify, repair, add-lease),
t=start-manifest, t=start-deep-size and t=start-deep-stats with ophandle=,
the redirect, polling /operations/$HANDLE until the end, the per-object
pages of a deep-check, release-after-complete, t=cancel, and the statuses
of a missing ophandle, an unknown handle and operations a file does not
have.  The results are compared with a walk of the tree computed in the
test from t=json listings (:mod:`deeptree`)."""

import json
import os

import pytest_twisted
from twisted.internet import reactor, task

from allmydata.util import base32
from allmydata.web import operations

from .deeptree import CHECKED, EXPECTED_PATHS, EXPECTED_STATS, make_tree


def new_handle() -> str:
    return base32.b2a(os.urandom(16)).decode("ascii")


async def start(webapi, url, query, code=302):
    handle = new_handle()
    r = await webapi.post(url + "?" + query + "&ophandle=" + handle)
    webapi.expect(r, code)
    return handle, r


async def poll(webapi, handle, query="t=status&output=JSON", timeout=60.0):
    """The finished operation's JSON, polled until ``finished``."""
    waited = 0.0
    while True:
        r = await webapi.get(webapi.url + "operations/" + handle + "?" + query)
        assert r.code == 200, r.text
        data = json.loads(r.body)
        if data["finished"]:
            return data
        assert waited < timeout, "the operation did not finish"
        await task.deferLater(reactor, 0.1, lambda: None)
        waited += 0.1


def assert_stats(stats):
    for key, value in EXPECTED_STATS.items():
        assert stats[key] == value, (key, stats)


@pytest_twisted.ensureDeferred
async def test_manifest_and_sizes(webapi):
    tree = await make_tree(webapi)
    url = webapi.path(tree.root)
    handle, r = await start(webapi, url, "t=start-manifest&output=JSON")
    assert r.header("location").endswith("/operations/%s?output=JSON" % handle)
    data = await poll(webapi, handle, "output=JSON")
    assert set(data) == {"finished", "origin", "manifest", "verifycaps", "storage-index", "stats"}
    assert data["origin"] == tree.objects[()][2].split(":")[2]
    manifest = {tuple(path): cap for path, cap in data["manifest"]}
    assert len(manifest) == len(data["manifest"])      # each object once
    assert set(manifest) == EXPECTED_PATHS == set(tree.objects)
    for path, (kind, cap, verifycap) in tree.objects.items():
        if kind != "unknown":
            assert manifest[path] == cap, path
    assert set(data["verifycaps"]) == {v for (_k, _c, v) in tree.objects.values() if v}
    assert set(data["storage-index"]) == tree.storage_indexes
    assert_stats(data["stats"])
    text = (await webapi.get(webapi.url + "operations/" + handle + "?output=text")).text
    lines = text.splitlines()
    assert lines[0] == "finished: yes" and len(lines) == 1 + len(EXPECTED_PATHS)
    assert " " + tree.root in lines[1:]
    r = await webapi.request("GET", webapi.url + "operations/" + handle,
                             headers={"Accept": "text/html"})
    assert r.code == 200 and "Manifest" in r.text and "sub/inner" in r.text

    handle, r = await start(webapi, url, "t=start-deep-stats")
    stats = await poll(webapi, handle)
    # the JSON of a deep-stats and of a manifest ends with its "}", that of a check with a newline
    r = await webapi.get(webapi.url + "operations/" + handle)
    assert r.body.endswith(b"\n}"), r.body[-20:]
    r = await webapi.post(webapi.path(tree.objects[("chk",)][1], query="t=check&output=JSON"))
    assert r.body.endswith(b"}\n")
    assert_stats(stats)
    assert stats["size-immutable-files"] > 0 and stats["largest-directory-children"] == 8

    handle, r = await start(webapi, url, "t=start-deep-size")
    r = await webapi.get(webapi.url + "operations/" + handle)
    while "finished: yes" not in r.text:
        await task.deferLater(reactor, 0.1, lambda: None)
        r = await webapi.get(webapi.url + "operations/" + handle)
    expected = (stats["size-immutable-files"] + stats.get("size-mutable-files", 0)
                + stats["size-directories"])
    assert r.text == "finished: yes\nsize: %d\n" % expected


@pytest_twisted.ensureDeferred
async def test_deep_check(webapi):
    tree = await make_tree(webapi)
    url = webapi.path(tree.root)
    for query in ("t=start-deep-check", "t=start-deep-check&verify=true&add-lease=true"):
        handle, r = await start(webapi, url, query + "&output=JSON")
        data = await poll(webapi, handle)
        assert data["count-objects-checked"] == CHECKED
        assert data["count-objects-healthy"] == CHECKED
        assert data["count-objects-unhealthy"] == 0 and data["count-corrupt-shares"] == 0
        assert data["list-corrupt-shares"] == [] and data["list-unhealthy-files"] == []
        assert data["root-storage-index"] == tree.objects[()][2].split(":")[2]
        assert_stats(data["stats"])
        r = await webapi.request("GET", webapi.url + "operations/" + handle,
                                 headers={"Accept": "text/html"})
        assert r.code == 200 and "Objects Checked" in r.text and "sub/inner" in r.text
        # the per-object page of every object checked
        for si in tree.storage_indexes:
            page = webapi.url + "operations/%s/%s" % (handle, si)
            obj = json.loads((await webapi.get(page + "?output=JSON")).body)
            assert obj["storage-index"] == si and obj["results"]["healthy"] is True
            r = await webapi.request("GET", page, headers={"Accept": "text/html"})
            assert r.code == 200 and si in r.text
        r = await webapi.get(webapi.url + "operations/%s/%s?output=JSON" % (handle, "a" * 26))
        webapi.expect(r, 404)

    handle, r = await start(webapi, url, "t=start-deep-check&repair=true&add-lease=true")
    data = await poll(webapi, handle)
    assert data["count-objects-checked"] == CHECKED
    assert data["count-objects-healthy-pre-repair"] == CHECKED
    assert data["count-objects-healthy-post-repair"] == CHECKED
    assert data["count-repairs-attempted"] == 0
    assert data["list-remaining-corrupt-shares"] == [] and data["list-unhealthy-files"] == []
    si = tree.objects[("chk",)][2].split(":")[2]
    obj = json.loads((await webapi.get(webapi.url + "operations/%s/%s?output=JSON"
                                       % (handle, si))).body)
    assert obj["repair-attempted"] is False and obj["storage-index"] == si
    r = await webapi.request("GET", webapi.url + "operations/" + handle,
                             headers={"Accept": "text/html"})
    assert r.code == 200 and "Repairs Attempted" in r.text


@pytest_twisted.ensureDeferred
async def test_handle_release_and_cancel(webapi):
    tree = await make_tree(webapi)
    url = webapi.path(tree.root)
    handle, _r = await start(webapi, url, "t=start-deep-stats")
    await poll(webapi, handle)
    # read again and again while kept
    await poll(webapi, handle)
    r = await webapi.get(webapi.url + "operations/%s?output=JSON&release-after-complete=true"
                         % handle)
    assert r.code == 200 and json.loads(r.body)["finished"] is True
    r = await webapi.get(webapi.url + "operations/%s?output=JSON" % handle)
    webapi.expect(r, 404)

    handle, _r = await start(webapi, url, "t=start-deep-check&verify=true&retain-for=600")
    r = await webapi.post(webapi.url + "operations/%s?t=cancel&output=JSON" % handle)
    assert r.code == 200, r.text
    r = await webapi.get(webapi.url + "operations/%s?output=JSON" % handle)
    webapi.expect(r, 404)

    # Tahoe-LAFS 1.20 starts the operation, then fails to redirect (a 500)
    handle, r = await start(webapi, url, "t=start-deep-stats&when_done=/done-here",
                            code=302 if webapi.ours else 500)
    if webapi.ours:
        assert r.header("location") == "/done-here"
    await poll(webapi, handle)


@pytest_twisted.ensureDeferred
async def test_operation_errors(webapi):
    tree = await make_tree(webapi)
    url = webapi.path(tree.root)
    for t in ("start-deep-check", "start-manifest", "start-deep-size", "start-deep-stats"):
        r = await webapi.post(url + "?t=" + t)
        webapi.expect(r, 400)
        r = await webapi.post(url + "?t=%s&ophandle=" % t)
        webapi.expect(r, 400)
        # a file has none of them
        r = await webapi.post(webapi.path(tree.objects[("chk",)][1],
                                          query="t=%s&ophandle=%s" % (t, new_handle())))
        webapi.expect(r, 400)
    for query in ("t=start-deep-check&verify=sure", "t=start-deep-check&repair=x",
                  "t=start-deep-check&add-lease=2"):
        r = await webapi.post(url + "?%s&ophandle=%s" % (query, new_handle()))
        webapi.expect(r, 400)
    for path in ("operations/" + new_handle(), "operations/" + new_handle() + "?t=status",
                 "operations/" + new_handle() + "?output=JSON"):
        r = await webapi.get(webapi.url + path)
        webapi.expect(r, 404)
    r = await webapi.post(webapi.url + "operations/%s?t=cancel" % new_handle())
    webapi.expect(r, 404)


@pytest_twisted.ensureDeferred
async def test_bad_ophandles_and_retain_for(webapi):
    if not webapi.ours:
        return      # Tahoe-LAFS 1.20 takes any ophandle= and crashes on retain-for=x (a 500)
    tree = await make_tree(webapi)
    url = webapi.path(tree.root)
    table = webapi.grid.client_node.web.root.operations
    before = set(table.handles())
    for handle in ("a%2Fb", "x" * 201, "caf%C3%A9", "a%20b", "%FF"):
        r = await webapi.post(url + "?t=start-deep-stats&ophandle=" + handle)
        webapi.expect(r, 400)
    for retain in ("soon", "-1", "1.5"):
        r = await webapi.post(url + "?t=start-deep-stats&retain-for=%s&ophandle=%s"
                              % (retain, new_handle()))
        webapi.expect(r, 400)
    assert set(table.handles()) == before      # nothing was started
    handle, _r = await start(webapi, url, "t=start-deep-check")
    await poll(webapi, handle)
    for bad, code in (("not-base32!", 400), ("abc", 400), ("aaaa", 404)):
        r = await webapi.get(webapi.url + "operations/%s/%s?output=JSON" % (handle, bad))
        webapi.expect(r, code)


@pytest_twisted.ensureDeferred
async def test_too_many_handles(ours_webapi, monkeypatch):
    webapi = ours_webapi
    tree = await make_tree(webapi)
    table = webapi.grid.client_node.web.root.operations
    monkeypatch.setattr(operations, "MAX_HANDLES", len(table.handles()) + 1)
    first, _r = await start(webapi, webapi.path(tree.root), "t=start-deep-stats")
    r = await webapi.post(webapi.path(tree.root, query="t=start-deep-stats&ophandle=" +
                                      new_handle()))
    assert r.code == 503 and "release some" in r.text
    # a handle in use may be taken over; a released one makes room
    r = await webapi.post(webapi.path(tree.root, query="t=start-deep-stats&ophandle=" + first))
    assert r.code == 302
    await poll(webapi, first, "output=JSON&release-after-complete=true")
    await start(webapi, webapi.path(tree.root), "t=start-deep-stats")
