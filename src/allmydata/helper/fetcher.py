"""Fetching a client's ciphertext onto the helper's disk, and reading it back.

:func:`check_encoding_parameters` checks what a client's
``RIEncryptedUploadable`` announces (size, k, happy, N, segment size)
against the helper's bounds before the helper does anything for it.

:class:`CiphertextFetcher` asks a client's reader for the ciphertext the
spool does not have yet, :data:`FETCH_CHUNK` bytes per ``read_encrypted``
call and one call at a time (a Tahoe-LAFS client's reader answers only
in order), checks every answer (a list of byte strings whose lengths add up
to exactly what was asked), and appends it to the incoming file.

:class:`LocalCiphertextReader` is the ``IEncryptedUploadable`` the encoder
reads from: the ciphertext file, one segment at a time, with the parameters
the client announced, while the fetch is still filling it (encoding and
pushing overlap fetching).  It has no key and no plaintext.
"""

from __future__ import annotations

import os
import time

from twisted.internet import defer
from zope.interface import implementer

from ..immutable.interfaces import IEncryptedUploadable
from ..immutable.params import MAX_SHARES, div_ceil
from ..util.rrefutil import call_remote
from .interfaces import MAX_READ_PIECES

__all__ = ["CiphertextFetcher", "LocalCiphertextReader", "ReaderError",
           "check_encoding_parameters", "FETCH_CHUNK", "MAX_FILE_SIZE", "MAX_SEGMENT_SIZE",
           "MAX_ENCODED_SEGMENT", "READ_TIMEOUT"]

#: bytes asked for in one ``read_encrypted`` call
FETCH_CHUNK = 4 * 1024 * 1024
#: the largest file the helper accepts
MAX_FILE_SIZE = 2**40
#: the largest segment size the helper encodes with
MAX_SEGMENT_SIZE = 8 * 1024 * 1024
#: the most bytes of blocks one segment may code into (N blocks of
#: segment_size/k): the helper's memory per segment in flight
MAX_ENCODED_SEGMENT = 32 * 1024 * 1024
#: seconds a client gets to answer one ``read_encrypted`` (or any) call
READ_TIMEOUT = 300.0


class ReaderError(Exception):
    """A client's ciphertext source announced or answered something the
    helper does not accept."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_size(size, max_file_size: int = MAX_FILE_SIZE) -> int:
    if not _is_int(size) or not 1 <= size <= max_file_size:
        raise ReaderError("the file size must be a whole number from 1 to %d, got %r"
                          % (max_file_size, size))
    return size


def check_encoding_parameters(params) -> tuple:
    """``(k, happy, n, segment_size)`` if within the helper's bounds, else
    :class:`ReaderError`."""
    if not isinstance(params, (tuple, list)) or len(params) != 4 \
            or not all(_is_int(v) for v in params):
        raise ReaderError("the encoding parameters must be four whole numbers (k, happy, N, "
                          "segment size), got %r" % (params,))
    k, happy, n, segsize = params
    if not 1 <= k <= n <= MAX_SHARES:
        raise ReaderError("the encoding parameters need 1 <= k <= N <= %d, got k=%d N=%d"
                          % (MAX_SHARES, k, n))
    if not 1 <= happy <= n:
        raise ReaderError("shares.happy must be from 1 to N=%d, got %d" % (n, happy))
    if not 1 <= segsize <= MAX_SEGMENT_SIZE or segsize % k:
        raise ReaderError("the segment size must be a multiple of k=%d from 1 to %d, got %d"
                          % (k, MAX_SEGMENT_SIZE, segsize))
    if n * div_ceil(segsize, k) > MAX_ENCODED_SEGMENT:
        raise ReaderError("a segment of %d bytes coded %d-of-%d makes %d bytes of blocks; "
                          "the helper codes at most %d per segment"
                          % (segsize, k, n, n * div_ceil(segsize, k), MAX_ENCODED_SEGMENT))
    return (k, happy, n, segsize)


def check_pieces(pieces, asked: int) -> list:
    """The pieces of a ``read_encrypted`` answer if they hold exactly
    ``asked`` bytes, else :class:`ReaderError`."""
    if not isinstance(pieces, (list, tuple)) or len(pieces) > MAX_READ_PIECES:
        raise ReaderError("read_encrypted answered %s, not a list of at most %d byte strings"
                          % (type(pieces).__name__, MAX_READ_PIECES))
    got = 0
    for piece in pieces:
        if not isinstance(piece, bytes):
            raise ReaderError("read_encrypted answered a %s among its pieces, not bytes"
                              % type(piece).__name__)
        got += len(piece)
    if got != asked:
        raise ReaderError("read_encrypted answered %d bytes, %d were asked for (within the "
                          "announced size)" % (got, asked))
    return list(pieces)


def _timed(d, timeout, clock):
    if timeout:
        d.addTimeout(timeout, clock)
    return d


class CiphertextFetcher:
    """Appends to ``path`` (which holds ``have`` bytes) the ciphertext of a
    file of ``size`` bytes, asking the readers given by ``await next_reader()``
    (called again after a reader fails; it raises when there is none
    left).  ``on_bytes(n)`` is told of every piece written; ``dropped(reader,
    reason)`` of every reader given up on."""

    def __init__(self, path: str, size: int, have: int, next_reader, dropped, clock,
                 on_bytes=None, chunk: int = FETCH_CHUNK, timeout: float = READ_TIMEOUT):
        self.path = path
        self.size = size
        self.have = have
        self._next_reader = next_reader
        self._dropped = dropped
        self._clock = clock
        self._on_bytes = on_bytes
        self._chunk = chunk
        self._timeout = timeout
        self.fetched = 0
        self.times = {"cumulative_fetch": 0.0, "total_fetch": 0.0}
        self._stopped = None

    def stop(self, reason) -> None:
        """Ask no more (the call under way, if any, is still written)."""
        self._stopped = reason

    async def run(self) -> None:
        started = time.perf_counter()
        with open(self.path, "ab") as f:
            if f.tell() != self.have:
                raise ReaderError("the partial file changed under the fetch")
            while self.have < self.size:
                if self._stopped is not None:
                    raise ReaderError("the fetch was stopped: %s" % (self._stopped,))
                reader = await self._next_reader()
                ask = min(self._chunk, self.size - self.have)
                t = time.perf_counter()
                try:
                    answer = await _timed(defer.maybeDeferred(
                        call_remote, reader, "read_encrypted", self.have, ask),
                        self._timeout, self._clock)
                    pieces = check_pieces(answer, ask)
                except Exception as e:
                    self._dropped(reader, e)
                    continue
                finally:
                    self.times["cumulative_fetch"] += time.perf_counter() - t
                for piece in pieces:
                    f.write(piece)
                f.flush()  # readable by the encoder's reader from now on
                self.have += ask
                self.fetched += ask
                if self._on_bytes is not None:
                    self._on_bytes(ask)
            f.flush()
            os.fsync(f.fileno())
        self.times["total_fetch"] = time.perf_counter() - started


@implementer(IEncryptedUploadable)
class LocalCiphertextReader:
    """The encrypted uploadable the encoder reads: the ciphertext file on
    disk, possibly while it is still being fetched.  ``available`` bytes are
    in the file now; :meth:`grew` says more are, :meth:`fail` that no more
    will come.  A read of bytes not there yet waits for them (in the
    reactor: a slow client holds no encoding thread)."""

    def __init__(self, path: str, storage_index: bytes, size: int, params: tuple,
                 available: int):
        self._f = open(path, "rb")  # kept open: the fetch renames the file when complete
        self._storage_index = storage_index
        self._size = size
        self._params = tuple(params)
        self._pos = 0
        self._available = available
        self._failed = None
        self._waiting = None     # (length, Deferred) of a read waiting for data

    def set_upload_status(self, upload_status) -> None:
        pass  # the helper's upload keeps its own status

    def get_size(self):
        return defer.succeed(self._size)

    def get_all_encoding_parameters(self):
        return defer.succeed(self._params)

    def get_storage_index(self):
        return defer.succeed(self._storage_index)

    def read_encrypted(self, length: int, hash_only: bool = False):
        if self._waiting is not None:
            return defer.fail(ReaderError("one read at a time"))
        if self._pos + length <= self._available:
            return defer.succeed(self._read(length, hash_only))
        if self._failed is not None:
            return defer.fail(self._failed)
        d = defer.Deferred()
        self._waiting = (length, hash_only, d)
        return d

    def _read(self, length: int, hash_only: bool) -> list:
        self._f.seek(self._pos)
        data = self._f.read(length)
        if len(data) != length:
            raise ReaderError("the ciphertext file holds %d bytes at %d, %d were expected"
                              % (len(data), self._pos, length))
        self._pos += length
        return [] if hash_only else [data]

    def grew(self, available: int) -> None:
        self._available = available
        if self._waiting is not None and self._pos + self._waiting[0] <= available:
            length, hash_only, d = self._waiting
            self._waiting = None
            try:
                data = self._read(length, hash_only)
            except Exception as e:
                d.errback(e)
            else:
                d.callback(data)

    def fail(self, reason: Exception) -> None:
        self._failed = reason
        if self._waiting is not None:
            d = self._waiting[2]
            self._waiting = None
            d.errback(reason)

    def close(self) -> None:
        self._f.close()
