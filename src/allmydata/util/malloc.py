"""Keep the C allocator from handing big buffers back to the kernel at once.

A node moving a file allocates and frees buffers of 64 KiB to a few MiB for
every segment (HTTP body chunks, the segment, its ciphertext, its ten share
blocks, Foolscap's joined strings).  glibc serves large requests with fresh
``mmap`` pages and gives freed memory back quickly, so each new segment's
buffers arrive as zero-filled pages the kernel must fault in: about 110,000
page faults for a 100 MiB upload, ~15% of the client's CPU and ~10% of each
storage server's.  Raising the mmap threshold to 4 MiB and the trim threshold
to 16 MiB (``mallopt``) lets those buffers be re-used from the heap; the
process keeps at most ~16 MiB more than it uses.  (The environment variables
``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` do the same, but must
be set before the process starts.)
"""

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 4 * 1024 * 1024
TRIM_THRESHOLD = 16 * 1024 * 1024


def keep_big_buffers(mmap_threshold=MMAP_THRESHOLD, trim_threshold=TRIM_THRESHOLD) -> bool:
    """Set glibc's thresholds; False (and nothing changed) where there is no
    glibc ``mallopt`` (other C libraries, other systems)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 on error
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(M_TRIM_THRESHOLD, trim_threshold))
