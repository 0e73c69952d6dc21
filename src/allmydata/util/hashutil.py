"""Every tagged hash and derived secret of docs/specifications/encodings.md §3-§5.

All of Tahoe's hashes are SHA-256d (SHA-256 applied twice) over a netstring
of a tag followed by the data.  The tags are part of the format: changing one
byte changes every cap.  Each function here names the role of its output.
"""

import hashlib
import hmac
import os

from .netstring import netstring

CRYPTO_VAL_SIZE = 32
KEYLEN = 16

# ---- tags (exact bytes; see docs/specifications/encodings.md §4) ----------------------
STORAGE_INDEX_TAG = b"allmydata_immutable_key_to_storage_index_v1"
BLOCK_TAG = b"allmydata_encoded_subshare_v1"
UEB_TAG = b"allmydata_uri_extension_v1"
CRYPTTEXT_SEGMENT_TAG = b"allmydata_crypttext_segment_v1"
CRYPTTEXT_TAG = b"allmydata_crypttext_v1"
PLAINTEXT_SEGMENT_TAG = b"allmydata_plaintext_segment_v1"
PLAINTEXT_TAG = b"allmydata_plaintext_v1"
CONVERGENT_KEY_TAG = b"allmydata_immutable_content_to_key_with_added_secret_v1+"
MERKLE_EMPTY_LEAF_TAG = b"Merkle tree empty leaf"
MERKLE_INTERNAL_TAG = b"Merkle tree internal node"
CLIENT_RENEWAL_TAG = b"allmydata_client_renewal_secret_v1"
CLIENT_CANCEL_TAG = b"allmydata_client_cancel_secret_v1"
FILE_RENEWAL_TAG = b"allmydata_file_renewal_secret_v1"
FILE_CANCEL_TAG = b"allmydata_file_cancel_secret_v1"
BUCKET_RENEWAL_TAG = b"allmydata_bucket_renewal_secret_v1"
BUCKET_CANCEL_TAG = b"allmydata_bucket_cancel_secret_v1"
MUTABLE_WRITEKEY_TAG = b"allmydata_mutable_privkey_to_writekey_v1"
MUTABLE_READKEY_TAG = b"allmydata_mutable_writekey_to_readkey_v1"
MUTABLE_STORAGE_INDEX_TAG = b"allmydata_mutable_readkey_to_storage_index_v1"
MUTABLE_PUBKEY_TAG = b"allmydata_mutable_pubkey_to_fingerprint_v1"
MUTABLE_WRITE_ENABLER_MASTER_TAG = b"allmydata_mutable_writekey_to_write_enabler_master_v1"
MUTABLE_WRITE_ENABLER_TAG = b"allmydata_mutable_write_enabler_master_and_nodeid_to_write_enabler_v1"
MUTABLE_DATAKEY_TAG = b"allmydata_mutable_readkey_to_datakey_v1"
DIRNODE_CHILD_SALT_TAG = b"allmydata_dirnode_child_rwcap_to_salt_v1"
DIRNODE_CHILD_WRITECAP_TAG = b"allmydata_mutable_writekey_and_salt_to_dirnode_child_capkey_v1"
MUTABLE_CONTAINER_HEADER_TAG = b"allmydata_mutable_container_header"
BACKUPDB_DIRHASH_TAG = b"allmydata_backupdb_dirhash_v1"


# SHA-256 already fed with NS(tag), for each tag above (copied for each hash)
_TAG_HASHERS = {value: hashlib.sha256(netstring(value))
                for name, value in list(globals().items())
                if name.endswith("_TAG") and isinstance(value, bytes)}


# ---- primitives ------------------------------------------------------------
def sha256d(data: bytes) -> bytes:
    """SHA256(SHA256(data))."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


class SHA256dHasher:
    """An incremental SHA-256d, for data that arrives in pieces (``inner``:
    a hashlib SHA-256 object to go on from, instead of ``prefix``)."""

    def __init__(self, prefix: bytes = b"", truncate_to: int | None = None, inner=None):
        self._h = hashlib.sha256(prefix) if inner is None else inner
        self._truncate_to = truncate_to

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        out = hashlib.sha256(self._h.digest()).digest()
        return out[: self._truncate_to] if self._truncate_to else out


def _fed_tag(tag: bytes):
    """A fresh SHA-256 object that has been fed ``NS(tag)`` (for the tags of
    this module, a copy of one fed once)."""
    h = _TAG_HASHERS.get(tag)
    return h.copy() if h is not None else hashlib.sha256(netstring(tag))


def tagged_hasher(tag: bytes, truncate_to: int | None = None) -> SHA256dHasher:
    """An incremental hasher for ``TH(tag, ...)``."""
    return SHA256dHasher(truncate_to=truncate_to, inner=_fed_tag(tag))


def tagged_hash(tag: bytes, data: bytes, truncate_to: int | None = None) -> bytes:
    """``TH(tag, data) = SHA256d(NS(tag) || data)``, optionally truncated.

    ``data`` is hashed where it is, not copied behind the tag (a share
    block or a segment is hundreds of KiB)."""
    h = _fed_tag(tag)
    h.update(data)
    out = hashlib.sha256(h.digest()).digest()
    return out[:truncate_to] if truncate_to else out


def tagged_pair_hash(tag: bytes, a: bytes, b: bytes, truncate_to: int | None = None) -> bytes:
    """``TPH(tag, a, b) = SHA256d(NS(tag) || NS(a) || NS(b))``."""
    out = sha256d(netstring(tag) + netstring(a) + netstring(b))
    return out[:truncate_to] if truncate_to else out


# ---- immutable files ---------------------------------------------------------
def storage_index_hash(key: bytes) -> bytes:
    """The 16-byte storage index of an immutable file, from its AES key."""
    return tagged_hash(STORAGE_INDEX_TAG, key, KEYLEN)


def block_hash(data: bytes) -> bytes:
    return tagged_hash(BLOCK_TAG, data)


def block_hasher():
    return tagged_hasher(BLOCK_TAG)


def uri_extension_hash(data: bytes) -> bytes:
    return tagged_hash(UEB_TAG, data)


def crypttext_segment_hash(data: bytes) -> bytes:
    return tagged_hash(CRYPTTEXT_SEGMENT_TAG, data)


def crypttext_segment_hasher():
    return tagged_hasher(CRYPTTEXT_SEGMENT_TAG)


def crypttext_hash(data: bytes) -> bytes:
    return tagged_hash(CRYPTTEXT_TAG, data)


def crypttext_hasher():
    return tagged_hasher(CRYPTTEXT_TAG)


def plaintext_segment_hash(data: bytes) -> bytes:
    return tagged_hash(PLAINTEXT_SEGMENT_TAG, data)


def plaintext_hash(data: bytes) -> bytes:
    return tagged_hash(PLAINTEXT_TAG, data)


def convergence_key_tag(convergence_secret: bytes, k: int, n: int, segsize: int) -> bytes:
    """The tag under which a CHK file's plaintext is hashed to get its key."""
    if not 1 <= k <= n <= 256:
        raise ValueError("encoding parameters need 1 <= k <= N <= 256, got k=%d N=%d" % (k, n))
    params = b"%d,%d,%d" % (k, n, segsize)
    return CONVERGENT_KEY_TAG + netstring(convergence_secret) + netstring(params)


def convergence_hasher(convergence_secret: bytes, k: int, n: int, segsize: int) -> SHA256dHasher:
    """Hasher whose 16-byte digest is the convergent (CHK) AES key."""
    return tagged_hasher(convergence_key_tag(convergence_secret, k, n, segsize), KEYLEN)


def convergence_key(convergence_secret: bytes, k: int, n: int, segsize: int, plaintext: bytes) -> bytes:
    h = convergence_hasher(convergence_secret, k, n, segsize)
    h.update(plaintext)
    return h.digest()


def random_key() -> bytes:
    """A fresh 16-byte AES key from the OS RNG (non-convergent uploads)."""
    return os.urandom(KEYLEN)


# ---- Merkle trees --------------------------------------------------------------
def empty_leaf_hash(position: int) -> bytes:
    return tagged_hash(MERKLE_EMPTY_LEAF_TAG, b"%d" % position)


def internal_node_hash(left: bytes, right: bytes) -> bytes:
    return tagged_pair_hash(MERKLE_INTERNAL_TAG, left, right)


# ---- lease secrets -------------------------------------------------------------
def my_renewal_secret_hash(lease_secret: bytes) -> bytes:
    """Client renewal secret.  The node's secret sits in the tag slot."""
    return tagged_hash(lease_secret, CLIENT_RENEWAL_TAG)


def my_cancel_secret_hash(lease_secret: bytes) -> bytes:
    return tagged_hash(lease_secret, CLIENT_CANCEL_TAG)


def file_renewal_secret_hash(client_renewal_secret: bytes, storage_index: bytes) -> bytes:
    return tagged_pair_hash(FILE_RENEWAL_TAG, client_renewal_secret, storage_index)


def file_cancel_secret_hash(client_cancel_secret: bytes, storage_index: bytes) -> bytes:
    return tagged_pair_hash(FILE_CANCEL_TAG, client_cancel_secret, storage_index)


def bucket_renewal_secret_hash(file_renewal_secret: bytes, peerid: bytes) -> bytes:
    if len(peerid) != 20:
        raise ValueError("bucket secrets are keyed by the 20-byte binary tubid")
    return tagged_pair_hash(BUCKET_RENEWAL_TAG, file_renewal_secret, peerid)


def bucket_cancel_secret_hash(file_cancel_secret: bytes, peerid: bytes) -> bytes:
    if len(peerid) != 20:
        raise ValueError("bucket secrets are keyed by the 20-byte binary tubid")
    return tagged_pair_hash(BUCKET_CANCEL_TAG, file_cancel_secret, peerid)


# ---- mutable files -------------------------------------------------------------
def ssk_writekey_hash(privkey_der: bytes) -> bytes:
    return tagged_hash(MUTABLE_WRITEKEY_TAG, privkey_der, KEYLEN)


def ssk_readkey_hash(writekey: bytes) -> bytes:
    return tagged_hash(MUTABLE_READKEY_TAG, writekey, KEYLEN)


def ssk_storage_index_hash(readkey: bytes) -> bytes:
    return tagged_hash(MUTABLE_STORAGE_INDEX_TAG, readkey, KEYLEN)


def ssk_pubkey_fingerprint_hash(pubkey_der: bytes) -> bytes:
    return tagged_hash(MUTABLE_PUBKEY_TAG, pubkey_der)


def ssk_write_enabler_master_hash(writekey: bytes) -> bytes:
    return tagged_hash(MUTABLE_WRITE_ENABLER_MASTER_TAG, writekey)


def ssk_write_enabler_hash(writekey: bytes, peerid: bytes) -> bytes:
    wem = ssk_write_enabler_master_hash(writekey)
    return tagged_pair_hash(MUTABLE_WRITE_ENABLER_TAG, wem, peerid)


def ssk_readkey_data_hash(salt: bytes, readkey: bytes) -> bytes:
    """Per-salt data key.  The salt comes first."""
    return tagged_pair_hash(MUTABLE_DATAKEY_TAG, salt, readkey, KEYLEN)


def mutable_container_header_hash() -> bytes:
    return tagged_hash(MUTABLE_CONTAINER_HEADER_TAG, b"Tahoe mutable container v2\n")


# ---- directories ---------------------------------------------------------------
def dirnode_child_rwcap_salt(rwcap: bytes) -> bytes:
    return tagged_hash(DIRNODE_CHILD_SALT_TAG, rwcap, KEYLEN)


def dirnode_child_capkey(salt: bytes, dir_writekey: bytes) -> bytes:
    return tagged_pair_hash(DIRNODE_CHILD_WRITECAP_TAG, salt, dir_writekey, KEYLEN)


def backupdb_dirhash(contents: bytes) -> bytes:
    return tagged_hash(BACKUPDB_DIRHASH_TAG, contents)


# ---- server selection and server-side lease storage ----------------------------
def permute_server_hash(storage_index: bytes, permutation_seed: bytes) -> bytes:
    """Position of a server on the permuted ring for ``storage_index``."""
    return hashlib.sha1(storage_index + permutation_seed).digest()


def hash_lease_secret(secret: bytes) -> bytes:
    """How v2 share containers store a lease secret: unkeyed BLAKE2b-256."""
    return hashlib.blake2b(secret, digest_size=32).digest()


def timing_safe_compare(a: bytes, b: bytes) -> bool:
    """Compare two secrets without leaking where they differ."""
    return hmac.compare_digest(a, b)
