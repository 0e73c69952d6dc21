"""What an upload reads from: the plaintext sources and their encryption.

* :class:`Data`, :class:`FileHandle` and :class:`FileName` are the 2008
  ``IUploadable``: bytes in memory, an open binary file, a path.  With a
  ``convergence`` secret (bytes) the AES key is the convergent key of
  docs/specifications/encodings.md §5, hashed over the whole plaintext in one pass before
  anything is encrypted (in a worker thread, in 1 MiB chunks, never holding
  the file in memory); with ``convergence=None`` it is 16 random bytes.
* :class:`EncryptAnUploadable` turns an ``IUploadable`` into the 2008
  ``IEncryptedUploadable``: AES-128-CTR with one keystream over the whole
  file (immutable-shares.md §2), storage index = hash of the key.

The plaintext is read from offset 0 of a file handle.  Reading and
encrypting a segment happen together in a worker thread when the source
supports it (``read_sync``), so the reactor thread only moves ciphertext.
"""

import os

from twisted.internet import defer, threads
from twisted.python.failure import Failure
from zope.interface import implementer

from ..crypto.aes import CTRStream
from ..util import hashutil
from ..util.default_reactor import default_reactor
from .interfaces import IEncryptedUploadable, IUploadable
from .params import DEFAULT_MAX_SEGMENT_SIZE, check_shares, next_multiple

#: Work on fewer bytes than this is done in the calling thread.
THREAD_THRESHOLD = 32 * 1024
#: Chunk size of the convergence-hashing pass.
HASH_CHUNK = 1024 * 1024

DEFAULT_ENCODING_PARAMETERS = {"k": 3, "happy": 7, "n": 10,
                               "max_segment_size": DEFAULT_MAX_SEGMENT_SIZE}


class UploadableError(Exception):
    """An uploadable that cannot be read as promised."""


def _in_thread(reactor, size: int, f, *args):
    """Deferred(f(*args)): in the reactor's thread pool if ``size`` is big."""
    if size < THREAD_THRESHOLD:
        return defer.maybeDeferred(f, *args)
    if reactor is None:
        reactor = default_reactor()
    return threads.deferToThreadPool(reactor, reactor.getThreadPool(), f, *args)


class _Once:
    """A value computed once on demand, handed to every asker."""

    def __init__(self, compute):
        self._compute = compute
        self._done = False
        self._value = None
        self._waiters = None

    def get(self):
        if self._done:
            return defer.succeed(self._value)
        d = defer.Deferred()
        if self._waiters is None:
            self._waiters = [d]
            run = defer.maybeDeferred(self._compute)
            run.addBoth(self._fire)
        else:
            self._waiters.append(d)
        return d

    def _fire(self, result):
        waiters, self._waiters = self._waiters, None
        if not isinstance(result, Failure):
            self._done, self._value = True, result
        for d in waiters:
            d.callback(result)


@implementer(IUploadable)
class _Uploadable:
    """What every plaintext source shares: parameters and the key."""

    def __init__(self, convergence: bytes | None, reactor=None):
        if convergence is not None and not isinstance(convergence, bytes):
            raise TypeError("the convergence secret is bytes (or None for a random key), "
                            "not %s" % type(convergence).__name__)
        self.convergence = convergence
        self._reactor = reactor
        self._status = None
        self._params = dict(DEFAULT_ENCODING_PARAMETERS)
        self._key = _Once(self._make_key)

    # ---- IUploadable -------------------------------------------------------------------
    def set_upload_status(self, upload_status) -> None:
        self._status = upload_status

    def set_default_encoding_parameters(self, params: dict) -> None:
        for name in ("k", "happy", "n", "max_segment_size"):
            if params.get(name) is not None:
                self._params[name] = params[name]

    def get_size(self):
        return defer.succeed(self.size)

    def get_all_encoding_parameters(self):
        """Deferred((k, happy, n, segment_size)) with the effective segment
        size of immutable-shares.md §1: ``nextmul(min(max_segment_size, size), k)``."""
        return defer.succeed(self._encoding_parameters())

    def _encoding_parameters(self):
        k, happy, n = self._params["k"], self._params["happy"], self._params["n"]
        check_shares(k, n)
        if not 1 <= happy <= n:
            raise ValueError("shares.happy must be between 1 and N=%d, got %r" % (n, happy))
        segsize = next_multiple(max(1, min(self._params["max_segment_size"], self.size)), k)
        return (k, happy, n, segsize)

    def get_encryption_key(self):
        """Deferred(16-byte AES key), the same every time."""
        return self._key.get()

    def read(self, length: int):
        """Deferred([bytes]) of the next ``length`` bytes (fewer at EOF)."""
        return _in_thread(self._reactor, length, self.read_sync, length)

    def close(self) -> None:
        pass

    # ---- the key -----------------------------------------------------------------------
    def _make_key(self):
        if self.convergence is None:
            self._progress(1.0)
            return hashutil.random_key()
        k, _happy, n, segsize = self._encoding_parameters()
        hasher = hashutil.convergence_hasher(self.convergence, k, n, segsize)
        return _in_thread(self._reactor, self.size, self._hash_all, hasher)

    def _hash_all(self, hasher) -> bytes:
        done = 0
        for chunk in self._chunks_for_hashing():
            hasher.update(chunk)
            done += len(chunk)
            self._progress(done / self.size if self.size else 1.0)
        if done != self.size:
            raise UploadableError("the file has %d bytes, not the %d it had when the upload "
                                  "started" % (done, self.size))
        self._progress(1.0)
        return hasher.digest()

    def _progress(self, fraction: float) -> None:
        if self._status is not None:
            self._status.set_progress(0, fraction)


class Data(_Uploadable):
    """Upload bytes held in memory."""

    def __init__(self, data: bytes, convergence: bytes | None, reactor=None):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("Data() uploads bytes, not %s" % type(data).__name__)
        _Uploadable.__init__(self, convergence, reactor)
        self._data = data
        self._view = memoryview(data).cast("B")
        self.size = len(self._view)
        self._pos = 0

    def _chunks_for_hashing(self):
        return (self._view,)

    def read_sync(self, length: int) -> list:
        start = self._pos
        self._pos = min(self.size, start + length)
        return [self._view[start:self._pos]]


class FileHandle(_Uploadable):
    """Upload an open binary file, from offset 0 to its end."""

    def __init__(self, filehandle, convergence: bytes | None, reactor=None):
        _Uploadable.__init__(self, convergence, reactor)
        self._fh = filehandle
        filehandle.seek(0, os.SEEK_END)
        self.size = filehandle.tell()
        filehandle.seek(0)
        self._pos = 0

    def _chunks_for_hashing(self):
        self._fh.seek(0)
        readinto = getattr(self._fh, "readinto", None)
        if readinto is not None:  # one buffer, reused for every chunk
            # no bigger than the file: a 1 KiB upload need not zero 1 MiB
            buf = bytearray(max(1, min(HASH_CHUNK, self.size)))
            view = memoryview(buf)
            while True:
                n = readinto(buf)
                if not n:
                    break
                yield view[:n]
        else:
            while True:
                chunk = self._fh.read(HASH_CHUNK)
                if not chunk:
                    break
                yield chunk
        self._fh.seek(self._pos)

    def read_sync(self, length: int) -> list:
        self._fh.seek(self._pos)
        data = self._fh.read(length)
        if len(data) < length and data:  # a short read is not yet the end
            parts = [data]
            got = len(data)
            while got < length:
                more = self._fh.read(length - got)
                if not more:
                    break
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
        self._pos += len(data)
        return [data]

    def close(self) -> None:
        pass  # the caller owns the handle


class FileName(FileHandle):
    """Upload the file at ``path`` (opened here, closed by ``close()``)."""

    def __init__(self, path, convergence: bytes | None, reactor=None):
        FileHandle.__init__(self, open(path, "rb"), convergence, reactor)
        self.path = path

    def close(self) -> None:
        self._fh.close()


@implementer(IEncryptedUploadable)
class EncryptAnUploadable:
    """The ciphertext of an ``IUploadable``: AES-128-CTR, one keystream."""

    def __init__(self, original, status=None, reactor=None):
        self.original = IUploadable(original)
        self._reactor = reactor
        self._status = None
        self._cipher = None
        self._key = None
        self._storage_index = None
        self._size = None
        self._read = 0
        if status is not None:
            self.set_upload_status(status)

    def set_upload_status(self, upload_status) -> None:
        self._status = upload_status
        self.original.set_upload_status(upload_status)

    @defer.inlineCallbacks
    def get_size(self):
        if self._size is None:
            self._size = yield self.original.get_size()
            if self._status is not None:
                self._status.set_size(self._size)
        return self._size

    def get_all_encoding_parameters(self):
        return self.original.get_all_encoding_parameters()

    @defer.inlineCallbacks
    def get_encryption_key(self):
        if self._key is None:
            key = yield self.original.get_encryption_key()
            if not isinstance(key, bytes) or len(key) != 16:
                raise UploadableError("an encryption key is 16 bytes")
            if self._key is None:
                self._key = key
                self._cipher = CTRStream(key)
                self._storage_index = hashutil.storage_index_hash(key)
                if self._status is not None:
                    self._status.set_storage_index(self._storage_index)
        return self._key

    @defer.inlineCallbacks
    def get_storage_index(self):
        yield self.get_encryption_key()
        return self._storage_index

    @defer.inlineCallbacks
    def read_encrypted(self, length: int, hash_only: bool = False):
        """Deferred([ciphertext bytes]) of the next ``length`` bytes."""
        yield self.get_encryption_key()
        size = yield self.get_size()
        read_sync = getattr(self.original, "read_sync", None)
        if read_sync is not None:
            out = yield _in_thread(self._reactor, length, self._read_and_encrypt, read_sync,
                                   length)
        else:
            chunks = yield self.original.read(length)
            out = yield _in_thread(self._reactor, length, self._encrypt, chunks)
        self._read += sum(len(c) for c in out)
        if self._status is not None:
            self._status.set_progress(1, self._read / size if size else 1.0)
        return [] if hash_only else out

    def _read_and_encrypt(self, read_sync, length):
        return self._encrypt(read_sync(length))

    def can_read_encrypted_sync(self) -> bool:
        """True once the key and size are known, if the source reads
        synchronously: :meth:`read_encrypted_sync` may then be used (from a
        worker thread) instead of :meth:`read_encrypted`."""
        return (self._cipher is not None and self._size is not None
                and getattr(self.original, "read_sync", None) is not None)

    def read_encrypted_sync(self, length: int) -> list:
        """The next ``length`` bytes of ciphertext, read and encrypted in the
        calling thread (see :meth:`can_read_encrypted_sync`)."""
        out = self._encrypt(self.original.read_sync(length))
        self._read += sum(len(c) for c in out)
        if self._status is not None:
            self._status.set_progress(1, self._read / self._size if self._size else 1.0)
        return out

    def _encrypt(self, chunks):
        return [self._cipher.update(c) for c in chunks if len(c)]

    def get_plaintext_hashtree_leaves(self, first, last, num_segments):
        """Plaintext hashes are not stored since Tahoe-LAFS 1.3 (docs/specifications/
        encodings.md §4.1); nothing computes them."""
        return defer.succeed([])

    def get_plaintext_hash(self):
        return defer.succeed(None)

    def close(self):
        return self.original.close()
