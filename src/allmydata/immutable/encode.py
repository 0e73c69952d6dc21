"""The encoder: ciphertext in, shares out (docs/specifications/immutable-shares.md §2-§6).

:class:`Encoder` reads an :class:`IEncryptedUploadable` one segment at a
time and, for each segment,

1. hashes the ciphertext (the crypttext segment hash over the *unpadded*
   segment, and the whole-file crypttext hash incrementally),
2. pads the tail segment with zeros, cuts the segment into ``k`` pieces and
   zfec-encodes them into ``n`` blocks,
3. hashes every block, and
4. hands block ``i`` to the writer of share ``i``.

Steps 1-3 run in the encoding worker thread(s) (together with reading and
encrypting the segment, when the source can do that synchronously) while the
reactor pushes earlier segments' blocks: up to ``segments_ahead`` segments
are queued there or being read and coded (reading, encrypting and step 1
strictly in segment order; steps 2-3 of several segments may overlap when
there is more than one thread, as zfec and hashlib release the GIL), so at
most ``segments_ahead + 1`` segments are in the encoder's hands; the bucket
writers' Deferreds hold the loop back when the servers are slower.  Then the
crypttext hash tree, the block hash trees, the share hash tree and the URI
extension block are built and written, and the buckets are closed.

All ``n`` shares are encoded even when some have no writer (they already
exist on a server): the share hash tree needs every block tree.  A repair,
which knows the block-tree roots of the shares in place, has only the shares
it writes made (:meth:`Encoder.encode_only`).

If a writer fails (the server answers with an error, or the connection is
lost), its share is dropped and the upload goes on as long as the shares
left still reach servers-of-happiness; otherwise it fails with
:class:`UploadUnhappinessError`.
"""

import collections
import threading
import time

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from ..codec import CRSEncoder
from ..hashtree import HashTree
from ..util import hashutil
from ..util.default_reactor import default_reactor
from .happiness import servers_of_happiness
from .interfaces import IEncoder
from .layout import LayoutUsageError
from .params import SegmentParams
from .selector import UploadUnhappinessError
from .uri_extension import (
    make_uri_extension, pack_uri_extension, unpack_uri_extension, uri_extension_hash,
    uri_extension_size,
)

log = Logger()

#: Segments shorter than this are encoded in the reactor thread: a thread
#: hop would cost more than the work.
THREAD_THRESHOLD = 32 * 1024
#: Segments read and being encoded ahead of the one being pushed; each holds
#: about ``segment_size * n / k`` bytes of blocks.
SEGMENTS_AHEAD = 3
#: Worker threads (per reactor, shared by all uploads) that read, encrypt,
#: code and hash segments.  More threads would code segments in parallel,
#: but each thread allocates its blocks from its own glibc malloc arena, and
#: arenas that see bursts of large blocks freed by the reactor thread give
#: that memory back to the system and fault it in again, segment after
#: segment, which costs more client CPU than the parallel coding saves
#: (docs/performance.md).
ENCODING_THREADS = 1

_pools = {}  # reactor -> its encoding ThreadPool


def encoding_pool(reactor) -> ThreadPool:
    """The encoding thread pool of ``reactor``: started on first use,
    stopped when the reactor shuts down."""
    pool = _pools.get(reactor)
    if pool is None:
        pool = ThreadPool(0, ENCODING_THREADS, name="allmydata-encoder")
        pool.start()
        _pools[reactor] = pool

        def stop():
            if _pools.get(reactor) is pool:
                del _pools[reactor]
            pool.stop()
        reactor.addSystemEventTrigger("during", "shutdown", stop)
    return pool


class EncodingError(Exception):
    """The ciphertext source did not deliver what it promised."""


def _all_buffered(writer) -> bool:
    """True if ``writer`` has not sent any write() yet (the close will send
    everything in one call); False if it cannot tell."""
    nothing_sent = getattr(writer, "nothing_sent", None)
    return nothing_sent is not None and nothing_sent()


class _Segment:
    """What the worker thread makes of one segment."""

    __slots__ = ("segnum", "crypttext_hash", "blocks", "block_hashes", "encode_time",
                 "encode_cpu")

    def __init__(self, segnum, crypttext_hash, blocks, block_hashes, encode_time, encode_cpu):
        self.segnum = segnum
        self.crypttext_hash = crypttext_hash
        self.blocks = blocks
        self.block_hashes = block_hashes
        self.encode_time = encode_time
        self.encode_cpu = encode_cpu


class _InOrder:
    """Lets worker threads run one step strictly in index order (0, 1, 2...),
    one at a time, while the rest of their work overlaps.  After a step
    fails, every later step fails too instead of waiting forever."""

    def __init__(self):
        self._cond = threading.Condition()
        self._next = 0
        self._failed = None

    def run(self, index: int, f, *args):
        with self._cond:
            while self._next != index and self._failed is None:
                self._cond.wait()
            if self._failed is not None:
                raise EncodingError("segment %d was not read: an earlier segment failed (%s)"
                                    % (index, self._failed))
        try:
            result = f(*args)
        except BaseException as e:
            with self._cond:
                self._failed = e
                self._cond.notify_all()
            raise
        with self._cond:
            self._next += 1
            self._cond.notify_all()
        return result


@implementer(IEncoder)
class Encoder:
    """Encodes one file into the shareholders given by the uploader.

    Use: ``await set_encrypted_uploadable(eu)``, read parameters with
    :meth:`get_param`, ``set_shareholders({shnum: IStorageBucketWriter},
    {shnum: set(serverid)})``, then ``await start()`` ->
    ``(uri_extension_hash, k, n, size)``.

    ``reactor`` provides the thread pool (the global reactor if None);
    ``status`` an optional upload status to report progress to;
    ``write_timeout`` (seconds), if given, drops a shareholder that takes
    longer than that to take more data (default: wait as long as it takes).
    """

    def __init__(self, reactor=None, status=None, segments_ahead: int = SEGMENTS_AHEAD,
                 write_timeout: float | None = None):
        if segments_ahead < 1:
            raise ValueError("segments_ahead must be at least 1")
        self._segments_ahead = segments_ahead
        self._write_timeout = write_timeout
        if reactor is None:
            reactor = default_reactor()
        self._reactor = reactor
        self._status = status
        self._uploadable = None
        self._shareholders = None
        self._servermap = None
        self._lost = {}            # shnum -> (server name, reason)
        self._aborted = False
        self.uri_extension_data = None
        self.uri_extension_hash = None
        self._known_ueb = None     # the UEB a repair must reproduce
        self._only = None          # the shares a repair makes (None: all N)
        self._other_leaves = {}    # their block-tree roots, for the shares it does not make
        self._checked_segments = None  # callable: the segment hashes of checked ciphertext
        self._times = {"cumulative_encoding": 0.0, "cumulative_encoding_cpu": 0.0,
                       "cumulative_sending": 0.0, "waiting_for_encoding": 0.0,
                       "hashes_and_close": 0.0, "total_encode_and_push": 0.0}
        self._segments_pushed = 0

    def __repr__(self):
        params = getattr(self, "_params", None)
        return "<Encoder %s>" % (params,) if params is not None else "<Encoder>"

    # ---- set-up ------------------------------------------------------------------------
    @defer.inlineCallbacks
    def set_encrypted_uploadable(self, uploadable):
        """Learn the size, parameters and storage index; Deferred(self)."""
        self._uploadable = uploadable
        size = yield uploadable.get_size()
        k, happy, n, segment_size = yield uploadable.get_all_encoding_parameters()
        self._storage_index = yield uploadable.get_storage_index()
        if segment_size % k:
            raise EncodingError("the segment size %d is not a multiple of k=%d"
                                % (segment_size, k))
        self._happy = happy
        self._params = SegmentParams.from_ueb(size, k, n, segment_size)
        self._ueb_size = uri_extension_size(self._params)
        return self

    def use_uri_extension(self, data: bytes) -> None:
        """Encode again a file whose UEB is known (a repair): the shares
        get exactly these bytes as their UEB, after the root hashes the
        encoding computes were found equal to the ones in it (else
        :class:`EncodingError`, before anything is closed).  Call after
        :meth:`set_encrypted_uploadable`."""
        ueb = unpack_uri_extension(data)
        if ueb.get("segment_size") != self._params.segment_size \
                or ueb.get("size") != self._params.size:
            raise EncodingError("the URI extension block describes another encoding (segment "
                                "size %r, size %r)" % (ueb.get("segment_size"), ueb.get("size")))
        self._known_ueb = (bytes(data), ueb)
        self._ueb_size = len(data)

    def encode_only(self, shnums, other_leaves: dict) -> None:
        """Make the blocks of ``shnums`` only (a repair writes a few shares
        of a file whose other shares exist): the share hash tree takes the
        block-tree roots of the other shares from ``other_leaves``
        (``{shnum: root}``, validated by the caller against the file's
        share root hash, and checked again here through the UEB's
        ``share_root_hash`` when :meth:`use_uri_extension` was called)."""
        only = sorted(set(shnums))
        if not only or any(not 0 <= s < self._params.n for s in only):
            raise ValueError("share numbers to make must be among 0..%d" % (self._params.n - 1))
        missing = set(range(self._params.n)) - set(only) - set(other_leaves)
        if missing:
            raise ValueError("no block-tree root given for share(s) %s"
                             % ", ".join(map(str, sorted(missing))))
        self._only = only
        self._other_leaves = dict(other_leaves)

    def use_checked_ciphertext(self, segment_hashes) -> None:
        """The ciphertext source delivers segments already checked against
        the file's crypttext hash tree (a repair reads them with the
        downloader): they are not hashed again, and ``segment_hashes()``,
        called once every segment has been read, gives the tree's leaves.
        Needs :meth:`use_uri_extension` first (the whole-file crypttext hash
        is the one in the known UEB)."""
        if self._known_ueb is None:
            raise ValueError("use_checked_ciphertext() needs use_uri_extension() first")
        self._checked_segments = segment_hashes

    def get_segment_params(self) -> SegmentParams:
        return self._params

    def get_uri_extension_size(self) -> int:
        """Length of the UEB this file will get (known before encoding)."""
        return self._ueb_size

    def get_param(self, name):
        p = self._params
        values = {
            "storage_index": self._storage_index,
            "share_counts": (p.k, self._happy, p.n),
            "num_segments": p.num_segments,
            "segment_size": p.segment_size,
            "block_size": p.block_size,
            "tail_block_size": p.tail_block_size,
            "share_size": p.share_data_size,
            "serialized_params": p.codec_params(),
            "size": p.size,
        }
        if name not in values:
            raise KeyError("unknown encoder parameter %r (known: %s)"
                           % (name, ", ".join(sorted(values))))
        return values[name]

    def set_shareholders(self, shareholders: dict, servermap: dict | None = None):
        """``shareholders``: {shnum: IStorageBucketWriter}; ``servermap``:
        {shnum: set(serverid)} for every share that is or will be placed,
        including shares the servers already hold (default: the writers')."""
        if any(not 0 <= s < self._params.n for s in shareholders):
            raise ValueError("share numbers run from 0 to %d" % (self._params.n - 1))
        if self._only is not None and not set(shareholders) <= set(self._only):
            raise ValueError("shareholders for shares that are not made: %s"
                             % sorted(set(shareholders) - set(self._only)))
        self._shareholders = dict(shareholders)
        if servermap is None:
            servermap = {shnum: {w.get_peerid()} for shnum, w in shareholders.items()}
        self._servermap = {shnum: set(ids) for shnum, ids in servermap.items()}

    # ---- results -----------------------------------------------------------------------
    def get_uri_extension_data(self) -> dict:
        return self.uri_extension_data

    def get_uri_extension_hash(self) -> bytes:
        return self.uri_extension_hash

    def get_times(self) -> dict:
        return dict(self._times)

    def get_servermap(self) -> dict:
        """{shnum: set(serverid)} of the shares placed, after any losses."""
        return {shnum: set(ids) for shnum, ids in self._servermap.items() if ids}

    def get_shares_placed(self) -> set:
        """The share numbers this encoder wrote and closed."""
        return set(self._shareholders)

    def get_lost_shareholders(self) -> dict:
        """{shnum: (server name, reason)} of writers dropped on the way."""
        return dict(self._lost)

    def get_progress(self) -> float:
        return self._segments_pushed / self._params.num_segments

    # ---- the work ----------------------------------------------------------------------
    def start(self):
        """Encode and push everything; Deferred((ueb_hash, k, n, size))."""
        if self._shareholders is None:
            raise ValueError("set_shareholders() must be called before start()")
        return defer.ensureDeferred(self._run())

    async def _run(self):
        started = time.perf_counter()
        self._crypttext_hasher = hashutil.crypttext_hasher()
        self._read_lock = defer.DeferredLock()
        self._in_order = _InOrder()
        self._sync_reads = None
        self._codec = CRSEncoder()
        p = self._params
        self._codec.set_params(p.segment_size, p.k, p.n)
        if p.padded_tail_size != p.segment_size:
            self._tail_codec = CRSEncoder()
            self._tail_codec.set_params(p.padded_tail_size, p.k, p.n)
        else:
            self._tail_codec = self._codec
        segment_hashes = []
        made = self._only if self._only is not None else range(p.n)
        block_hashes = {shnum: [] for shnum in made}
        ahead = collections.deque()  # Deferred(_Segment), in segment order
        started_segments = 0

        def start_more():
            nonlocal started_segments
            while started_segments < p.num_segments and len(ahead) < self._segments_ahead:
                ahead.append(self._produce(started_segments))
                started_segments += 1
        try:
            self._set_status("Pushing shares")
            await self._send("put_header", "writing the header")
            start_more()
            for segnum in range(p.num_segments):
                t = time.perf_counter()
                segment = await ahead.popleft()
                self._times["waiting_for_encoding"] += time.perf_counter() - t
                start_more()
                segment_hashes.append(segment.crypttext_hash)
                for shnum, h in segment.block_hashes.items():
                    block_hashes[shnum].append(h)
                self._times["cumulative_encoding"] += segment.encode_time
                self._times["cumulative_encoding_cpu"] += segment.encode_cpu
                t = time.perf_counter()
                await self._send("put_block", "sending block %d" % segnum,
                                 lambda shnum, s=segnum, b=segment.blocks: (s, b[shnum]))
                self._times["cumulative_sending"] += time.perf_counter() - t
                segment = None  # the writers hold what they still need
                self._segments_pushed = segnum + 1
                self._set_progress(self._segments_pushed / p.num_segments)
            t = time.perf_counter()
            result = await self._finish(segment_hashes, block_hashes)
            self._times["hashes_and_close"] = time.perf_counter() - t
            self._times["total_encode_and_push"] = time.perf_counter() - started
            self._set_status("Finished")
            return result
        except BaseException:
            for d in ahead:
                d.addErrback(lambda f: None)
            await self.abort()
            raise

    def _in_thread(self, f, *args):
        return threads.deferToThreadPool(self._reactor, encoding_pool(self._reactor), f, *args)

    def _produce(self, segnum: int):
        """Deferred(_Segment): read and encode segment ``segnum``.

        Reading, encrypting and hashing the ciphertext happen strictly in
        segment order, one segment at a time; the erasure coding and block
        hashing of several segments may then overlap if the encoding pool
        has several threads.  With a source that reads synchronously, one
        worker-thread job does all of it, so the pipeline does not wait for
        the (busy) reactor thread between steps.
        """
        offset, length = self._params.segment_range(segnum)
        if self._params.segment_size < THREAD_THRESHOLD:
            # small segments: no thread hops, everything in this thread
            d = self._read_lock.run(self._read_and_hash_here, segnum, length)
            d.addCallback(lambda r: self._code_segment(segnum, *r))
            return d
        if self._sync_reads is None:  # decided once: every segment is read the same way
            can_sync = getattr(self._uploadable, "can_read_encrypted_sync", None)
            self._sync_reads = can_sync is not None and can_sync()
        if self._sync_reads:
            def _read_hash_and_code():
                r = self._in_order.run(segnum, self._read_and_hash_sync, segnum, length)
                return self._code_segment(segnum, *r)
            return self._in_thread(_read_hash_and_code)
        d = self._read_lock.run(self._read_and_hash_async, segnum, length)
        d.addCallback(lambda r: self._in_thread(self._code_segment, segnum, *r))
        return d

    def _read_and_hash_sync(self, segnum, length):
        t, c = time.perf_counter(), time.thread_time()
        chunks = self._uploadable.read_encrypted_sync(length)
        return self._hash_ciphertext(segnum, length, chunks, t, c)

    def _read_and_hash_here(self, segnum, length):
        t, c = time.perf_counter(), time.thread_time()
        d = defer.maybeDeferred(self._uploadable.read_encrypted, length, False)
        d.addCallback(lambda chunks: self._hash_ciphertext(segnum, length, chunks, t, c))
        return d

    def _read_and_hash_async(self, segnum, length):
        d = defer.maybeDeferred(self._uploadable.read_encrypted, length, False)
        if self._checked_segments is not None:  # nothing to hash: no thread hop
            d.addCallback(lambda chunks: self._hash_ciphertext(segnum, length, chunks))
        else:
            d.addCallback(lambda chunks: self._in_thread(self._hash_ciphertext, segnum, length,
                                                         chunks))
        return d

    def _hash_ciphertext(self, segnum: int, length: int, chunks, t=None, c=None):
        """Check and hash one segment's ciphertext, in segment order (the
        whole-file crypttext hash goes on from the previous segment).
        Returns ``(chunks, segment hash, (seconds, CPU seconds) so far)``."""
        if t is None:
            t, c = time.perf_counter(), time.thread_time()
        got = sum(len(x) for x in chunks)
        if got != length:
            raise EncodingError("segment %d: the ciphertext source gave %d bytes, %d were "
                                "expected (did the file change during the upload?)"
                                % (segnum, got, length))
        if self._checked_segments is not None:
            return chunks, None, (time.perf_counter() - t, time.thread_time() - c)
        seg_hasher = hashutil.crypttext_segment_hasher()
        for x in chunks:
            self._crypttext_hasher.update(x)
            seg_hasher.update(x)
        return chunks, seg_hasher.digest(), (time.perf_counter() - t, time.thread_time() - c)

    def _code_segment(self, segnum: int, chunks, crypttext_hash: bytes, spent) -> _Segment:
        """Pad, split, code and hash the blocks of one segment (any thread)."""
        t, c = time.perf_counter(), time.thread_time()
        p = self._params
        last = segnum == p.num_segments - 1
        padded = p.padded_tail_size if last else p.segment_size
        length = sum(len(x) for x in chunks)
        if len(chunks) == 1 and length == padded:
            data = chunks[0]
        else:
            data = b"".join(chunks)
            if padded > length:
                data += bytes(padded - length)
        piece = padded // p.k
        view = memoryview(data)
        pieces = [view[i * piece:(i + 1) * piece] for i in range(p.k)]
        codec = self._tail_codec if last else self._codec
        blocks, ids = codec.encode_sync(pieces, self._only)
        hashes = {i: hashutil.block_hash(b) for i, b in zip(ids, blocks)}
        blocks = dict(zip(ids, blocks))
        return _Segment(segnum, crypttext_hash, blocks, hashes,
                        spent[0] + time.perf_counter() - t, spent[1] + time.thread_time() - c)

    async def _finish(self, segment_hashes, block_hashes):
        p = self._params
        self._set_status("Sending hashes")
        file_hash = None
        if self._checked_segments is not None:
            segment_hashes = list(self._checked_segments())
            if len(segment_hashes) != p.num_segments or \
                    any(not isinstance(h, bytes) or len(h) != 32 for h in segment_hashes):
                raise EncodingError("the checked ciphertext came without the hash of every "
                                    "segment")
            file_hash = self._known_ueb[1].get("crypttext_hash", bytes(32))
        crypttext_tree = HashTree(segment_hashes)
        block_trees = {shnum: HashTree(hashes) for shnum, hashes in block_hashes.items()}
        share_tree = HashTree([block_trees[i][0] if i in block_trees else self._other_leaves[i]
                               for i in range(p.n)])
        if file_hash is None:
            file_hash = self._crypttext_hasher.digest()
        ueb = make_uri_extension(p, file_hash, crypttext_tree[0], share_tree[0])
        ueb_bytes = pack_uri_extension(ueb)
        if self._known_ueb is not None:
            known_bytes, known = self._known_ueb
            for name in ("share_root_hash", "crypttext_root_hash", "crypttext_hash"):
                if name in known and known[name] != ueb[name]:
                    raise EncodingError("the %s of the encoded shares does not match the one "
                                        "in the file's URI extension block" % name)
            ueb, ueb_bytes = known, known_bytes
        if len(ueb_bytes) != self._ueb_size:
            raise EncodingError("the URI extension block is %d bytes, %d were expected"
                                % (len(ueb_bytes), self._ueb_size))
        self.uri_extension_data = ueb
        self.uri_extension_hash = uri_extension_hash(ueb_bytes)
        crypttext_nodes = list(crypttext_tree)
        await self._send("put_crypttext_hashes", "sending the crypttext hash tree",
                         lambda shnum: (crypttext_nodes,))
        await self._send("put_block_hashes", "sending the block hash tree",
                         lambda shnum: (list(block_trees[shnum]),))

        def chain(shnum):
            needed = sorted(share_tree.needed_hashes(shnum, include_leaf=True))
            return ([(i, share_tree[i]) for i in needed],)
        await self._send("put_share_hashes", "sending the share hash chain", chain)
        await self._send("put_uri_extension", "sending the URI extension block",
                         lambda shnum: (ueb_bytes,))
        # every byte acknowledged by every server before any bucket is closed:
        # a server lost now can still fail the upload without leaving
        # complete shares behind.  Not when no writer has sent anything yet
        # (a small share, all still buffered): its one write() goes right
        # ahead of its close(), and a failed write fails the close, so
        # waiting would only cost a round trip.
        if any(not _all_buffered(w) for w in self._shareholders.values()):
            await self._send("flush", "writing the last data")
        self._set_status("Closing buckets")
        await self._send("close", "closing the bucket")
        return (self.uri_extension_hash, p.k, p.n, p.size)

    # ---- talking to the shareholders ---------------------------------------------------
    async def _send(self, method: str, phase: str, args_for=lambda shnum: ()):
        """Call ``method`` on every shareholder; drop those that fail, then
        make sure the rest are still happy enough."""
        waiting = []
        for shnum, writer in list(self._shareholders.items()):
            try:
                d = getattr(writer, method)(*args_for(shnum))
            except LayoutUsageError:
                raise
            except Exception:
                d = defer.fail(Failure())
            outcome = []
            d.addBoth(lambda r, o=outcome: (o.append(r), r)[1])  # runs now if d is done
            if outcome and not isinstance(outcome[0], Failure):
                continue
            if self._write_timeout:
                # a server that stops answering loses its share, and the
                # others go on (else one silent server would stall them all)
                d.addTimeout(self._write_timeout, self._reactor)
            d.addErrback(self._writer_failed, shnum, writer, phase)
            waiting.append(d)
        for d in waiting:
            await d
        self._check_happiness(phase)

    def _writer_failed(self, f: Failure, shnum: int, writer, phase: str):
        if f.check(LayoutUsageError):
            return f
        if self._shareholders.get(shnum) is not writer:
            return None  # already dropped
        name = writer.get_servername() if hasattr(writer, "get_servername") else repr(writer)
        reason = "%s: %s" % (f.type.__name__ if isinstance(f.type, type) else f.type, f.value)
        log.info("dropping share {shnum} on {server} while {phase}: {reason}",
                 shnum=shnum, server=name, phase=phase, reason=reason)
        del self._shareholders[shnum]
        self._lost[shnum] = (name, "%s failed: %s" % (phase, reason))
        peerid = writer.get_peerid() if hasattr(writer, "get_peerid") else None
        holders = self._servermap.get(shnum)
        if holders is not None:
            holders.discard(peerid)
            if not holders:
                del self._servermap[shnum]
        defer.maybeDeferred(writer.abort).addErrback(lambda _f: None)
        return None

    def _check_happiness(self, phase: str) -> None:
        if not self._lost:
            return
        happiness = servers_of_happiness(self.get_servermap())
        if happiness >= self._happy:
            return
        lost = "; ".join("share %d on %s: %s" % (shnum, name, reason)
                         for shnum, (name, reason) in sorted(self._lost.items()))
        raise UploadUnhappinessError(
            "upload gave up while %s: after losing %d share(s) the remaining shares reach "
            "only %d distinct server(s) (servers-of-happiness), and %d are wanted "
            "(shares.happy). Lost: %s" % (phase, len(self._lost), happiness, self._happy, lost),
            happiness=happiness, wanted=self._happy)

    async def abort(self) -> None:
        """Abort every remaining writer (the servers delete partial shares)."""
        if self._aborted:
            return
        self._aborted = True
        writers = list(self._shareholders.values())
        await defer.DeferredList([defer.maybeDeferred(w.abort) for w in writers],
                                 consumeErrors=True)

    # ---- status ------------------------------------------------------------------------
    def _set_status(self, text: str) -> None:
        if self._status is not None:
            self._status.set_status(text)

    def _set_progress(self, fraction: float) -> None:
        if self._status is not None:
            self._status.set_progress(2, fraction)
