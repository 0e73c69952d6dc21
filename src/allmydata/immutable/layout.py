"""The bytes of one immutable share inside its bucket (docs/specifications/immutable-shares.md §6).

A share is a header of offsets followed by six regions, back to back::

    header | data (blocks) | plaintext tree (zeros) | crypttext tree |
    block tree | share-hash chain | UEB length + UEB

v1 headers hold 4-byte fields (36 bytes), v2 headers 8-byte fields (68 bytes);
v1 is written whenever every number fits in 32 bits.

* :func:`compute_layout` and :func:`parse_header` are the pure halves.
* :class:`WriteBucketProxy` fills a remote ``RIBucketWriter`` strictly in
  order, batching small puts into ~1 MB ``write(offset, data)`` calls, with a
  bounded number of bytes in flight (its Deferreds are the back-pressure).
* :class:`ReadBucketProxy` reads the regions of a share through a remote
  ``RIBucketReader`` and checks that what comes back is well-formed.

Every remote call goes through :func:`allmydata.util.rrefutil.call_remote`.
"""

import struct

import attrs
from twisted.internet import defer
from twisted.python import failure
from twisted.logger import Logger
from zope.interface import implementer

from ..util import base32
from ..util.rrefutil import call_remote
from .interfaces import IStorageBucketReader, IStorageBucketWriter
from .params import next_power_of_two

HASH_SIZE = 32
SHARE_HASH_ENTRY_SIZE = 2 + HASH_SIZE
V1_HEADER_SIZE = 0x24
V2_HEADER_SIZE = 0x44
#: Bytes per batched ``write`` call.  Larger batches do not lower the CPU
#: cost, which is per byte (TLS records, copies), not per call.
DEFAULT_BATCH_SIZE = 1_000_000
#: Bytes that may be sent to one bucket and not yet acknowledged before
#: the ``put_*`` Deferreds start to wait: two writes in flight keep a server
#: busy, and every further megabyte per bucket adds to the client's peak
#: RSS (docs/performance.md).
DEFAULT_PIPELINE_SIZE = 1_000_000

log = Logger()


class LayoutError(Exception):
    """Base class of share-layout errors."""


class LayoutInvalid(LayoutError):
    """Share bytes from a server are malformed, truncated or inconsistent."""


class ShareVersionIncompatible(LayoutInvalid):
    """A share whose header names a layout version this reader does not
    know: not damage, but nothing this client can read either."""


class FileTooLargeError(LayoutError):
    """A share whose offsets do not fit even the 64-bit (v2) layout."""


class LayoutUsageError(LayoutError):
    """The writer was used out of order or with wrongly-sized data (a bug in
    the caller, never the server's fault)."""


# ---- the pure layout -----------------------------------------------------------------
@attrs.frozen
class ShareLayout:
    """Where each region of one share starts (offsets from the start of the
    share data, i.e. container offset 0x0c)."""

    version: int
    block_size: int
    data_size: int
    data: int
    plaintext_hash_tree: int
    crypttext_hash_tree: int
    block_hashes: int
    share_hashes: int
    uri_extension: int

    @property
    def header_size(self) -> int:
        return V1_HEADER_SIZE if self.version == 1 else V2_HEADER_SIZE

    @property
    def fieldsize(self) -> int:
        """Size of the UEB length field (and of header fields)."""
        return 4 if self.version == 1 else 8

    @property
    def hash_tree_size(self) -> int:
        """Bytes of each of the three per-segment hash-tree regions."""
        return self.crypttext_hash_tree - self.plaintext_hash_tree

    @property
    def share_hashes_size(self) -> int:
        return self.uri_extension - self.share_hashes

    def header(self) -> bytes:
        fields = (self.data, self.plaintext_hash_tree, self.crypttext_hash_tree,
                  self.block_hashes, self.share_hashes, self.uri_extension)
        if self.version == 1:
            return struct.pack(">LLL6L", 1, self.block_size, self.data_size, *fields)
        return struct.pack(">LQQ6Q", 2, self.block_size, self.data_size, *fields)

    def allocated_size(self, uri_extension_size: int) -> int:
        """The bucket size to ask for: up to the end of the UEB."""
        return self.uri_extension + self.fieldsize + uri_extension_size


def compute_layout(data_size: int, block_size: int, num_segments: int, num_share_hashes: int,
                   uri_extension_size: int, version: int | None = None) -> ShareLayout:
    """The layout of a share; v1 if every field fits 32 bits, else v2
    (``version`` forces one, for tests)."""
    tree = (2 * next_power_of_two(num_segments) - 1) * HASH_SIZE
    share_hashes = num_share_hashes * SHARE_HASH_ENTRY_SIZE
    for v in ((version,) if version else (1, 2)):
        header = V1_HEADER_SIZE if v == 1 else V2_HEADER_SIZE
        limit = 2**32 if v == 1 else 2**64
        offsets = [header]
        for size in (data_size, tree, tree, tree, share_hashes):
            offsets.append(offsets[-1] + size)
        end = offsets[-1] + (4 if v == 1 else 8) + uri_extension_size
        if block_size < limit and data_size < limit and offsets[-1] < limit and end <= limit:
            return ShareLayout(v, block_size, data_size, *offsets)
        if version:
            raise FileTooLargeError("a share of %d data bytes does not fit layout v%d"
                                    % (data_size, v))
    raise FileTooLargeError("a share of %d data bytes is too large for any share layout"
                            % data_size)


def allocated_size(data_size: int, num_segments: int, num_share_hashes: int,
                   uri_extension_size: int, block_size: int = 0) -> int:
    """What to pass to ``allocate_buckets`` for such a share."""
    return compute_layout(data_size, block_size, num_segments, num_share_hashes,
                          uri_extension_size).allocated_size(uri_extension_size)


def parse_header(data: bytes, where: str = "share") -> ShareLayout:
    """Parse and check the header at the start of ``data`` (at least 36
    bytes; 68 for v2).  Raises :class:`LayoutInvalid`."""
    data = bytes(data[:V2_HEADER_SIZE])
    if len(data) < 4:
        raise LayoutInvalid("%s: only %d bytes, too short for a share header" % (where, len(data)))
    (version,) = struct.unpack(">L", data[:4])
    if version == 1:
        if len(data) < V1_HEADER_SIZE:
            raise LayoutInvalid("%s: v1 header truncated (%d of 36 bytes)" % (where, len(data)))
        fields = struct.unpack(">LLL6L", data[:V1_HEADER_SIZE])
    elif version == 2:
        if len(data) < V2_HEADER_SIZE:
            raise LayoutInvalid("%s: v2 header truncated (%d of 68 bytes)" % (where, len(data)))
        fields = struct.unpack(">LQQ6Q", data[:V2_HEADER_SIZE])
    else:
        raise ShareVersionIncompatible("%s: unknown share layout version %d (this reader "
                                       "knows 1 and 2)" % (where, version))
    lay = ShareLayout(*fields)
    names = ("data", "plaintext_hash_tree", "crypttext_hash_tree", "block_hashes",
             "share_hashes", "uri_extension")
    offsets = [getattr(lay, n) for n in names]
    if lay.data != lay.header_size:
        raise LayoutInvalid("%s: data offset is %d, but a v%d header is %d bytes"
                            % (where, lay.data, version, lay.header_size))
    for (n1, o1), (n2, o2) in zip(zip(names, offsets), zip(names[1:], offsets[1:])):
        if o2 < o1:
            raise LayoutInvalid("%s: header offsets out of order (%s at %d after %s at %d)"
                                % (where, n2, o2, n1, o1))
    for name, size in (("plaintext hash tree", lay.crypttext_hash_tree - lay.plaintext_hash_tree),
                       ("crypttext hash tree", lay.block_hashes - lay.crypttext_hash_tree),
                       ("block hash tree", lay.share_hashes - lay.block_hashes)):
        if size % HASH_SIZE:
            raise LayoutInvalid("%s: the %s region is %d bytes, not a whole number of hashes"
                                % (where, name, size))
    if lay.share_hashes_size % SHARE_HASH_ENTRY_SIZE:
        raise LayoutInvalid("%s: the share-hash region is %d bytes, not a multiple of 34"
                            % (where, lay.share_hashes_size))
    return lay


# ---- writing ---------------------------------------------------------------------
@implementer(IStorageBucketWriter)
class WriteBucketProxy:
    """Writes one share into a remote bucket writer, strictly in order.

    Every ``put_*`` returns a Deferred that fires when the proxy can take
    more (less than ``pipeline_size`` bytes unacknowledged), or fails with
    the first error of any earlier write: after one failure every later call
    fails the same way.  ``close()`` fires once every write is acknowledged
    and the bucket is closed.
    """

    def __init__(self, rref, server, layout: ShareLayout, uri_extension_size: int,
                 num_segments: int, batch_size: int = DEFAULT_BATCH_SIZE,
                 pipeline_size: int = DEFAULT_PIPELINE_SIZE):
        self._rref = rref
        self._server = server
        self.layout = layout
        self._uri_extension_size = uri_extension_size
        self._num_segments = num_segments
        self._batch_size = batch_size
        self._pipeline_size = pipeline_size
        self._buffer = []
        self._buffered = 0
        self._sent = 0          # bytes handed to remote write() calls
        self._in_flight = 0     # of which not yet acknowledged
        self._waiters = []      # Deferreds waiting for room / for quiet
        self._failure = None
        self._closed = False

    def __repr__(self):
        return "<WriteBucketProxy v%d to %s>" % (self.layout.version, self.get_servername())

    # ---- identity -----------------------------------------------------------------
    @staticmethod
    def compute_allocated_size(data_size, num_segments, num_share_hashes, uri_extension_size,
                               block_size=0) -> int:
        return allocated_size(data_size, num_segments, num_share_hashes, uri_extension_size,
                              block_size)

    def allocated_size(self) -> int:
        return self.layout.allocated_size(self._uri_extension_size)

    get_allocated_size = allocated_size

    def get_server(self):
        return self._server

    def get_servername(self) -> str:
        if self._server is None:
            return "(unnamed server)"
        return self._server.get_name()

    def get_peerid(self) -> bytes | None:
        return None if self._server is None else self._server.get_serverid()

    # ---- the put_* methods, in the order they must be called ---------------------------
    def put_header(self):
        return self._queue(0, self.layout.header())

    def put_block(self, segmentnum: int, data):
        lay = self.layout
        if not 0 <= segmentnum < self._num_segments:
            raise LayoutUsageError("block %d of a %d-segment share" % (segmentnum, self._num_segments))
        if segmentnum < self._num_segments - 1:
            want = lay.block_size
        else:
            want = lay.data_size - lay.block_size * (self._num_segments - 1)
        if len(data) != want:
            raise LayoutUsageError("block %d is %d bytes; this share needs %d"
                                   % (segmentnum, len(data), want))
        return self._queue(lay.data + segmentnum * lay.block_size, data)

    def put_plaintext_hashes(self, hashes=None):
        """Write the unused plaintext-tree region: always zeros."""
        return self._queue(self.layout.plaintext_hash_tree, bytes(self.layout.hash_tree_size))

    def put_crypttext_hashes(self, hashes):
        """Write the zeros of the plaintext tree, then the crypttext tree
        (every node, in index order)."""
        if self._failure is None and self._queued_end() == self.layout.plaintext_hash_tree:
            self._enqueue(self.layout.plaintext_hash_tree, bytes(self.layout.hash_tree_size))
        return self._put_hashes(self.layout.crypttext_hash_tree, hashes, "crypttext hash tree")

    def put_block_hashes(self, blockhashes):
        return self._put_hashes(self.layout.block_hashes, blockhashes, "block hash tree")

    def put_share_hashes(self, sharehashes):
        """``sharehashes``: [(node index, 32-byte hash)], leaf included."""
        data = b"".join(struct.pack(">H", i) + h for i, h in sharehashes)
        if any(len(h) != HASH_SIZE for _i, h in sharehashes) \
                or len(data) != self.layout.share_hashes_size:
            raise LayoutUsageError("the share-hash chain must be %d entries of (index, 32-byte "
                                   "hash), got %d" % (self.layout.share_hashes_size
                                                      // SHARE_HASH_ENTRY_SIZE, len(sharehashes)))
        return self._queue(self.layout.share_hashes, data)

    def put_uri_extension(self, data: bytes):
        if len(data) != self._uri_extension_size:
            raise LayoutUsageError("the URI extension block is %d bytes, but %d were allocated"
                                   % (len(data), self._uri_extension_size))
        fmt = ">L" if self.layout.version == 1 else ">Q"
        return self._queue(self.layout.uri_extension, struct.pack(fmt, len(data)) + data)

    def nothing_sent(self) -> bool:
        """True while no write() has been sent: everything put so far is
        still buffered (a small share goes out as one write at close())."""
        return self._sent == 0 and self._failure is None

    def flush(self):
        """Send what is buffered; fire when every write is acknowledged."""
        if self._failure is not None:
            return defer.fail(self._failure)
        self._flush()
        return self._wait(0)

    def close(self):
        """Send what is buffered and ``close()`` right behind it; fire when
        the server has acknowledged every write and the close.

        The close is not held back until the writes are answered: Foolscap
        delivers the calls of one connection in order, so the server runs it
        after the last write, and an upload saves a round trip per bucket.
        A write that failed still fails this Deferred (the uploader then
        gives up on the share)."""
        if self._failure is not None:
            return defer.fail(self._failure)
        if self._queued_end() != self.allocated_size():
            raise LayoutUsageError("close() after writing %d of the %d bytes of the share"
                                   % (self._queued_end(), self.allocated_size()))
        self._flush()
        closing = defer.maybeDeferred(call_remote, self._rref, "close")
        written = self._wait(0)
        d = defer.gatherResults([written, closing], consumeErrors=True)
        d.addErrback(lambda f: f.value.subFailure if isinstance(f.value, defer.FirstError) else f)
        d.addCallback(self._mark_closed)
        return d

    def abort(self):
        """Ask the server to delete the partial share; never fails."""
        self._closed = True
        d = defer.maybeDeferred(call_remote, self._rref, "abort")
        d.addErrback(lambda f: log.info("abort() of a bucket on {server} failed: {why}",
                                        server=self.get_servername(), why=f.value))
        d.addCallback(lambda _: None)
        return d

    # ---- internals ---------------------------------------------------------------------
    def _mark_closed(self, _):
        self._closed = True
        return None

    def _put_hashes(self, offset, hashes, what):
        data = b"".join(hashes)
        if any(len(h) != HASH_SIZE for h in hashes) or len(data) != self.layout.hash_tree_size:
            raise LayoutUsageError("the %s must be %d hashes of 32 bytes, got %d"
                                   % (what, self.layout.hash_tree_size // HASH_SIZE, len(hashes)))
        return self._queue(offset, data)

    def _queued_end(self) -> int:
        return self._sent + self._buffered

    def _queue(self, offset, data):
        if self._failure is not None:
            return defer.fail(self._failure)
        self._enqueue(offset, data)
        return self._wait(self._pipeline_size)

    def _enqueue(self, offset, data) -> None:
        if self._closed:
            raise LayoutUsageError("write to a bucket proxy that is closed or aborted")
        if offset != self._queued_end():
            raise LayoutUsageError("out-of-order write at %d; the share is written up to %d"
                                   % (offset, self._queued_end()))
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= self._batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self._buffered:
            return
        parts, self._buffer = self._buffer, []
        data = parts[0] if len(parts) == 1 and isinstance(parts[0], bytes) else b"".join(parts)
        offset, size = self._sent, self._buffered
        self._sent += size
        self._buffered = 0
        self._in_flight += size
        d = defer.maybeDeferred(call_remote, self._rref, "write", offset, data)
        d.addCallbacks(self._write_done, self._write_failed, callbackArgs=(size,))

    def _write_done(self, _, size):
        self._in_flight -= size
        self._wake()

    def _write_failed(self, failure):
        if self._failure is None:
            self._failure = failure
        self._wake()

    def _wake(self):
        waiters, self._waiters = self._waiters, []
        for limit, d in waiters:
            if self._failure is not None:
                d.errback(self._failure)
            elif self._in_flight <= limit:
                d.callback(None)
            else:
                self._waiters.append((limit, d))

    def _wait(self, limit):
        if self._failure is not None:
            return defer.fail(self._failure)
        if self._in_flight <= limit:
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiters.append((limit, d))
        return d


def make_write_bucket_proxy(rref, server, data_size: int, block_size: int, num_segments: int,
                            num_share_hashes: int, uri_extension_size: int,
                            **kwargs) -> WriteBucketProxy:
    """A :class:`WriteBucketProxy` with the v1 or v2 layout, whichever fits."""
    layout = compute_layout(data_size, block_size, num_segments, num_share_hashes,
                            uri_extension_size)
    return WriteBucketProxy(rref, server, layout, uri_extension_size, num_segments, **kwargs)


# ---- reading -----------------------------------------------------------------------
@implementer(IStorageBucketReader)
class ReadBucketProxy:
    """Reads the regions of one share through a remote bucket reader.

    The header is fetched once (by the first call that needs it) and kept.
    Short or malformed data fails with :class:`LayoutInvalid`, naming the
    server, storage index and share number when they are known.
    """

    def __init__(self, rref, server, storage_index: bytes, shnum: int | None = None):
        self._rref = rref
        self._server = server
        self._storage_index = storage_index
        self._shnum = shnum
        self._header_waiters = []
        self.layout = None

    def __repr__(self):
        return "<ReadBucketProxy %s>" % self._where()

    def _where(self) -> str:
        parts = []
        if self._shnum is not None:
            parts.append("share %d" % self._shnum)
        if self._storage_index:
            parts.append("of SI %s" % base32.b2a(self._storage_index).decode("ascii")[:10])
        if self._server is not None:
            parts.append("on %s" % self._server.get_name())
        return " ".join(parts) or "share"

    def get_server(self):
        return self._server

    def get_storage_index(self) -> bytes:
        return self._storage_index

    def _read(self, offset: int, length: int, what: str, exact: bool = True):
        d = call_remote(self._rref, "read", offset, length)

        def _check(data):
            if exact and len(data) != length:
                raise LayoutInvalid("%s: the %s (%d bytes at %d) came back %d bytes long"
                                    % (self._where(), what, length, offset, len(data)))
            return data
        d.addCallback(_check)
        return d

    def get_header(self):
        """Deferred(:class:`ShareLayout`), parsed and checked; read once."""
        if self.layout is not None:
            return defer.succeed(self.layout)
        d = defer.Deferred()
        self._header_waiters.append(d)
        if len(self._header_waiters) == 1:
            rd = self._read(0, V2_HEADER_SIZE, "header", exact=False)
            rd.addCallback(lambda data: parse_header(data, self._where()))
            rd.addBoth(self._header_arrived)
        return d

    def _header_arrived(self, result):
        if not isinstance(result, failure.Failure):
            self.layout = result
        waiters, self._header_waiters = self._header_waiters, []
        for d in waiters:
            d.callback(result)  # a Failure goes to the errbacks

    @defer.inlineCallbacks
    def get_block_data(self, blocknum: int, blocksize: int, size: int):
        """Bytes of block ``blocknum``: ``size`` bytes at ``blocknum*blocksize``."""
        lay = yield self.get_header()
        offset = lay.data + blocknum * blocksize
        if blocknum < 0 or size < 0 or offset + size > lay.plaintext_hash_tree:
            raise LayoutInvalid("%s: block %d (%d bytes at %d) lies outside its %d-byte data "
                                "region" % (self._where(), blocknum, size, offset - lay.data,
                                            lay.plaintext_hash_tree - lay.data))
        data = yield self._read(offset, size, "block %d" % blocknum)
        return data

    get_block = get_block_data

    def _get_hashes(self, start_attr, end_attr, what):
        d = self.get_header()

        def _read(lay):
            start, end = getattr(lay, start_attr), getattr(lay, end_attr)
            return self._read(start, end - start, what)
        d.addCallback(_read)
        d.addCallback(lambda data: [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)])
        return d

    def get_crypttext_hashes(self):
        """Deferred([hash]): every node of the crypttext hash tree."""
        return self._get_hashes("crypttext_hash_tree", "block_hashes", "crypttext hash tree")

    def get_plaintext_hashes(self):
        """Deferred([hash]): the (unused, normally all-zero) plaintext tree."""
        return self._get_hashes("plaintext_hash_tree", "crypttext_hash_tree",
                                "plaintext hash tree")

    def get_block_hashes(self, at_least_these=()):
        """Deferred({node index: hash}): every node of this share's block tree."""
        d = self._get_hashes("block_hashes", "share_hashes", "block hash tree")
        d.addCallback(lambda hashes: dict(enumerate(hashes)))
        return d

    def get_share_hashes(self):
        """Deferred([(node index, hash)]): this share's share-hash chain."""
        d = self.get_header()

        def _read(lay):
            return self._read(lay.share_hashes, lay.share_hashes_size, "share-hash chain")

        def _parse(data):
            out = []
            for i in range(0, len(data), SHARE_HASH_ENTRY_SIZE):
                (index,) = struct.unpack(">H", data[i:i + 2])
                out.append((index, data[i + 2:i + SHARE_HASH_ENTRY_SIZE]))
            return out
        d.addCallback(_read)
        d.addCallback(_parse)
        return d

    @defer.inlineCallbacks
    def get_uri_extension(self):
        """Deferred(bytes): the serialized UEB (not yet checked against a cap)."""
        lay = yield self.get_header()
        raw = yield self._read(lay.uri_extension, lay.fieldsize, "UEB length")
        (length,) = struct.unpack(">L" if lay.version == 1 else ">Q", raw)
        if length > 100_000:
            raise LayoutInvalid("%s: the URI extension block claims %d bytes; real ones are "
                                "a few hundred" % (self._where(), length))
        data = yield self._read(lay.uri_extension + lay.fieldsize, length, "URI extension block")
        return data
