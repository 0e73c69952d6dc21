"""Tests for allmydata.util.hashutil against docs/specifications/encodings.md §3-§5.

Each construction is checked against an independent computation written here
with hashlib only (``_sha256d``/``_ns`` below), so a wrong tag, a wrong
argument order or a wrong truncation in hashutil shows up.
"""

import hashlib

import pytest
from hypothesis import given, strategies as st

from allmydata.util import base32, hashutil


def _sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _ns(data: bytes) -> bytes:
    return str(len(data)).encode("ascii") + b":" + data + b","


def _th(tag: bytes, data: bytes) -> bytes:
    return _sha256d(_ns(tag) + data)


def _tph(tag: bytes, a: bytes, b: bytes) -> bytes:
    return _sha256d(_ns(tag) + _ns(a) + _ns(b))


K16 = bytes(range(16))
K16B = bytes(range(100, 116))
K32 = bytes(range(32))
K32B = bytes(range(50, 82))
TUBID = bytes(range(200, 220))


def test_sha256d():
    assert hashutil.sha256d(b"") == hashlib.sha256(hashlib.sha256(b"").digest()).digest()
    assert hashutil.sha256d(b"abc") == _sha256d(b"abc")
    assert len(hashutil.sha256d(b"abc")) == 32


def test_tagged_hash_shape():
    assert hashutil.tagged_hash(b"tag", b"data") == _sha256d(b"3:tag,data")
    assert hashutil.tagged_hash(b"tag", b"data", 16) == _sha256d(b"3:tag,data")[:16]
    assert hashutil.tagged_pair_hash(b"t", b"ab", b"") == _sha256d(b"1:t,2:ab,0:,")
    assert hashutil.tagged_pair_hash(b"t", b"ab", b"", 16) == _sha256d(b"1:t,2:ab,0:,")[:16]
    # the pair hash is not symmetric
    assert hashutil.tagged_pair_hash(b"t", b"a", b"b") != hashutil.tagged_pair_hash(b"t", b"b", b"a")


# (function, tag, truncated to 16?) for every one-argument tagged hash of encodings.md §4
ONE_ARG = [
    (hashutil.storage_index_hash, b"allmydata_immutable_key_to_storage_index_v1", True),
    (hashutil.block_hash, b"allmydata_encoded_subshare_v1", False),
    (hashutil.uri_extension_hash, b"allmydata_uri_extension_v1", False),
    (hashutil.crypttext_segment_hash, b"allmydata_crypttext_segment_v1", False),
    (hashutil.crypttext_hash, b"allmydata_crypttext_v1", False),
    (hashutil.plaintext_segment_hash, b"allmydata_plaintext_segment_v1", False),
    (hashutil.plaintext_hash, b"allmydata_plaintext_v1", False),
    (hashutil.ssk_writekey_hash, b"allmydata_mutable_privkey_to_writekey_v1", True),
    (hashutil.ssk_readkey_hash, b"allmydata_mutable_writekey_to_readkey_v1", True),
    (hashutil.ssk_storage_index_hash, b"allmydata_mutable_readkey_to_storage_index_v1", True),
    (hashutil.ssk_pubkey_fingerprint_hash, b"allmydata_mutable_pubkey_to_fingerprint_v1", False),
    (hashutil.ssk_write_enabler_master_hash,
     b"allmydata_mutable_writekey_to_write_enabler_master_v1", False),
    (hashutil.dirnode_child_rwcap_salt, b"allmydata_dirnode_child_rwcap_to_salt_v1", True),
    (hashutil.backupdb_dirhash, b"allmydata_backupdb_dirhash_v1", False),
]


@pytest.mark.parametrize("func, tag, short", ONE_ARG, ids=[f.__name__ for f, _, _ in ONE_ARG])
@pytest.mark.parametrize("data", [b"", K16, b"x" * 1000])
def test_one_argument_hashes(func, tag, short, data):
    expected = _th(tag, data)
    if short:
        expected = expected[:16]
    got = func(data)
    assert got == expected
    assert len(got) == (16 if short else 32)


INCREMENTAL = [
    (hashutil.block_hasher, hashutil.block_hash),
    (hashutil.crypttext_segment_hasher, hashutil.crypttext_segment_hash),
    (hashutil.crypttext_hasher, hashutil.crypttext_hash),
]


# (hypothesis and pytest.mark.parametrize do not mix under pytest-twisted,
# so the hashers are looped over inside one property test)
@given(pieces=st.lists(st.binary(max_size=50), max_size=6))
def test_incremental_equals_one_shot(pieces):
    for make, oneshot in INCREMENTAL:
        h = make()
        for p in pieces:
            h.update(p)
        assert h.digest() == oneshot(b"".join(pieces))


def test_tagged_hasher_truncates():
    h = hashutil.tagged_hasher(b"tag", 16)
    h.update(b"da")
    h.update(b"ta")
    assert h.digest() == hashutil.tagged_hash(b"tag", b"data", 16) == _th(b"tag", b"data")[:16]
    h = hashutil.tagged_hasher(b"tag")
    h.update(b"data")
    assert h.digest() == _th(b"tag", b"data")


# ---- convergence key ---------------------------------------------------------
CONV_TAG = b"allmydata_immutable_content_to_key_with_added_secret_v1+"


def test_convergence_key_tag():
    tag = hashutil.convergence_key_tag(b"secret", 3, 10, 131073)
    assert tag == CONV_TAG + b"6:secret," + b"11:3,10,131073,"
    assert hashutil.convergence_key_tag(b"", 1, 1, 0) == CONV_TAG + b"0:,5:1,1,0,"


def test_convergence_key_construction():
    secret = K32
    plaintext = b"some plaintext" * 7
    inner = CONV_TAG + _ns(secret) + _ns(b"3,10,99")
    expected = _sha256d(_ns(inner) + plaintext)[:16]
    assert hashutil.convergence_key(secret, 3, 10, 99, plaintext) == expected
    h = hashutil.convergence_hasher(secret, 3, 10, 99)
    h.update(plaintext[:5])
    h.update(plaintext[5:])
    assert h.digest() == expected
    # every parameter matters
    assert hashutil.convergence_key(secret, 3, 10, 102, plaintext) != expected
    assert hashutil.convergence_key(secret, 2, 10, 99, plaintext) != expected
    assert hashutil.convergence_key(secret, 3, 9, 99, plaintext) != expected
    assert hashutil.convergence_key(b"", 3, 10, 99, plaintext) != expected


def test_convergence_key_worked_example():
    # docs/specifications/caps.md §7: 56 x "a", secret "aaaaaaaaaaaaaaaa", k=1, N=1, segsize 56
    # gives URI:CHK:yzxcoagbetwet65ltjpbqyli3m:...:1:1:56
    key = hashutil.convergence_key(b"a" * 16, 1, 1, 56, b"a" * 56)
    assert base32.b2a(key) == b"yzxcoagbetwet65ltjpbqyli3m"
    # and its storage index is the tagged hash of that key
    assert hashutil.storage_index_hash(key) == _th(
        b"allmydata_immutable_key_to_storage_index_v1", key)[:16]


@pytest.mark.parametrize("k, n", [(0, 1), (2, 1), (1, 257), (257, 257), (0, 0), (-1, 3), (10, 3)])
def test_convergence_refuses_bad_parameters(k, n):
    with pytest.raises(ValueError):
        hashutil.convergence_key_tag(b"", k, n, 100)
    with pytest.raises(ValueError):
        hashutil.convergence_key(b"", k, n, 100, b"x")


@pytest.mark.parametrize("k, n", [(1, 1), (3, 10), (256, 256), (1, 256)])
def test_convergence_accepts_edge_parameters(k, n):
    assert len(hashutil.convergence_key(b"", k, n, 256, b"x")) == 16


def test_random_key():
    a, b = hashutil.random_key(), hashutil.random_key()
    assert len(a) == 16 and a != b


# ---- Merkle tree -------------------------------------------------------------
def test_empty_leaf_hash():
    assert hashutil.empty_leaf_hash(0) == _sha256d(b"22:Merkle tree empty leaf,0")
    assert hashutil.empty_leaf_hash(13) == _sha256d(b"22:Merkle tree empty leaf,13")
    assert hashutil.empty_leaf_hash(1) != hashutil.empty_leaf_hash(2)


def test_internal_node_hash():
    left, right = K32, K32B
    expected = _sha256d(b"25:Merkle tree internal node," + b"32:" + left + b"," + b"32:" + right + b",")
    assert hashutil.internal_node_hash(left, right) == expected
    assert hashutil.internal_node_hash(right, left) != expected


# ---- lease secrets -----------------------------------------------------------
def test_client_secrets_put_lease_secret_in_the_tag_slot():
    secret = K32
    assert hashutil.my_renewal_secret_hash(secret) == _sha256d(
        _ns(secret) + b"allmydata_client_renewal_secret_v1")
    assert hashutil.my_cancel_secret_hash(secret) == _sha256d(
        _ns(secret) + b"allmydata_client_cancel_secret_v1")
    # and not the usual order
    assert hashutil.my_renewal_secret_hash(secret) != _th(
        b"allmydata_client_renewal_secret_v1", secret)


def test_file_and_bucket_secrets():
    si = K16
    assert hashutil.file_renewal_secret_hash(K32, si) == _tph(
        b"allmydata_file_renewal_secret_v1", K32, si)
    assert hashutil.file_cancel_secret_hash(K32, si) == _tph(
        b"allmydata_file_cancel_secret_v1", K32, si)
    assert hashutil.bucket_renewal_secret_hash(K32B, TUBID) == _tph(
        b"allmydata_bucket_renewal_secret_v1", K32B, TUBID)
    assert hashutil.bucket_cancel_secret_hash(K32B, TUBID) == _tph(
        b"allmydata_bucket_cancel_secret_v1", K32B, TUBID)


@pytest.mark.parametrize("peerid", [b"", b"x" * 19, b"x" * 21, b"x" * 32])
def test_bucket_secrets_want_a_20_byte_tubid(peerid):
    with pytest.raises(ValueError):
        hashutil.bucket_renewal_secret_hash(K32, peerid)
    with pytest.raises(ValueError):
        hashutil.bucket_cancel_secret_hash(K32, peerid)


def test_lease_rst_reference_vector():
    lease_secret = base32.a2b("boity2cdh7jvl3ltaeebuiobbspjmbuopnwbde2yeh4k6x7jioga")
    si = base32.a2b("vrttmwlicrzbt7gh5qsooogr7u")
    tubid = base32.a2b("v67jiisoty6ooyxlql5fuucitqiok2ic")
    client = hashutil.my_renewal_secret_hash(lease_secret)
    file_secret = hashutil.file_renewal_secret_hash(client, si)
    bucket = hashutil.bucket_renewal_secret_hash(file_secret, tubid)
    assert base32.b2a(bucket) == b"osd6wmc5vz4g3ukg64sitmzlfiaaordutrez7oxdp5kkze7zp5zq"


def test_hash_lease_secret_is_blake2b_256():
    secret = K32
    got = hashutil.hash_lease_secret(secret)
    assert got == hashlib.blake2b(secret, digest_size=32).digest()
    assert len(got) == 32
    assert got != hashlib.blake2b(secret).digest()[:32]  # not a truncated BLAKE2b-512


# ---- mutable files -------------------------------------------------------------
def test_write_enabler():
    wem = _th(b"allmydata_mutable_writekey_to_write_enabler_master_v1", K16)
    expected = _tph(b"allmydata_mutable_write_enabler_master_and_nodeid_to_write_enabler_v1",
                    wem, TUBID)
    assert hashutil.ssk_write_enabler_hash(K16, TUBID) == expected


def test_mutable_datakey_salt_comes_first():
    salt, readkey = K16, K16B
    expected = _tph(b"allmydata_mutable_readkey_to_datakey_v1", salt, readkey)[:16]
    assert hashutil.ssk_readkey_data_hash(salt, readkey) == expected
    assert hashutil.ssk_readkey_data_hash(readkey, salt) != expected


def test_mutable_key_chain():
    writekey = hashutil.ssk_writekey_hash(b"fake DER bytes")
    readkey = hashutil.ssk_readkey_hash(writekey)
    si = hashutil.ssk_storage_index_hash(readkey)
    assert len(writekey) == len(readkey) == len(si) == 16
    assert si == _th(b"allmydata_mutable_readkey_to_storage_index_v1",
                     _th(b"allmydata_mutable_writekey_to_readkey_v1", writekey)[:16])[:16]


def test_mutable_container_header_magic():
    h = hashutil.mutable_container_header_hash()
    assert h == _th(b"allmydata_mutable_container_header", b"Tahoe mutable container v2\n")
    assert h[:5] == bytes([0xC3, 0x55, 0x21, 0x99, 0x25])


# ---- directories -----------------------------------------------------------------
def test_dirnode_child_capkey():
    salt, writekey = K16, K16B
    expected = _tph(b"allmydata_mutable_writekey_and_salt_to_dirnode_child_capkey_v1",
                    salt, writekey)[:16]
    assert hashutil.dirnode_child_capkey(salt, writekey) == expected
    assert hashutil.dirnode_child_capkey(writekey, salt) != expected


# ---- server selection --------------------------------------------------------
def test_permute_server_hash_is_plain_sha1():
    si, seed = K16, TUBID
    assert hashutil.permute_server_hash(si, seed) == hashlib.sha1(si + seed).digest()
    assert len(hashutil.permute_server_hash(si, seed)) == 20


def test_timing_safe_compare():
    assert hashutil.timing_safe_compare(K32, bytes(K32))
    assert not hashutil.timing_safe_compare(K32, K32B)
    assert not hashutil.timing_safe_compare(K32, K32[:31])
