"""Raw cost of filling immutable buckets over Foolscap: one storage server
process, one writer process, no encoding.

The writer allocates --shares buckets on the server and fills each with
--mib MiB in ``write(offset, data)`` calls of --batch bytes, keeping up to
--depth calls per bucket unacknowledged (as WriteBucketProxy does), then
closes them.  It prints the wall time and the CPU seconds of both
processes, so the server's receive path and the client's send path can be
measured and profiled (--profile-server FILE writes a cProfile of the
server) without the rest of an upload::

    .venv/bin/python misc/benchmark.py bucket-writes --mib 67 --shares 2 --batch 1000000
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import psutil
from foolscap.api import Referenceable, Tub
from twisted.internet import defer, reactor

from allmydata.testing import storage_process
from allmydata.util.rrefutil import call_remote

from . import PROFILING


def run_client(furl, args):
    canary = Referenceable()

    result = {}

    async def go():
        tub = Tub()
        tub.startService()
        rref = await tub.getReference(furl)
        size = args.mib * 1024 * 1024
        si = os.urandom(16)
        t0 = time.perf_counter()
        c0 = os.times()
        already, writers = await call_remote(rref, "allocate_buckets", si, os.urandom(32),
                                             os.urandom(32), set(range(args.shares)), size,
                                             canary)
        data = os.urandom(args.batch)
        ds = []

        async def fill(w):
            pending = []
            off = 0
            while off < size:
                n = min(args.batch, size - off)
                chunk = data if n == len(data) else data[:n]
                pending.append(call_remote(w, "write", off, chunk))
                off += n
                if len(pending) >= args.depth:
                    await pending.pop(0)
            for d in pending:
                await d
            await call_remote(w, "close")
        for w in writers.values():
            ds.append(defer.ensureDeferred(fill(w)))
        await defer.gatherResults(ds)
        c1 = os.times()
        result["wall"] = time.perf_counter() - t0
        result["cpu"] = (c1.user - c0.user) + (c1.system - c0.system)
        await tub.stopService()

    def done(r):
        reactor.stop()
        return r
    d = defer.ensureDeferred(go())
    d.addBoth(done)
    reactor.run()
    return result


def main(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mib", type=int, default=67, help="MiB per share")
    p.add_argument("--shares", type=int, default=2)
    p.add_argument("--batch", type=int, default=1_000_000)
    p.add_argument("--depth", type=int, default=2, help="unacknowledged writes per bucket")
    p.add_argument("--profile-server", help="write a cProfile of the server here")
    args = p.parse_args(argv)
    root = tempfile.mkdtemp(prefix="bucket-bench-")
    command = storage_process.COMMAND
    if args.profile_server:  # the server's CPU time, function by function
        command = [sys.executable, PROFILING, "node", "--module", args.profile_server,
                   storage_process.MODULE]
    try:
        server, furl = storage_process.start_storage_process(os.path.join(root, "storage"),
                                                             command)
        try:
            sp = psutil.Process(server.pid)
            s0 = sp.cpu_times()
            r = run_client(furl, args)
            s1 = sp.cpu_times()
        finally:
            storage_process.stop_storage_process(server)
        scpu = (s1.user - s0.user) + (s1.system - s0.system)
        total = args.mib * args.shares
        print("%d MiB in %d-byte writes, depth %d: %.2f s wall (%.0f MB/s), client %.2f CPU-s, "
              "server %.2f CPU-s" % (total, args.batch, args.depth, r["wall"],
                                     total * 1.048576 / r["wall"], r["cpu"], scpu))
    finally:
        shutil.rmtree(root, ignore_errors=True)
