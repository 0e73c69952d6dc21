"""One share of a file on one server, read and checked piece by piece.

A :class:`Share` wraps the server's ``RIBucketReader`` in the layout's
:class:`~allmydata.immutable.layout.ReadBucketProxy`.  Before any block of
it is used, :meth:`Share.prepare` fetches (in parallel, once) its URI
extension block and share-hash chain, and its whole block hash tree when
that is small (up to :data:`WHOLE_TREE_LIMIT` bytes), and checks them
against the cap through :class:`~.validation.FileHashes`.  From a larger
tree only the nodes each block needs are read, as blocks are asked for.
Blocks are fetched raw by :meth:`Share.get_block` and checked (in a worker
thread) by the segment decoder against :meth:`Share.block_leaf`.

Every failure becomes a :class:`ShareFailure` of one of three kinds:

* ``corrupt``: the bytes do not match the hashes or the layout (reported to
  the server with ``advise_corrupt_share``; only this share is dropped);
* ``server``: the server is gone (disconnected, timed out): every share on
  it is dropped for the rest of the download;
* ``share``: the server answered with an error about this share.
"""

from foolscap.api import DeadReferenceError
from foolscap.tokens import Violation
from twisted.internet import defer, error
from twisted.logger import Logger

from ...util import base32
from ...util.rrefutil import RemoteException, call_remote
from ..layout import LayoutInvalid, ReadBucketProxy
from .validation import FileHashes, ShareDataError

log = Logger()

CORRUPT, SERVER, SHARE = "corrupt", "server", "share"

_GONE = (DeadReferenceError, error.ConnectionLost, error.ConnectionDone, defer.TimeoutError,
         error.TimeoutError)


class ShareFailure(Exception):
    """Why a share became unusable; ``kind`` is ``corrupt``, ``server`` or
    ``share``."""

    def __init__(self, share, kind: str, text: str):
        self.share = share
        self.kind = kind
        self.text = text
        Exception.__init__(self, "%s: %s" % (share.describe(), text))


def classify(share, exc: BaseException, what: str) -> ShareFailure:
    """The :class:`ShareFailure` for an exception met while reading ``what``."""
    if isinstance(exc, ShareFailure):
        return exc
    if isinstance(exc, (LayoutInvalid, ShareDataError)):
        return ShareFailure(share, CORRUPT, "%s: %s" % (what, exc))
    if isinstance(exc, (defer.TimeoutError, error.TimeoutError)):
        return ShareFailure(share, SERVER, "no answer to the read of the %s within %.0fs"
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


class Share:
    """Share ``shnum`` of a file, held by ``server`` behind ``rref``.

    ``tree_cache`` maps ``(serverid, shnum)`` to block hash trees validated by
    earlier reads of the same file; a share found there needs no preparation.
    """

    def __init__(self, server, shnum: int, rref, storage_index: bytes, file: FileHashes,
                 clock, timeout: float, server_rank: int, tree_cache: dict | None = None,
                 whole_tree_limit: int = WHOLE_TREE_LIMIT):
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

    # ---- preparation ------------------------------------------------------------------
    def prepare(self):
        """Deferred that fires once this share's UEB and share-hash chain are
        fetched and valid (and its block hash tree too, when small: fetched
        in the same round trip), once whoever asks; fails with
        :class:`ShareFailure`."""
        if self.failure is not None:
            return defer.fail(self.failure)
        if self.block_tree is not None:
            return defer.succeed(self)
        if self._prepared is None:
            self._prepared = Once(defer.ensureDeferred(self._prepare()))
        return self._prepared.when_done()

    async def _prepare(self):
        lay = await self._call("header", self.proxy.get_header)
        whole = lay.share_hashes - lay.block_hashes <= self._whole_tree_limit
        reads = [self._call("URI extension block", self.proxy.get_uri_extension),
                 self._call("share-hash chain", self.proxy.get_share_hashes)]
        if whole:
            reads.append(self._call("block hash tree", self.proxy.get_block_hashes))
        results = await gather(reads)
        self._check("UEB", self.file.accept_uri_extension, results[0])
        root = self._check("chain", self.file.check_share_hash_chain, self.shnum, results[1])
        tree = self.file.new_block_hash_tree(root)
        if whole:
            self._check("block tree", FileHashes.add_block_hashes, tree, results[2])
        self.block_tree = tree
        self._tree_cache[(self.serverid, self.shnum)] = tree
        return self

    # ---- blocks -----------------------------------------------------------------------
    async def get_block(self, segnum: int) -> bytes:
        """The raw bytes of block ``segnum`` (length checked, hash not yet:
        see :meth:`block_leaf`), after the block hash tree nodes needed to
        check it."""
        await self.prepare()
        needed = self.block_tree.needed_hashes(segnum, include_leaf=True)
        if needed:
            lay = await self._call("header", self.proxy.get_header)
            hashes = await self._read_tree_nodes("block hash tree", lay.block_hashes,
                                                 lay.share_hashes, needed)
            self._check("block tree", FileHashes.add_block_hashes, self.block_tree, hashes)
            if self.block_tree.needed_hashes(segnum, include_leaf=True):
                raise ShareFailure(self, CORRUPT, "its block hash tree lacks the nodes for "
                                   "block %d" % segnum)
        params = self.file.params
        size = params.block_length(segnum)
        data = await self._call("block %d" % segnum, self.proxy.get_block_data, segnum,
                                params.block_size, size)
        if len(data) != size:
            raise ShareFailure(self, CORRUPT, "block %d is %d bytes long instead of %d"
                               % (segnum, len(data), size))
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
