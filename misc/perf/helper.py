"""Uploads through an upload helper, ours against Tahoe-LAFS 1.20.

For each implementation asked for, this builds the grid of
``misc/benchmark.py grid`` on 127.0.0.1 -- 5 storage nodes, encoding
3-of-10 with happy = 5, over Foolscap -- plus a helper node (``[helper]
enabled = true``, no storage) and a client node whose ``[client]
helper.furl`` is the helper's FURL, and measures through the client's web
API:

* the upload (``PUT /uri``) of --size MiB of fresh random data: the wall
  time and the CPU seconds of the client, the helper and the storage nodes
  (summed).  The run fails unless the helper's statistics
  (``chk_upload_helper.fetched_bytes``, from ``/helper_status?t=json`` or
  ``/statistics?t=json``) grew by the whole file -- the upload really went
  through the helper -- and the file reads back byte for byte;
* the helper's peak RSS during that upload (the kernel's high-water mark,
  ``VmHWM``, reset before the upload), and with --big during the upload of
  --big MiB: the helper's memory should not grow with the file;
* a resumed upload: the upload of a fresh --size MiB file is started, the
  client process is killed (SIGKILL) once the helper has fetched --cut of
  its ciphertext, the client is started again and uploads the same file
  (same convergence secret, so the same storage index).  Reported: the
  share of the file the helper had when the client was killed, and the
  ciphertext it fetched the second time, both as percentages of the file.

With --pyspy DIR, py-spy (found on the PATH or next to this Python) samples
our client, our helper and our first storage node through each of our
uploads of --size MiB (the figures of those runs include py-spy's cost),
writing collapsed stacks to DIR and printing the functions that took the
most samples, on their own and with what they called.

Each figure is the median of --repeat runs (the peak RSS: the highest).
``--paired`` runs both grids at once and makes each upload for one
implementation right after the other, alternating which goes first; the
ratio of a time is the median of the pairs' ratios (how many times less
ours took).  Examples:

    .venv/bin/python misc/benchmark.py helper --paired --repeat 3 --size 100
    .venv/bin/python misc/benchmark.py helper --impl ours --size 100 --big 1024
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import traceback

import psutil

from allmydata.testing.helpernodes import wait_helper_furl
from allmydata.testing.nodeconfig import edit_config
from allmydata.testing.ports import free_port
from allmydata.testing.processes import run_tahoe
from allmydata.testing.reference import OurStorageGrid, ReferenceStorageGrid
from allmydata.testing.waiting import wait_for

from .grid import (HAPPY, K, N, SERVERS, MiB, OurClient, PeakRSS, RefClient, cap_path,
                   cpu_seconds, http_request, put_file, random_file, server_pids, wait_connected)
from .impl_options import add_impl_options, check_impl_options, prepare_impls
from .pyspy import PySpy, show_top
from .table import pair_ratio, print_table

FETCHED = "chk_upload_helper.fetched_bytes"
REQUESTS = "chk_upload_helper.upload_requests"
# the client's upload thread is given this long to notice its node was killed
KILLED_UPLOAD_WAIT = 60


def helper_settings():
    """tahoe.cfg of a helper node: the benchmark's encoding, no storage."""
    return {"client": {"shares.needed": K, "shares.happy": HAPPY, "shares.total": N},
            "storage": {"enabled": "false"}, "helper": {"enabled": "true"}}


class OurHelperNode(OurClient):
    """Our node that listens, stores nothing and runs the upload helper."""

    def create(self):
        self.web_port = free_port()
        port = free_port()
        run_tahoe("create-node", "--nickname", "bench-helper", "--listen", "tcp",
                  "--port", "tcp:%d:interface=127.0.0.1" % port,
                  "--location", "tcp:127.0.0.1:%d" % port,
                  "--webport", "tcp:%d:interface=127.0.0.1" % self.web_port, self.basedir)
        edit_config(self.basedir, helper_settings())


class RefHelperNode(RefClient):
    """A Tahoe-LAFS 1.20 node that listens, stores nothing and runs its helper."""

    def create(self):
        self.web_port = free_port()
        port = free_port()
        self.node.create("create-node", "--nickname", "bench-helper", "--listen", "tcp",
                         "--port", "tcp:%d:interface=127.0.0.1" % port,
                         "--location", "tcp:127.0.0.1:%d" % port,
                         "--webport", "tcp:%d:interface=127.0.0.1" % self.web_port)
        settings = helper_settings()
        settings["client"]["force_foolscap"] = "true"
        edit_config(self.basedir, settings)


def helper_stats(url) -> dict:
    """The helper node's ``chk_upload_helper.*`` figures: ``/helper_status?t=json``,
    or the stats of ``/statistics?t=json`` where the node has no such page."""
    try:
        _, body = http_request(url, "GET", "/helper_status?t=json", timeout=30)
        stats = json.loads(body)
    except RuntimeError:
        _, body = http_request(url, "GET", "/statistics?t=json", timeout=30)
        stats = json.loads(body)["stats"]
    missing = {FETCHED, REQUESTS} - set(stats)
    if missing:
        raise RuntimeError("the helper node at %s reports no %s: %s" % (
            url, " or ".join(sorted(missing)), sorted(stats)[:40]))
    return stats


def fetched(url) -> int:
    return int(helper_stats(url)[FETCHED])


def reaches_helper(client_url, helper_url) -> bool:
    """Whether an upload by the client goes through its helper now: a fresh
    1 KiB file (a CHK file: more than a literal cap holds) is uploaded, and
    the helper's count of upload requests tells whether it was asked.  (A
    client whose helper is not connected yet uploads directly.)"""
    before = int(helper_stats(helper_url)[REQUESTS])
    http_request(client_url, "PUT", "/uri", os.urandom(1024))
    return int(helper_stats(helper_url)[REQUESTS]) > before


def gone(pid) -> bool:
    """Whether the process has exited (a zombie that its parent has not
    reaped yet has)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Side:
    """One implementation's running grid, helper node and client node."""

    def __init__(self, impl, workdir, venv):
        self.impl = impl
        os.makedirs(workdir, exist_ok=True)
        if impl == "ours":
            self.grid = OurStorageGrid(workdir, SERVERS)
            self.helper = OurHelperNode(os.path.join(workdir, "helper"))
            self.client = OurClient(os.path.join(workdir, "client"))
        else:
            self.grid = ReferenceStorageGrid(venv, workdir, SERVERS)
            self.helper = RefHelperNode(venv, os.path.join(workdir, "helper"))
            self.client = RefClient(venv, os.path.join(workdir, "client"))
        self.url = None

    def start(self):
        nodes = self.grid.start()
        self.helper.create()
        self.helper.set_servers(nodes)
        self.helper.start()
        furl = wait_helper_furl(self.helper.basedir)
        self.client.create()
        client_settings = {"helper.furl": furl}
        if self.impl != "ours":
            client_settings["force_foolscap"] = "true"
        edit_config(self.client.basedir, {"client": client_settings})
        self.client.set_servers(nodes)
        wait_connected(self.helper.url, SERVERS)
        self.start_client()

    def start_client(self):
        self.client.start()
        self.url = self.client.url
        wait_connected(self.url, SERVERS)
        wait_for(lambda: reaches_helper(self.url, self.helper.url), 60, interval=0.2,
                 what="%s's client uploading through its helper" % self.impl)

    def kill_client(self):
        """SIGKILL the client node, wait until it is gone, then clean up
        after it as a stop does."""
        pid = self.client.pid()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: gone(pid), 30, what="the killed client to go")
        self.client.stop()

    def procs(self):
        return RoleProcs({"client": [self.client.pid()], "helper": [self.helper.pid()],
                          "servers": server_pids(self.grid)})

    def stop(self):
        try:
            self.client.stop()
        finally:
            try:
                self.helper.stop()
            finally:
                self.grid.stop()


ROLES = ("client", "helper", "servers")


class RoleProcs:
    """The processes of each role, for CPU accounting."""

    def __init__(self, pids_by_role):
        self.procs = {role: [psutil.Process(p) for p in pids_by_role[role] if p] for role in ROLES}

    def cpu(self):
        return tuple(sum(cpu_seconds(p) for p in self.procs[role]) for role in ROLES)


class HighWater:
    """A process's peak RSS over a stretch of time: the kernel's high-water
    mark (``VmHWM``), reset at the start through ``/proc/PID/clear_refs``;
    where that cannot be reset, RSS sampled every 20 ms."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self._sampler = None

    def __enter__(self):
        try:
            with open("/proc/%d/clear_refs" % self.pid, "w") as f:
                f.write("5")
        except OSError:
            self._sampler = PeakRSS(self.pid).__enter__()
        return self

    def __exit__(self, *exc):
        if self._sampler is not None:
            self._sampler.__exit__(*exc)
            self.peak = self._sampler.peak
            return
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    self.peak = int(line.split()[1]) * 1024


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 * MiB), b""):
            h.update(chunk)
    return h.digest()


def check_read_back(side, cap, path):
    got = hashlib.sha256()
    http_request(side.url, "GET", cap_path(cap), sink=got.update)
    if got.digest() != sha256_file(path):
        raise RuntimeError("%s: the file uploaded through the helper reads back different" %
                           side.impl)


def upload(side, data_dir, size_mib, spy=None):
    """Upload a fresh file of ``size_mib`` MiB through the helper, checked
    (with ``spy``, a function returning a started :class:`PySpy`, under it).
    Returns ((wall, client CPU, helper CPU, servers CPU), helper peak RSS)."""
    size = size_mib * MiB
    path = random_file(data_dir, size)
    try:
        procs = side.procs()
        before = fetched(side.helper.url)
        recording = spy() if spy is not None else None
        try:
            cpu0 = procs.cpu()
            with HighWater(side.helper.pid()) as hw:
                t0 = time.perf_counter()
                cap = put_file(side.url, path)
                wall = time.perf_counter() - t0
            cpu1 = procs.cpu()
        finally:
            if recording is not None:
                recording.stop()
        got = fetched(side.helper.url) - before
        if got != size:
            raise RuntimeError("%s: the helper fetched %d bytes of ciphertext for a %d-byte file "
                               "(the upload did not go through it?)" % (side.impl, got, size))
        check_read_back(side, cap, path)
    finally:
        os.unlink(path)
    return (wall,) + tuple(b - a for a, b in zip(cpu0, cpu1)), hw.peak


def resumed_upload(side, data_dir, size_mib, cut):
    """Start uploading a fresh file, kill the client once the helper has
    ``cut`` of its ciphertext, start the client again and upload the file
    again.  Returns (percent fetched when killed, percent fetched the second
    time)."""
    size = size_mib * MiB
    path = random_file(data_dir, size)
    try:
        before = fetched(side.helper.url)
        outcome = {}

        def first_upload():
            try:
                outcome["cap"] = put_file(side.url, path)
            except Exception as e:  # the client is killed under it
                outcome["error"] = e

        thread = threading.Thread(target=first_upload, daemon=True)
        thread.start()
        while True:
            so_far = fetched(side.helper.url) - before
            if so_far >= cut * size:
                break
            if not thread.is_alive():
                raise RuntimeError("%s: the upload ended (%r) before the helper had fetched "
                                   "%d%% of it (%d bytes)" % (side.impl, outcome, cut * 100,
                                                              so_far))
            time.sleep(0.005)
        side.kill_client()
        thread.join(KILLED_UPLOAD_WAIT)
        if "cap" in outcome:
            raise RuntimeError("%s: the upload finished although its client was killed" %
                               side.impl)
        at_kill = fetched(side.helper.url) - before
        if at_kill >= size:
            raise RuntimeError("%s: the helper had the whole file before its client was killed "
                               "(a larger --size gives more time)" % side.impl)
        side.start_client()
        middle = fetched(side.helper.url)
        cap = put_file(side.url, path)
        again = fetched(side.helper.url) - middle
        check_read_back(side, cap, path)
    finally:
        os.unlink(path)
    return 100.0 * at_kill / size, 100.0 * again / size


TIME_ROLES = ("", ", client CPU", ", helper CPU", ", servers CPU")


class Results:
    """Every run's figures: ``runs[impl][name]`` is a list of figures, and
    ``ratios[name]`` the ratio of each pair (Tahoe-LAFS's over ours)."""

    def __init__(self, impls):
        self.impls = impls
        self.names = []
        self.runs = {impl: {} for impl in impls}
        self.ratios = {}

    def add(self, impl, name, value):
        if name not in self.names:
            self.names.append(name)
        self.runs[impl].setdefault(name, []).append(value)

    def add_pair(self, name, got):
        a, b = self.impls
        if got[a] > 0:
            self.ratios.setdefault(name, []).append(got[b] / got[a])

    def table(self):
        table = {}
        for name in self.names:
            row = {}
            for impl in self.impls:
                values = self.runs[impl].get(name)
                if values:
                    row[impl] = max(values) if "RSS" in name else statistics.median(values)
            if name in self.ratios:
                pair_ratio(row, self.ratios[name])
            elif len(self.impls) == 2 and len(row) == 2 and row[self.impls[0]] > 0 and \
                    "at the kill" not in name:
                row["ratio"] = row[self.impls[1]] / row[self.impls[0]]
            table[name] = row
        return table


PROFILED_ROLES = ("client", "helper", "server0")


def spy_on(side, pyspy, out_dir, rep):
    """A function starting py-spy on the side's client, helper and first
    storage node, into ``out_dir`` (one file per role and run)."""
    def start():
        pids = (side.client.pid(), side.helper.pid(), server_pids(side.grid)[0])
        return PySpy(pyspy, [(pid, os.path.join(out_dir, "upload-%d-%s.txt" % (rep, role)))
                             for pid, role in zip(pids, PROFILED_ROLES)])
    return start


def show_profiles(out_dir, size_mib, repeat):
    for role in PROFILED_ROLES:
        paths = [os.path.join(out_dir, "upload-%d-%s.txt" % (r, role)) for r in range(repeat)]
        show_top("ours, upload %d MiB through the helper, %s, over %d runs" % (
            size_mib, role, repeat), paths, os.path.join(out_dir, "upload-%s.top.txt" % role))


def measure_upload(sides, order, data_dir, size_mib, results, paired, profile=None, rep=0):
    """``profile``: (py-spy, directory) to sample our side's uploads."""
    label = "upload %d MiB through the helper" % size_mib
    rss_label = "helper peak RSS, upload %d MiB (MiB)" % size_mib
    got = {}
    for impl in order:
        spy = spy_on(sides[impl], profile[0], profile[1], rep) if profile and impl == "ours" \
            else None
        times, peak = upload(sides[impl], data_dir, size_mib, spy)
        got[impl] = times
        for role, value in zip(TIME_ROLES, times):
            results.add(impl, label + role + " (s)", value)
        results.add(impl, rss_label, peak / MiB)
        print("  %s: %s: %.2f s (client CPU %.2f, helper CPU %.2f, servers CPU %.2f), "
              "helper peak RSS %.0f MiB" % ((impl, label) + times + (peak / MiB,)), flush=True)
    if paired:
        for i, role in enumerate(TIME_ROLES):
            results.add_pair(label + role + " (s)", {impl: got[impl][i] for impl in got})


def measure_resume(sides, order, data_dir, size_mib, cut, results):
    for impl in order:
        at_kill, again = resumed_upload(sides[impl], data_dir, size_mib, cut)
        results.add(impl, "resumed upload %d MiB: helper had, at the kill (%% of file)" % size_mib,
                    at_kill)
        results.add(impl, "resumed upload %d MiB: fetched again (%% of file)" % size_mib, again)
        print("  %s: resumed upload %d MiB: client killed when the helper had %.1f%%, "
              "fetched %.1f%% again" % (impl, size_mib, at_kill, again), flush=True)


def run(impls, root, args, venv, results):
    data_dir = os.path.join(root, "data")
    os.makedirs(data_dir, exist_ok=True)
    groups = [impls] if args.paired else [[impl] for impl in impls]
    for group in groups:
        sides = {}
        try:
            for impl in group:
                sides[impl] = Side(impl, os.path.join(root, impl), venv)
                sides[impl].start()
            for rep in range(args.repeat):
                order = group if rep % 2 == 0 else group[::-1]
                if args.size:
                    profile = (args.pyspy_exe, args.pyspy) if args.pyspy else None
                    measure_upload(sides, order, data_dir, args.size, results, len(group) == 2,
                                   profile, rep)
                if args.size and rep < args.resumes:
                    measure_resume(sides, order, data_dir, args.size, args.cut, results)
            if args.big:
                for impl in group:
                    times, peak = upload(sides[impl], data_dir, args.big)
                    results.add(impl, "upload %d MiB through the helper (s)" % args.big, times[0])
                    results.add(impl, "helper peak RSS, upload %d MiB (MiB)" % args.big, peak / MiB)
                    print("  %s: upload %d MiB through the helper: %.1f s, helper peak RSS "
                          "%.0f MiB" % (impl, args.big, times[0], peak / MiB), flush=True)
        finally:
            for side in sides.values():
                side.stop()


def main(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=100,
                   help="MiB of each file uploaded and of the resumed upload (0: neither)")
    p.add_argument("--big", type=int, default=0,
                   help="MiB of one more upload, for the helper's peak RSS (0: none)")
    p.add_argument("--repeat", type=int, default=3, help="uploads of --size MiB per implementation")
    p.add_argument("--resumes", type=int, default=1,
                   help="resumed uploads per implementation (at most --repeat)")
    p.add_argument("--cut", type=float, default=0.5,
                   help="share of the ciphertext the helper has when the client is killed")
    add_impl_options(
        p,
        paired_help="with two implementations: run both grids at once and make each upload for "
                    "one right after the other, in alternating order; a time's ratio is the "
                    "median of the pairs' ratios",
        pyspy_help="sample our client, helper and first storage node with py-spy in each of our "
                   "uploads of --size MiB; collapsed stacks and the top functions go to DIR")
    args = p.parse_args(argv)
    impls = check_impl_options(p, args)
    if args.pyspy:
        os.makedirs(args.pyspy, exist_ok=True)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if not 0 < args.cut < 1:
        p.error("--cut must be between 0 and 1")
    if args.size < 0 or args.big < 0:
        p.error("--size and --big are MiB, 0 or more")
    root = args.workdir or tempfile.mkdtemp(prefix="tahoe-bench-helper-")
    venv = prepare_impls(impls)
    results = Results(impls)
    status = 0
    try:
        run(impls, root, args, venv, results)
    except Exception:
        traceback.print_exc()
        print("FAILED (the figures below are partial)", file=sys.stderr, flush=True)
        status = 1
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)
    if args.pyspy and "ours" in impls and args.size:
        show_profiles(args.pyspy, args.size, args.repeat)
    table = results.table()
    print_table(impls, table, better="less (or lower) %s's figure is than %s's")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": results.runs, "table": table}, f, indent=1)
    return status
