"""Checking share data against the hashes the cap commits to, and turning k
checked blocks into plaintext.

The chain of trust (docs/specifications/immutable-shares.md §7): the read cap holds the UEB hash;
the UEB holds ``share_root_hash`` and ``crypttext_root_hash``; each share's
share-hash chain leads from ``share_root_hash`` to the root of that share's
block hash tree; each block hash is a leaf of that tree; each decoded
ciphertext segment is a leaf of the crypttext hash tree.

:class:`FileHashes` holds what is known about one file (cap numbers, the
validated UEB, the share hash tree and the crypttext hash tree) and checks new
pieces against it.  All of it is synchronous and runs on the reactor thread.

:func:`decode_segment` is the CPU-heavy part of one segment (block hashes,
zfec, ciphertext hash, AES-CTR).  It is written to run in a worker thread:
it only *reads* hash-tree leaves that were validated before it was called.
"""

import time

from ...codec import CRSDecoder
from ...crypto.aes import ctr_decrypt
from ...hashtree import BadHashError, IncompleteHashTree, NotEnoughHashesError
from ...util import hashutil
from ..params import ParamsError, SegmentParams
from ..uri_extension import (
    BadURIExtensionError,
    unpack_uri_extension,
    uri_extension_hash,
)
from .errors import BadCiphertextError

HashTreeErrors = (BadHashError, NotEnoughHashesError)


class ShareDataError(Exception):
    """One share's data does not match the hashes (the share is corrupt).
    Raised by :class:`FileHashes`; the caller knows which share it was."""


class FileHashes:
    """The verified facts about one CHK file, shared by all its shares."""

    def __init__(self, key: bytes, uri_extension_hash: bytes, k: int, n: int, size: int):
        self.key = key
        self.ueb_hash = uri_extension_hash
        self.k = k
        self.n = n
        self.size = size
        self.ueb = None            # dict, once a UEB matching the cap was seen
        self.ueb_bytes = None      # the serialized UEB that matched (a repair writes it again)
        self.params = None         # SegmentParams from the cap and the UEB
        self.share_hash_tree = None
        self.crypttext_hash_tree = None

    # ---- the UEB ----------------------------------------------------------------------
    def accept_uri_extension(self, data: bytes) -> None:
        """Check a share's UEB against the cap; the first good one sets up the
        file's parameters and root hashes.  Raises :class:`ShareDataError`."""
        if uri_extension_hash(data) != self.ueb_hash:
            raise ShareDataError("its URI extension block does not match the hash in the cap")
        if self.ueb is not None:
            return
        try:
            ueb = unpack_uri_extension(data)
            segment_size = ueb["segment_size"]
            share_root = ueb["share_root_hash"]
            crypttext_root = ueb["crypttext_root_hash"]
            params = SegmentParams.from_ueb(self.size, self.k, self.n, segment_size)
            if segment_size % self.k:
                raise ParamsError("its segment size %d is not a multiple of k=%d"
                                  % (segment_size, self.k))
        except (BadURIExtensionError, KeyError, ParamsError) as e:
            # The cap commits to these bytes: the uploader wrote a bad UEB.
            raise ShareDataError("its URI extension block matches the cap but is unusable: %s"
                                 % (e,))
        if len(share_root) != 32 or len(crypttext_root) != 32:
            raise ShareDataError("its URI extension block has root hashes of the wrong length")
        sht = IncompleteHashTree(self.n)
        sht.set_hashes(hashes={0: share_root})
        cht = IncompleteHashTree(params.num_segments)
        cht.set_hashes(hashes={0: crypttext_root})
        self.ueb, self.params, self.ueb_bytes = ueb, params, bytes(data)
        self.share_hash_tree, self.crypttext_hash_tree = sht, cht

    # ---- per-share trees --------------------------------------------------------------
    def check_share_hash_chain(self, shnum: int, chain) -> bytes:
        """Validate a share's chain ``[(node index, hash)]``; return the
        root of that share's block hash tree."""
        hashes = {}
        for index, h in chain:
            if index in hashes and hashes[index] != h:
                raise ShareDataError("its share-hash chain lists node %d twice" % index)
            hashes[index] = h
        try:
            self.share_hash_tree.set_hashes(hashes=hashes)
            root = self.share_hash_tree.get_leaf(shnum)
        except HashTreeErrors as e:
            raise ShareDataError("its share-hash chain does not lead to the file's "
                                 "share root hash: %s" % (e,))
        except IndexError as e:
            raise ShareDataError("its share-hash chain is unusable: %s" % (e,))
        if root is None:
            raise ShareDataError("its share-hash chain lacks the share's own leaf")
        return root

    def new_block_hash_tree(self, root: bytes) -> IncompleteHashTree:
        tree = IncompleteHashTree(self.params.num_segments)
        tree.set_hashes(hashes={0: root})
        return tree

    @staticmethod
    def add_block_hashes(tree: IncompleteHashTree, hashes: dict) -> None:
        try:
            tree.set_hashes(hashes=hashes)
        except HashTreeErrors as e:
            raise ShareDataError("its block hash tree does not match its share-hash chain: %s"
                                 % (e,))

    def add_crypttext_hashes(self, hashes: dict) -> None:
        try:
            self.crypttext_hash_tree.set_hashes(hashes=hashes)
        except HashTreeErrors as e:
            raise ShareDataError("its crypttext hash tree does not match the root in the "
                                 "URI extension block: %s" % (e,))

    def crypttext_hashes_needed(self, segnum: int) -> set:
        return self.crypttext_hash_tree.needed_hashes(segnum, include_leaf=True)


def decode_segment(params: SegmentParams, key: bytes, segnum: int, blocks: dict,
                   block_leaves: dict, crypttext_leaf: bytes, timings: dict):
    """Turn the k blocks of one segment into its plaintext.

    ``blocks`` is ``{shnum: block bytes}``, ``block_leaves`` ``{shnum:
    expected block hash}``; with ``key`` None the "plaintext" is the
    checked ciphertext.  Returns ``(plaintext, {})`` or, when some
    blocks do not match their hashes, ``(None, {shnum: reason})``; raises
    :class:`BadCiphertextError` when validated blocks decode to a segment
    that does not match the crypttext hash tree.  Safe in a worker thread.
    """
    bad = {}
    for shnum, data in blocks.items():
        if hashutil.block_hash(data) != block_leaves[shnum]:
            bad[shnum] = ("block %d does not match its hash in the share's block hash tree"
                          % segnum)
    if bad:
        return None, bad
    t0 = time.monotonic()
    seg_offset, seg_len = params.segment_range(segnum)
    shnums = sorted(blocks)
    padded = params.padded_tail_size if segnum == params.num_segments - 1 \
        else params.segment_size
    decoder = CRSDecoder()
    decoder.set_params(padded, params.k, params.n)
    # with the primary blocks 0..k-1 this is no arithmetic, just their order
    pieces = decoder.decode_sync([blocks[i] for i in shnums], shnums)
    ciphertext = b"".join(pieces)
    if len(ciphertext) != seg_len:
        ciphertext = ciphertext[:seg_len]
    t1 = time.monotonic()
    if hashutil.crypttext_segment_hash(ciphertext) != crypttext_leaf:
        raise BadCiphertextError(
            "segment %d, decoded from blocks that all matched their hashes, does not match "
            "the file's crypttext hash tree: the shares were made inconsistently" % segnum)
    # without a key (a repair, which has only the verify cap) the validated
    # ciphertext itself is the result
    plaintext = ctr_decrypt(key, ciphertext, seg_offset) if key is not None else ciphertext
    t2 = time.monotonic()
    timings["decode"] = t1 - t0
    timings["decrypt"] = t2 - t1
    return plaintext, {}
