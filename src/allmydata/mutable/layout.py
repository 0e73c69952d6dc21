"""The bytes of one mutable share, SDMF and MDMF (docs/specifications/mutable-shares.md §2, §3).

Pure byte work, no network.  A share is what a client writes into a mutable
slot on a storage server (the server's container header,
docs/specifications/containers.md §3, is not part of it).  Both formats start with a *signed prefix* and a table of offsets:

* SDMF (version 0): ``>BQ32s16sBBQQ`` prefix (75 bytes: version, seqnum,
  root hash, IV, k, N, segsize, datalen), then 4 u32 and 2 u64 offsets
  (header 107 bytes); then verification key, signature, share hash chain,
  block hash tree (one node), the single block, encrypted private key.
* MDMF (version 1): ``>BQ32sBBQQ`` prefix (59 bytes, no salt), then 8 u64
  offsets (header 123 bytes); then encrypted private key, share hash chain,
  signature, verification key, a gap, share data at the fixed offset 2167
  (``salt16 || block`` per segment), the full block hash tree.

Share hash chains are ``(u16 index, 32-byte hash)`` entries sorted by index.

Readers often have only the start of a share (the servermap reads ~4000
bytes).  :func:`parse_share` with ``partial=True`` parses what is there and
leaves the rest None; :meth:`ParsedShare.needed_ranges` says which byte
ranges to fetch for the missing fields, and :meth:`ParsedShare.set_field`
fills one in from the fetched bytes.

API::

    HEADER_LENGTH_SDMF = 107, HEADER_LENGTH_MDMF = 123, MDMF_SHARE_DATA_OFFSET = 2167
    SALT_SIZE = 16, HASH_SIZE = 32, INITIAL_READ_SIZE = 4000
    Prefix(version, seqnum, root_hash, salt, k, n, segsize, datalen)
        .signed_bytes() .checkstring() .geometry() .num_segments ...
    unpack_prefix(data) -> Prefix               # needs 75 (SDMF) / 59 (MDMF) bytes
    unpack_header(data) -> (Prefix, offsets)    # needs 107 / 123 bytes
    unpack_offsets(data) -> dict
    signed_prefix(version, seqnum, root_hash, salt, k, n, segsize, datalen) -> bytes
    checkstring(version, seqnum, root_hash, salt=None) -> bytes   # 57 / 41 bytes
    unpack_checkstring(cs) -> (version, seqnum, root_hash, salt_or_None)
    pack_share_hash_chain(dict) -> bytes; unpack_share_hash_chain(bytes) -> dict
    pack_block_hash_tree(list) -> bytes; unpack_block_hash_tree(bytes) -> list
    Geometry(num_segments, segment_size, block_size, tail_segment_size, tail_block_size)
    geometry(version, k, segsize, datalen) -> Geometry
    compute_offsets(prefix, len_verification_key, len_signature, n_chain, n_bht,
                    len_enc_privkey) -> dict
    pack_share(ParsedShare) -> bytes
    pack_sdmf_share(prefix, verification_key, signature, share_hash_chain,
                    block_hash_tree, share_data, enc_privkey) -> bytes
    pack_mdmf_share(prefix, enc_privkey, share_hash_chain, signature,
                    verification_key, share_data, block_hash_tree) -> bytes
    mdmf_block_offset(segnum, block_size) -> int
    mdmf_block_range(prefix, offsets, segnum) -> (offset, length)  # salt+block
    split_mdmf_block(raw) -> (salt, block)
    mdmf_final_writes(prefix, enc_privkey, share_hash_chain, signature,
                      verification_key, block_hash_tree) -> [(offset, bytes)]
    parse_share(data, partial=False) -> ParsedShare
    ParsedShare: prefix, offsets, verification_key, signature, share_hash_chain,
        block_hash_tree, share_data, enc_privkey; .version .verinfo()
        .field_range(name) .needed_ranges(*names) .set_field(name, raw)
        .mdmf_block(segnum) -> (salt, block) .sdmf_block()
    VerInfo(seqnum, root_hash, salt, segsize, datalen, k, n, prefix, offsets) (.version)
"""

import struct
from collections import namedtuple

import attr

from allmydata.mutable.common import MDMF_VERSION, SDMF_VERSION, LayoutInvalid

HASH_SIZE = 32
SALT_SIZE = 16
INITIAL_READ_SIZE = 4000

_SDMF_PREFIX = struct.Struct(">BQ32s16sBBQQ")
_SDMF_HEADER = struct.Struct(">BQ32s16sBBQQLLLLQQ")
_MDMF_PREFIX = struct.Struct(">BQ32sBBQQ")
_MDMF_HEADER = struct.Struct(">BQ32sBBQQQQQQQQQQ")
_CHAIN_ENTRY = struct.Struct(">H32s")

SIGNED_PREFIX_LENGTH_SDMF = _SDMF_PREFIX.size     # 75
SIGNED_PREFIX_LENGTH_MDMF = _MDMF_PREFIX.size     # 59
HEADER_LENGTH_SDMF = _SDMF_HEADER.size            # 107
HEADER_LENGTH_MDMF = _MDMF_HEADER.size            # 123
CHECKSTRING_LENGTH_SDMF = 1 + 8 + 32 + 16         # 57
CHECKSTRING_LENGTH_MDMF = 1 + 8 + 32              # 41

# MDMF reserves room before the share data for the largest fields Tahoe-LAFS
# expected: encrypted private key, signature, public key, 8 chain entries.
MDMF_PRIVKEY_ROOM, MDMF_SIGNATURE_ROOM, MDMF_PUBKEY_ROOM = 1220, 260, 292
MDMF_CHAIN_ROOM = (2 + HASH_SIZE) * 8
MDMF_SHARE_DATA_OFFSET = (HEADER_LENGTH_MDMF + MDMF_PRIVKEY_ROOM + MDMF_SIGNATURE_ROOM
                          + MDMF_PUBKEY_ROOM + MDMF_CHAIN_ROOM)   # 2167

SDMF_OFFSET_NAMES = ("signature", "share_hash_chain", "block_hash_tree", "share_data",
                     "enc_privkey", "EOF")
MDMF_OFFSET_NAMES = ("enc_privkey", "share_hash_chain", "signature", "verification_key",
                     "verification_key_end", "share_data", "block_hash_tree", "EOF")

# field name -> (offset key of its start, offset key of its end), per version
_FIELD_BOUNDS = {
    SDMF_VERSION: {
        "verification_key": (None, "signature"),
        "signature": ("signature", "share_hash_chain"),
        "share_hash_chain": ("share_hash_chain", "block_hash_tree"),
        "block_hash_tree": ("block_hash_tree", "share_data"),
        "share_data": ("share_data", "enc_privkey"),
        "enc_privkey": ("enc_privkey", "EOF"),
    },
    MDMF_VERSION: {
        "enc_privkey": ("enc_privkey", "share_hash_chain"),
        "share_hash_chain": ("share_hash_chain", "signature"),
        "signature": ("signature", "verification_key"),
        "verification_key": ("verification_key", "verification_key_end"),
        "share_data": ("share_data", "block_hash_tree"),
        "block_hash_tree": ("block_hash_tree", "EOF"),
    },
}
FIELDS = ("verification_key", "signature", "share_hash_chain", "block_hash_tree",
          "share_data", "enc_privkey")

__all__ = ["HASH_SIZE", "SALT_SIZE", "INITIAL_READ_SIZE", "HEADER_LENGTH_SDMF",
           "HEADER_LENGTH_MDMF", "MDMF_SHARE_DATA_OFFSET", "Prefix", "Geometry", "VerInfo",
           "ParsedShare", "unpack_prefix", "unpack_header", "unpack_offsets", "signed_prefix",
           "checkstring", "unpack_checkstring", "pack_share_hash_chain",
           "unpack_share_hash_chain", "pack_block_hash_tree", "unpack_block_hash_tree",
           "geometry", "compute_offsets", "pack_share", "pack_sdmf_share", "pack_mdmf_share",
           "mdmf_block_offset", "mdmf_block_range", "split_mdmf_block", "mdmf_final_writes",
           "parse_share", "FIELDS"]


def _div_ceil(n, d):
    return (n + d - 1) // d


def _next_multiple(n, k):
    return _div_ceil(n, k) * k


# ---- geometry ---------------------------------------------------------------------------
Geometry = namedtuple("Geometry", ["num_segments", "segment_size", "block_size",
                                   "tail_segment_size", "tail_block_size"])
Geometry.__doc__ = """How a version's plaintext is cut: ``num_segments`` segments of
``segment_size`` bytes (the last one ``tail_segment_size`` bytes of data, padded
to a multiple of k), each giving one block per share (``block_size`` bytes,
``tail_block_size`` for the last)."""


def geometry(version, k, segsize, datalen) -> Geometry:
    """The segment layout implied by a prefix's k, segsize and datalen."""
    if k < 1:
        raise LayoutInvalid("k is %d; a share needs k >= 1" % k)
    if datalen == 0:
        return Geometry(0, segsize, 0, 0, 0)
    if segsize == 0:
        raise LayoutInvalid("segment size 0 with %d bytes of data" % datalen)
    if segsize % k:
        raise LayoutInvalid("segment size %d is not a multiple of k=%d" % (segsize, k))
    num_segments = _div_ceil(datalen, segsize)
    if version == SDMF_VERSION and num_segments != 1:
        raise LayoutInvalid("SDMF holds one segment, but segment size %d and data length %d "
                            "make %d" % (segsize, datalen, num_segments))
    tail = datalen - (num_segments - 1) * segsize
    return Geometry(num_segments, segsize, segsize // k, tail, _next_multiple(tail, k) // k)


def _share_data_length(version, g: Geometry):
    if g.num_segments == 0:
        return 0
    if version == SDMF_VERSION:
        return g.block_size
    return (g.num_segments - 1) * (g.block_size + SALT_SIZE) + g.tail_block_size + SALT_SIZE


def _bht_nodes(g: Geometry):
    """Nodes in a full block hash tree over ``num_segments`` leaves (one for an empty file)."""
    p = 1
    while p < g.num_segments:
        p *= 2
    return 2 * p - 1


# ---- prefix and checkstring -------------------------------------------------------------
@attr.s(frozen=True)
class Prefix:
    """The signed fields at the start of a share.  ``salt`` is the SDMF IV;
    None for MDMF (whose salts are per segment, in the share data)."""

    version = attr.ib()
    seqnum = attr.ib()
    root_hash = attr.ib()
    salt = attr.ib()
    k = attr.ib()
    n = attr.ib()
    segsize = attr.ib()
    datalen = attr.ib()

    def signed_bytes(self) -> bytes:
        return signed_prefix(self.version, self.seqnum, self.root_hash, self.salt, self.k,
                             self.n, self.segsize, self.datalen)

    def checkstring(self) -> bytes:
        return checkstring(self.version, self.seqnum, self.root_hash, self.salt)

    def geometry(self) -> Geometry:
        return geometry(self.version, self.k, self.segsize, self.datalen)

    @property
    def num_segments(self):
        return self.geometry().num_segments


def _check_prefix_values(version, seqnum, root_hash, salt, k, n):
    if version not in (SDMF_VERSION, MDMF_VERSION):
        raise LayoutInvalid("unknown share version %r (0 = SDMF, 1 = MDMF)" % (version,))
    if not isinstance(root_hash, bytes) or len(root_hash) != HASH_SIZE:
        raise LayoutInvalid("the root hash must be %d bytes" % HASH_SIZE)
    if version == SDMF_VERSION:
        if not isinstance(salt, bytes) or len(salt) != SALT_SIZE:
            raise LayoutInvalid("an SDMF prefix needs a %d-byte IV, got %r" % (SALT_SIZE, salt))
    elif salt is not None:
        raise LayoutInvalid("an MDMF prefix has no salt (salts are per segment)")
    if not 1 <= k <= n <= 255:
        raise LayoutInvalid("encoding %d-of-%d is impossible (need 1 <= k <= N <= 255)" % (k, n))


def signed_prefix(version, seqnum, root_hash, salt, k, n, segsize, datalen) -> bytes:
    """The bytes the signature covers: SDMF ``[0:75)``, MDMF ``[0:59)``."""
    _check_prefix_values(version, seqnum, root_hash, salt, k, n)
    if version == SDMF_VERSION:
        return _SDMF_PREFIX.pack(version, seqnum, root_hash, salt, k, n, segsize, datalen)
    return _MDMF_PREFIX.pack(version, seqnum, root_hash, k, n, segsize, datalen)


def checkstring(version, seqnum, root_hash, salt=None) -> bytes:
    """What a test-and-set write compares: version, seqnum, root (and SDMF IV)."""
    if version == SDMF_VERSION:
        if salt is None or len(salt) != SALT_SIZE:
            raise LayoutInvalid("an SDMF checkstring needs the %d-byte IV" % SALT_SIZE)
        return struct.pack(">BQ32s16s", version, seqnum, root_hash, salt)
    if version == MDMF_VERSION:
        return struct.pack(">BQ32s", version, seqnum, root_hash)
    raise LayoutInvalid("unknown share version %r" % (version,))


def unpack_checkstring(cs: bytes):
    """``(version, seqnum, root_hash, salt_or_None)`` of a 57- or 41-byte checkstring."""
    cs = bytes(cs)
    if len(cs) == CHECKSTRING_LENGTH_SDMF and cs[0] == SDMF_VERSION:
        return struct.unpack(">BQ32s16s", cs)
    if len(cs) == CHECKSTRING_LENGTH_MDMF and cs[0] == MDMF_VERSION:
        return struct.unpack(">BQ32s", cs) + (None,)
    raise LayoutInvalid("a %d-byte checkstring starting with %r is neither SDMF (57 bytes, "
                        "version 0) nor MDMF (41 bytes, version 1)" % (len(cs), cs[:1]))


def _version_of(data):
    if len(data) < 1:
        raise LayoutInvalid("the share is empty: no version byte")
    version = data[0]
    if version not in (SDMF_VERSION, MDMF_VERSION):
        raise LayoutInvalid("share version byte is %d; only 0 (SDMF) and 1 (MDMF) exist"
                            % version)
    return version


def unpack_prefix(data) -> Prefix:
    """The signed prefix at the start of ``data`` (75 bytes SDMF, 59 MDMF needed)."""
    version = _version_of(data)
    if version == SDMF_VERSION:
        if len(data) < SIGNED_PREFIX_LENGTH_SDMF:
            raise LayoutInvalid("an SDMF prefix needs %d bytes, got %d"
                                % (SIGNED_PREFIX_LENGTH_SDMF, len(data)))
        v, seq, root, salt, k, n, segsize, datalen = _SDMF_PREFIX.unpack_from(data)
    else:
        if len(data) < SIGNED_PREFIX_LENGTH_MDMF:
            raise LayoutInvalid("an MDMF prefix needs %d bytes, got %d"
                                % (SIGNED_PREFIX_LENGTH_MDMF, len(data)))
        v, seq, root, k, n, segsize, datalen = _MDMF_PREFIX.unpack_from(data)
        salt = None
    _check_prefix_values(v, seq, root, salt, k, n)
    return Prefix(v, seq, root, salt, k, n, segsize, datalen)


def unpack_offsets(data) -> dict:
    """The offset table of the header at the start of ``data``."""
    return unpack_header(data)[1]


def unpack_header(data):
    """``(Prefix, offsets dict)`` from the first 107 (SDMF) / 123 (MDMF) bytes."""
    prefix = unpack_prefix(data)
    if prefix.version == SDMF_VERSION:
        if len(data) < HEADER_LENGTH_SDMF:
            raise LayoutInvalid("an SDMF header needs %d bytes, got %d"
                                % (HEADER_LENGTH_SDMF, len(data)))
        values = _SDMF_HEADER.unpack_from(data)[8:]
        offsets = dict(zip(SDMF_OFFSET_NAMES, values, strict=True))
    else:
        if len(data) < HEADER_LENGTH_MDMF:
            raise LayoutInvalid("an MDMF header needs %d bytes, got %d"
                                % (HEADER_LENGTH_MDMF, len(data)))
        values = _MDMF_HEADER.unpack_from(data)[7:]
        offsets = dict(zip(MDMF_OFFSET_NAMES, values, strict=True))
    _check_offsets(prefix, offsets)
    return prefix, offsets


def _check_offsets(prefix, offsets):
    """Offsets must be in layout order and consistent with the segment geometry."""
    version = prefix.version
    names = SDMF_OFFSET_NAMES if version == SDMF_VERSION else MDMF_OFFSET_NAMES
    header = HEADER_LENGTH_SDMF if version == SDMF_VERSION else HEADER_LENGTH_MDMF
    last_name, last = "end of header", header
    for name in names:
        value = offsets[name]
        if value < last:
            raise LayoutInvalid("offset of %s (%d) lies before %s (%d)"
                                % (name, value, last_name, last))
        last_name, last = name, value
    g = prefix.geometry()
    want = _share_data_length(version, g)
    got = offsets["enc_privkey" if version == SDMF_VERSION else "block_hash_tree"] \
        - offsets["share_data"]
    if got != want:
        raise LayoutInvalid("the share data is %d bytes by the offsets, but k=%d, segsize=%d "
                            "and datalen=%d need %d" % (got, prefix.k, prefix.segsize,
                                                         prefix.datalen, want))
    bht_len = offsets["share_data" if version == SDMF_VERSION else "EOF"] \
        - offsets["block_hash_tree"]
    if bht_len != _bht_nodes(g) * HASH_SIZE:
        raise LayoutInvalid("the block hash tree is %d bytes by the offsets; %d segments need "
                            "%d hashes" % (bht_len, g.num_segments, _bht_nodes(g)))
    chain_len = offsets["block_hash_tree" if version == SDMF_VERSION else "signature"] \
        - offsets["share_hash_chain"]
    if chain_len % _CHAIN_ENTRY.size:
        raise LayoutInvalid("the share hash chain is %d bytes, not a multiple of %d"
                            % (chain_len, _CHAIN_ENTRY.size))


# ---- hash lists -------------------------------------------------------------------------
def pack_share_hash_chain(chain: dict) -> bytes:
    """``{node index: hash}`` -> ``(u16, 32 bytes)`` entries sorted by index."""
    out = []
    for i in sorted(chain):
        h = chain[i]
        if len(h) != HASH_SIZE:
            raise LayoutInvalid("share hash %d is %d bytes, not %d" % (i, len(h), HASH_SIZE))
        out.append(_CHAIN_ENTRY.pack(i, h))
    return b"".join(out)


def unpack_share_hash_chain(raw: bytes) -> dict:
    if len(raw) % _CHAIN_ENTRY.size:
        raise LayoutInvalid("the share hash chain is %d bytes, not a multiple of %d"
                            % (len(raw), _CHAIN_ENTRY.size))
    chain = {}
    for off in range(0, len(raw), _CHAIN_ENTRY.size):
        i, h = _CHAIN_ENTRY.unpack_from(raw, off)
        if i in chain:
            raise LayoutInvalid("the share hash chain lists node %d twice" % i)
        chain[i] = h
    return chain


def pack_block_hash_tree(hashes) -> bytes:
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise LayoutInvalid("block hash tree node %d is %d bytes, not %d"
                                % (i, len(h), HASH_SIZE))
    return b"".join(hashes)


def unpack_block_hash_tree(raw: bytes) -> list:
    if len(raw) % HASH_SIZE:
        raise LayoutInvalid("the block hash tree is %d bytes, not a multiple of %d"
                            % (len(raw), HASH_SIZE))
    return [bytes(raw[i:i + HASH_SIZE]) for i in range(0, len(raw), HASH_SIZE)]


_UNPACKERS = {
    "share_hash_chain": unpack_share_hash_chain,
    "block_hash_tree": unpack_block_hash_tree,
}


# ---- offsets and whole shares -----------------------------------------------------------
def compute_offsets(prefix: Prefix, len_verification_key, len_signature, n_chain, n_bht,
                    len_enc_privkey) -> dict:
    """The offset table for a share with fields of these sizes."""
    g = prefix.geometry()
    sd_len = _share_data_length(prefix.version, g)
    chain_len = n_chain * _CHAIN_ENTRY.size
    if n_bht != _bht_nodes(g):
        raise LayoutInvalid("%d segments need a block hash tree of %d nodes, got %d"
                            % (g.num_segments, _bht_nodes(g), n_bht))
    if prefix.version == SDMF_VERSION:
        o = {"signature": HEADER_LENGTH_SDMF + len_verification_key}
        o["share_hash_chain"] = o["signature"] + len_signature
        o["block_hash_tree"] = o["share_hash_chain"] + chain_len
        o["share_data"] = o["block_hash_tree"] + n_bht * HASH_SIZE
        o["enc_privkey"] = o["share_data"] + sd_len
        o["EOF"] = o["enc_privkey"] + len_enc_privkey
        return o
    o = {"enc_privkey": HEADER_LENGTH_MDMF}
    o["share_hash_chain"] = o["enc_privkey"] + len_enc_privkey
    o["signature"] = o["share_hash_chain"] + chain_len
    o["verification_key"] = o["signature"] + len_signature
    o["verification_key_end"] = o["verification_key"] + len_verification_key
    if o["verification_key_end"] > MDMF_SHARE_DATA_OFFSET:
        raise LayoutInvalid("the MDMF fields before the share data take %d bytes, more than "
                            "the %d reserved" % (o["verification_key_end"],
                                                 MDMF_SHARE_DATA_OFFSET))
    o["share_data"] = MDMF_SHARE_DATA_OFFSET
    o["block_hash_tree"] = o["share_data"] + sd_len
    o["EOF"] = o["block_hash_tree"] + n_bht * HASH_SIZE
    return o


def _header_bytes(prefix: Prefix, offsets: dict) -> bytes:
    if prefix.version == SDMF_VERSION:
        return prefix.signed_bytes() + struct.pack(
            ">LLLLQQ", *(offsets[n] for n in SDMF_OFFSET_NAMES))
    return prefix.signed_bytes() + struct.pack(">8Q", *(offsets[n] for n in MDMF_OFFSET_NAMES))


def pack_sdmf_share(prefix, verification_key, signature, share_hash_chain, block_hash_tree,
                    share_data, enc_privkey) -> bytes:
    """A whole SDMF share."""
    if prefix.version != SDMF_VERSION:
        raise LayoutInvalid("pack_sdmf_share got a version %d prefix" % prefix.version)
    return pack_share(ParsedShare(prefix, None, verification_key, signature, share_hash_chain,
                                  list(block_hash_tree), share_data, enc_privkey))


def pack_mdmf_share(prefix, enc_privkey, share_hash_chain, signature, verification_key,
                    share_data, block_hash_tree) -> bytes:
    """A whole MDMF share (``share_data`` = the ``salt || block`` of every segment)."""
    if prefix.version != MDMF_VERSION:
        raise LayoutInvalid("pack_mdmf_share got a version %d prefix" % prefix.version)
    return pack_share(ParsedShare(prefix, None, verification_key, signature, share_hash_chain,
                                  list(block_hash_tree), share_data, enc_privkey))


def pack_share(share) -> bytes:
    """The bytes of a complete share from its fields (``share.offsets`` is ignored
    and recomputed)."""
    p = share.prefix
    chain = pack_share_hash_chain(share.share_hash_chain)
    bht = pack_block_hash_tree(share.block_hash_tree)
    offsets = compute_offsets(p, len(share.verification_key), len(share.signature),
                              len(share.share_hash_chain), len(share.block_hash_tree),
                              len(share.enc_privkey))
    sd_len = (offsets["enc_privkey"] if p.version == SDMF_VERSION
              else offsets["block_hash_tree"]) - offsets["share_data"]
    if len(share.share_data) != sd_len:
        raise LayoutInvalid("the share data is %d bytes; this prefix needs %d"
                            % (len(share.share_data), sd_len))
    header = _header_bytes(p, offsets)
    if p.version == SDMF_VERSION:
        return b"".join([header, share.verification_key, share.signature, chain, bht,
                         share.share_data, share.enc_privkey])
    gap = b"\x00" * (offsets["share_data"] - offsets["verification_key_end"])
    return b"".join([header, share.enc_privkey, chain, share.signature,
                     share.verification_key, gap, share.share_data, bht])


def mdmf_block_offset(segnum, block_size) -> int:
    """Where segment ``segnum``'s ``salt || block`` starts in an MDMF share
    (``block_size`` of the full segments)."""
    return MDMF_SHARE_DATA_OFFSET + segnum * (block_size + SALT_SIZE)


def mdmf_block_range(prefix: Prefix, offsets: dict, segnum: int):
    """``(offset, length)`` of segment ``segnum``'s ``salt || block``."""
    g = prefix.geometry()
    if not 0 <= segnum < g.num_segments:
        raise IndexError("segment %d does not exist: this version has %d segments"
                         % (segnum, g.num_segments))
    size = g.tail_block_size if segnum == g.num_segments - 1 else g.block_size
    return offsets["share_data"] + segnum * (g.block_size + SALT_SIZE), size + SALT_SIZE


def split_mdmf_block(raw):
    """``salt || block`` -> ``(salt, block)``."""
    if len(raw) < SALT_SIZE:
        raise LayoutInvalid("an MDMF block record is %d bytes, shorter than its salt"
                            % len(raw))
    return bytes(raw[:SALT_SIZE]), raw[SALT_SIZE:]


def mdmf_final_writes(prefix, enc_privkey, share_hash_chain, signature, verification_key,
                      block_hash_tree):
    """For a share whose blocks were written one by one at :func:`mdmf_block_offset`:
    the remaining writes ``[(offset, bytes)]`` -- header, the private key / hash chain /
    signature / public key run, and the block hash tree."""
    offsets = compute_offsets(prefix, len(verification_key), len(signature),
                              len(share_hash_chain), len(block_hash_tree), len(enc_privkey))
    front = b"".join([_header_bytes(prefix, offsets), enc_privkey,
                      pack_share_hash_chain(share_hash_chain), signature, verification_key])
    return [(0, front), (offsets["block_hash_tree"], pack_block_hash_tree(block_hash_tree))]


# ---- parsed shares ----------------------------------------------------------------------
class VerInfo(namedtuple("VerInfo", ["seqnum", "root_hash", "salt", "segsize", "datalen",
                                     "k", "n", "prefix", "offsets"])):
    """Names one version of a file.  Comparable and hashable; ordered by
    (seqnum, root_hash).  ``prefix`` is the signed prefix bytes, ``offsets`` a
    tuple of sorted ``(name, offset)`` pairs."""

    __slots__ = ()

    @property
    def version(self):
        return self.prefix[0]

    def offsets_dict(self):
        return dict(self.offsets)


@attr.s(eq=False)
class ParsedShare:
    """The fields of one share.  In a partial parse, fields not yet read are None."""

    prefix = attr.ib()
    offsets = attr.ib()
    verification_key = attr.ib(default=None)
    signature = attr.ib(default=None)
    share_hash_chain = attr.ib(default=None)   # {node index: hash}
    block_hash_tree = attr.ib(default=None)    # [hash, ...] every node of the tree
    share_data = attr.ib(default=None)         # SDMF: the block; MDMF: salt||block runs
    enc_privkey = attr.ib(default=None)

    @property
    def version(self):
        return self.prefix.version

    def verinfo(self) -> VerInfo:
        p = self.prefix
        return VerInfo(p.seqnum, p.root_hash, p.salt, p.segsize, p.datalen, p.k, p.n,
                       p.signed_bytes(), tuple(sorted(self.offsets.items())))

    def field_range(self, name):
        """``(offset, length)`` of field ``name`` inside the share."""
        start_key, end_key = _FIELD_BOUNDS[self.version][name]
        start = HEADER_LENGTH_SDMF if start_key is None else self.offsets[start_key]
        return start, self.offsets[end_key] - start

    def needed_ranges(self, *names):
        """``[(offset, length)]`` to read for those of ``names`` (default: all)
        that are still None."""
        ranges = []
        for name in names or FIELDS:
            if getattr(self, name) is None:
                off, length = self.field_range(name)
                ranges.append((off, length))
        return ranges

    def set_field(self, name, raw):
        """Fill field ``name`` from its bytes (exactly :meth:`field_range` long)."""
        _off, length = self.field_range(name)
        if len(raw) != length:
            raise LayoutInvalid("field %s should be %d bytes, got %d (the share is truncated)"
                                % (name, length, len(raw)))
        setattr(self, name, _UNPACKERS.get(name, bytes)(raw))

    def is_complete(self):
        return all(getattr(self, name) is not None for name in FIELDS)

    def sdmf_block(self):
        if self.version != SDMF_VERSION:
            raise LayoutInvalid("sdmf_block() of an MDMF share")
        return self.share_data

    def mdmf_block(self, segnum):
        """``(salt, block)`` of segment ``segnum`` (needs ``share_data``)."""
        off, length = mdmf_block_range(self.prefix, self.offsets, segnum)
        start = off - self.offsets["share_data"]
        return split_mdmf_block(self.share_data[start:start + length])


def parse_share(data, partial=False) -> ParsedShare:
    """Parse share bytes starting at offset 0.

    With ``partial=False`` every field must be present (else LayoutInvalid);
    with ``partial=True`` the fields not wholly inside ``data`` are None.  The
    header itself (107 / 123 bytes) is always required.
    """
    prefix, offsets = unpack_header(data)
    share = ParsedShare(prefix, offsets)
    if not partial and len(data) < offsets["EOF"]:
        raise LayoutInvalid("the share is %d bytes long but its offsets say it ends at %d"
                            % (len(data), offsets["EOF"]))
    mv = memoryview(data)
    for name in FIELDS:
        off, length = share.field_range(name)
        if off + length <= len(data):
            share.set_field(name, bytes(mv[off:off + length]))
    return share
