"""The share crawlers' CPU use while the lease checker walks many shares.

Plants --shares immutable shares (one per storage index unless
--per-bucket says otherwise, each with one lease) in a storage directory,
starts a StorageServer on the real reactor with the crawlers' slow start
set to 0 and everything else at its default pace, and waits until the lease
checker has finished one cycle.  It prints the wall time of that cycle, the
process's CPU time over it (both crawlers, the reactor, the polling), their
ratio, and the number of slices; with --unpaced it first walks once at full
speed to give the CPU cost of one share::

    .venv/bin/python misc/benchmark.py crawler --shares 100000
"""

import argparse
import os
import shutil
import tempfile
import time

import attr
from twisted.internet import reactor, task

from allmydata.storage.crawler import CrawlerPace
from allmydata.storage.expirer import ExpirationPolicy, LeaseChecker
from allmydata.storage.immutable import ImmutableShareFile
from allmydata.storage.common import storage_index_to_dir
from allmydata.storage.server import StorageServer
from allmydata.util.hashutil import tagged_hash

NODEID = b"\x01" * 20


def plant(storedir, shares, per_bucket):
    expiration = int(time.time()) + 31 * 24 * 3600
    lease = (0, b"r" * 32, b"c" * 32, expiration)
    made = 0
    i = 0
    while made < shares:
        si = tagged_hash(b"crawler benchmark", b"%d" % i, 16)
        bucket = os.path.join(storedir, "shares", storage_index_to_dir(si))
        for shnum in range(min(per_bucket, shares - made)):
            share = ImmutableShareFile.create(os.path.join(bucket, str(shnum)), 200, lease=lease)
            share.write_share_data(0, b"d" * 200)
            made += 1
        i += 1


def one_cycle(storedir, pace_overrides, policy):
    """Run the server until its lease checker finishes a cycle; return
    (wall seconds, CPU seconds, lease checker slices, bucket counter slices)."""
    for name in ("lease_checker.state.json", "lease_checker.history.json",
                 "bucket_counter.state.json"):
        try:
            os.unlink(os.path.join(storedir, name))
        except FileNotFoundError:
            pass
    server = StorageServer(storedir, NODEID, expiration_policy=policy,
                           crawler_pace={"slow_start": 0, **pace_overrides})
    out = {}

    def poll():
        if server.lease_checker.state["last-cycle-finished"] == 0:
            out["wall"] = time.monotonic() - out["wall0"]
            out["cpu"] = time.process_time() - out["cpu0"]
            out["slices"] = (server.lease_checker.slices, server.bucket_counter.slices)
            loop.stop()
            server.stopService()
            reactor.stop()

    loop = task.LoopingCall(poll)

    def start():
        out["wall0"], out["cpu0"] = time.monotonic(), time.process_time()
        server.startService()
        loop.start(1.0, now=False)
    reactor.callWhenRunning(start)
    reactor.run()
    return out


def main(argv, prog="crawler"):
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shares", type=int, default=100_000)
    p.add_argument("--per-bucket", type=int, default=1)
    p.add_argument("--dir", help="a storage directory planted by an earlier run (kept)")
    p.add_argument("--unpaced", action="store_true",
                   help="first walk once at full speed (one long slice): CPU per share")
    args = p.parse_args(argv)
    storedir = args.dir or tempfile.mkdtemp(prefix="crawler-bench-")
    try:
        if not os.path.isdir(os.path.join(storedir, "shares")):
            t0 = time.monotonic()
            plant(storedir, args.shares, args.per_bucket)
            print("planted %d shares in %.1fs" % (args.shares, time.monotonic() - t0))
        policy = ExpirationPolicy(enabled=False, mode="age")
        if args.unpaced:
            full = attr.evolve(LeaseChecker.default_pace, cpu_slice=10_000, cpu_fraction=1.0)
            print("(one cycle with cpu_slice=%s, cpu_fraction=%s)"
                  % (full.cpu_slice, full.cpu_fraction))
            # a reactor runs once per process: the unpaced and the paced measurements
            # are two runs of this command (--dir to plant once)
            out = one_cycle(storedir, {"cpu_slice": full.cpu_slice,
                                       "cpu_fraction": full.cpu_fraction}, policy)
            print("unpaced: wall %.1fs, CPU %.1fs, %.1f us of CPU per share"
                  % (out["wall"], out["cpu"], 1e6 * out["cpu"] / args.shares))
            return 0
        pace = CrawlerPace()
        out = one_cycle(storedir, {}, policy)
        print("paced (cpu_slice %.2fs, cpu_fraction %.0f%%): one lease checker cycle over %d "
              "shares took %.1fs of wall time and %.1fs of CPU: %.2f%% of a core; slices: "
              "lease checker %d, bucket counter %d"
              % (pace.cpu_slice, 100 * pace.cpu_fraction, args.shares, out["wall"], out["cpu"],
                 100 * out["cpu"] / out["wall"], *out["slices"]))
        return 0
    finally:
        if not args.dir:
            shutil.rmtree(storedir, ignore_errors=True)
