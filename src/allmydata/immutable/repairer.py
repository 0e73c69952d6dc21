"""Repairing an immutable (CHK) file from its verify cap.

The repairer never sees plaintext: it reads the file's *ciphertext* from
any ``k`` good shares with the downloader (:class:`~.download.node.DownloadNode`
without a key checks every block and every segment against the hash trees
as a read does, and hands over the checked ciphertext), and feeds it,
segment by segment, to the :class:`~.encode.Encoder` with the file's own
parameters (k, N and the segment size of its URI extension block).  zfec is
deterministic, so the blocks, hash trees and UEB it makes are those of the
original shares; the encoder checks the share root hash it computes against
the file's UEB and writes that UEB, so the new shares match the verify cap.
Only the shares written are coded: the share hash tree takes the other
shares' block-tree roots from their share-hash chains, proven against the
UEB; the crypttext hash tree comes from the segment hashes the download
proved.

Only the share numbers that lack a good copy are written, where the
uploader's server selection (:func:`~.selector.select_servers`) puts
them so that servers-of-happiness is as high as the servers allow, counting
the good shares already in place (they are not written again; their leases
are renewed as an upload renews them).  A share whose only copy is corrupt
(found by a verify) is written to another server: the server holding the bad
copy cannot replace it, and the new copy makes the file healthy again.

Memory stays bounded: the download stops when a few segments are waiting
for the encoder, and the encoder holds a few segments' blocks.

:func:`check_and_repair_immutable` is the whole ``check_and_repair``: a
check (or verify), a repair when the file is not healthy, and a fresh check
with the same ``verify`` flag.  A file that is not recoverable is reported
as such and nothing is written.
"""

from __future__ import annotations

import time
from collections import deque

import attr
from foolscap.api import Referenceable
from twisted.internet import defer
from twisted.internet.interfaces import IConsumer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..check_results import CheckAndRepairResults
from ..util import base32
from ..util.budget import ByteBudget
from ..util.default_reactor import default_reactor
from ..util.rrefutil import call_remote
from .checker import _as_verifycap, check_immutable, lease_secrets
from .download.node import DownloadNode
from .download.share import Share
from .encode import Encoder, EncodingError
from .happiness import servers_of_happiness
from .interfaces import IEncryptedUploadable
from .layout import make_write_bucket_proxy
from .selector import DEFAULT_TIMEOUT, ServerSelectionError, select_servers

__all__ = ["RepairError", "RepairResults", "repair_immutable", "check_and_repair_immutable"]

log = Logger()

#: Seconds a server writing a new share gets to take the next piece of it.
WRITE_TIMEOUT = 60.0
#: Bytes of checked ciphertext the download may get ahead of the encoder.
STREAM_BUFFER = 4 * 1024 * 1024
#: What one repair may hold at once, at most: segments being downloaded,
#: waiting for the encoder, being encoded and being sent.
REPAIR_COST = 16 * 1024 * 1024
#: Bytes all the repairs of this process may hold at once (a deep-check
#: with repair can find many damaged files at a time).
REPAIR_MEMORY = 64 * 1024 * 1024

#: the budget of all the repairs of this process
_budget = ByteBudget(REPAIR_MEMORY)


@attr.s(frozen=True, slots=True, kw_only=True)
class RepairResults:
    """What one repair did.

    ``successful``: every share number has a good copy placed (old or new);
    ``placed``: ``{shnum: server}`` of the shares written now;
    ``preexisting``: ``{shnum: set(server)}`` of good shares left in place;
    ``happiness``: servers-of-happiness of both together; ``error``: why
    the repair failed or was not possible (None when it succeeded).
    """

    storage_index = attr.ib()
    successful = attr.ib(converter=bool)
    placed = attr.ib(factory=dict)
    preexisting = attr.ib(factory=dict)
    happiness = attr.ib(default=0)
    error = attr.ib(default=None)
    timings = attr.ib(factory=dict)


class RepairError(Exception):
    """A repair could not be done (the message says why)."""


@implementer(IConsumer, IEncryptedUploadable)
class _CiphertextStream:
    """The consumer of the ciphertext download and the encoder's source.

    The download writes checked ciphertext here; the encoder reads it back
    in segment-sized pieces.  When more than ``limit`` bytes wait, the
    download is paused until the encoder has taken some.
    """

    def __init__(self, storage_index: bytes, size: int, limit: int | None = None,
                 monitor=None):
        self._si = storage_index
        self._size = size
        self._limit = limit if limit is not None else STREAM_BUFFER
        self._monitor = monitor
        self._chunks: deque = deque()
        self._buffered = 0
        self._producer = None
        self._paused = False
        self._finished = False
        self._failure = None
        self._waiters: list = []
        self.params = None       # (k, happy, n, segment_size), set by the repairer

    # ---- IConsumer (the download's side) -------------------------------------------------
    def registerProducer(self, producer, streaming):
        self._producer = producer

    def unregisterProducer(self):
        self._producer = None

    def write(self, data):
        if data:
            self._chunks.append(data)
            self._buffered += len(data)
        if self._buffered > self._limit and self._producer is not None and not self._paused:
            self._paused = True
            self._producer.pauseProducing()
        self._wake()

    def download_ended(self, result):
        """The download's Deferred fired (a Failure when it failed)."""
        self._finished = True
        if isinstance(result, Failure):
            self._failure = result
        self._wake()
        return None

    def stop(self) -> None:
        """Stop the download (the repair gave up)."""
        if self._producer is not None and not self._finished:
            self._producer.stopProducing()

    def _wake(self):
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    def _wait(self):
        d = defer.Deferred()
        self._waiters.append(d)
        return d

    async def wait_for_data(self) -> None:
        """Until the first ciphertext arrived (the file's UEB is then known);
        raises the download's error if it failed first."""
        while not self._buffered and not self._finished:
            await self._wait()
        if self._failure is not None and not self._buffered:
            self._failure.raiseException()

    # ---- IEncryptedUploadable (the encoder's side) ---------------------------------------
    def set_upload_status(self, upload_status):
        pass

    def get_size(self):
        return defer.succeed(self._size)

    def get_all_encoding_parameters(self):
        return defer.succeed(self.params)

    def get_storage_index(self):
        return defer.succeed(self._si)

    def read_encrypted(self, length: int, hash_only: bool):
        return defer.ensureDeferred(self._read(length))

    async def _read(self, length: int) -> list:
        if self._monitor is not None:
            self._monitor.raise_if_cancelled()
        while self._buffered < length and not self._finished:
            await self._wait()
        if self._buffered < length:
            if self._failure is not None:
                self._failure.raiseException()
            raise EncodingError("the download of the ciphertext ended %d bytes short"
                                % (length - self._buffered))
        out, want = [], length
        while want:
            chunk = self._chunks.popleft()
            if len(chunk) > want:
                self._chunks.appendleft(chunk[want:])
                chunk = chunk[:want]
            out.append(chunk)
            want -= len(chunk)
        self._buffered -= length
        if self._paused and self._buffered <= self._limit // 2 and self._producer is not None:
            self._paused = False
            self._producer.resumeProducing()
        return out

    def close(self):
        pass


def _holdings(check_results) -> tuple[dict, dict]:
    """``({serverid: good shnums}, {serverid: bad shnums})`` of a check: a
    bad share is one a server claims that a verify found corrupt or
    incompatible, or could not read; the server keeps it, so that share
    number must get a good copy elsewhere."""
    good: dict = {}
    for shnum, servers in check_results.sharemap.items():
        for s in servers:
            good.setdefault(s.get_serverid(), set()).add(shnum)
    bad: dict = {}
    claimed = [(server, shnum) for server, _si, shnum in
               list(check_results.corrupt_shares) + list(check_results.incompatible_shares)]
    claimed += [(server, shnum) for server, shnum, _text in check_results.share_problems
                if shnum is not None]
    for server, shnum in claimed:
        serverid = server.get_serverid()
        if shnum not in good.get(serverid, ()):
            bad.setdefault(serverid, set()).add(shnum)
    return good, bad


async def _other_leaves(file, sharemap: dict, made: set, storage_index: bytes, clock,
                        timeout: float) -> dict | None:
    """``{shnum: block-tree root}`` of every share number not in ``made``,
    proven against the file's share root hash, or None if some cannot be
    had.  The download has proven the share-hash chains of the shares it
    read (each chain holds its own leaf and its siblings); the chains of
    the other good shares are read here (one ``get_buckets`` per server and
    one read per share)."""
    tree = file.share_hash_tree
    wanted = [j for j in range(file.n) if j not in made and tree.get_leaf(j) is None]
    by_server: dict = {}
    for j in wanted:
        holders = sorted(sharemap.get(j, ()), key=lambda s: s.get_serverid())
        if not holders or holders[0].get_rref() is None:
            return None
        by_server.setdefault(holders[0], []).append(j)

    async def fetch(server, shnums):
        d = defer.maybeDeferred(call_remote, server.get_rref(), "get_buckets", storage_index)
        buckets = await d.addTimeout(timeout, clock)
        await defer.DeferredList(
            [Share(server, j, buckets[j], storage_index, file, clock, timeout, 0).prepare()
             for j in shnums if j in buckets], consumeErrors=True)

    if by_server:
        await defer.DeferredList([defer.ensureDeferred(fetch(server, shnums))
                                  for server, shnums in by_server.items()],
                                 consumeErrors=True)
    leaves = {}
    for j in range(file.n):
        if j not in made:
            leaf = tree.get_leaf(j)
            if leaf is None:
                return None
            leaves[j] = leaf
    return leaves


async def repair_immutable(verifycap, storage_broker, secret_holder, check_results, *,
                           monitor=None, reactor=None, timeout: float = DEFAULT_TIMEOUT,
                           write_timeout: float = WRITE_TIMEOUT, advised: set | None = None,
                           **download_options) -> RepairResults:
    """Regenerate the share numbers of the CHK file ``verifycap`` that have
    no good copy in ``check_results`` (a check or verify of it), and place
    them.  ``secret_holder`` gives the lease secrets of the new shares.
    Returns :class:`RepairResults`; never writes anything for a file that is
    not recoverable.  ``timeout``: seconds a server gets to answer during
    server selection; ``write_timeout``: to take more of a share (a server
    that does not is dropped, its share not written).  ``download_options``
    go to the ciphertext download (``pipeline_depth``, ``query_timeout``,
    ``read_timeout``...)."""
    vcap = _as_verifycap(verifycap)
    si = vcap.get_storage_index()
    k, n = vcap.needed_shares, vcap.total_shares
    if reactor is None:
        reactor = default_reactor()
    good, bad = _holdings(check_results)
    have = set(check_results.sharemap)
    if len(have) < k:
        return RepairResults(
            storage_index=si, successful=False,
            error="the file is not recoverable: %d good share(s) found, %d needed; "
                  "nothing was written" % (len(have), k))
    if have == set(range(n)):
        return RepairResults(storage_index=si, successful=True,
                             preexisting={shnum: set(s) for shnum, s
                                          in check_results.sharemap.items()},
                             happiness=check_results.count_happiness)
    cost = await _budget.acquire(min(2 * vcap.size + 64 * 1024, REPAIR_COST))
    try:
        return await _repair(vcap, storage_broker, secret_holder, check_results, good, bad,
                             monitor, reactor, timeout, write_timeout, advised,
                             download_options)
    finally:
        _budget.release(cost)


async def _repair(vcap, storage_broker, secret_holder, check_results, good, bad, monitor,
                  reactor, timeout, write_timeout, advised, download_options) -> RepairResults:
    si = vcap.get_storage_index()
    k, n = vcap.needed_shares, vcap.total_shares
    t0 = time.monotonic()
    timings = {}
    node = DownloadNode(si, None, vcap.uri_extension_hash, k, n, vcap.size, storage_broker,
                        reactor=reactor,
                        known_corrupt={(sid, sh) for sid, shs in bad.items() for sh in shs},
                        advised=advised, **download_options)
    stream = _CiphertextStream(si, vcap.size, monitor=monitor)
    reading = node.read(stream, 0, None)
    reading.addBoth(stream.download_ended)
    canary = Referenceable()
    try:
        try:
            await stream.wait_for_data()
        except Exception as e:
            return RepairResults(storage_index=si, successful=False,
                                 error="the file could not be read: %s; nothing was written"
                                 % (e,))
        if monitor is not None:
            monitor.raise_if_cancelled()
        p = node.file.params
        stream.params = (k, 1, n, p.segment_size)
        encoder = Encoder(reactor=reactor, write_timeout=write_timeout)
        await encoder.set_encrypted_uploadable(stream)
        encoder.use_uri_extension(node.file.ueb_bytes)
        # the download checks every segment against the crypttext hash tree:
        # its proven leaves are the segment hashes the encoder would compute
        cht = node.file.crypttext_hash_tree
        encoder.use_checked_ciphertext(
            lambda: [cht.get_leaf(i) for i in range(p.num_segments)])
        ueb_size = encoder.get_uri_extension_size()

        def proxy(rref, server):
            return make_write_bucket_proxy(rref, server, p.share_data_size, p.block_size,
                                           p.num_segments, p.num_share_hashes, ueb_size)
        allocated = proxy(None, None).allocated_size()
        servers = storage_broker.get_servers_for_psi(si)
        considered = servers[:2 * n] + [s for s in servers[2 * n:]
                                        if s.get_serverid() in good
                                        or s.get_serverid() in bad]
        t = time.monotonic()
        try:
            placement = await select_servers(
                storage_broker, si, allocated, k, 1, n,
                lambda serverid: lease_secrets(secret_holder, si, serverid)[0],
                lambda serverid: lease_secrets(secret_holder, si, serverid)[1],
                canary_factory=lambda: canary, timeout=timeout, clock=reactor,
                servers=considered, corrupt=bad)
        except ServerSelectionError as e:
            return RepairResults(storage_index=si, successful=False,
                                 error="no server would take the missing shares: %s" % (e,))
        timings["peer_selection"] = time.monotonic() - t
        if not placement.writers:
            placed_all = set(placement.sharemap()) == set(range(n))
            return RepairResults(
                storage_index=si, successful=placed_all, preexisting=placement.preexisting,
                happiness=placement.happiness,
                error=None if placed_all else "no server would take the missing shares")
        # the block-tree roots of the shares left in place: then only the
        # shares written need to be made (else all N are, as an upload does)
        leaves = await _other_leaves(node.file, check_results.sharemap, set(placement.writers),
                                     si, reactor, timeout)
        if leaves is not None:
            encoder.encode_only(placement.writers, leaves)
        shareholders = {shnum: proxy(rref, server)
                        for shnum, (server, rref) in placement.writers.items()}
        encoder.set_shareholders(shareholders, placement.sharemap())
        t = time.monotonic()
        try:
            ueb_hash, _k, _n, _size = await encoder.start()
        except Exception as e:
            if monitor is not None:
                monitor.raise_if_cancelled()
            return RepairResults(storage_index=si, successful=False,
                                 preexisting=placement.preexisting,
                                 happiness=placement.happiness,
                                 error="the repair failed while writing shares: %s" % (e,))
        timings["encode_and_push"] = time.monotonic() - t
        timings.update(encoder.get_times())
        if node.last_results is not None:
            timings["download"] = dict(node.last_results.timings)
        if ueb_hash != vcap.uri_extension_hash:
            # use_uri_extension makes this impossible; a check that costs nothing
            raise RepairError("the regenerated shares do not match the verify cap")
        written = encoder.get_shares_placed()
        placed = {shnum: server for shnum, (server, _w) in placement.writers.items()
                  if shnum in written}
        final = encoder.get_servermap()
        timings["total"] = time.monotonic() - t0
        ok = set(final) == set(range(n))
        lost = encoder.get_lost_shareholders()
        error = None
        if not ok:
            error = "share(s) %s could not be placed" % ", ".join(
                str(s) for s in sorted(set(range(n)) - set(final)))
            if lost:
                error += " (%s)" % "; ".join("share %d on %s: %s" % (shnum, name, why)
                                             for shnum, (name, why) in sorted(lost.items()))
        log.info("repaired {si}: wrote shares {placed}; {summary}",
                 si=base32.b2a(si)[:10].decode("ascii"),
                 placed=",".join(str(s) for s in sorted(placed)), summary=placement.summary)
        return RepairResults(storage_index=si, successful=ok, placed=placed,
                             preexisting=placement.preexisting,
                             happiness=servers_of_happiness(final), error=error,
                             timings=timings)
    finally:
        stream.stop()
        reading.addErrback(lambda f: None)


async def check_and_repair_immutable(verifycap, storage_broker, secret_holder, *,
                                     verify: bool = False, add_lease: bool = False,
                                     monitor=None, reactor=None,
                                     **options) -> CheckAndRepairResults:
    """Check (or verify) the CHK file of ``verifycap``, repair it if it is
    not healthy, and check it again with the same ``verify`` flag (the
    post-repair results).  No repair for a healthy file (post = pre); for
    an unrecoverable one the repair is attempted in name only: nothing is
    written, ``repair_error`` says why."""
    vcap = _as_verifycap(verifycap)
    advised: set = set()
    check_opts = {key: options[key] for key in ("query_timeout", "read_timeout")
                  if key in options}
    pre = await check_immutable(vcap, storage_broker, verify=verify, add_lease=add_lease,
                                secret_holder=secret_holder, monitor=monitor, reactor=reactor,
                                advised=advised, **check_opts)
    si = vcap.get_storage_index()
    if pre.healthy:
        return CheckAndRepairResults(storage_index=si, pre_repair_results=pre,
                                     post_repair_results=pre, repair_attempted=False,
                                     repair_successful=False)
    if not pre.recoverable:
        return CheckAndRepairResults(
            storage_index=si, pre_repair_results=pre, post_repair_results=pre,
            repair_attempted=True, repair_successful=False,
            repair_error="the file is not recoverable: %d good share(s) found, %d needed; "
                         "nothing was written" % (pre.count_shares_good,
                                                  pre.count_shares_needed))
    if secret_holder is None:
        raise ValueError("a repair needs the client's secret holder (the lease secrets)")
    repair = await repair_immutable(vcap, storage_broker, secret_holder, pre, monitor=monitor,
                                    reactor=reactor, advised=advised, **options)
    post = await check_immutable(vcap, storage_broker, verify=verify, add_lease=False,
                                 secret_holder=secret_holder, monitor=monitor, reactor=reactor,
                                 advised=advised, **check_opts)
    return CheckAndRepairResults(storage_index=si, pre_repair_results=pre,
                                 post_repair_results=post, repair_attempted=True,
                                 repair_successful=repair.successful and post.healthy,
                                 repair_error=repair.error)
