"""Capability strings ("caps") of docs/specifications/caps.md: parsing, printing, deriving.

Every cap is ``URI:<kind>:<fields>``, with keys and hashes in Tahoe's strict
base32 and numbers in plain decimal.  Each kind is a small immutable class
here; :func:`from_string` picks the class from the kind and parses the rest.

* A known kind with a malformed body (bad base32, wrong field length, a
  missing field, k > N ...) raises :class:`BadURIError` saying what is wrong.
* Anything else -- an unknown kind, or not a ``URI:`` string at all -- is
  kept as an :class:`UnknownURI`, never rejected, so that caps from future
  versions survive a trip through directories (forward compatibility).
* Inside directories caps may carry ``ro.`` ("alleged read-only") or
  ``imm.`` ("alleged immutable") in front.  A cap is only decoded if it
  agrees with its prefix: ``ro.URI:SSK:...`` (a write cap) becomes an
  UnknownURI that remembers the string and why, so the prefix can never be
  used to smuggle write authority into a read-only place.  Verify caps are
  allowed everywhere.

Derivations (docs/specifications/caps.md §5): SSK/MDMF writekey -> readkey -> storage index,
CHK key -> storage index.  Directory caps wrap the matching file cap and
copy its body byte for byte.
"""

import functools
import re

from zope.interface import implementer

from allmydata.util import base32, hashutil
from allmydata.util.censor import censor_text
from allmydata.uri_interfaces import (IDirnodeURI, IFileURI, IMutableFileURI, INewDirectoryURI,
                                      IReadonlyNewDirectoryURI, IURI, IVerifierURI)

__all__ = [
    "URIError", "BadURIError", "CapConstraintError", "MustBeReadonlyError",
    "MustBeDeepImmutableError",
    "CHKFileURI", "CHKFileVerifierURI", "LiteralFileURI",
    "WriteableSSKFileURI", "ReadonlySSKFileURI", "SSKVerifierURI",
    "WriteableMDMFFileURI", "ReadonlyMDMFFileURI", "MDMFVerifierURI",
    "DirectoryURI", "ReadonlyDirectoryURI", "DirectoryURIVerifier",
    "MDMFDirectoryURI", "ReadonlyMDMFDirectoryURI", "MDMFDirectoryURIVerifier",
    "ImmutableDirectoryURI", "ImmutableDirectoryURIVerifier", "LiteralDirectoryURI",
    "UnknownURI", "from_string", "from_string_dirnode", "from_string_filenode",
    "from_string_verifier", "from_string_mutable_filenode", "is_uri",
    "is_literal_file_uri", "has_uri_prefix", "ALLEGED_READONLY_PREFIX",
    "ALLEGED_IMMUTABLE_PREFIX", "URI_LIT_SIZE_THRESHOLD", "MAX_FILE_SIZE",
]

ALLEGED_READONLY_PREFIX = b"ro."
ALLEGED_IMMUTABLE_PREFIX = b"imm."
URI_LIT_SIZE_THRESHOLD = 55   # files up to this size are LIT caps (docs/specifications/caps.md §2.2)
KEY_SIZE = 16                 # AES keys and storage indexes
HASH_SIZE = 32                # UEB hashes and pubkey fingerprints
MAX_SHARES = 256

#: the largest file size a cap may carry: shares and the UEB hold sizes as
#: 64-bit numbers
MAX_FILE_SIZE = 2 ** 64 - 1
#: at most as many digits as MAX_FILE_SIZE has: no cap number is longer, so
#: no cap can make int() slow or hit Python's limit on digits
MAX_NUMBER_DIGITS = len(str(MAX_FILE_SIZE))
_NUMBER = re.compile(rb"(0|[1-9][0-9]*)\Z")
# the body of a CHK read or verify cap: 16-byte field, UEB hash, k, N, size
_CHK_FIELDS = re.compile(rb"([a-z2-7]{26}):([a-z2-7]{52}):([1-9][0-9]{0,2}):([1-9][0-9]{0,2}):"
                         rb"(0|[1-9][0-9]{0,%d})\Z" % (MAX_NUMBER_DIGITS - 1))



def _shown(s: bytes) -> str:
    """At most 40 characters of a string that failed to parse as a cap, for an
    error message or a repr, with any cap in it censored: the string may be a
    cap of another kind, whose key must not reach a log."""
    return censor_text(s[:40].decode("ascii", "replace"))

class URIError(Exception):
    """Base class of this module's errors."""


class BadURIError(URIError, ValueError):
    """A string looks like a cap of a known kind but is malformed."""


class CapConstraintError(URIError):
    """A well-formed cap is not allowed where it was found."""


class MustBeReadonlyError(CapConstraintError):
    """A cap with write authority was found where only read-only caps may be."""


class MustBeDeepImmutableError(CapConstraintError):
    """A cap to mutable data was found where only immutable caps may be."""


def _to_bytes(s) -> bytes:
    if isinstance(s, str):
        return s.encode("utf-8")
    if isinstance(s, (bytes, bytearray, memoryview)):
        return bytes(s)
    raise BadURIError("a cap must be bytes or str, not %s" % type(s).__name__)


def _fields(prefix, body, names, allow_tail=False):
    """Split ``body`` into exactly ``len(names)`` ``:``-separated fields
    (plus an ignored tail when ``allow_tail``)."""
    n = len(names)
    parts = body.split(b":", n) if allow_tail else body.split(b":")
    if allow_tail and len(parts) == n + 1:
        parts = parts[:n]
    if len(parts) != n or (body == b"" and n):
        raise BadURIError("%s cap needs %d fields after the prefix (%s), got %d"
                          % (prefix.decode(), n, ":".join(names), 0 if body == b"" else len(parts)))
    return parts


def _b32(prefix, name, field, size):
    try:
        value = base32.a2b(field)
    except base32.Base32Error as e:
        raise BadURIError("%s cap: the %s field is not valid base32 (lower-case a-z, 2-7): %s"
                          % (prefix.decode(), name, e)) from None
    if len(value) != size:
        raise BadURIError("%s cap: the %s field decodes to %d bytes, it must be %d bytes (%d chars)"
                          % (prefix.decode(), name, len(value), size, (size * 8 + 4) // 5))
    return value


def _number(prefix, name, field):
    if len(field) > MAX_NUMBER_DIGITS:
        raise BadURIError("%s cap: the %s field has %d digits; no cap number has more than %d"
                          % (prefix.decode(), name, len(field), MAX_NUMBER_DIGITS))
    if not _NUMBER.match(field):
        raise BadURIError("%s cap: the %s field %r is not a plain decimal number"
                          % (prefix.decode(), name, field.decode("ascii", "replace")))
    return int(field)


def _check_bytes(cls, name, value, size):
    if not isinstance(value, bytes) or len(value) != size:
        got = ("%d bytes" % len(value)) if isinstance(value, bytes) else type(value).__name__
        raise BadURIError("%s needs a %d-byte %s, got %s" % (cls.__name__, size, name, got))


def _check_encoding(cls, k, n, size):
    if (type(k) is int and type(n) is int and type(size) is int
            and 1 <= k <= n <= MAX_SHARES and 0 <= size <= MAX_FILE_SIZE):
        return  # the common case, checked quickly (a big directory parses thousands of caps)
    for name, v in (("needed_shares", k), ("total_shares", n), ("size", size)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise BadURIError("%s: %s must be an int, got %r" % (cls.__name__, name, v))
    if not 1 <= k <= n <= MAX_SHARES:
        raise BadURIError("%s: encoding needs 1 <= k <= N <= %d, got k=%d N=%d"
                          % (cls.__name__, MAX_SHARES, k, n))
    if not 0 <= size <= MAX_FILE_SIZE:
        raise BadURIError("%s: size must be between 0 and %d, got %d"
                          % (cls.__name__, MAX_FILE_SIZE, size))


class _computed_once:
    """Like functools.cached_property, without its lock (Python 3.11 takes
    one on every first access, and a listing of a big directory asks
    thousands of caps for their storage index once each)."""

    def __init__(self, func):
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __get__(self, obj, cls=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.func(obj)
        return value


def _remembering(to_string):
    """``to_string`` computed once per cap (caps never change): listing a big
    directory prints every child's cap, often more than once."""
    @functools.wraps(to_string)
    def wrapper(self):
        try:
            return self.__dict__["_string"]
        except KeyError:
            text = self.__dict__["_string"] = to_string(self)
            return text
    return wrapper


class _BaseURI:
    PREFIX = b""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "to_string" in cls.__dict__:
            cls.to_string = _remembering(cls.__dict__["to_string"])

    @classmethod
    def init_from_string(cls, uri):
        """Parse ``uri`` (bytes or str) as this kind of cap."""
        s = _to_bytes(uri)
        if not s.startswith(cls.PREFIX):
            if s == cls.PREFIX[:-1]:
                raise BadURIError("%s cap has no fields after the prefix" % cls.PREFIX.decode())
            raise BadURIError("%r is not a %s cap" % (_shown(s), cls.PREFIX.decode()))
        return cls._from_body(s[len(cls.PREFIX):], cls.PREFIX)

    def __eq__(self, other):
        return type(self) is type(other) and self.to_string() == other.to_string()

    def __hash__(self):
        return hash((type(self).__name__, self.to_string()))

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, _shown(self.to_string()))

    # Most kinds answer these from two class flags.
    READONLY = True
    MUTABLE = False

    def is_readonly(self):
        return self.READONLY

    def is_mutable(self):
        return self.MUTABLE

    def get_readonly(self):
        """Read-only caps are their own read-only form; every writable cap
        class defines its own derivation."""
        if self.READONLY:
            return self
        raise TypeError("%s is writable but defines no read-only derivation" % type(self).__name__)

    def get_verify_cap(self):
        """Tahoe's newer name for :meth:`get_verifier`."""
        return self.get_verifier()

    def get_storage_index(self):
        return None


# ---- immutable files ------------------------------------------------------------------
class _CHKBase(_BaseURI):
    """Shared shape of CHK read and verify caps: a 16-byte first field, the
    UEB hash, k, N and the file size."""
    FIRST = "key"

    def __init__(self, first, uri_extension_hash, needed_shares, total_shares, size):
        _check_bytes(type(self), self.FIRST, first, KEY_SIZE)
        _check_bytes(type(self), "uri_extension_hash", uri_extension_hash, HASH_SIZE)
        _check_encoding(type(self), needed_shares, total_shares, size)
        self.uri_extension_hash = uri_extension_hash
        self.needed_shares = needed_shares
        self.total_shares = total_shares
        self.size = size

    @classmethod
    def _from_body(cls, body, prefix):
        cap = cls._from_common_body(body)
        if cap is not None:
            return cap
        first, ueb, k, n, size = _fields(prefix, body, [cls.FIRST, "UEB hash", "k", "N", "size"])
        args = (_b32(prefix, cls.FIRST, first, KEY_SIZE),
                _b32(prefix, "UEB hash", ueb, HASH_SIZE),
                _number(prefix, "k", k), _number(prefix, "N", n), _number(prefix, "size", size))
        try:
            cap = cls(*args)
        except BadURIError as e:
            raise BadURIError("%s cap: %s" % (prefix.decode(), str(e).split(": ", 1)[1])) from None
        # Strict base32 and numbers without leading zeros: the text parsed is
        # the one to_string() would write, so keep it (listing a directory
        # writes every child's cap back out).
        cap.__dict__["_string"] = cls.PREFIX + bytes(body)
        return cap

    @classmethod
    def _from_common_body(cls, body):
        """The cap of a well-formed body in one regular-expression match (a
        big directory parses thousands of these), or None: anything unusual
        goes through the field-by-field parse, which says what is wrong."""
        m = _CHK_FIELDS.match(body)
        if m is None:
            return None
        first, ueb, k, n, size = m.groups()
        k, n, size = int(k), int(n), int(size)
        if n > MAX_SHARES or k > n or size > MAX_FILE_SIZE:
            return None
        try:
            first, ueb = base32.a2b(first), base32.a2b(ueb)
        except base32.Base32Error:
            return None
        return cls._unchecked(first, ueb, k, n, size, cls.PREFIX + bytes(body))

    @classmethod
    def _unchecked(cls, first, ueb, k, n, size, text):
        """A cap of fields already checked, whose string is ``text``."""
        cap = cls.__new__(cls)
        fields = cap.__dict__
        fields[cls.FIRST] = first
        fields["uri_extension_hash"] = ueb
        fields["needed_shares"] = k
        fields["total_shares"] = n
        fields["size"] = size
        fields["_string"] = text
        return cap

    def _first(self):
        """The 16-byte first field (key or storage index): each CHK cap class says which."""
        raise TypeError("%s does not say which field comes first" % type(self).__name__)

    def to_string(self):
        return b"%s%s:%s:%d:%d:%d" % (self.PREFIX, base32.b2a(self._first()),
                                      base32.b2a(self.uri_extension_hash),
                                      self.needed_shares, self.total_shares, self.size)

    def get_size(self):
        return self.size

    def get_storage_index(self):
        return self.storage_index


@implementer(IURI, IFileURI)
class CHKFileURI(_CHKBase):
    """``URI:CHK:<key>:<UEB hash>:<k>:<N>:<size>``: read cap of an immutable file."""
    PREFIX = b"URI:CHK:"
    FIRST = "key"

    def __init__(self, key, uri_extension_hash, needed_shares, total_shares, size):
        super().__init__(key, uri_extension_hash, needed_shares, total_shares, size)
        self.key = key

    @_computed_once
    def storage_index(self) -> bytes:
        # computed when first asked: parsing the caps of a big directory
        # should not hash every one of them
        return hashutil.storage_index_hash(self.key)

    def _first(self):
        return self.key

    def get_verifier(self):
        verifier = self.__dict__.get("_verifier")
        if verifier is None:
            # The fields were checked when this cap was made: the verify cap
            # is put together without checking them again (a listing of a
            # big directory asks every child for its verify cap).
            si = self.storage_index
            # the same fields after the first: only the storage index is new text
            rest = self.to_string()[8:].split(b":", 1)[1]   # after b"URI:CHK:<key>:"
            verifier = self.__dict__["_verifier"] = CHKFileVerifierURI._unchecked(
                si, self.uri_extension_hash, self.needed_shares, self.total_shares, self.size,
                b"URI:CHK-Verifier:%s:%s" % (base32.b2a(si), rest))
        return verifier


@implementer(IVerifierURI, IURI)
class CHKFileVerifierURI(_CHKBase):
    """``URI:CHK-Verifier:<SI>:<UEB hash>:<k>:<N>:<size>``: can check, not read."""
    PREFIX = b"URI:CHK-Verifier:"
    FIRST = "storage_index"

    def __init__(self, storage_index, uri_extension_hash, needed_shares, total_shares, size):
        super().__init__(storage_index, uri_extension_hash, needed_shares, total_shares, size)
        self.storage_index = storage_index

    def _first(self):
        return self.storage_index

    def get_verifier(self):
        return self


@implementer(IURI, IFileURI)
class LiteralFileURI(_BaseURI):
    """``URI:LIT:<data>``: the whole (small) file is in the cap."""
    PREFIX = b"URI:LIT:"

    def __init__(self, data):
        if not isinstance(data, bytes):
            raise BadURIError("LiteralFileURI needs bytes, got %s" % type(data).__name__)
        self.data = data

    @classmethod
    def _from_body(cls, body, prefix):
        try:
            return cls(base32.a2b(body))
        except base32.Base32Error as e:
            raise BadURIError("%s cap: the data is not valid base32: %s"
                              % (prefix.decode(), e)) from None

    def to_string(self):
        return self.PREFIX + base32.b2a(self.data)

    def get_verifier(self):
        return None

    def get_size(self):
        return len(self.data)


# ---- mutable files (SDMF "SSK" and MDMF) -----------------------------------------------
class _SSKBase(_BaseURI):
    """Shared shape of the mutable caps: a 16-byte key (or SI) and the
    32-byte public-key fingerprint.  MDMF parsers drop a ``:...`` tail
    (1.9.0 alphas wrote extension hints there)."""
    FIRST = "writekey"
    ALLOW_TAIL = False

    def __init__(self, first, fingerprint):
        _check_bytes(type(self), self.FIRST, first, KEY_SIZE)
        _check_bytes(type(self), "fingerprint", fingerprint, HASH_SIZE)
        self.fingerprint = fingerprint

    @classmethod
    def _from_body(cls, body, prefix):
        first, fp = _fields(prefix, body, [cls.FIRST, "fingerprint"], cls.ALLOW_TAIL)
        return cls(_b32(prefix, cls.FIRST, first, KEY_SIZE),
                   _b32(prefix, "fingerprint", fp, HASH_SIZE))

    def to_string(self):
        return b"%s%s:%s" % (self.PREFIX, base32.b2a(self._first()), base32.b2a(self.fingerprint))

    def get_storage_index(self):
        return self.storage_index


@implementer(IURI, IMutableFileURI)
class WriteableSSKFileURI(_SSKBase):
    """``URI:SSK:<writekey>:<fingerprint>``: write cap of an SDMF file."""
    PREFIX = b"URI:SSK:"
    FIRST = "writekey"
    READONLY, MUTABLE = False, True

    def __init__(self, writekey, fingerprint):
        super().__init__(writekey, fingerprint)
        self.writekey = writekey

    @_computed_once
    def readkey(self) -> bytes:
        return hashutil.ssk_readkey_hash(self.writekey)

    @_computed_once
    def storage_index(self) -> bytes:
        return hashutil.ssk_storage_index_hash(self.readkey)

    def _first(self):
        return self.writekey

    def get_readonly(self):
        return _READONLY_OF[type(self)](self.readkey, self.fingerprint)

    def get_verifier(self):
        return _VERIFIER_OF[type(self)](self.storage_index, self.fingerprint)


@implementer(IURI, IMutableFileURI)
class ReadonlySSKFileURI(_SSKBase):
    """``URI:SSK-RO:<readkey>:<fingerprint>``: read cap of an SDMF file."""
    PREFIX = b"URI:SSK-RO:"
    FIRST = "readkey"
    MUTABLE = True

    def __init__(self, readkey, fingerprint):
        super().__init__(readkey, fingerprint)
        self.readkey = readkey

    @_computed_once
    def storage_index(self) -> bytes:
        return hashutil.ssk_storage_index_hash(self.readkey)

    def _first(self):
        return self.readkey

    def get_verifier(self):
        return _VERIFIER_OF[type(self)](self.storage_index, self.fingerprint)


@implementer(IVerifierURI, IURI)
class SSKVerifierURI(_SSKBase):
    """``URI:SSK-Verifier:<SI>:<fingerprint>``: can check an SDMF file."""
    PREFIX = b"URI:SSK-Verifier:"
    FIRST = "storage_index"

    def __init__(self, storage_index, fingerprint):
        super().__init__(storage_index, fingerprint)
        self.storage_index = storage_index

    def _first(self):
        return self.storage_index

    def get_verifier(self):
        return self


class WriteableMDMFFileURI(WriteableSSKFileURI):
    """``URI:MDMF:<writekey>:<fingerprint>``."""
    PREFIX = b"URI:MDMF:"
    ALLOW_TAIL = True


class ReadonlyMDMFFileURI(ReadonlySSKFileURI):
    """``URI:MDMF-RO:<readkey>:<fingerprint>``."""
    PREFIX = b"URI:MDMF-RO:"
    ALLOW_TAIL = True


class MDMFVerifierURI(SSKVerifierURI):
    """``URI:MDMF-Verifier:<SI>:<fingerprint>``."""
    PREFIX = b"URI:MDMF-Verifier:"
    ALLOW_TAIL = True


_READONLY_OF = {WriteableSSKFileURI: ReadonlySSKFileURI, WriteableMDMFFileURI: ReadonlyMDMFFileURI}
_VERIFIER_OF = {WriteableSSKFileURI: SSKVerifierURI, ReadonlySSKFileURI: SSKVerifierURI,
                WriteableMDMFFileURI: MDMFVerifierURI, ReadonlyMDMFFileURI: MDMFVerifierURI}


# ---- directories: a prefix around a file cap's body ------------------------------------
@implementer(IURI, IDirnodeURI)
class _DirectoryBaseURI(_BaseURI):
    FILE_CLASS = None

    def __init__(self, filenode_uri):
        if type(filenode_uri) is not self.FILE_CLASS:
            raise BadURIError("%s wraps a %s, got %r"
                              % (type(self).__name__, self.FILE_CLASS.__name__, filenode_uri))
        self._filenode_uri = filenode_uri

    @classmethod
    def _from_body(cls, body, prefix):
        return cls(cls.FILE_CLASS._from_body(body, prefix))

    @property
    def filenode_uri(self):
        return self._filenode_uri

    def get_filenode_cap(self):
        """The file cap of the file holding this directory's contents."""
        return self._filenode_uri

    def to_string(self):
        return self.PREFIX + self._filenode_uri.to_string()[len(self.FILE_CLASS.PREFIX):]

    def is_readonly(self):
        return self._filenode_uri.is_readonly()

    def is_mutable(self):
        return self._filenode_uri.is_mutable()

    def get_readonly(self):
        if self.is_readonly():
            return self
        ro = self._filenode_uri.get_readonly()
        return _DIR_OF[type(ro)](ro)

    def get_verifier(self):
        v = self._filenode_uri.get_verifier()
        if v is None:
            return None
        if v is self._filenode_uri:
            return self
        return _DIR_OF[type(v)](v)

    def get_storage_index(self):
        return self._filenode_uri.get_storage_index()


@implementer(INewDirectoryURI)
class DirectoryURI(_DirectoryBaseURI):
    """``URI:DIR2:...`` (body of ``URI:SSK:``): write cap of a mutable directory."""
    PREFIX = b"URI:DIR2:"
    FILE_CLASS = WriteableSSKFileURI


@implementer(IReadonlyNewDirectoryURI)
class ReadonlyDirectoryURI(_DirectoryBaseURI):
    PREFIX = b"URI:DIR2-RO:"
    FILE_CLASS = ReadonlySSKFileURI


@implementer(IVerifierURI)
class DirectoryURIVerifier(_DirectoryBaseURI):
    PREFIX = b"URI:DIR2-Verifier:"
    FILE_CLASS = SSKVerifierURI


@implementer(INewDirectoryURI)
class MDMFDirectoryURI(_DirectoryBaseURI):
    PREFIX = b"URI:DIR2-MDMF:"
    FILE_CLASS = WriteableMDMFFileURI


@implementer(IReadonlyNewDirectoryURI)
class ReadonlyMDMFDirectoryURI(_DirectoryBaseURI):
    PREFIX = b"URI:DIR2-MDMF-RO:"
    FILE_CLASS = ReadonlyMDMFFileURI


@implementer(IVerifierURI)
class MDMFDirectoryURIVerifier(_DirectoryBaseURI):
    PREFIX = b"URI:DIR2-MDMF-Verifier:"
    FILE_CLASS = MDMFVerifierURI


class ImmutableDirectoryURI(_DirectoryBaseURI):
    """``URI:DIR2-CHK:...`` (body of ``URI:CHK:``): an immutable directory."""
    PREFIX = b"URI:DIR2-CHK:"
    FILE_CLASS = CHKFileURI


@implementer(IVerifierURI)
class ImmutableDirectoryURIVerifier(_DirectoryBaseURI):
    PREFIX = b"URI:DIR2-CHK-Verifier:"
    FILE_CLASS = CHKFileVerifierURI


class LiteralDirectoryURI(_DirectoryBaseURI):
    """``URI:DIR2-LIT:<data>``: a small immutable directory packed in the cap."""
    PREFIX = b"URI:DIR2-LIT:"
    FILE_CLASS = LiteralFileURI


_DIR_OF = {c.FILE_CLASS: c for c in (
    DirectoryURI, ReadonlyDirectoryURI, DirectoryURIVerifier, MDMFDirectoryURI,
    ReadonlyMDMFDirectoryURI, MDMFDirectoryURIVerifier, ImmutableDirectoryURI,
    ImmutableDirectoryURIVerifier, LiteralDirectoryURI)}

# The names of the 2008 interfaces (allmydata-tahoe 2008).
NewDirectoryURI = DirectoryURI
ReadonlyNewDirectoryURI = ReadonlyDirectoryURI
NewDirectoryURIVerifier = DirectoryURIVerifier


# ---- caps we cannot (or may not) decode -------------------------------------------------
@implementer(IURI)
class UnknownURI:
    """A string kept as it is: an unknown kind, or a cap that disagrees with
    its ``ro.``/``imm.`` prefix (then :meth:`get_error` says why).

    It grants nothing: no storage index, no verifier.  ``is_readonly()`` and
    ``is_mutable()`` report what the prefix alleges (no prefix: not read-only,
    maybe mutable).
    """

    def __init__(self, uri, error=None):
        self._uri = _to_bytes(uri)
        self._error = error

    @classmethod
    def init_from_string(cls, uri):
        return cls(uri)

    def to_string(self):
        return self._uri

    def get_error(self):
        return self._error

    def is_readonly(self):
        return self._uri.startswith((ALLEGED_READONLY_PREFIX, ALLEGED_IMMUTABLE_PREFIX))

    def is_mutable(self):
        return not self._uri.startswith(ALLEGED_IMMUTABLE_PREFIX)

    def get_readonly(self):
        return self if self.is_readonly() else None

    def get_verifier(self):
        return None

    get_verify_cap = get_verifier

    def get_storage_index(self):
        return None

    def __eq__(self, other):
        return isinstance(other, UnknownURI) and self._uri == other._uri

    def __hash__(self):
        return hash(("UnknownURI", self._uri))

    def __repr__(self):
        return "<UnknownURI %r%s>" % (self._uri[:30], " (%s)" % self._error if self._error else "")


# ---- entry points ------------------------------------------------------------------------
_KINDS = {c.PREFIX[4:-1]: c for c in (
    CHKFileURI, CHKFileVerifierURI, LiteralFileURI,
    WriteableSSKFileURI, ReadonlySSKFileURI, SSKVerifierURI,
    WriteableMDMFFileURI, ReadonlyMDMFFileURI, MDMFVerifierURI,
    DirectoryURI, ReadonlyDirectoryURI, DirectoryURIVerifier,
    MDMFDirectoryURI, ReadonlyMDMFDirectoryURI, MDMFDirectoryURIVerifier,
    ImmutableDirectoryURI, ImmutableDirectoryURIVerifier, LiteralDirectoryURI)}


def _class_for(s):
    if not s.startswith(b"URI:"):
        return None
    return _KINDS.get(s[4:].split(b":", 1)[0])


def from_string(u, deep_immutable=False, name="<unknown name>"):
    """Parse a cap (bytes or str) into one of this module's classes.

    ``deep_immutable=True`` means the cap was found inside an immutable
    directory: caps to mutable data then become :class:`UnknownURI`.
    Raises :class:`BadURIError` for a known kind with a malformed body.
    """
    s = _to_bytes(u)
    can_be_mutable = can_be_writeable = not deep_immutable
    body = s
    if s.startswith(ALLEGED_IMMUTABLE_PREFIX):
        can_be_mutable = can_be_writeable = False
        body = s[len(ALLEGED_IMMUTABLE_PREFIX):]
    elif s.startswith(ALLEGED_READONLY_PREFIX):
        can_be_writeable = False
        body = s[len(ALLEGED_READONLY_PREFIX):]
    cls = _class_for(body)
    if cls is None:
        return UnknownURI(s)
    cap = cls.init_from_string(body)
    if IVerifierURI.providedBy(cap):
        return cap      # verify caps grant nothing: allowed in every context
    if not can_be_mutable and cap.is_mutable():
        return UnknownURI(s, MustBeDeepImmutableError(
            "%s cap %s is a cap to mutable data, used in an immutable context"
            % (cls.PREFIX.decode(), name)))
    if not can_be_writeable and not cap.is_readonly():
        return UnknownURI(s, MustBeReadonlyError(
            "%s cap %s carries write authority, used in a read-only context"
            % (cls.PREFIX.decode(), name)))
    return cap


def _from_string_as(u, interface, what, deep_immutable=False):
    cap = from_string(u, deep_immutable)
    if not interface.providedBy(cap):
        raise BadURIError("%r is not %s" % (_shown(_to_bytes(u)), what))
    return cap


def from_string_dirnode(u, deep_immutable=False):
    return _from_string_as(u, IDirnodeURI, "a directory cap", deep_immutable)


def from_string_filenode(u, deep_immutable=False):
    cap = from_string(u, deep_immutable)
    if not (IFileURI.providedBy(cap) or IMutableFileURI.providedBy(cap)):
        raise BadURIError("%r is not a file cap" % (_shown(_to_bytes(u)),))
    return cap


def from_string_mutable_filenode(u):
    return _from_string_as(u, IMutableFileURI, "a mutable file cap")


def from_string_verifier(u):
    return _from_string_as(u, IVerifierURI, "a verify cap")


def is_uri(s, deep_immutable=False):
    """True if ``s`` parses as a cap this version understands (and may use)."""
    try:
        return not isinstance(from_string(s, deep_immutable), UnknownURI)
    except (URIError, TypeError, ValueError):
        return False


def is_literal_file_uri(s):
    s = _to_bytes(s)
    return s.startswith((b"URI:LIT:", ALLEGED_READONLY_PREFIX + b"URI:LIT:",
                         ALLEGED_IMMUTABLE_PREFIX + b"URI:LIT:"))


def has_uri_prefix(s):
    s = _to_bytes(s)
    return s.startswith((b"URI:", ALLEGED_READONLY_PREFIX, ALLEGED_IMMUTABLE_PREFIX))
