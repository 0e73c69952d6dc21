"""Reading one version of a mutable file from the grid: :class:`Retrieve`.

The server map names the version (its ``verinfo``) and where its shares
are.  A retrieve picks k shares (on distinct servers where possible), reads
each one's share hash chain and block hash tree and checks them against the
version's root hash (which the signature covers), then fetches the blocks of
the wanted segments a batch at a time, checks every block against its
share's block hash tree, decodes (zfec) and decrypts them, and writes the
wanted bytes to the consumer.  An MDMF range read fetches only the segments
that overlap the range.

A share that fails a check is reported to its server
(``advise_corrupt_share``), marked bad in the map, and replaced by another
share of the same version; a server that does not answer is replaced the
same way.  When fewer than k good shares remain the read fails with
:class:`UnrecoverableFileError`, which says what was found.

The read registers a streaming producer with the consumer: a paused
consumer holds back the next batch.
"""

import time

from twisted.internet import defer
from twisted.logger import Logger

from ..hashtree import BadHashError, IncompleteHashTree, NotEnoughHashesError
from ..immutable.download.node import ReadProducer
from ..util.rrefutil import call_remote
from .common import (
    MDMF_VERSION,
    BadShareError,
    CorruptShareError,
    UnrecoverableFileError,
)
from .proxy import (
    SALT_SIZE,
    block_hash,
    block_hash_tree,
    decode_segment,
    unpack_hashes,
    unpack_share_hash_chain,
)
from .servermap import _server_name, advise_corrupt
from .status import RetrieveStatus

log = Logger()

BATCH_BYTES = 1 << 20


class _ShareSource:
    """One share of the version on one server, with its verified block hash tree."""

    def __init__(self, server, shnum):
        self.server, self.shnum = server, shnum
        self.leaves = None   # verified block hashes, one per segment

    def __repr__(self):
        return "<share %d on %s>" % (self.shnum, _server_name(self.server))


class Retrieve:
    """Reads ranges of one version (``verinfo``) found in ``servermap``."""

    def __init__(self, keys, servermap, verinfo, *, reactor=None,
                 status: RetrieveStatus | None = None, batch_bytes: int = BATCH_BYTES,
                 read_timeout: float = 60.0):
        self.keys, self._map, self.verinfo = keys, servermap, verinfo
        self.header = servermap.header_of(verinfo)
        if self.header is None:
            raise UnrecoverableFileError("the server map holds no share of the chosen version")
        self.geometry = self.header.geometry
        self.k, self.n = self.header.k, self.header.n
        if reactor is None:
            from twisted.internet import reactor
        self._reactor = reactor
        self._timeout = read_timeout
        self._batch_bytes = batch_bytes
        self.status = status or RetrieveStatus(keys.storage_index, self.geometry.datalen)
        self.status.set_encoding(self.k, self.n)
        self.status.set_seqnum(self.header.seqnum)
        self._tried: set = set()   # (serverid, shnum) given up on
        self._share_tree = IncompleteHashTree(self.n)
        self._share_tree.set_hashes({0: self.header.root_hash})

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

    async def _pick(self, active: list) -> _ShareSource:
        """Another verified share, not of a share number already in ``active``."""
        used_servers = {s.server.get_serverid() for s in active}
        while True:
            cands = self._candidates({s.shnum for s in active})
            if not cands:
                raise UnrecoverableFileError(
                    "not enough good shares of version seq%d to read it: %d needed, found %s"
                    % (self.header.seqnum, self.k, self._describe(active)))
            cands.sort(key=lambda c: c.server.get_serverid() in used_servers)
            src = cands[0]
            self._tried.add((src.server.get_serverid(), src.shnum))
            try:
                await self._load_hashes(src)
                return src
            except Exception as e:
                self._give_up(src, e)

    def _describe(self, active) -> str:
        good = sorted({s.shnum for s in active})
        bad = self._map.bad_shares()
        text = "%d usable (shares %s)" % (len(good), good)
        if bad:
            text += ", %d bad" % len(bad)
        text += "; server map: %s" % self._map.describe_failure()
        return text

    def _give_up(self, src, err):
        name = _server_name(src.server)
        if isinstance(err, (BadShareError, BadHashError, NotEnoughHashesError)):
            reason = "share %d: %s" % (src.shnum, err)
            self._map.mark_bad_share(src.server, src.shnum, reason)
            advise_corrupt(src.server, self.keys.storage_index, src.shnum, reason)
        else:
            self._map.note_server_failure(src.server, "reading share %d: %s" % (src.shnum, err))
        self.status.add_problem(name, "share %d: %s" % (src.shnum, err))

    # ---- reading ----
    def _readv(self, src, ranges):
        d = call_remote(src.server.get_rref(), "slot_readv", self.keys.storage_index,
                        [src.shnum], ranges)
        timer = self._reactor.callLater(self._timeout, d.cancel)

        def _done(res):
            if timer.active():
                timer.cancel()
            return res
        d.addBoth(_done)
        return d

    async def _read(self, src, ranges) -> list:
        answer = await self._readv(src, ranges)
        got = answer.get(src.shnum)
        if got is None:
            raise BadShareError("the server no longer holds share %d" % src.shnum)
        for (off, length), data in zip(ranges, got):
            if len(data) != length:
                raise CorruptShareError(src.server, src.shnum,
                                        "share is truncated (%d of %d bytes at %d)"
                                        % (len(data), length, off))
        self.status.add_server(_server_name(src.server))
        return got

    async def _load_hashes(self, src):
        h = self.header
        c0, c1 = h.chain_range()
        b0, b1 = h.bht_range()
        chain_data, bht_data = await self._read(src, [(c0, c1 - c0), (b0, b1 - b0)])
        nodes = unpack_hashes(bht_data)
        g = self.geometry
        if len(nodes) != g.num_bht_nodes:
            raise CorruptShareError(src.server, src.shnum, "block hash tree has %d nodes, "
                                    "expected %d" % (len(nodes), g.num_bht_nodes))
        first_leaf = (len(nodes) + 1) // 2 - 1
        leaves = nodes[first_leaf:first_leaf + g.num_segments]
        if block_hash_tree(leaves) != nodes:
            raise CorruptShareError(src.server, src.shnum, "block hash tree is inconsistent")
        chain = unpack_share_hash_chain(chain_data)
        try:
            self._share_tree.set_hashes(hashes=chain, leaves={src.shnum: nodes[0]})
        except (BadHashError, NotEnoughHashesError) as e:
            raise CorruptShareError(src.server, src.shnum,
                                    "share hash chain does not lead to the root hash: %s" % e)
        src.leaves = leaves

    async def _fetch_run(self, src, s0, s1) -> list:
        """[(salt, block)] of segments s0..s1-1 from one share, verified."""
        g = self.geometry
        d0 = self.header.offsets["share_data"]
        start = g.block_offset(s0, d0)
        length = sum(g.block_piece_length(s) for s in range(s0, s1))
        (data,) = await self._read(src, [(start, length)])
        out, pos = [], 0
        for s in range(s0, s1):
            plen = g.block_piece_length(s)
            piece = data[pos:pos + plen]
            pos += plen
            if self.header.version == MDMF_VERSION:
                salt, block = piece[:SALT_SIZE], piece[SALT_SIZE:]
                hsalt = salt
            else:
                salt, block, hsalt = self.header.salt, piece, None
            if block_hash(hsalt, block) != src.leaves[s]:
                raise CorruptShareError(src.server, src.shnum,
                                        "block of segment %d does not match its hash" % s)
            out.append((salt, block))
        return out

    async def _fetch_batch(self, active, s0, s1) -> dict:
        """{shnum: [(salt, block)]} for k shares, replacing failing ones."""
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
                    self._give_up(src, value.value)
            while len(active) < self.k:
                active.append(await self._pick(active))

    # ---- the read ----
    def download(self, consumer, offset: int = 0, size: int | None = None):
        """Write bytes [offset, offset+size) of the version to ``consumer``;
        Deferred(consumer)."""
        return defer.ensureDeferred(self._download(consumer, offset, size))

    async def _download(self, consumer, offset, size):
        t0 = time.monotonic()
        datalen = self.geometry.datalen
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
            self.status.finish("Failed: %s" % (e,))
            raise
        finally:
            if registered:
                consumer.unregisterProducer()
            self.status.add_time("total", time.monotonic() - t0)
        self.status.finish()
        return consumer

    async def _deliver(self, consumer, offset, end, producer):
        g = self.geometry
        first, last = offset // g.segsize, (end - 1) // g.segsize
        self.status.set_status("Fetching hashes")
        active: list = []
        while len(active) < self.k:
            active.append(await self._pick(active))
        per_batch = max(1, self._batch_bytes // g.segsize)
        s = first
        delivered = 0
        self.status.set_status("Fetching segments")
        while s <= last:
            await producer.wait_until_unpaused()
            s1 = min(last + 1, s + per_batch)
            t = time.monotonic()
            got = await self._fetch_batch(active, s, s1)
            self.status.add_time("fetch", time.monotonic() - t)
            t = time.monotonic()
            for i, seg in enumerate(range(s, s1)):
                blocks = {shnum: runs[i][1] for shnum, runs in got.items()}
                salt = next(iter(got.values()))[i][0]
                plaintext = decode_segment(self.keys, blocks, salt, self.k, self.n,
                                           g.segment_size(seg))
                seg_start = seg * g.segsize
                lo = max(offset, seg_start) - seg_start
                hi = min(end, seg_start + len(plaintext)) - seg_start
                piece = plaintext[lo:hi]
                await producer.wait_until_unpaused()
                consumer.write(piece)
                delivered += len(piece)
            self.status.add_time("decode", time.monotonic() - t)
            self.status.set_progress(delivered / max(1, end - offset))
            s = s1
