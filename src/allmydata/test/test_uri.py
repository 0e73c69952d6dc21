"""Capability strings (uri.py): exact forms of docs/specifications/caps.md, derivations,
strict parsing, the ro./imm. prefixes, and Tahoe's own test-vector caps."""

import os

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from zope.interface.verify import verifyObject

from allmydata import uri
from allmydata.test.vectors import VECTORS_PATH
from allmydata.unknown import UnknownNode
from allmydata.uri import BadURIError, UnknownURI
from allmydata.uri_interfaces import (IDirnodeURI, IFileURI, IMutableFileURI, INewDirectoryURI,
                                      IReadonlyNewDirectoryURI, IURI, IVerifierURI)
from allmydata.util import base32, hashutil

KEY = bytes(range(16))
UEB = bytes(range(32, 64))
FP = bytes(range(100, 132))

# docs/specifications/caps.md §7 check value (56 x "a", convergence "aaaaaaaaaaaaaaaa", 1-of-1)
EXAMPLE = (b"URI:CHK:yzxcoagbetwet65ltjpbqyli3m:"
           b"6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56")
# Derived caps as printed by Tahoe-LAFS 1.20 (run as a black box) for vector caps
SSK_W = b"URI:SSK:fs6ul2fju2fvb2cfx7gt6ngycm:hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq"
SSK_R = b"URI:SSK-RO:65ruo2zytr3uxnaxkptdoqkth4:hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq"
SSK_V = (b"URI:SSK-Verifier:axxzm642zi4vozwfjdijoafbrm:"
         b"hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq")
MDMF_W = b"URI:MDMF:tn2ekpkmearz7k3bivm3ikuz3i:wcqgst36kymoirczlkok5pqdekt5lgsyfw3oh7ecoro3rj5aiyya"
MDMF_R = b"URI:MDMF-RO:ttnh3ep5nzw4caqoalpk65peba:wcqgst36kymoirczlkok5pqdekt5lgsyfw3oh7ecoro3rj5aiyya"
MDMF_V = (b"URI:MDMF-Verifier:ehx7n7d4rpyqiayoha5ym4ae4u:"
          b"wcqgst36kymoirczlkok5pqdekt5lgsyfw3oh7ecoro3rj5aiyya")
EXAMPLE_V = (b"URI:CHK-Verifier:i5nhq74zw2crkop634ra4hrvzm:"
             b"6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56")


def b32(x):
    return base32.b2a(x).decode()


def all_caps():
    chk = uri.CHKFileURI(KEY, UEB, 3, 10, 12345)
    ssk = uri.WriteableSSKFileURI(KEY, FP)
    mdmf = uri.WriteableMDMFFileURI(KEY, FP)
    lit = uri.LiteralFileURI(b"hello")
    files = [chk, chk.get_verifier(), lit, ssk, ssk.get_readonly(), ssk.get_verifier(),
             mdmf, mdmf.get_readonly(), mdmf.get_verifier()]
    dirs = [uri.DirectoryURI(ssk), uri.MDMFDirectoryURI(mdmf), uri.ImmutableDirectoryURI(chk),
            uri.LiteralDirectoryURI(lit)]
    dirs += [d.get_readonly() for d in dirs[:2]] + [d.get_verifier() for d in dirs[:3]]
    return files + dirs


def test_every_kind_round_trips():
    caps = all_caps()
    kinds = {type(c) for c in caps}
    assert len(kinds) == 18
    for cap in caps:
        s = cap.to_string()
        assert isinstance(s, bytes)
        again = uri.from_string(s)
        assert type(again) is type(cap) and again == cap and again.to_string() == s
        assert hash(again) == hash(cap)
        assert uri.from_string(s.decode()) == cap          # str input too
        assert type(cap).init_from_string(s) == cap
        assert uri.is_uri(s) and uri.has_uri_prefix(s)
        assert verifyObject(IURI, cap)
        v = cap.get_verifier()
        if v is not None:
            assert verifyObject(IVerifierURI, v) and v.get_verifier() == v
            assert v.is_readonly() and not v.is_mutable()
            assert v.get_storage_index() == cap.get_storage_index()
        r = cap.get_readonly()
        assert r.is_readonly() and r.get_readonly() is r
        assert r.is_mutable() == cap.is_mutable()
        assert r.get_storage_index() == cap.get_storage_index()
        if cap.is_readonly():
            assert r is cap


def test_exact_string_forms():
    k, u, f = b32(KEY), b32(UEB), b32(FP)
    si = b32(hashutil.storage_index_hash(KEY))
    rk = b32(hashutil.ssk_readkey_hash(KEY))
    ssi = b32(hashutil.ssk_storage_index_hash(hashutil.ssk_readkey_hash(KEY)))
    expected = [
        "URI:CHK:%s:%s:3:10:12345" % (k, u),
        "URI:CHK-Verifier:%s:%s:3:10:12345" % (si, u),
        "URI:LIT:nbswy3dp",
        "URI:SSK:%s:%s" % (k, f), "URI:SSK-RO:%s:%s" % (rk, f), "URI:SSK-Verifier:%s:%s" % (ssi, f),
        "URI:MDMF:%s:%s" % (k, f), "URI:MDMF-RO:%s:%s" % (rk, f),
        "URI:MDMF-Verifier:%s:%s" % (ssi, f),
        "URI:DIR2:%s:%s" % (k, f), "URI:DIR2-MDMF:%s:%s" % (k, f),
        "URI:DIR2-CHK:%s:%s:3:10:12345" % (k, u), "URI:DIR2-LIT:nbswy3dp",
        "URI:DIR2-RO:%s:%s" % (rk, f), "URI:DIR2-MDMF-RO:%s:%s" % (rk, f),
        "URI:DIR2-Verifier:%s:%s" % (ssi, f), "URI:DIR2-MDMF-Verifier:%s:%s" % (ssi, f),
        "URI:DIR2-CHK-Verifier:%s:%s:3:10:12345" % (si, u),
    ]
    assert [c.to_string().decode() for c in all_caps()] == expected
    assert len(k) == 26 and len(u) == 52


def test_worked_example_and_tahoe_derivations():
    cap = uri.from_string(EXAMPLE)
    assert isinstance(cap, uri.CHKFileURI)
    assert (cap.needed_shares, cap.total_shares, cap.size, cap.get_size()) == (1, 1, 56, 56)
    assert cap.key == base32.a2b(b"yzxcoagbetwet65ltjpbqyli3m")
    assert cap.get_verifier().to_string() == EXAMPLE_V
    assert cap.get_storage_index() == hashutil.storage_index_hash(cap.key)
    assert uri.ImmutableDirectoryURI(cap).get_verifier().to_string() == (
        b"URI:DIR2-CHK-Verifier:" + EXAMPLE_V[len(b"URI:CHK-Verifier:"):])
    for w, r, v in ((SSK_W, SSK_R, SSK_V), (MDMF_W, MDMF_R, MDMF_V)):
        cap = uri.from_string(w)
        assert cap.get_readonly().to_string() == r
        assert cap.get_verifier().to_string() == v
        assert uri.from_string(r).get_verifier().to_string() == v
        d = uri.from_string(b"URI:DIR2" + (b"-MDMF" if w.startswith(b"URI:MDMF") else b"")
                            + w[w.index(b":", 4):])
        assert d.get_readonly().to_string().split(b":", 2)[2] == r.split(b":", 2)[2]
        assert d.get_verifier().to_string().split(b":", 2)[2] == v.split(b":", 2)[2]


def test_mutable_derivations_against_hashutil():
    w = uri.WriteableSSKFileURI(KEY, FP)
    readkey = hashutil.ssk_readkey_hash(KEY)
    si = hashutil.ssk_storage_index_hash(readkey)
    assert w.readkey == readkey and w.get_readonly().readkey == readkey
    assert w.storage_index == si == w.get_verifier().storage_index
    assert w.get_readonly().fingerprint == FP == w.get_verifier().fingerprint
    assert (w.is_readonly(), w.is_mutable()) == (False, True)
    r = w.get_readonly()
    assert (r.is_readonly(), r.is_mutable()) == (True, True)
    assert uri.ReadonlySSKFileURI(readkey, FP).get_storage_index() == si


def test_directory_wrappers():
    ssk = uri.WriteableSSKFileURI(KEY, FP)
    d = uri.DirectoryURI(ssk)
    assert d.get_filenode_cap() is ssk and d.filenode_uri is ssk
    assert d.to_string() == b"URI:DIR2:" + ssk.to_string()[len(b"URI:SSK:"):]
    ro = d.get_readonly()
    assert isinstance(ro, uri.ReadonlyDirectoryURI) and ro.get_filenode_cap() == ssk.get_readonly()
    assert isinstance(d.get_verifier(), uri.DirectoryURIVerifier)
    assert (d.is_readonly(), d.is_mutable(), ro.is_readonly(), ro.is_mutable()) == (
        False, True, True, True)
    assert INewDirectoryURI.providedBy(d) and IDirnodeURI.providedBy(d)
    assert IReadonlyNewDirectoryURI.providedBy(ro) and not INewDirectoryURI.providedBy(ro)
    assert IReadonlyNewDirectoryURI.providedBy(uri.MDMFDirectoryURI(
        uri.WriteableMDMFFileURI(KEY, FP)).get_readonly())
    lit = uri.LiteralDirectoryURI(uri.LiteralFileURI(b"x"))
    assert lit.get_verifier() is None and lit.get_storage_index() is None
    assert (lit.is_readonly(), lit.is_mutable()) == (True, False)
    imm = uri.ImmutableDirectoryURI(uri.CHKFileURI(KEY, UEB, 1, 1, 5))
    assert (imm.is_readonly(), imm.is_mutable()) == (True, False)
    assert imm.get_storage_index() == hashutil.storage_index_hash(KEY)
    with pytest.raises(BadURIError, match="DirectoryURI wraps a WriteableSSKFileURI"):
        uri.DirectoryURI(uri.WriteableMDMFFileURI(KEY, FP))


def test_interfaces():
    chk = uri.CHKFileURI(KEY, UEB, 3, 10, 5)
    assert IFileURI.providedBy(chk) and not IVerifierURI.providedBy(chk)
    assert IVerifierURI.providedBy(chk.get_verifier()) and not IFileURI.providedBy(chk.get_verifier())
    assert IFileURI.providedBy(uri.LiteralFileURI(b""))
    ssk = uri.WriteableSSKFileURI(KEY, FP)
    assert IMutableFileURI.providedBy(ssk) and IMutableFileURI.providedBy(ssk.get_readonly())
    assert not IMutableFileURI.providedBy(ssk.get_verifier())
    assert not IDirnodeURI.providedBy(ssk)
    for cls in (uri.WriteableMDMFFileURI, uri.ReadonlyMDMFFileURI):
        assert IMutableFileURI.implementedBy(cls)
    assert uri.NewDirectoryURI is uri.DirectoryURI


def test_literal():
    assert uri.LiteralFileURI(b"").to_string() == b"URI:LIT:"
    assert uri.from_string(b"URI:LIT:").data == b""
    cap = uri.from_string(b"URI:LIT:nbswy3dp")
    assert cap.data == b"hello" and cap.get_size() == 5
    assert cap.get_verifier() is None and cap.get_storage_index() is None
    assert uri.is_literal_file_uri(b"URI:LIT:nbswy3dp")
    assert uri.is_literal_file_uri("ro.URI:LIT:nbswy3dp")
    assert uri.is_literal_file_uri(b"imm.URI:LIT:")
    assert not uri.is_literal_file_uri(EXAMPLE)
    data = os.urandom(55)
    assert uri.from_string(uri.LiteralFileURI(data).to_string()).data == data


def test_mdmf_tail_is_discarded():
    for w in (MDMF_W, MDMF_R, MDMF_V):
        for tail in (b":3:131073", b":", b":anything:at all"):
            cap = uri.from_string(w + tail)
            assert cap.to_string() == w
    d = uri.from_string(b"URI:DIR2-MDMF" + MDMF_W[len(b"URI:MDMF"):] + b":3:131073")
    assert d.to_string() == b"URI:DIR2-MDMF" + MDMF_W[len(b"URI:MDMF"):]
    with pytest.raises(BadURIError, match="2 fields"):
        uri.from_string(SSK_W + b":3:131073")          # SDMF caps have no tail


@pytest.fixture(scope="module")
def vectors():
    with open(VECTORS_PATH) as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["vector"]


def test_vector_caps_round_trip(vectors):
    seen = {"CHK": 0, "SSK": 0, "MDMF": 0}
    for case in vectors:
        expected = case["expected"].encode("ascii")
        cap = uri.from_string(expected)
        assert not isinstance(cap, UnknownURI), expected
        assert cap.to_string() == expected
        kind = expected.split(b":")[1].decode()
        seen[kind] += 1
        if kind == "CHK":
            z = case["zfec"]
            assert (cap.needed_shares, cap.total_shares, cap.size) == (
                z["required"], z["total"], case["sample"]["length"])
            assert uri.from_string(cap.get_verifier().to_string()) == cap.get_verifier()
        else:
            assert case["format"]["params"]["format"] == kind.lower().replace("ssk", "sdmf")
            ro = cap.get_readonly()
            assert uri.from_string(ro.to_string()) == ro
            assert uri.from_string(cap.get_verifier().to_string()) == cap.get_verifier()
    assert seen == {"CHK": 120, "SSK": 120, "MDMF": 120}


def test_vector_write_caps_from_keys(vectors):
    # writekey = TH16(privkey PKCS#8 DER), fingerprint = TH(pubkey SPKI DER) (docs/specifications/encodings.md §4.2)
    cases = [c for c in vectors if c["format"]["kind"] == "ssk"][::12]
    assert len(cases) == 20
    for case in cases:
        key = serialization.load_pem_private_key(case["format"]["params"]["key"].encode(), None,
                                                 unsafe_skip_rsa_key_validation=True)
        priv = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
        pub = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        cls = uri.WriteableMDMFFileURI if case["format"]["params"]["format"] == "mdmf" \
            else uri.WriteableSSKFileURI
        cap = cls(hashutil.ssk_writekey_hash(priv), hashutil.ssk_pubkey_fingerprint_hash(pub))
        assert cap.to_string().decode() == case["expected"]


# ---- prefixes and contexts ----------------------------------------------------------------
def test_ro_prefix():
    # a write cap behind ro. must not come back with write authority
    u = uri.from_string(b"ro." + SSK_W)
    assert isinstance(u, UnknownURI)
    assert u.to_string() == b"ro." + SSK_W
    assert isinstance(u.get_error(), uri.MustBeReadonlyError)
    assert "read-only context" in str(u.get_error())
    assert u.is_readonly() and u.get_storage_index() is None and u.get_verifier() is None
    assert not uri.is_uri(b"ro." + SSK_W)
    for w in (b"URI:DIR2" + SSK_W[7:], MDMF_W):
        assert isinstance(uri.from_string(b"ro." + w), UnknownURI)
    # read-only caps behind ro. are those caps
    for s in (SSK_R, MDMF_R, EXAMPLE, b"URI:LIT:nbswy3dp", SSK_V, b"URI:DIR2-RO" + SSK_R[10:]):
        cap = uri.from_string(b"ro." + s)
        assert not isinstance(cap, UnknownURI) and cap.to_string() == s


def test_imm_prefix():
    for s in (EXAMPLE, b"URI:LIT:nbswy3dp", b"URI:DIR2-CHK" + EXAMPLE[7:], b"URI:DIR2-LIT:",
              EXAMPLE_V, SSK_V, MDMF_V):
        cap = uri.from_string(b"imm." + s)
        assert not isinstance(cap, UnknownURI) and cap.to_string() == s
    for s in (SSK_W, SSK_R, MDMF_R, b"URI:DIR2-RO" + SSK_R[10:]):
        u = uri.from_string(b"imm." + s)
        assert isinstance(u, UnknownURI) and u.to_string() == b"imm." + s
        assert isinstance(u.get_error(), uri.MustBeDeepImmutableError)
        assert u.is_readonly() and not u.is_mutable()


def test_deep_immutable_context():
    assert isinstance(uri.from_string(SSK_R, deep_immutable=True), UnknownURI)
    assert isinstance(uri.from_string(EXAMPLE, deep_immutable=True), uri.CHKFileURI)
    assert not uri.is_uri(SSK_R, deep_immutable=True) and uri.is_uri(SSK_R)


def test_malformed_prefixed_cap_still_rejected():
    with pytest.raises(BadURIError):
        uri.from_string(b"ro.URI:SSK-RO:zzz:yyy")


# ---- unknown and malformed ------------------------------------------------------------------
@pytest.mark.parametrize("s", [
    b"", b"hello", b"URI:", b"URI:FOO:bar", b"URI:NEW-THING:abc:def", b"uri:chk:abc",
    b"x-tahoe-future-test-writeable:foo", b"URI:DIR:old", b"URI:SSK-RW:x:y", b"\xff\xfe",
    b"http://127.0.0.1:3456/uri/" + EXAMPLE, b" " + EXAMPLE,
])
def test_unknown_strings_are_kept(s):
    u = uri.from_string(s)
    assert isinstance(u, UnknownURI) and u.to_string() == s and u.get_error() is None
    assert not uri.is_uri(s)
    assert u.get_readonly() is None and not u.is_readonly()


def test_unknown_with_prefix():
    u = uri.from_string(b"ro.URI:FUTURE:xyz")
    assert isinstance(u, UnknownURI) and u.to_string() == b"ro.URI:FUTURE:xyz"
    assert u.get_readonly() is u and u.is_readonly()
    assert uri.has_uri_prefix(b"ro.URI:FUTURE:xyz") and uri.has_uri_prefix("imm.x")
    assert not uri.has_uri_prefix(b"http://x")
    assert UnknownURI(b"a") == UnknownURI("a") and hash(UnknownURI(b"a")) == hash(UnknownURI(b"a"))


GOOD_K, GOOD_U = b32(KEY).encode(), b32(UEB).encode()


@pytest.mark.parametrize("s,msg", [
    (b"URI:CHK", "no fields after the prefix"),
    (b"URI:CHK:", "needs 5 fields"),
    (b"URI:CHK:%s:%s:3:10" % (GOOD_K, GOOD_U), "needs 5 fields .*got 4"),
    (b"URI:CHK:%s:%s:3:10:5:6" % (GOOD_K, GOOD_U), "got 6"),
    (b"URI:CHK:%s:%s:3:10:5" % (GOOD_K.upper(), GOOD_U), "key field is not valid base32"),
    (b"URI:CHK:%s:%s:3:10:5" % (GOOD_K[:-1] + b"b", GOOD_U), "key field is not valid base32"),
    (b"URI:CHK:%s:%s:3:10:5" % (GOOD_K[:-2], GOOD_U), "key field"),
    (b"URI:CHK:%s:%s:3:10:5" % (b32(KEY + b"x").encode(), GOOD_U),
     "key field decodes to 17 bytes, it must be 16 bytes \\(26 chars\\)"),
    (b"URI:CHK:%s:%s:3:10:5" % (GOOD_K, b32(KEY).encode()), "UEB hash field decodes to 16 bytes"),
    (b"URI:CHK:%s:%s:11:10:5" % (GOOD_K, GOOD_U), "1 <= k <= N <= 256, got k=11 N=10"),
    (b"URI:CHK:%s:%s:0:10:5" % (GOOD_K, GOOD_U), "got k=0"),
    (b"URI:CHK:%s:%s:3:257:5" % (GOOD_K, GOOD_U), "N=257"),
    (b"URI:CHK:%s:%s:3:10:-5" % (GOOD_K, GOOD_U), "size field '-5' is not a plain decimal"),
    (b"URI:CHK:%s:%s:03:10:5" % (GOOD_K, GOOD_U), "k field '03'"),
    (b"URI:CHK:%s:%s:3:1x:5" % (GOOD_K, GOOD_U), "N field"),
    (b"URI:CHK:%s:%s:3:10:5\n" % (GOOD_K, GOOD_U), "size field"),
    (b"URI:CHK-Verifier:%s:%s:3:10" % (GOOD_K, GOOD_U), "URI:CHK-Verifier: cap needs 5 fields"),
    (b"URI:LIT:ABC", "data is not valid base32"),
    (b"URI:LIT:a", "data is not valid base32"),
    (b"URI:SSK:%s" % GOOD_K, "URI:SSK: cap needs 2 fields"),
    (b"URI:SSK:%s:%s" % (GOOD_K, GOOD_K), "fingerprint field decodes to 16 bytes"),
    (b"URI:SSK-RO:%s:%s" % (GOOD_U, GOOD_U), "readkey field decodes to 32 bytes"),
    (b"URI:SSK-Verifier:%s:%s" % (GOOD_K, GOOD_U.upper()), "fingerprint field is not valid"),
    (b"URI:MDMF:%s" % GOOD_K, "URI:MDMF: cap needs 2 fields"),
    (b"URI:MDMF-RO::%s" % GOOD_U, "readkey field decodes to 0 bytes"),
    (b"URI:DIR2:%s:%s" % (GOOD_K, GOOD_K), "URI:DIR2: cap: the fingerprint field"),
    (b"URI:DIR2-CHK:%s:%s:3:2:1" % (GOOD_K, GOOD_U), "URI:DIR2-CHK: cap: encoding needs"),
    (b"URI:DIR2-LIT:!!", "URI:DIR2-LIT: cap: the data is not valid base32"),
    (b"URI:DIR2-MDMF-Verifier:", "URI:DIR2-MDMF-Verifier: cap needs 2 fields"),
])
def test_malformed(s, msg):
    with pytest.raises(BadURIError, match=msg):
        uri.from_string(s)
    assert not uri.is_uri(s)
    assert isinstance(BadURIError("x"), ValueError)


def test_constructor_checks():
    with pytest.raises(BadURIError, match="16-byte key, got 15 bytes"):
        uri.CHKFileURI(KEY[:15], UEB, 3, 10, 5)
    with pytest.raises(BadURIError, match="32-byte uri_extension_hash, got str"):
        uri.CHKFileURI(KEY, "x" * 32, 3, 10, 5)
    with pytest.raises(BadURIError, match="size must be between 0 and"):
        uri.CHKFileVerifierURI(KEY, UEB, 3, 10, -1)
    with pytest.raises(BadURIError, match="needed_shares must be an int"):
        uri.CHKFileURI(KEY, UEB, "3", 10, 5)
    with pytest.raises(BadURIError, match="32-byte fingerprint"):
        uri.WriteableSSKFileURI(KEY, FP[:31])
    with pytest.raises(BadURIError, match="needs bytes"):
        uri.LiteralFileURI("text")
    with pytest.raises(BadURIError, match="bytes or str"):
        uri.from_string(12)


def test_typed_entry_points():
    assert isinstance(uri.from_string_dirnode(b"URI:DIR2" + SSK_W[7:]), uri.DirectoryURI)
    with pytest.raises(BadURIError, match="not a directory cap"):
        uri.from_string_dirnode(SSK_W)
    assert isinstance(uri.from_string_filenode(EXAMPLE), uri.CHKFileURI)
    assert isinstance(uri.from_string_filenode(MDMF_R), uri.ReadonlyMDMFFileURI)
    with pytest.raises(BadURIError, match="not a file cap"):
        uri.from_string_filenode(b"URI:DIR2-LIT:")
    assert isinstance(uri.from_string_verifier(SSK_V), uri.SSKVerifierURI)
    with pytest.raises(BadURIError, match="not a verify cap"):
        uri.from_string_verifier(EXAMPLE)
    assert isinstance(uri.from_string_mutable_filenode(SSK_W), uri.WriteableSSKFileURI)


def test_equality_and_repr():
    a = uri.CHKFileURI(KEY, UEB, 3, 10, 5)
    assert a == uri.CHKFileURI(KEY, UEB, 3, 10, 5) and a != uri.CHKFileURI(KEY, UEB, 3, 10, 6)
    assert a != uri.ImmutableDirectoryURI(a)
    assert len({a, uri.from_string(a.to_string())}) == 1
    r = repr(a)
    assert r.startswith("<CHKFileURI URI:CHK:") and b32(KEY) not in r   # no full key in logs
    assert a.get_verify_cap() == a.get_verifier()


def test_common_chk_bodies_parse_as_the_field_by_field_parse_does():
    import os

    from allmydata.util import base32
    for cls in (uri.CHKFileURI, uri.CHKFileVerifierURI):
        for k, n, size in ((1, 1, 0), (3, 10, 12345), (256, 256, 2 ** 64 - 1)):
            first, ueb = os.urandom(16), os.urandom(32)
            text = cls.PREFIX + b"%s:%s:%d:%d:%d" % (base32.b2a(first), base32.b2a(ueb), k, n, size)
            fast = uri.from_string(text)
            slow = cls(first, ueb, k, n, size)
            assert type(fast) is cls and fast.__dict__.get("_string") == text
            assert fast.to_string() == slow.to_string() == text
            assert (fast.uri_extension_hash, fast.needed_shares, fast.total_shares,
                    fast.size) == (ueb, k, n, size)
            assert fast.get_storage_index() == slow.get_storage_index()
            assert fast.get_verifier().to_string() == slow.get_verifier().to_string()
    key = base32.b2a(b"k" * 16).decode()
    ueb = base32.b2a(b"u" * 32).decode()
    for bad in ("03:10:5", "0:10:5", "3:300:5", "11:10:5", "3:10:05", "3:10:-5"):
        with pytest.raises(uri.BadURIError):
            uri.from_string("URI:CHK:%s:%s:%s" % (key, ueb, bad))
    # a 26-character key whose unused low bits are not zero
    with pytest.raises(uri.BadURIError):
        uri.from_string("URI:CHK:%s:%s:3:10:5" % (key[:-1] + "b", ueb))


@pytest.mark.parametrize("prefix", [b"URI:CHK:", b"URI:CHK-Verifier:", b"URI:DIR2-CHK:",
                                    b"URI:DIR2-CHK-Verifier:"])
@pytest.mark.parametrize("numbers, complaint", [
    (b"3:10:" + b"5" * 5000, "size field has 5000 digits"),     # past Python's 4300-digit limit
    (b"3:10:" + b"1" + b"0" * 20, "size field has 21 digits"),
    (b"3:10:%d" % 2 ** 64, "size must be between 0 and 18446744073709551615"),
    (b"5" * 5000 + b":10:100", "k field has 5000 digits"),
    (b"3:" + b"9" * 5000 + b":100", "N field has 5000 digits"),
    (b"3:10:" + b"0" * 5000, "size field has 5000 digits"),
])
def test_numbers_of_any_length_are_refused_as_bad_caps(prefix, numbers, complaint):
    body = b"%s:%s:" % (base32.b2a(KEY), base32.b2a(UEB))
    with pytest.raises(BadURIError, match=complaint):
        uri.from_string(prefix + body + numbers)


def test_the_largest_file_size_parses():
    text = b"URI:CHK:%s:%s:3:10:%d" % (base32.b2a(KEY), base32.b2a(UEB), uri.MAX_FILE_SIZE)
    assert uri.from_string(text).get_size() == 2 ** 64 - 1


def test_reprs_and_parse_errors_hold_no_key():
    chk = (b"URI:CHK:yzxcoagbetwet65ltjpbqyli3m:"
           b"6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56")
    key_text = "yzxcoagb"
    assert key_text not in repr(uri.from_string(chk))
    with pytest.raises(uri.BadURIError) as e:
        uri.from_string_dirnode(chk)
    assert key_text not in str(e.value) and "URI:CHK:" in str(e.value)
    with pytest.raises(uri.BadURIError) as e:
        uri.WriteableSSKFileURI.init_from_string(chk)
    assert key_text not in str(e.value)
    assert "secretpart" not in repr(UnknownNode(b"URI:FUTURE:secretpart"))
