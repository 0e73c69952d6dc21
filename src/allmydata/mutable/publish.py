"""Writing a version of a mutable file to the grid: :class:`Publish`.

A publish writes every share of the new version with test-and-set
(FORMATS.md §6.4): each share is written only if it still starts with the
checkstring the server map saw there (``(0, 1, "eq", b"")`` — "still
empty" — for a share that is new), under the per-server write enabler and
the lease secrets of this client.  A failed test means another writer got
there first: the publish finishes what it can and then raises
:class:`UncoordinatedWriteError`.  A server that answers with an error or
disappears before it took any share is replaced by another server.

Two ways to write:

* **whole shares** (SDMF, and MDMF versions of a few segments): every share
  is built in memory and written with one call per server, so each share
  changes atomically;
* **streamed** (larger MDMF versions): each share is first *claimed* — one
  call that tests the old checkstring and writes a marker checkstring (the
  new seqnum with an all-zero root hash); then the segments go out a batch
  at a time (each write tests the marker), and a last call writes the
  header, keys, hash chain and block hash tree and sets the share's length.
  The client holds one batch of segments, not the file.  Readers that meet
  a marked share skip it as "being written".

:class:`VersionBuilder` holds what is common to both ways and to in-place
updates (update.py): the encoding of segments into blocks, the block hash
trees, the share hash tree, the signature and the bytes of every region.
"""

import os
import time

from twisted.internet import defer
from twisted.logger import Logger

from ..crypto import rsa
from ..hashtree import HashTree
from ..util.rrefutil import call_remote
from .common import (
    MDMF_VERSION,
    SDMF_VERSION,
    NotEnoughServersError,
    NotWriteableError,
    UncoordinatedWriteError,
)
from .proxy import (
    MDMF_HEADER_LENGTH,
    MDMF_SHARE_DATA,
    SALT_SIZE,
    Geometry,
    Header,
    block_hash,
    block_hash_tree,
    checkstring_length,
    encode_segment,
    make_checkstring,
    pack_header,
    pack_share_hash_chain,
    signed_prefix,
)
from .servermap import ZERO_ROOT, _server_name
from .status import PublishStatus

log = Logger()

#: plaintext bytes per batch of segments (per write call when streaming)
BATCH_BYTES = 1 << 20
#: an MDMF version of at most this many segments is written as whole shares
WHOLE_SHARE_SEGMENTS = 8
EMPTY_TEST = [(0, 1, b"eq", b"")]



class VersionBuilder:
    """The pieces of every share of one new version."""

    def __init__(self, keys, version, k, n, seqnum, datalen, segsize=None):
        if keys.privkey is None:
            raise NotWriteableError("the private key of this file is unknown; it is fetched "
                                    "from the shares by a MODE_WRITE map update")
        self.keys, self.version, self.k, self.n, self.seqnum = keys, version, k, n, seqnum
        if segsize is None:
            self.geometry = Geometry.for_new(version, k, n, datalen)
        else:
            self.geometry = Geometry(version, k, n, segsize, datalen)
        self.block_hashes = [[None] * self.geometry.num_segments for _ in range(n)]
        self.sdmf_salt = os.urandom(SALT_SIZE) if version == SDMF_VERSION else None
        self.pubkey_der = rsa.public_key_to_der(keys.pubkey)
        self.enc_privkey = keys.encrypted_privkey()
        self.root_hash = None

    def set_old_block_hashes(self, shnum, leaves):
        """Keep the leaves of an old block hash tree (in-place update)."""
        mine = self.block_hashes[shnum]
        for i, h in enumerate(leaves[:len(mine)]):
            mine[i] = h

    def encode(self, segnum, plaintext) -> tuple:
        """(salt, [block per share]) of one segment; records the block hashes."""
        salt = self.sdmf_salt if self.version == SDMF_VERSION else os.urandom(SALT_SIZE)
        blocks = encode_segment(self.keys, plaintext, salt, self.k, self.n)
        hsalt = None if self.version == SDMF_VERSION else salt
        for shnum, block in enumerate(blocks):
            self.block_hashes[shnum][segnum] = block_hash(hsalt, block)
        return salt, blocks

    def piece(self, salt, block) -> bytes:
        return block if self.version == SDMF_VERSION else salt + block

    def finish(self):
        """Build the trees and sign; fills :attr:`root_hash` and the per-share
        regions (:meth:`share_tail_pieces`)."""
        missing = [(sh, i) for sh, hs in enumerate(self.block_hashes)
                   for i, h in enumerate(hs) if h is None]
        if missing:
            raise AssertionError("block hashes missing for %r" % missing[:5])
        self.bhts = [block_hash_tree(hs) for hs in self.block_hashes]
        share_tree = HashTree([t[0] for t in self.bhts])
        self.share_tree = share_tree
        self.root_hash = share_tree[0]
        g = self.geometry
        self.prefix = signed_prefix(self.version, self.seqnum, self.root_hash, self.sdmf_salt,
                                    self.k, self.n, g.segsize, g.datalen)
        self.signature = rsa.sign(self.keys.privkey, self.prefix)
        if self.version == SDMF_VERSION:
            self.offsets = g.sdmf_offsets(len(self.pubkey_der), len(self.signature),
                                          len(self.enc_privkey))
        else:
            self.offsets = g.mdmf_offsets(len(self.enc_privkey), len(self.signature),
                                          len(self.pubkey_der))
        self.header = pack_header(self.prefix, self.version, self.offsets)
        self.checkstring = make_checkstring(self.version, self.seqnum, self.root_hash,
                                            self.sdmf_salt)

    def chain(self, shnum) -> bytes:
        return pack_share_hash_chain(self.share_tree.chain(shnum))

    def bht_bytes(self, shnum) -> bytes:
        return b"".join(self.bhts[shnum])

    def data_offset(self, segnum) -> int:
        if self.version == SDMF_VERSION:
            return self.geometry.sdmf_offsets(len(self.pubkey_der), 256,
                                              len(self.enc_privkey))["share_data"]
        return self.geometry.block_offset(segnum, MDMF_SHARE_DATA)

    def metadata_writes(self, shnum) -> list:
        """[(offset, bytes)]: everything but the blocks (MDMF), after :meth:`finish`."""
        keys_region = (self.enc_privkey + self.chain(shnum) + self.signature + self.pubkey_der)
        return [(0, self.header), (MDMF_HEADER_LENGTH, keys_region),
                (self.offsets["block_hash_tree"], self.bht_bytes(shnum))]

    def whole_share(self, shnum, pieces: list) -> bytes:
        """The complete share, given its pieces (salt+block per segment, in order)."""
        if self.version == SDMF_VERSION:
            return b"".join([self.header, self.pubkey_der, self.signature, self.chain(shnum),
                             self.bht_bytes(shnum), b"".join(pieces), self.enc_privkey])
        keys_region = self.enc_privkey + self.chain(shnum) + self.signature + self.pubkey_der
        gap = MDMF_SHARE_DATA - MDMF_HEADER_LENGTH - len(keys_region)
        data = b"".join(pieces)
        pad = self.offsets["block_hash_tree"] - MDMF_SHARE_DATA - len(data)
        return b"".join([self.header, keys_region, b"\x00" * gap, data, b"\x00" * pad,
                         self.bht_bytes(shnum)])

    def new_header(self):
        return Header(self.header)


def plan_placement(servermap, servers, n) -> dict:
    """{shnum: [(server, old checkstring or None)]}: every share of every
    server the map saw is rewritten where it is; shares found nowhere go to
    the servers holding the fewest, in permuted order."""
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
        server = min(usable, key=lambda s: load.get(s.get_serverid(), 0))
        goal[shnum] = [(server, None)]
        load[server.get_serverid()] = load.get(server.get_serverid(), 0) + 1
    return goal


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
                 reactor=None, status: PublishStatus | None = None, batch_bytes: int = BATCH_BYTES,
                 write_timeout: float = 120.0):
        self.keys, self._broker, self._secrets, self._map = keys, storage_broker, secret_holder, servermap
        self.version, self.k, self.n = version, k, n
        if reactor is None:
            from twisted.internet import reactor
        self._reactor = reactor
        self.status = status or PublishStatus(keys.storage_index)
        self.status.set_encoding(k, n)
        self._batch_bytes = batch_bytes
        self._timeout = write_timeout
        self.surprised = False
        self.surprise_text = None
        self.targets: list = []
        self._spare_servers: list = []

    # ---- server calls ----
    def _secrets_for(self, server):
        sid = server.get_serverid()
        return (self.keys.write_enabler(sid),
                self.keys.renew_secret(self._secrets.get_renewal_secret(), sid),
                self.keys.cancel_secret(self._secrets.get_cancel_secret(), sid))

    def _call(self, server, tw_vectors, clen):
        d = call_remote(server.get_rref(), "slot_testv_and_readv_and_writev",
                        self.keys.storage_index, self._secrets_for(server), tw_vectors,
                        [(0, clen)])
        timer = self._reactor.callLater(self._timeout, d.cancel)

        def _done(res):
            if timer.active():
                timer.cancel()
            return res
        d.addBoth(_done)
        return d

    async def _send(self, per_server: dict, clen: int) -> dict:
        """per_server: {serverid: (server, {shnum: (testv, datav, new_length)})}
        -> {serverid: True (written) | False (test failed) | Exception}."""
        async def one(server, tw):
            if server.get_rref() is None:
                return ConnectionError("not connected")
            try:
                ok, readv = await self._call(server, tw, clen)
            except Exception as e:
                return e
            if not ok:
                self._note_surprise(server, tw, readv)
            return bool(ok)
        sids = list(per_server)
        results = await defer.gatherResults(
            [defer.ensureDeferred(one(*per_server[sid])) for sid in sids])
        return dict(zip(sids, results))

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
            if r is True:
                continue
            t.alive = False
            if isinstance(r, Exception):
                failed.append(t)
                self._map.note_server_failure(t.server, "write failed: %s" % (r,))
                self.status.add_problem(_server_name(t.server), "write failed: %s" % (r,))
        return failed

    # ---- placement ----
    def _place(self):
        servers = list(self._broker.get_servers_for_psi(self.keys.storage_index))
        if not servers:
            raise NotEnoughServersError("no storage servers are connected: cannot publish "
                                        "the file")
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
        """New targets on other servers for the shares of failed servers."""
        bad = {t.server.get_serverid() for t in failed} | set(self._map.servers_failed)
        out = []
        for t in failed:
            if any(o.alive and o.shnum == t.shnum for o in self.targets):
                continue
            s = self._replacement(bad)
            if s is None:
                continue
            if s in self._spare_servers:
                self._spare_servers.remove(s)
            nt = ShareTarget(s, t.shnum, None)
            self.targets.append(nt)
            out.append(nt)
        return out

    def _finish_check(self):
        done = {t.shnum for t in self.targets if t.alive}
        if self.surprised:
            raise UncoordinatedWriteError(self.surprise_text)
        if len(done) < self.k:
            raise NotEnoughServersError(
                "only %d distinct shares could be written (%d needed to read the file); "
                "problems: %s" % (len(done), self.k, "; ".join(self._map.problems[-5:]) or "none"))
        if len(done) < self.n:
            self.status.add_problem("placement", "only %d of %d shares placed" % (len(done), self.n))

    def _record(self, builder):
        header = builder.new_header()
        for t in self.targets:
            if t.alive:
                self._map.remove_share(t.server, t.shnum)
                self._map.add_share(t.server, t.shnum, header)

    # ---- the publish ----
    def publish(self, source, size: int):
        """Write ``size`` bytes read from ``source`` (``async read(n)``) as the
        next version.  Deferred(None)."""
        return defer.ensureDeferred(self._publish(source, size))

    async def _publish(self, source, size):
        t0 = time.monotonic()
        seqnum = self._map.highest_seqnum() + 1
        self.status.set_seqnum(seqnum)
        self.status.set_size(size)
        try:
            builder = VersionBuilder(self.keys, self.version, self.k, self.n, seqnum, size)
            self._place()
            g = builder.geometry
            if self.version == SDMF_VERSION or g.num_segments <= WHOLE_SHARE_SEGMENTS:
                await self._publish_whole(builder, source)
            else:
                await self._publish_streamed(builder, source)
            self._finish_check()
            self._record(builder)
        except BaseException as e:
            self.status.finish("Failed: %s" % (e,))
            raise
        finally:
            self.status.add_time("total", time.monotonic() - t0)
        self.status.finish()

    async def _publish_whole(self, builder, source):
        g = builder.geometry
        self.status.set_status("Encoding")
        pieces = [[] for _ in range(self.n)]
        for segnum in range(g.num_segments):
            plaintext = await source.read(g.segment_size(segnum))
            salt, blocks = builder.encode(segnum, plaintext)
            for shnum, block in enumerate(blocks):
                pieces[shnum].append(builder.piece(salt, block))
        builder.finish()
        shares = [builder.whole_share(sh, pieces[sh]) for sh in range(self.n)]
        del pieces
        self.status.set_status("Pushing shares")
        await self.write_atomic(builder, lambda t: [(0, shares[t.shnum])],
                                new_length=lambda t: len(shares[t.shnum]))

    async def write_atomic(self, builder, datav_of, new_length=lambda t: None, replace=True):
        """One test-and-set call per server with everything for its shares;
        shares of servers that fail go to other servers (as new shares) when
        ``replace`` (the writes must then be whole shares)."""
        clen = checkstring_length(self.version)
        pending = [t for t in self.targets if t.alive]
        rounds = 0
        while pending and rounds < 5:
            rounds += 1
            per_server = self._group(pending, lambda t: (t.test, datav_of(t), new_length(t)))
            results = await self._send(per_server, clen)
            failed = self._apply(pending, results)
            pending = self._homeless(failed) if failed and replace else []
            self.status.set_progress(1.0 - len(pending) / max(1, len(self.targets)))

    async def _publish_streamed(self, builder, source):
        g = builder.geometry
        clen = checkstring_length(self.version)
        marker = make_checkstring(MDMF_VERSION, builder.seqnum, ZERO_ROOT)
        marker_test = [(0, len(marker), b"eq", marker)]
        # 1: claim every share
        self.status.set_status("Claiming shares")
        pending = [t for t in self.targets if t.alive]
        rounds = 0
        while pending and rounds < 5:
            rounds += 1
            per_server = self._group(pending, lambda t: (t.test, [(0, marker)], None))
            results = await self._send(per_server, clen)
            failed = self._apply(pending, results)
            pending = self._homeless(failed) if failed else []
        if not any(t.alive for t in self.targets):
            self._finish_check()
        # 2: the segments, a batch at a time
        self.status.set_status("Pushing segments")
        per_batch = max(1, self._batch_bytes // g.segsize)
        segnum = 0
        in_flight = None
        while segnum < g.num_segments:
            last = min(g.num_segments, segnum + per_batch)
            runs = [[] for _ in range(self.n)]
            for s in range(segnum, last):
                plaintext = await source.read(g.segment_size(s))
                salt, blocks = builder.encode(s, plaintext)
                for shnum, block in enumerate(blocks):
                    runs[shnum].append(builder.piece(salt, block))
            start = builder.data_offset(segnum)
            datas = [b"".join(r) for r in runs]
            del runs
            if in_flight is not None:
                await in_flight
            per_server = self._group(
                self.targets, lambda t, start=start, datas=datas: (marker_test,
                                                                   [(start, datas[t.shnum])], None))
            in_flight = defer.ensureDeferred(self._send_and_apply(per_server, clen))
            segnum = last
            self.status.set_progress(0.9 * segnum / g.num_segments)
        if in_flight is not None:
            await in_flight
        # 3: header, keys, chains and trees
        self.status.set_status("Pushing hashes and signature")
        builder.finish()
        per_server = self._group(self.targets, lambda t: (marker_test,
                                                          builder.metadata_writes(t.shnum),
                                                          builder.offsets["EOF"]))
        await self._send_and_apply(per_server, clen)

    async def _send_and_apply(self, per_server, clen):
        results = await self._send(per_server, clen)
        self._apply(self.targets, results)
