"""A directory tree with every kind of node, a cycle and an unknown cap, made
through a web API (ours or Tahoe-LAFS 1.20's), and the walk a deep
traversal must make of it, computed here from ``t=json`` listings alone."""

import json

import attrs

# a cap of a kind neither implementation knows: kept, listed, never fetched
UNKNOWN_CAP = "x-tahoe-crazy-future:some-cap-of-the-future"


@attrs.define
class Tree:
    root: str           # the root directory's write cap
    objects: dict       # path tuple -> ("file"|"directory"|"unknown", cap, verifycap or "")
    storage_indexes: set    # base32 SIs of the objects stored on servers


def _si(verifycap: str) -> str:
    return verifycap.split(":")[2] if verifycap else ""


async def make_tree(webapi, data=b"deep traversal test data. " * 30) -> Tree:
    """root/{chk, lit, sdmf, mdmf, unk, sub/{inner, back -> root}, imm/{f}, litdir/}."""
    root = await webapi.mkdir()

    async def put(url, body=b""):
        r = await webapi.put(url, body)
        assert r.code in (200, 201), "%s: %d %s" % (url, r.code, r.text)
        return r.text.strip()

    await put(webapi.path(root, "chk"), data + b"chk")
    await put(webapi.path(root, "lit"), b"tiny")
    await put(webapi.path(root, "sdmf", query="format=SDMF"), data)
    await put(webapi.path(root, "mdmf", query="format=MDMF"), data)
    await webapi.ok_text("POST", webapi.path(root, query="t=mkdir&name=sub"))
    await put(webapi.path(root, "sub", "inner"), data + b"inner")
    await put(webapi.path(root, "sub", "back", query="t=uri"), root.encode("ascii"))
    imm_file = await webapi.ok_text("PUT", webapi.url + "uri", data + b"imm")
    imm = await webapi.mkdir("t=mkdir-immutable", json.dumps(
        {"f": ["filenode", {"ro_uri": imm_file}]}).encode())
    litdir = await webapi.mkdir("t=mkdir-immutable", b"{}")
    await put(webapi.path(root, "imm", query="t=uri"), imm.encode())
    await put(webapi.path(root, "litdir", query="t=uri"), litdir.encode())
    r = await webapi.post(webapi.path(root, query="t=set_children"), json.dumps(
        {"unk": ["unknown", {"ro_uri": "ro." + UNKNOWN_CAP}]}).encode())
    assert r.code == 200, r.text
    return await walk(webapi, root)


async def walk(webapi, root) -> Tree:
    """Every object reachable from ``root``, once by verify cap (LIT objects
    and unknown caps at every path), found by reading ``t=json``."""
    objects, sis = {}, set()
    seen = set()
    kind, info = await webapi.json(webapi.path(root, query="t=json"))
    todo = [((), root, info)]
    objects[()] = ("directory", root, info["verify_uri"])
    seen.add(info["verify_uri"])
    sis.add(_si(info["verify_uri"]))
    while todo:
        path, cap, info = todo.pop()
        for name, (ckind, cinfo) in sorted(info["children"].items()):
            cpath = path + (name,)
            ccap = cinfo.get("rw_uri") or cinfo.get("ro_uri")
            if ckind == "unknown":
                objects[cpath] = ("unknown", ccap, "")
                continue
            verify = cinfo.get("verify_uri", "")
            if verify and verify in seen:
                continue
            seen.add(verify)
            if verify:
                sis.add(_si(verify))
            if ckind == "dirnode":
                objects[cpath] = ("directory", ccap, verify)
                _k, sub = await webapi.json(webapi.path(ccap, query="t=json"))
                todo.append((cpath, ccap, sub))
            else:
                objects[cpath] = ("file", ccap, verify)
    return Tree(root, objects, sis)


EXPECTED_PATHS = {(), ("chk",), ("lit",), ("sdmf",), ("mdmf",), ("unk",), ("sub",),
                  ("sub", "inner"), ("imm",), ("imm", "f"), ("litdir",)}
# objects stored on servers, hence checked: all but the LIT file, the LIT directory and the
# unknown cap
CHECKED = 8
EXPECTED_STATS = {"count-directories": 4, "count-files": 6, "count-immutable-files": 3,
                  "count-mutable-files": 2, "count-literal-files": 1, "count-unknown": 1}
