"""Writing at an offset of a mutable file: :func:`write_at`.

MDMF (docs/specifications/mutable-shares.md §3) updates in place: only the segments the write
touches are re-encoded (each with a fresh salt) and written, together with
the new block hash tree of every share (old leaves kept for the untouched
segments), the share hash chain, the signature and the header.  Every share
of the current version gets these in one test-and-set call per server,
tested against the checkstring the map saw, so each share changes
atomically and another writer is detected (UncoordinatedWriteError).  The
old block hash trees are read from the shares (one call per server for all
its shares, while the old plaintext of the touched segments is read) and
checked against the version's root hash first.

SDMF files (one segment) and MDMF versions that are missing shares are
rewritten whole instead: download, splice, publish.

A write that starts past the end of the file fills the gap with zeros.
"""

from twisted.internet import defer

from ..immutable.target import MemoryConsumer
from . import layout
from .common import MDMF_VERSION, MODE_WRITE
from .publish import Publish, ShareTarget
from .retrieve import Retrieve, _ShareSource
from .shares import VersionEncoder


def splice(old: bytes, offset: int, data: bytes) -> bytes:
    if offset > len(old):
        old = old + b"\x00" * (offset - len(old))
    return old[:offset] + data + old[offset + len(data):]


async def _rewrite_whole(node, smap, offset, data):
    c = MemoryConsumer()
    await node._read(c, smap=smap)
    await node._publish(splice(c.data(), offset, data), smap)


async def write_at(node, offset: int, data: bytes):
    data = bytes(data)
    smap = await node._get_servermap(MODE_WRITE)
    best = node._require_best_for_write(smap)
    prefix = smap.share_head(best).prefix
    if prefix.version != MDMF_VERSION or len(smap.shares_of(best)) < prefix.n:
        return await _rewrite_whole(node, smap, offset, data)
    if not data and offset <= prefix.datalen:
        return
    await _update_in_place(node, smap, best, prefix, offset, data)


async def _load_all_leaves(r, holders: dict, n: int) -> dict:
    """{shnum: source with its verified hashes} of every share number that some server
    holds a good copy of: all shares' hashes are loaded in parallel (one
    slot_readv per server); a share that fails is tried on its next server."""
    leaves: dict = {}
    tries = {shnum: list(holders.get(shnum, [])) for shnum in range(n)}
    while True:
        todo = [_ShareSource(servers.pop(0), shnum) for shnum, servers in tries.items()
                if shnum not in leaves and servers]
        if not todo:
            return leaves
        failed = await r.load_hashes_of(todo)
        for src in todo:
            if src in failed:
                r.give_up(src, failed[src])
            else:
                leaves[src.shnum] = src


async def _update_in_place(node, smap, best, prefix, offset, data):
    keys = node.get_keys()
    old_size, segsize, k, n = prefix.datalen, prefix.segsize, prefix.k, prefix.n
    if offset > old_size:
        data = b"\x00" * (offset - old_size) + data
        offset = old_size
    new_size = max(old_size, offset + len(data))
    first, last = offset // segsize, (offset + len(data) - 1) // segsize

    # the old plaintext of the touched segments that the write does not cover,
    # and, at the same time, every share's block hash tree checked against the
    # root hash (one read per server for all its shares)
    r = Retrieve(keys, smap, best, reactor=node._reactor)
    lo = first * segsize
    hi = min(old_size, (last + 1) * segsize)
    c = MemoryConsumer()
    if hi > lo and node._history is not None:
        node._history.add_retrieve(r.status)
    reading = defer.ensureDeferred(r.download(c, lo, hi - lo)) if hi > lo else None
    try:
        leaves = await _load_all_leaves(r, smap.shares_of(best), n)
    finally:
        if reading is not None:
            await reading
    old = c.data() if hi > lo else b""
    region = splice(old, offset - lo, data)
    if len(leaves) < n:
        return await _rewrite_whole(node, smap, offset, data)

    # the old tail block changes size when the file grows: it is re-encoded below
    seqnum = smap.highest_seqnum() + 1
    enc = VersionEncoder(keys, MDMF_VERSION, seqnum, k, n, new_size, segsize=segsize,
                         existing_block_hashes={sh: src.leaves() for sh, src in leaves.items()},
                         existing_block_trees={sh: src.share.block_hash_tree
                                               for sh, src in leaves.items()})
    runs = [[] for _ in range(n)]
    for s in range(first, last + 1):
        a, b = enc.segment_range(s)
        seg = enc.encode_segment(s, region[a - lo:b - lo])
        for shnum in range(n):
            runs[shnum].append(seg.share_record(shnum))
    ev = enc.finish()
    start = layout.mdmf_block_offset(first, enc.geometry.block_size)
    datas = [b"".join(x) for x in runs]
    del runs

    p = Publish(keys, node._broker, node._secrets, smap, version=MDMF_VERSION, k=k, n=n,
                reactor=node._reactor)
    node._publish_status = p.status
    if node._history is not None:
        node._history.add_publish(p.status)
    p.status.set_seqnum(seqnum)
    p.status.set_size(new_size)
    p.targets = [ShareTarget(rec.server, rec.shnum, rec.checkstring)
                 for rec in smap.records(best)]
    p.status.set_status("Pushing updated segments")
    try:
        await p.write_atomic(
            lambda t: [(start, datas[t.shnum])] + ev.mdmf_final_writes(t.shnum),
            new_length=lambda t: ev.offsets["EOF"], replace=False)
        p.finish_check(required=k)
    except BaseException as e:
        p.status.finish("Failed: %s" % (e,))
        raise
    p.record(ev)
    p.status.finish()
    if node._history is not None:
        node._history.count("mutable.files_published")
        node._history.count("mutable.bytes_published", len(data))
    node._size = new_size
    node._last_read_version = smap.best_recoverable_version()


__all__ = ["splice", "write_at"]
