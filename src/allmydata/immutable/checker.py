"""Checking and verifying an immutable (CHK) file from its verify cap.

:func:`check_immutable` asks every connected server of the storage index
which shares it holds (``get_buckets``, each with a timeout), and, with
``add_lease``, adds or renews this client's lease on them (``add_lease``
with the per-server secrets of docs/specifications/encodings.md §4.3).

A plain check believes the servers.  A *verify* also reads every byte of
every share it was told about and checks it against the verify cap, with
the downloader's own pieces (:class:`~.download.share.Share` for the
header, the UEB against the cap's UEB hash, the share-hash chain against the
UEB's share root and the whole block hash tree;
:class:`~.download.validation.FileHashes` for the trees): then the
share's copy of the crypttext hash tree against the UEB's crypttext root,
and each block against its leaf of the block hash tree.  A share that fails
any of it is *corrupt*: it is listed in ``corrupt_shares``, is not counted
as good, and is reported to its server once with ``advise_corrupt_share``.
A share that cannot be read (the server answers an error, or nothing within
the timeout) is not good either, and the report says why.

Blocks are read in spans of whole blocks (about :data:`SPAN_BYTES` each),
:data:`SPANS_IN_FLIGHT` spans per share and :data:`PARALLEL_SHARES` shares
at a time, and hashed in worker threads.  Every share being verified holds
a part of one budget of :data:`VERIFY_MEMORY` bytes shared by all the
verifies of the process (a deep-check verifies several files at once): the
memory verifying needs does not grow with the size or the number of the
files (only the hash trees grow, at 64 bytes per segment).

The results follow Tahoe-LAFS 1.20: healthy when all N share numbers have a
good copy, recoverable with at least k; happiness is the maximum matching of
share numbers to servers (:func:`~.happiness.servers_of_happiness`).
"""

from __future__ import annotations

import time
from collections import deque

from twisted.internet import defer, threads
from twisted.logger import Logger

from .. import uri
from ..check_results import CheckResults
from ..hashtree import BadHashError, IncompleteHashTree, NotEnoughHashesError
from ..monitor import OperationCancelledError
from ..storage.limits import MAX_CORRUPTION_REASON
from ..util import base32, hashutil
from ..util.budget import ByteBudget
from ..util.default_reactor import default_reactor
from ..util.rrefutil import call_remote
from .download.share import (
    CORRUPT, INCOMPATIBLE, LayoutGuess, ServerQuery, Share, ShareFailure, classify,
)
from .download.validation import FileHashes
from .happiness import servers_of_happiness

__all__ = ["check_immutable", "QUERY_TIMEOUT", "READ_TIMEOUT", "lease_secrets"]

log = Logger()

#: Seconds a server gets to answer ``get_buckets`` or ``add_lease``.
QUERY_TIMEOUT = 15.0
#: Seconds a server gets to answer one read of a verify.
READ_TIMEOUT = 60.0
#: Bytes of blocks asked for in one read of a verify (whole blocks, at least one).
SPAN_BYTES = 512 * 1024
#: Reads of one share in flight at once during a verify.
SPANS_IN_FLIGHT = 2
#: Shares verified at the same time (all of a usual file's: a small file is
#: then verified in two round trips after get_buckets).
PARALLEL_SHARES = 10
#: Bytes of share data all the verifies of this process may hold at once.
VERIFY_MEMORY = 32 * 1024 * 1024
#: A verify reads a share's hash trees whole, whatever their size.
_WHOLE = 2**62
#: Spans smaller than this are hashed in the reactor thread (a thread hop
#: costs more than the hashing).
_THREAD_THRESHOLD = 64 * 1024


def lease_secrets(secret_holder, storage_index: bytes, serverid: bytes) -> tuple:
    """``(renew, cancel)``: this client's lease secrets for the shares of
    ``storage_index`` on the server ``serverid`` (encodings.md §4.3), the
    same the uploader gives ``allocate_buckets``."""
    renew = hashutil.file_renewal_secret_hash(secret_holder.get_renewal_secret(), storage_index)
    cancel = hashutil.file_cancel_secret_hash(secret_holder.get_cancel_secret(), storage_index)
    return (hashutil.bucket_renewal_secret_hash(renew, serverid),
            hashutil.bucket_cancel_secret_hash(cancel, serverid))


def _as_verifycap(verifycap):
    if isinstance(verifycap, (bytes, str)):
        verifycap = uri.from_string(verifycap)
    if isinstance(verifycap, uri.CHKFileURI):
        verifycap = verifycap.get_verifier()
    if not isinstance(verifycap, uri.CHKFileVerifierURI):
        raise TypeError("check_immutable needs a URI:CHK-Verifier: cap, got %r" % (verifycap,))
    return verifycap


#: the budget of all the verifies of this process
_budget = ByteBudget(VERIFY_MEMORY)


def _timed(d, seconds, clock):
    if seconds:
        d.addTimeout(seconds, clock)
    return d


def _hash_blocks(blocks, first: int, leaves) -> int | None:
    """The number of the first block whose hash is not its leaf, or None."""
    for i, data in enumerate(blocks):
        if hashutil.block_hash(data) != leaves[i]:
            return first + i
    return None


class _ServerState:
    """What one server said during a check."""

    def __init__(self, server, rank: int):
        self.server = server
        self.rank = rank
        self.responded = False
        self.buckets: dict = {}      # shnum -> RIBucketReader rref, as claimed
        self.good: set = set()
        self.corrupt: set = set()
        self.incompatible: set = set()


class _Check:
    def __init__(self, verifycap, broker, verify, add_lease, secret_holder, monitor, clock,
                 query_timeout, read_timeout, advised, use_threads):
        self.vcap = verifycap
        self.si = verifycap.get_storage_index()
        self.broker = broker
        self.verify = verify
        self.add_lease = add_lease
        self.secret_holder = secret_holder
        self.monitor = monitor
        self.clock = clock
        self.query_timeout = query_timeout
        self.read_timeout = read_timeout
        self.advised = advised if advised is not None else set()
        self.use_threads = use_threads and hasattr(clock, "getThreadPool")
        self.file = FileHashes(None, verifycap.uri_extension_hash, verifycap.needed_shares,
                               verifycap.total_shares, verifycap.size)
        self.slots = defer.DeferredSemaphore(PARALLEL_SHARES)
        self.states: list[_ServerState] = []
        self.problems: list = []    # (server, shnum or None, text)
        self.advisories: list = []  # Deferreds of the advise_corrupt_share calls

    def _cancelled(self) -> None:
        if self.monitor is not None:
            self.monitor.raise_if_cancelled()

    def problem(self, server, shnum, text: str) -> None:
        self.problems.append((server, shnum, text))
        log.info("check of {si}: server {server}{share}: {text}",
                 si=base32.b2a(self.si)[:10].decode("ascii"), server=server.get_name(),
                 share="" if shnum is None else " share %d" % shnum, text=text)

    async def run(self) -> CheckResults:
        self._cancelled()
        servers = self.broker.get_servers_for_psi(self.si)
        self.states = [_ServerState(s, rank) for rank, s in enumerate(servers)]
        outcomes = await defer.DeferredList(
            [defer.ensureDeferred(self._one_server(st)) for st in self.states],
            consumeErrors=True)
        for st, (ok, value) in zip(self.states, outcomes):
            if not ok:
                if value.check(Exception) and not _is_cancel(value.value):
                    self.problem(st.server, None, "the check failed: %s" % (value.value,))
                else:
                    value.raiseException()
        self._cancelled()
        return self._results()

    # ---- one server ----------------------------------------------------------------------
    async def _one_server(self, st: _ServerState) -> None:
        server = st.server
        rref = server.get_rref()
        if rref is None:
            self.problem(server, None, "not connected")
            return
        self._cancelled()
        lease = None
        if self.add_lease:
            renew, cancel = lease_secrets(self.secret_holder, self.si, server.get_serverid())
            lease = _timed(defer.maybeDeferred(call_remote, rref, "add_lease", self.si,
                                               renew, cancel), self.query_timeout, self.clock)
            lease.addErrback(self._lease_failed, server)
        try:
            buckets = await _timed(defer.maybeDeferred(call_remote, rref, "get_buckets",
                                                       self.si),
                                   self.query_timeout, self.clock)
        except Exception as e:
            f = classify(ServerQuery(server, self.query_timeout), e, "list of shares")
            self.problem(server, None, "get_buckets: %s" % f.text)
            buckets = None
        finally:
            if lease is not None:
                await lease
        if buckets is None:
            return
        if not isinstance(buckets, dict):
            self.problem(server, None, "get_buckets answered %s, not a dict"
                         % type(buckets).__name__)
            return
        st.responded = True
        n = self.vcap.total_shares
        for shnum, bucket in sorted(buckets.items(), key=lambda kv: repr(kv[0])):
            if not isinstance(shnum, int) or isinstance(shnum, bool) or not 0 <= shnum < n:
                self.problem(server, None, "announced share number %r outside 0..%d"
                             % (shnum, n - 1))
                continue
            st.buckets[shnum] = bucket
        if not self.verify:
            st.good = set(st.buckets)
            return
        await _all([defer.ensureDeferred(self._verify_share(st, shnum, bucket))
                    for shnum, bucket in sorted(st.buckets.items())])

    def _lease_failed(self, f, server):
        # a server that refuses or cannot add a lease does not spoil the check
        self.problem(server, None, "add_lease: %s" % (f.value,))
        return None

    # ---- verifying one share -----------------------------------------------------------
    async def _verify_share(self, st: _ServerState, shnum: int, bucket) -> None:
        await self.slots.acquire()
        # what this share's reads may hold at once: its spans, or all of its
        # data when that is less (small files cost next to nothing)
        share_data = -(-self.vcap.size // self.vcap.needed_shares)
        cost = await _budget.acquire(min(SPANS_IN_FLIGHT * SPAN_BYTES, share_data) + 4096)
        try:
            self._cancelled()
            share = Share(st.server, shnum, bucket, self.si, self.file, self.clock,
                          self.read_timeout, st.rank, {}, _WHOLE,
                          LayoutGuess.for_read(self.file, 0, _WHOLE))
            try:
                await self._read_and_check(share)
            except ShareFailure as f:
                self._share_failed(st, share, f)
            except Exception as e:
                if _is_cancel(e):
                    raise
                self._share_failed(st, share, classify(share, e, "share"))
            else:
                st.good.add(shnum)
        finally:
            _budget.release(cost)
            self.slots.release()

    def _share_failed(self, st: _ServerState, share: Share, f: ShareFailure) -> None:
        shnum = share.shnum
        if f.kind == INCOMPATIBLE:
            st.incompatible.add(shnum)
            self.problem(st.server, shnum, "incompatible: %s" % f.text)
        elif f.kind == CORRUPT:
            st.corrupt.add(shnum)
            self.problem(st.server, shnum, "corrupt: %s" % f.text)
            self._advise(st.server, shnum, f.text)
        else:
            self.problem(st.server, shnum, "could not be verified: %s" % f.text)

    def _advise(self, server, shnum: int, reason: str) -> None:
        key = (server.get_serverid(), shnum)
        if key in self.advised:
            return
        self.advised.add(key)
        text = ("immutable checker: share %d of storage index %s is corrupt: %s"
                % (shnum, base32.b2a(self.si).decode("ascii"), reason)).encode("utf-8")
        text = text[:MAX_CORRUPTION_REASON]
        rref = server.get_rref()
        if rref is None:
            return
        d = _timed(defer.maybeDeferred(call_remote, rref, "advise_corrupt_share", b"immutable",
                                       self.si, shnum, text), self.query_timeout, self.clock)
        d.addErrback(lambda f: log.info("could not report corrupt share {shnum} to {server}: "
                                        "{why}", shnum=shnum, server=server.get_name(),
                                        why=f.value))
        self.advisories.append(d)

    async def _read_and_check(self, share: Share) -> None:
        # header with block 0 behind it, and the span of hash trees and UEB,
        # in one round trip; then the UEB against the cap, the share-hash
        # chain and the whole block hash tree
        share.prefetch(0)
        await share.prepare(0)
        params = self.file.params
        lay = share.proxy.layout
        tree_bytes = share.cached_region(lay.crypttext_hash_tree,
                                         lay.block_hashes - lay.crypttext_hash_tree)
        block0 = share.take_prefetched_block(0)
        work = [defer.ensureDeferred(self._check_crypttext_tree(share, tree_bytes))]
        # every block, against the block hash tree, in spans of whole blocks
        first = 0
        if block0 is not None:
            if hashutil.block_hash(block0) != share.block_leaf(0):
                raise ShareFailure(share, CORRUPT, "block 0 does not match its hash in the "
                                   "share's block hash tree")
            first = 1
        per_span = max(1, SPAN_BYTES // max(params.block_size, 1))
        spans = [(start, min(start + per_span, params.num_segments))
                 for start in range(first, params.num_segments, per_span)]
        work.append(defer.ensureDeferred(self._check_spans(share, lay, spans)))
        await _all(work)

    async def _check_crypttext_tree(self, share: Share, data) -> None:
        """This share's copy of the crypttext hash tree, whole, against the
        UEB's root."""
        if data is not None:
            hashes = [data[i:i + 32] for i in range(0, len(data), 32)]
        else:
            hashes = await share.get_whole_crypttext_tree()
        tree = IncompleteHashTree(self.file.params.num_segments)
        tree.set_hashes(hashes={0: self.file.ueb["crypttext_root_hash"]})
        try:
            tree.set_hashes(hashes=dict(enumerate(hashes)))
        except (BadHashError, NotEnoughHashesError, IndexError) as e:
            raise ShareFailure(share, CORRUPT, "its crypttext hash tree does not match the "
                               "root in the URI extension block: %s" % (e,))

    async def _check_spans(self, share: Share, lay, spans) -> None:
        """Read and check the spans in order, the next one asked for as soon
        as one of the :data:`SPANS_IN_FLIGHT` outstanding is done."""
        inflight = deque()
        try:
            for first, end in spans:
                if len(inflight) >= SPANS_IN_FLIGHT:
                    await inflight.popleft()
                self._cancelled()
                inflight.append(defer.ensureDeferred(self._check_span(share, lay, first, end)))
            while inflight:
                await inflight.popleft()
        finally:
            for d in inflight:
                d.addErrback(lambda f: None)  # abandoned after a failure

    async def _check_span(self, share: Share, lay, first: int, end: int) -> None:
        params = self.file.params
        bs = params.block_size
        offset = lay.data + first * bs
        lengths = [params.block_length(s) for s in range(first, end)]
        length = sum(lengths)
        what = "blocks %d-%d" % (first, end - 1) if end - first > 1 else "block %d" % first
        if offset + length > lay.plaintext_hash_tree:
            raise ShareFailure(share, CORRUPT, "%s (%d bytes at %d) lie outside its %d-byte "
                               "data region" % (what, length, first * bs,
                                                lay.plaintext_hash_tree - lay.data))
        data = await share.read_region(offset, length, what)
        view = memoryview(data)
        blocks, pos = [], 0
        for n in lengths:
            blocks.append(view[pos:pos + n])
            pos += n
        leaves = [share.block_leaf(s) for s in range(first, end)]
        if self.use_threads and length >= _THREAD_THRESHOLD:
            bad = await threads.deferToThreadPool(self.clock, self.clock.getThreadPool(),
                                                  _hash_blocks, blocks, first, leaves)
        else:
            bad = _hash_blocks(blocks, first, leaves)
        if bad is not None:
            raise ShareFailure(share, CORRUPT, "block %d does not match its hash in the "
                               "share's block hash tree" % bad)

    # ---- the results -------------------------------------------------------------------
    def _results(self) -> CheckResults:
        vcap = self.vcap
        k, n = vcap.needed_shares, vcap.total_shares
        sharemap: dict = {}
        corrupt, incompatible, responding = [], [], []
        for st in self.states:
            for shnum in st.good:
                sharemap.setdefault(shnum, set()).add(st.server)
            corrupt += [(st.server, self.si, shnum) for shnum in sorted(st.corrupt)]
            incompatible += [(st.server, self.si, shnum) for shnum in sorted(st.incompatible)]
            if st.responded:
                responding.append(st.server)
        good = len(sharemap)
        hosts = len([st for st in self.states if st.good])
        healthy = good == n
        recoverable = good >= k
        happiness = servers_of_happiness({shnum: {s.get_serverid() for s in servers}
                                          for shnum, servers in sharemap.items()})
        if healthy:
            summary = "Healthy"
        else:
            summary = "Not Healthy: %d shares (enc %d-of-%d)" % (good, k, n)
        report = ["%s: %d of the %d shares have a good copy (%d needed), on %d server(s); "
                  "servers-of-happiness %d; %d of %d server(s) answered"
                  % ("Verified" if self.verify else "Checked", good, n, k, hosts, happiness,
                     len(responding), len(self.states))]
        for st in self.states:
            held = sorted(set(st.buckets))
            if held:
                parts = ["holds sh" + ",".join(map(str, held))]
                if self.verify:
                    bad = sorted(set(held) - st.good)
                    if bad:
                        parts.append("not good: sh" + ",".join(map(str, bad)))
                report.append("server %s: %s" % (st.server.get_name(), "; ".join(parts)))
        for server, shnum, text in self.problems:
            report.append("server %s%s: %s" % (server.get_name(),
                                               "" if shnum is None else " share %d" % shnum,
                                               text))
        return CheckResults(
            uri=vcap.to_string(), storage_index=self.si, healthy=healthy,
            recoverable=recoverable, count_happiness=happiness, count_shares_needed=k,
            count_shares_expected=n, count_shares_good=good, count_good_share_hosts=hosts,
            count_recoverable_versions=int(recoverable),
            count_unrecoverable_versions=int(not recoverable),
            servers_responding=responding, sharemap=sharemap, count_wrong_shares=0,
            corrupt_shares=corrupt, incompatible_shares=incompatible, summary=summary,
            report=report, share_problems=list(self.problems), servermap=None,
            # more servers answered than are credited with a distinct share,
            # and more share numbers exist than that: moving shares would
            # make the file survive the loss of more servers
            needs_rebalancing_p=happiness < min(good, len(responding)))


def _is_cancel(e) -> bool:
    return isinstance(e, OperationCancelledError)


async def _all(ds) -> None:
    """Wait for every Deferred, then raise the first failure."""
    results = await defer.DeferredList(ds, consumeErrors=True)
    for ok, value in results:
        if not ok:
            value.raiseException()


async def check_immutable(verifycap, storage_broker, *, verify: bool = False,
                          add_lease: bool = False, secret_holder=None, monitor=None,
                          reactor=None, query_timeout: float = QUERY_TIMEOUT,
                          read_timeout: float = READ_TIMEOUT, advised: set | None = None,
                          use_threads: bool = True) -> CheckResults:
    """Check (or, with ``verify``, verify) the CHK file of ``verifycap``
    (a ``URI:CHK-Verifier:``; a read cap is reduced to its verify cap).

    ``add_lease`` adds or renews this client's lease on every share of the
    file (``secret_holder`` gives the lease secrets; a ValueError without
    it); a server that refuses does not change the results.  ``monitor``
    is asked before every new request whether the operation was cancelled.
    ``reactor`` is the clock of the timeouts and the thread pool of the
    hashing; ``advised`` is a set of ``(serverid, shnum)`` already reported
    corrupt (and gets those reported now), so that a check and a re-check
    report a share once.
    """
    verifycap = _as_verifycap(verifycap)
    if add_lease and secret_holder is None:
        raise ValueError("add_lease needs the client's secret holder (the lease secrets)")
    if reactor is None:
        reactor = default_reactor()
    check = _Check(verifycap, storage_broker, verify, add_lease, secret_holder, monitor,
                   reactor, query_timeout, read_timeout, advised, use_threads)
    t0 = time.monotonic()
    results = await check.run()
    if check.advisories:
        await defer.DeferredList(check.advisories, consumeErrors=True)
    log.debug("check of {si} took {t:.3f}s: {summary}",
              si=base32.b2a(check.si)[:10].decode("ascii"), t=time.monotonic() - t0,
              summary=results.summary)
    return results
