"""Reading one version of a mutable file from the grid: :class:`Retrieve`.

The server map names the version (its ``verinfo``) and where its shares
are.  A retrieve picks k shares (on distinct servers where possible) and
reads, in one call per share and all k at once, each one's share hash chain,
block hash tree and the blocks of the first batch of wanted segments (the
offsets are known from the share head the map keeps); the pure decoder
(:class:`shares.VersionDecoder`) checks the hashes against the version's
root hash (which the signature covers).  Further batches of segments follow
a batch at a time.  Every block is checked against its share's block hash tree,
decodes (zfec) and decrypts them, and writes the wanted bytes to the
consumer.  An MDMF range read fetches only the segments that overlap the
range.  Memory is bounded by one batch (``batch_bytes`` of plaintext): the
next batch is fetched while the current one is decoded, in a thread.

A share that fails a check is reported to its server
(``advise_corrupt_share``), marked bad in the map, and replaced by another
share of the same version (replacements are loaded in parallel too); a
server that does not answer is replaced the same way.
:meth:`Retrieve.verify_share` reads and checks all of one share (a
verifier's work: it needs no readkey when made with ``verify_only``).
:meth:`Retrieve.load_hashes_of` loads many shares' hashes with one call per
server (update.py needs every share's block hash tree).  Every read also fetches the share's checkstring: a share that now
holds another version (a writer replaced it meanwhile) is dropped without
being called corrupt.  When fewer than k good shares remain the read fails
with :class:`UnrecoverableFileError`, which says what was found --
:class:`VersionChangedError` when shares were lost to another writer.

The read registers a streaming producer with the consumer: a paused
consumer holds back the next batch.
"""

import time

from twisted.internet import defer, threads
from twisted.logger import Logger

from ..immutable.download.node import ReadProducer
from ..util.default_reactor import default_reactor
from . import layout
from .common import (
    MDMF_VERSION,
    BadShareError,
    CorruptShareError,
    UnrecoverableFileError,
    VersionChangedError,
)
from .servermap import _server_name, advise_corrupt, timed_call
from .shares import VersionDecoder
from .status import RetrieveStatus

log = Logger()

BATCH_BYTES = 1 << 20
#: share data below this size is checked in the reactor thread, not handed to a thread
INLINE_BYTES = 64 << 10


class ShareChanged(Exception):
    """The share no longer holds the version being read (another writer
    replaced it, or the server no longer has it)."""


class _ShareSource:
    """One share of the version on one server; ``share`` holds its verified
    hashes (a ParsedShare without its data) once loaded."""

    def __init__(self, server, shnum):
        self.server, self.shnum = server, shnum
        self.share = None

    def leaves(self) -> list:
        """The verified block hashes, one per segment."""
        bht = self.share.block_hash_tree
        first_leaf = (len(bht) - 1) // 2
        nseg = self.share.prefix.geometry().num_segments
        return bht[first_leaf:first_leaf + nseg]

    def __repr__(self):
        return "<share %d on %s>" % (self.shnum, _server_name(self.server))


class Retrieve:
    """Reads ranges of one version (``verinfo``) found in ``servermap``."""

    def __init__(self, keys, servermap, verinfo, *, reactor=None,
                 status: RetrieveStatus | None = None, batch_bytes: int = BATCH_BYTES,
                 read_timeout: float = 60.0, verify_only: bool = False):
        self.keys, self._map, self.verinfo = keys, servermap, verinfo
        self.head = servermap.share_head(verinfo)
        if self.head is None:
            raise UnrecoverableFileError("the server map holds no share of the chosen version")
        self.prefix = self.head.prefix
        self.geometry = self.prefix.geometry()
        self.decoder = VersionDecoder(keys, self.prefix, verify_only=verify_only)
        self.k, self.n = self.prefix.k, self.prefix.n
        if reactor is None:
            reactor = default_reactor()
        self._reactor = reactor
        self._timeout = read_timeout
        self._batch_bytes = batch_bytes
        self.status = status or RetrieveStatus(keys.storage_index, self.prefix.datalen)
        self.status.set_encoding(self.k, self.n)
        self.status.set_seqnum(self.prefix.seqnum)
        self._tried: set = set()   # (serverid, shnum) given up on
        self._checkstring = self.prefix.checkstring()
        self._changed = 0          # shares found holding another version
        self.delivered = 0         # bytes given to the consumer

    # ---- choosing shares ----
    def _candidates(self, exclude_shnums) -> list:
        shares = self._map.shares_of(self.verinfo)
        out = []
        for shnum in sorted(shares):
            if shnum in exclude_shnums:
                continue
            for server in shares[shnum]:
                if (server.get_serverid(), shnum) not in self._tried and \
                        server.get_rref() is not None:
                    out.append(_ShareSource(server, shnum))
        return out

    def _choose(self, count: int, active: list) -> list:
        """Up to ``count`` untried shares, of share numbers not in ``active``
        nor repeated, on servers not used yet where possible (lowest share
        numbers first: primary shares decode fastest)."""
        used_servers = {s.server.get_serverid() for s in active}
        used_shnums = {s.shnum for s in active}
        cands = self._candidates(used_shnums)
        chosen: list = []
        for reuse_servers in (False, True):
            for c in cands:
                if len(chosen) >= count:
                    return chosen
                sid = c.server.get_serverid()
                if c.shnum in used_shnums or (sid in used_servers and not reuse_servers):
                    continue
                chosen.append(c)
                used_shnums.add(c.shnum)
                used_servers.add(sid)
        return chosen

    def _not_enough(self, active):
        error = VersionChangedError if self._changed else UnrecoverableFileError
        return error("not enough good shares of version seq%d to read it: %d needed, found %s"
                     % (self.prefix.seqnum, self.k, self._describe(active)))

    async def _refill(self, active: list, run=None) -> dict:
        """Add verified shares to ``active`` until it holds k, loading their
        hashes in parallel; with ``run`` = (s0, s1) the same read fetches the
        blocks of segments s0..s1-1: returns {shnum: [(salt, block)]} of the
        shares added."""
        got: dict = {}
        while len(active) < self.k:
            chosen = self._choose(self.k - len(active), active)
            if not chosen:
                raise self._not_enough(active)
            for src in chosen:
                self._tried.add((src.server.get_serverid(), src.shnum))
            results = await defer.DeferredList(
                [defer.ensureDeferred(self._load(src, run)) for src in chosen],
                consumeErrors=True)
            for src, (ok, value) in zip(chosen, results):
                if ok:
                    active.append(src)
                    if run is not None:
                        got[src.shnum] = value
                else:
                    self.give_up(src, value.value)
        return got

    def _describe(self, active) -> str:
        good = sorted({s.shnum for s in active})
        bad = self._map.bad_shares()
        text = "%d usable (shares %s)" % (len(good), good)
        if self._changed:
            text += ", %d replaced by another version while being read (another writer " \
                "changed the file; read it again)" % self._changed
        if bad:
            text += ", %d bad" % len(bad)
        text += "; server map: %s" % self._map.describe_failure()
        return text

    def give_up(self, src, err):
        """Stop using ``src``: a bad share is marked and reported to its server."""
        name = _server_name(src.server)
        if isinstance(err, ShareChanged):
            self._changed += 1
        elif isinstance(err, BadShareError):
            reason = "share %d: %s" % (src.shnum, err)
            self._map.mark_bad_share(src.server, src.shnum, reason)
            advise_corrupt(src.server, self.keys.storage_index, src.shnum, reason)
        else:
            self._map.note_server_failure(src.server, "reading share %d: %s" % (src.shnum, err))
        self.status.add_problem(name, "share %d: %s" % (src.shnum, err))

    # ---- reading ----
    def _readv(self, server, shnums, ranges):
        t0 = time.monotonic()
        d = timed_call(self._reactor, self._timeout, server, "slot_readv",
                       self.keys.storage_index, list(shnums), ranges)

        def timed(answer):
            self.status.add_server_time(_server_name(server), "fetch", time.monotonic() - t0)
            return answer
        d.addCallback(timed)
        return d

    def _check_answer(self, server, shnum, answer, ranges) -> list:
        """The data of ``ranges`` (after the checkstring) of one share of a
        slot_readv answer, which must still hold this version."""
        got = answer.get(shnum)
        if got is None:
            raise ShareChanged("the server no longer holds share %d" % shnum)
        if got and got[0] != self._checkstring:
            raise ShareChanged("share %d now holds another version (another writer "
                                "replaced it)" % shnum)
        for (off, length), data in zip(ranges, got):
            if len(data) != length:
                raise CorruptShareError(server, shnum,
                                        "share is truncated (%d of %d bytes at %d)"
                                        % (len(data), length, off))
        return got[1:]

    async def _read(self, src, ranges) -> list:
        """The bytes of ``ranges`` of the share, which must still hold this version."""
        ranges = [(0, len(self._checkstring))] + list(ranges)
        answer = await self._readv(src.server, [src.shnum], ranges)
        got = self._check_answer(src.server, src.shnum, answer, ranges)
        self.status.add_server(_server_name(src.server))
        return got

    def _new_head(self):
        return layout.ParsedShare(self.prefix, self.head.offsets,
                                  verification_key=self.head.verification_key,
                                  signature=self.head.signature)

    _HASH_FIELDS = ("share_hash_chain", "block_hash_tree")

    def _accept_hashes(self, src, share, raws):
        for name, raw in zip(self._HASH_FIELDS, raws):
            share.set_field(name, raw)
        self.decoder.verify_share_head(src.shnum, share, src.server)
        src.share = share

    async def load_hashes(self, src):
        """Read ``src``'s share hash chain and block hash tree and check them."""
        await self._load(src)

    async def _load(self, src, run=None):
        """Load and check ``src``'s hashes; with ``run`` = (s0, s1) also fetch
        (in the same read) and verify the blocks of segments s0..s1-1."""
        share = self._new_head()
        ranges = share.needed_ranges(*self._HASH_FIELDS)
        if run is not None:
            ranges.append(self._run_range(*run))
        got = await self._read(src, ranges)
        self._accept_hashes(src, share, got[:2])
        if run is not None:
            return await self._in_thread_if_big(len(got[2]), self._split_run, src, run[0],
                                                run[1], got[2])
        return None

    async def load_hashes_of(self, sources) -> dict:
        """Load and check the hashes of many shares at once: one slot_readv
        per server for all its shares.  Returns {source: exception} of those
        that failed (the others have ``share`` set)."""
        by_server: dict = {}
        for src in sources:
            by_server.setdefault(src.server.get_serverid(), []).append(src)
        ranges = [(0, len(self._checkstring))] + self._new_head().needed_ranges(
            *self._HASH_FIELDS)
        groups = list(by_server.values())
        results = await defer.DeferredList(
            [self._readv(g[0].server, [src.shnum for src in g], ranges) for g in groups],
            consumeErrors=True)
        failed: dict = {}
        for group, (ok, value) in zip(groups, results):
            for src in group:
                if not ok:
                    failed[src] = value.value
                    continue
                try:
                    raws = self._check_answer(src.server, src.shnum, value, ranges)
                    self._accept_hashes(src, self._new_head(), raws)
                    self.status.add_server(_server_name(src.server))
                except Exception as e:
                    failed[src] = e
        return failed

    def _run_range(self, s0, s1):
        """``(offset, length)`` of the share data of segments s0..s1-1."""
        if self.prefix.version != MDMF_VERSION:
            return self.head.field_range("share_data")
        start, _ = layout.mdmf_block_range(self.prefix, self.head.offsets, s0)
        end = sum(layout.mdmf_block_range(self.prefix, self.head.offsets, s1 - 1))
        return start, end - start

    @staticmethod
    async def _in_thread_if_big(size, fn, *args):
        """``fn(*args)``, in a thread when it hashes ``size`` >= INLINE_BYTES
        bytes (less is quicker to hash than to hand to a thread)."""
        if size < INLINE_BYTES:
            return fn(*args)
        return await threads.deferToThread(fn, *args)

    def _split_run(self, src, s0, s1, data) -> list:
        """[(salt, block)] of segments s0..s1-1 from one share's run, verified
        (runs in a thread)."""
        if self.prefix.version != MDMF_VERSION:
            self.decoder.verify_block(src.shnum, 0, data, None, src.server)
            return [(None, data)]
        g = self.geometry
        mv = memoryview(data)
        out, pos = [], 0
        for s in range(s0, s1):
            size = g.tail_block_size if s == g.num_segments - 1 else g.block_size
            salt = bytes(mv[pos:pos + layout.SALT_SIZE])
            block = mv[pos + layout.SALT_SIZE:pos + layout.SALT_SIZE + size]
            pos += layout.SALT_SIZE + size
            self.decoder.verify_block(src.shnum, s, block, salt, src.server)
            out.append((salt, block))
        return out

    def verify_share_bytes(self, server, shnum, first_bytes: bytes) -> bool:
        """Check all of one share of this version from ``first_bytes``, read
        from its start (by a map update): False when they end before the
        share's hashes and data do (then use :meth:`verify_share`), True when
        every check passed; raises :class:`CorruptShareError` otherwise."""
        share = self._new_head()
        ranges = share.needed_ranges(*self._HASH_FIELDS)
        nseg = self.geometry.num_segments
        if nseg:
            ranges.append(self._run_range(0, nseg))
        if any(off + length > len(first_bytes) for off, length in ranges):
            return False
        if first_bytes[:len(self._checkstring)] != self._checkstring:
            raise ShareChanged("share %d holds another version" % shnum)
        src = _ShareSource(server, shnum)
        got = [first_bytes[off:off + length] for off, length in ranges]
        self._accept_hashes(src, share, got[:2])
        if nseg:
            self._split_run(src, 0, nseg, got[2])
        return True

    async def verify_share(self, server, shnum, batch_bytes: int = BATCH_BYTES) -> None:
        """Read and check all of one share of this version: its share hash
        chain and block hash tree against the root hash, then every block
        (MDMF: with its salt) against the block hash tree, about
        ``batch_bytes`` of share data per read, each batch dropped once
        checked.  Raises :class:`CorruptShareError` (naming the field),
        :class:`ShareChanged` when the share no longer holds this version,
        or the server's error."""
        src = _ShareSource(server, shnum)
        nseg = self.geometry.num_segments
        if nseg == 0:
            await self._load(src)
            return
        per_record = self.geometry.block_size + (
            layout.SALT_SIZE if self.prefix.version == MDMF_VERSION else 0)
        per_batch = max(1, batch_bytes // max(1, per_record))
        await self._load(src, (0, min(nseg, per_batch)))
        for s0 in range(per_batch, nseg, per_batch):
            await self._fetch_run(src, s0, min(nseg, s0 + per_batch))

    async def _fetch_run(self, src, s0, s1) -> list:
        (data,) = await self._read(src, [self._run_range(s0, s1)])
        return await self._in_thread_if_big(len(data), self._split_run, src, s0, s1, data)

    async def fetch_batch(self, active, s0, s1) -> dict:
        """{shnum: [(salt, block)]} of segments s0..s1-1 from k shares,
        replacing failing ones."""
        got: dict = {}
        while True:
            todo = [src for src in active if src.shnum not in got]
            if not todo:
                return got
            results = await defer.DeferredList(
                [defer.ensureDeferred(self._fetch_run(src, s0, s1)) for src in todo],
                consumeErrors=True)
            for src, (ok, value) in zip(todo, results):
                if ok:
                    got[src.shnum] = value
                else:
                    active.remove(src)
                    self.give_up(src, value.value)
            await self._refill(active)

    def _decode_batch(self, s0, s1, got, offset, end) -> list:
        """The wanted plaintext pieces of segments s0..s1-1 (runs in a thread)."""
        out = []
        for i, seg in enumerate(range(s0, s1)):
            blocks = {shnum: runs[i][1] for shnum, runs in got.items()}
            salt = next(iter(got.values()))[i][0]
            plaintext = self.decoder.decode_segment(seg, blocks, salt)
            seg_start, _ = self.decoder.segment_range(seg)
            lo = max(offset, seg_start) - seg_start
            hi = min(end, seg_start + len(plaintext)) - seg_start
            out.append(plaintext[lo:hi] if (lo, hi) != (0, len(plaintext)) else plaintext)
        return out

    # ---- the read ----
    def download(self, consumer, offset: int = 0, size: int | None = None):
        """Write bytes [offset, offset+size) of the version to ``consumer``;
        Deferred(consumer)."""
        return defer.ensureDeferred(self._download(consumer, offset, size))

    async def _download(self, consumer, offset, size):
        t0 = time.monotonic()
        datalen = self.prefix.datalen
        offset = max(0, min(offset, datalen))
        end = datalen if size is None else min(datalen, offset + max(0, size))
        self.status.set_size(end - offset)
        producer = ReadProducer()
        registered = False
        try:
            if end > offset:
                consumer.registerProducer(producer, True)
                registered = True
                await self._deliver(consumer, offset, end, producer)
        except BaseException as e:
            self.status.add_time("total", time.monotonic() - t0)
            self.status.finish("Failed: %s" % (e,))
            raise
        finally:
            if registered:
                consumer.unregisterProducer()
        self.status.add_time("total", time.monotonic() - t0)
        self.status.finish()
        return consumer

    async def _deliver(self, consumer, offset, end, producer):
        segsize = self.geometry.segment_size
        first, last = offset // segsize, (end - 1) // segsize
        self.status.set_status("Fetching hashes and segments")
        active: list = []
        per_batch = max(1, self._batch_bytes // segsize)
        batches = [(s, min(last + 1, s + per_batch)) for s in range(first, last + 1, per_batch)]
        delivered = 0
        # k shares' hashes and the first batch's blocks come in one read per
        # share; the next batch is fetched while this one is decoded and delivered
        ahead = defer.ensureDeferred(self._refill(active, batches[0]))
        for i, (s0, s1) in enumerate(batches):
            t = time.monotonic()
            got = await ahead
            self.status.add_time("fetch", time.monotonic() - t)
            ahead = None
            if i + 1 < len(batches):
                await producer.wait_until_unpaused()
                ahead = defer.ensureDeferred(self.fetch_batch(active, *batches[i + 1]))
            t = time.monotonic()
            try:
                pieces = await threads.deferToThread(self._decode_batch, s0, s1, got, offset,
                                                     end)
            except BaseException:
                if ahead is not None:
                    ahead.addErrback(lambda f: None)
                raise
            del got
            self.status.add_time("decode", time.monotonic() - t)
            for piece in pieces:
                await producer.wait_until_unpaused()
                consumer.write(piece)
                delivered += len(piece)
                self.delivered = delivered
            del pieces
            self.status.set_progress(delivered / max(1, end - offset))
