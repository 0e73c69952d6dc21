"""What every part of the storage server shares: errors, constants, paths,
and checks of remote arguments.

The errors form one small hierarchy under :class:`StorageError`.  They cross
Foolscap as ``RemoteException(remote_type, message)`` on the client side, so
each message is written to be read by the person at the other end.

The argument checks cover what the Foolscap schema of
:mod:`allmydata.storage.interfaces` cannot say (offsets are signed 64-bit
there, share numbers any int) and what an in-process caller could get wrong
(a 17-byte storage index never reaches us over Foolscap, but could locally).
"""

import os

from ..util import base32

#: how long a lease lasts from its grant or renewal: 31 days
LEASE_DURATION = 31 * 24 * 60 * 60
#: the largest mutable share a server accepts (announced in the version dict)
MAX_MUTABLE_SHARE_SIZE = 69_105 * 1000 ** 4
#: a writer that sees no write for this long aborts itself
BUCKET_WRITER_IDLE_TIMEOUT = 30 * 60
#: share numbers are zfec share numbers: 0..255
MAX_SHARENUM = 255
#: Foolscap "Offset" is an 8-byte integer: offsets are below 2**64
MAX_OFFSET = 2 ** 64 - 1


class StorageError(Exception):
    """Something a storage server refused to do, and why."""


class BadArgumentError(StorageError, ValueError):
    """A remote argument is outside what the storage protocol allows."""


class UnknownTestOperatorError(BadArgumentError):
    """A test vector names an operator other than lt, le, eq, ne, ge, gt."""


class DataTooLargeError(StorageError):
    """A write would end past the size allocated for the share."""


class ConflictingWriteError(StorageError):
    """A write overlaps bytes already written and disagrees with them."""


class IncompleteShareError(StorageError):
    """``close()`` of a bucket after one of its writes failed: the share is
    incomplete, so it is deleted instead of being put in place."""


class BucketClosedError(StorageError):
    """A bucket writer was used after close() or abort()."""


class BadWriteEnablerError(StorageError):
    """The write enabler presented for a mutable share is not the stored one.

    The message names the node that recorded the stored write enabler, in the
    form the 2008 interfaces prescribe, so that a client can tell a migrated share from
    a forged request.
    """


class UnknownContainerVersionError(StorageError):
    """A share file is not a container this server knows how to read."""


class UnknownImmutableContainerVersionError(UnknownContainerVersionError):
    """An immutable share file carries a container version other than 1 or 2."""


class UnknownMutableContainerVersionError(UnknownContainerVersionError):
    """A mutable share file does not start with a known container magic."""


class NoSuchLeaseError(StorageError, IndexError):
    """No share of a storage index holds a lease with the given secret.

    It is also an ``IndexError``, which is what the 2008
    ``renew_lease``/``cancel_lease`` raised.
    """


class ShareTypeError(StorageError):
    """An operation for one kind of share met the other kind: one storage
    index holds immutable shares or mutable ones, never both."""


class NoSpaceError(StorageError):
    """A mutable write would grow its shares past the space this server has
    left above its reserve."""


class AnswerTooLargeError(StorageError):
    """A read would answer more bytes than one call may carry."""


class LeaseLimitError(StorageError):
    """A share already holds as many leases as it may."""


# ---- names and paths ------------------------------------------------------------
def si_b2a(storage_index: bytes) -> bytes:
    """The base32 name of a storage index, as used in paths and messages."""
    return base32.b2a(storage_index)


def si_str(storage_index: bytes) -> str:
    return si_b2a(storage_index).decode("ascii")


def storage_index_to_dir(storage_index: bytes) -> str:
    """``<first 2 chars of b32(SI)>/<b32(SI)>``, relative to the share dir."""
    sia = si_str(storage_index)
    return os.path.join(sia[:2], sia)


def share_label(path: str) -> str:
    """``share N of storage index SI`` for a share file, for messages that
    may travel to clients (which should not learn the server's paths)."""
    bucket, shnum = os.path.split(os.path.abspath(path))
    return "share %s of storage index %s" % (shnum, os.path.basename(bucket))


def remove_empty_dirs(path: str, stop_at: str) -> None:
    """Remove ``path`` and its empty parents, up to but not including
    ``stop_at``.  Stops quietly at the first directory that is not empty."""
    stop_at = os.path.abspath(stop_at)
    path = os.path.abspath(path)
    while path != stop_at and path.startswith(stop_at + os.sep):
        try:
            os.rmdir(path)
        except OSError:
            return
        path = os.path.dirname(path)


# ---- argument checks -----------------------------------------------------------
def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def check_storage_index(storage_index) -> bytes:
    if not isinstance(storage_index, bytes) or len(storage_index) != 16:
        raise BadArgumentError(
            "a storage index is 16 bytes, got %s" % _describe(storage_index))
    return storage_index


def check_secret(name: str, secret) -> bytes:
    if not isinstance(secret, bytes) or len(secret) != 32:
        raise BadArgumentError("the %s is 32 bytes, got %s" % (name, _describe(secret)))
    return secret


def check_sharenum(shnum) -> int:
    if not _is_int(shnum) or not 0 <= shnum <= MAX_SHARENUM:
        raise BadArgumentError(
            "share numbers run from 0 to %d, got %r" % (MAX_SHARENUM, shnum))
    return shnum


def check_offset(name: str, value) -> int:
    if not _is_int(value) or not 0 <= value <= MAX_OFFSET:
        raise BadArgumentError(
            "%s must be a whole number from 0 to 2**64-1, got %r" % (name, value))
    return value


def check_length(name: str, value) -> int:
    if not _is_int(value) or value < 0:
        raise BadArgumentError("%s must be a whole number >= 0, got %r" % (name, value))
    return value


def check_bytes(name: str, value) -> bytes:
    if not isinstance(value, bytes):
        raise BadArgumentError("%s must be bytes, got %s" % (name, type(value).__name__))
    return value


def check_read_vector(readv) -> list:
    """``[(offset, length), ...]``, each entry checked."""
    if not isinstance(readv, (list, tuple)):
        raise BadArgumentError("a read vector is a list of (offset, length) pairs")
    out = []
    for entry in readv:
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise BadArgumentError(
                "a read vector entry is an (offset, length) pair, got %r" % (entry,))
        out.append((check_offset("a read offset", entry[0]),
                    check_length("a read length", entry[1])))
    return out


def _describe(value) -> str:
    if isinstance(value, bytes):
        return "%d bytes" % len(value)
    return "a %s" % type(value).__name__
