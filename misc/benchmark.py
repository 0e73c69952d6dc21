#!/usr/bin/env python3
"""Immutable-file throughput and client memory, ours against Tahoe-LAFS 1.20.

For each implementation asked for, this builds the same local grid on
127.0.0.1 -- 5 storage nodes and a client using them through
``private/servers.yaml`` (Foolscap), encoding 3-of-10 with happy = 5 -- and
measures through the client's web API:

* upload (PUT /uri) and download (GET /uri/$CAP) throughput for each size in
  --sizes (MiB), best of --repeat runs, fresh random data each time;
* the mean time of one upload of a 1 KiB file, over --small uploads;
* the client's peak RSS while uploading and downloading --big MiB.

Tahoe-LAFS runs from the reference virtualenv (built if missing, see
misc/ensure-tahoe-ref.sh) with ``force_foolscap = true``.  With both
implementations it prints the ratios.  Example:

    .venv/bin/python misc/benchmark.py --impl ours,tahoe --sizes 1,10,100 --big 1024
"""

import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse

import psutil

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from allmydata.test import nodeprocs  # noqa: E402
from allmydata.test.interop.harness import (  # noqa: E402
    OurClient as HarnessOurClient,
    OurStorageGrid,
    ReferenceStorageGrid,
    TahoeClient,
    edit_config,
)
from allmydata.test.interop.refvenv import ensure_ref_venv  # noqa: E402

K, HAPPY, N, SERVERS = 3, 5, 10, 5
MiB = 1024 * 1024


class OurClient(HarnessOurClient):
    """Our client node (see the harness), with the benchmark's encoding."""

    def __init__(self, basedir):
        HarnessOurClient.__init__(self, basedir, K, HAPPY, N, nickname="bench-client")


class RefClient(TahoeClient):
    def __init__(self, venv, basedir):
        TahoeClient.__init__(self, venv, basedir, needed=K, happy=HAPPY, total=N)

    def pid(self):
        pids = self.node._pids()
        return min(pids) if pids else None


def wait_connected(url, count, timeout=90):
    def ok():
        try:
            with urllib_get(url + "/?t=json") as r:
                servers = json.loads(r.read())["servers"]
        except (ConnectionError, OSError, ValueError, KeyError):
            return False  # the web server is not up yet
        return sum(1 for s in servers if s["connection_status"].lower().startswith("connected")) >= count
    nodeprocs.wait_for(ok, timeout, interval=0.3, what="%d connected servers" % count)


class urllib_get:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        self.conn.request("GET", u.path + ("?" + u.query if u.query else ""))
        self.resp = self.conn.getresponse()

    def __enter__(self):
        return self.resp

    def __exit__(self, *exc):
        self.conn.close()


def put_file(url, path):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=3600)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        conn.request("PUT", "/uri", body=f, headers={"Content-Length": str(size),
                                                     "Accept": "text/plain"})
        resp = conn.getresponse()
        body = resp.read()
    conn.close()
    if resp.status not in (200, 201):
        raise RuntimeError("upload failed: HTTP %d %s" % (resp.status, body[:2000]))
    return body.decode().strip()


def get_file(url, cap):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=3600)
    conn.request("GET", "/uri/" + urllib.parse.quote(cap, safe=""), headers={"Accept": "text/plain"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError("download failed: HTTP %d %s" % (resp.status, resp.read()[:2000]))
    total = 0
    while True:
        chunk = resp.read(1 << 20)
        if not chunk:
            break
        total += len(chunk)
    conn.close()
    return total


def random_file(directory, size):
    path = os.path.join(directory, "data-%d-%d" % (size, time.monotonic_ns()))
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 * MiB)
            f.write(os.urandom(n))
            left -= n
    return path


class PeakRSS:
    """Samples a process's RSS in a thread; .peak is the largest seen."""

    def __init__(self, pid, interval=0.02):
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        self.peak = self.proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def measure(impl, workdir, args, venv=None):
    results = {}
    os.makedirs(workdir, exist_ok=True)
    grid = OurStorageGrid(workdir, SERVERS) if impl == "ours" else ReferenceStorageGrid(venv, workdir, SERVERS)
    client = OurClient(os.path.join(workdir, "client")) if impl == "ours" else \
        RefClient(venv, os.path.join(workdir, "client"))
    try:
        nodes = grid.start()
        client.create()
        if impl != "ours":
            edit_config(client.basedir, {"client": {"force_foolscap": "true"}})
        client.set_servers(nodes)
        client.start()
        wait_connected(client.url, SERVERS)
        data_dir = os.path.join(workdir, "data")
        os.makedirs(data_dir)
        for size_mib in args.sizes:
            best_up = best_down = None
            for _ in range(args.repeat):
                path = random_file(data_dir, size_mib * MiB)
                t0 = time.perf_counter()
                cap = put_file(client.url, path)
                up = time.perf_counter() - t0
                t0 = time.perf_counter()
                got = get_file(client.url, cap)
                down = time.perf_counter() - t0
                assert got == size_mib * MiB, (got, size_mib)
                os.unlink(path)
                best_up = up if best_up is None else min(best_up, up)
                best_down = down if best_down is None else min(best_down, down)
            results["upload %d MiB (MB/s)" % size_mib] = size_mib * MiB / best_up / 1e6
            results["download %d MiB (MB/s)" % size_mib] = size_mib * MiB / best_down / 1e6
            print("  %s: %d MiB up %.1f MB/s, down %.1f MB/s" % (
                impl, size_mib, size_mib * MiB / best_up / 1e6, size_mib * MiB / best_down / 1e6),
                flush=True)
        if args.small:
            paths = []
            for i in range(args.small):
                p = os.path.join(data_dir, "small-%d" % i)
                with open(p, "wb") as f:
                    f.write(os.urandom(1024))
                paths.append(p)
            t0 = time.perf_counter()
            for p in paths:
                put_file(client.url, p)
            per = (time.perf_counter() - t0) / len(paths)
            results["1 KiB upload (ms each)"] = per * 1000
            print("  %s: 1 KiB upload %.1f ms each" % (impl, per * 1000), flush=True)
        if args.big:
            path = random_file(data_dir, args.big * MiB)
            with PeakRSS(client.pid()) as rss:
                cap = put_file(client.url, path)
                get_file(client.url, cap)
            os.unlink(path)
            results["client peak RSS, %d MiB up+down (MiB)" % args.big] = rss.peak / MiB
            print("  %s: client peak RSS %.0f MiB" % (impl, rss.peak / MiB), flush=True)
    finally:
        client.stop()
        grid.stop()
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--impl", default="ours,tahoe", help="ours, tahoe, or both (comma-separated)")
    p.add_argument("--sizes", default="1,10,100", help="file sizes in MiB for throughput")
    p.add_argument("--repeat", type=int, default=2, help="runs per size (best is kept)")
    p.add_argument("--small", type=int, default=100, help="number of 1 KiB uploads")
    p.add_argument("--big", type=int, default=1024, help="MiB moved while watching RSS (0: skip)")
    p.add_argument("--workdir", default=None, help="where grids live (default: a temp dir)")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    impls = [x.strip() for x in args.impl.split(",") if x.strip()]
    root = args.workdir or tempfile.mkdtemp(prefix="tahoe-bench-")
    venv = ensure_ref_venv() if "tahoe" in impls else None
    all_results = {}
    try:
        for impl in impls:
            print("== %s" % impl, flush=True)
            all_results[impl] = measure(impl, os.path.join(root, impl), args, venv)
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)
    names = list(next(iter(all_results.values())).keys())
    print("\n%-42s" % "measure" + "".join("%14s" % i for i in impls) +
          ("%10s" % "ratio" if len(impls) == 2 else ""))
    for name in names:
        row = "%-42s" % name + "".join("%14.1f" % all_results[i].get(name, float("nan")) for i in impls)
        if len(impls) == 2:
            a, b = all_results[impls[0]].get(name), all_results[impls[1]].get(name)
            if a and b:
                lower_is_better = "ms" in name or "RSS" in name
                row += "%9.2fx" % ((b / a) if lower_is_better else (a / b))
        print(row)
    if len(impls) == 2:
        print("(ratio: how many times better %s is than %s)" % (impls[0], impls[1]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(all_results, f, indent=1)


if __name__ == "__main__":
    main()
