"""Immutable shares on disk, and the remote objects that write and read them.

The container (docs/specifications/containers.md §2), all big-endian::

    0x00  u32  container version: 1 = lease secrets in clear, 2 = BLAKE2b-256
    0x04  u32  legacy data length: min(2**32-1, allocated_size); never read
    0x08  u32  number of leases
    0x0c       share data (allocated_size bytes)
    ...        leases, 72 bytes each (see lease.py)

The data length is not stored: it is whatever lies between the header and
the leases, ``file size - 12 - 72 * leases``.  A share is created in
``shares/incoming/`` with its first lease already at the end (after
``allocated_size`` bytes, so the file is sparse until written), filled by a
:class:`BucketWriter`, and renamed into ``shares/`` on ``close()``.
"""

import os
import struct
from time import perf_counter

from foolscap.api import Referenceable
from twisted.logger import Logger
from zope.interface import implementer

from .common import (
    BUCKET_WRITER_IDLE_TIMEOUT, AnswerTooLargeError, BucketClosedError, ConflictingWriteError,
    DataTooLargeError, IncompleteShareError, LeaseLimitError, StorageError,
    UnknownImmutableContainerVersionError, check_bytes, check_length, check_offset, share_label,
    si_str,
)
from .interfaces import RIBucketReader, RIBucketWriter
from .lease import CLEAR_SECRETS, HASHED_SECRETS, IMMUTABLE_LEASE_SIZE, Lease
from .limits import MAX_CALL_SHARE_DATA, MAX_LEASES_PER_SHARE

_HEADER = struct.Struct(">LLL")
HEADER_SIZE = _HEADER.size  # 12
#: the version we create; we read 1 and 2
CREATE_VERSION = 2
_STORAGE_BY_VERSION = {1: CLEAR_SECRETS, 2: HASHED_SECRETS}


class ImmutableShareFile:
    """One immutable share container.  Every operation opens the file, so
    several of these may look at one file at once."""

    def __init__(self, path: str, _lease_offset: int | None = None):
        self.path = path
        self._num_leases = None  # known only to a share this object created
        with open(path, "rb") as f:
            header = f.read(HEADER_SIZE)
        if len(header) < HEADER_SIZE:
            raise UnknownImmutableContainerVersionError(
                "%s is not an immutable share: it is only %d bytes long"
                % (share_label(path), len(header)))
        version, _legacy_length, num_leases = _HEADER.unpack(header)
        if version not in _STORAGE_BY_VERSION:
            raise UnknownImmutableContainerVersionError(
                "%s has unknown container version %d: this server reads mutable containers "
                "and immutable containers of version 1 and 2" % (share_label(path), version))
        self.version = version
        self.secret_storage = _STORAGE_BY_VERSION[version]
        if _lease_offset is None:
            _lease_offset = os.path.getsize(path) - num_leases * IMMUTABLE_LEASE_SIZE
            if _lease_offset < HEADER_SIZE:
                raise UnknownImmutableContainerVersionError(
                    "%s claims %d leases, more than its size can hold"
                    % (share_label(path), num_leases))
        self._lease_offset = _lease_offset

    @classmethod
    def create(cls, path: str, allocated_size: int, version: int = CREATE_VERSION,
               lease: tuple | None = None):
        """Create an empty container with room for ``allocated_size`` bytes
        of share data and no lease yet, or with the one lease
        ``(owner_num, renew_secret, cancel_secret, expiration_time)`` (in
        the same open: a new share costs the server few system calls)."""
        storage = _STORAGE_BY_VERSION[version]
        leases = b"" if lease is None else Lease.grant(storage, *lease).to_immutable_bytes()
        try:
            f = open(path, "xb")
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            f = open(path, "xb")
        with f:
            f.write(_HEADER.pack(version, min(2 ** 32 - 1, allocated_size),
                                 0 if lease is None else 1))
            if leases:
                f.seek(HEADER_SIZE + allocated_size)
                f.write(leases)
            else:
                f.truncate(HEADER_SIZE + allocated_size)
        # what was just written, without reading it back
        share = cls.__new__(cls)
        share.path = path
        share.version = version
        share.secret_storage = storage
        share._lease_offset = HEADER_SIZE + allocated_size
        share._num_leases = 0 if lease is None else 1
        return share

    def created_size(self) -> int | None:
        """The file's size, for a share this object created (None for a
        share opened from disk): data is written in place, and leases added
        through this object are counted."""
        if self._num_leases is None:
            return None
        return self._lease_offset + self._num_leases * IMMUTABLE_LEASE_SIZE

    # ---- share data ---------------------------------------------------------------
    @property
    def data_length(self) -> int:
        return self._lease_offset - HEADER_SIZE

    def read_share_data(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset``; short at the end of the data,
        empty when ``offset`` is at or past the end."""
        length = max(0, min(length, self.data_length - offset))
        if length == 0:
            return b""
        with open(self.path, "rb") as f:
            f.seek(HEADER_SIZE + offset)
            return f.read(length)

    def write_share_data(self, offset: int, data: bytes) -> None:
        if offset + len(data) > self.data_length:
            raise DataTooLargeError(
                "a write ending at %d does not fit in a share of %d bytes"
                % (offset + len(data), self.data_length))
        with open(self.path, "rb+") as f:
            f.seek(HEADER_SIZE + offset)
            f.write(data)

    # ---- leases -------------------------------------------------------------------
    def get_leases(self) -> list:
        with open(self.path, "rb") as f:
            return self._read_leases(f)

    def _read_leases(self, f) -> list:
        f.seek(8)
        (count,) = struct.unpack(">L", f.read(4))
        f.seek(self._lease_offset)
        raw = f.read(count * IMMUTABLE_LEASE_SIZE)
        return [Lease.from_immutable_bytes(raw[i:i + IMMUTABLE_LEASE_SIZE])
                for i in range(0, len(raw) - IMMUTABLE_LEASE_SIZE + 1, IMMUTABLE_LEASE_SIZE)]

    def _write_leases(self, f, leases: list) -> None:
        f.seek(self._lease_offset)
        f.write(b"".join(lease.to_immutable_bytes() for lease in leases))
        f.truncate(self._lease_offset + len(leases) * IMMUTABLE_LEASE_SIZE)
        f.seek(8)
        f.write(struct.pack(">L", len(leases)))
        if self._num_leases is not None:
            self._num_leases = len(leases)

    def has_lease(self, renew_secret: bytes) -> bool:
        """Whether a lease with this renew secret is held here."""
        return any(lease.has_renew_secret(self.secret_storage, renew_secret)
                   for lease in self.get_leases())

    def lease_count(self) -> int:
        return len(self.get_leases())

    def add_lease(self, owner_num: int, renew_secret: bytes, cancel_secret: bytes,
                  expiration_time: int) -> None:
        """Add a lease; :class:`LeaseLimitError` if the share already holds
        ``MAX_LEASES_PER_SHARE``."""
        lease = Lease.grant(self.secret_storage, owner_num, renew_secret, cancel_secret,
                            expiration_time)
        with open(self.path, "rb+") as f:
            leases = self._read_leases(f)
            if len(leases) >= MAX_LEASES_PER_SHARE:
                raise LeaseLimitError(
                    "%s already holds %d leases, as many as a share may"
                    % (share_label(self.path), MAX_LEASES_PER_SHARE))
            self._write_leases(f, leases + [lease])

    def renew_lease(self, renew_secret: bytes, expiration_time: int) -> bool:
        """Renew every lease with this renew secret; False if there is none."""
        with open(self.path, "rb+") as f:
            leases = self._read_leases(f)
            found = False
            for i, lease in enumerate(leases):
                if lease.has_renew_secret(self.secret_storage, renew_secret):
                    leases[i] = lease.renewed(expiration_time)
                    found = True
            if found:
                self._write_leases(f, leases)
            return found

    def add_or_renew_lease(self, owner_num: int, renew_secret: bytes, cancel_secret: bytes,
                           expiration_time: int) -> None:
        if not self.renew_lease(renew_secret, expiration_time):
            self.add_lease(owner_num, renew_secret, cancel_secret, expiration_time)

    def remove_leases(self, doomed) -> int:
        """Remove the leases equal to one of ``doomed`` (as read by
        :meth:`get_leases`); returns how many leases remain."""
        doomed = set(doomed)
        with open(self.path, "rb+") as f:
            leases = self._read_leases(f)
            keep = [lease for lease in leases if lease not in doomed]
            if len(keep) != len(leases):
                self._write_leases(f, keep)
            return len(keep)

    def cancel_lease(self, cancel_secret: bytes) -> tuple[int, int]:
        """Remove the leases with this cancel secret.  Returns (how many were
        removed, how many remain); the caller deletes a share left with none."""
        with open(self.path, "rb+") as f:
            leases = self._read_leases(f)
            keep = [lease for lease in leases
                    if not lease.has_cancel_secret(self.secret_storage, cancel_secret)]
            if len(keep) != len(leases):
                self._write_leases(f, keep)
            return len(leases) - len(keep), len(keep)


@implementer(RIBucketWriter)
class BucketWriter(Referenceable):
    """The remote object through which a client fills one immutable share.

    ``owner`` is the storage server; it is told when the writer finishes
    (``_writer_finished(writer, closed)``), counts operations
    (``_count(name, delta)``) and keeps the durations of the writes and
    closes that succeed (in its ``latencies``).  A writer finishes exactly once: by
    ``close()``, by ``abort()``, by losing its canary, or after
    ``BUCKET_WRITER_IDLE_TIMEOUT`` seconds without a write.
    """

    log = Logger()
    #: what the owner ties this upload to (the uploader's connection)
    connection = None

    def __init__(self, owner, sharefile: ImmutableShareFile, final_path: str,
                 storage_index: bytes, shnum: int, clock):
        self._owner = owner
        self._record_write = owner.latencies.recorder("write")
        self._record_close = owner.latencies.recorder("close")
        self._sharefile = sharefile
        self._final_path = final_path
        self.storage_index = storage_index
        self.shnum = shnum
        self.allocated_size = sharefile.data_length
        self._written = []  # sorted, disjoint [start, end) ranges
        self._written_bytes = 0  # their total length
        self._finished = None  # None, "closed" or "aborted"
        self._failed_write = None  # what went wrong with a write, if one failed
        self._canary = None
        self._canary_marker = None
        self._timeout = clock.callLater(BUCKET_WRITER_IDLE_TIMEOUT, self._abort_idle)

    @property
    def incoming_path(self) -> str:
        return self._sharefile.path

    def share_file_size(self) -> int | None:
        """The share file's size in bytes (None if unknown without a stat)."""
        return self._sharefile.created_size()

    def __repr__(self):
        return "<BucketWriter %s sh%d>" % (si_str(self.storage_index), self.shnum)

    def watch_canary(self, canary) -> None:
        """Abort if ``canary`` (the uploader's Referenceable) disconnects."""
        self._canary = canary
        self._canary_marker = canary.notifyOnDisconnect(self._canary_lost)

    # ---- remote methods -----------------------------------------------------------
    def remote_write(self, offset, data):
        start = perf_counter()
        self._check_open("write to")
        try:
            self._write(offset, data)
            self._record_write(perf_counter() - start)
        except StorageError:
            raise  # a refused write changed nothing; the share can still be completed
        except Exception as e:
            # The disk failed under this write (full, I/O error): remembered,
            # so that a close() the client sent right behind it does not put
            # an incomplete share in place.
            if self._failed_write is None:
                self._failed_write = "%s: %s" % (type(e).__name__, e)
            raise

    def _write(self, offset, data):
        check_offset("the write offset", offset)
        check_bytes("the data", data)
        self._owner._count("write")
        if len(data) > MAX_CALL_SHARE_DATA:
            raise DataTooLargeError(
                "a write carries at most %d bytes, got %d; nothing was written"
                % (MAX_CALL_SHARE_DATA, len(data)))
        end = offset + len(data)
        if end > self.allocated_size:
            raise DataTooLargeError(
                "a write of %d bytes at offset %d would end at %d, past the %d bytes "
                "allocated for share %d of storage index %s; nothing was written"
                % (len(data), offset, end, self.allocated_size, self.shnum,
                   si_str(self.storage_index)))
        for start, stop in self._written:
            lo, hi = max(start, offset), min(stop, end)
            if lo < hi and self._sharefile.read_share_data(lo, hi - lo) != data[lo - offset:hi - offset]:
                raise ConflictingWriteError(
                    "bytes %d to %d of share %d of storage index %s were already written "
                    "with different contents; written bytes cannot change"
                    % (lo, hi, self.shnum, si_str(self.storage_index)))
        self._sharefile.write_share_data(offset, data)
        before = self._written_bytes
        self._add_written_range(offset, end)
        if self._written_bytes > before:
            # only progress keeps an upload alive: rewriting the same bytes
            # does not hold an allocation for another idle period
            self._timeout.reset(BUCKET_WRITER_IDLE_TIMEOUT)

    def remote_close(self):
        start = perf_counter()
        self._check_open("close")
        if self._failed_write is not None:
            self._discard("close() after a failed write")
            raise IncompleteShareError(
                "share %d of storage index %s was not closed because an earlier write to it "
                "failed (%s); the partial share was deleted"
                % (self.shnum, si_str(self.storage_index), self._failed_write))
        try:
            os.rename(self.incoming_path, self._final_path)
        except FileNotFoundError:  # the first share of this storage index here
            os.makedirs(os.path.dirname(self._final_path), exist_ok=True)
            os.rename(self.incoming_path, self._final_path)
        if not self._owner._others_incoming(self):
            self._remove_incoming_dir()
        self._owner._count("close")
        self._finish("closed")
        self._record_close(perf_counter() - start)

    def remote_abort(self):
        self._check_open("abort")
        self._owner._count("abort")
        self._discard("abort() called by the uploader")

    # ---- internals ----------------------------------------------------------------
    def _check_open(self, verb: str) -> None:
        if self._finished is not None:
            raise BucketClosedError(
                "cannot %s share %d of storage index %s: its writer was already %s"
                % (verb, self.shnum, si_str(self.storage_index), self._finished))

    def _add_written_range(self, start: int, end: int) -> None:
        if start == end:
            return
        merged = []
        for s, e in self._written:
            if e < start or s > end:
                merged.append((s, e))
            else:
                start, end = min(s, start), max(e, end)
        merged.append((start, end))
        self._written = sorted(merged)
        self._written_bytes = sum(e - s for s, e in self._written)

    @property
    def unwritten(self) -> int:
        """Bytes allocated to this share and not written yet: space promised
        and not yet taken from the disk."""
        if self._finished is not None:
            return 0
        return self.allocated_size - self._written_bytes

    def _canary_lost(self, *ignored) -> None:
        self._canary_marker = None
        if self._finished is None:
            self._discard("the uploader disconnected before close()")

    def _abort_idle(self) -> None:
        if self._finished is None:
            self._discard("no write for %d seconds" % BUCKET_WRITER_IDLE_TIMEOUT)

    def _discard(self, why: str) -> None:
        self.log.info("aborting upload of {writer!r}: {why}", writer=self, why=why)
        try:
            os.unlink(self.incoming_path)
        except FileNotFoundError:
            pass
        self._remove_incoming_dir()
        self._finish("aborted")

    def _remove_incoming_dir(self) -> None:
        """Remove ``incoming/<prefix>/<storage index>/`` if it is now empty.
        The ``incoming/<prefix>/`` directory above it stays (there are at most
        1024 of them): removing it after every upload and making it again for
        the next one would be a sizeable part of a small upload's cost."""
        try:
            os.rmdir(os.path.dirname(self.incoming_path))
        except OSError:
            pass  # another share of this storage index is still coming in

    def _finish(self, how: str) -> None:
        self._finished = how
        if self._timeout.active():
            self._timeout.cancel()
        if self._canary is not None and self._canary_marker is not None:
            try:
                self._canary.dontNotifyOnDisconnect(self._canary_marker)
            except Exception:  # a canary whose connection is already gone
                pass
        self._canary = self._canary_marker = None
        self._owner._writer_finished(self, closed=(how == "closed"))

    def stop_timer(self) -> None:
        """Forget the idle timeout (the server is stopping)."""
        if self._timeout.active():
            self._timeout.cancel()


@implementer(RIBucketReader)
class BucketReader(Referenceable):
    """The remote object through which a client reads one complete share
    (``owner``, the storage server, counts the reads and keeps the
    durations of those that succeed)."""

    def __init__(self, owner, sharefile: ImmutableShareFile, storage_index: bytes, shnum: int):
        self._owner = owner
        self._record_read = owner.latencies.recorder("read")
        self._sharefile = sharefile
        self.storage_index = storage_index
        self.shnum = shnum

    def __repr__(self):
        return "<BucketReader %s sh%d>" % (si_str(self.storage_index), self.shnum)

    def remote_read(self, offset, length):
        start = perf_counter()
        check_offset("the read offset", offset)
        check_length("the read length", length)
        self._owner._count("read")
        answer = max(0, min(length, self._sharefile.data_length - offset))
        if answer > MAX_CALL_SHARE_DATA:
            raise AnswerTooLargeError(
                "a read of %d bytes of share %d of storage index %s is more than one call may "
                "answer (%d bytes); read it in parts"
                % (answer, self.shnum, si_str(self.storage_index), MAX_CALL_SHARE_DATA))
        try:
            data = self._sharefile.read_share_data(offset, length)
        except FileNotFoundError:
            raise StorageError("share %d of storage index %s no longer exists on this server"
                               % (self.shnum, si_str(self.storage_index)))
        self._record_read(perf_counter() - start)
        return data

    def remote_advise_corrupt_share(self, reason):
        return self._owner.remote_advise_corrupt_share(
            b"immutable", self.storage_index, self.shnum, reason)
