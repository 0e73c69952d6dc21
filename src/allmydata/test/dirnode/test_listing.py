"""A big directory's t=json listing made by a client that has not read the
directory before -- immutable files listed straight from their caps, without
their nodes -- is the listing the nodes give."""

import hashlib
import json

import pytest_twisted

from allmydata import uri
from allmydata.dirnode_format import ChildEntry, pack_entries, unpack_contents
from allmydata.test.dirnode.conftest import make_client
from allmydata.util import base32
from allmydata.web.directory import chk_read_cap, dirnode_json, render_dirnode_json


def b32(tag, n):
    return base32.b2a(hashlib.sha256(tag).digest()[:n]).decode()


def chk(i):
    return "URI:CHK:%s:%s:3:10:%d" % (b32(b"k%d" % i, 16), b32(b"u%d" % i, 32), 100 + i)


class Request:
    def __init__(self):
        self.headers = {}

    def setHeader(self, name, value):
        self.headers[name] = value


def test_chk_read_cap_only_for_a_lone_chk_cap():
    cap = chk(1).encode()
    assert chk_read_cap(None, cap).to_string() == cap
    assert chk_read_cap(cap, cap).to_string() == cap
    assert chk_read_cap(chk(2).encode(), cap) is None       # a different write cap wins
    assert chk_read_cap(cap, None) is None
    assert chk_read_cap(None, b"URI:LIT:nbswy3dp") is None
    assert chk_read_cap(None, b"URI:CHK:not-a-cap:3:10:5") is None
    assert chk_read_cap(None, b"imm." + cap) is None


@pytest_twisted.ensureDeferred
async def test_fresh_client_listing_matches_the_nodes(dir_grid):
    c = make_client(dir_grid)
    sub = await c.create_dirnode()
    children = {"file-%03d" % i: (chk(i), chk(i), {"i": i, "t": 1.5e9 + i}) for i in range(205)}
    children.update({
        "ro-only": (None, chk(900), {"note": "caf\u00e9"}),
        "rw-differs": (chk(901), chk(902), {}),
        "lit": (None, "URI:LIT:nbswy3dp", {}),
        "unknown": (None, "ro.x-tahoe-future:abc", {}),
        "sub": (sub.get_uri().decode(), sub.get_readonly_uri().decode(), {}),
    })
    d = await c.create_dirnode()
    await d.set_children({name: (rw, ro, md) for name, (rw, ro, md) in children.items()})
    # a malformed CHK cap, as another client may have written one
    filenode = d.get_filenode()
    entries = unpack_contents(await filenode.download_best_version(), True)
    entries["bad-chk"] = ChildEntry.new("bad-chk", None, b"URI:CHK:zzz:3:10:5", {})
    await filenode.overwrite(pack_entries(entries, filenode.get_writekey(), False))
    children["bad-chk"] = None
    for cap in (d.get_uri(), d.get_readonly_uri()):
        fresh = make_client(dir_grid).create_node_from_uri(cap)
        listed = json.loads(await render_dirnode_json(Request(), fresh))
        entries = await fresh.list_entries()
        assert entries["file-001"].node is None   # listed without making its node
        other = make_client(dir_grid).create_node_from_uri(cap)
        by_nodes = dirnode_json(other, await other.list())
        assert listed == json.loads(json.dumps(by_nodes))
        kids = listed[1]["children"]
        assert len(kids) == len(children)
        assert kids["file-007"][1]["ro_uri"] == chk(7)
        assert kids["file-007"][1]["verify_uri"] == uri.from_string(
            chk(7)).get_verifier().to_string().decode()
        assert kids["rw-differs"][1]["ro_uri"] == chk(901)   # the node is made from the write cap
        assert kids["bad-chk"][0] == "unknown"
