"""How many remote calls, in how many sequential rounds, our mutable-file operations make.

On a busy machine every round trip to the storage servers costs scheduling
latency, so an operation's wall time grows with the number of *sequential*
rounds more than with its CPU.  This runs the directory and MDMF operations
of ``misc/benchmark.py grid`` on an in-process grid of 5 storage servers (real
Foolscap on 127.0.0.1, :class:`allmydata.testing.storagegrid.StorageGrid`), records every ``call_remote`` the mutable
code makes (through ``allmydata.mutable.servermap``, where all of them go),
and prints each operation's calls grouped into rounds: a call belongs to the
current round if it was made before every call of that round was answered.

    .venv/bin/python misc/benchmark.py mutable-rounds --mdmf 20
    .venv/bin/python misc/benchmark.py mutable-rounds --dir-entries 10000

``--mdmf MiB``: an MDMF file: read 10 bytes through a fresh node (as the web
API does for each request), overwrite 1 byte, read 10 bytes again.
``--dir-entries N``: an SDMF directory of N children: add one, list.
"""

import argparse
import os
import shutil
import tempfile
import time

from foolscap.api import Tub
from twisted.internet import defer, task

from allmydata.client import Client, SecretHolder
from allmydata.immutable.target import MemoryConsumer
from allmydata.mutable import servermap
from allmydata.testing.storagegrid import StorageGrid

from .dirnode import _caps

ENCODING = {"k": 3, "happy": 5, "n": 10, "max_segment_size": 128 * 1024}
CALLS = []  # [method, started, answered]


def _install_recorder():
    real = servermap.call_remote

    def recorded(rref, method, *args):
        entry = [method, time.perf_counter(), None]
        CALLS.append(entry)
        d = real(rref, method, *args)

        def answered(result):
            entry[2] = time.perf_counter()
            return result
        d.addBoth(answered)
        return d
    servermap.call_remote = recorded


def report(name, seconds):
    rounds = []
    for method, start, end in CALLS:
        if rounds and start < max(e or float("inf") for _, _, e in rounds[-1]):
            rounds[-1].append((method, start, end))
        else:
            rounds.append([(method, start, end)])
    print("%s: %.3f s, %d remote calls in %d sequential rounds" % (name, seconds, len(CALLS), len(rounds)))
    t0 = CALLS[0][1] if CALLS else 0.0
    for r in rounds:
        counts = {}
        for method, _, _ in r:
            counts[method] = counts.get(method, 0) + 1
        print("    +%.3f s  %s" % (r[0][1] - t0, ", ".join("%s x%d" % kv for kv in counts.items())))
    CALLS.clear()


async def timed(name, start):
    """Run ``start()`` (it returns a Deferred) and report its remote calls."""
    CALLS.clear()
    t = time.perf_counter()
    out = await start()
    report(name, time.perf_counter() - t)
    return out


def new_client(grid):
    return Client(grid.broker, SecretHolder(b"L" * 32, b"C" * 32), ENCODING)


async def mdmf(grid, mib):
    size = mib * 1024 * 1024
    node = await new_client(grid).create_mutable_file(os.urandom(size), version=1)
    cap = node.get_uri()
    for attempt in range(2):
        fresh = new_client(grid).create_node_from_uri(cap)
        await timed("MDMF %d MiB: read 10 bytes (fresh node)" % mib,
                    lambda: fresh.read(MemoryConsumer(), size // 2, 10))
        await timed("MDMF %d MiB: overwrite 1 byte (same node)" % mib,
                    lambda: fresh.write_at(size // 3 + attempt, b"x"))
        await timed("MDMF %d MiB: read 10 bytes (same node)" % mib,
                    lambda: fresh.read(MemoryConsumer(), size // 2, 10))


async def directory(grid, n):
    client = new_client(grid)
    kids = {("file-%06d.txt" % i): client.nodemaker.create_from_cap(None, _caps(i)) for i in range(n)}
    d = await client.create_dirnode(kids)
    for attempt in range(2):
        await timed("dir %d: add one child" % n,
                    lambda: d.set_uri("added-%d" % attempt, None, _caps(n + 1 + attempt)))
        await timed("dir %d: list" % n, d.list)


async def run(args):
    _install_recorder()
    tmp = tempfile.mkdtemp(prefix="mutable_rounds_")
    grid = StorageGrid(tmp, [Tub().getCertData() for _ in range(6)])
    await grid.start(5)
    try:
        if args.mdmf:
            await mdmf(grid, args.mdmf)
        if args.dir_entries:
            await directory(grid, args.dir_entries)
    finally:
        await grid.close()
        shutil.rmtree(tmp, ignore_errors=True)



def main(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mdmf", type=int, default=20, help="MiB of the MDMF file (0: skip)")
    p.add_argument("--dir-entries", type=int, default=0, help="children of the directory (0: skip)")
    args = p.parse_args(argv)
    task.react(lambda reactor: defer.ensureDeferred(run(args)))
