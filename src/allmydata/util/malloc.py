"""Keep the C allocator from handing big buffers back to the kernel at once.

A node moving a file allocates and frees buffers of 64 KiB to a few MiB for
every segment (HTTP body chunks, the segment, its ciphertext, its ten share
blocks, Foolscap's joined strings).  glibc serves large requests with fresh
``mmap`` pages and gives freed memory back quickly, so each new segment's
buffers arrive as zero-filled pages the kernel must fault in, tens of
thousands of page faults per 100 MiB moved, which cost the client and the
storage servers a noticeable share of their CPU (docs/performance.md).
Raising the mmap threshold to 4 MiB and the trim threshold to 16 MiB
(``mallopt``) lets those buffers be re-used from the heap; the process keeps
at most the trim threshold (16 MiB) more than it uses.

All threads also share the one main heap (``M_ARENA_MAX`` = 1).  Otherwise
the first allocation of the encoder's worker thread gets it its own arena,
whose heap glibc shrinks (handing its pages back) whenever enough of it is
free: with the segment's blocks made in that thread and freed in the reactor
thread once sent, how many pages an upload faults in afresh depends on how
that heap happened to be laid out when the upload began, and can be most of
them; with one arena the buffers are re-used after the first upload, and the
peak RSS is lower too.  A node has only a handful of threads, so they do not
queue for the heap.

(The environment variables ``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_ARENA_MAX`` do the same, but must be
set before the process starts.)
"""

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

MMAP_THRESHOLD = 4 * 1024 * 1024
TRIM_THRESHOLD = 16 * 1024 * 1024


def keep_big_buffers(mmap_threshold=MMAP_THRESHOLD, trim_threshold=TRIM_THRESHOLD,
                     arena_max=1) -> bool:
    """Set glibc's thresholds and number of arenas (call it before starting
    threads); False (and nothing changed) where there is no glibc
    ``mallopt`` (other C libraries, other systems)."""
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
    return (bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold))
            and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))
            and bool(mallopt(M_ARENA_MAX, arena_max)))
