"""Choosing the storage servers of an immutable upload (docs/specifications/servers.md §5).

:func:`select_servers` takes the first ``2N`` servers of the permuted ring,
asks those that cannot take shares (``get_buckets``) which shares of the
storage index they already hold, computes a placement with
:func:`~.happiness.share_placement`, and asks each writable server, with one
``allocate_buckets`` call, for the shares placed on it; its answer also says
which shares it holds already, and the next round's placement uses that.  A server that fails
or accepts none of what it was asked for is treated as read-only from then
on, and the placement is computed again, until every share has a place, or
nothing more can be gained.  The answer is a :class:`Placement`: the bucket
writers obtained, the shares found already on servers, and the happiness they
reach together.  When that happiness is below ``shares.happy``, every writer
obtained is aborted (the servers delete the partial shares) and
:class:`UploadUnhappinessError` says what each server answered.

Every remote call goes through ``call_remote`` and is given up after
``timeout`` seconds (15 s, as Tahoe-LAFS clients do); a bucket writer that
arrives after its call was given up is aborted at once.
"""

from __future__ import annotations

from collections.abc import Callable

import attr
from foolscap.api import Referenceable
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..util import base32
from ..util.default_reactor import default_reactor
from ..util.rrefutil import RemoteException, call_remote
from .happiness import servers_of_happiness, share_placement

__all__ = [
    "DEFAULT_TIMEOUT",
    "NoAnswerError",
    "Placement",
    "ServerSelectionError",
    "UploadUnhappinessError",
    "max_immutable_share_size",
    "select_servers",
]

log = Logger()

STORAGE_V1 = b"http://allmydata.org/tahoe/protocols/storage/v1"
#: what a server that does not announce a limit is assumed to accept
#: (docs/specifications/storage-protocol.md §5)
OLD_SERVER_MAX_IMMUTABLE_SHARE_SIZE = 2**32 - 1
DEFAULT_TIMEOUT = 15.0

# what became of a server during selection
WRITABLE, READONLY, FULL, FAILED = "writable", "read-only", "full", "failed"


class ServerSelectionError(Exception):
    """Server selection for an upload could not be done."""


class NoAnswerError(ServerSelectionError):
    """A storage server did not answer in time."""


class UploadUnhappinessError(ServerSelectionError):
    """The shares could not be spread over enough distinct servers.

    Attributes: ``happiness`` (reached), ``wanted`` (``shares.happy``),
    ``servers_found`` (connected servers), ``servers_queried``, and
    ``servers``: ``[(name, state, reason)]`` for every server queried, state
    being ``"writable"``, ``"read-only"``, ``"full"`` or ``"failed"``.
    """

    def __init__(self, message: str, happiness: int = 0, wanted: int = 0,
                 servers_found: int = 0, servers_queried: int = 0, servers=()):
        ServerSelectionError.__init__(self, message)
        self.happiness = happiness
        self.wanted = wanted
        self.servers_found = servers_found
        self.servers_queried = servers_queried
        self.servers = list(servers)


def max_immutable_share_size(version: dict | None) -> int:
    """The largest immutable share a server announces it will take."""
    v1 = (version or {}).get(STORAGE_V1) or {}
    size = v1.get(b"maximum-immutable-share-size")
    return OLD_SERVER_MAX_IMMUTABLE_SHARE_SIZE if size is None else int(size)


@attr.s(eq=False)
class Placement:
    """The outcome of a successful server selection.

    * ``writers``: ``{shnum: (server, RIBucketWriter rref)}`` for the shares
      to upload now (freshly allocated, empty);
    * ``preexisting``: ``{shnum: set(server)}`` for the complete shares the
      servers already hold (their leases were renewed);
    * ``happiness``: the servers-of-happiness of both together;
    * ``canary``: the Referenceable sent with ``allocate_buckets``; keep this
      object alive until every writer is closed;
    * ``servers``: ``[(server, state, reason)]`` for every server queried.
    """

    storage_index: bytes = attr.ib()
    writers: dict = attr.ib()
    preexisting: dict = attr.ib()
    happiness: int = attr.ib()
    wanted: int = attr.ib()
    canary: object = attr.ib(repr=False)
    servers_found: int = attr.ib()
    servers: list = attr.ib(factory=list, repr=False)
    _timeout: float = attr.ib(default=DEFAULT_TIMEOUT, repr=False)
    _clock: object = attr.ib(default=None, repr=False)

    def sharemap(self) -> dict:
        """``{shnum: set(serverid)}``: where each share is or will be."""
        result: dict = {}
        for shnum, holders in self.preexisting.items():
            result.setdefault(shnum, set()).update(s.get_serverid() for s in holders)
        for shnum, (server, _writer) in self.writers.items():
            result.setdefault(shnum, set()).add(server.get_serverid())
        return result

    @property
    def summary(self) -> str:
        """One line for people: what goes where, and what the servers said."""
        uploading = {}
        for shnum, (server, _writer) in sorted(self.writers.items()):
            uploading.setdefault(server.get_name(), []).append(shnum)
        already = {}
        for shnum, holders in sorted(self.preexisting.items()):
            for server in holders:
                already.setdefault(server.get_name(), []).append(shnum)
        parts = ["servers-of-happiness %d (wanted %d)" % (self.happiness, self.wanted)]
        if uploading:
            parts.append("uploading " + _by_server(uploading))
        if already:
            parts.append("already there " + _by_server(already))
        parts.append(_server_counts(self.servers_found, self.servers))
        return "; ".join(parts)

    async def abort(self) -> None:
        """Abort every writer (the servers delete the partial shares); a server
        that does not answer within the selection's timeout is left alone."""
        await _abort_writers([w for _server, w in self.writers.values()], self._timeout,
                             self._clock)
        self.writers.clear()


def _by_server(shares_by_name: dict) -> str:
    return ", ".join("%s: sh%s" % (name, ",".join(map(str, shnums)))
                     for name, shnums in shares_by_name.items())


def _server_counts(found: int, servers) -> str:
    text = "%d server(s) connected, %d queried" % (found, len(servers))
    for state in (READONLY, FULL, FAILED):
        names = [server.get_name() for server, s, _reason in servers if s == state]
        if names:
            text += ", %d %s (%s)" % (len(names), state, ", ".join(names))
    return text


class _Candidate:
    """One server during selection: what it holds, what it gave us, and how
    it behaved."""

    def __init__(self, server, allocated_size: int):
        self.server = server
        self.serverid = server.get_serverid()
        self.name = server.get_name()
        self.rref = server.get_rref()
        self.held: set[int] = set()  # complete shares it holds
        # of which bad copies (a repair): neither counted nor asked for
        self.bad: set[int] = set()
        self.writers: dict = {}  # shnum -> RIBucketWriter rref
        self.asked: set[int] = set()  # shares it was asked to allocate
        self.renewed = False  # has had an allocate_buckets call (lease renewal)
        self.state, self.reason = WRITABLE, ""
        # a server that could not say what it holds gets no part in the upload;
        # one that fails later keeps what it holds, as a read-only server
        self.excluded = False
        limit = max_immutable_share_size(server.get_version())
        if self.rref is None:
            self.exclude("not connected")
        elif limit < allocated_size:
            self.set_state(READONLY, "takes shares of at most %d bytes, this upload needs %d"
                           % (limit, allocated_size))

    def set_state(self, state: str, reason: str) -> None:
        self.state, self.reason = state, reason

    def exclude(self, reason: str) -> None:
        self.set_state(FAILED, reason)
        self.excluded = True

    @property
    def writable(self) -> bool:
        return self.state == WRITABLE

    def report(self) -> tuple:
        if self.state != WRITABLE:
            return (self.server, self.state, self.reason)
        said = []
        if self.writers:
            said.append("accepted " + _shares(self.writers))
        if self.held:
            said.append("already holds " + _shares(self.held))
        return (self.server, self.state, "; ".join(said) or "was given no share")


def _shares(shnums) -> str:
    return "sh" + ",".join(map(str, sorted(shnums)))


async def select_servers(storage_broker, storage_index: bytes, allocated_size: int,
                         k: int, happy: int, n: int,
                         renew_secret_for: Callable[[bytes], bytes],
                         cancel_secret_for: Callable[[bytes], bytes],
                         canary_factory: Callable[[], object] | None = None,
                         timeout: float = DEFAULT_TIMEOUT, clock=None,
                         servers=None, corrupt=None) -> Placement:
    """Find homes for the ``n`` shares of ``storage_index`` (docs/specifications/servers.md §5).

    ``allocated_size`` is the size of one share as the layout writes it;
    ``renew_secret_for(serverid)`` / ``cancel_secret_for(serverid)`` give the
    lease secrets for each server; ``canary_factory()`` makes the one canary
    of this upload (a plain ``Referenceable`` by default).  ``clock`` is an
    ``IReactorTime`` for the timeouts (the global reactor if None).

    A repair passes ``servers``, the servers to consider (default: the
    first ``2N`` of the permuted ring), and ``corrupt``, ``{serverid:
    shares}`` of which the server holds a corrupt copy: such a copy does
    not count as a share in place, and that share is placed elsewhere.

    Returns a :class:`Placement` whose happiness is at least ``happy``, or
    raises :class:`UploadUnhappinessError` after aborting every writer.
    """
    if not (1 <= k <= n <= 256 and 1 <= happy <= n):
        raise ValueError("encoding parameters need 1 <= k <= n <= 256 and 1 <= happy <= n,"
                         " not k=%d happy=%d n=%d" % (k, happy, n))
    if clock is None:
        clock = default_reactor()
    canary = (canary_factory or Referenceable)()
    connected = list(storage_broker.get_servers_for_psi(storage_index))
    considered = connected[:2 * n] if servers is None else list(servers)
    candidates = [_Candidate(s, allocated_size) for s in considered]
    for c in candidates:
        c.bad = set((corrupt or {}).get(c.serverid, ()))

    # What do they hold already?  Only servers that will not be asked to
    # allocate need a get_buckets call: a writable server's answer to
    # allocate_buckets lists every share of the storage index it holds, so
    # asking it first would cost a round trip per upload for nothing.
    asking = [c for c in candidates if not c.excluded and not c.writable]
    shared = _SharedTimer(timeout, clock)
    answers = await _each(asking, lambda c: _with_timeout(
        call_remote(c.rref, "get_buckets", storage_index), timeout, clock,
        "get_buckets", c.name, shared=shared))
    for c, (ok, value) in zip(asking, answers):
        if ok:
            c.held = {int(shnum) for shnum in value}
        else:
            c.exclude("get_buckets: %s" % _describe(value))

    # Ask for shares until there is nothing left to ask.  This ends: a server
    # is never asked twice for the same share, nor renewed twice.
    try:
        while True:
            requests = _next_requests(candidates, n)
            if not requests:
                break
            await _allocate(candidates, requests, storage_index, allocated_size,
                            renew_secret_for, cancel_secret_for, canary, timeout, clock)
    except BaseException:
        await _abort_writers([w for c in candidates for w in c.writers.values()], timeout, clock)
        raise

    placement = _result(storage_index, candidates, happy, canary, len(connected))
    placement._timeout, placement._clock = timeout, clock
    if placement.happiness < happy:
        error = _unhappy(placement, candidates, k, happy, n)
        await placement.abort()
        raise error
    # the summary is made only if a debug observer writes the event
    log.debug("server selection for {si}: {placement.summary}",
              si=base32.b2a(storage_index).decode(), placement=placement)
    return placement


def _next_requests(candidates: list, n: int) -> dict:
    """``{candidate: shares to ask it for}`` for the next round (empty when
    there is nothing left to ask)."""
    usable = [c for c in candidates if not c.excluded]
    writer_of = {shnum: c for c in usable for shnum in c.writers}
    holdings = {c.serverid: (c.held - c.bad) | set(c.writers) for c in usable}
    placement = share_placement([c.serverid for c in usable],
                                {c.serverid for c in usable if not c.writable},
                                range(n), holdings, {c.serverid: c.bad for c in usable})
    wanted: dict = {}
    by_id = {c.serverid: c for c in usable}
    for shnum, serverid in placement.items():
        c = by_id[serverid]
        if (shnum in holdings[serverid] or shnum in writer_of or shnum in c.asked
                or not c.writable):
            continue
        wanted.setdefault(c, set()).add(shnum)
    for c in usable:
        if c.held and not c.renewed and c not in wanted:
            wanted[c] = set()  # renews the leases of the shares it holds
    return wanted


async def _allocate(candidates: list, requests: dict, storage_index, allocated_size,
                    renew_secret_for, cancel_secret_for, canary, timeout, clock) -> None:
    """One round of allocate_buckets calls, in parallel."""
    order = list(requests)
    shared = _SharedTimer(timeout, clock)

    def ask(c):
        c.asked |= requests[c]
        c.renewed = True
        d = call_remote(c.rref, "allocate_buckets", storage_index,
                        renew_secret_for(c.serverid), cancel_secret_for(c.serverid),
                        set(requests[c]), allocated_size, canary)
        return _with_timeout(d, timeout, clock, "allocate_buckets", c.name,
                             on_late=_abort_late_allocation, shared=shared)

    answers = await _each(order, ask)
    others = {shnum for c in candidates for shnum in c.writers}
    for c, (ok, value) in zip(order, answers):
        asked = requests[c]
        if not ok:
            c.set_state(FAILED, "allocate_buckets: %s" % _describe(value))  # now read-only
            continue
        alreadygot, allocated = value
        c.held |= {int(shnum) for shnum in alreadygot}
        unwanted = []
        for shnum, writer in allocated.items():
            if shnum in asked and shnum not in others:
                c.writers[shnum] = writer
                others.add(shnum)
            else:
                unwanted.append(writer)  # not asked for: never happens with a sane server
        await _abort_writers(unwanted, timeout, clock)
        refused = asked - set(allocated) - c.held
        if refused and c.writable:
            if refused == asked:
                c.set_state(FULL, "accepted none of the %d share(s) asked for"
                            " (full, or they are being uploaded by someone else)" % len(asked))
            else:
                c.set_state(FULL, "accepted only %d of the %d share(s) asked for"
                            % (len(asked) - len(refused), len(asked)))


def _result(storage_index, candidates, happy, canary, servers_found) -> Placement:
    usable = [c for c in candidates if not c.excluded]
    writers = {}
    preexisting: dict = {}
    for c in usable:
        for shnum, writer in c.writers.items():
            writers[shnum] = (c.server, writer)
        for shnum in c.held - c.bad:
            preexisting.setdefault(shnum, set()).add(c.server)
    sharemap: dict = {}
    for c in usable:
        for shnum in (c.held - c.bad) | set(c.writers):
            sharemap.setdefault(shnum, set()).add(c.serverid)
    return Placement(storage_index=storage_index, writers=dict(sorted(writers.items())),
                     preexisting=dict(sorted(preexisting.items())),
                     happiness=servers_of_happiness(sharemap), wanted=happy, canary=canary,
                     servers_found=servers_found, servers=[c.report() for c in candidates])


def _unhappy(placement: Placement, candidates: list, k: int, happy: int,
             n: int) -> UploadUnhappinessError:
    found, servers = placement.servers_found, placement.servers
    if not found:
        message = ("No storage servers are connected, so the %d shares of this file have"
                   " nowhere to go (shares.happy = %d)." % (n, happy))
    else:
        message = (
            "The shares of this file could be spread over only %d distinct server(s)"
            " (servers-of-happiness %d), but at least %d are wanted (shares.happy = %d;"
            " any k = %d shares rebuild the file, N = %d are made). %d storage server(s)"
            " are connected and %d were asked."
            % (placement.happiness, placement.happiness, happy, happy, k, n, found,
               len(servers)))
        for state in (READONLY, FULL, FAILED):
            details = ["%s (%s)" % (server.get_name(), reason)
                       for server, s, reason in servers if s == state]
            if details:
                message += " %s: %s." % (state.capitalize(), "; ".join(details))
        accepted = ["%s (%s)" % (c.name, _shares(c.writers)) for c in candidates if c.writers]
        if accepted:
            message += " Shares accepted, now given up: %s." % ", ".join(accepted)
        held = ["%s (%s)" % (c.name, _shares(c.held)) for c in candidates
                if c.held and not c.excluded]
        if held:
            message += " Shares already on servers: %s." % ", ".join(held)
    return UploadUnhappinessError(message, happiness=placement.happiness, wanted=happy,
                                  servers_found=found, servers_queried=len(servers),
                                  servers=[(s.get_name(), state, reason)
                                           for s, state, reason in servers])


# ---- small Deferred helpers -------------------------------------------------------

def _describe(failure) -> str:
    error = failure.value if isinstance(failure, Failure) else failure
    if isinstance(error, RemoteException):
        return "%s: %s" % (error.remote_type.rsplit(".", 1)[-1], error.message)
    text = str(error)
    return "%s: %s" % (type(error).__name__, text) if text else type(error).__name__


async def _each(items: list, call) -> list:
    """Run ``call(item)`` for every item at once: ``[(ok, value_or_failure)]``."""
    ds = []
    for item in items:
        d = defer.maybeDeferred(call, item)
        d.addCallbacks(lambda v: (True, v), lambda f: (False, f))
        ds.append(d)
    return list(await defer.gatherResults(ds)) if ds else []


class _SharedTimer:
    """One ``callLater`` for a group of calls started together with the same
    timeout (a selection round asks every server at once): cheaper than a
    timer per call.  :meth:`add` registers a call's expiry, the function it
    returns takes it back when the answer arrives; the timer is cancelled
    once every call of the group has answered."""

    def __init__(self, timeout: float, clock):
        self._timeout = timeout
        self._clock = clock
        self._timer = None
        self._pending = {}
        self._next = 0

    def add(self, expire):
        key = self._next
        self._next += 1
        self._pending[key] = expire
        if self._timer is None:
            self._timer = self._clock.callLater(self._timeout, self._fire)

        def done():
            if self._pending.pop(key, None) is not None and not self._pending \
                    and self._timer is not None and self._timer.active():
                self._timer.cancel()
                self._timer = None
        return done

    def _fire(self):
        self._timer = None
        pending, self._pending = self._pending, {}
        for expire in pending.values():
            expire()


def _with_timeout(d, timeout: float, clock, what: str, name: str, on_late=None,
                  shared: _SharedTimer | None = None):
    """``d``, or a :class:`NoAnswerError` after ``timeout`` seconds; a result
    arriving later goes to ``on_late`` (failures are dropped).  With
    ``shared``, its one timer is used instead of a timer for this call."""
    result = defer.Deferred()

    def expire():
        result.errback(NoAnswerError("%s got no answer from %s within %g s"
                                     % (what, name, timeout)))

    if shared is not None:
        stop_timer = shared.add(expire)
    else:
        stop_timer = clock.callLater(timeout, expire).cancel

    def arrived(value):
        if result.called:
            if on_late is not None and not isinstance(value, Failure):
                on_late(value)
            return
        stop_timer()
        if isinstance(value, Failure):
            result.errback(value)
        else:
            result.callback(value)
        return

    d.addBoth(arrived)
    return result


def _abort_late_allocation(answer) -> None:
    _alreadygot, allocated = answer
    defer.ensureDeferred(_abort_writers(list(allocated.values())))


async def _abort_writers(writers: list, timeout: float | None = None, clock=None) -> None:
    """Abort bucket writers, ignoring failures (the server may be gone);
    with a ``clock``, a server gets ``timeout`` seconds to answer."""
    if not writers:
        return

    def abort(writer):
        d = call_remote(writer, "abort")
        if clock is not None and timeout is not None:
            d = _with_timeout(d, timeout, clock, "abort", "a bucket writer")
        return d

    answers = await _each(writers, abort)
    for ok, value in answers:
        if not ok:
            log.info("could not abort a bucket writer: {why}", why=_describe(value))
