"""An independent reader of CHK share files, for checking what the uploader
wrote: it follows docs/specifications/immutable-shares.md §4-§6 and containers.md §2 with struct, hashlib, zfec and
cryptography only (none of the project's layout, hash-tree, codec or AES
code), so that a mistake there cannot hide itself.
"""

import hashlib
import re
import struct

import zfec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from allmydata.util import base32


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def ns(x: bytes) -> bytes:
    return b"%d:%s," % (len(x), x)


def th(tag: bytes, data: bytes) -> bytes:
    return sha256d(ns(tag) + data)


def pair(left: bytes, right: bytes) -> bytes:
    return sha256d(ns(b"Merkle tree internal node") + ns(left) + ns(right))


def pow2(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def full_tree(leaves: list) -> list:
    p = pow2(len(leaves))
    row = list(leaves) + [th(b"Merkle tree empty leaf", b"%d" % j)
                          for j in range(len(leaves), p)]
    nodes = [None] * (p - 1) + row
    for i in range(p - 2, -1, -1):
        nodes[i] = pair(nodes[2 * i + 1], nodes[2 * i + 2])
    return nodes


def parse_cap(cap: bytes):
    m = re.match(rb"^URI:CHK:([a-z2-7]{26}):([a-z2-7]{52}):(\d+):(\d+):(\d+)$", cap)
    assert m, cap
    return (base32.a2b(m.group(1)), base32.a2b(m.group(2)), int(m.group(3)), int(m.group(4)),
            int(m.group(5)))


def parse_ueb(data: bytes) -> dict:
    d = {}
    pos = 0
    while pos < len(data):
        colon = data.index(b":", pos)
        key = data[pos:colon].decode()
        colon2 = data.index(b":", colon + 1)
        length = int(data[colon + 1:colon2])
        d[key] = data[colon2 + 1:colon2 + 1 + length]
        assert data[colon2 + 1 + length:colon2 + 2 + length] == b","
        pos = colon2 + 2 + length
    return d


class ParsedShare:
    """One share file, parsed and checked on its own."""

    def __init__(self, source, shnum: int, ueb_hash: bytes, n: int):
        """``source``: the path of a share file (container of containers.md §2), or
        the share data itself (bytes, as a bucket holds it)."""
        if isinstance(source, (bytes, bytearray)):
            data = bytes(source)
        else:
            with open(source, "rb") as f:
                raw = f.read()
            version, legacy_len, nleases = struct.unpack(">LLL", raw[:12])
            assert version in (1, 2)
            data = raw[12:len(raw) - 72 * nleases]
            assert legacy_len == min(2**32 - 1, len(data))
            assert nleases >= 1
        self.data = data
        hv = struct.unpack(">L", data[:4])[0]
        if hv == 1:
            fields = struct.unpack(">9L", data[:36])
            header, fieldfmt = 36, ">L"
        else:
            fields = struct.unpack(">LQQ6Q", data[:68])
            header, fieldfmt = 68, ">Q"
        (_, self.block_size, self.data_size, o_data, o_plain, o_crypt, o_block, o_share,
         o_ueb) = fields
        assert o_data == header
        fs = struct.calcsize(fieldfmt)
        (ueb_len,) = struct.unpack(fieldfmt, data[o_ueb:o_ueb + fs])
        self.ueb_bytes = data[o_ueb + fs:o_ueb + fs + ueb_len]
        assert o_ueb + fs + ueb_len == len(data), "the share is exactly its allocation"
        assert th(b"allmydata_uri_extension_v1", self.ueb_bytes) == ueb_hash
        ueb = self.ueb = parse_ueb(self.ueb_bytes)
        self.num_segments = int(ueb["num_segments"])
        tree_size = (2 * pow2(self.num_segments) - 1) * 32
        assert o_plain - o_data == self.data_size
        assert o_crypt - o_plain == o_block - o_crypt == o_share - o_block == tree_size
        assert o_ueb - o_share == 34 * (pow2(n).bit_length())
        assert data[o_plain:o_crypt] == bytes(tree_size), "plaintext tree region is zeros"
        self.crypttext_tree = [data[i:i + 32] for i in range(o_crypt, o_block, 32)]
        self.block_tree = [data[i:i + 32] for i in range(o_block, o_share, 32)]
        self.share_chain = [(struct.unpack(">H", data[i:i + 2])[0], data[i + 2:i + 34])
                            for i in range(o_share, o_ueb, 34)]
        segsize = int(ueb["segment_size"])
        size = int(ueb["size"])
        k = int(ueb["needed_shares"])
        tail = size % segsize or segsize
        padded_tail = -(-tail // k) * k
        self.blocks = []
        for s in range(self.num_segments):
            length = self.block_size if s < self.num_segments - 1 else padded_tail // k
            start = o_data + s * self.block_size
            self.blocks.append(data[start:start + length])
        assert sum(len(b) for b in self.blocks) == self.data_size

        # the block tree is a full tree over the block hashes
        leaves = [th(b"allmydata_encoded_subshare_v1", b) for b in self.blocks]
        assert full_tree(leaves) == self.block_tree
        # the share-hash chain leads from this share's block-tree root to the root
        p = pow2(n)
        chain = dict(self.share_chain)
        assert [i for i, _ in self.share_chain] == sorted(chain), "ascending node order"
        here = p - 1 + shnum
        assert chain[here] == self.block_tree[0], "the chain includes the leaf"
        value = chain[here]
        while here != 0:
            sibling = here + 1 if here % 2 else here - 1
            value = pair(value, chain[sibling]) if here % 2 else pair(chain[sibling], value)
            here = (here - 1) // 2
        assert 0 not in chain or p == 1
        assert value == ueb["share_root_hash"]


def check_and_decode(cap: bytes, share_paths: dict, use_shares=None) -> bytes:
    """Check every share in ``share_paths`` ({shnum: path or share bytes}), then decode the
    file from ``use_shares`` (default: the first k) and return the plaintext."""
    key, ueb_hash, k, n, size = parse_cap(cap)
    shares = {shnum: ParsedShare(path, shnum, ueb_hash, n) for shnum, path in share_paths.items()}
    ueb = next(iter(shares.values())).ueb
    assert set(ueb) == {"codec_name", "codec_params", "tail_codec_params", "size",
                        "segment_size", "num_segments", "needed_shares", "total_shares",
                        "crypttext_hash", "crypttext_root_hash", "share_root_hash"}
    assert int(ueb["size"]) == size and ueb["codec_name"] == b"crs"
    use = sorted(use_shares or shares)[:k]
    assert len(use) == k
    decoder = zfec.Decoder(k, n)
    ciphertext = []
    segsize = int(ueb["segment_size"])
    seg_hashes = []
    for s in range(shares[use[0]].num_segments):
        pieces = decoder.decode([shares[i].blocks[s] for i in use], use)
        segment = b"".join(pieces)[:min(segsize, size - s * segsize)]
        seg_hashes.append(th(b"allmydata_crypttext_segment_v1", segment))
        ciphertext.append(segment)
    ciphertext = b"".join(ciphertext)
    tree = full_tree(seg_hashes)
    for share in shares.values():
        assert share.crypttext_tree == tree
    assert tree[0] == ueb["crypttext_root_hash"]
    assert th(b"allmydata_crypttext_v1", ciphertext) == ueb["crypttext_hash"]
    assert len(ciphertext) == size
    dec = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).decryptor()
    return dec.update(ciphertext) + dec.finalize()
