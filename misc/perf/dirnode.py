"""Micro-benchmark of directory contents: pack and unpack a 10,000-entry directory.

    .venv/bin/python misc/benchmark.py dirnode [--entries 10000] [--grid]

Prints the time of each step of the two directory operations
``misc/benchmark.py grid`` times on a 10,000-entry directory (add one child; list all children):

* cold: pack all entries (every write cap encrypted), unpack them
  (parse only), and build every child node and metadata dict, as a first
  listing does;
* warm: what a DirectoryNode does once it has seen the directory -- unpack
  new contents re-using the unchanged entries, add one child and pack
  (re-using the bytes of unchanged entries), list (nodes and metadata already
  made).

``--grid`` also runs the whole thing through a real DirectoryNode on an
in-process grid of 5 storage servers (Foolscap on 127.0.0.1): create the
directory with 10,000 children, then time set_uri of one more and list().
"""

import argparse
import os
import tempfile
import time

from foolscap.api import Tub
from twisted.internet import defer, task

from allmydata.client import Client, SecretHolder
from allmydata.dirnode_format import ChildEntry, pack_entries, unpack_contents, update_metadata
from allmydata.nodemaker import NodeMaker
from allmydata.storage_client import StorageFarmBroker
from allmydata.testing.storagegrid import StorageGrid
from allmydata.util import base32

CHK = (b"URI:CHK:%s:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:3:10:%d")


def _caps(i):
    key = base32.b2a(i.to_bytes(16, "big"))
    return CHK % (key, 1000 + i)


def timed(label, f, *args):
    t = time.perf_counter()
    out = f(*args)
    print("  %-52s %7.1f ms" % (label, (time.perf_counter() - t) * 1000))
    return out


def bench_format(n):
    writekey = os.urandom(16)
    now = time.time()
    print("%d entries (CHK children, tahoe metadata)" % n)
    entries = {("file-%06d.txt" % i): ChildEntry.new("file-%06d.txt" % i, None, _caps(i),
                                                     update_metadata(None, {"size": i}, now))
               for i in range(n)}
    # give half of them a write cap, as a directory of subdirectories would have
    ssk = b"URI:SSK:fs6ul2fju2fvb2cfx7gt6ngycm:hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq"
    for i, e in enumerate(entries.values()):
        if i % 2:
            e._rw_uri = ssk
    print("cold")
    data = timed("pack (encrypt every write cap)", pack_entries, entries, writekey, False)
    print("  contents: %.1f MB" % (len(data) / 1e6))
    children = timed("unpack (parse)", unpack_contents, data, True)
    timed("decrypt every write cap", lambda: [e.rw_uri(writekey) for e in children.values()])
    timed("decode every metadata", lambda: [e.metadata for e in children.values()])
    nm = NodeMaker(StorageFarmBroker.from_rrefs([]), SecretHolder(b"s" * 32, b"c" * 32), None,
                   {"k": 3, "happy": 7, "n": 10})

    def nodes():
        for e in children.values():
            e.node = nm.create_from_cap(e.rw_uri(writekey), e.ro_uri, name=e.name)
    timed("make every child node", nodes)

    print("warm (what a DirectoryNode does after the first read)")
    previous = {e.raw: e for e in children.values()}
    again = timed("unpack the same contents again (re-use)", unpack_contents, data, True,
                  previous)
    again["new-child"] = ChildEntry.new("new-child", None, _caps(n + 1),
                                        update_metadata(None, None, now))
    data2 = timed("add one child: pack", pack_entries, again, writekey, False)
    previous = {e.raw: e for e in again.values()}
    listed = timed("unpack the new contents (re-use)", unpack_contents, data2, True, previous)
    timed("list: {name: (node, metadata copy)}",
          lambda: {name: (e.node, e.metadata_copy()) for name, e in listed.items()})


async def bench_grid(n):
    tmp = tempfile.mkdtemp(prefix="bench_dirnode_")
    grid = StorageGrid(tmp, [Tub().getCertData() for _ in range(6)])
    await grid.start(5)
    try:
        client = Client(grid.broker, SecretHolder(b"L" * 32, b"C" * 32),
                        {"k": 3, "happy": 5, "n": 10, "max_segment_size": 128 * 1024})
        nm = client.nodemaker
        kids = {("file-%06d.txt" % i): nm.create_from_cap(None, _caps(i)) for i in range(n)}
        for fmt in ("sdmf", "mdmf"):
            print("grid, %s directory of %d entries" % (fmt, n))
            t = time.perf_counter()
            d = await client.create_dirnode(kids, version=fmt)
            print("  %-52s %7.1f ms" % ("create with all children", (time.perf_counter() - t) * 1e3))
            d = client.create_node_from_uri(d.get_uri())
            for attempt in range(2):
                t = time.perf_counter()
                await d.set_uri("added-%d" % attempt, None, _caps(n + 10 + attempt))
                print("  %-52s %7.1f ms" % ("add one child", (time.perf_counter() - t) * 1e3))
                t = time.perf_counter()
                children = await d.list()
                print("  %-52s %7.1f ms" % ("list (%d)" % len(children),
                                            (time.perf_counter() - t) * 1e3))
            fresh = Client(grid.broker, SecretHolder(b"L" * 32, b"C" * 32),
                           {"k": 3, "happy": 5, "n": 10, "max_segment_size": 128 * 1024})
            d2 = fresh.create_node_from_uri(d.get_uri())
            t = time.perf_counter()
            children = await d2.list()
            print("  %-52s %7.1f ms" % ("list from a fresh client (cold)",
                                        (time.perf_counter() - t) * 1e3))
    finally:
        await grid.close()


def main(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entries", type=int, default=10000)
    p.add_argument("--grid", action="store_true", help="also time a real directory on a grid")
    args = p.parse_args(argv)
    bench_format(args.entries)
    if args.grid:
        def run(reactor):
            return defer.ensureDeferred(bench_grid(args.entries))
        task.react(run)

