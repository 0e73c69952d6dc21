"""allmydata.util.malloc: with the thresholds raised, buffers of a segment's
size are re-used instead of being faulted in afresh each time, and a worker
thread allocates from the main heap."""

import subprocess
import sys

import pytest

from allmydata.util.malloc import keep_big_buffers

FAULTS = r"""
import resource, sys
from allmydata.util.malloc import keep_big_buffers
if sys.argv[1] == "tuned":
    assert keep_big_buffers()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(100):
    # a segment and its ten share blocks, all freed before the next segment
    segment = b"s" * (1024 * 1024)
    blocks = [segment[:350000] + b"%d" % n for n in range(10)]
    del segment, blocks
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode):
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], check=True,
                         capture_output=True, text=True, timeout=60)
    return int(out.stdout)


@pytest.mark.skipif(not keep_big_buffers(), reason="no glibc mallopt here")
def test_big_buffers_are_reused():
    stock, tuned = page_faults("stock"), page_faults("tuned")
    # a segment's buffers are about 1,100 pages: re-used, they fault in once,
    # not once per segment (figures in docs/performance.md)
    assert tuned < 100 * 100, (stock, tuned)
    assert stock > tuned, (stock, tuned)


ARENA = r"""
import ctypes, sys, threading
from allmydata.util.malloc import keep_big_buffers
if sys.argv[1] == "tuned":
    assert keep_big_buffers()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.sbrk.restype = ctypes.c_void_p
libc.sbrk.argtypes = [ctypes.c_ssize_t]
got = []

def worker():
    p = libc.malloc(100000)  # below the stock mmap threshold: from an arena
    got.append(p)
    libc.free(p)

libc.free(libc.malloc(100000))  # the main heap holds at least this much
t = threading.Thread(target=worker)
t.start()
t.join()
print("main" if got[0] < libc.sbrk(0) else "other")
"""


def arena_of_thread_block(mode):
    out = subprocess.run([sys.executable, "-c", ARENA, mode], check=True,
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


@pytest.mark.skipif(not keep_big_buffers(), reason="no glibc mallopt here")
def test_a_worker_thread_allocates_from_the_main_heap():
    assert arena_of_thread_block("stock") == "other"
    assert arena_of_thread_block("tuned") == "main"
