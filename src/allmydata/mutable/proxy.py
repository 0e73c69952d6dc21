"""Share geometry and per-segment coding, as the networked protocol needs them.

Publish, retrieve and in-place update work on pieces of shares that sit on
servers: a header read from the first few kilobytes, one segment's blocks,
one share's block hash tree.  This module knows where each piece lives
(FORMATS.md §6.2 SDMF, §6.3 MDMF) and how one segment turns into N blocks
and back, so that an MDMF file is handled a segment at a time and never
whole in memory.

* :class:`Header` — a share's header parsed from a prefix of its bytes:
  version, seqnum, root hash, salt (SDMF), k, N, segment size, data length,
  offsets; its checkstring, signed prefix and version tuple (``verinfo``).
* :class:`Geometry` — segment count, block sizes and the offsets of every
  region for given (version, k, N, segsize, datalen).
* :func:`encode_segment` / :func:`decode_segment` — encrypt + zfec one
  segment, and the reverse.
* :func:`pack_share_hash_chain` / :func:`unpack_share_hash_chain`, block
  hash trees (:func:`block_hash_tree`).
"""

import struct

from ..codec import CRSDecoder, CRSEncoder
from ..crypto import aes
from ..hashtree import HashTree
from ..util import hashutil
from .common import MDMF_SEGMENT_SIZE, MDMF_VERSION, SDMF_VERSION, LayoutInvalid

SALT_SIZE = 16
HASH_SIZE = 32
SDMF_PREFIX = struct.Struct(">BQ32s16sBBQQ")          # 75 bytes, signed
SDMF_OFFSETS = struct.Struct(">LLLLQQ")               # 32 bytes
SDMF_HEADER_LENGTH = SDMF_PREFIX.size + SDMF_OFFSETS.size   # 107
MDMF_PREFIX = struct.Struct(">BQ32sBBQQ")             # 59 bytes, signed
MDMF_OFFSETS = struct.Struct(">QQQQQQQQ")             # 64 bytes
MDMF_HEADER_LENGTH = MDMF_PREFIX.size + MDMF_OFFSETS.size   # 123
SDMF_CHECKSTRING_LENGTH = 57
MDMF_CHECKSTRING_LENGTH = 41
# room Tahoe-LAFS reserves before the MDMF share data
MDMF_PRIVKEY_ROOM, MDMF_SIGNATURE_ROOM, MDMF_VERKEY_ROOM = 1220, 260, 292
MDMF_CHAIN_ROOM = (2 + HASH_SIZE) * 8
MDMF_SHARE_DATA = (MDMF_HEADER_LENGTH + MDMF_PRIVKEY_ROOM + MDMF_SIGNATURE_ROOM
                   + MDMF_VERKEY_ROOM + MDMF_CHAIN_ROOM)   # 2167
SDMF_OFFSET_NAMES = ("signature", "share_hash_chain", "block_hash_tree", "share_data",
                     "enc_privkey", "EOF")
MDMF_OFFSET_NAMES = ("enc_privkey", "share_hash_chain", "signature", "verification_key",
                     "verification_key_end", "share_data", "block_hash_tree", "EOF")


def div_ceil(n, d):
    return (n + d - 1) // d


def next_multiple(n, k):
    return div_ceil(n, k) * k


def checkstring_length(version: int) -> int:
    return SDMF_CHECKSTRING_LENGTH if version == SDMF_VERSION else MDMF_CHECKSTRING_LENGTH


def make_checkstring(version, seqnum, root_hash, salt=None) -> bytes:
    if version == SDMF_VERSION:
        return struct.pack(">BQ32s16s", version, seqnum, root_hash, salt)
    return struct.pack(">BQ32s", version, seqnum, root_hash)


class Header:
    """A share header parsed from (a prefix of) the share's bytes."""

    def __init__(self, data: bytes):
        if len(data) < 1:
            raise LayoutInvalid("the share is empty")
        self.version = data[0]
        if self.version == SDMF_VERSION:
            if len(data) < SDMF_HEADER_LENGTH:
                raise LayoutInvalid("an SDMF share must start with a %d-byte header; only %d "
                                    "bytes are there" % (SDMF_HEADER_LENGTH, len(data)))
            (_v, self.seqnum, self.root_hash, self.salt, self.k, self.n, self.segsize,
             self.datalen) = SDMF_PREFIX.unpack_from(data, 0)
            self.offsets = dict(zip(SDMF_OFFSET_NAMES, SDMF_OFFSETS.unpack_from(data, 75)))
            self.prefix = bytes(data[:SDMF_PREFIX.size])
        elif self.version == MDMF_VERSION:
            if len(data) < MDMF_HEADER_LENGTH:
                raise LayoutInvalid("an MDMF share must start with a %d-byte header; only %d "
                                    "bytes are there" % (MDMF_HEADER_LENGTH, len(data)))
            (_v, self.seqnum, self.root_hash, self.k, self.n, self.segsize,
             self.datalen) = MDMF_PREFIX.unpack_from(data, 0)
            self.salt = None
            self.offsets = dict(zip(MDMF_OFFSET_NAMES, MDMF_OFFSETS.unpack_from(data, 59)))
            self.prefix = bytes(data[:MDMF_PREFIX.size])
        else:
            raise LayoutInvalid("unknown mutable share version byte %d (0 is SDMF, 1 is MDMF)"
                                % self.version)
        self.checkstring = bytes(data[:checkstring_length(self.version)])
        self._check()
        self.geometry = Geometry(self.version, self.k, self.n, self.segsize, self.datalen)

    def _check(self):
        if not 1 <= self.k <= self.n:
            raise LayoutInvalid("impossible encoding %d-of-%d in the header" % (self.k, self.n))
        if self.segsize % self.k:
            raise LayoutInvalid("segment size %d is not a multiple of k=%d"
                                % (self.segsize, self.k))
        if self.version == SDMF_VERSION:
            if self.segsize != next_multiple(self.datalen, self.k):
                raise LayoutInvalid("SDMF segment size %d does not fit data length %d"
                                    % (self.segsize, self.datalen))
        elif self.segsize == 0:
            raise LayoutInvalid("MDMF segment size is zero")
        o = self.offsets
        names = ("signature", "share_hash_chain", "block_hash_tree", "share_data",
                 "enc_privkey", "EOF") if self.version == SDMF_VERSION else (
            "enc_privkey", "share_hash_chain", "signature", "verification_key",
            "verification_key_end")
        values = [o[n] for n in names]
        if values != sorted(values):
            raise LayoutInvalid("the offsets table is out of order: %r" % (o,))
        if self.version == MDMF_VERSION and not (
                o["verification_key_end"] <= o["share_data"] <= o["block_hash_tree"] <= o["EOF"]):
            raise LayoutInvalid("the offsets table is out of order: %r" % (o,))
        if self.version == SDMF_VERSION and o["signature"] < SDMF_HEADER_LENGTH:
            raise LayoutInvalid("the signature offset %d falls inside the header"
                                % o["signature"])

    @property
    def verinfo(self) -> tuple:
        """The tuple that names this version: (seqnum, root_hash, salt, segsize,
        datalen, k, N, signed prefix, offsets)."""
        offsets = tuple(sorted(self.offsets.items()))
        return (self.seqnum, self.root_hash, self.salt, self.segsize, self.datalen,
                self.k, self.n, self.prefix, offsets)

    # -- where things are (offsets within the share) --
    def pubkey_range(self):
        o = self.offsets
        if self.version == SDMF_VERSION:
            return SDMF_HEADER_LENGTH, o["signature"]
        return o["verification_key"], o["verification_key_end"]

    def signature_range(self):
        o = self.offsets
        if self.version == SDMF_VERSION:
            return o["signature"], o["share_hash_chain"]
        return o["signature"], o["verification_key"]

    def privkey_range(self):
        o = self.offsets
        if self.version == SDMF_VERSION:
            return o["enc_privkey"], o["EOF"]
        return o["enc_privkey"], o["share_hash_chain"]

    def chain_range(self):
        o = self.offsets
        if self.version == SDMF_VERSION:
            return o["share_hash_chain"], o["block_hash_tree"]
        return o["share_hash_chain"], o["signature"]

    def bht_range(self):
        o = self.offsets
        if self.version == SDMF_VERSION:
            return o["block_hash_tree"], o["share_data"]
        return o["block_hash_tree"], o["EOF"]


def verinfo_seqnum(verinfo) -> int:
    return verinfo[0]


def verinfo_k_n(verinfo):
    return verinfo[5], verinfo[6]


class Geometry:
    """Segments and regions of a share of (version, k, N, segsize, datalen)."""

    def __init__(self, version, k, n, segsize, datalen):
        self.version, self.k, self.n, self.segsize, self.datalen = version, k, n, segsize, datalen
        self.num_segments = div_ceil(datalen, segsize) if segsize else 0
        self.block_size = segsize // k
        tail = datalen % segsize if segsize else 0
        self.tail_segment_size = tail if tail else segsize
        if self.num_segments == 0:
            self.tail_segment_size = 0
        self.tail_block_size = next_multiple(self.tail_segment_size, k) // k \
            if self.tail_segment_size else self.block_size
        self.num_bht_nodes = 2 * _pow2(max(self.num_segments, 1)) - 1

    @classmethod
    def for_new(cls, version, k, n, datalen):
        segsize = next_multiple(MDMF_SEGMENT_SIZE if version == MDMF_VERSION else datalen, k)
        return cls(version, k, n, segsize, datalen)

    def segment_size(self, segnum) -> int:
        return self.tail_segment_size if segnum == self.num_segments - 1 else self.segsize

    def segment_block_size(self, segnum) -> int:
        return self.tail_block_size if segnum == self.num_segments - 1 else self.block_size

    def block_offset(self, segnum, share_data_offset) -> int:
        """Where segment ``segnum``'s piece starts (MDMF: salt then block)."""
        if self.version == SDMF_VERSION:
            return share_data_offset
        return share_data_offset + segnum * (self.block_size + SALT_SIZE)

    def block_piece_length(self, segnum) -> int:
        if self.version == SDMF_VERSION:
            return self.block_size
        return SALT_SIZE + self.segment_block_size(segnum)

    def share_data_length(self) -> int:
        if self.version == SDMF_VERSION:
            return self.block_size
        # Tahoe-LAFS's formula, which gives 16 (one salt's room) for an empty file
        return ((self.block_size + SALT_SIZE) * (self.num_segments - 1)
                + self.tail_block_size + SALT_SIZE)

    def chain_length(self) -> int:
        return (2 + HASH_SIZE) * (_pow2(self.n).bit_length() - 1)

    def mdmf_offsets(self, enc_privkey_len, signature_len, pubkey_len) -> dict:
        o = {"enc_privkey": MDMF_HEADER_LENGTH}
        o["share_hash_chain"] = o["enc_privkey"] + enc_privkey_len
        o["signature"] = o["share_hash_chain"] + self.chain_length()
        o["verification_key"] = o["signature"] + signature_len
        o["verification_key_end"] = o["verification_key"] + pubkey_len
        if o["verification_key_end"] > MDMF_SHARE_DATA:
            raise ValueError("the keys do not fit the room MDMF reserves for them")
        o["share_data"] = MDMF_SHARE_DATA
        o["block_hash_tree"] = o["share_data"] + self.share_data_length()
        o["EOF"] = o["block_hash_tree"] + self.num_bht_nodes * HASH_SIZE
        return o

    def sdmf_offsets(self, pubkey_len, signature_len, enc_privkey_len) -> dict:
        o = {"signature": SDMF_HEADER_LENGTH + pubkey_len}
        o["share_hash_chain"] = o["signature"] + signature_len
        o["block_hash_tree"] = o["share_hash_chain"] + self.chain_length()
        o["share_data"] = o["block_hash_tree"] + self.num_bht_nodes * HASH_SIZE
        o["enc_privkey"] = o["share_data"] + self.block_size
        o["EOF"] = o["enc_privkey"] + enc_privkey_len
        return o


def _pow2(x):
    p = 1
    while p < x:
        p *= 2
    return p


def signed_prefix(version, seqnum, root_hash, salt, k, n, segsize, datalen) -> bytes:
    if version == SDMF_VERSION:
        return SDMF_PREFIX.pack(version, seqnum, root_hash, salt, k, n, segsize, datalen)
    return MDMF_PREFIX.pack(version, seqnum, root_hash, k, n, segsize, datalen)


def pack_header(prefix: bytes, version: int, offsets: dict) -> bytes:
    names = SDMF_OFFSET_NAMES if version == SDMF_VERSION else MDMF_OFFSET_NAMES
    fmt = SDMF_OFFSETS if version == SDMF_VERSION else MDMF_OFFSETS
    return prefix + fmt.pack(*[offsets[n] for n in names])


# ---- hash trees ------------------------------------------------------------------------
def block_hash(salt, block) -> bytes:
    """SDMF: TH(block); MDMF: TH(salt ‖ block)."""
    return hashutil.block_hash(block if salt is None else salt + block)


def block_hash_tree(leaves) -> list:
    """All nodes of a block hash tree; zero leaves make one empty-leaf node."""
    if not leaves:
        return [hashutil.empty_leaf_hash(0)]
    return list(HashTree(list(leaves)))


def pack_share_hash_chain(chain: dict) -> bytes:
    return b"".join(struct.pack(">H32s", i, chain[i]) for i in sorted(chain))


def unpack_share_hash_chain(data: bytes) -> dict:
    if len(data) % (2 + HASH_SIZE):
        raise LayoutInvalid("the share hash chain is %d bytes, not a multiple of 34" % len(data))
    out = {}
    for pos in range(0, len(data), 2 + HASH_SIZE):
        i, h = struct.unpack_from(">H32s", data, pos)
        out[i] = h
    return out


def unpack_hashes(data: bytes) -> list:
    if len(data) % HASH_SIZE:
        raise LayoutInvalid("a hash list is %d bytes, not a multiple of 32" % len(data))
    return [bytes(data[i:i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE)]


# ---- one segment -----------------------------------------------------------------------
def encode_segment(keys, plaintext: bytes, salt: bytes, k: int, n: int) -> list:
    """Encrypt one segment under ``salt`` and erasure-code it: N blocks."""
    crypttext = aes.ctr_encrypt(keys.datakey(salt), plaintext)
    padded = next_multiple(len(crypttext), k)
    if not padded:
        return [b""] * n
    crypttext += b"\x00" * (padded - len(crypttext))
    enc = CRSEncoder()
    enc.set_params(padded, k, n)
    bs = padded // k
    blocks, _ = enc.encode_sync([crypttext[i * bs:(i + 1) * bs] for i in range(k)])
    return blocks


def decode_segment(keys, blocks: dict, salt: bytes, k: int, n: int, segment_size: int) -> bytes:
    """``{shnum: block}`` (k or more) -> the plaintext of one segment."""
    padded = next_multiple(segment_size, k)
    if not padded:
        return b""
    dec = CRSDecoder()
    dec.set_params(padded, k, n)
    ids = sorted(blocks)[:k]
    pieces = dec.decode_sync([blocks[i] for i in ids], ids)
    crypttext = b"".join(pieces)[:segment_size]
    return aes.ctr_decrypt(keys.datakey(salt), crypttext)
