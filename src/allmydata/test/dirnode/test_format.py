"""Directory contents as bytes (docs/specifications/directories.md): pack/unpack, the encrypted
write caps, metadata rules, and agreement with Tahoe-LAFS 1.20's own packer.
"""

import base64
import hashlib
import json
import os
import time
import unicodedata

import pytest

from allmydata.crypto.aes import ctr_encrypt
from allmydata.dirnode_format import (ChildEntry, DirectoryFormatError, decrypt_rwcapdata,
                                      encrypt_rwcap, legacy_hmac, normalize, pack_entries,
                                      strip_prefix_for_ro, unpack_contents, update_metadata)
from allmydata.util import hashutil
from allmydata.util.netstring import netstring

DATA = os.path.join(os.path.dirname(__file__), "data")
CHK = (b"URI:CHK:yzxcoagbetwet65ltjpbqyli3m:"
       b"6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56")
SSK = b"URI:SSK:fs6ul2fju2fvb2cfx7gt6ngycm:hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq"
SSK_RO = b"URI:SSK-RO:65ruo2zytr3uxnaxkptdoqkth4:hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq"
WK = bytes(range(16))
MD = {"tahoe": {"linkcrtime": 1234567890.5, "linkmotime": 1234567891.25}}


@pytest.fixture(scope="module")
def vector():
    with open(os.path.join(DATA, "tahoe120_dir_vector.json")) as f:
        v = json.load(f)
    v["writekey"] = base64.b64decode(v["writekey"])
    v["packed"] = base64.b64decode(v["packed"])
    v["packed_immutable"] = base64.b64decode(v["packed_immutable"])
    return v


# ---- agreement with Tahoe-LAFS 1.20 ------------------------------------------------------------
def test_unpack_tahoe_directory(vector):
    children = unpack_contents(vector["packed"], mutable=True)
    wk = vector["writekey"]
    assert set(children) == {normalize(n) for n in vector["caps"]}
    for name, (w, r) in vector["caps"].items():
        e = children[normalize(name)]
        assert e.metadata == {"tahoe": {"linkcrtime": 1234567890.5,
                                        "linkmotime": 1234567891.25}, "k\u00e9y": [1, "v"]}
        if w and not w.startswith(("ro.", "imm.")):
            assert e.rw_uri(wk) == w.encode()
        else:
            assert e.rw_uri(wk) is None
        # a reader without the writekey sees no write cap
        assert e.rw_uri(None) is None
    assert children["lit"].ro_uri == b"URI:LIT:nbswy3dp"
    assert children["ssk"].ro_uri == SSK_RO
    # "ro." is stripped when stored, "imm." is not (in a mutable directory)
    assert children["unknown-ro"].ro_uri == b"x-tahoe-future:ro2"
    assert children["imm-unknown"].ro_uri == b"imm.x-tahoe-future:imm"


def test_repack_is_byte_identical_to_tahoe(vector):
    """Entries rebuilt from their caps and metadata give Tahoe's bytes
    (salt, ciphertext, MAC, JSON, order)."""
    wk = vector["writekey"]
    parsed = unpack_contents(vector["packed"], mutable=True)
    fresh = {n: ChildEntry.new(n, e.rw_uri(wk), e.ro_uri, json.loads(e.metadata_json))
             for n, e in parsed.items()}
    assert pack_entries(fresh, wk, deep_immutable=False) == vector["packed"]
    # and raw entries are written back untouched
    assert pack_entries(parsed, wk, deep_immutable=False) == vector["packed"]


def test_immutable_directory_bytes_match_tahoe(vector):
    parsed = unpack_contents(vector["packed_immutable"], mutable=False)
    assert sorted(parsed) == vector["immutable_names"]
    # imm. is stripped in an immutable directory (it is implied there)
    assert parsed["imm-unknown"].ro_uri == b"x-tahoe-future:imm"
    assert all(e.rwcapdata == b"" for e in parsed.values())
    fresh = {n: ChildEntry.new(n, None, (b"imm." if n == "imm-unknown" else b"") + e.ro_uri,
                               json.loads(e.metadata_json)) for n, e in parsed.items()}
    assert pack_entries(fresh, None, deep_immutable=True) == vector["packed_immutable"]


# ---- the encrypted write cap ----------------------------------------------------------------------
def test_rwcap_encryption_follows_formats():
    data = encrypt_rwcap(WK, SSK)
    salt = hashutil.tagged_hash(b"allmydata_dirnode_child_rwcap_to_salt_v1", SSK, 16)
    key = hashutil.tagged_pair_hash(
        b"allmydata_mutable_writekey_and_salt_to_dirnode_child_capkey_v1", salt, WK, 16)
    assert data[:16] == salt
    assert data[16:-32] == ctr_encrypt(key, SSK)
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + salt + data[16:-32]).digest()
    assert data[-32:] == hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).digest()
    assert decrypt_rwcapdata(WK, data) == SSK
    # deterministic since 1.5.0: same cap, same bytes
    assert encrypt_rwcap(WK, SSK) == data


def test_legacy_hmac_is_not_standard_hmac():
    import hmac
    key, msg = b"k" * 16, b"message"
    assert legacy_hmac(key, msg) != hmac.new(key, msg, hashlib.sha256).digest()
    assert len(legacy_hmac(key, msg)) == 32


def test_empty_rwcap_is_48_bytes_and_reads_as_absent():
    data = encrypt_rwcap(WK, b"")
    assert len(data) == 48
    e = ChildEntry("x", b"URI:LIT:mfrgg", data, b"{}", b"")
    assert e.rw_uri(WK) is None


def test_readers_ignore_the_mac_and_strip_spaces():
    data = encrypt_rwcap(WK, SSK + b"   ")
    broken = data[:-32] + b"\x00" * 32
    raw = netstring(b"a") + netstring(SSK_RO + b"  ") + netstring(broken) + netstring(b"{}")
    (e,) = unpack_contents(netstring(raw), mutable=True).values()
    assert e.rw_uri(WK) == SSK
    assert e.ro_uri == SSK_RO


def test_short_rwcapdata_is_refused():
    raw = netstring(b"a") + netstring(b"") + netstring(b"x" * 47) + netstring(b"{}")
    with pytest.raises(DirectoryFormatError):
        unpack_contents(netstring(raw), mutable=True)


def test_immutable_directory_refuses_rwcapdata():
    raw = netstring(b"a") + netstring(CHK) + netstring(encrypt_rwcap(WK, b"")) + netstring(b"{}")
    with pytest.raises(DirectoryFormatError):
        unpack_contents(netstring(raw), mutable=False)
    # the same entry is fine in a mutable directory
    assert "a" in unpack_contents(netstring(raw), mutable=True)


@pytest.mark.parametrize("data", [b"5:abc", b"x:abc,", b"3:abc", b"10:" + b"a" * 10 + b",",
                                  netstring(netstring(b"a") + netstring(b"b"))])
def test_malformed_contents(data):
    with pytest.raises(DirectoryFormatError):
        unpack_contents(data, mutable=True)


def test_bad_metadata_json_is_reported_when_read():
    raw = netstring(b"a") + netstring(CHK) + netstring(b"") + netstring(b"[1]")
    (e,) = unpack_contents(netstring(raw), mutable=False).values()
    with pytest.raises(DirectoryFormatError):
        _ = e.metadata


@pytest.mark.parametrize("data", [
    b"5" * 5000 + b":abc,",                                     # past Python's 4300-digit limit
    b"0" * 5000 + b"3:abc,",
    netstring(b"9" * 5000 + b":a," + netstring(b"") * 3),       # inside an entry
])
def test_netstring_lengths_of_thousands_of_digits_are_malformed(data):
    with pytest.raises(DirectoryFormatError, match="netstrings"):
        unpack_contents(data, mutable=True)


@pytest.mark.parametrize("metadata_json", [b"[" * 20000 + b"]" * 20000,
                                           b'{"a":' * 20000 + b"1" + b"}" * 20000])
def test_metadata_nested_too_deep_is_malformed(metadata_json):
    raw = netstring(b"a") + netstring(CHK) + netstring(b"") + netstring(metadata_json)
    (e,) = unpack_contents(netstring(raw), mutable=False).values()
    with pytest.raises(DirectoryFormatError, match="not JSON"):
        _ = e.metadata


# ---- names, order, prefixes --------------------------------------------------------------------
def test_names_are_nfc_and_sorted_by_code_point():
    decomposed = unicodedata.normalize("NFD", "caf\u00e9")
    entries = {normalize(n): ChildEntry.new(normalize(n), None, b"URI:LIT:mfrgg", dict(MD))
               for n in ("b", "B", "\u00e9", decomposed, "a")}
    packed = pack_entries(entries, WK, False)
    names = list(unpack_contents(packed, True))
    assert names == sorted(["b", "B", "\u00e9", "caf\u00e9", "a"])
    assert names == ["B", "a", "b", "caf\u00e9", "\u00e9"]
    # a name stored non-normalized (by some other writer) is normalized on the way out
    raw = netstring(decomposed.encode()) + netstring(CHK) + netstring(b"") + netstring(b"{}")
    assert list(unpack_contents(netstring(raw), False)) == ["caf\u00e9"]
    assert normalize(decomposed.encode("utf-8")) == "caf\u00e9"
    with pytest.raises(TypeError):
        normalize(5)


def test_empty_directory_is_zero_bytes():
    assert pack_entries({}, WK, False) == b""
    assert unpack_contents(b"", True) == {}


def test_strip_prefix_for_ro():
    assert strip_prefix_for_ro(b"ro.x", False) == b"x"
    assert strip_prefix_for_ro(b"ro.x", True) == b"x"
    assert strip_prefix_for_ro(b"imm.x", False) == b"imm.x"
    assert strip_prefix_for_ro(b"imm.x", True) == b"x"
    assert strip_prefix_for_ro(CHK, True) == CHK


def test_entry_layout():
    e = ChildEntry.new("n\u00e9", SSK, SSK_RO, {"a": 1})
    packed = pack_entries({"n\u00e9": e}, WK, False)
    (name, ro, rwcapdata, md), _ = _split(packed)
    assert name == "n\u00e9".encode("utf-8")
    assert ro == SSK_RO
    assert rwcapdata == encrypt_rwcap(WK, SSK)
    assert md == json.dumps({"a": 1}).encode()


def _split(packed):
    from allmydata.util.netstring import split_netstring
    (entry,), pos = split_netstring(packed, 1)
    fields, _ = split_netstring(entry, 4, required_trailer=b"")
    return fields, pos


# ---- metadata -------------------------------------------------------------------------------------
def test_metadata_new_link():
    md = update_metadata(None, None, 100.0)
    assert md == {"tahoe": {"linkcrtime": 100.0, "linkmotime": 100.0}}
    md = update_metadata(None, {"k": "v", "tahoe": {"linkcrtime": 1}}, 100.0)
    assert md == {"k": "v", "tahoe": {"linkcrtime": 100.0, "linkmotime": 100.0}}


def test_metadata_change_keeps_linkcrtime():
    old = {"k": "v", "tahoe": {"linkcrtime": 5.0, "linkmotime": 6.0}}
    kept = update_metadata(old, None, 100.0)
    assert kept == {"k": "v", "tahoe": {"linkcrtime": 5.0, "linkmotime": 100.0}}
    replaced = update_metadata(old, {"other": 1, "tahoe": {"linkcrtime": 0}}, 100.0)
    assert replaced == {"other": 1, "tahoe": {"linkcrtime": 5.0, "linkmotime": 100.0}}
    assert old == {"k": "v", "tahoe": {"linkcrtime": 5.0, "linkmotime": 6.0}}   # untouched


def test_metadata_old_ctime_becomes_linkcrtime():
    md = update_metadata({"ctime": 3.0, "mtime": 4.0}, None, 100.0)
    assert md["tahoe"] == {"linkcrtime": 3.0, "linkmotime": 100.0}
    assert md["ctime"] == 3.0


def test_metadata_must_be_a_dict():
    with pytest.raises(TypeError):
        update_metadata(None, [1], 1.0)


def test_metadata_copies_are_independent():
    raw = netstring(b"a") + netstring(CHK) + netstring(b"") + netstring(json.dumps(MD).encode())
    (e,) = unpack_contents(netstring(raw), False).values()
    c = e.metadata_copy()
    c["tahoe"]["linkcrtime"] = 0
    c["new"] = 1
    assert e.metadata == MD


# ---- re-use of parsed entries -----------------------------------------------------------------------
def _big(n, writekey=WK):
    now = time.time()
    entries = {}
    for i in range(n):
        name = "file-%05d" % i
        entries[name] = ChildEntry.new(name, SSK, SSK_RO, update_metadata(None, None, now))
    return pack_entries(entries, writekey, False)


def test_unpack_reuses_unchanged_entries():
    data = _big(50)
    first = unpack_contents(data, True)
    first["file-00007"].rw_uri(WK)             # decrypt once
    previous = {e.raw: e for e in first.values()}
    added = dict(first)
    added["new"] = ChildEntry.new("new", None, CHK, {"x": 1})
    data2 = pack_entries(added, WK, False)
    second = unpack_contents(data2, True, previous)
    assert set(second) == set(first) | {"new"}
    assert all(second[n] is first[n] for n in first)
    assert second["new"].metadata == {"x": 1}
    # packing an unchanged dict gives the same bytes again
    assert pack_entries(second, WK, False) == data2


def test_packing_reuses_raw_bytes_without_encrypting(monkeypatch):
    data = _big(20)
    children = unpack_contents(data, True)
    import allmydata.dirnode_format as fmt
    calls = []
    real = fmt.encrypt_rwcap
    monkeypatch.setattr(fmt, "encrypt_rwcap", lambda wk, cap: calls.append(cap) or real(wk, cap))
    children["zz"] = ChildEntry.new("zz", SSK, SSK_RO, {})
    pack_entries(children, WK, False)
    assert calls == [SSK]


def test_duplicate_names_last_one_wins():
    e1 = netstring(netstring(b"a") + netstring(CHK) + netstring(b"") + netstring(b'{"n": 1}'))
    e2 = netstring(netstring(b"a") + netstring(CHK) + netstring(b"") + netstring(b'{"n": 2}'))
    (e,) = unpack_contents(e1 + e2, False).values()
    assert e.metadata == {"n": 2}
