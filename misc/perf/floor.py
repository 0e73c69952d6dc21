"""The floor Foolscap puts under an upload, a download and a check: the storage calls alone.

Starts --servers storage processes whose ``RIStorageServer`` does nothing but
answer: ``allocate_buckets`` hands out bucket writers whose ``write`` drops
the data and whose ``close`` returns at once (no disk, no leases).  A client
process then makes exactly the Foolscap calls that our uploader makes for a
file on a 3-of-10 grid (two shares per server when there are five servers),
with the same Tub options, broker, canary and pipelining, and nothing else: no
web API, no encryption, no hashing, no erasure coding, no disk.

* small: the calls of one 1 KiB upload (per server one ``allocate_buckets``,
  then a ``write`` and a ``close`` per share), one upload after the other;
* large: the calls of a --size MiB upload: each share gets its blocks
  (1 MiB segments, 349,526-byte blocks) with up to 1 MB unanswered per share
  (in both, each share's ``close`` follows its last write without waiting);
* download: the calls of a --size MiB download: ``get_buckets`` on each
  server, then the blocks of 3 shares on 3 servers, 4 segments in flight;
* check: the calls of a plain deep-check of --check CHK files: for each
  file ``get_buckets`` on every server (each answers two fresh bucket
  references, ten in all), then, once the references are dropped, the
  ``decref`` call (with its answer) that Foolscap makes for each of them;
  files are checked --check-in-flight at a time, as the deep traversal does.
  With --check-absent the servers hold none of the files: the same
  ``get_buckets`` calls answer empty, with no references and so no decref.

What a real upload costs on top of this floor is our own work.  The figures
say what a transport bound on Foolscap's Python stack allows on this machine,
for instance whether an upload target is reachable over Foolscap at all.

    .venv/bin/python misc/benchmark.py floor --small 200 --size 100
    .venv/bin/python misc/benchmark.py floor --small 0 --size 0 --check 1000
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import psutil
from foolscap.api import Referenceable, Tub
from twisted.internet import defer, reactor
from twisted.python.failure import Failure
from zope.interface import implementer

from allmydata.storage.interfaces import RIBucketReader, RIBucketWriter, RIStorageServer
from allmydata.testing.ports import free_port
from allmydata.util.broker import StringWaitingBroker
from allmydata.util.malloc import keep_big_buffers

from . import BENCHMARK

MiB = 1024 * 1024
SEGMENT = MiB
K, N = 3, 10
BLOCK = -(-SEGMENT // K)  # 349,526 bytes
WINDOW = 1000 * 1000  # bytes unanswered per share, as the uploader keeps
ABSENT = b"\x00" * 4  # the servers hold no share of a storage index that starts so


def make_tub(basedir):
    keep_big_buffers()
    tub = Tub(certFile=os.path.join(basedir, "node.pem"))
    tub.brokerClass = StringWaitingBroker
    tub.setOption("expose-remote-exception-types", False)
    return tub


def serve(basedir):
    """A storage server that answers and keeps nothing; prints its FURL."""

    @implementer(RIBucketWriter)
    class NullWriter(Referenceable):
        def remote_write(self, offset, data):
            return None

        def remote_close(self):
            return None

        def remote_abort(self):
            return None

    block = b"\x02" * BLOCK

    @implementer(RIBucketReader)
    class BlockReader(Referenceable):
        """Every read gets (the start of) the same block."""
        def remote_read(self, offset, length):
            return block if length == BLOCK else block[:length]

        def remote_advise_corrupt_share(self, reason):
            return None

    @implementer(RIStorageServer)
    class NullServer(Referenceable):
        def remote_allocate_buckets(self, storage_index, renew_secret, cancel_secret,
                                    sharenums, allocated_size, canary):
            return set(), {n: NullWriter() for n in sharenums}

        def remote_get_buckets(self, storage_index):
            if storage_index.startswith(ABSENT):
                return {}
            return {n: BlockReader() for n in range(2)}

        def remote_get_version(self):
            # this process's CPU seconds, for the check's servers' figure
            t = psutil.Process().cpu_times()
            return {b"cpu": t.user + t.system}

    tub = make_tub(basedir)
    port = free_port()
    tub.listenOn("tcp:%d:interface=127.0.0.1" % port)
    tub.setLocation("tcp:127.0.0.1:%d" % port)
    tub.startService()
    furl = tub.registerReference(NullServer())
    sys.stdout.write(furl + "\n")
    sys.stdout.flush()
    reactor.run()


def client(basedir, furls, small, size, check=0, check_in_flight=10, check_absent=False):

    tub = make_tub(basedir)
    tub.startService()
    canary = Referenceable()
    me = psutil.Process()
    results = {}

    def cpu():
        t = me.cpu_times()
        return t.user + t.system

    @defer.inlineCallbacks
    def allocate(rrefs, si, shares_per_server, share_size):
        answers = yield defer.gatherResults([
            rref.callRemote("allocate_buckets", si, b"r" * 32, b"c" * 32,
                            set(range(i * shares_per_server, (i + 1) * shares_per_server)),
                            share_size, canary)
            for i, rref in enumerate(rrefs)])
        return [w for _, writers in answers for w in writers.values()]

    @defer.inlineCallbacks
    def push(writer, share_size):
        pending = []
        offset = 0
        block = b"\x01" * BLOCK
        while offset < share_size:
            data = block[:min(BLOCK, share_size - offset)]
            pending.append(writer.callRemote("write", offset, data))
            offset += len(data)
            while len(pending) * BLOCK > WINDOW:
                yield pending.pop(0)
        # the close goes right behind the last write, as the uploader sends it
        pending.append(writer.callRemote("close"))
        yield defer.gatherResults(pending)

    @defer.inlineCallbacks
    def check_files(rrefs, files):
        todo = iter(range(files))

        @defer.inlineCallbacks
        def worker():
            for _ in todo:
                si = ABSENT + os.urandom(12) if check_absent else os.urandom(16)
                answers = yield defer.gatherResults(
                    [rref.callRemote("get_buckets", si) for rref in rrefs])
                if sum(len(a) for a in answers) != (0 if check_absent else N):
                    raise ValueError("unexpected number of bucket references")
                # dropping the answers drops the references: Foolscap sends a decref for each
                del answers

        yield defer.gatherResults([worker() for _ in range(check_in_flight)])
        # A server answers a connection's calls in order, so once these are answered
        # every decref sent before them has been answered too.
        versions = yield defer.gatherResults([rref.callRemote("get_version") for rref in rrefs])
        return sum(v[b"cpu"] for v in versions)

    @defer.inlineCallbacks
    def run():
        rrefs = yield defer.gatherResults([tub.getReference(f) for f in furls], consumeErrors=True)
        if check:
            s0 = yield check_files(rrefs, 20)  # warm up
            c0, t0 = cpu(), time.perf_counter()
            s1 = yield check_files(rrefs, check)
            results["check"] = (time.perf_counter() - t0, cpu() - c0, s1 - s0)
        per_server = N // len(rrefs)
        if small:
            share_size = 1400  # about a 1 KiB file's share: 342 bytes of data, hashes, UEB
            for i in range(10):  # warm up
                writers = yield allocate(rrefs, os.urandom(16), per_server, share_size)
                yield defer.gatherResults([push(w, share_size) for w in writers])
                del writers
            c0, t0 = cpu(), time.perf_counter()
            for i in range(small):
                writers = yield allocate(rrefs, os.urandom(16), per_server, share_size)
                yield defer.gatherResults([push(w, share_size) for w in writers])
                del writers
            results["small"] = ((time.perf_counter() - t0) / small, (cpu() - c0) / small)
        if size:
            share_size = -(-size * MiB // SEGMENT) * BLOCK
            c0, t0 = cpu(), time.perf_counter()
            writers = yield allocate(rrefs, os.urandom(16), per_server, share_size)
            yield defer.gatherResults([push(w, share_size) for w in writers])
            results["large"] = (time.perf_counter() - t0, cpu() - c0)
            del writers
            c0, t0 = cpu(), time.perf_counter()
            readers = yield defer.gatherResults(
                [rref.callRemote("get_buckets", b"s" * 16) for rref in rrefs])
            # k shares, on as many different servers as there are
            rounds = zip(*[list(r.values()) for r in readers])
            chosen = [reader for rnd in rounds for reader in rnd][:K]
            segments = -(-size * MiB // SEGMENT)
            in_flight = []
            for seg in range(segments):
                in_flight.append(defer.gatherResults(
                    [r.callRemote("read", seg * BLOCK, BLOCK) for r in chosen]))
                if len(in_flight) >= 4:
                    yield in_flight.pop(0)
            yield defer.gatherResults(in_flight)
            results["download"] = (time.perf_counter() - t0, cpu() - c0)

    def done(result):
        if isinstance(result, Failure):
            results["error"] = result.getErrorMessage() or repr(result.value)
        reactor.stop()

    reactor.callWhenRunning(lambda: run().addBoth(done))
    reactor.run()
    if "error" in results:
        raise SystemExit("floor run failed: %s" % (results["error"],))
    return results


def main(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", type=int, default=5)
    p.add_argument("--small", type=int, default=200, help="1 KiB uploads (0: skip)")
    p.add_argument("--size", type=int, default=100, help="MiB of the large upload (0: skip)")
    p.add_argument("--check", type=int, default=0,
                   help="CHK files of a plain deep-check (0: skip)")
    p.add_argument("--check-in-flight", type=int, default=10,
                   help="files checked at once (the deep traversal's 10)")
    p.add_argument("--check-absent", action="store_true",
                   help="check files the servers hold no share of (no decref calls)")
    p.add_argument("--serve", metavar="DIR", help=argparse.SUPPRESS)
    p.add_argument("--client", metavar="DIR", help=argparse.SUPPRESS)
    args, furls = p.parse_known_args(argv)
    if args.serve:
        return serve(args.serve)
    if args.client:
        results = client(args.client, furls, args.small, args.size, args.check,
                         args.check_in_flight, args.check_absent)
        print(json.dumps(results))
        return

    with tempfile.TemporaryDirectory(prefix="floor-") as tmp:
        servers = []
        try:
            for i in range(args.servers):
                d = os.path.join(tmp, "s%d" % i)
                os.mkdir(d)
                servers.append(subprocess.Popen(
                    [sys.executable, BENCHMARK, "floor", "--serve", d],
                    stdout=subprocess.PIPE, text=True))
            furls = [s.stdout.readline().strip() for s in servers]
            procs = [psutil.Process(s.pid) for s in servers]

            def server_cpu():
                return sum(t.user + t.system for t in (pr.cpu_times() for pr in procs))

            def run_client(small, size, check=0):
                d = os.path.join(tmp, "c")
                os.makedirs(d, exist_ok=True)
                s0 = server_cpu()
                out = subprocess.run(
                    [sys.executable, BENCHMARK, "floor", "--client", d, "--small", str(small),
                     "--size", str(size), "--check", str(check),
                     "--check-in-flight", str(args.check_in_flight)]
                    + (["--check-absent"] if args.check_absent else []) + furls,
                    check=True, capture_output=True, text=True).stdout
                return json.loads(out.strip().splitlines()[-1]), server_cpu() - s0

            if args.small:
                r, scpu = run_client(args.small, 0)
                wall, ccpu = r["small"]
                print("small (the calls of one 1 KiB upload): %.1f ms each; client %.1f CPU-ms, "
                      "servers %.1f CPU-ms in all"
                      % (wall * 1e3, ccpu * 1e3, scpu / (args.small + 10) * 1e3))
            if args.size:
                r, scpu = run_client(0, args.size)
                wall, ccpu = r["large"]
                print("large (the calls of a %d MiB upload, %d MiB of shares): %.2f s, "
                      "%.1f MB/s of file; client %.2f CPU-s"
                      % (args.size, args.size * N // K, wall, args.size * MiB / wall / 1e6, ccpu))
                wall, ccpu = r["download"]
                print("download (the calls of a %d MiB download): %.2f s, %.1f MB/s of file; "
                      "client %.2f CPU-s; servers, upload and download: %.2f CPU-s"
                      % (args.size, wall, args.size * MiB / wall / 1e6, ccpu, scpu))
            if args.check:
                r, _ = run_client(0, 0, args.check)
                wall, ccpu, scpu = r["check"]
                print("check (the calls of a plain deep-check of %d CHK files%s, %d in flight): "
                      "%.2f s; client %.2f CPU-s; servers %.2f CPU-s summed"
                      % (args.check, ", none on the servers" if args.check_absent else "",
                         args.check_in_flight, wall, ccpu, scpu))
        finally:
            for s in servers:
                s.terminate()
            for s in servers:
                s.wait()

