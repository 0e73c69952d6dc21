"""The client's ciphertext, served to an upload helper (``RIEncryptedUploadable``).

:class:`RemoteEncryptedUploadable` is the Referenceable a client hands the
helper's ``upload``: the helper reads the ciphertext from it with
``read_encrypted(offset, length)``.  The client treats the helper as a peer
that may misbehave, so every read is checked before anything is read from the
file:

* ``length`` is at most :data:`MAX_READ_LENGTH` bytes (or one segment, when
  segments are larger), and never more than one answer may carry
  (``MAX_READ_PIECES`` pieces of ``MAX_READ_PIECE`` bytes);
* the helper may start past the bytes it already holds (a resumed upload): the
  reader skips forward to ``offset`` without sending the skipped bytes (it
  still reads and encrypts them: the source is read in order, and the
  ciphertext hashes below need every byte).  Going backwards is refused, as
  the source cannot be rewound;
* at the end of the file the answer is short, then empty;
* reads are served one at a time, in the order they arrive.

Every ciphertext byte, sent or skipped, goes through :class:`CiphertextHashes`,
which computes the whole-file crypttext hash and the crypttext hash tree root
of docs/specifications/immutable-shares.md §5 as the encoder does.  When the
helper has read to the end, the client compares them with the UEB the helper
returns: a helper that encoded other ciphertext than this client's is caught.

The 2008 plaintext-hash methods are answered with a clear error: current
UEBs carry no plaintext hashes (docs/specifications/encodings.md §4.1), so a
helper has no use for them, and Tahoe-LAFS's client does not offer them
either.
"""

from foolscap.api import Referenceable
from twisted.internet import defer
from zope.interface import implementer

from ..hashtree import HashTree
from ..util import hashutil
from .interfaces import MAX_READ_PIECE, MAX_READ_PIECES, RIEncryptedUploadable

#: the longest read a helper may ask for when segments are no longer than this
MAX_READ_LENGTH = 16 * 1024 * 1024
#: the longest read any helper may ask for: what one answer can carry
MAX_ANSWER = MAX_READ_PIECES * MAX_READ_PIECE
#: skipped ciphertext is read (and hashed) in steps of this many bytes
SKIP_STEP = 1024 * 1024


class ReadRefusedError(Exception):
    """A ``read_encrypted`` this client will not answer (bad bounds,
    backwards, after ``close``); the helper sees its message."""


class PlaintextHashesNotProvidedError(Exception):
    """The 2008 plaintext-hash methods: not provided by this client."""


class CiphertextHashes:
    """The crypttext hash and crypttext hash tree root of a file, fed its
    ciphertext in order (pieces of any length).  Memory: one 32-byte hash
    per segment."""

    def __init__(self, size: int, segment_size: int):
        self.size = size
        self.segment_size = segment_size
        self.fed = 0
        self._file = hashutil.crypttext_hasher()
        self._segment = hashutil.crypttext_segment_hasher()
        self._in_segment = 0
        self._leaves = []

    def feed(self, data) -> None:
        view = memoryview(data)
        if self.fed + len(view) > self.size:
            raise ValueError("more ciphertext than the file's %d bytes" % self.size)
        self._file.update(view)
        while len(view):
            take = min(len(view), self.segment_size - self._in_segment)
            self._segment.update(view[:take])
            self._in_segment += take
            self.fed += take
            view = view[take:]
            if self._in_segment == self.segment_size or self.fed == self.size:
                self._end_segment()

    def _end_segment(self) -> None:
        self._leaves.append(self._segment.digest())
        self._segment = hashutil.crypttext_segment_hasher()
        self._in_segment = 0

    @property
    def complete(self) -> bool:
        return self.fed == self.size

    def crypttext_hash(self) -> bytes:
        assert self.complete
        return self._file.digest()

    def crypttext_root_hash(self) -> bytes:
        assert self.complete
        return HashTree(self._leaves)[0]


@implementer(RIEncryptedUploadable)
class RemoteEncryptedUploadable(Referenceable):
    """An ``IEncryptedUploadable`` (key and size known) served to a helper.

    ``encoding_parameters`` is the ``(k, happy, n, segment_size)`` of the
    upload; ``status`` (an UploadStatus, or None) gets progress part 1: the
    fraction of the ciphertext the helper has (read or skipped).

    Public counters: ``bytes_sent``, ``bytes_skipped``, ``reads`` (answered
    ``read_encrypted`` calls), ``accepted`` (calls that passed the checks,
    answered or not), ``position`` (the next offset), ``closed``.
    :meth:`stop` closes it from the client's side: once the upload is over,
    the helper's reference reads nothing more from the source.
    """

    def __init__(self, encrypted, size: int, encoding_parameters: tuple, status=None):
        self._eu = encrypted
        self._size = size
        self._params = tuple(encoding_parameters)
        self._status = status
        segment_size = self._params[3]
        self.max_read = min(MAX_ANSWER, max(MAX_READ_LENGTH, segment_size))
        self.hashes = CiphertextHashes(size, segment_size)
        self._lock = defer.DeferredLock()
        self.position = 0
        self.bytes_sent = 0
        self.bytes_skipped = 0
        self.reads = 0
        self.accepted = 0
        self.closed = False

    # ---- RIEncryptedUploadable ------------------------------------------------------
    def remote_get_size(self):
        return self._size

    def remote_get_all_encoding_parameters(self):
        return self._params

    def remote_read_encrypted(self, offset, length):
        self._check_read(offset, length)
        self.accepted += 1
        return self._lock.run(lambda: defer.ensureDeferred(self._read(offset, length)))

    def remote_get_plaintext_hashtree_leaves(self, first, last, num_segments):
        raise PlaintextHashesNotProvidedError(
            "this client does not compute plaintext hashes (current URI extension blocks carry "
            "none); get_plaintext_hashtree_leaves is not provided")

    def remote_get_plaintext_hash(self):
        raise PlaintextHashesNotProvidedError(
            "this client does not compute plaintext hashes (current URI extension blocks carry "
            "none); get_plaintext_hash is not provided")

    def remote_close(self):
        self.closed = True

    def stop(self) -> None:
        self.closed = True

    # ---- reading --------------------------------------------------------------------
    def _check_read(self, offset, length) -> None:
        if self.closed:
            raise ReadRefusedError("read_encrypted after close()")
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
            raise ReadRefusedError("read_encrypted needs a non-negative offset and length, not "
                                   "(%r, %r)" % (offset, length))
        if length > self.max_read:
            raise ReadRefusedError("read_encrypted of %d bytes: this client answers at most %d "
                                   "bytes per read" % (length, self.max_read))

    async def _read(self, offset: int, length: int) -> list:
        if self.closed:
            raise ReadRefusedError("read_encrypted after close()")
        if offset < self.position:
            raise ReadRefusedError("read_encrypted(%d, %d) goes back before offset %d: this "
                                   "client reads its file once, in order, and cannot resend "
                                   "what it has already sent" % (offset, length, self.position))
        offset = min(offset, self._size)
        while self.position < offset:
            step = min(SKIP_STEP, offset - self.position)
            skipped = await self._next(step)
            self.bytes_skipped += skipped
        length = min(length, self._size - self.position)
        chunks = []
        while length > 0:
            got = self._take(await self._eu.read_encrypted(length, False), chunks)
            if not got:
                raise ReadRefusedError("the file ended at offset %d, before the %d bytes it "
                                       "announced" % (self.position, self._size))
            length -= got
        data = b"".join(chunks) if len(chunks) != 1 else bytes(chunks[0])
        self.bytes_sent += len(data)
        self.reads += 1
        return [data[start:start + MAX_READ_PIECE] for start in range(0, len(data), MAX_READ_PIECE)]

    async def _next(self, length: int) -> int:
        """Read and hash (but do not keep) the next ``length`` bytes."""
        chunks = await self._eu.read_encrypted(length, False)
        got = self._take(chunks, None)
        if got != length:
            raise ReadRefusedError("the file ended at offset %d, before the %d bytes it announced"
                                   % (self.position, self._size))
        return got

    def _take(self, chunks, keep) -> int:
        """Hash ``chunks`` (ciphertext at ``position``), advance past them,
        and append them to ``keep`` (if given)."""
        got = 0
        for chunk in chunks:
            if not len(chunk):
                continue
            if self.position + got + len(chunk) > self._size:
                raise ReadRefusedError("the file has grown past the %d bytes it announced"
                                       % self._size)
            self.hashes.feed(chunk)
            got += len(chunk)
            if keep is not None:
                keep.append(chunk)
        self.position += got
        if self._status is not None:
            self._status.set_progress(1, self.position / self._size if self._size else 1.0)
        return got
