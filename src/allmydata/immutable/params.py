"""Segment and block sizes of an immutable file (docs/specifications/immutable-shares.md §1).

A CHK file of ``size`` bytes encoded ``k``-of-``n`` is cut into segments of
``segment_size`` bytes (a multiple of ``k``); the last ("tail") segment is
zero-padded up to a multiple of ``k``; every segment is split into ``k``
pieces and coded into ``n`` blocks.  Everything else about the share sizes
follows from these few numbers, computed once here so that the encoder, the
layout, the server selector and the downloader all agree.
"""

import attrs

#: Files up to this many bytes are LIT caps: never encoded (docs/specifications/caps.md §2.2).
LIT_SIZE_THRESHOLD = 55
#: The maximum segment size of Tahoe-LAFS >= 1.19 (docs/specifications/immutable-shares.md §1).
DEFAULT_MAX_SEGMENT_SIZE = 1024 * 1024
#: zfec's limit on the number of shares.
MAX_SHARES = 256


class ParamsError(ValueError):
    """Encoding parameters that cannot describe a CHK file."""


def div_ceil(n: int, d: int) -> int:
    return (n + d - 1) // d


def next_multiple(n: int, k: int) -> int:
    """The smallest multiple of ``k`` that is >= ``n``."""
    return div_ceil(n, k) * k


def next_power_of_two(n: int) -> int:
    """The smallest power of two >= ``n`` (1 for n <= 1)."""
    p = 1
    while p < n:
        p *= 2
    return p


def check_shares(k: int, n: int) -> None:
    if not (isinstance(k, int) and isinstance(n, int)) or not 1 <= k <= n <= MAX_SHARES:
        raise ParamsError("encoding parameters need 1 <= k <= N <= %d, got k=%r N=%r"
                          % (MAX_SHARES, k, n))


def hash_tree_size(num_leaves: int) -> int:
    """Bytes of a full Merkle tree over ``num_leaves`` leaves (2P-1 hashes)."""
    return (2 * next_power_of_two(num_leaves) - 1) * 32


def num_share_hashes(n: int) -> int:
    """Entries in each share's share-hash chain: the leaf plus its siblings
    up to (not including) the root of an ``n``-leaf tree: log2(P) + 1."""
    return next_power_of_two(n).bit_length()


@attrs.frozen
class SegmentParams:
    """The sizes of one CHK file's segments, blocks and shares.

    Build with :meth:`for_file` (uploader: from the *maximum* segment size)
    or :meth:`from_ueb` (downloader: the segment size read from the UEB).
    """

    size: int
    k: int
    n: int
    segment_size: int
    num_segments: int
    tail_size: int
    padded_tail_size: int
    block_size: int
    tail_block_size: int
    share_data_size: int

    @classmethod
    def for_file(cls, size: int, k: int, n: int,
                 max_segment_size: int = DEFAULT_MAX_SEGMENT_SIZE) -> "SegmentParams":
        """Parameters for uploading ``size`` bytes: the effective segment
        size is ``nextmul(min(max_segment_size, size), k)``."""
        check_shares(k, n)
        if not isinstance(max_segment_size, int) or max_segment_size < 1:
            raise ParamsError("the maximum segment size must be a positive integer, got %r"
                              % (max_segment_size,))
        _check_size(size)
        return cls._build(size, k, n, next_multiple(min(max_segment_size, size), k))

    @classmethod
    def from_ueb(cls, size: int, k: int, n: int, segment_size: int) -> "SegmentParams":
        """Parameters of an existing file: ``k``, ``n`` and ``size`` from the
        cap, ``segment_size`` from its URI extension block."""
        check_shares(k, n)
        _check_size(size)
        if not isinstance(segment_size, int) or segment_size < 1:
            raise ParamsError("a segment size must be a positive integer, got %r"
                              % (segment_size,))
        return cls._build(size, k, n, segment_size)

    @classmethod
    def _build(cls, size, k, n, segment_size):
        num_segments = div_ceil(size, segment_size)
        tail_size = size % segment_size or segment_size
        padded_tail_size = next_multiple(tail_size, k)
        block_size = div_ceil(segment_size, k)
        tail_block_size = padded_tail_size // k
        return cls(
            size=size, k=k, n=n, segment_size=segment_size, num_segments=num_segments,
            tail_size=tail_size, padded_tail_size=padded_tail_size, block_size=block_size,
            tail_block_size=tail_block_size,
            share_data_size=(num_segments - 1) * block_size + tail_block_size,
        )

    # ---- derived values ---------------------------------------------------------
    @property
    def num_share_hashes(self) -> int:
        return num_share_hashes(self.n)

    def segment_range(self, segnum: int) -> tuple[int, int]:
        """``(offset, length)`` of segment ``segnum`` in the file (unpadded)."""
        if not 0 <= segnum < self.num_segments:
            raise ParamsError("segment %d does not exist: the file has %d segment(s)"
                              % (segnum, self.num_segments))
        offset = segnum * self.segment_size
        length = self.tail_size if segnum == self.num_segments - 1 else self.segment_size
        return offset, length

    def block_length(self, segnum: int) -> int:
        """Bytes in block ``segnum`` of every share."""
        self.segment_range(segnum)
        return self.tail_block_size if segnum == self.num_segments - 1 else self.block_size

    def codec_params(self) -> bytes:
        """The UEB's ``codec_params``: ``b"segsize-k-N"``."""
        return b"%d-%d-%d" % (self.segment_size, self.k, self.n)

    def tail_codec_params(self) -> bytes:
        """The UEB's ``tail_codec_params``: ``b"padded_tail-k-N"``."""
        return b"%d-%d-%d" % (self.padded_tail_size, self.k, self.n)


def _check_size(size) -> None:
    if not isinstance(size, int) or size < 1:
        raise ParamsError("a CHK file holds at least one byte (empty and small files are "
                          "LIT caps), got a size of %r" % (size,))
