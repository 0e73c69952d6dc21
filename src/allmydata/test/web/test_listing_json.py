"""The per-child JSON text of a big directory listing (web/directory.py)
is exactly what encoding :func:`child_json` gives, for every kind of child."""

import hashlib
import json

import pytest

from allmydata import uri
from allmydata.client import SecretHolder
from allmydata.nodemaker import NodeMaker
from allmydata.storage_client import StorageFarmBroker
from allmydata.util import base32
from allmydata.web.directory import _json_compact, child_json, child_json_body


def b32(tag, n):
    return base32.b2a(hashlib.sha256(tag).digest()[:n]).decode()


CHK = "URI:CHK:%s:%s:3:10:123456" % (b32(b"k", 16), b32(b"u", 32))
SSK = "URI:SSK:%s:%s" % (b32(b"w", 16), b32(b"f", 32))
MDMF = "URI:MDMF:%s:%s" % (b32(b"w2", 16), b32(b"f2", 32))
DIR = "URI:DIR2:%s:%s" % (b32(b"w3", 16), b32(b"f3", 32))
CAPS = [
    (CHK, None), ("URI:CHK:%s:%s:1:1:0" % (b32(b"k0", 16), b32(b"u0", 32)), None),
    ("URI:LIT:nbswy3dp", None), (SSK, None),
    (None, uri.from_string(SSK).get_readonly().to_string().decode()), (MDMF, None),
    (DIR, None), (None, uri.from_string(DIR).get_readonly().to_string().decode()),
    (None, "ro.x-tahoe-future:abc"), ("x-tahoe-future:w", "ro.x-tahoe-future:r"),
]
METADATA = {"tahoe": {"linkcrtime": 1.7e9, "linkmotime": 1.7e9 + 0.25}, "note": "caf\u00e9 \x00",
            "size": 5, "nested": [1, None, {"b": True}]}


@pytest.mark.parametrize("rw, ro", CAPS)
def test_child_text_is_the_encoded_child_json(rw, ro):
    nm = NodeMaker(StorageFarmBroker.from_rrefs([]), SecretHolder(b"s" * 32, b"c" * 32), None,
                   {"k": 3, "happy": 7, "n": 10})
    node = nm.create_from_cap(rw, ro)
    for metadata in (METADATA, {}):
        expected = _json_compact(child_json(node, metadata))
        assert child_json_body(node, _json_compact(metadata)) == expected
        # stored metadata JSON in another form (spacing, key order) goes in as it is
        stored = json.dumps(metadata, indent=2)
        assert json.loads(child_json_body(node, stored)) == json.loads(expected)
