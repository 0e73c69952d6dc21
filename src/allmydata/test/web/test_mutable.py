"""Mutable files through the web API, against our client and Tahoe-LAFS
1.20's (the ``webapi`` fixture): PUT /uri?format=SDMF|MDMF (and
mutable=true), overwrite with PUT to the write cap, in-place writes with
offset=, read-only caps refused, t=json / t=info / t=uri, ranges, 410 for a
cap whose shares are nowhere, and a multi-segment MDMF file."""

import os
import re

import pytest
import pytest_twisted

from allmydata.util import base32

SSK_RE = r"URI:SSK:[a-z2-7]{26}:[a-z2-7]{52}"
MDMF_RE = r"URI:MDMF:[a-z2-7]{26}:[a-z2-7]{52}"


@pytest.mark.parametrize("query,regex", [("format=SDMF", SSK_RE), ("format=sdmf", SSK_RE),
                                         ("mutable=true", SSK_RE), ("format=MDMF", MDMF_RE)])
@pytest_twisted.ensureDeferred
async def test_put_unlinked_mutable(webapi, query, regex):
    cap = await webapi.ok_text("PUT", webapi.url + "uri?" + query, b"abcdefghij")
    assert re.fullmatch(regex, cap), cap
    r = await webapi.get(webapi.path(cap))
    assert (r.code, r.body) == (200, b"abcdefghij")
    assert r.header("etag") is None
    kind, info = await webapi.json(webapi.path(cap, query="t=json"))
    fmt = "MDMF" if "MDMF" in regex else "SDMF"
    ro_prefix = {"SDMF": "URI:SSK-RO:", "MDMF": "URI:MDMF-RO:"}[fmt]
    assert kind == "filenode"
    assert set(info) == {"mutable", "format", "size", "ro_uri", "rw_uri", "verify_uri"}
    assert (info["mutable"], info["format"], info["size"], info["rw_uri"]) == (True, fmt, 10, cap)
    assert info["ro_uri"].startswith(ro_prefix)
    assert await webapi.ok_text("GET", webapi.path(cap, query="t=uri")) == cap
    assert await webapi.ok_text("GET", webapi.path(cap, query="t=readonly-uri")) == info["ro_uri"]
    # the read cap reads, and says so in its json
    r = await webapi.get(webapi.path(info["ro_uri"]))
    assert (r.code, r.body) == (200, b"abcdefghij")
    kind, roinfo = await webapi.json(webapi.path(info["ro_uri"], query="t=json"))
    assert "rw_uri" not in roinfo and roinfo["ro_uri"] == info["ro_uri"]
    assert roinfo["verify_uri"] == info["verify_uri"]


@pytest.mark.parametrize("fmt", ["SDMF", "MDMF"])
@pytest_twisted.ensureDeferred
async def test_overwrite_and_offset(webapi, fmt):
    cap = await webapi.ok_text("PUT", webapi.url + "uri?format=" + fmt, b"abcdefghij")
    r = await webapi.put(webapi.path(cap, query="offset=3"), b"XY")
    assert (r.code, r.text.strip()) == (200, cap)
    assert (await webapi.get(webapi.path(cap))).body == b"abcXYfghij"
    r = await webapi.put(webapi.path(cap, query="offset=9"), b"12")  # grows the file
    assert r.code == 200
    assert (await webapi.get(webapi.path(cap))).body == b"abcXYfghi12"
    r = await webapi.put(webapi.path(cap), b"new")
    assert (r.code, r.text.strip()) == (200, cap)
    r = await webapi.get(webapi.path(cap))
    assert (r.code, r.body, r.length) == (200, b"new", 3)
    r = await webapi.get(webapi.path(cap), headers={"Range": "bytes=1-1"})
    assert (r.code, r.body, r.header("content-range")) == (206, b"e", "bytes 1-1/3")
    r = await webapi.get(webapi.path(cap), headers={"Range": "bytes=5-"})
    webapi.expect(r, 416, tahoe=200)  # Tahoe sends the whole mutable file
    r = await webapi.put(webapi.path(cap, query="offset=-1"), b"XY")
    webapi.expect(r, 400)
    r = await webapi.put(webapi.path(cap, query="offset=abc"), b"XY")
    webapi.expect(r, 400, tahoe=500)

    ro = await webapi.ok_text("GET", webapi.path(cap, query="t=readonly-uri"))
    for query in (None, "offset=1"):
        r = await webapi.put(webapi.path(ro, query=query), b"zz")
        webapi.expect(r, 400)
    assert (await webapi.get(webapi.path(cap))).body == b"new"


@pytest_twisted.ensureDeferred
async def test_mutable_children(webapi):
    root = await webapi.mkdir()
    r = await webapi.put(webapi.path(root, "m", query="format=MDMF"), b"0123456789")
    webapi.expect(r, 201)
    cap = r.text.strip()
    assert re.fullmatch(MDMF_RE, cap)
    # a PUT to an existing mutable child overwrites it in place: same cap, 200
    r = await webapi.put(webapi.path(root, "m"), b"AB")
    assert (r.code, r.text.strip()) == (200, cap)
    r = await webapi.put(webapi.path(root, "m", query="offset=2"), b"CD")
    assert (r.code, r.text.strip()) == (200, cap)
    assert (await webapi.get(webapi.path(root, "m"))).body == b"ABCD"
    kind, info = await webapi.json(webapi.path(root, "m", query="t=json"))
    assert (info["rw_uri"], info["size"], info["format"]) == (cap, 4, "MDMF")
    assert set(info["metadata"]["tahoe"]) == {"linkcrtime", "linkmotime"}
    kind, dinfo = await webapi.json(webapi.path(root, query="t=json"))
    child = dinfo["children"]["m"][1]
    assert (child["rw_uri"], child["mutable"], child["format"]) == (cap, True, "MDMF")
    # offset= on an immutable child is refused
    await webapi.ok_text("PUT", webapi.path(root, "imm"), b"immutable", code=201)
    r = await webapi.put(webapi.path(root, "imm", query="offset=1"), b"CD")
    webapi.expect(r, 400)
    r = await webapi.put(webapi.path(root, "sd", query="mutable=true"), b"sdmf")
    webapi.expect(r, 201)
    assert re.fullmatch(SSK_RE, r.text.strip())
    # POST t=upload to a mutable child replaces its contents, keeping the cap
    r = await webapi.post_form(webapi.path(root, "m", query="t=upload"),
                               [("file", "x", b"via the form")])
    assert r.code == 200, r.text
    assert (await webapi.get(webapi.path(cap))).body == b"via the form"


@pytest_twisted.ensureDeferred
async def test_info_page(webapi):
    cap = await webapi.ok_text("PUT", webapi.url + "uri?format=MDMF", b"info")
    r = await webapi.get(webapi.path(cap, query="t=info"))
    assert r.code == 200 and r.header("content-type").startswith("text/html")
    assert "MDMF" in r.text or "mutable" in r.text.lower()


def _random_cap(prefix):
    return "%s%s:%s" % (prefix, base32.b2a(os.urandom(16)).decode(),
                        base32.b2a(os.urandom(32)).decode())


@pytest_twisted.ensureDeferred
async def test_missing_mutable_and_directory_are_gone(webapi):
    cap = _random_cap("URI:SSK:")
    r = await webapi.get(webapi.path(cap))
    webapi.expect(r, 410)
    kind, info = await webapi.json(webapi.path(cap, query="t=json"))
    assert kind == "filenode" and "size" not in info and info["rw_uri"] == cap
    r = await webapi.put(webapi.path(cap), b"zz")
    webapi.expect(r, 410)
    dcap = _random_cap("URI:DIR2:")
    r = await webapi.get(webapi.path(dcap, query="t=json"))
    webapi.expect(r, 410)
    for r in [await webapi.get(webapi.path(dcap, "child")),
              await webapi.put(webapi.path(dcap, "child"), b"zz")]:
        webapi.expect(r, 410)


@pytest_twisted.ensureDeferred
async def test_mdmf_several_segments(webapi):
    """MDMF segments are 128 KiB: a 300 KiB file spans three; an in-place
    write across a segment boundary and ranges in each segment."""
    data = bytearray(os.urandom(300 * 1024))
    cap = await webapi.ok_text("PUT", webapi.url + "uri?format=MDMF", bytes(data))
    r = await webapi.get(webapi.path(cap))
    assert r.code == 200 and r.body == bytes(data)
    patch = os.urandom(1000)
    offset = 128 * 1024 - 500
    r = await webapi.put(webapi.path(cap, query="offset=%d" % offset), patch)
    assert r.code == 200, r.text
    data[offset:offset + len(patch)] = patch
    for start, end in ((0, 9), (offset - 5, offset + 1500), (len(data) - 10, len(data) - 1)):
        r = await webapi.get(webapi.path(cap), headers={"Range": "bytes=%d-%d" % (start, end)})
        assert r.code == 206 and r.body == bytes(data[start:end + 1])
    assert (await webapi.get(webapi.path(cap))).body == bytes(data)
