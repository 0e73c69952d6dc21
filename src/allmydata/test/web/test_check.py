"""``POST ?t=check`` of every kind of file and directory (as Tahoe-LAFS 1.20's web
API answers it), run against our client and against Tahoe-LAFS 1.20's (the
``webapi`` fixture): the JSON keys and values on a healthy grid, with and
without verify=, repair= and add-lease=, the HTML page, literal objects,
named paths, when_done= and return_to=, and the statuses of bad input."""

import json
import re

import pytest_twisted

from .conftest import q

CHECK_KEYS = {"count-happiness", "count-shares-good", "count-shares-needed",
              "count-shares-expected", "count-good-share-hosts", "count-corrupt-shares",
              "list-corrupt-shares", "servers-responding", "sharemap", "count-wrong-shares",
              "count-recoverable-versions", "count-unrecoverable-versions", "healthy",
              "recoverable"}
LIT_ANSWER = {"storage-index": "", "results": {"healthy": True}}
DATA = b"a file long enough not to be a literal one. " * 40


async def check_json(webapi, url, query="t=check&output=JSON", code=200):
    r = await webapi.post(url + ("&" if "?" in url else "?") + query)
    webapi.expect(r, code)
    return json.loads(r.body)


def si_of_verifycap(verifycap: str) -> str:
    return verifycap.split(":")[2]


def assert_healthy(webapi, data, si, mutable=False):
    assert set(data) == {"storage-index", "summary", "results"}, data
    assert data["storage-index"] == si
    assert data["summary"] == "Healthy"
    r = data["results"]
    assert set(r) == CHECK_KEYS, sorted(set(r) ^ CHECK_KEYS)
    assert r["healthy"] is True and r["recoverable"] is True
    assert (r["count-shares-needed"], r["count-shares-expected"]) == (2, 4)
    assert r["count-shares-good"] == 4
    assert r["count-corrupt-shares"] == 0 and r["list-corrupt-shares"] == []
    assert r["count-wrong-shares"] == 0
    assert (r["count-recoverable-versions"], r["count-unrecoverable-versions"]) == (1, 0)
    servers = {s for holders in r["sharemap"].values() for s in holders}
    assert r["count-good-share-hosts"] == len(servers) >= 3
    assert r["count-happiness"] == len(servers)
    assert set(r["servers-responding"]) >= servers
    for s in r["servers-responding"]:
        assert re.fullmatch(r"v0-[a-z2-7]{52}", s), s
    if mutable:
        # a mutable share is named by its version: "seq1-abcd-sh0"
        named = r"seq\d+-[a-z2-7]{4}-sh[0-3]"
        for key in r["sharemap"]:
            assert re.fullmatch(named, key), key
        assert sorted(k[-1] for k in r["sharemap"]) == ["0", "1", "2", "3"]
    else:
        assert sorted(r["sharemap"]) == ["0", "1", "2", "3"]


async def _verify_uri(webapi, cap):
    kind, info = await webapi.json(webapi.path(cap, query="t=json"))
    return info["verify_uri"]


async def _check_every_way(webapi, cap, mutable=False, slash=""):
    url = webapi.path(cap) + slash
    si = si_of_verifycap(await _verify_uri(webapi, cap))
    for query in ("t=check&output=JSON", "t=check&verify=true&output=JSON",
                  "t=check&add-lease=true&output=json", "t=check&verify=t&add-lease=on&output=JSON"):
        assert_healthy(webapi, await check_json(webapi, url, query), si, mutable)
    data = await check_json(webapi, url, "t=check&repair=true&output=JSON")
    assert set(data) == {"storage-index", "repair-attempted", "repair-successful",
                         "pre-repair-results", "post-repair-results"}
    assert data["storage-index"] == si
    assert data["repair-attempted"] is False and data["repair-successful"] is False
    assert_healthy(webapi, data["pre-repair-results"], si, mutable)
    assert_healthy(webapi, data["post-repair-results"], si, mutable)
    data = await check_json(webapi, url, "t=check&repair=true&verify=true&add-lease=true&output=JSON")
    assert data["repair-attempted"] is False
    assert_healthy(webapi, data["post-repair-results"], si, mutable)
    # the HTML page
    r = await webapi.request("POST", url + "?t=check", headers={"Accept": "text/html"})
    assert r.code == 200, r.text
    assert "text/html" in r.header("content-type")
    assert si in r.text and "Healthy" in r.text
    r = await webapi.request("POST", url + "?t=check&repair=true&verify=true",
                             headers={"Accept": "text/html"})
    assert r.code == 200 and si in r.text and "Healthy" in r.text


@pytest_twisted.ensureDeferred
async def test_check_immutable_file(webapi):
    cap = await webapi.ok_text("PUT", webapi.url + "uri", DATA)
    assert cap.startswith("URI:CHK:")
    await _check_every_way(webapi, cap)


@pytest_twisted.ensureDeferred
async def test_check_mutable_files(webapi):
    for fmt in ("SDMF", "MDMF"):
        cap = await webapi.ok_text("PUT", webapi.url + "uri?format=" + fmt, DATA)
        await _check_every_way(webapi, cap, mutable=True)
        ro = await webapi.ok_text("GET", webapi.path(cap, query="t=readonly-uri"))
        si = si_of_verifycap(await _verify_uri(webapi, cap))
        assert_healthy(webapi, await check_json(webapi, webapi.path(ro)), si, mutable=True)


@pytest_twisted.ensureDeferred
async def test_check_directories(webapi):
    child = await webapi.ok_text("PUT", webapi.url + "uri", DATA)
    for query in ("t=mkdir&format=SDMF", "t=mkdir&format=MDMF"):
        cap = await webapi.mkdir(query)
        await _check_every_way(webapi, cap, mutable=True, slash="/")
        ro = await webapi.ok_text("GET", webapi.path(cap, query="t=readonly-uri"))
        si = si_of_verifycap(await _verify_uri(webapi, cap))
        assert_healthy(webapi, await check_json(webapi, webapi.path(ro)), si, mutable=True)
    children = {"f": ["filenode", {"ro_uri": child}]}
    imm = await webapi.mkdir("t=mkdir-immutable", json.dumps(children).encode())
    assert imm.startswith("URI:DIR2-CHK:")
    await _check_every_way(webapi, imm)


@pytest_twisted.ensureDeferred
async def test_check_literal_objects(webapi):
    lit = await webapi.ok_text("PUT", webapi.url + "uri", b"tiny")
    assert lit.startswith("URI:LIT:")
    litdir = await webapi.mkdir("t=mkdir-immutable", b"{}")
    assert litdir.startswith("URI:DIR2-LIT:")
    for cap in (lit, litdir):
        url = webapi.path(cap)
        for query in ("t=check&output=JSON", "t=check&verify=true&add-lease=true&output=JSON",
                      "t=check&repair=true&output=JSON"):
            assert await check_json(webapi, url, query) == LIT_ANSWER
        r = await webapi.request("POST", url + "?t=check", headers={"Accept": "text/html"})
        assert r.code == 200 and "always healthy" in r.text, r.text


@pytest_twisted.ensureDeferred
async def test_check_by_path_when_done_and_return_to(webapi):
    root = await webapi.mkdir()
    cap = await webapi.ok_text("PUT", webapi.path(root, "sub", "f\u00e9"), DATA, code=201)
    si = si_of_verifycap(await _verify_uri(webapi, cap))
    data = await check_json(webapi, webapi.path(root, "sub", "f\u00e9"))
    assert_healthy(webapi, data, si)
    sub_si = si_of_verifycap(await _verify_uri(webapi, await webapi.ok_text(
        "GET", webapi.path(root, "sub", query="t=uri"))))
    assert_healthy(webapi, await check_json(webapi, webapi.path(root, "sub") + "/"), sub_si,
                   mutable=True)
    # a form post, as the info page sends it
    info = "/uri/%s?t=info" % q(cap)
    r = await webapi.post_form(webapi.path(cap), [("t", "check"), ("return_to", info),
                                                  ("verify", "on")])
    assert r.code == 200, r.text
    assert 'href="%s"' % info.replace("&", "&amp;") in r.text
    r = await webapi.post(webapi.path(cap, query="t=check&when_done=/somewhere"))
    assert r.code in (302, 303) and r.header("location").endswith("/somewhere")


@pytest_twisted.ensureDeferred
async def test_check_bad_input(webapi):
    cap = await webapi.ok_text("PUT", webapi.url + "uri", DATA)
    url = webapi.path(cap)
    queries = ["t=check&verify=maybe", "t=check&repair=2", "t=check&add-lease=",
               "t=frobnicate", "t=start-deep-check&ophandle=x", "t=stream-manifest"]
    if webapi.ours:
        # Tahoe-LAFS 1.20 checks, then never answers (its "Bad Format" page fails to render)
        queries.append("t=check&output=XML")
    for query in queries:
        r = await webapi.post(url + "?" + query)
        webapi.expect(r, 400)
    for bad in ("URI:CHK:nope", "URI:CHK:aaaa:bbbb:2:4:100", "URI:SSK:aaaa:bbbb"):
        r = await webapi.post(webapi.path(bad, query="t=check&output=JSON"))
        # Tahoe-LAFS 1.20 takes a malformed cap for one of an unknown kind: 405 to a POST
        webapi.expect(r, 400, tahoe=405)
    root = await webapi.mkdir()
    r = await webapi.post(webapi.path(root, query="t=set_children"), json.dumps(
        {"unk": ["unknown", {"ro_uri": "ro.x-tahoe-crazy-future:cap"}]}).encode())
    assert r.code == 200, r.text
    for query in ("t=check&output=JSON", "t=check&repair=true"):
        # a cap of an unknown kind can only be read
        r = await webapi.post(webapi.path(root, "unk", query=query))
        webapi.expect(r, 405)
    r = await webapi.post(webapi.path(root, "missing", query="t=check&output=JSON"))
    webapi.expect(r, 404)
    r = await webapi.post(webapi.path(root, query="t=check&verify=perhaps"))
    webapi.expect(r, 400)
