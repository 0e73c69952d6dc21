"""The URI extension block (UEB) of a CHK file (docs/specifications/immutable-shares.md §5).

Every share ends with the same UEB: a small dict of the file's encoding
parameters and root hashes, serialized as ``key:NS(value)`` entries in
sorted key order.  Its tagged hash goes into the read cap, so a downloader
can trust everything in it once the hash matches.
"""

import re

from ..util import hashutil
from .params import SegmentParams

#: Keys whose values are decimal integers; :func:`unpack_uri_extension`
#: turns them into ``int``.
INT_KEYS = ("size", "segment_size", "num_segments", "needed_shares", "total_shares")
#: The 32-byte hash keys written by current uploaders.
HASH_KEYS = ("crypttext_hash", "crypttext_root_hash", "share_root_hash")
#: Exactly the keys a current uploader writes.
CURRENT_KEYS = frozenset(("codec_name", "codec_params", "tail_codec_params") + INT_KEYS
                         + HASH_KEYS)

_KEY_RE = re.compile(rb"^[a-zA-Z_\-]+$")


class BadURIExtensionError(ValueError):
    """A URI extension block that cannot be serialized or parsed."""


def _key_bytes(key) -> bytes:
    if isinstance(key, str):
        key = key.encode("ascii", "replace")
    if not isinstance(key, bytes) or not _KEY_RE.match(key):
        raise BadURIExtensionError("URI extension keys are made of letters, '_' and '-'; "
                                   "got %r" % (key,))
    return key


def _value_bytes(key: bytes, value) -> bytes:
    if isinstance(value, bool):
        raise BadURIExtensionError("URI extension value for %r is a bool" % key)
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise BadURIExtensionError("URI extension value for %r must be bytes, str or int, not %s"
                               % (key, type(value).__name__))


def pack_uri_extension(d: dict) -> bytes:
    """Serialize a UEB dict: for each key in byte order, ``key:NS(value)``.

    Keys may be ``str`` or ``bytes``; values ``bytes``, ``str`` (UTF-8) or
    ``int`` (ASCII decimal)."""
    entries = {}
    for key, value in d.items():
        k = _key_bytes(key)
        if k in entries:
            raise BadURIExtensionError("URI extension key %r given twice" % k)
        entries[k] = _value_bytes(k, value)
    return b"".join(b"%s:%d:%s," % (k, len(v), v) for k, v in sorted(entries.items()))


def unpack_uri_extension(data: bytes) -> dict:
    """Parse a serialized UEB into ``{str key: bytes value}``; the values of
    :data:`INT_KEYS` become ``int``.  Unknown keys are kept."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise BadURIExtensionError("a URI extension block is bytes, not %s"
                                   % type(data).__name__)
    d = {}
    pos = 0
    end = len(data)
    while pos < end:
        colon = data.find(b":", pos)
        if colon < 0:
            raise BadURIExtensionError("URI extension block: no ':' after the key starting "
                                       "at byte %d" % pos)
        key = data[pos:colon]
        if not _KEY_RE.match(key):
            raise BadURIExtensionError("URI extension block: bad key %r at byte %d"
                                       % (key[:40], pos))
        lencolon = data.find(b":", colon + 1)
        digits = data[colon + 1:lencolon] if lencolon >= 0 else b""
        if not digits.isdigit() or len(digits) > 12:
            raise BadURIExtensionError("URI extension block: the value of %r has no valid "
                                       "netstring length" % key)
        start = lencolon + 1
        stop = start + int(digits)
        if stop >= end or data[stop:stop + 1] != b",":
            raise BadURIExtensionError("URI extension block: the value of %r is truncated or "
                                       "lacks its ','" % key)
        skey = key.decode("ascii")
        if skey in d:
            raise BadURIExtensionError("URI extension block: key %r appears twice" % skey)
        d[skey] = data[start:stop]
        pos = stop + 1
    for ikey in INT_KEYS:
        if ikey in d:
            raw = d[ikey]
            if not raw.isdigit():
                raise BadURIExtensionError("URI extension block: %s is %r, not a decimal "
                                           "number" % (ikey, raw[:40]))
            d[ikey] = int(raw)
    return d


def uri_extension_hash(data: bytes) -> bytes:
    """The 32-byte hash of a serialized UEB: the one in the read cap."""
    return hashutil.uri_extension_hash(data)


def make_uri_extension(params: SegmentParams, crypttext_hash: bytes,
                       crypttext_root_hash: bytes, share_root_hash: bytes) -> dict:
    """The 11 keys a current uploader writes for a file of these parameters."""
    for name, h in (("crypttext_hash", crypttext_hash),
                    ("crypttext_root_hash", crypttext_root_hash),
                    ("share_root_hash", share_root_hash)):
        if not isinstance(h, bytes) or len(h) != 32:
            raise BadURIExtensionError("%s must be 32 bytes" % name)
    return {
        "codec_name": b"crs",
        "codec_params": params.codec_params(),
        "tail_codec_params": params.tail_codec_params(),
        "size": params.size,
        "segment_size": params.segment_size,
        "num_segments": params.num_segments,
        "needed_shares": params.k,
        "total_shares": params.n,
        "crypttext_hash": crypttext_hash,
        "crypttext_root_hash": crypttext_root_hash,
        "share_root_hash": share_root_hash,
    }


def uri_extension_size(params: SegmentParams) -> int:
    """Length of the serialized UEB a file of these parameters will get (the
    hashes have a fixed length), known before encoding so that buckets can
    be allocated at their exact size."""
    z = b"\x00" * 32
    return len(pack_uri_extension(make_uri_extension(params, z, z, z)))
