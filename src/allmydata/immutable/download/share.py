"""One share of a file on one server, read and checked piece by piece.

A :class:`Share` wraps the server's ``RIBucketReader`` in the layout's
:class:`~allmydata.immutable.layout.ReadBucketProxy`.  Before any block of
it is used, :meth:`Share.prepare` fetches (in parallel, once) its URI
extension block, share-hash chain and block hash tree, and checks them
against the cap through :class:`~.validation.FileHashes`.  Blocks are then
fetched raw by :meth:`Share.get_block` and checked (in a worker thread) by
the segment decoder against :meth:`Share.block_leaf`.

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
        return None

    def when_done(self):
        if self._result is self._PENDING:
            d = defer.Deferred()
            self._waiters.append(d)
            return d
        return defer.succeed(self._result)  # a Failure here also errbacks


class Share:
    """Share ``shnum`` of a file, held by ``server`` behind ``rref``."""

    def __init__(self, server, shnum: int, rref, storage_index: bytes, file: FileHashes,
                 clock, timeout: float, server_rank: int):
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
        self.block_tree = None
        self._prepared = None
        self._block_hashes_d = None
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

    # ---- preparation ------------------------------------------------------------------
    def prepare(self):
        """Deferred that fires once this share's UEB, share-hash chain and
        block hash tree are fetched and valid (fetched once, whoever asks);
        fails with :class:`ShareFailure`."""
        if self.failure is not None:
            return defer.fail(self.failure)
        if self._prepared is None:
            self._prepared = Once(defer.ensureDeferred(self._prepare()))
        return self._prepared.when_done()

    async def _prepare(self):
        ueb, chain, block_hashes = await gather([
            self._call("URI extension block", self.proxy.get_uri_extension),
            self._call("share-hash chain", self.proxy.get_share_hashes),
            self._call("block hash tree", self.proxy.get_block_hashes),
        ])
        self._check("UEB", self.file.accept_uri_extension, ueb)
        root = self._check("chain", self.file.check_share_hash_chain, self.shnum, chain)
        tree = self.file.new_block_hash_tree(root)
        self._check("block tree", FileHashes.add_block_hashes, tree, block_hashes)
        self.block_tree = tree
        return self

    # ---- blocks -----------------------------------------------------------------------
    async def get_block(self, segnum: int) -> bytes:
        """The raw bytes of block ``segnum`` (length checked, hash not yet:
        see :meth:`block_leaf`)."""
        await self.prepare()
        if self.block_tree.needed_hashes(segnum, include_leaf=True):
            await self._fetch_block_hashes(segnum)
        params = self.file.params
        size = params.block_length(segnum)
        data = await self._call("block %d" % segnum, self.proxy.get_block_data, segnum,
                                params.block_size, size)
        if len(data) != size:
            raise ShareFailure(self, CORRUPT, "block %d is %d bytes long instead of %d"
                               % (segnum, len(data), size))
        return data

    async def _fetch_block_hashes(self, segnum):
        if self._block_hashes_d is None:
            needed = self.block_tree.needed_hashes(segnum, include_leaf=True)
            d = self._call("block hash tree", self.proxy.get_block_hashes, needed)
            d.addCallback(lambda hashes: self._check(
                "block tree", FileHashes.add_block_hashes, self.block_tree, hashes))
            self._block_hashes_d = Once(d)
        once = self._block_hashes_d
        try:
            await once.when_done()
        finally:
            if self._block_hashes_d is once:
                self._block_hashes_d = None

    def block_leaf(self, segnum: int) -> bytes:
        """The validated hash that block ``segnum`` must have."""
        return self.block_tree.get_leaf(segnum)

    async def get_crypttext_hashes(self) -> dict:
        hashes = await self._call("crypttext hash tree", self.proxy.get_crypttext_hashes)
        return dict(enumerate(hashes))

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
