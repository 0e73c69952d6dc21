"""Benchmark of a large MDMF mutable file: create, read a little, overwrite a byte, read all.

    .venv/bin/python misc/benchmark.py mdmf [--size 100] [--servers 5] [--inprocess]

Builds a grid of real storage servers on 127.0.0.1 Foolscap Tubs -- by
default each in its own process (:mod:`allmydata.testing.storage_process`), so
that the peak RSS printed is the client's alone; ``--inprocess`` runs them in
this process instead -- and times, for a ``--size`` MiB MDMF file (3-of-10):

* create (publish of the whole file, read from a file on disk),
* read 10 bytes from the middle through a fresh read-cap node,
* overwrite 1 byte in the middle (``write_at``) through a fresh write-cap node,
* read the whole file through a fresh read-cap node (checked by SHA-256,
  never held in memory).

After each step it prints the wall time, the CPU time (user + system, all
threads) of the client and of the server processes -- steadier than wall
time on a loaded machine -- and the
client's peak RSS so far (``getrusage(RUSAGE_SELF).ru_maxrss``; server
processes are not counted).
"""

import argparse
import hashlib
import os
import resource
import shutil
import tempfile
import time

import psutil
from foolscap.api import Tub
from twisted.internet import defer, task

from allmydata.client import SecretHolder
from allmydata.immutable.target import MemoryConsumer
from allmydata.mutable.common import MDMF_VERSION
from allmydata.mutable.filenode import MutableFileNode, create_mutable_file
from allmydata.testing.storage_process import start_storage_processes, stop_storage_process
from allmydata.testing.storagegrid import StorageGrid

CHUNK = 1 << 20


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def servers_cpu_seconds(procs) -> float:
    """User + system CPU time of the server processes so far."""
    total = 0.0
    for p in procs:
        try:
            t = psutil.Process(p.pid).cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---- the client ----------------------------------------------------------------------
class HashingConsumer:
    """An IConsumer that hashes what it is given and keeps only the count."""

    def __init__(self):
        self.h = hashlib.sha256()
        self.count = 0
        self.producer = None

    def registerProducer(self, producer, streaming):
        self.producer = producer

    def unregisterProducer(self):
        self.producer = None

    def write(self, data):
        self.h.update(data)
        self.count += len(data)


def make_source(path, size):
    """A file of ``size`` pseudo-random bytes; returns its SHA-256 and a
    byte at the middle."""
    h = hashlib.sha256()
    seed = hashlib.sha256(b"bench_mdmf").digest()
    block = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(CHUNK // 32))
    with open(path, "wb") as f:
        left, i = size, 0
        while left > 0:
            piece = block[i % 7:] + block[:i % 7]
            piece = piece[:min(left, CHUNK)]
            f.write(piece)
            h.update(piece)
            left -= len(piece)
            i += 1
    return h.hexdigest()


async def start_servers(tmp, count, inprocess, procs, closers):
    """A broker connected to ``count`` storage servers: in this process
    (an in-process grid) or each in its own process (appended to ``procs``).
    What must be stopped at the end is appended to ``closers``."""
    if inprocess:
        grid = await StorageGrid(tmp).start(count)
        closers.append(grid.close)
        return grid.broker
    client_tub = Tub()
    client_tub.startService()
    closers.append(client_tub.stopService)
    return await start_storage_processes(tmp, count, client_tub, procs)


async def run(args):
    size = int(args.size * 1024 * 1024)
    tmp = tempfile.mkdtemp(prefix="bench_mdmf.")
    procs, closers = [], []
    try:
        src = os.path.join(tmp, "source.bin")
        digest = make_source(src, size)
        broker = await start_servers(tmp, args.servers, args.inprocess, procs, closers)
        secrets = SecretHolder(b"L" * 32, b"C" * 32)
        params = {"k": 3, "happy": 7, "n": 10}
        print("MDMF %s MiB (%d bytes), 3-of-10 on %d servers (%s); client RSS at start %.0f MiB"
              % (args.size, size, args.servers,
                 "in this process" if args.inprocess else "separate processes", peak_rss_mib()))

        cpu = [cpu_seconds(), servers_cpu_seconds(procs)]

        def report(what, t0):
            now = [cpu_seconds(), servers_cpu_seconds(procs)]
            servers = "" if args.inprocess else ", servers %6.2f s" % (now[1] - cpu[1])
            print("  %-18s %6.2f s  (CPU: client %5.2f s%s)   client peak RSS %4.0f MiB"
                  % (what, time.perf_counter() - t0, now[0] - cpu[0], servers, peak_rss_mib()),
                  flush=True)
            cpu[:] = now

        t0 = time.perf_counter()
        with open(src, "rb") as f:
            node = await create_mutable_file(broker, secrets, params, f, version=MDMF_VERSION)
        report("create", t0)

        middle = size // 2
        t0 = time.perf_counter()
        reader = MutableFileNode.from_cap(node.get_readonly_uri(), broker, secrets, params)
        c = MemoryConsumer()
        await reader.read(c, middle, 10)
        report("read 10 bytes", t0)
        with open(src, "rb") as f:
            f.seek(middle)
            assert c.data() == f.read(10), "the 10 bytes read are wrong"

        t0 = time.perf_counter()
        writer = MutableFileNode.from_cap(node.get_uri(), broker, secrets, params)
        old = c.data()[:1]
        new = bytes([old[0] ^ 0xFF])
        await writer.write_at(middle, new)
        report("overwrite 1 byte", t0)

        t0 = time.perf_counter()
        reader = MutableFileNode.from_cap(node.get_readonly_uri(), broker, secrets, params)
        hc = HashingConsumer()
        await reader.read(hc)
        report("read all", t0)
        # the expected contents: the source with one byte flipped
        h = hashlib.sha256()
        with open(src, "rb") as f:
            pos = 0
            while True:
                piece = f.read(CHUNK)
                if not piece:
                    break
                if pos <= middle < pos + len(piece):
                    i = middle - pos
                    piece = piece[:i] + new + piece[i + 1:]
                h.update(piece)
                pos += len(piece)
        assert hc.count == size and hc.h.hexdigest() == h.hexdigest(), "read all: wrong contents"
        assert digest != h.hexdigest()
        print("contents verified; client peak RSS %.0f MiB" % peak_rss_mib())
    finally:
        for close in closers:
            await close()
        for p in procs:
            stop_storage_process(p)
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None, prog=None):
    ap = argparse.ArgumentParser(prog=prog, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=float, default=100.0, help="file size in MiB (default 100)")
    ap.add_argument("--servers", type=int, default=5)
    ap.add_argument("--inprocess", action="store_true",
                    help="run the storage servers in this process")
    args = ap.parse_args(argv)

    def _main(reactor):
        return defer.ensureDeferred(run(args))
    task.react(_main)
