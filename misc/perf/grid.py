"""Immutable-file throughput and client memory, ours against Tahoe-LAFS 1.20.

For each implementation asked for, this builds the same local grid on
127.0.0.1 -- 5 storage nodes and a client using them through
``private/servers.yaml`` (Foolscap), encoding 3-of-10 with happy = 5 -- and
measures through the client's web API:

* upload (PUT /uri) and download (GET /uri/$CAP) throughput for each size in
  --sizes (MiB), best of --repeat runs, fresh random data each time;
* the mean time of one upload of a 1 KiB file, over --small uploads, and of
  one download of each of them;
* the client's peak RSS while uploading and downloading --big MiB;
* a mutable directory of --dir-entries children, made in one
  ``POST /uri?t=mkdir-with-children``: the time to add one child
  (``PUT /uri/$DIR/name?t=uri``), to upload a 1 KiB file into it
  (``PUT /uri/$DIR/name``) and to list it (``GET /uri/$DIR?t=json``), best of
  --op-repeat (and the first listing on its own: it encodes every child; and
  a listing by the client after a restart, which has to read every child);
* an MDMF file of --mdmf MiB: create (``PUT /uri?format=MDMF``),
  read 10 bytes from its middle (``GET`` with ``Range``), overwrite 1 byte
  (``PUT /uri/$WRITECAP?offset=``), read it all (checked against what was
  written), each timed, and the client's peak RSS through the whole sequence.

The directory and MDMF operations also report the CPU seconds the client
process and the storage node processes used in each (", client CPU",
", servers CPU"): on a machine busy with other work the wall times count
waiting for a CPU too, and these are steadier to compare.

Tahoe-LAFS runs from the reference virtualenv (built if missing, see
misc/ensure-tahoe-ref.sh) with ``force_foolscap = true``.  With both
implementations it prints the ratios.  The machine's speed drifts (by up to
2x over minutes here), so ``--rounds 2`` or more measures each
implementation again in the other order (AB BA ...) and keeps the best of
each figure (the highest peak RSS).  Better, ``--paired`` runs both grids
at once and makes each throughput and 1 KiB measurement for one
implementation right after the other, --repeat pairs in alternating order;
its ratio is the median of the pairs' ratios, each taken within seconds on
the same machine.  Examples:

    .venv/bin/python misc/benchmark.py grid --impl ours,tahoe --sizes 1,10,100 --big 1024
    .venv/bin/python misc/benchmark.py grid --paired --repeat 5 --sizes 100 --small 100 \
        --big 0 --dir-entries 0 --mdmf 0
    .venv/bin/python misc/benchmark.py grid --sizes '' --small 0 --big 0 --dir-entries 10000 \
        --mdmf 100
"""

import argparse
import compileall
import hashlib
import http.client
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
import traceback
import urllib.parse

import psutil

from allmydata.testing.nodeconfig import edit_config
from allmydata.testing.processes import read_pid
from allmydata.testing.procgrid import connected_count
from allmydata.testing.reference import OurClient as HarnessOurClient
from allmydata.testing.reference import OurStorageGrid, ReferenceStorageGrid, TahoeClient
from allmydata.testing.refvenv import ensure_ref_venv
from allmydata.testing.waiting import wait_for
from allmydata.uri import from_string
from allmydata.util import base32

from . import SRC

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
    wait_for(lambda: (connected_count(url) or 0) >= count, timeout, interval=0.3,
             what="%d connected servers" % count)


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


def http_request(url, method, path, body=None, headers=None, sink=None, timeout=3600):
    """One request to the client's web API: ``(status, body bytes)``.

    ``body`` may be bytes or an open file (sent with its Content-Length);
    with ``sink`` the response body is passed to ``sink(chunk)`` in 1 MiB
    pieces instead of being returned.  4xx/5xx raise RuntimeError.
    """
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    all_headers = {"Accept": "text/plain"}
    if body is not None:
        size = len(body) if isinstance(body, bytes) else os.fstat(body.fileno()).st_size
        all_headers["Content-Length"] = str(size)
    all_headers.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=all_headers)
        resp = conn.getresponse()
        if resp.status >= 400:
            raise RuntimeError("%s %s: HTTP %d %s" % (method, path[:120], resp.status, resp.read()[:2000]))
        if sink is None:
            return resp.status, resp.read()
        while True:
            chunk = resp.read(1 << 20)
            if not chunk:
                return resp.status, b""
            sink(chunk)
    finally:
        conn.close()


def cap_path(cap, rest=""):
    return "/uri/" + urllib.parse.quote(cap, safe="") + rest


def cpu_seconds(proc):
    try:
        t = proc.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return t.user + t.system


class GridProcs:
    """The client's process and the storage nodes' processes, for CPU accounting."""

    def __init__(self, client_pid, server_pids):
        self.client = psutil.Process(client_pid)
        self.pid = client_pid
        self.servers = [psutil.Process(p) for p in server_pids if p]

    def cpu(self):
        return cpu_seconds(self.client), sum(cpu_seconds(p) for p in self.servers)


def server_pids(grid):
    if isinstance(grid, OurStorageGrid):
        return [read_pid(b) for b in grid.procs.basedirs]
    return [min(p._pids(), default=None) for p in grid.procs]


def timed(procs, f, *args, **kwargs):
    """``(Times(wall, client CPU, storage nodes' CPU), f's result)``.

    The CPU seconds are what to compare when the machine is busy with other
    work: the wall time then also counts the time the client waited for a CPU."""
    c0, s0 = procs.cpu()
    t0 = time.perf_counter()
    out = f(*args, **kwargs)
    wall = time.perf_counter() - t0
    c1, s1 = procs.cpu()
    return Times(wall, c1 - c0, s1 - s0), out


class Times(tuple):
    """(wall, client CPU, servers CPU) seconds of one operation."""

    def __new__(cls, wall, client, servers):
        return tuple.__new__(cls, (wall, client, servers))

    def show(self):
        return "%.3f s (client CPU %.3f, servers CPU %.3f)" % self


def record(results, name, runs):
    """Best of the runs, for each of wall time, client CPU and servers' CPU."""
    results["%s (s)" % name] = min(r[0] for r in runs)
    results["%s, client CPU (s)" % name] = min(r[1] for r in runs)
    results["%s, servers CPU (s)" % name] = min(r[2] for r in runs)


def fake_children(n):
    """``n`` children for mkdir-with-children: 9 in 10 are (made-up) CHK files, 1 in 10 (made-up)
    mutable directories, so that write caps are encrypted too.  No shares exist for them; a
    directory listing does not need any."""
    children = {}
    for i in range(n):
        key = base32.b2a(hashlib.sha256(b"key %d" % i).digest()[:16]).decode()
        if i % 10:
            ueb = base32.b2a(hashlib.sha256(b"ueb %d" % i).digest()).decode()
            cap = "URI:CHK:%s:%s:%d:%d:%d" % (key, ueb, K, N, 1000 + i)
            children["file-%06d.txt" % i] = ["filenode", {
                "ro_uri": cap, "size": 1000 + i,
                "metadata": {"size": 1000 + i, "mtime": 1.7e9 + i, "ctime": 1.7e9 + i}}]
        else:
            # a DIR2 write cap's readcap is the SSK readkey: hash of the writekey
            # (docs/specifications/caps.md §5)
            fp = base32.b2a(hashlib.sha256(b"fp %d" % i).digest()).decode()
            rw = "URI:DIR2:%s:%s" % (key, fp)
            ro = from_string(rw.encode()).get_readonly().to_string().decode()
            children["dir-%06d" % i] = ["dirnode", {"rw_uri": rw, "ro_uri": ro,
                                                   "metadata": {"mtime": 1.7e9 + i}}]
    return children


def measure_directory(impl, url, procs, n, repeat, results, restart=None):
    """A directory of n entries; time adding one child and listing it
    (and, with ``restart`` -- a function that restarts the client and returns
    its new GridProcs -- listing it from a client that has not read it yet)."""
    body = json.dumps(fake_children(n)).encode()
    t, (_, dircap) = timed(procs, http_request, url, "POST", "/uri?t=mkdir-with-children", body,
                           {"Content-Type": "application/json"})
    dircap = dircap.decode().strip()
    record(results, "dir %d: create" % n, [t])
    print("  %s: dir %d: mkdir-with-children %s (%d bytes of JSON)" % (impl, n, t.show(), len(body)),
          flush=True)
    _, small_cap = http_request(url, "PUT", "/uri", os.urandom(1024))
    small_cap = small_cap.decode().strip()
    ops = {"add child t=uri": [], "add 1 KiB file": [], "list t=json": []}
    for r in range(repeat):
        t, _ = timed(procs, http_request, url, "PUT", cap_path(dircap, "/added-%d?t=uri" % r),
                     small_cap.encode())
        ops["add child t=uri"].append(t)
        t, _ = timed(procs, http_request, url, "PUT", cap_path(dircap, "/uploaded-%d.bin" % r),
                     os.urandom(1024))
        ops["add 1 KiB file"].append(t)
        t, (_, listing) = timed(procs, http_request, url, "GET", cap_path(dircap, "?t=json"))
        ops["list t=json"].append(t)
        kind, details = json.loads(listing)
        got = len(details["children"])
        assert kind == "dirnode" and got == n + 2 * (r + 1), (kind, got, n, r)
    # The first listing is the one that encodes every child (later ones re-use
    # what it made): reported on its own as well as in the best of the runs.
    record(results, "dir %d: first list t=json" % n, ops["list t=json"][:1])
    if restart is not None:
        procs = restart()
        t, (_, listing) = timed(procs, http_request, url, "GET", cap_path(dircap, "?t=json"))
        assert len(json.loads(listing)[1]["children"]) == n + 2 * repeat
        record(results, "dir %d: list t=json by a restarted client" % n, [t])
        print("  %s: dir %d: list t=json by a restarted client %s" % (impl, n, t.show()),
              flush=True)
    for label, runs in ops.items():
        record(results, "dir %d: %s" % (n, label), runs)
        for t in runs:
            print("  %s: dir %d: %s %s" % (impl, n, label, t.show()), flush=True)


def measure_mdmf(impl, url, procs, data_dir, size_mib, repeat, results):
    """An MDMF file of size_mib: create, read 10 bytes, overwrite 1 byte, read all; peak RSS."""
    size = size_mib * MiB
    path = random_file(data_dir, size)
    label = "MDMF %d MiB" % size_mib
    phases = {}

    def show(name, runs):
        phases[name] = runs
        for t in runs:
            print("  %s: %s: %s %s (client peak RSS so far %.0f MiB)" % (
                impl, label, name, t.show(), rss.peak / MiB), flush=True)

    with PeakRSS(procs.pid) as rss:
        start_rss = rss.peak
        with open(path, "rb") as f:
            t, (_, writecap) = timed(procs, http_request, url, "PUT", "/uri?format=MDMF", f)
        writecap = writecap.decode().strip()
        assert writecap.startswith("URI:MDMF:"), writecap
        show("create", [t])
        reads = []
        with open(path, "rb") as f:
            for r in range(repeat):
                offset = size // 2 + 4096 * r
                t, (status, got) = timed(procs, http_request, url, "GET", cap_path(writecap), None,
                                         {"Range": "bytes=%d-%d" % (offset, offset + 9)})
                f.seek(offset)
                assert status == 206 and got == f.read(10), (status, got)
                reads.append(t)
        show("read 10 bytes", reads)
        writes = []
        with open(path, "r+b") as f:
            for r in range(repeat):
                offset = size // 3 + 1000 * r
                f.seek(offset)
                new = bytes([f.read(1)[0] ^ 0xFF])
                t, _ = timed(procs, http_request, url, "PUT", cap_path(writecap, "?offset=%d" % offset), new)
                f.seek(offset)
                f.write(new)
                writes.append(t)
        show("overwrite 1 byte", writes)
        expected = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(4 * MiB), b""):
                expected.update(chunk)
        got = hashlib.sha256()
        t, _ = timed(procs, http_request, url, "GET", cap_path(writecap), sink=got.update)
        assert got.digest() == expected.digest(), "%s: read-back differs from what was written" % label
        show("read all", [t])
    os.unlink(path)
    for name, runs in phases.items():
        record(results, "%s: %s" % (label, name), runs)
    results["%s: client peak RSS (MiB)" % label] = rss.peak / MiB
    print("  %s: %s: client RSS %.0f MiB before, peak %.0f MiB" % (impl, label, start_rss / MiB, rss.peak / MiB),
          flush=True)


def start_grid(impl, workdir, venv=None):
    """Start ``impl``'s storage grid and a client using it; returns
    (grid, client), both to be stopped by the caller."""
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
    except BaseException:
        client.stop()
        grid.stop()
        raise
    return grid, client


def up_and_down(url, data_dir, size):
    """Upload a fresh random file of ``size`` bytes and download it:
    (upload seconds, download seconds)."""
    path = random_file(data_dir, size)
    try:
        t0 = time.perf_counter()
        cap = put_file(url, path)
        up = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = get_file(url, cap)
        down = time.perf_counter() - t0
    finally:
        os.unlink(path)
    assert got == size, (got, size)
    return up, down


def small_up_and_down(url, data_dir, n):
    """Upload ``n`` fresh random 1 KiB files, then download each: the mean
    seconds of one upload and of one download.  (Fresh each time: a file
    the grid already holds is not uploaded again.)"""
    paths = []
    for i in range(n):
        p = os.path.join(data_dir, "small-%d-%d" % (i, time.monotonic_ns()))
        with open(p, "wb") as f:
            f.write(os.urandom(1024))
        paths.append(p)
    try:
        t0 = time.perf_counter()
        caps = [put_file(url, p) for p in paths]
        up = (time.perf_counter() - t0) / len(paths)
    finally:
        for p in paths:
            os.unlink(p)
    t0 = time.perf_counter()
    for cap in caps:
        assert get_file(url, cap) == 1024
    down = (time.perf_counter() - t0) / len(caps)
    return up, down


def measure(impl, workdir, args, venv=None, results=None):
    results = {} if results is None else results
    grid, client = start_grid(impl, workdir, venv)
    try:
        data_dir = os.path.join(workdir, "data")
        os.makedirs(data_dir)
        for size_mib in args.sizes:
            best_up = best_down = None
            for _ in range(args.repeat):
                up, down = up_and_down(client.url, data_dir, size_mib * MiB)
                best_up = up if best_up is None else min(best_up, up)
                best_down = down if best_down is None else min(best_down, down)
            results["upload %d MiB (MB/s)" % size_mib] = size_mib * MiB / best_up / 1e6
            results["download %d MiB (MB/s)" % size_mib] = size_mib * MiB / best_down / 1e6
            print("  %s: %d MiB up %.1f MB/s, down %.1f MB/s" % (
                impl, size_mib, size_mib * MiB / best_up / 1e6, size_mib * MiB / best_down / 1e6),
                flush=True)
        if args.small:
            up, down = small_up_and_down(client.url, data_dir, args.small)
            results["1 KiB upload (ms each)"] = up * 1000
            print("  %s: 1 KiB upload %.1f ms each" % (impl, up * 1000), flush=True)
            results["1 KiB download (ms each)"] = down * 1000
            print("  %s: 1 KiB download %.1f ms each" % (impl, down * 1000), flush=True)
        if args.big:
            path = random_file(data_dir, args.big * MiB)
            with PeakRSS(client.pid()) as rss:
                cap = put_file(client.url, path)
                get_file(client.url, cap)
            os.unlink(path)
            results["client peak RSS, %d MiB up+down (MiB)" % args.big] = rss.peak / MiB
            print("  %s: client peak RSS %.0f MiB" % (impl, rss.peak / MiB), flush=True)
        if args.dir_entries:
            def restart():
                client.stop()
                client.start()
                wait_connected(client.url, SERVERS)
                return GridProcs(client.pid(), server_pids(grid))
            measure_directory(impl, client.url, GridProcs(client.pid(), server_pids(grid)),
                              args.dir_entries, args.op_repeat, results, restart)
        if args.mdmf:
            measure_mdmf(impl, client.url, GridProcs(client.pid(), server_pids(grid)), data_dir,
                         args.mdmf, args.op_repeat, results)
    finally:
        client.stop()
        grid.stop()
    return results


def measure_paired(impls, root, args, venv):
    """Both grids run at once; each throughput and small-file measurement
    is made for one implementation right after the other (alternating which
    goes first), so a pair sees the same machine.  Returns ({impl: best
    figures}, {measure: [ratio of each pair]})."""
    a, b = impls
    sides = {}
    best = {impl: {} for impl in impls}
    ratios = {}
    try:
        for impl in impls:
            sides[impl] = start_grid(impl, os.path.join(root, "%s-paired" % impl), venv)
        data_dir = os.path.join(root, "paired-data")
        os.makedirs(data_dir, exist_ok=True)

        def pair(name, run, speed):
            """run(impl) -> a tuple of seconds, one per label of ``name``;
            speed(seconds) -> that label's figure."""
            for rep in range(args.repeat):
                got = {}
                for impl in (impls if rep % 2 == 0 else impls[::-1]):
                    got[impl] = run(impl)
                for i, label in enumerate(name):
                    figures = {impl: speed(got[impl][i]) for impl in impls}
                    merge_best(best[a], {label: figures[a]})
                    merge_best(best[b], {label: figures[b]})
                    ratio = figures[b] / figures[a] if lower_is_better(label) else \
                        figures[a] / figures[b]
                    ratios.setdefault(label, []).append(ratio)
            for label in name:
                print("  paired %-34s %s %8.1f   %s %8.1f   pairs %s" % (
                    label, a, best[a][label], b, best[b][label],
                    " ".join("%.2fx" % r for r in ratios[label])), flush=True)

        for size_mib in args.sizes:
            pair(("upload %d MiB (MB/s)" % size_mib, "download %d MiB (MB/s)" % size_mib),
                 lambda impl: up_and_down(sides[impl][1].url, data_dir, size_mib * MiB),
                 lambda seconds: size_mib * MiB / seconds / 1e6)
        if args.small:
            pair(("1 KiB upload (ms each)", "1 KiB download (ms each)"),
                 lambda impl: small_up_and_down(sides[impl][1].url, data_dir, args.small),
                 lambda seconds: seconds * 1000)
    finally:
        for grid, client in sides.values():
            client.stop()
            grid.stop()
    return best, ratios


def lower_is_better(name: str) -> bool:
    return "(ms" in name or "(s)" in name or "RSS" in name


def merge_best(best: dict, results: dict) -> None:
    """Fold one round's results into ``best``: the best time or throughput,
    and the highest peak RSS (the figure to stay under)."""
    for name, value in results.items():
        if name not in best:
            best[name] = value
        elif "RSS" in name:
            best[name] = max(best[name], value)
        elif lower_is_better(name):
            best[name] = min(best[name], value)
        else:
            best[name] = max(best[name], value)


def main(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--impl", default="ours,tahoe", help="ours, tahoe, or both (comma-separated)")
    p.add_argument("--sizes", default="1,10,100", help="file sizes in MiB for throughput")
    p.add_argument("--repeat", type=int, default=2, help="runs per size (best is kept)")
    p.add_argument("--small", type=int, default=100, help="number of 1 KiB uploads")
    p.add_argument("--big", type=int, default=1024, help="MiB moved while watching RSS (0: skip)")
    p.add_argument("--dir-entries", type=int, default=10000,
                   help="entries of the directory whose add/list are timed (0: skip)")
    p.add_argument("--mdmf", type=int, default=100, help="MiB of the MDMF file (0: skip)")
    p.add_argument("--op-repeat", type=int, default=3,
                   help="repeats of each directory and MDMF small operation (best is kept)")
    p.add_argument("--workdir", default=None, help="where grids live (default: a temp dir)")
    p.add_argument("--rounds", type=int, default=1,
                   help="measure every implementation this many times, alternating which goes "
                        "first (AB BA AB...), and keep the best of each measure (the worst peak "
                        "RSS): the machine's speed drifts, by up to 2x here")
    p.add_argument("--paired", action="store_true",
                   help="with two implementations: run both grids at once and make each "
                        "throughput and 1 KiB measurement for one right after the other, "
                        "--repeat pairs in alternating order; the ratio is the median of the "
                        "pairs' ratios (the other measures run as usual)")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    impls = [x.strip() for x in args.impl.split(",") if x.strip()]
    if args.paired and len(impls) != 2:
        p.error("--paired needs two implementations")
    root = args.workdir or tempfile.mkdtemp(prefix="tahoe-bench-")
    venv = ensure_ref_venv() if "tahoe" in impls else None
    if "ours" in impls:
        # our nodes start from byte-compiled modules, as from an installed package
        # (an editable install leaves src/ uncompiled; see the Makefile's install)
        compileall.compile_dir(os.path.join(SRC, "allmydata"), quiet=1)
    all_results = {impl: {} for impl in impls}
    paired_ratios = {}
    try:
        if args.paired and (args.sizes or args.small):
            print("== %s and %s, paired" % tuple(impls), flush=True)
            best, paired_ratios = measure_paired(impls, root, args, venv)
            for impl in impls:
                merge_best(all_results[impl], best[impl])
            args.sizes, args.small = [], 0
            if not (args.big or args.dir_entries or args.mdmf):
                args.rounds = 0  # everything asked for was measured in pairs
        for round_no in range(args.rounds):
            for impl in (impls if round_no % 2 == 0 else impls[::-1]):
                print("== %s%s" % (impl, " (round %d)" % (round_no + 1) if args.rounds > 1 else ""),
                      flush=True)
                results = {}
                try:
                    measure(impl, os.path.join(root, "%s-%d" % (impl, round_no)), args, venv, results)
                except Exception:
                    # keep what was measured, and measure the other implementation
                    traceback.print_exc()
                    print("== %s: FAILED (figures above are partial)" % impl, flush=True)
                merge_best(all_results[impl], results)
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)
    names = list(dict.fromkeys(name for r in all_results.values() for name in r))
    print("\n%-44s" % "measure" + "".join("%14s" % i for i in impls) +
          ("%10s" % "ratio" if len(impls) == 2 else ""))
    for name in names:
        fmt = "%14.3f" if "(s)" in name else "%14.1f"
        row = "%-44s" % name + "".join(fmt % all_results[i].get(name, float("nan")) for i in impls)
        if name in paired_ratios:
            row += "%9.2fx (median of %d pairs)" % (statistics.median(paired_ratios[name]),
                                                    len(paired_ratios[name]))
        elif len(impls) == 2:
            a, b = all_results[impls[0]].get(name), all_results[impls[1]].get(name)
            if a and b:
                row += "%9.2fx" % ((b / a) if lower_is_better(name) else (a / b))
        print(row)
    if len(impls) == 2:
        print("(ratio: how many times better %s is than %s)" % (impls[0], impls[1]))
    if args.json:
        all_results["paired ratios"] = paired_ratios
        with open(args.json, "w") as f:
            json.dump(all_results, f, indent=1)

