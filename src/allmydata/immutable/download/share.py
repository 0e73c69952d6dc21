"""One share of a file on one server, read and checked piece by piece.

A :class:`Share` wraps the server's ``RIBucketReader`` in the layout's
:class:`~allmydata.immutable.layout.ReadBucketProxy`.  Before any block of
it is used, :meth:`Share.prepare` fetches (once) its URI extension block
and share-hash chain, its whole block hash tree and crypttext hash tree
when they are small (up to :data:`WHOLE_TREE_LIMIT` bytes), and checks
them against the cap through :class:`~.validation.FileHashes`.

Round trips are what a small download costs, so the share does not read the
header first and then each region: from a :class:`LayoutGuess` (the layout
the file's size, k and n give with the default segment size, or the real
segment size once a UEB was seen) it reads, all at once, the header (with
the first wanted block behind it when that is block 0, else the block on
its own) and one span from the crypttext hash tree to a little past the
guessed end of the UEB.  Once the real header is parsed, every region the
span covers is taken from it and only the rest is read (a wrong guess costs
a round trip, never a wrong answer: the header decides where things are).  From a larger
tree only the nodes each block needs are read, as blocks are asked for.
Blocks are fetched raw by :meth:`Share.get_block` and checked (in a worker
thread) by the segment decoder against :meth:`Share.block_leaf`.

Every failure becomes a :class:`ShareFailure` of one of three kinds:

* ``corrupt``: the bytes do not match the hashes or the layout (reported to
  the server with ``advise_corrupt_share``; only this share is dropped);
* ``server``: the server is gone (disconnected, timed out): every share on
  it is dropped for the rest of the download;
* ``share``: the server answered with an error about this share;
* ``incompatible``: the share has a layout version this reader does not
  know (dropped like ``share``, never reported as corrupt).
"""

import struct

from foolscap.api import DeadReferenceError
from foolscap.tokens import Violation
from twisted.internet import defer, error
from twisted.logger import Logger

from ...util import base32
from ...util.rrefutil import RemoteException, call_remote
from ..layout import (
    HASH_SIZE,
    SHARE_HASH_ENTRY_SIZE,
    V2_HEADER_SIZE,
    LayoutInvalid,
    ReadBucketProxy,
    ShareVersionIncompatible,
    compute_layout,
    parse_header,
)
from ..params import ParamsError, SegmentParams
from .validation import FileHashes, ShareDataError

log = Logger()

CORRUPT, SERVER, SHARE, INCOMPATIBLE = "corrupt", "server", "share", "incompatible"

_GONE = (DeadReferenceError, error.ConnectionLost, error.ConnectionDone, defer.TimeoutError,
         error.TimeoutError)


def _split(data: bytes) -> dict:
    """{node index: hash} of a stored hash tree region."""
    return {i // HASH_SIZE: data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)}


def _parse_chain(data: bytes) -> list:
    """[(node index, hash)] of a stored share-hash chain."""
    out = []
    for i in range(0, len(data) - SHARE_HASH_ENTRY_SIZE + 1, SHARE_HASH_ENTRY_SIZE):
        (index,) = struct.unpack(">H", data[i:i + 2])
        out.append((index, data[i + 2:i + SHARE_HASH_ENTRY_SIZE]))
    return out


class ShareFailure(Exception):
    """Why a share became unusable; ``kind`` is ``corrupt``, ``server`` or
    ``share``."""

    def __init__(self, share, kind: str, text: str):
        self.share = share
        self.kind = kind
        self.text = text
        Exception.__init__(self, "%s: %s" % (share.describe(), text))


class ServerQuery:
    """Stands in for a share when classifying the failure of a question to
    a whole server (``get_buckets``)."""

    def __init__(self, server, timeout):
        self.server = server
        self.timeout = timeout

    def describe(self):
        return "server %s" % self.server.get_name()


def classify(share, exc: BaseException, what: str) -> ShareFailure:
    """The :class:`ShareFailure` for an exception met while reading ``what``."""
    if isinstance(exc, ShareFailure):
        return exc
    if isinstance(exc, ShareVersionIncompatible):
        return ShareFailure(share, INCOMPATIBLE, "%s: %s" % (what, exc))
    if isinstance(exc, (LayoutInvalid, ShareDataError)):
        return ShareFailure(share, CORRUPT, "%s: %s" % (what, exc))
    if isinstance(exc, (defer.TimeoutError, error.TimeoutError)):
        return ShareFailure(share, SERVER, "no answer to the read of the %s within %gs"
                            % (what, share.timeout))
    if isinstance(exc, _GONE):
        return ShareFailure(share, SERVER, "connection lost while reading the %s (%s)"
                            % (what, exc.__class__.__name__))
    if isinstance(exc, (RemoteException, Violation)):
        return ShareFailure(share, SHARE, "the server failed to read the %s: %s" % (what, exc))
    return ShareFailure(share, SHARE, "reading the %s failed: %r" % (what, exc))


async def gather(ds):
    """Wait for every Deferred; return their results or raise the first
    failure (after all of them finished, so none is left unhandled)."""
    results = await defer.DeferredList(ds, consumeErrors=True)
    for ok, value in results:
        if not ok:
            value.raiseException()
    return [value for _ok, value in results]


class Once:
    """The result of one Deferred, handed to any number of later callers."""

    _PENDING = object()

    def __init__(self, d):
        self._result = self._PENDING
        self._waiters = []
        d.addBoth(self._done)

    def _done(self, result):
        self._result = result
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            w.callback(result)  # a Failure goes down the errback chain

    def when_done(self):
        if self._result is self._PENDING:
            d = defer.Deferred()
            self._waiters.append(d)
            return d
        return defer.succeed(self._result)  # a Failure here also errbacks


#: Hash trees of up to this many bytes are read whole, once per share; from
#: bigger ones (files of more than ~1000 segments) only the nodes a block needs.
WHOLE_TREE_LIMIT = 64 * 1024


#: What the speculative span reads past the guessed start of the UEB (real
#: UEBs are ~330 bytes), and before the guessed start of the span.
UEB_GUESS = 1200
SPAN_MARGIN = 256


#: The header-and-block read and the span are read as one when no more than
#: this many bytes lie between them.
MERGE_GAP = 4096


#: Segment sizes a file of unknown segment size most likely has: ours
#: (the default maximum) and Tahoe-LAFS's default maximum of 128 KiB.
LIKELY_SEGMENT_SIZES = (None, 128 * 1024)


class LayoutGuess:
    """Where a share's regions probably are, and the first block wanted.

    ``exact`` when the real segment size is known (from an earlier UEB).
    The span starts at the end of the data region, which is the same for
    every segment size (``ceil(size/k)`` bytes after the header), so a
    wrong guess never reads share data; it ends past the UEB of the
    likeliest layout with the most segments.
    """

    def __init__(self, candidates: list, segnum: int, exact: bool, whole_tree_limit: int):
        params = self.params = candidates[0]
        self.exact = exact
        self.segnum = min(max(segnum, 0), params.num_segments - 1)
        layouts = [compute_layout(p.share_data_size, p.block_size, p.num_segments,
                                  p.num_share_hashes, UEB_GUESS) for p in candidates]
        lay = self.layout = layouts[0]
        small = lay.share_hashes - lay.crypttext_hash_tree <= 2 * whole_tree_limit
        start = lay.plaintext_hash_tree if small else \
            max(lay.plaintext_hash_tree, lay.share_hashes - SPAN_MARGIN)
        end = max(la.uri_extension + la.fieldsize + UEB_GUESS for la in layouts)
        self.span = (start, end)

    @classmethod
    def for_read(cls, file: FileHashes, offset: int, whole_tree_limit: int = WHOLE_TREE_LIMIT):
        """The guess for a read starting at byte ``offset`` (None if the
        numbers make no file)."""
        try:
            if file.params is not None:
                candidates, exact = [file.params], True
            else:
                candidates, exact = [], False
                for maxseg in LIKELY_SEGMENT_SIZES:
                    p = (SegmentParams.for_file(file.size, file.k, file.n) if maxseg is None
                         else SegmentParams.for_file(file.size, file.k, file.n, maxseg))
                    if p not in candidates:
                        candidates.append(p)
            return cls(candidates, offset // candidates[0].segment_size, exact,
                       whole_tree_limit)
        except (ParamsError, ValueError, ZeroDivisionError):
            return None

    def prefetch_block(self, segnum: int) -> bool:
        """Whether to read block ``segnum`` speculatively: block 0 starts
        the data region whatever the segment size; others only where the
        layout is known."""
        return self.exact or segnum == 0

    def block_range(self, segnum: int) -> tuple[int, int]:
        return (self.layout.data + segnum * self.params.block_size,
                self.params.block_length(segnum))


class Share:
    """Share ``shnum`` of a file, held by ``server`` behind ``rref``.

    ``tree_cache`` maps ``(serverid, shnum)`` to block hash trees validated by
    earlier reads of the same file; a share found there needs no preparation.
    """

    def __init__(self, server, shnum: int, rref, storage_index: bytes, file: FileHashes,
                 clock, timeout: float, server_rank: int, tree_cache: dict | None = None,
                 whole_tree_limit: int = WHOLE_TREE_LIMIT, guess: LayoutGuess | None = None):
        self.server = server
        self.serverid = server.get_serverid()
        self.shnum = shnum
        self.rref = rref
        self.storage_index = storage_index
        self.file = file
        self.clock = clock
        self.timeout = timeout
        self.server_rank = server_rank
        self.proxy = ReadBucketProxy(rref, server, storage_index, shnum)
        self.failure: ShareFailure | None = None
        self._tree_cache = tree_cache if tree_cache is not None else {}
        self._whole_tree_limit = whole_tree_limit
        self.block_tree = self._tree_cache.get((self.serverid, shnum))
        self._prepared = None
        self._guess = guess
        self._spec = None          # Once of the speculative reads
        self._chunks = []          # [(offset, bytes)] they brought
        self._block_segnum = None  # the block the speculative reads asked for
        self._node_reads = {}      # block hash tree node -> Once of the read bringing it
        self.advised = False
        self.suspect = False  # an earlier read found it corrupt

    def __repr__(self):
        return "<Share %s>" % self.describe()

    def describe(self) -> str:
        return "share %d on server %s" % (self.shnum, self.server.get_name())

    @property
    def usable(self) -> bool:
        return self.failure is None

    @property
    def ready(self) -> bool:
        return self.block_tree is not None and self.failure is None

    # ---- remote reads -----------------------------------------------------------------
    def _call(self, what: str, f, *args):
        d = defer.maybeDeferred(f, *args)
        if self.timeout:
            d.addTimeout(self.timeout, self.clock)

        def _fail(failure):
            raise classify(self, failure.value, what)
        d.addErrback(_fail)
        return d

    def _check(self, what: str, f, *args):
        try:
            return f(*args)
        except ShareDataError as e:
            raise ShareFailure(self, CORRUPT, str(e))

    def _read_exact(self, offset: int, length: int, what: str):
        d = call_remote(self.rref, "read", offset, length)

        def _check(data):
            if len(data) != length:
                raise LayoutInvalid("the %s (%d bytes at %d) came back %d bytes long"
                                    % (what, length, offset, len(data)))
            return data
        d.addCallback(_check)
        return d

    async def _read_tree_nodes(self, what: str, start: int, end: int, indices) -> dict:
        """Nodes ``indices`` of the hash tree stored in bytes [start, end) of
        the share, in as few reads as runs of consecutive indices allow."""
        runs = []
        for i in sorted(indices):
            if runs and runs[-1][1] == i - 1:
                runs[-1][1] = i
            else:
                runs.append([i, i])
        for first, last in runs:
            if first < 0 or start + 32 * (last + 1) > end:
                raise ShareFailure(self, CORRUPT, "its %s region (%d bytes) lacks node %d"
                                   % (what, end - start, last))
        datas = await gather([self._call(what, self._read_exact, start + 32 * first,
                                         32 * (last - first + 1), what)
                              for first, last in runs])
        out = {}
        for (first, last), data in zip(runs, datas):
            for j in range(last - first + 1):
                out[first + j] = data[32 * j:32 * j + 32]
        return out

    # ---- speculative reads -------------------------------------------------------------
    def prefetch(self, segnum: int | None = None) -> None:
        """Start (once) the reads of the header, the guessed hash/UEB span
        and, when ``segnum`` is given, that block; :meth:`prepare` uses them."""
        if self._spec is not None or self.failure is not None:
            return
        g = self._guess
        reads = []
        if g is None:
            reads.append((0, V2_HEADER_SIZE))
        else:
            block = None
            if segnum is not None:
                segnum = min(max(segnum, 0), g.params.num_segments - 1)
                if g.prefetch_block(segnum):
                    block = g.block_range(segnum)
            if block is not None and segnum == 0:
                reads.append((0, max(V2_HEADER_SIZE, block[0] + block[1])))
            else:
                reads.append((0, V2_HEADER_SIZE))
                if block is not None:
                    reads.append(block)
            if self.block_tree is None:
                start, end = g.span
                first_end = reads[0][0] + reads[0][1]
                if len(reads) == 1 and 0 <= start - first_end <= MERGE_GAP:
                    # a small share: header, block 0 and the span are one
                    # read (the gap is the plaintext tree, a few hashes)
                    reads[0] = (0, end)
                else:
                    reads.append((start, end - start))
            self._block_segnum = segnum if block is not None else None
        ds = [self._call("header", call_remote, self.rref, "read", off, length)
              for off, length in reads]
        d = defer.ensureDeferred(gather(ds))
        d.addCallback(self._spec_arrived, reads)
        self._spec = Once(d)

    def _spec_arrived(self, datas, reads):
        self._chunks = [(off, data) for (off, _length), data in zip(reads, datas)]

    def _cached(self, offset: int, length: int):
        for off, data in self._chunks:
            if off <= offset and offset + length <= off + len(data):
                return data[offset - off:offset - off + length]
        return None

    def _region(self, offset: int, length: int, what: str):
        """Deferred(bytes) of a region: from the speculative reads if they
        hold it, else read."""
        data = self._cached(offset, length)
        if data is not None:
            return defer.succeed(data)
        return self._call(what, self._read_exact, offset, length, what)

    # ---- preparation ------------------------------------------------------------------
    def prepare(self, segnum: int | None = None):
        """Deferred that fires once this share's UEB and share-hash chain are
        fetched and valid (and its block hash tree too, when small: fetched
        in the same round trip), once whoever asks; fails with
        :class:`ShareFailure`.  ``segnum``: the block to fetch along with
        them (default: the guess's first block)."""
        if self.failure is not None:
            return defer.fail(self.failure)
        if self.block_tree is not None:
            return defer.succeed(self)
        if self._prepared is None:
            if self._spec is None:
                self.prefetch(segnum if segnum is not None
                              else (self._guess.segnum if self._guess else None))
            self._prepared = Once(defer.ensureDeferred(self._prepare()))
        return self._prepared.when_done()

    async def _spec_layout(self):
        """The header, parsed from the speculative reads (once they came)."""
        await self._spec.when_done()
        lay = self.proxy.layout
        if lay is None:
            head = self._chunks[0][1] if self._chunks and self._chunks[0][0] == 0 else b""
            try:
                lay = parse_header(head, self.proxy._where())
            except LayoutInvalid as e:
                raise classify(self, e, "header")
            self.proxy.layout = lay
        return lay

    async def _prepare(self):
        lay = await self._spec_layout()
        whole = lay.share_hashes - lay.block_hashes <= self._whole_tree_limit
        try:
            ueb = await self._get_uri_extension(lay)
        except Exception as e:
            raise classify(self, e, "URI extension block")
        reads = [self._region(lay.share_hashes, lay.share_hashes_size, "share-hash chain")]
        if whole:
            reads.append(self._region(lay.block_hashes, lay.share_hashes - lay.block_hashes,
                                      "block hash tree"))
        results = await gather(reads)
        self._check("UEB", self.file.accept_uri_extension, ueb)
        chain = self._check("chain", _parse_chain, results[0])
        root = self._check("chain", self.file.check_share_hash_chain, self.shnum, chain)
        tree = self.file.new_block_hash_tree(root)
        if whole:
            self._check("block tree", FileHashes.add_block_hashes, tree, _split(results[1]))
        self._take_crypttext_hashes(lay)
        if self._block_segnum is None:
            self._chunks = []
        self.block_tree = tree
        self._tree_cache[(self.serverid, self.shnum)] = tree
        return self

    async def _get_uri_extension(self, lay) -> bytes:
        raw = await self._region(lay.uri_extension, lay.fieldsize, "UEB length")
        (length,) = struct.unpack(">L" if lay.version == 1 else ">Q", raw)
        if length > 100_000:
            raise LayoutInvalid("the URI extension block claims %d bytes; real ones are "
                                "a few hundred" % length)
        return await self._region(lay.uri_extension + lay.fieldsize, length,
                                  "URI extension block")

    def _take_crypttext_hashes(self, lay) -> None:
        """Give the file the crypttext hash tree the span brought, if the
        file still lacks nodes of it (a tree that does not match the UEB
        makes this share corrupt)."""
        size = lay.block_hashes - lay.crypttext_hash_tree
        if size > self._whole_tree_limit:
            return
        first = self._guess.segnum if self._guess is not None else 0
        first = min(first, self.file.params.num_segments - 1)
        if not self.file.crypttext_hashes_needed(first):
            return
        data = self._cached(lay.crypttext_hash_tree, size)
        if data is not None:
            self._check("crypttext tree", self.file.add_crypttext_hashes, _split(data))

    # ---- blocks -----------------------------------------------------------------------
    async def get_block(self, segnum: int) -> bytes:
        """The raw bytes of block ``segnum`` (length checked, hash not yet:
        see :meth:`block_leaf`), after the block hash tree nodes needed to
        check it."""
        await self.prepare(segnum)
        if self.block_tree.needed_hashes(segnum, include_leaf=True):
            await self._get_tree_nodes(segnum)
            if self.block_tree.needed_hashes(segnum, include_leaf=True):
                raise ShareFailure(self, CORRUPT, "its block hash tree lacks the nodes for "
                                   "block %d" % segnum)
        params = self.file.params
        size = params.block_length(segnum)
        if self._spec is not None and self._block_segnum == segnum:
            await self._spec_layout()  # a share with a known tree reads header + block at once
        data = self._prefetched_block(segnum, size)
        if data is None:
            data = await self._call("block %d" % segnum, self.proxy.get_block_data, segnum,
                                    params.block_size, size)
        if len(data) != size:
            raise ShareFailure(self, CORRUPT, "block %d is %d bytes long instead of %d"
                               % (segnum, len(data), size))
        return data

    async def _get_tree_nodes(self, segnum: int) -> None:
        """Add to the block hash tree the nodes block ``segnum`` needs.  A
        node that a read for another block (segments are fetched several at
        a time) is already bringing is waited for, not read again."""
        lay = await self._call("header", self.proxy.get_header)
        needed = self.block_tree.needed_hashes(segnum, include_leaf=True)
        coming = {self._node_reads[i] for i in needed if i in self._node_reads}
        fresh = sorted(i for i in needed if i not in self._node_reads)
        if fresh:
            read = Once(defer.ensureDeferred(self._read_block_tree_nodes(lay, fresh)))
            for i in fresh:
                self._node_reads[i] = read
            coming.add(read)
        await gather([r.when_done() for r in coming])

    async def _read_block_tree_nodes(self, lay, indices) -> None:
        try:
            hashes = await self._read_tree_nodes("block hash tree", lay.block_hashes,
                                                 lay.share_hashes, indices)
            self._check("block tree", FileHashes.add_block_hashes, self.block_tree, hashes)
        finally:
            for i in indices:
                self._node_reads.pop(i, None)

    def _prefetched_block(self, segnum: int, size: int):
        """Block ``segnum`` from the speculative read, if that got it (once)."""
        lay = self.proxy.layout
        if self._block_segnum != segnum or lay is None:
            return None
        start = lay.data + segnum * self.file.params.block_size
        data = None
        if start + size <= lay.plaintext_hash_tree:  # else the proxy's read says what is wrong
            data = self._cached(start, size)
        self._block_segnum = None
        self._chunks = []
        return data

    def block_leaf(self, segnum: int) -> bytes:
        """The validated hash that block ``segnum`` must have."""
        return self.block_tree.get_leaf(segnum)

    async def get_crypttext_hashes(self, needed) -> dict:
        """Nodes of this share's copy of the crypttext hash tree: all of
        them if the tree is small, else those in ``needed``."""
        lay = await self._call("header", self.proxy.get_header)
        if lay.block_hashes - lay.crypttext_hash_tree <= self._whole_tree_limit:
            hashes = await self._call("crypttext hash tree", self.proxy.get_crypttext_hashes)
            return dict(enumerate(hashes))
        return await self._read_tree_nodes("crypttext hash tree", lay.crypttext_hash_tree,
                                           lay.block_hashes, needed)

    # ---- whole regions, for a verify ---------------------------------------------------
    def read_region(self, offset: int, length: int, what: str):
        """Deferred(bytes): exactly ``length`` bytes at ``offset`` of the
        share (with the read timeout); failures are :class:`ShareFailure`."""
        return self._call(what, self._read_exact, offset, length, what)

    def cached_region(self, offset: int, length: int):
        """Bytes ``[offset, offset+length)`` of the share if the speculative
        reads brought them and they are still kept, else None."""
        return self._cached(offset, length)

    def take_prefetched_block(self, segnum: int):
        """Block ``segnum`` if the speculative reads brought it (once; the
        other speculative data is then let go), else None."""
        return self._prefetched_block(segnum, self.file.params.block_length(segnum))

    def get_whole_crypttext_tree(self):
        """Deferred([hash]): every node of this share's copy of the crypttext
        hash tree (not yet checked)."""
        return self._call("crypttext hash tree", self.proxy.get_crypttext_hashes)

    # ---- failure ----------------------------------------------------------------------
    def fail(self, failure: ShareFailure) -> None:
        if self.failure is None:
            self.failure = failure

    def advise_corrupt(self, reason: str):
        """Tell the server this share is corrupt (once); never fails."""
        if self.advised:
            return defer.succeed(None)
        self.advised = True
        text = ("immutable downloader: share %d of storage index %s is corrupt: %s"
                % (self.shnum, base32.b2a(self.storage_index).decode("ascii"), reason)
                ).encode("utf-8")
        d = defer.maybeDeferred(call_remote, self.rref, "advise_corrupt_share", text)
        d.addErrback(lambda f: log.info("could not report corrupt {share}: {why}",
                                        share=self.describe(), why=f.value))
        return d
