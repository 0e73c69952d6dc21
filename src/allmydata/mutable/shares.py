"""Plaintext to the N shares of one mutable version, and back (pure, no network).

Writing (docs/specifications/mutable-shares.md §1-§3): the plaintext is cut into segments (SDMF:
one segment of ``nextmul(datalen, k)`` bytes; MDMF: ``nextmul(131072, k)``
bytes).  Each segment is encrypted with AES-128-CTR under
``datakey = H(salt, readkey)`` (SDMF: one IV per version; MDMF: a fresh
random salt per segment), zero-padded to a multiple of k and erasure-coded
into one block per share.  Each share's block hashes (MDMF: over
``salt || block``) form its block hash tree; the roots of those trees, in
share-number order, are the leaves of the share hash tree whose root R goes
into the signed prefix.

:class:`VersionEncoder` does this one segment at a time so that a large MDMF
file is never whole in memory: feed it segments (``encode_segment``), write
the blocks it returns, then ``finish()`` gives the hash trees, signature,
and the header writes (:class:`EncodedVersion`).  To change a few segments
of an existing MDMF version, pass the old block hashes as
``existing_block_hashes`` and re-encode only those segments.

Reading: :class:`VersionDecoder` checks a share's head (verification key
against the cap's fingerprint, signature over the prefix, block hash tree,
share hash chain against R), then each block against its share's block hash
tree, then zfec-decodes and decrypts one segment at a time.  A failed check
raises :class:`CorruptShareError` naming the server, share number and field.

API::

    VersionEncoder(keys, version, seqnum, k, n, datalen, segsize=None, salt=None,
                   existing_block_hashes=None, random_bytes=os.urandom,
                   existing_block_trees=None)
        .geometry .prefix_fields()  .segment_range(segnum) -> (start, end)
        .encode_segment(segnum, plaintext_segment, salt=None) -> SegmentBlocks(segnum, salt, blocks)
        .finish() -> EncodedVersion
    EncodedVersion: prefix, root_hash, signature, verification_key, enc_privkey,
        share_hash_chains {shnum: {index: hash}}, block_hash_trees {shnum: [hash...]},
        verinfo, offsets .checkstring() .head() -> ParsedShare (no per-share fields)
        .pack_sdmf_share(shnum, block) -> bytes
        .pack_mdmf_share(shnum, share_data) -> bytes
        .mdmf_final_writes(shnum) -> [(offset, bytes)]
    encode_version(data, keys, version, seqnum, k, n, segsize=None, salt=None)
        -> (EncodedVersion, {shnum: share bytes})      # whole shares in memory
    iter_encode_mdmf(reader, keys, seqnum, k, n, datalen) -> generator of
        SegmentBlocks ... returning EncodedVersion (StopIteration.value)
    VersionDecoder(keys, prefix, verify_only=False)   # verify_only: no readkey needed
        .verify_share_head(shnum, share: ParsedShare, server=None)
        .verify_block(shnum, segnum, block, salt=None, server=None)
        .decode_segment(segnum, blocks {shnum: block}, salt=None) -> plaintext bytes
        .segment_range(segnum) -> (start, end) of plaintext
    verify_and_decode(keys, shares {shnum: ParsedShare}, servers=None)
        -> (plaintext, {shnum: CorruptShareError})     # UnrecoverableFileError if < k good
    check_enc_privkey(keys, shnum, share, server=None) -> PrivateKey  # CorruptShareError
    block_tree_of(leaves) -> [hash...]   # all nodes; [empty_leaf_hash(0)] for no leaves
    block_tree_length(num_segments) -> int
    updated_block_tree(old_tree, leaves) -> [hash...] | None  # only changed paths
    default_segment_size(version, datalen, k) -> int

``existing_block_hashes`` is ``{shnum: [leaf hash per segment]}`` of the old
version (the leaf row of its block hash trees); a segment whose plaintext
changed -- including an old tail segment that grows -- must be re-encoded.
``existing_block_trees`` (optional, ``{shnum: [every node]}`` of the old,
verified trees) lets ``finish()`` recompute only the changed leaves' paths
instead of building every tree again (:func:`updated_block_tree`).
Empty files have no segments; their block hash tree is the single filler
leaf ``TH("Merkle tree empty leaf", "0")``, as Tahoe-LAFS 1.20 writes it.
"""

import functools
import hashlib
import os

import attr

from allmydata.codec import CRSDecoder, CRSEncoder
from allmydata.crypto import aes, rsa
from allmydata.hashtree import HashTree, HashTreeError, IncompleteHashTree, roundup_pow2
from allmydata.mutable import layout
from allmydata.mutable.common import (
    MDMF_SEGMENT_SIZE,
    MDMF_VERSION,
    SDMF_VERSION,
    BadShareError,
    CorruptShareError,
    NotCapableError,
    NotWriteableError,
    PrivateKeyMismatchError,
    UnrecoverableFileError,
)
from allmydata.util import hashutil
from allmydata.util.netstring import netstring

__all__ = ["VersionEncoder", "EncodedVersion", "SegmentBlocks", "encode_version",
           "iter_encode_mdmf", "VersionDecoder", "verify_and_decode", "check_enc_privkey", "block_tree_of",
           "block_tree_length", "updated_block_tree", "default_segment_size"]


def _next_multiple(n, k):
    return ((n + k - 1) // k) * k


def default_segment_size(version, datalen, k):
    if version == SDMF_VERSION:
        return _next_multiple(datalen, k)
    return _next_multiple(MDMF_SEGMENT_SIZE, k)


def block_tree_of(leaves) -> list:
    """All nodes of a block hash tree; an empty file has the single filler leaf."""
    if not leaves:
        return [hashutil.empty_leaf_hash(0)]
    return list(HashTree(leaves))


def block_tree_length(num_segments: int) -> int:
    """How many nodes the block hash tree of ``num_segments`` segments has:
    the leaves are padded to a power of two (1 node for an empty file)."""
    return 2 * roundup_pow2(num_segments) - 1 if num_segments else 1


@functools.lru_cache(maxsize=4096)
def _filler(position: int) -> bytes:
    return hashutil.empty_leaf_hash(position)


# TPH("Merkle tree internal node", left, right) of two 32-byte hashes, with the
# constant part of its input hashed once (trees of hundreds of nodes per share)
_NODE_HASHER = hashlib.sha256(netstring(hashutil.MERKLE_INTERNAL_TAG) + b"32:")


def _node_hash(left: bytes, right: bytes) -> bytes:
    if len(left) != 32 or len(right) != 32:
        return hashutil.internal_node_hash(left, right)
    h = _NODE_HASHER.copy()
    h.update(b"".join((left, b",32:", right, b",")))
    return hashlib.sha256(h.digest()).digest()


def updated_block_tree(old_tree, leaves) -> list | None:
    """The block hash tree of ``leaves`` made from ``old_tree`` (all nodes of
    a tree of the same padded width, e.g. of the version before a write_at)
    by recomputing only the paths of the leaves that differ; None when the
    widths differ (build it whole)."""
    nseg = len(leaves)
    if not nseg or len(old_tree) != block_tree_length(nseg):
        return None
    tree = list(old_tree)
    first_leaf = (len(tree) - 1) // 2
    dirty = set()
    for j in range(first_leaf + 1):
        want = leaves[j] if j < nseg else _filler(j)
        if tree[first_leaf + j] != want:
            tree[first_leaf + j] = want
            dirty.add(first_leaf + j)
    while dirty and 0 not in dirty:
        parents = {(i - 1) // 2 for i in dirty}
        for i in parents:
            tree[i] = _node_hash(tree[2 * i + 1], tree[2 * i + 2])
        dirty = parents
    return tree


def _block_hash(version, salt, block):
    """SDMF: TH(block); MDMF: TH(salt || block) -- hashed in place, without
    joining a copy of the block."""
    h = hashutil.block_hasher()
    if version != SDMF_VERSION:
        h.update(salt)
    h.update(block)
    return h.digest()


@attr.s(frozen=True)
class SegmentBlocks:
    """One encoded segment: ``blocks[shnum]`` for every share, under ``salt``."""

    segnum = attr.ib()
    salt = attr.ib()
    blocks = attr.ib()

    def share_record(self, shnum) -> bytes:
        """What goes into share ``shnum`` for this segment: MDMF ``salt || block``,
        SDMF the block."""
        if self.salt is None:
            return self.blocks[shnum]
        return self.salt + self.blocks[shnum]


class VersionEncoder:
    """Encode one version of a mutable file, segment by segment."""

    def __init__(self, keys, version, seqnum, k, n, datalen, segsize=None, salt=None,
                 existing_block_hashes=None, random_bytes=os.urandom,
                 existing_block_trees=None):
        if keys.privkey is None:
            raise NotWriteableError("publishing needs the file's private key")
        if keys.readkey is None:
            raise NotCapableError("publishing needs the readkey")
        if not 1 <= k <= n <= 255:
            raise ValueError("encoding %d-of-%d is impossible (1 <= k <= N <= 255)" % (k, n))
        self.keys = keys
        self.version = version
        self.seqnum = seqnum
        self.k, self.n = k, n
        self.datalen = datalen
        if segsize is None:
            segsize = default_segment_size(version, datalen, k)
        self.segsize = segsize
        self.geometry = layout.geometry(version, k, segsize, datalen)
        self._random = random_bytes
        if version == SDMF_VERSION:
            self.salt = salt if salt is not None else random_bytes(layout.SALT_SIZE)
        else:
            if salt is not None:
                raise ValueError("MDMF has per-segment salts, not one IV")
            self.salt = None
        nseg = self.geometry.num_segments
        self._leaves = {sh: [None] * nseg for sh in range(n)}
        for sh, hashes in (existing_block_hashes or {}).items():
            for segnum, h in enumerate(hashes[:nseg]):
                self._leaves[sh][segnum] = h
        # {shnum: all nodes of the old block hash tree}: finish() recomputes
        # only the paths of the leaves that changed
        self._old_trees = dict(existing_block_trees or {})
        self._coders = {}

    def segment_range(self, segnum):
        """``(start, end)`` of segment ``segnum`` in the plaintext."""
        g = self.geometry
        if not 0 <= segnum < g.num_segments:
            raise IndexError("segment %d of %d" % (segnum, g.num_segments))
        start = segnum * g.segment_size
        return start, min(start + g.segment_size, self.datalen)

    def _coder(self, padded_len):
        enc = self._coders.get(padded_len)
        if enc is None:
            enc = CRSEncoder()
            enc.set_params(padded_len, self.k, self.n)
            self._coders[padded_len] = enc
        return enc

    def encode_segment(self, segnum, plaintext, salt=None) -> SegmentBlocks:
        """Encrypt and erasure-code one segment; remember its block hashes."""
        start, end = self.segment_range(segnum)
        if len(plaintext) != end - start:
            raise ValueError("segment %d must be %d bytes, got %d"
                             % (segnum, end - start, len(plaintext)))
        if self.version == SDMF_VERSION:
            salt = self.salt
        elif salt is None:
            salt = self._random(layout.SALT_SIZE)
        elif len(salt) != layout.SALT_SIZE:
            raise ValueError("a segment salt is %d bytes" % layout.SALT_SIZE)
        crypttext = aes.ctr_encrypt(self.keys.datakey(salt), plaintext)
        padded_len = _next_multiple(len(crypttext), self.k)
        if padded_len != len(crypttext):
            crypttext += b"\x00" * (padded_len - len(crypttext))
        piece = padded_len // self.k
        mv = memoryview(crypttext)
        pieces = [mv[i * piece:(i + 1) * piece] for i in range(self.k)]
        blocks, _ = self._coder(padded_len).encode_sync(pieces)
        stored_salt = salt if self.version == MDMF_VERSION else None
        for sh, block in enumerate(blocks):
            self._leaves[sh][segnum] = _block_hash(self.version, salt, block)
        return SegmentBlocks(segnum, stored_salt, blocks)

    def prefix_fields(self):
        return layout.Prefix(self.version, self.seqnum, None, self.salt, self.k, self.n,
                             self.segsize, self.datalen)

    def finish(self) -> "EncodedVersion":
        """Hash trees, root, signature: everything but the blocks."""
        for sh, leaves in self._leaves.items():
            missing = [i for i, h in enumerate(leaves) if h is None]
            if missing:
                raise ValueError("segments %s were never encoded (share %d)" % (missing[:5], sh))
        bhts = {}
        for sh in range(self.n):
            old = self._old_trees.get(sh)
            tree = updated_block_tree(old, self._leaves[sh]) if old is not None else None
            bhts[sh] = tree if tree is not None else block_tree_of(self._leaves[sh])
        share_tree = HashTree([bhts[sh][0] for sh in range(self.n)])
        chains = {sh: {i: share_tree[i] for i in share_tree.needed_hashes(sh)}
                  for sh in range(self.n)}
        prefix = layout.Prefix(self.version, self.seqnum, share_tree[0], self.salt, self.k,
                               self.n, self.segsize, self.datalen)
        signature = rsa.sign(self.keys.privkey, prefix.signed_bytes())
        vk = rsa.public_key_to_der(self.keys.pubkey or rsa.public_of(self.keys.privkey))
        return EncodedVersion(prefix, signature, vk, self.keys.encrypted_privkey(), chains,
                              bhts)


@attr.s
class EncodedVersion:
    """Everything of a version's shares except the blocks themselves."""

    prefix = attr.ib()
    signature = attr.ib()
    verification_key = attr.ib()
    enc_privkey = attr.ib()
    share_hash_chains = attr.ib()
    block_hash_trees = attr.ib()

    @property
    def root_hash(self):
        return self.prefix.root_hash

    @functools.cached_property
    def offsets(self):
        sh = 0
        return layout.compute_offsets(self.prefix, len(self.verification_key),
                                      len(self.signature), len(self.share_hash_chains[sh]),
                                      len(self.block_hash_trees[sh]), len(self.enc_privkey))

    @functools.cached_property
    def verinfo(self):
        p = self.prefix
        return layout.VerInfo(p.seqnum, p.root_hash, p.salt, p.segsize, p.datalen, p.k, p.n,
                              p.signed_bytes(), tuple(sorted(self.offsets.items())))

    def checkstring(self):
        return self.prefix.checkstring()

    def head(self):
        """A ParsedShare with what every share of this version has in common
        (prefix, offsets, verification key, signature), as a server map keeps it."""
        return layout.ParsedShare(self.prefix, dict(self.offsets), self.verification_key,
                                  self.signature)

    def _parsed(self, shnum, share_data):
        return layout.ParsedShare(self.prefix, None, self.verification_key, self.signature,
                                  self.share_hash_chains[shnum], self.block_hash_trees[shnum],
                                  share_data, self.enc_privkey)

    def pack_share(self, shnum, share_data) -> bytes:
        """The whole share ``shnum`` (``share_data``: SDMF the block, MDMF all
        ``salt || block`` records)."""
        return layout.pack_share(self._parsed(shnum, share_data))

    pack_sdmf_share = pack_mdmf_share = pack_share

    def mdmf_final_writes(self, shnum):
        """Writes completing an MDMF share whose blocks are already in place."""
        return layout.mdmf_final_writes(self.prefix, self.enc_privkey,
                                        self.share_hash_chains[shnum], self.signature,
                                        self.verification_key, self.block_hash_trees[shnum])


def _read_exactly(reader, size):
    if isinstance(reader, (bytes, bytearray, memoryview)):
        raise TypeError("use a reader here")
    parts, got = [], 0
    while got < size:
        chunk = reader.read(size - got)
        if not chunk:
            raise ValueError("the data ended %d bytes early" % (size - got))
        parts.append(chunk)
        got += len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def iter_encode_mdmf(reader, keys, seqnum, k, n, datalen, segsize=None):
    """Generator over the :class:`SegmentBlocks` of an MDMF version read from
    ``reader`` (``read(size)``), one segment in memory at a time; its return
    value (``StopIteration.value``) is the :class:`EncodedVersion`."""
    enc = VersionEncoder(keys, MDMF_VERSION, seqnum, k, n, datalen, segsize)
    for segnum in range(enc.geometry.num_segments):
        start, end = enc.segment_range(segnum)
        yield enc.encode_segment(segnum, _read_exactly(reader, end - start))
    return enc.finish()


def encode_version(data, keys, version, seqnum, k, n, segsize=None, salt=None):
    """All N whole shares of a version, in memory: ``(EncodedVersion, {shnum: bytes})``.
    ``data`` is bytes or a reader; ``salt`` is the SDMF IV (random if None)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        data = data.read()
    data = bytes(data)
    enc = VersionEncoder(keys, version, seqnum, k, n, len(data), segsize, salt=salt)
    records = {sh: [] for sh in range(n)}
    for segnum in range(enc.geometry.num_segments):
        start, end = enc.segment_range(segnum)
        seg = enc.encode_segment(segnum, data[start:end])
        for sh in range(n):
            records[sh].append(seg.share_record(sh))
    ev = enc.finish()
    return ev, {sh: ev.pack_share(sh, b"".join(records[sh])) for sh in range(n)}


# ---- reading ----------------------------------------------------------------------------
class VersionDecoder:
    """Verify shares of one version and decode its segments."""

    def __init__(self, keys, prefix, verify_only=False):
        # a verifier (verify cap: no readkey) checks hashes and never decodes
        if keys.readkey is None and not verify_only:
            raise NotCapableError("decoding needs the readkey (a read or write cap)")
        self.keys = keys
        self.prefix = prefix
        self.version = prefix.version
        self.geometry = prefix.geometry()
        self._pubkey = keys.pubkey
        self._pubkey_der = rsa.public_key_to_der(keys.pubkey) if keys.pubkey else None
        self._block_trees = {}     # shnum -> list of every node, checked
        self._decoders = {}

    def segment_range(self, segnum):
        g = self.geometry
        if not 0 <= segnum < g.num_segments:
            raise IndexError("segment %d of %d" % (segnum, g.num_segments))
        start = segnum * g.segment_size
        return start, min(start + g.segment_size, self.prefix.datalen)

    def _pubkey_from(self, shnum, share, server):
        vk = share.verification_key
        if self._pubkey is not None:
            if vk is not None and vk != self._pubkey_der:
                raise CorruptShareError(server, shnum, "the verification key does not match "
                                        "the fingerprint in the cap")
            return self._pubkey
        if vk is None:
            raise ValueError("share %d: the verification key was not read" % shnum)
        try:
            self.keys.check_pubkey(vk)
        except BadShareError:
            raise CorruptShareError(server, shnum, "the verification key does not match the "
                                    "fingerprint in the cap") from None
        try:
            pub = rsa.public_key_from_der(vk)
        except rsa.BadKeyError as e:
            raise CorruptShareError(server, shnum, "verification key: %s" % e) from None
        self._pubkey, self._pubkey_der = pub, bytes(vk)
        return pub

    def verify_share_head(self, shnum, share, server=None):
        """Check a share's signature, share hash chain and block hash tree.

        The share must have ``signature``, ``share_hash_chain`` and
        ``block_hash_tree`` (and ``verification_key`` unless the keys hold the
        pubkey).  Raises CorruptShareError naming the failing field.
        """
        if share.prefix != self.prefix:
            raise CorruptShareError(server, shnum, "its signed prefix is not the one of the "
                                    "version being read")
        if not 0 <= shnum < self.prefix.n:
            raise CorruptShareError(server, shnum, "share number out of range for N=%d"
                                    % self.prefix.n)
        pub = self._pubkey_from(shnum, share, server)
        try:
            rsa.verify(pub, share.signature, self.prefix.signed_bytes())
        except rsa.BadSignatureError:
            raise CorruptShareError(server, shnum, "the signature does not match the signed "
                                    "prefix (seqnum %d)" % self.prefix.seqnum) from None
        bht = share.block_hash_tree
        if self._block_trees.get(shnum) != bht:   # not this very tree, checked already
            self._check_block_tree_shape(shnum, bht, server)
        chain = share.share_hash_chain
        if 0 in chain:
            raise CorruptShareError(server, shnum, "share hash chain: it lists the root node "
                                    "itself, which a chain never holds")
        tree = IncompleteHashTree(self.prefix.n)
        try:
            tree.set_hashes(hashes={**chain, 0: self.prefix.root_hash},
                            leaves={shnum: bht[0]})
        except (HashTreeError, IndexError) as e:
            raise CorruptShareError(server, shnum, "share hash chain: it does not lead from "
                                    "this share's block hash tree root to the root hash "
                                    "(%s)" % e) from None
        self._block_trees[shnum] = bht

    def _check_block_tree_shape(self, shnum, bht, server):
        nseg = self.geometry.num_segments
        want = block_tree_length(nseg)
        if len(bht) != want:
            raise CorruptShareError(server, shnum, "block hash tree has %d nodes, %d segments "
                                    "need %d" % (len(bht), nseg, want))
        if nseg == 0:
            if bht[0] != hashutil.empty_leaf_hash(0):
                raise CorruptShareError(server, shnum, "block hash tree of an empty file is "
                                        "not the empty-leaf hash")
            return
        first_leaf = (len(bht) - 1) // 2
        for j in range(nseg, len(bht) - first_leaf):
            if bht[first_leaf + j] != _filler(j):
                raise CorruptShareError(server, shnum, "block hash tree: filler leaf %d is "
                                        "wrong" % j)
        for i in range(first_leaf - 1, -1, -1):
            if _node_hash(bht[2 * i + 1], bht[2 * i + 2]) != bht[i]:
                raise CorruptShareError(server, shnum, "block hash tree: node %d does not "
                                        "match its children" % i)

    def verify_block(self, shnum, segnum, block, salt=None, server=None):
        """Check one block (MDMF: with its salt) against share ``shnum``'s block
        hash tree, which :meth:`verify_share_head` must have accepted."""
        bht = self._block_trees.get(shnum)
        if bht is None:
            raise ValueError("share %d's head was not verified yet" % shnum)
        g = self.geometry
        size = g.tail_block_size if segnum == g.num_segments - 1 else g.block_size
        if len(block) != size:
            raise CorruptShareError(server, shnum, "block %d is %d bytes, expected %d"
                                    % (segnum, len(block), size))
        if self.version == MDMF_VERSION and (salt is None or len(salt) != layout.SALT_SIZE):
            raise CorruptShareError(server, shnum, "segment %d has no 16-byte salt" % segnum)
        first_leaf = (len(bht) - 1) // 2
        if _block_hash(self.version, salt, block) != bht[first_leaf + segnum]:
            what = "block data" if self.version == SDMF_VERSION else "salt or block data"
            raise CorruptShareError(server, shnum, "%s of segment %d does not match the block "
                                    "hash tree" % (what, segnum))

    def decode_segment(self, segnum, blocks, salt=None) -> bytes:
        """Plaintext of segment ``segnum`` from k verified blocks ``{shnum: block}``."""
        start, end = self.segment_range(segnum)
        g = self.geometry
        k = self.prefix.k
        if self.version == SDMF_VERSION:
            salt = self.prefix.salt
        size = g.tail_block_size if segnum == g.num_segments - 1 else g.block_size
        dec = self._decoders.get(size)
        if dec is None:
            dec = CRSDecoder()
            dec.set_params(size * k, k, self.prefix.n)
            self._decoders[size] = dec
        use = sorted(blocks)[:k]
        if len(use) < k:
            raise UnrecoverableFileError("segment %d needs %d blocks, only %d are good"
                                         % (segnum, k, len(use)))
        pieces = dec.decode_sync([blocks[sh] for sh in use], use)
        crypttext = b"".join(pieces)[:end - start]
        return aes.ctr_decrypt(self.keys.datakey(salt), crypttext)


def verify_and_decode(keys, shares, servers=None):
    """Check every given share of one version and decode the file.

    ``shares`` is ``{shnum: ParsedShare}`` (complete shares), ``servers`` an
    optional ``{shnum: server}`` for the error messages.  Returns
    ``(plaintext, {shnum: CorruptShareError})`` with the shares that failed;
    raises UnrecoverableFileError when fewer than k shares are good.
    """
    servers = servers or {}
    if not shares:
        raise UnrecoverableFileError("no shares to decode")
    # the prefix most shares agree on (a corrupt one may claim another)
    counts = {}
    for sh in shares.values():
        counts[sh.prefix] = counts.get(sh.prefix, 0) + 1
    prefix = max(counts, key=lambda p: counts[p])
    dec = VersionDecoder(keys, prefix)
    bad, good = {}, {}
    for shnum in sorted(shares):
        try:
            dec.verify_share_head(shnum, shares[shnum], servers.get(shnum))
            good[shnum] = shares[shnum]
        except CorruptShareError as e:
            bad[shnum] = e
    k = prefix.k
    out = []
    for segnum in range(dec.geometry.num_segments):
        blocks, salt = {}, None
        for shnum in sorted(good):
            if len(blocks) >= k:
                break
            share = good[shnum]
            if prefix.version == SDMF_VERSION:
                block, s = share.share_data, None
            else:
                s, block = share.mdmf_block(segnum)
            try:
                dec.verify_block(shnum, segnum, block, s, servers.get(shnum))
            except CorruptShareError as e:
                bad[shnum] = e
                del good[shnum]
                continue
            blocks[shnum] = block
            salt = s
        if len(blocks) < k:
            raise UnrecoverableFileError(
                "only %d good shares of the %d needed for segment %d; problems: %s"
                % (len(blocks), k, segnum, "; ".join(str(e) for e in bad.values()) or "none"))
        out.append(dec.decode_segment(segnum, blocks, salt))
    if len(good) < k:
        raise UnrecoverableFileError("only %d good shares of the %d needed; problems: %s"
                                     % (len(good), k, "; ".join(str(e) for e in bad.values())))
    return b"".join(out), bad


def check_enc_privkey(keys, shnum, share, server=None):
    """Decrypt the share's private key and check it is this file's (writers)."""
    try:
        return keys.privkey_from_encrypted(share.enc_privkey)
    except PrivateKeyMismatchError as e:
        raise CorruptShareError(server, shnum, "encrypted private key: %s" % e) from None

