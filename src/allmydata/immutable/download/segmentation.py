"""Which segments, and which bytes of them, a byte range of a file needs.

Pure arithmetic on :class:`~allmydata.immutable.params.SegmentParams`: a
read of ``[offset, offset+size)`` touches segments ``first..last``, and from
each decoded segment the consumer gets one slice.  Kept apart so that the
range rules (clipping at the end of the file, empty reads) are tested on
their own.
"""

from .errors import BadRangeError


def clip_range(file_size: int, offset: int, size: int | None) -> tuple[int, int]:
    """``(offset, size)`` of the bytes that exist: ``size=None`` means "to
    the end"; a range past the end is cut short; one starting at or past the
    end is empty.  Negative numbers are refused."""
    if not isinstance(offset, int) or offset < 0:
        raise BadRangeError("a read offset must be an integer >= 0, got %r" % (offset,))
    if size is not None and (not isinstance(size, int) or size < 0):
        raise BadRangeError("a read size must be an integer >= 0 or None, got %r" % (size,))
    if offset >= file_size:
        return offset, 0
    remaining = file_size - offset
    return offset, remaining if size is None else min(size, remaining)


def segments_for_range(params, offset: int, size: int) -> range:
    """The segment numbers holding bytes ``[offset, offset+size)`` (already
    clipped to the file); an empty range for ``size == 0``."""
    if size <= 0:
        return range(0)
    first = offset // params.segment_size
    last = (offset + size - 1) // params.segment_size
    return range(first, last + 1)


def slice_of_segment(params, segnum: int, offset: int, size: int) -> tuple[int, int]:
    """``(start, end)`` within segment ``segnum``'s plaintext of the bytes
    the range ``[offset, offset+size)`` wants."""
    seg_start, seg_len = params.segment_range(segnum)
    start = max(offset, seg_start) - seg_start
    end = min(offset + size, seg_start + seg_len) - seg_start
    return start, end
