"""Which servers hold which shares of which version of a mutable file.

:class:`ServerMap` is the record: for every (server, share number) seen, the
version it holds (its :class:`layout.VerInfo`), the share's head (a partial
:class:`layout.ParsedShare`: prefix, offsets, verification key, signature)
and the checkstring it started with (a publish tests against exactly those
bytes); shares found bad, servers that failed, and the problems met.  From
it come the recoverable versions (at least k distinct shares) and the best
one (highest (seqnum, root hash)).

:class:`ServermapUpdater` fills a map: it asks the servers of the storage
index, in permuted-ring order, for the first ``read_size`` bytes of every
share they hold (``slot_readv``), checks each share's verification key
against the cap's fingerprint and its signature over the signed prefix, and
reports a share that fails to its server (``advise_corrupt_share``).

Modes (``common.MODE_*``): MODE_READ and MODE_ANYTHING ask servers in
batches of N and stop once a recoverable version is the newest seen.
MODE_WRITE walks the permuted ring in batches of N until it has seen a run
of k servers without shares past the last server that had one (and every
server before it answered), so that a publish updates every share and sees
other writers without asking every server of a large grid; when it finds no
share at all it stops after N + k servers (a new file).  MODE_CHECK and
MODE_REPAIR ask every server: a checker must see every share.  With a
write cap in MODE_WRITE or MODE_REPAIR the encrypted private key is fetched
too (SDMF keeps it at the end of the share: one more read).  Given
``lease_secrets``, the updater also sends every server it asks an
``add_lease`` beside the read (a checker's add-lease); its failures are
noted in the map (``lease_failures``), they do not fail the update.

A share whose root hash is all zeros and whose signature does not verify is
one a publish is writing right now (publish.py marks a share that way before
streaming its segments); it is noted as in progress, not reported corrupt.
"""

import time

from twisted.internet import defer
from twisted.logger import Logger

from ..crypto import rsa
from ..util import base32
from ..util.default_reactor import default_reactor
from ..util.rrefutil import call_remote
from . import layout
from .common import (
    MDMF_VERSION,
    MODE_ANYTHING,
    MODE_READ,
    MODE_REPAIR,
    MODE_WRITE,
    BadShareError,
    PrivateKeyMismatchError,
)
from .status import ServermapUpdateStatus

log = Logger()

DEFAULT_READ_SIZE = layout.INITIAL_READ_SIZE
ZERO_ROOT = b"\x00" * 32


#: how many times a share that another writer keeps replacing is read again
CHANGED_SHARE_RETRIES = 3


class _ShareChanged(Exception):
    """A share was replaced by another writer between two reads of it."""


def timed_call(reactor, timeout, server, method, *args):
    """``call_remote`` on the server's rref, cancelled after ``timeout`` seconds."""
    d = call_remote(server.get_rref(), method, *args)
    timer = reactor.callLater(timeout, d.cancel)

    def _done(res):
        if timer.active():
            timer.cancel()
        return res
    d.addBoth(_done)
    return d


def _server_name(server) -> str:
    return server.get_name() if hasattr(server, "get_name") else str(server)


class ShareRecord:
    """One share seen on one server: its head (a partial ParsedShare) and version."""

    __slots__ = ("server", "shnum", "share", "verinfo", "timestamp")

    def __init__(self, server, shnum, share, verinfo, timestamp):
        self.server, self.shnum, self.share, self.timestamp = server, shnum, share, timestamp
        self.verinfo = verinfo

    @property
    def checkstring(self) -> bytes:
        return self.share.prefix.checkstring()


class ServerMap:
    """The shares of one mutable file, as far as the last updates saw."""

    def __init__(self):
        self._shares: dict = {}        # (serverid, shnum) -> ShareRecord (good shares)
        self._bad: dict = {}           # (serverid, shnum) -> reason
        self._checkstrings: dict = {}  # (serverid, shnum) -> first bytes of every share seen
        self._seqnums: dict = {}       # (serverid, shnum) -> seqnum of any parsable share
        self._servers: dict = {}       # serverid -> server
        self.in_progress: set = set()  # (serverid, shnum) being written by a publish
        self.servers_answered: set = set()
        self.servers_failed: dict = {}  # serverid -> text
        self.problems: list = []
        # (serverid, shnum) -> the bytes read from the start of a good share,
        # kept only when the updater is asked to (a verify re-uses them)
        self.first_bytes: dict = {}
        self.leases_added: set = set()    # serverids that accepted add_lease
        self.lease_failures: dict = {}    # serverid -> text
        self.last_update_mode = None
        self.last_update_time = None
        self.pubkey = None
        self.privkey = None

    def __repr__(self):
        return "<ServerMap %s>" % self.summary()

    # ---- recording ----
    def note_server(self, server):
        self._servers[server.get_serverid()] = server

    def add_share(self, server, shnum, share, verinfo=None, timestamp=None):
        """Record a good share; ``share`` is its head (ParsedShare with at least
        prefix and offsets)."""
        key = (server.get_serverid(), shnum)
        self.note_server(server)
        self._bad.pop(key, None)
        record = ShareRecord(server, shnum, share, verinfo or share.verinfo(),
                             timestamp or time.time())
        self._shares[key] = record
        self._checkstrings[key] = record.checkstring
        self._seqnums[key] = share.prefix.seqnum

    def note_checkstring(self, server, shnum, checkstring: bytes, seqnum=None):
        key = (server.get_serverid(), shnum)
        self.note_server(server)
        self._checkstrings[key] = checkstring
        if seqnum is not None:
            self._seqnums[key] = seqnum

    def mark_bad_share(self, server, shnum, reason: str):
        """Record a share found bad.  Its checkstring stays (a publish or a
        repair replaces the share by testing against exactly those bytes);
        its seqnum is forgotten, so that a corrupt header cannot choose the
        next version's seqnum."""
        key = (server.get_serverid(), shnum)
        self.note_server(server)
        self._shares.pop(key, None)
        self._seqnums.pop(key, None)
        self.first_bytes.pop(key, None)
        self._bad[key] = reason
        self.problems.append("share %d on server %s: %s" % (shnum, _server_name(server), reason))

    def remove_share(self, server, shnum):
        """Forget a share (after a publish replaced or removed it)."""
        key = (server.get_serverid(), shnum)
        for d in (self._shares, self._bad, self._checkstrings, self._seqnums, self.first_bytes):
            d.pop(key, None)

    def note_server_failure(self, server, text: str):
        self.note_server(server)
        self.servers_failed[server.get_serverid()] = text
        self.problems.append("server %s: %s" % (_server_name(server), text))

    # ---- questions ----
    def server(self, serverid):
        return self._servers.get(serverid)

    def all_seen(self) -> dict:
        """{(serverid, shnum): checkstring} of every share seen, good or bad."""
        return dict(self._checkstrings)

    def checkstring_of(self, serverid, shnum):
        return self._checkstrings.get((serverid, shnum))

    def bad_shares(self) -> dict:
        return dict(self._bad)

    def is_bad(self, serverid, shnum) -> bool:
        return (serverid, shnum) in self._bad

    def records(self, verinfo=None) -> list:
        return [r for r in self._shares.values() if verinfo is None or r.verinfo == verinfo]

    def versions(self) -> set:
        return {r.verinfo for r in self._shares.values()}

    def shares_of(self, verinfo) -> dict:
        """{shnum: [server, ...]} of the good shares of one version."""
        out: dict = {}
        for r in self._shares.values():
            if r.verinfo == verinfo:
                out.setdefault(r.shnum, []).append(r.server)
        return out

    def share_head(self, verinfo):
        """The head (ParsedShare: prefix, offsets, key, signature) of one share
        of this version, or None."""
        for r in self._shares.values():
            if r.verinfo == verinfo:
                return r.share
        return None

    def servers_with_shares(self) -> set:
        """serverids holding any share seen (good, bad or being written)."""
        return {sid for sid, _sh in self._checkstrings} | {sid for sid, _sh in self.in_progress}

    def recoverable_versions(self) -> set:
        return {v for v in self.versions() if len(self.shares_of(v)) >= v[5]}

    def unrecoverable_versions(self) -> set:
        return self.versions() - self.recoverable_versions()

    def best_recoverable_version(self):
        versions = self.recoverable_versions()
        if not versions:
            return None
        return max(versions, key=lambda v: (v[0], v[1]))

    def highest_seqnum(self) -> int:
        return max(self._seqnums.values(), default=0)

    def needs_merge(self) -> bool:
        """True if two recoverable versions share the highest seqnum."""
        versions = self.recoverable_versions()
        if len(versions) < 2:
            return False
        top = max(v[0] for v in versions)
        return sum(1 for v in versions if v[0] == top) > 1

    def make_sharemap(self) -> dict:
        """{shnum: set(serverid)} of the good shares of every version."""
        out: dict = {}
        for (serverid, shnum) in self._shares:
            out.setdefault(shnum, set()).add(serverid)
        return out

    def versioned_sharemap(self) -> dict:
        """{"seq<N>-<4 base32 chars of the root hash>-sh<shnum>": set(server)}
        of the good shares of every version: the sharemap of Tahoe-LAFS
        1.20's mutable check results (its JSON keys)."""
        out: dict = {}
        for r in self._shares.values():
            name = "seq%d-%s-sh%d" % (r.verinfo[0],
                                      base32.b2a(r.verinfo[1])[:4].decode("ascii"), r.shnum)
            out.setdefault(name, set()).add(r.server)
        return out

    def shares_available(self) -> dict:
        """{verinfo: (distinct shares, k, N)}."""
        return {v: (len(self.shares_of(v)), v[5], v[6]) for v in self.versions()}

    def summarize_version(self, verinfo) -> str:
        seqnum, root = verinfo[0], verinfo[1]
        return "seq%d-%s %d/%d of %d-of-%d" % (
            seqnum, root.hex()[:8], len(self.shares_of(verinfo)), verinfo[5], verinfo[5],
            verinfo[6])

    def summary(self) -> str:
        parts = [self.summarize_version(v) for v in sorted(self.versions(), key=lambda v: v[:2])]
        if self._bad:
            parts.append("%d bad" % len(self._bad))
        return ", ".join(parts) or "no shares"

    def describe_failure(self) -> str:
        """Why no version can be recovered, for the person reading the error."""
        if not self._checkstrings and not self.servers_answered:
            return "no storage server answered (%d failed)" % len(self.servers_failed)
        found = ["version %s: %d distinct shares, %d needed" % (
            self.summarize_version(v).split(" ")[0], n, k)
            for v, (n, k, _) in sorted(self.shares_available().items(), key=lambda t: t[0][:2])]
        text = "; ".join(found) if found else "no shares of this file"
        text += " (asked %d servers" % (len(self.servers_answered) + len(self.servers_failed))
        if self.servers_failed:
            text += ", %d did not answer" % len(self.servers_failed)
        if self._bad:
            text += ", %d shares were bad" % len(self._bad)
        return text + ")"


class ServermapUpdater:
    """Fills a ServerMap by asking the servers of one storage index."""

    def __init__(self, keys, storage_broker, servermap: ServerMap, mode, *,
                 read_size: int = DEFAULT_READ_SIZE, hint_n: int = 10, hint_k: int = 3,
                 reactor=None,
                 query_timeout: float = 30.0, status: ServermapUpdateStatus | None = None,
                 lease_secrets=None, keep_first_bytes: bool = False):
        self._keys = keys
        # keep what was read of every good share (at most ``read_size`` bytes
        # or so each) in the map's ``first_bytes``: a verify of a small file
        # then needs no second read
        self._keep_first_bytes = keep_first_bytes
        # lease_secrets(server) -> (renew secret, cancel secret): when given,
        # every server asked also gets an add_lease, sent beside the read
        self._lease_secrets = lease_secrets
        self._side_calls: list = []   # add_lease and advise_corrupt_share calls
        self._broker = storage_broker
        self._map = servermap
        self._mode = mode
        self._read_size = read_size
        self._hint_n = max(1, hint_n)
        self._epsilon = max(1, hint_k)
        if reactor is None:
            reactor = default_reactor()
        self._reactor = reactor
        self._timeout = query_timeout
        self.status = status or ServermapUpdateStatus(keys.storage_index, mode)
        self._verified: set = set()   # (prefix, signature, pubkey) already checked

    def _want_privkey(self) -> bool:
        return (self._mode in (MODE_WRITE, MODE_REPAIR) and self._keys.writekey is not None
                and self._keys.privkey is None and self._map.privkey is None)

    def update(self):
        """Deferred(ServerMap)."""
        return defer.ensureDeferred(self._update())

    async def _update(self):
        t0 = time.monotonic()
        self.status.set_status("Asking servers")
        si = self._keys.storage_index
        servers = list(self._broker.get_servers_for_psi(si))
        try:
            if self._mode in (MODE_READ, MODE_ANYTHING):
                await self._walk(servers, self._hint_n, self._enough_for_read)
            elif self._mode == MODE_WRITE:
                await self._walk(servers, self._hint_n + self._epsilon,
                                 lambda: self._enough_for_write(servers))
            else:
                await self._query_all(servers)
            if self._want_privkey() and self._map.best_recoverable_version() is not None:
                self._map.problems.append("no share held a usable encrypted private key")
            if self._side_calls:
                await defer.DeferredList(self._side_calls, consumeErrors=True)
        finally:
            self._map.last_update_mode = self._mode
            self._map.last_update_time = time.time()
            self.status.add_time("total", time.monotonic() - t0)
            self.status.finish("Finished")
        return self._map

    async def _walk(self, servers, first_batch, enough):
        """Ask ``servers`` in ring order, a batch at a time, until ``enough()``."""
        pos, size = 0, first_batch
        while pos < len(servers):
            batch = servers[pos:pos + size]
            pos += len(batch)
            size = self._hint_n
            await self._query_all(batch)
            self.status.set_progress(pos / len(servers))
            if enough():
                break

    def _enough_for_write(self, servers) -> bool:
        """True once, past the last server holding a share, ``epsilon`` servers
        in a row answered without shares (every server before them has been
        asked: batches go in ring order and are awaited whole)."""
        holders = self._map.servers_with_shares()
        answered = self._map.servers_answered
        last_found, run, empty = -1, 0, 0
        for i, server in enumerate(servers):
            sid = server.get_serverid()
            if sid in holders:
                last_found, run = i, 0
            elif sid in answered:
                empty += 1
                run += 1
                if last_found >= 0 and run >= self._epsilon:
                    return self._map.best_recoverable_version() is not None
        if last_found < 0:
            # no share anywhere: a new file (or a key used for the first time)
            return empty >= self._hint_n + self._epsilon
        return False

    def _enough_for_read(self) -> bool:
        best = self._map.best_recoverable_version()
        if best is None:
            return False
        if self._mode == MODE_ANYTHING:
            return True
        return best[0] >= self._map.highest_seqnum()

    async def _query_all(self, servers):
        ds = [defer.ensureDeferred(self._query(s)) for s in servers]
        if ds:
            await defer.DeferredList(ds, consumeErrors=True)

    def _call(self, server, method, *args):
        return timed_call(self._reactor, self._timeout, server, method, *args)

    async def _query(self, server):
        si = self._keys.storage_index
        name = _server_name(server)
        self.status.add_server(name)
        if server.get_rref() is None:
            self._map.note_server_failure(server, "not connected")
            self.status.add_problem(name, "not connected")
            return
        if self._lease_secrets is not None:
            self._side_calls.append(self._add_lease(server))
        t0 = time.monotonic()
        try:
            answer = await self._call(server, "slot_readv", si, [], [(0, self._read_size)])
        except Exception as e:
            text = "slot_readv failed: %s" % (e,)
            self._map.note_server_failure(server, text)
            self.status.add_problem(name, text)
            self.status.add_server_time(name, "failed", time.monotonic() - t0)
            return
        self.status.add_server_time(name, "query", time.monotonic() - t0)
        self._map.servers_answered.add(server.get_serverid())
        self._map.note_server(server)
        for shnum, datav in sorted(answer.items()):
            data = datav[0] if datav else b""
            for _attempt in range(CHANGED_SHARE_RETRIES):
                try:
                    await self._examine(server, shnum, data)
                except _ShareChanged:
                    # another writer replaced the share between two of our
                    # reads: forget what was read and start again
                    self._map.remove_share(server, shnum)
                    try:
                        again = await self._call(server, "slot_readv", si, [shnum],
                                                 [(0, self._read_size)])
                    except Exception as e:
                        self._map.note_server_failure(server, "reading share %d: %s" % (shnum, e))
                        break
                    data = again.get(shnum, [b""])[0]
                    continue
                except BadShareError as e:
                    self._map.mark_bad_share(server, shnum, str(e))
                    self.status.add_problem(name, "share %d: %s" % (shnum, e))
                    self._advise_corrupt(server, shnum, str(e))
                except Exception as e:  # a failed follow-up read
                    self._map.note_server_failure(server, "reading share %d: %s" % (shnum, e))
                break
            else:  # rewritten under every read: being written right now
                self._map.in_progress.add((server.get_serverid(), shnum))

    async def _read_more(self, server, shnum, data, end):
        """``data`` extended to at least ``end`` bytes (one more read).

        The read also fetches the share's checkstring again: when it is not
        what ``data`` starts with, another writer has replaced the share
        since ``data`` was read, and :class:`_ShareChanged` is raised (the
        two pieces must not be judged together: they would look corrupt)."""
        if len(data) >= end:
            return data
        clen = (layout.CHECKSTRING_LENGTH_MDMF if data[0] == MDMF_VERSION
                else layout.CHECKSTRING_LENGTH_SDMF)
        answer = await self._call(server, "slot_readv", self._keys.storage_index, [shnum],
                                  [(0, clen), (len(data), end - len(data))])
        got = answer.get(shnum, [])
        if len(got) < 2 or got[0] != bytes(data[:clen]):
            raise _ShareChanged()
        return data + got[1]

    async def _examine(self, server, shnum, data):
        if not data:
            return
        version = data[0]
        clen = (layout.CHECKSTRING_LENGTH_MDMF if version == MDMF_VERSION
                else layout.CHECKSTRING_LENGTH_SDMF)
        self._map.note_checkstring(server, shnum, bytes(data[:clen]))
        if version == MDMF_VERSION and len(data) >= clen and data[9:clen] == ZERO_ROOT:
            # a publish has claimed this share and is streaming it
            self._map.note_checkstring(server, shnum, bytes(data[:clen]),
                                       int.from_bytes(data[1:9], "big"))
            self._map.in_progress.add((server.get_serverid(), shnum))
            return
        prefix, offsets = layout.unpack_header(data)
        share = layout.ParsedShare(prefix, offsets)
        self._map.note_checkstring(server, shnum, prefix.checkstring(), prefix.seqnum)
        fields = ("verification_key", "signature")
        end = max(sum(share.field_range(name)) for name in fields)
        data = await self._read_more(server, shnum, data, end)
        for name in fields:
            off, length = share.field_range(name)
            share.set_field(name, data[off:off + length])
        signed = prefix.signed_bytes()
        key = (signed, share.signature, share.verification_key)
        if key not in self._verified:
            try:
                self._keys.check_pubkey(share.verification_key)
                pub = rsa.public_key_from_der(share.verification_key)
                rsa.verify(pub, share.signature, signed)
            except (BadShareError, rsa.RSAError) as err:
                if prefix.root_hash == ZERO_ROOT:
                    self._map.in_progress.add((server.get_serverid(), shnum))
                    return
                raise BadShareError("bad verification key or signature: %s" % (err,)) from None
            self._verified.add(key)
            if self._map.pubkey is None:
                self._map.pubkey = pub
        self._map.add_share(server, shnum, share)
        self.status.add_share(_server_name(server), shnum)
        if self._keep_first_bytes:
            self._map.first_bytes[(server.get_serverid(), shnum)] = bytes(data)
        if self._want_privkey():
            off, length = share.field_range("enc_privkey")
            data = await self._read_more(server, shnum, data, off + length)
            try:
                self._map.privkey = self._keys.privkey_from_encrypted(data[off:off + length])
                self.status.set_privkey_from(_server_name(server))
            except PrivateKeyMismatchError as e:
                self._map.mark_bad_share(server, shnum, "bad encrypted private key: %s" % e)
                self._advise_corrupt(server, shnum, "bad encrypted private key: %s" % e)

    def _add_lease(self, server):
        """Ask ``server`` to add (or renew) our lease on its shares of this
        file; a failure is noted in the map and never fails the update."""
        sid = server.get_serverid()
        renew, cancel = self._lease_secrets(server)
        d = self._call(server, "add_lease", self._keys.storage_index, renew, cancel)

        def _added(_):
            self._map.leases_added.add(sid)

        def _failed(f):
            text = "add_lease failed: %s" % (f.value,)
            self._map.lease_failures[sid] = text
            self._map.problems.append("server %s: %s" % (_server_name(server), text))
        d.addCallbacks(_added, _failed)
        return d

    def _advise_corrupt(self, server, shnum, reason):
        # the update ends once the server has the advisory
        self._side_calls.append(advise_corrupt(server, self._keys.storage_index, shnum, reason,
                                               reactor=self._reactor, timeout=self._timeout))


def advise_corrupt(server, storage_index, shnum, reason: str, *, reactor=None,
                   timeout: float = 30.0):
    """Tell a server that one of its mutable shares is corrupt (best effort:
    the returned Deferred fires with None once the server answered, the call
    failed, or ``timeout`` seconds passed)."""
    if server.get_rref() is None:
        return defer.succeed(None)
    d = timed_call(reactor if reactor is not None else default_reactor(), timeout, server,
                   "advise_corrupt_share", b"mutable", storage_index, shnum,
                   reason.encode("utf-8", "replace"))
    d.addErrback(lambda f: log.info("advise_corrupt_share failed: {f}", f=f.value))
    return d
