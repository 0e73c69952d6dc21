"""Writing a version of a mutable file to the grid: :class:`Publish`.

A publish writes every share of the new version with test-and-set
(docs/specifications/mutable-shares.md §5): each share is written only if it still starts with the
checkstring the server map saw there (``(0, 1, "eq", b"")`` — "still
empty" — for a share that is new), under the per-server write enabler and
the lease secrets of this client.  A failed test means another writer got
there first: the publish finishes what it can and then raises
:class:`UncoordinatedWriteError`.  A server that answers with an error or
disappears is replaced by another server.  The shares themselves come from
the pure encoder (:class:`shares.VersionEncoder`, :func:`shares.encode_version`);
this module only places and sends them.

Two ways to write:

* **whole shares** (SDMF, and MDMF versions of a few segments): every share
  is built in memory (in a thread) and written in one test-and-set call, so
  each share changes atomically; a server's shares go in one call, or in
  several when together they carry more than a storage server accepts in
  one call (:data:`~allmydata.storage.limits.MAX_CALL_SHARE_DATA`);
* **streamed** (larger MDMF versions): each share is first *claimed* — one
  call that tests the old checkstring and writes a marker checkstring (the
  new seqnum with an all-zero root hash); then the segments go out a batch
  at a time (each write tests the marker): a batch of at least ``batch_bytes``
  of plaintext (more when the shares are spread so that each server still
  gets about ``CALL_BYTES`` per call, up to ``MAX_BATCH_BYTES``) is encrypted, erasure-coded and hashed in a thread while up to
  ``MAX_IN_FLIGHT`` earlier batches are on their way, one call per server
  per batch with the runs of all its shares; a last call writes the header,
  keys, hash chain and block hash tree and sets the share's length.  The
  client holds a few batches, not the file.  Readers that meet a marked
  share skip it as "being written".  A share whose server fails on the way
  goes to another server when the source can be read again (a file or
  bytes): its blocks are re-encoded with the same salts, so they are the
  same bytes.  The publish fails (:class:`NotEnoughServersError`) when fewer
  than ``max(k, min(happy, N))`` distinct shares were written.
"""

import time

from twisted.internet import defer, threads
from twisted.logger import Logger

from ..storage.limits import MAX_CALL_SHARE_DATA
from ..util.default_reactor import default_reactor
from . import layout
from .common import (
    MDMF_VERSION,
    SDMF_VERSION,
    NotEnoughServersError,
    NotWriteableError,
    UncoordinatedWriteError,
)
from .servermap import ZERO_ROOT, _server_name, timed_call
from .shares import VersionEncoder, encode_version
from .status import PublishStatus

log = Logger()

#: plaintext bytes per batch of segments (per write call when streaming)
BATCH_BYTES = 1 << 20
#: share bytes one write call should carry to one server, when batches allow
CALL_BYTES = 1 << 20
MAX_BATCH_BYTES = 4 << 20
#: batches sent and not yet answered, while the next one is encoded
MAX_IN_FLIGHT = 3
#: an MDMF version of at most this many segments is written as whole shares
WHOLE_SHARE_SEGMENTS = 8
EMPTY_TEST = [(0, 1, b"eq", b"")]


class BadSharesVanished(Exception):
    """A write was refused because shares the map found bad are no longer
    what the server showed (a lying or failing server, not another writer)."""


def plan_placement(servermap, servers, n) -> dict:
    """{shnum: [(server, old checkstring or None)]}: every share of every
    server the map saw is rewritten where it is; shares found nowhere go to
    the servers holding the fewest, in permuted order, those the map asked
    first (a server it did not ask may hold an old share it did not see)."""
    goal: dict = {}
    load: dict = {}
    for (serverid, shnum), cs in servermap.all_seen().items():
        if shnum >= n or serverid in servermap.servers_failed:
            continue
        server = servermap.server(serverid)
        goal.setdefault(shnum, []).append((server, cs))
        load[serverid] = load.get(serverid, 0) + 1
    usable = [s for s in servers if s.get_serverid() not in servermap.servers_failed
              and s.get_rref() is not None]
    for shnum in range(n):
        if shnum in goal or not usable:
            continue
        server = min(usable, key=lambda s: (load.get(s.get_serverid(), 0),
                                            s.get_serverid() not in servermap.servers_answered))
        goal[shnum] = [(server, None)]
        load[server.get_serverid()] = load.get(server.get_serverid(), 0) + 1
    return goal


def unreachable_error(servermap, broker, storage_index, k, expect_shares=True):
    """A :class:`NotEnoughServersError` saying how many servers were reached
    when a write cannot go on for lack of servers, else None: none is
    connected, or (``expect_shares``: the file exists, e.g. its private key
    must be read from a share) the map found no share at all while some
    servers did not answer, or fewer than k did."""
    servers = list(broker.get_servers_for_psi(storage_index))
    known_of = getattr(broker, "get_known_servers", None)
    known = max(len(known_of()) if known_of is not None else 0, len(servers))
    if not servers:
        return NotEnoughServersError(
            "no storage server is connected (0 of %d known): cannot write the file" % known)
    if not expect_shares:
        return None
    answered, failed = len(servermap.servers_answered), len(servermap.servers_failed)
    seen = bool(servermap.all_seen()) or bool(servermap.in_progress)
    if not seen and (failed or answered < k or known > len(servers)):
        return NotEnoughServersError(
            "only %d of the %d known storage servers could be reached (%d connected, %d did "
            "not answer) and none of them holds a share of this file: writing it needs the "
            "file's shares (they hold its private key and its current version), which are "
            "on the servers that cannot be reached" % (answered, known, len(servers), failed))
    return None


def test_vector(checkstring):
    if not checkstring:
        return list(EMPTY_TEST)
    return [(0, len(checkstring), b"eq", checkstring)]


class ShareTarget:
    """One share on one server being written."""

    def __init__(self, server, shnum, old_checkstring):
        self.server, self.shnum = server, shnum
        self.test = test_vector(old_checkstring)
        self.alive = True


class Publish:
    """Writes one new version of a mutable file."""

    def __init__(self, keys, storage_broker, secret_holder, servermap, *, version, k, n,
                 happy=None, reactor=None, status: PublishStatus | None = None,
                 batch_bytes: int = BATCH_BYTES, write_timeout: float = 120.0):
        self.keys, self._broker, self._secrets, self._map = keys, storage_broker, secret_holder, servermap
        self.version, self.k, self.n = version, k, n
        self.required = k if happy is None else max(k, min(happy, n))
        if reactor is None:
            reactor = default_reactor()
        self._reactor = reactor
        self.status = status or PublishStatus(keys.storage_index)
        self.status.set_encoding(k, n)
        self._batch_bytes = batch_bytes
        self._timeout = write_timeout
        self.surprised = False
        self.surprise_text = None
        self.targets: list = []
        self._spare_servers: list = []
        self._all_servers: list = []

    # ---- server calls ----
    def _secrets_for(self, server):
        sid = server.get_serverid()
        return (self.keys.write_enabler(sid),
                self.keys.renew_secret(self._secrets.get_renewal_secret(), sid),
                self.keys.cancel_secret(self._secrets.get_cancel_secret(), sid))

    def _call(self, server, tw_vectors):
        clen = (layout.CHECKSTRING_LENGTH_SDMF if self.version == SDMF_VERSION
                else layout.CHECKSTRING_LENGTH_MDMF)
        return timed_call(self._reactor, self._timeout, server, "slot_testv_and_readv_and_writev",
                          self.keys.storage_index, self._secrets_for(server), tw_vectors,
                          [(0, clen)])

    async def _send(self, per_server: dict) -> dict:
        """per_server: {serverid: (server, {shnum: (testv, datav, new_length)})}
        -> {serverid: True (written) | False (test failed) | Exception}.
        A server's shares go in one call, or in one call per group of
        shares that stays within what a server accepts in one call."""
        async def call(server, tw):
            t0 = time.monotonic()
            try:
                ok, readv = await self._call(server, tw)
            except Exception as e:
                return e
            finally:
                self.status.add_server_time(_server_name(server), "write", time.monotonic() - t0)
            if not ok:
                gone = self._only_bad_shares_differ(server, tw, readv)
                if gone:
                    # not another writer: the server no longer holds (or never
                    # held) the bad shares it showed; its shares go elsewhere
                    return BadSharesVanished(
                        "server %s does not hold what it showed for the bad share(s) %s"
                        % (_server_name(server), gone))
                self._note_surprise(server, tw, readv)
            return bool(ok)

        async def one(server, tw):
            if server.get_rref() is None:
                return ConnectionError("not connected")
            results = await defer.gatherResults(
                [defer.ensureDeferred(call(server, part)) for part in split_by_size(tw)])
            for r in results:
                if r is not True:
                    return r
            return True
        sids = list(per_server)
        results = await defer.gatherResults(
            [defer.ensureDeferred(one(*per_server[sid])) for sid in sids])
        return dict(zip(sids, results))

    def _only_bad_shares_differ(self, server, tw, readv) -> list:
        """The share numbers whose test failed in a refused write to
        ``server``, when every one of them is a share the map found bad;
        else [] (a failed test of a good share means another writer)."""
        sid = server.get_serverid()
        differ = []
        for shnum, (testv, _datav, _new_length) in tw.items():
            want = testv[0][3] if testv else b""
            have = (readv.get(shnum) or [b""])[0]
            if have[:len(want)] != want or (not want and have):
                differ.append(shnum)
        if differ and all(self._map.is_bad(sid, shnum) for shnum in differ):
            return sorted(differ)
        return []

    def _note_surprise(self, server, tw, readv):
        self.surprised = True
        seen = {sh: (v[0][:9].hex() if v else "") for sh, v in readv.items()}
        text = ("server %s did not hold what we expected for share(s) %s (it has %s): another "
                "writer changed the file" % (_server_name(server), sorted(tw), seen or "none"))
        self.surprise_text = self.surprise_text or text
        self.status.add_problem(_server_name(server), text)

    def _group(self, targets, make) -> dict:
        out: dict = {}
        for t in targets:
            if not t.alive:
                continue
            sid = t.server.get_serverid()
            out.setdefault(sid, (t.server, {}))[1][t.shnum] = make(t)
        return out

    def _apply(self, targets, results) -> list:
        """Mark targets dead per the results; returns those of failed servers."""
        failed = []
        for t in targets:
            if not t.alive:
                continue
            r = results.get(t.server.get_serverid())
            if r is True or r is None:
                continue
            t.alive = False
            if isinstance(r, Exception):
                failed.append(t)
                self._map.note_server_failure(t.server, "write failed: %s" % (r,))
                self.status.add_problem(_server_name(t.server), "write failed: %s" % (r,))
        return failed

    async def _send_and_apply(self, targets, make) -> list:
        results = await self._send(self._group(targets, make))
        return self._apply(targets, results)

    # ---- placement ----
    def check_can_publish(self):
        """Raise before any encoding when the write cannot start: no storage
        server connected, or no private key because the servers that hold the
        file's shares (and so its encrypted private key) cannot be reached."""
        err = unreachable_error(self._map, self._broker, self.keys.storage_index, self.k,
                                expect_shares=self.keys.privkey is None)
        if err is not None:
            raise err
        if self.keys.privkey is None:
            raise NotWriteableError(
                "writing needs the file's private key, and no share found on the %d storage "
                "servers that answered held a usable one (%s)"
                % (len(self._map.servers_answered), self._map.describe_failure()))

    def _place(self):
        servers = list(self._broker.get_servers_for_psi(self.keys.storage_index))
        if not servers:
            raise unreachable_error(self._map, self._broker, self.keys.storage_index, self.k,
                                    expect_shares=False)
        goal = plan_placement(self._map, servers, self.n)
        self.targets = [ShareTarget(server, shnum, cs)
                        for shnum in sorted(goal) for server, cs in goal[shnum]]
        used = {t.server.get_serverid() for t in self.targets}
        self._spare_servers = [s for s in servers if s.get_serverid() not in used
                               and s.get_serverid() not in self._map.servers_failed]
        self._all_servers = servers

    def _replacement(self, exclude: set):
        for pool in (self._spare_servers, self._all_servers):
            for s in pool:
                if s.get_serverid() not in exclude and s.get_rref() is not None \
                        and s.get_serverid() not in self._map.servers_failed:
                    return s
        return None

    def _homeless(self, failed) -> list:
        """New targets on other servers for the shares of failed servers that
        no live target holds."""
        bad = {t.server.get_serverid() for t in failed} | set(self._map.servers_failed)
        out = []
        for shnum in sorted({t.shnum for t in failed}):
            if any(o.alive and o.shnum == shnum for o in self.targets):
                continue
            s = self._replacement(bad)
            if s is None:
                continue
            if s in self._spare_servers:
                self._spare_servers.remove(s)
            nt = ShareTarget(s, shnum, self._map.checkstring_of(s.get_serverid(), shnum))
            self.targets.append(nt)
            out.append(nt)
        return out

    def finish_check(self, required=None):
        """Raise unless enough distinct shares were written."""
        required = self.required if required is None else required
        done = {t.shnum for t in self.targets if t.alive}
        if self.surprised:
            raise UncoordinatedWriteError(self.surprise_text)
        if len(done) < required:
            raise NotEnoughServersError(
                "only %d distinct shares could be written (%d needed: k=%d to read the file); "
                "problems: %s" % (len(done), required, self.k,
                                  "; ".join(self._map.problems[-5:]) or "none"))
        if len(done) < self.n:
            self.status.add_problem("placement", "only %d of %d shares placed" % (len(done), self.n))

    def record(self, ev):
        """Note the new version's shares in the server map."""
        head, verinfo = ev.head(), ev.verinfo
        for t in self.targets:
            if t.alive:
                self._map.remove_share(t.server, t.shnum)
                self._map.add_share(t.server, t.shnum, head, verinfo)
                self.status.add_share(_server_name(t.server), t.shnum)

    # ---- the publish ----
    def publish(self, source, size: int):
        """Write ``size`` bytes read from ``source`` (``async read(n)``; optional
        ``rewind()``) as the next version.  Deferred(None)."""
        return defer.ensureDeferred(self._publish(source, size))

    async def _publish(self, source, size):
        t0 = time.monotonic()
        seqnum = self._map.highest_seqnum() + 1
        self.status.set_seqnum(seqnum)
        self.status.set_size(size)
        try:
            self.check_can_publish()
            enc = VersionEncoder(self.keys, self.version, seqnum, self.k, self.n, size)
            self._place()
            if self.version == SDMF_VERSION or \
                    enc.geometry.num_segments <= WHOLE_SHARE_SEGMENTS:
                ev = await self._publish_whole(seqnum, source, size)
            else:
                ev = await self._publish_streamed(enc, source)
            self.finish_check()
            self.record(ev)
        except BaseException as e:
            self.status.add_time("total", time.monotonic() - t0)
            self.status.finish("Failed: %s" % (e,))
            raise
        self.status.add_time("total", time.monotonic() - t0)
        self.status.finish()

    async def _publish_whole(self, seqnum, source, size):
        self.status.set_status("Encoding")
        began = time.monotonic()
        data = await source.read(size)
        ev, shares = await threads.deferToThread(encode_version, data, self.keys, self.version,
                                                 seqnum, self.k, self.n)
        del data
        self.status.add_time("encode", time.monotonic() - began)
        self.status.set_status("Pushing shares")
        began = time.monotonic()
        await self.write_atomic(lambda t: [(0, shares[t.shnum])],
                                new_length=lambda t: len(shares[t.shnum]))
        self.status.add_time("push", time.monotonic() - began)
        return ev

    async def write_atomic(self, datav_of, new_length=lambda t: None, replace=True):
        """One test-and-set call per server with everything for its shares;
        shares of servers that fail go to other servers (as new shares) when
        ``replace`` (the writes must then be whole shares)."""
        pending = [t for t in self.targets if t.alive]
        rounds = 0
        while pending and rounds < 5:
            rounds += 1
            failed = await self._send_and_apply(
                pending, lambda t: (t.test, datav_of(t), new_length(t)))
            pending = self._homeless(failed) if failed and replace else []
            self.status.set_progress(1.0 - len(pending) / max(1, len(self.targets)))

    async def _claim(self, targets, marker) -> list:
        """Claim the shares of ``targets`` (and of replacements for failed
        servers); returns the targets claimed."""
        claimed, pending, rounds = [], list(targets), 0
        while pending and rounds < 5:
            rounds += 1
            failed = await self._send_and_apply(pending, lambda t: (t.test, [(0, marker)], None))
            claimed += [t for t in pending if t.alive]
            pending = self._homeless(failed) if failed else []
        return claimed

    async def _stream(self, enc, source, targets, marker_test, salts, progress):
        """Encode the whole version from ``source`` and write the blocks of
        ``targets``' shares, ``MAX_IN_FLIGHT`` batches ahead."""
        g = enc.geometry
        servers = len({t.server.get_serverid() for t in targets if t.alive})
        per_batch = segments_per_batch(self.k, self.n, servers, g.segment_size,
                                       self._batch_bytes)
        in_flight: list = []
        try:
            for s0 in range(0, g.num_segments, per_batch):
                s1 = min(g.num_segments, s0 + per_batch)
                plaintext = await source.read(enc.segment_range(s1 - 1)[1]
                                              - enc.segment_range(s0)[0])
                runs = await threads.deferToThread(_encode_runs, enc, s0, s1, plaintext, salts)
                del plaintext
                while len(in_flight) >= MAX_IN_FLIGHT:
                    await in_flight.pop(0)
                start = layout.mdmf_block_offset(s0, g.block_size)
                in_flight.append(defer.ensureDeferred(self._send_and_apply(
                    targets, lambda t, start=start, runs=runs: (marker_test,
                                                                [(start, runs[t.shnum])], None))))
                del runs
                if progress:
                    self.status.set_progress(0.9 * s1 / g.num_segments)
        finally:
            for d in in_flight:
                await d

    async def _publish_streamed(self, enc, source):
        seqnum = enc.seqnum
        marker = layout.checkstring(MDMF_VERSION, seqnum, ZERO_ROOT)
        marker_test = [(0, len(marker), b"eq", marker)]
        self.status.set_status("Claiming shares")
        await self._claim([t for t in self.targets if t.alive], marker)
        if not any(t.alive for t in self.targets):
            self.finish_check()
        self.status.set_status("Pushing segments")
        salts = [None] * enc.geometry.num_segments
        targets = list(self.targets)
        await self._stream(enc, source, targets, marker_test, salts, True)
        ev = await threads.deferToThread(enc.finish)
        rounds = 0
        while True:
            self.status.set_status("Pushing hashes and signature")
            await self._send_and_apply(targets, lambda t: (
                marker_test, ev.mdmf_final_writes(t.shnum), ev.offsets["EOF"]))
            # shares whose server failed on the way go to other servers, from the
            # start: the same salts give the same blocks, so ``ev`` holds for them
            if rounds >= 3 or self.surprised or not hasattr(source, "rewind"):
                break
            failed = [t for t in self.targets if not t.alive]
            targets = await self._claim(self._homeless(failed), marker) if failed else []
            if not targets:
                break
            rounds += 1
            self.status.set_status("Pushing segments again for %d shares" % len(targets))
            await source.rewind()
            await self._stream(enc, source, targets, marker_test, salts, False)
        return ev


def split_by_size(tw_vectors: dict, limit: int = MAX_CALL_SHARE_DATA) -> list:
    """``{shnum: (testv, datav, new_length)}`` -> a list of such dicts, in
    share order, each carrying at most ``limit`` bytes of data (a share
    larger than that alone goes in a dict of its own)."""
    parts, part, size = [], {}, 0
    for shnum in sorted(tw_vectors):
        value = tw_vectors[shnum]
        n = sum(len(data) for _offset, data in value[1])
        if part and size + n > limit:
            parts.append(part)
            part, size = {}, 0
        part[shnum] = value
        size += n
    if part or not parts:
        parts.append(part)
    return parts


def segments_per_batch(k, n, servers, segment_size, batch_bytes=BATCH_BYTES) -> int:
    """Segments per streamed batch: at least ``batch_bytes`` of plaintext, more
    when the shares are spread over many servers, so that each server gets
    about CALL_BYTES per call (at most MAX_BATCH_BYTES of plaintext)."""
    wanted = CALL_BYTES * k * max(1, servers) // n
    return max(1, max(batch_bytes, min(wanted, MAX_BATCH_BYTES)) // segment_size)


def _encode_runs(enc, s0, s1, plaintext, salts) -> list:
    """Segments s0..s1-1 of ``plaintext`` (which starts at segment s0) -> the
    ``salt || block`` run of every share; re-uses the salts already chosen
    (a second pass must give the same blocks).  Runs in a thread."""
    runs = [[] for _ in range(enc.n)]
    mv = memoryview(plaintext)
    base = enc.segment_range(s0)[0]
    for s in range(s0, s1):
        a, b = enc.segment_range(s)
        seg = enc.encode_segment(s, mv[a - base:b - base], salt=salts[s])
        salts[s] = seg.salt
        for shnum, block in enumerate(seg.blocks):
            runs[shnum] += (seg.salt, block)
    return [b"".join(r) for r in runs]
