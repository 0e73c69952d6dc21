"""Finding the shares of a file: ``get_buckets`` on the permuted ring.

:class:`SharePool` asks every connected server (in permuted-ring order,
docs/specifications/servers.md §3) which shares of the storage index it holds, and collects a
:class:`~.share.Share` for each answer.  Answers keep arriving after the
download has started; the segment fetcher draws from the pool and, when it
runs short, waits for queries still outstanding before giving up.

The pool also chooses which ``k`` shares to read for a segment
(:meth:`SharePool.choose`) and keeps the per-server problems that end up in
:class:`NotEnoughSharesError` messages and the download results.
"""

import time

from twisted.internet import defer
from twisted.logger import Logger

from ...util import base32
from ...util.rrefutil import call_remote
from .errors import NoSharesError, NotEnoughSharesError
from .share import (
    CORRUPT,
    SERVER,
    WHOLE_TREE_LIMIT,
    LayoutGuess,
    ServerQuery,
    Share,
    ShareFailure,
    classify,
)

log = Logger()


class SharePool:
    """The shares of one file found so far, and the servers' problems."""

    def __init__(self, storage_broker, storage_index: bytes, file_hashes, clock, results,
                 query_timeout: float = 15.0, read_timeout: float = 60.0,
                 ready_grace: float = 0.5, known_corrupt=frozenset(), advised=None,
                 tree_cache=None, whole_tree_limit: int = WHOLE_TREE_LIMIT,
                 first_offset: int = 0):
        self._broker = storage_broker
        self.storage_index = storage_index
        self.file = file_hashes
        self._clock = clock
        self._results = results
        self._query_timeout = query_timeout
        self._read_timeout = read_timeout
        self._ready_grace = ready_grace
        self._known_corrupt = set(known_corrupt)
        self._advised = advised if advised is not None else set()
        self._tree_cache = tree_cache if tree_cache is not None else {}
        self._whole_tree_limit = whole_tree_limit
        self._guess = LayoutGuess.for_read(file_hashes, first_offset, whole_tree_limit)
        self.shares: list[Share] = []
        self.problems: dict[str, list[str]] = {}
        self.servers_asked = 0
        self.pending = 0
        self._waiters: list = []
        self._started = False
        self.started_at = None
        self.ready_at = None

    # ---- finding ----------------------------------------------------------------------
    def start(self) -> None:
        """Send ``get_buckets`` to every connected server, once."""
        if self._started:
            return
        self._started = True
        self.started_at = time.monotonic()
        servers = self._broker.get_servers_for_psi(self.storage_index)
        self.servers_asked = len(servers)
        for rank, server in enumerate(servers):
            rref = server.get_rref()
            if rref is None:
                self.add_problem(server, "not connected")
                continue
            self.pending += 1
            t0 = time.monotonic()
            d = defer.maybeDeferred(call_remote, rref, "get_buckets", self.storage_index)
            if self._query_timeout:
                d.addTimeout(self._query_timeout, self._clock)
            d.addCallback(self._got_buckets, server, rank, t0)
            d.addErrback(self._query_failed, server)  # also a malformed answer
            d.addBoth(self._query_done)

    def _got_buckets(self, buckets, server, rank, t0):
        serverid = server.get_serverid()
        self._results.add_query(serverid, t0, time.monotonic())
        for shnum, rref in sorted(buckets.items()):
            if not isinstance(shnum, int) or not 0 <= shnum < self.file.n:
                self.add_problem(server, "announced share number %r outside 0..%d"
                                 % (shnum, self.file.n - 1))
                continue
            self._results.add_share(serverid, shnum)
            share = Share(server, shnum, rref, self.storage_index, self.file, self._clock,
                          self._read_timeout, rank, self._tree_cache, self._whole_tree_limit,
                          self._guess)
            # a share an earlier read found corrupt is used only as a last resort
            share.suspect = (serverid, shnum) in self._known_corrupt
            self.shares.append(share)
            if shnum < self.file.k and not share.suspect and self._guess is not None:
                # a primary share is what the first segment will most likely
                # be read from: start reading it now, before the other
                # servers answered (one round trip for header, hashes, UEB
                # and first block; header and block only when an earlier
                # read of this node validated the share's block hash tree)
                share.prefetch(self._guess.segnum)

    def _query_failed(self, failure, server):
        f = classify(ServerQuery(server, self._query_timeout), failure.value, "list of shares")
        self.add_problem(server, "get_buckets: %s" % f.text)

    def _query_done(self, _):
        self.pending -= 1
        self._wake()

    # ---- waiting ----------------------------------------------------------------------
    def _wake(self):
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    def wait_for_change(self):
        """Deferred fired when a query answers (or fails)."""
        d = defer.Deferred()
        self._waiters.append(d)
        return d

    async def wait_ready(self) -> None:
        """Wait until the pool is worth starting with: every query answered,
        or all primary shares (0..k-1) found, or k distinct shares found and
        ``ready_grace`` seconds passed since then (a slow server holding a
        primary share should not hold up the start for long)."""
        k = self.file.k
        timer = deadline = None
        try:
            while self.pending:
                shnums = self.usable_shnums()
                if all(i in shnums for i in range(k)):
                    break
                if len(shnums) >= k:
                    if timer is None:
                        deadline = self._clock.seconds() + self._ready_grace
                        timer = self._clock.callLater(self._ready_grace, self._wake)
                    elif self._clock.seconds() >= deadline:
                        break
                await self.wait_for_change()
        finally:
            if timer is not None and timer.active():
                timer.cancel()
        self.ready_at = time.monotonic()

    # ---- choosing ---------------------------------------------------------------------
    def usable_shares(self) -> list[Share]:
        return [s for s in self.shares if s.usable]

    def usable_shnums(self) -> set:
        return {s.shnum for s in self.shares if s.usable}

    def choose(self, count: int, exclude_shnums=()) -> list[Share]:
        """Up to ``count`` usable shares with distinct share numbers (none of
        ``exclude_shnums``): primary shares (shnum < k, decoding is then a
        copy) first, then shares on servers not already in use, then the
        earliest servers of the permuted ring; shares that an earlier read
        found corrupt come last of all.  Deterministic, so a download
        keeps reading the same shares while they work."""
        k = self.file.k
        taken_shnums = set(exclude_shnums)
        candidates = sorted(self.usable_shares(),
                            key=lambda s: (s.suspect, s.shnum >= k, s.server_rank, s.shnum))
        chosen = []
        busy_servers = set()
        for want_primary in (True, False):
            for allow_busy in (False, True):
                for s in candidates:
                    if len(chosen) >= count:
                        return chosen
                    if s.shnum in taken_shnums or (s.shnum < k) != want_primary:
                        continue
                    if s.serverid in busy_servers and not allow_busy:
                        continue
                    chosen.append(s)
                    taken_shnums.add(s.shnum)
                    busy_servers.add(s.serverid)
        return chosen

    # ---- failures ---------------------------------------------------------------------
    def add_problem(self, server, text: str) -> None:
        self.problems.setdefault(server.get_name(), []).append(text)
        self._results.add_problem(server.get_serverid(), text)
        log.info("download of {si}: server {server}: {text}",
                 si=base32.b2a(self.storage_index)[:10], server=server.get_name(), text=text)

    def share_failed(self, failure: ShareFailure) -> None:
        """Drop a share (or, for a lost server, every share on it)."""
        share = failure.share
        if not share.usable:
            return
        share.fail(failure)
        if failure.kind == SERVER:
            self.add_problem(share.server, failure.text)
        else:
            self.add_problem(share.server, "share %d: %s" % (share.shnum, failure.text))
        if failure.kind == CORRUPT:
            key = (share.serverid, share.shnum)
            self._known_corrupt.add(key)
            if key not in self._advised:
                self._advised.add(key)
                share.advise_corrupt(failure.text)
        elif failure.kind == SERVER:
            for other in self.shares:
                if other.serverid == share.serverid and other.usable:
                    other.fail(failure)

    @property
    def known_corrupt(self) -> set:
        return set(self._known_corrupt)

    # ---- giving up --------------------------------------------------------------------
    def unrecoverable(self):
        """The error to raise when fewer than k usable shares remain."""
        k = self.file.k
        si = base32.b2a(self.storage_index).decode("ascii")
        if not self.shares:
            if self.servers_asked == 0:
                msg = ("no storage servers are connected, so no share of file %s can be "
                       "found (%d needed)" % (si, k))
            else:
                msg = ("no shares of file %s were found on any of the %d servers asked "
                       "(%d needed)" % (si, self.servers_asked, k))
            return NoSharesError(msg, self.storage_index, k, 0, 0, self.problems)
        good = [s for s in self.shares if s.usable]
        good_shnums = {s.shnum for s in good}
        good_servers = {s.serverid for s in good}
        found_shnums = {s.shnum for s in self.shares}
        found_servers = {s.serverid for s in self.shares}
        msg = ("not enough good shares of file %s: %d good share%s found on %d server%s, "
               "but %d are needed (%d share%s found in all, on %d of the %d servers asked)"
               % (si, len(good_shnums), "" if len(good_shnums) == 1 else "s",
                  len(good_servers), "" if len(good_servers) == 1 else "s", k,
                  len(found_shnums), "" if len(found_shnums) == 1 else "s",
                  len(found_servers), self.servers_asked))
        return NotEnoughSharesError(msg, self.storage_index, k, len(good_shnums),
                                    len(good_servers), self.problems)
