"""Mutable share containers on disk (docs/specifications/containers.md §3) and the test vectors
that guard writes to them (docs/specifications/storage-protocol.md §4).

Layout, all big-endian::

      0  32   magic: "Tahoe mutable container v2\\n" + c3 55 21 99 25
                     (v1, readable: "... v1\\n" + 75 09 44 03 8e)
     32  20   tubid of the server that recorded the write enabler
     52  32   write enabler
     84   8   data length (u64)
     92   8   offset of the extra-lease block (u64); 468 when new
    100  368  four lease slots of 92 bytes (owner 0 = free slot)
    468       share data
    extra     u32 count of extra leases, then that many 92-byte leases

The extra-lease block follows the data.  When a write grows the data past
it, the block moves to the new end of the data and its old copy is zeroed;
the container never shrinks (truncation only lowers the data length).
"""

import operator
import os
import struct

from ..util.hashutil import mutable_container_header_hash, timing_safe_compare
from ..util.idlib import nodeid_b2a
from .common import (
    MAX_MUTABLE_SHARE_SIZE, BadWriteEnablerError, DataTooLargeError, LeaseLimitError,
    UnknownMutableContainerVersionError, UnknownTestOperatorError, BadArgumentError, check_bytes,
    check_length, check_offset, share_label,
)
from .limits import MAX_DATA_VECTORS, MAX_LEASES_PER_SHARE, MAX_TEST_LENGTH, MAX_VECTORS
from .lease import (
    BLANK_MUTABLE_LEASE, CLEAR_SECRETS, HASHED_SECRETS, MUTABLE_LEASE_SIZE, Lease,
)

MAGIC_V1 = b"Tahoe mutable container v1\n" + bytes.fromhex("750944038e")
MAGIC_V2 = b"Tahoe mutable container v2\n" + mutable_container_header_hash()[:5]
assert MAGIC_V2[-5:] == bytes.fromhex("c355219925")
assert len(MAGIC_V1) == len(MAGIC_V2) == 32
_STORAGE_BY_MAGIC = {MAGIC_V1: CLEAR_SECRETS, MAGIC_V2: HASHED_SECRETS}

_HEADER = struct.Struct(">32s20s32sQQ")
NUM_LEASE_SLOTS = 4
LEASE_SLOTS_OFFSET = _HEADER.size  # 100
DATA_OFFSET = LEASE_SLOTS_OFFSET + NUM_LEASE_SLOTS * MUTABLE_LEASE_SIZE  # 468
assert DATA_OFFSET == 468
_DATA_LENGTH_AT = 84
_EXTRA_LEASE_OFFSET_AT = 92

# ---- test vectors ------------------------------------------------------------------
TEST_OPERATORS = {
    b"lt": operator.lt, b"le": operator.le, b"eq": operator.eq,
    b"ne": operator.ne, b"ge": operator.ge, b"gt": operator.gt,
}


def check_test_vector(testv) -> list:
    """``[(offset, length, operator, specimen), ...]``, each entry checked:
    at most ``MAX_VECTORS`` of them, each comparing at most
    ``MAX_TEST_LENGTH`` bytes."""
    if not isinstance(testv, (list, tuple)):
        raise BadArgumentError("a test vector is a list of (offset, length, operator, specimen)")
    if len(testv) > MAX_VECTORS:
        raise BadArgumentError("a share is tested with at most %d test vectors, got %d"
                               % (MAX_VECTORS, len(testv)))
    out = []
    for entry in testv:
        if not isinstance(entry, (list, tuple)) or len(entry) != 4:
            raise BadArgumentError(
                "a test vector entry is (offset, length, operator, specimen), got %r" % (entry,))
        offset, length, op, specimen = entry
        if op not in TEST_OPERATORS:
            raise UnknownTestOperatorError(
                "test operator %r is not one of lt, le, eq, ne, ge, gt (as bytes)" % (op,))
        check_offset("a test offset", offset)
        check_length("a test length", length)
        check_bytes("a test specimen", specimen)
        if length > MAX_TEST_LENGTH or len(specimen) > MAX_TEST_LENGTH:
            raise BadArgumentError(
                "a test vector compares at most %d bytes, got a length of %d and a specimen "
                "of %d bytes" % (MAX_TEST_LENGTH, length, len(specimen)))
        out.append((offset, length, op, specimen))
    return out


def check_data_vector(datav) -> list:
    """``[(offset, data), ...]``, each entry checked, none ending past the
    largest mutable share; at most ``MAX_DATA_VECTORS`` of them."""
    if not isinstance(datav, (list, tuple)):
        raise BadArgumentError("a data vector is a list of (offset, data) pairs")
    if len(datav) > MAX_DATA_VECTORS:
        raise BadArgumentError("a share is written with at most %d data vectors, got %d"
                               % (MAX_DATA_VECTORS, len(datav)))
    out = []
    for entry in datav:
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise BadArgumentError("a data vector entry is an (offset, data) pair, got %r" % (entry,))
        offset = check_offset("a write offset", entry[0])
        data = check_bytes("written data", entry[1])
        if offset + len(data) > MAX_MUTABLE_SHARE_SIZE:
            raise DataTooLargeError(
                "a write ending at %d is past the largest mutable share (%d bytes)"
                % (offset + len(data), MAX_MUTABLE_SHARE_SIZE))
        out.append((offset, data))
    return out


def evaluate_test_vector(testv, read) -> bool:
    """Evaluate ``read(offset, length) OP specimen`` for every entry."""
    return all(TEST_OPERATORS[op](read(offset, length), specimen)
               for (offset, length, op, specimen) in testv)


def _read_nothing(offset: int, length: int) -> bytes:
    return b""


def empty_share_passes(testv) -> bool:
    """How a test vector judges a share that does not exist: as empty."""
    return evaluate_test_vector(testv, _read_nothing)


# ---- the container -----------------------------------------------------------------
_ZERO_CHUNK = 1 << 20


def _zero(f, start: int, stop: int) -> None:
    """Overwrite bytes ``start`` to ``stop`` of ``f`` with zeros, a bounded
    chunk at a time."""
    while start < stop:
        n = min(_ZERO_CHUNK, stop - start)
        f.seek(start)
        f.write(bytes(n))
        start += n


def is_mutable_container(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(32) in _STORAGE_BY_MAGIC


class MutableShareFile:
    """One mutable share container.  Every operation opens the file."""

    def __init__(self, path: str):
        self.path = path
        with open(path, "rb") as f:
            magic = f.read(32)
        if magic not in _STORAGE_BY_MAGIC:
            raise UnknownMutableContainerVersionError(
                "%s is not a mutable share container: it starts with %r"
                % (share_label(path), magic[:32]))
        self.version = 1 if magic == MAGIC_V1 else 2
        self.secret_storage = _STORAGE_BY_MAGIC[magic]

    @classmethod
    def create(cls, path: str, nodeid: bytes, write_enabler: bytes, version: int = 2):
        """A new empty container whose write enabler was recorded by
        ``nodeid`` (this server's 20-byte tubid)."""
        magic = MAGIC_V2 if version == 2 else MAGIC_V1
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "xb") as f:
            f.write(_HEADER.pack(magic, nodeid, write_enabler, 0, DATA_OFFSET))
            f.write(BLANK_MUTABLE_LEASE * NUM_LEASE_SLOTS)
            f.write(struct.pack(">L", 0))
        return cls(path)

    def container_size(self) -> int:
        return os.path.getsize(self.path)

    # ---- header -------------------------------------------------------------------
    def _header(self, f):
        f.seek(0)
        return _HEADER.unpack(f.read(_HEADER.size))

    def header_fields(self) -> dict:
        """The container header as an operator's tool shows it: ``nodeid``,
        ``write_enabler``, ``data_length``, ``extra_lease_offset`` and
        ``num_extra_leases`` (the count at the start of the extra-lease block)."""
        with open(self.path, "rb") as f:
            _magic, nodeid, write_enabler, data_length, extra_offset = self._header(f)
            f.seek(extra_offset)
            raw = f.read(4)
        if len(raw) != 4:
            raise UnknownMutableContainerVersionError(
                "%s is truncated: its extra-lease block at %d lies past its end"
                % (share_label(self.path), extra_offset))
        return {"nodeid": nodeid, "write_enabler": write_enabler, "data_length": data_length,
                "extra_lease_offset": extra_offset,
                "num_extra_leases": struct.unpack(">L", raw)[0]}

    def write_enabler_nodeid(self) -> bytes:
        with open(self.path, "rb") as f:
            return self._header(f)[1]

    def check_write_enabler(self, write_enabler: bytes) -> None:
        with open(self.path, "rb") as f:
            _magic, nodeid, stored = self._header(f)[:3]
        if not timing_safe_compare(stored, write_enabler):
            raise BadWriteEnablerError(
                "The write enabler was recorded by nodeid '%s'." % nodeid_b2a(nodeid))

    @property
    def data_length(self) -> int:
        with open(self.path, "rb") as f:
            return self._header(f)[3]

    # ---- reading ------------------------------------------------------------------
    def read_share_data(self, offset: int, length: int) -> bytes:
        with open(self.path, "rb") as f:
            return self._read(f, offset, length)

    def _read(self, f, offset: int, length: int) -> bytes:
        data_length = self._header(f)[3]
        length = max(0, min(length, data_length - offset))
        if length == 0:
            return b""
        f.seek(DATA_OFFSET + offset)
        return f.read(length)

    def answer_size(self, readv) -> int:
        """How many bytes :meth:`readv` would return for ``readv``."""
        data_length = self.data_length
        return sum(max(0, min(length, data_length - offset)) for offset, length in readv)

    def readv(self, readv) -> list:
        with open(self.path, "rb") as f:
            return [self._read(f, offset, length) for (offset, length) in readv]

    def passes_test_vector(self, testv) -> bool:
        with open(self.path, "rb") as f:
            return evaluate_test_vector(testv, lambda o, n: self._read(f, o, n))

    # ---- writing ------------------------------------------------------------------
    def growth(self, datav) -> int:
        """How many bytes the container grows by when ``datav`` is written
        (leases aside): the data end may pass the extra-lease block."""
        with open(self.path, "rb") as f:
            data_length, extra_offset = self._header(f)[3:5]
        end = max([data_length] + [offset + len(data) for offset, data in datav])
        return max(0, DATA_OFFSET + end - extra_offset)

    def writev(self, datav, new_length) -> None:
        """Apply ``[(offset, data)]`` in order, then truncate the data to
        ``new_length`` if that is smaller (a larger one is ignored)."""
        with open(self.path, "rb+") as f:
            for offset, data in datav:
                self._write(f, offset, data)
            if new_length is not None and new_length < self._header(f)[3]:
                f.seek(_DATA_LENGTH_AT)
                f.write(struct.pack(">Q", new_length))

    def _write(self, f, offset: int, data: bytes) -> None:
        end = offset + len(data)
        if end > MAX_MUTABLE_SHARE_SIZE:
            raise DataTooLargeError("a mutable share cannot grow past %d bytes"
                                    % MAX_MUTABLE_SHARE_SIZE)
        data_length, extra_offset = self._header(f)[3:5]
        if end > data_length:
            f.seek(0, os.SEEK_END)
            file_size = f.tell()
            if DATA_OFFSET + end > extra_offset:
                self._move_extra_leases(f, extra_offset, DATA_OFFSET + end)
            if offset > data_length:
                # Bytes between the old end of the data and this write read
                # as zeros.  Those still in the file (left by a truncation)
                # are overwritten; past the file's old end nothing is
                # written: the gap stays a hole, which reads back as zeros.
                _zero(f, DATA_OFFSET + data_length, min(DATA_OFFSET + offset, file_size))
            f.seek(_DATA_LENGTH_AT)
            f.write(struct.pack(">Q", end))
        f.seek(DATA_OFFSET + offset)
        f.write(data)

    def _move_extra_leases(self, f, old_offset: int, new_offset: int) -> None:
        block = self._extra_lease_block(f, old_offset)
        f.seek(new_offset)
        f.write(block)
        f.seek(_EXTRA_LEASE_OFFSET_AT)
        f.write(struct.pack(">Q", new_offset))
        _zero(f, old_offset, min(old_offset + len(block), new_offset))

    def _extra_lease_block(self, f, offset: int) -> bytes:
        """The count and the leases of the extra-lease block at ``offset``."""
        f.seek(offset)
        (count,) = struct.unpack(">L", f.read(4))
        f.seek(offset)
        block = f.read(4 + count * MUTABLE_LEASE_SIZE)
        if len(block) != 4 + count * MUTABLE_LEASE_SIZE:
            raise UnknownMutableContainerVersionError(
                "%s claims %d extra leases, more than its size holds"
                % (share_label(self.path), count))
        return block

    # ---- leases -------------------------------------------------------------------
    def _lease_locations(self, f) -> list:
        """File offsets of every lease record, slots first, then extras."""
        extra_offset = self._header(f)[4]
        f.seek(extra_offset)
        (count,) = struct.unpack(">L", f.read(4))
        slots = [LEASE_SLOTS_OFFSET + i * MUTABLE_LEASE_SIZE for i in range(NUM_LEASE_SLOTS)]
        extras = [extra_offset + 4 + j * MUTABLE_LEASE_SIZE for j in range(count)]
        return slots + extras

    def _read_records(self, f) -> list:
        """[(file offset, Lease or None for a free slot)]."""
        out = []
        for where in self._lease_locations(f):
            f.seek(where)
            raw = f.read(MUTABLE_LEASE_SIZE)
            lease = Lease.from_mutable_bytes(raw)
            out.append((where, lease if lease.owner_num != 0 else None))
        return out

    def lease_records(self) -> list:
        """``[(record number, Lease)]`` of the occupied lease records: the
        four slots are numbers 0-3, the extra leases follow from 4."""
        with open(self.path, "rb") as f:
            return [(i, lease) for i, (_, lease) in enumerate(self._read_records(f))
                    if lease is not None]

    def get_leases(self) -> list:
        with open(self.path, "rb") as f:
            return [lease for _, lease in self._read_records(f) if lease is not None]

    def renew_lease(self, renew_secret: bytes, expiration_time: int) -> bool:
        """Renew every lease with this renew secret; False if there is none."""
        found = False
        with open(self.path, "rb+") as f:
            for where, lease in self._read_records(f):
                if lease is not None and lease.has_renew_secret(self.secret_storage, renew_secret):
                    f.seek(where)
                    f.write(lease.renewed(expiration_time).to_mutable_bytes())
                    found = True
        return found

    def has_lease(self, renew_secret: bytes) -> bool:
        """Whether a lease with this renew secret is held here."""
        return any(lease.has_renew_secret(self.secret_storage, renew_secret)
                   for lease in self.get_leases())

    def lease_count(self) -> int:
        return len(self.get_leases())

    def lease_growth(self, renew_secret: bytes) -> int:
        """How many bytes the container grows by when a client with this
        renew secret writes it: one lease record, if it holds no lease yet
        and every lease slot is taken."""
        with open(self.path, "rb") as f:
            records = self._read_records(f)
        if any(lease is not None and lease.has_renew_secret(self.secret_storage, renew_secret)
               for _, lease in records):
            return 0
        return 0 if any(lease is None for _, lease in records) else MUTABLE_LEASE_SIZE

    def add_lease(self, owner_num: int, renew_secret: bytes, cancel_secret: bytes,
                  expiration_time: int, nodeid: bytes) -> None:
        """Add a lease; :class:`LeaseLimitError` if the share already holds
        ``MAX_LEASES_PER_SHARE``."""
        if owner_num == 0:
            raise ValueError("owner 0 marks a free lease slot in a mutable container")
        lease = Lease.grant(self.secret_storage, owner_num, renew_secret, cancel_secret,
                            expiration_time, nodeid)
        with open(self.path, "rb+") as f:
            records = self._read_records(f)
            free = [where for where, old in records if old is None]
            if len(records) - len(free) >= MAX_LEASES_PER_SHARE:
                raise LeaseLimitError(
                    "%s already holds %d leases, as many as a share may"
                    % (share_label(self.path), MAX_LEASES_PER_SHARE))
            if free:
                f.seek(free[0])
            else:
                extra_offset = self._header(f)[4]
                f.seek(extra_offset)
                (count,) = struct.unpack(">L", f.read(4))
                f.seek(extra_offset)
                f.write(struct.pack(">L", count + 1))
                f.seek(extra_offset + 4 + count * MUTABLE_LEASE_SIZE)
            f.write(lease.to_mutable_bytes())

    def add_or_renew_lease(self, owner_num: int, renew_secret: bytes, cancel_secret: bytes,
                           expiration_time: int, nodeid: bytes) -> None:
        if not self.renew_lease(renew_secret, expiration_time):
            self.add_lease(owner_num, renew_secret, cancel_secret, expiration_time, nodeid)

    def remove_leases(self, doomed) -> int:
        """Free the slots of the leases equal to one of ``doomed`` (as read
        by :meth:`get_leases`); returns how many leases remain."""
        doomed = set(doomed)
        remaining = 0
        with open(self.path, "rb+") as f:
            for where, lease in self._read_records(f):
                if lease is None:
                    continue
                if lease in doomed:
                    f.seek(where)
                    f.write(BLANK_MUTABLE_LEASE)
                else:
                    remaining += 1
        return remaining

    def cancel_lease(self, cancel_secret: bytes) -> tuple[int, int]:
        """Free the slots of the leases with this cancel secret.  Returns (how
        many were removed, how many remain)."""
        removed = remaining = 0
        with open(self.path, "rb+") as f:
            for where, lease in self._read_records(f):
                if lease is None:
                    continue
                if lease.has_cancel_secret(self.secret_storage, cancel_secret):
                    f.seek(where)
                    f.write(BLANK_MUTABLE_LEASE)
                    removed += 1
                else:
                    remaining += 1
        return removed, remaining
