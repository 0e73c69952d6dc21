"""The bytes of a directory (docs/specifications/directories.md): packing and unpacking its children.

A directory's contents are the plaintext of a file (mutable for ``URI:DIR2:``,
CHK or LIT for immutable directories): one netstring per child, sorted by the
child's NFC-normalized name, each holding four netstrings::

    NS(name utf-8) NS(ro_cap) NS(rwcapdata) NS(metadata json)

``rwcapdata`` hides the child's write cap from read-only holders: in a
mutable directory it is ``salt(16) || AES-CTR(key, rwcap) || mac(32)`` with
``salt = TH16(child-salt tag, rwcap)`` and ``key = TPH16(capkey tag, salt,
dir_writekey)``; in an immutable directory it is empty.  Readers ignore the
MAC and strip trailing spaces from both caps.

This module is pure (no network, no nodes of its own).  It is built for large
directories: a parsed child is a :class:`ChildEntry` that remembers its raw
entry bytes, so

* unpacking new contents re-uses the entries of the previous contents whose
  bytes did not change (one dict lookup per child instead of parsing,
  decrypting and JSON-decoding it again), and
* packing writes the raw bytes of unchanged children as they are; only new
  or changed children are encrypted and serialized.

The write cap, the metadata dict and the node of an entry are computed on
first use and kept in the entry.
"""

import hashlib
import json
import unicodedata

from .crypto.aes import ctr_encrypt
from .uri import (ALLEGED_IMMUTABLE_PREFIX, ALLEGED_READONLY_PREFIX, CapConstraintError,
                  MustBeDeepImmutableError)
from .util.hashutil import dirnode_child_capkey, dirnode_child_rwcap_salt

__all__ = [
    "DirectoryError", "DirectoryFormatError", "NotMutableError", "NotWriteableError",
    "NoSuchChildError", "ExistingChildError", "ChildOfWrongTypeError", "BadChildNameError",
    "MustBeDeepImmutableError", "MustNotBeUnknownRWError", "CapConstraintError",
    "ONLY_FILES", "normalize", "check_new_name", "new_name", "legacy_hmac", "encrypt_rwcap", "decrypt_rwcapdata",
    "strip_prefix_for_ro", "update_metadata", "ChildEntry", "unpack_contents", "pack_entries",
]

SALT_LENGTH = 16
MAC_LENGTH = 32

#: ``overwrite=ONLY_FILES`` (also spelled ``"only-files"``): replace an
#: existing child only if it is not a directory.
ONLY_FILES = "only-files"


# ---- errors -------------------------------------------------------------------------------
class DirectoryError(Exception):
    """Base class of the directory errors."""


class DirectoryFormatError(DirectoryError, ValueError):
    """The contents of a directory are not well-formed (docs/specifications/directories.md)."""


class NotMutableError(DirectoryError):
    """A change was asked of a directory that cannot be changed through this
    cap: it is immutable, or this is a read-only view of it."""

    def __init__(self, message="this directory is read-only (an immutable directory, or a "
                               "read-only cap): use its write cap to change it"):
        DirectoryError.__init__(self, message)


#: Tahoe-LAFS's name for the same error.
NotWriteableError = NotMutableError


class NoSuchChildError(DirectoryError, KeyError):
    """The directory has no child of that name."""

    def __init__(self, name="", message=None):
        self.name = name
        DirectoryError.__init__(self, message or "no child named %r in this directory" % (name,))

    def __str__(self):
        return self.args[0]


class ExistingChildError(DirectoryError):
    """A child of that name exists and the operation was told not to replace it."""


class ChildOfWrongTypeError(DirectoryError):
    """The child is a file where a directory was required, or the reverse."""


class BadChildNameError(DirectoryError):
    """A name no new link may have (see :func:`check_new_name`)."""


class MustNotBeUnknownRWError(CapConstraintError):
    """An unknown write cap (no read-only form known) cannot be put where only
    read-only or immutable caps are allowed."""


# ---- names ---------------------------------------------------------------------------------
def normalize(name) -> str:
    """A child name in NFC (names are normalized on the way in and out)."""
    if isinstance(name, bytes):
        name = name.decode("utf-8")
    if not isinstance(name, str):
        raise TypeError("a child name must be a str, not %s" % type(name).__name__)
    if name.isascii() or unicodedata.is_normalized("NFC", name):
        return name
    return unicodedata.normalize("NFC", name)


#: names that would read as "this directory" or "its parent" in a path
_PATH_WORDS = ("", ".", "..")


def check_new_name(name: str) -> str:
    """``name`` (already NFC) if a new link may carry it; else
    :class:`BadChildNameError`.  Refused: the empty name, ``.`` and ``..``
    (they mean something else in a path), and names containing ``/`` (the
    path separator) or NUL (it ends names in C and on every local
    filesystem).  Links that already carry such a name can still be read,
    renamed and unlinked."""
    if name in _PATH_WORDS:
        raise BadChildNameError("%r cannot be the name of a child: the empty name, \".\" and "
                                "\"..\" are refused" % (name,))
    if "/" in name:
        raise BadChildNameError("%r cannot be the name of a child: a name may not contain "
                                "\"/\"" % (name,))
    if "\x00" in name:
        raise BadChildNameError("%r cannot be the name of a child: a name may not contain "
                                "NUL" % (name,))
    return name


def new_name(namex) -> str:
    """A name given for a new link, in NFC and checked (:func:`check_new_name`)."""
    return check_new_name(normalize(namex))


# ---- the encrypted write cap ------------------------------------------------------------------
def legacy_hmac(key: bytes, data: bytes) -> bytes:
    """The MAC after a child's encrypted write cap (docs/specifications/encodings.md §4.4): single
    SHA-256, the key XORed byte by byte and *not* padded to 64 bytes.  Written
    for compatibility, never checked."""
    ikey = bytes(b ^ 0x36 for b in key)
    okey = bytes(b ^ 0x5C for b in key)
    inner = hashlib.sha256(ikey + data).digest()
    return hashlib.sha256(okey + inner).digest()


def encrypt_rwcap(writekey: bytes, rwcap: bytes) -> bytes:
    """``salt || ct || mac`` for a child write cap (may be empty) under the
    directory's writekey."""
    salt = dirnode_child_rwcap_salt(rwcap)
    key = dirnode_child_capkey(salt, writekey)
    ct = ctr_encrypt(key, rwcap)
    return salt + ct + legacy_hmac(key, salt + ct)


def decrypt_rwcapdata(writekey: bytes, rwcapdata: bytes) -> bytes:
    """The child write cap inside ``rwcapdata`` (trailing spaces kept; the
    MAC is not checked)."""
    if len(rwcapdata) < SALT_LENGTH + MAC_LENGTH:
        raise DirectoryFormatError("a child's encrypted write cap is %d bytes; it needs at "
                                   "least 48 (salt and MAC)" % len(rwcapdata))
    salt = rwcapdata[:SALT_LENGTH]
    return ctr_encrypt(dirnode_child_capkey(salt, writekey), rwcapdata[SALT_LENGTH:-MAC_LENGTH])


def strip_prefix_for_ro(ro_uri: bytes, deep_immutable: bool) -> bytes:
    """What goes into the ro_cap slot: without ``ro.``, and without ``imm.``
    in an immutable directory (where it is implied)."""
    if ro_uri.startswith(ALLEGED_IMMUTABLE_PREFIX):
        return ro_uri[len(ALLEGED_IMMUTABLE_PREFIX):] if deep_immutable else ro_uri
    if ro_uri.startswith(ALLEGED_READONLY_PREFIX):
        return ro_uri[len(ALLEGED_READONLY_PREFIX):]
    return ro_uri


# ---- metadata --------------------------------------------------------------------------------
def update_metadata(old: dict | None, new: dict | None, now: float) -> dict:
    """The metadata of a link after a change at time ``now``.

    ``new=None`` keeps the other keys of ``old``; otherwise ``new`` replaces
    them.  The ``tahoe`` key is ours: callers' values for it are dropped; it
    keeps ``linkcrtime`` from ``old`` (or an old ``ctime``, or ``now`` for a
    new link) and gets ``linkmotime = now``.  ``old`` is not modified.
    """
    old = old or {}
    if new is None:
        md = dict(old)
    else:
        if not isinstance(new, dict):
            raise TypeError("metadata must be a dict, not %s" % type(new).__name__)
        md = {k: v for k, v in new.items() if k != "tahoe"}
    tahoe = dict(old["tahoe"]) if isinstance(old.get("tahoe"), dict) else {}
    if "linkcrtime" not in tahoe:
        tahoe["linkcrtime"] = old["ctime"] if "ctime" in old else now
    tahoe["linkmotime"] = now
    md["tahoe"] = tahoe
    return md


def _copy_metadata(md: dict) -> dict:
    """A copy a caller may change without touching the cached one."""
    return {k: (dict(v) if type(v) is dict else v) for k, v in md.items()}


# ---- entries ---------------------------------------------------------------------------------
class ChildEntry:
    """One child of a directory.

    Parsed entries know their ``raw`` entry bytes (the inside of the outer
    netstring); new entries get them from :meth:`build_raw` when packed.
    ``rw_uri``/``ro_uri`` are ``None`` when absent.  ``node`` is filled in by
    the directory (lazily).
    """

    __slots__ = ("name", "ro_uri", "rwcapdata", "metadata_json", "raw", "node",
                 "_rw_uri", "_metadata", "listing")

    _UNSET = object()

    def __init__(self, name, ro_uri, rwcapdata=b"", metadata_json=None, raw=None, rw_uri=_UNSET,
                 metadata=None, node=None):
        self.name = name
        self.ro_uri = ro_uri
        self.rwcapdata = rwcapdata
        self.metadata_json = metadata_json
        self.raw = raw
        self.node = node
        self._rw_uri = rw_uri
        self._metadata = metadata
        # what a front end made of this entry for a listing (the web API keeps
        # the entry's t=json text here): entries are re-used while their bytes
        # stay the same, so a big directory's listing re-uses it
        self.listing = None

    def __repr__(self):
        return "<ChildEntry %r>" % (self.name,)

    @classmethod
    def new(cls, name: str, rw_uri, ro_uri, metadata: dict, node=None):
        """An entry to be packed: caps as bytes or None."""
        return cls(name, ro_uri or None, rw_uri=rw_uri or None, metadata=metadata, node=node)

    def rw_uri(self, writekey):
        """The child's write cap, or None (absent, or no writekey to decrypt it)."""
        if writekey is None:
            return None
        rw = self._rw_uri
        if rw is ChildEntry._UNSET:
            if len(self.rwcapdata) <= SALT_LENGTH + MAC_LENGTH:
                return None     # absent, or an encrypted empty cap: nothing to decrypt
            rw = decrypt_rwcapdata(writekey, self.rwcapdata).rstrip(b" ") or None
            self._rw_uri = rw
        return rw

    @property
    def metadata(self) -> dict:
        """The metadata dict (shared: do not modify; see :meth:`metadata_copy`)."""
        md = self._metadata
        if md is None:
            try:
                mdj = self.metadata_json
                # text, not bytes: json.loads would first guess the encoding of bytes
                md = json.loads(mdj.decode("utf-8") if isinstance(mdj, bytes) else mdj)
            except (ValueError, RecursionError) as e:     # RecursionError: nested too deep
                raise DirectoryFormatError("metadata of child %r is not JSON: %s"
                                           % (self.name, e)) from None
            if not isinstance(md, dict):
                raise DirectoryFormatError("metadata of child %r is not a JSON object"
                                           % (self.name,))
            self._metadata = md
        return md

    def metadata_copy(self) -> dict:
        return _copy_metadata(self.metadata)

    def build_raw(self, writekey, deep_immutable: bool) -> bytes:
        """Serialize this entry (sets ``raw`` and forgets the decoded
        metadata so that it is re-read from the JSON, as a reader would)."""
        name = self.name.encode("utf-8")
        ro = strip_prefix_for_ro(self.ro_uri or b"", deep_immutable)
        if writekey is not None:
            rwcapdata = encrypt_rwcap(writekey, self._rw_uri or b"")
        else:
            rwcapdata = b""
        mdj = json.dumps(self._metadata).encode("utf-8")
        self.raw = b"%d:%s,%d:%s,%d:%s,%d:%s," % (len(name), name, len(ro), ro,
                                                   len(rwcapdata), rwcapdata, len(mdj), mdj)
        self.ro_uri = ro.rstrip(b" ") or None
        self.rwcapdata = rwcapdata
        self.metadata_json = mdj
        self._metadata = None
        self.listing = None
        if writekey is None:
            self._rw_uri = ChildEntry._UNSET
        else:
            self._rw_uri = (self._rw_uri or b"").rstrip(b" ") or None
        return self.raw


#: no netstring in a directory is longer than this many digits say (the
#: check keeps int() away from a length of thousands of digits)
_MAX_LENGTH_DIGITS = 19


def _split4(raw: bytes):
    """The four netstrings of an entry."""
    out = []
    pos = 0
    for _ in range(4):
        colon = raw.find(b":", pos)
        digits = raw[pos:colon]
        if colon < 0 or not digits.isdigit() or len(digits) > _MAX_LENGTH_DIGITS:
            raise DirectoryFormatError("a directory entry is not four netstrings")
        start = colon + 1
        end = start + int(digits)
        if raw[end:end + 1] != b",":
            raise DirectoryFormatError("a directory entry has a truncated netstring")
        out.append(raw[start:end])
        pos = end + 1
    if pos != len(raw):
        raise DirectoryFormatError("a directory entry has %d extra bytes" % (len(raw) - pos))
    return out


def parse_entry(raw: bytes, mutable: bool) -> ChildEntry:
    name_utf8, ro_uri, rwcapdata, metadata_json = _split4(raw)
    if not mutable and rwcapdata:
        raise DirectoryFormatError("an entry of an immutable directory has a non-empty "
                                   "encrypted write cap")
    if rwcapdata and len(rwcapdata) < SALT_LENGTH + MAC_LENGTH:
        raise DirectoryFormatError("a child's encrypted write cap is %d bytes; it needs at "
                                   "least 48" % len(rwcapdata))
    try:
        name = normalize(name_utf8.decode("utf-8"))
    except UnicodeDecodeError:
        raise DirectoryFormatError("a child name is not UTF-8: %r" % (name_utf8[:40],)) from None
    return ChildEntry(name, ro_uri.rstrip(b" ") or None, rwcapdata, metadata_json, raw)


def unpack_contents(data: bytes, mutable: bool, previous: dict | None = None) -> dict:
    """``{name: ChildEntry}`` in the order of ``data``.

    ``previous`` maps raw entry bytes to entries already parsed (of the same
    directory, under the same writekey): those are re-used.  When two
    entries carry the same name the last one wins.
    """
    children = {}
    pos = 0
    end_of_data = len(data)
    get = previous.get if previous else (lambda raw: None)
    while pos < end_of_data:
        colon = data.find(b":", pos)
        digits = data[pos:colon]
        if colon < 0 or not digits.isdigit() or len(digits) > _MAX_LENGTH_DIGITS:
            raise DirectoryFormatError("directory contents are not a list of netstrings "
                                       "(at byte %d)" % pos)
        start = colon + 1
        end = start + int(digits)
        if data[end:end + 1] != b",":
            raise DirectoryFormatError("directory contents end inside an entry (at byte %d)"
                                       % pos)
        raw = data[start:end]
        entry = get(raw)
        if entry is None:
            entry = parse_entry(raw, mutable)
        children[entry.name] = entry
        pos = end + 1
    return children


def pack_entries(children: dict, writekey, deep_immutable: bool) -> bytes:
    """The contents for ``{name: ChildEntry}`` (names already NFC), sorted by
    name.  Entries with ``raw`` bytes are written as they are."""
    parts = []
    for name in sorted(children):
        entry = children[name]
        raw = entry.raw
        if raw is None:
            raw = entry.build_raw(writekey, deep_immutable)
        parts.append(b"%d:%s," % (len(raw), raw))
    return b"".join(parts)
