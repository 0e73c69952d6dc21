"""Deep-check, verify and repair, ours against Tahoe-LAFS 1.20.

For each implementation asked for, this builds the grid of
``misc/benchmark.py grid`` on 127.0.0.1 -- 5 storage nodes and a client
using them over Foolscap, encoding 3-of-10 with happy = 5 -- and measures
through the client's web API, as ``tahoe deep-check`` and ``tahoe check
--repair`` drive it:

* a tree of --files small files (--file-size bytes of fresh random data
  each, above the 55-byte limit of literal caps, so every file is a CHK
  file with shares on the servers) in --dirs mutable directories (the root
  and a tree below it, seven subdirectories to a directory, the files spread
  evenly over all of them), built once per implementation with ``PUT /uri``
  and ``POST /uri?t=mkdir-with-children``;
* ``POST /uri/$ROOT?t=stream-deep-check`` read to its last line, plain and
  with ``verify=true``: every line is checked (one per object, all healthy,
  the closing stats line);
* a CHK file of --size MiB from which, before each run, every share file of
  --lose share numbers is deleted from the storage nodes' directories, then
  ``POST /uri/$CAP?t=check&repair=true&output=JSON``: the run fails unless
  the pre-repair results counted the remaining shares, the repair succeeded
  and a ``t=check`` afterwards finds the file healthy with every share.

With --pyspy DIR, py-spy (found on the PATH or next to this Python) samples
our client and our first storage node through each of our runs, writing
collapsed stacks to DIR and printing the functions that took the most
samples, on their own and with what they called.

Each operation's wall time is reported with the CPU seconds the client
process and the storage node processes (summed) used in it; on a machine
busy with other work the CPU seconds are the steadier figures.  Each figure
is the median of --repeat runs.  With two implementations the ratio is how
many times less the first one took.  ``--paired`` runs both grids at once
and makes each measurement for one implementation right after the other,
alternating which goes first; its ratios are the medians of the pairs'
ratios.  Examples:

    .venv/bin/python misc/benchmark.py maintenance --paired --repeat 3
    .venv/bin/python misc/benchmark.py maintenance --impl ours --files 20 --dirs 3 --size 1
"""

import argparse
import json
import os
import random
import re
import shutil
import statistics
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from allmydata.uri import from_string
from allmydata.util import base32

from .grid import (MiB, N, GridProcs, cap_path, http_request, put_file, random_file, server_pids,
                   start_grid, timed)
from .impl_options import add_impl_options, check_impl_options, prepare_impls
from .pyspy import PySpy, show_top
from .table import pair_ratio, print_table

# Files of up to this many bytes are literal caps (the data is in the cap),
# with nothing on the servers to check.
LIT_MAX = 55
# A directory of the tree has at most this many subdirectories.
FANOUT = 7
UPLOADS_IN_FLIGHT = 4


class Side:
    """One implementation's running grid, client and what was stored on it."""

    def __init__(self, impl, grid, client):
        self.impl = impl
        self.grid = grid
        self.client = client
        self.url = client.url
        self.root = None
        self.big_cap = None
        self.big_si = None
        self.storage_dirs = [os.path.join(n.basedir, "storage", "shares") for n in grid.nodes]

    def procs(self):
        return GridProcs(self.client.pid(), server_pids(self.grid))

    def stop(self):
        try:
            self.client.stop()
        finally:
            self.grid.stop()


def tree_layout(dirs):
    """The parent index of each directory 1..dirs-1 (directory 0 is the root)."""
    return {i: (i - 1) // FANOUT for i in range(1, dirs)}


def build_tree(side, data_dir, files, dirs, file_size):
    """Upload ``files`` fresh files and link them into ``dirs`` new mutable
    directories; the root's write cap.  Returns the seconds it took."""
    t0 = time.perf_counter()
    paths = []
    for i in range(files):
        p = os.path.join(data_dir, "small-%s-%d" % (side.impl, i))
        with open(p, "wb") as f:
            f.write(os.urandom(file_size))
        paths.append(p)
    try:
        with ThreadPoolExecutor(UPLOADS_IN_FLIGHT) as pool:
            caps = list(pool.map(lambda p: put_file(side.url, p), paths))
    finally:
        for p in paths:
            os.unlink(p)
    for cap in caps:
        if not cap.startswith("URI:CHK:"):
            raise RuntimeError("%s: a %d-byte upload gave %s, not a CHK file" % (
                side.impl, file_size, cap.split(":")[:2]))
    children = {i: {} for i in range(dirs)}
    for j, cap in enumerate(caps):
        children[j % dirs]["file-%05d.bin" % j] = ["filenode", {"ro_uri": cap}]
    parents = tree_layout(dirs)
    # children before parents: every subdirectory has a higher index than its parent
    for i in range(dirs - 1, -1, -1):
        body = json.dumps(children[i]).encode()
        _, cap = http_request(side.url, "POST", "/uri?t=mkdir-with-children", body,
                              {"Content-Type": "application/json"})
        cap = cap.decode().strip()
        if i:
            children[parents[i]]["dir-%03d" % i] = ["dirnode", {"rw_uri": cap}]
        else:
            side.root = cap
    return time.perf_counter() - t0


def stream_deep_check(side, files, dirs, verify):
    """Run a deep-check of the tree to its end and check what it reported."""
    query = "?t=stream-deep-check" + ("&verify=true" if verify else "")
    _, body = http_request(side.url, "POST", cap_path(side.root, "/" + query))
    lines = body.decode("utf-8").splitlines()
    seen = {"file": 0, "directory": 0}
    stats = None
    for line in lines:
        try:
            unit = json.loads(line)
        except ValueError:
            raise RuntimeError("%s: deep-check wrote a line that is not JSON: %r\n%s" % (
                side.impl, line[:300], body.decode("utf-8", "replace")[-3000:]))
        if unit.get("type") == "stats":
            stats = unit["stats"]
            continue
        kind = unit.get("type")
        if kind not in seen:
            raise RuntimeError("%s: deep-check reported a %r at %r" % (side.impl, kind,
                                                                      unit.get("path")))
        seen[kind] += 1
        results = unit["check-results"]["results"]
        if not results.get("healthy"):
            raise RuntimeError("%s: deep-check found %r unhealthy: %s" % (
                side.impl, unit.get("path"), unit["check-results"].get("summary")))
    if stats is None:
        raise RuntimeError("%s: deep-check ended without its stats line (%d lines)" % (
            side.impl, len(lines)))
    if seen != {"file": files, "directory": dirs}:
        raise RuntimeError("%s: deep-check visited %r, expected %d files and %d directories" % (
            side.impl, seen, files, dirs))
    if stats.get("count-immutable-files") != files or stats.get("count-directories") != dirs:
        raise RuntimeError("%s: deep-check stats count %s immutable files and %s directories" % (
            side.impl, stats.get("count-immutable-files"), stats.get("count-directories")))


def upload_big(side, data_dir, size_mib):
    path = random_file(data_dir, size_mib * MiB)
    try:
        side.big_cap = put_file(side.url, path)
    finally:
        os.unlink(path)
    si = from_string(side.big_cap.encode()).get_storage_index()
    side.big_si = base32.b2a(si).decode()


def share_files(side, shnum):
    si = side.big_si
    found = []
    for d in side.storage_dirs:
        p = os.path.join(d, si[:2], si, str(shnum))
        if os.path.exists(p):
            found.append(p)
    return found


def lose_shares(side, shnums):
    """Delete every share file of these share numbers of the big file."""
    for shnum in range(N):
        if not share_files(side, shnum):
            raise RuntimeError("%s: share %d of the file is on no server before the run" % (
                side.impl, shnum))
    for shnum in shnums:
        for p in share_files(side, shnum):
            os.unlink(p)


def check_json(side, cap, extra=""):
    _, body = http_request(side.url, "POST", cap_path(cap, "?t=check&output=JSON" + extra))
    return json.loads(body)


def repair(side, shnums):
    """``t=check&repair=true`` on the big file; fails unless it repaired."""
    got = check_json(side, side.big_cap, "&repair=true")
    pre = got["pre-repair-results"]["results"]
    post = got["post-repair-results"]["results"]
    problems = []
    if pre.get("count-shares-good") != N - len(shnums):
        problems.append("pre-repair count-shares-good %r" % pre.get("count-shares-good"))
    if not (got.get("repair-attempted") and got.get("repair-successful")):
        problems.append("repair attempted %r, successful %r" % (got.get("repair-attempted"),
                                                                 got.get("repair-successful")))
    if not post.get("healthy"):
        problems.append("post-repair results unhealthy")
    if problems:
        raise RuntimeError("%s: repair after losing shares %s: %s\n%s" % (
            side.impl, shnums, "; ".join(problems), json.dumps(got)[:3000]))


def check_healthy(side, shnums):
    after = check_json(side, side.big_cap)["results"]
    if not after.get("healthy") or after.get("count-shares-good") != N:
        raise RuntimeError("%s: a check after the repair: healthy %r, %r good shares" % (
            side.impl, after.get("healthy"), after.get("count-shares-good")))
    missing = [s for s in shnums if not share_files(side, s)]
    if missing:
        raise RuntimeError("%s: after the repair no server has share files %s" % (side.impl, missing))


class Measures:
    """The operations, each ``name -> run(side, rep)`` returning Times."""

    def __init__(self, args):
        self.args = args
        self.names = []
        self.ops = {}
        tree = "%d files, %d dirs" % (args.files, args.dirs)
        if args.files or args.dirs:
            self.add("deep-check, %s" % tree, lambda side, rep: self._deep(side, False))
            self.add("deep-check verify, %s" % tree, lambda side, rep: self._deep(side, True))
        if args.size:
            self.add("repair %d MiB, %d of %d shares lost" % (args.size, args.lose, N), self._repair)

    def add(self, name, run):
        self.names.append(name)
        self.ops[name] = run

    def lost(self, rep):
        """The share numbers lost before run ``rep`` (the same for both
        implementations in a pair; a different set each run)."""
        return sorted(random.Random(rep).sample(range(N), self.args.lose))

    def _deep(self, side, verify):
        t, _ = timed(side.procs(), stream_deep_check, side, self.args.files, self.args.dirs, verify)
        return t

    def _repair(self, side, rep):
        shnums = self.lost(rep)
        lose_shares(side, shnums)
        t, _ = timed(side.procs(), repair, side, shnums)
        check_healthy(side, shnums)
        return t


def profiled(op, pyspy, out_dir, name):
    """``op`` that, on our side, runs under py-spy (stacks in ``out_dir``, one file per run)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")

    def run(side, rep_no):
        if side.impl != "ours":
            return op(side, rep_no)
        pids = server_pids(side.grid)
        targets = [(side.client.pid(), os.path.join(out_dir, "%s-%d-client.txt" % (slug, rep_no))),
                   (pids[0], os.path.join(out_dir, "%s-%d-server0.txt" % (slug, rep_no)))]
        spy = PySpy(pyspy, targets)
        try:
            return op(side, rep_no)
        finally:
            spy.stop()
    return run


def show_profiles(out_dir, names, repeat):
    for name in names:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        for role in ("client", "server0"):
            paths = [os.path.join(out_dir, "%s-%d-%s.txt" % (slug, r, role)) for r in range(repeat)]
            show_top("ours, %s, %s, over %d runs" % (name, role, repeat), paths,
                     os.path.join(out_dir, "%s-%s.top.txt" % (slug, role)))


def setup(side, args, data_dir):
    if args.files or args.dirs:
        seconds = build_tree(side, data_dir, args.files, args.dirs, args.file_size)
        print("  %s: built %d files in %d directories in %.1f s" % (
            side.impl, args.files, args.dirs, seconds), flush=True)
    if args.size:
        upload_big(side, data_dir, args.size)
        print("  %s: uploaded %d MiB" % (side.impl, args.size), flush=True)


def show(impl, name, t):
    print("  %s: %s: %s" % (impl, name, t.show()), flush=True)


ROLES = ("", ", client CPU", ", servers CPU")


def run(impls, root, args, venv):
    """Measure every operation --repeat times for each implementation.
    Returns ({impl: {measure: [Times]}}, {measure+role: [pair ratios]})."""
    measures = Measures(args)
    if args.pyspy:
        os.makedirs(args.pyspy, exist_ok=True)
        for name in measures.names:
            measures.ops[name] = profiled(measures.ops[name], args.pyspy_exe, args.pyspy, name)
    runs = {impl: {name: [] for name in measures.names} for impl in impls}
    ratios = {}
    data_dir = os.path.join(root, "data")
    os.makedirs(data_dir, exist_ok=True)
    groups = [impls] if args.paired else [[impl] for impl in impls]
    for group in groups:
        sides = {}
        try:
            for impl in group:
                sides[impl] = Side(impl, *start_grid(impl, os.path.join(root, impl), venv))
                setup(sides[impl], args, data_dir)
            for rep in range(args.repeat):
                order = group if rep % 2 == 0 else group[::-1]
                for name in measures.names:
                    got = {}
                    for impl in order:
                        got[impl] = measures.ops[name](sides[impl], rep)
                        runs[impl][name].append(got[impl])
                        show(impl, name, got[impl])
                    if len(group) == 2:
                        a, b = group
                        for i, role in enumerate(ROLES):
                            if got[a][i] > 0:
                                ratios.setdefault(name + role, []).append(got[b][i] / got[a][i])
        finally:
            for side in sides.values():
                side.stop()
    return measures.names, runs, ratios


def report(impls, names, runs, ratios):
    table = {}
    for name in names:
        for i, role in enumerate(ROLES):
            row = name + role + " (s)"
            table[row] = {impl: statistics.median(t[i] for t in runs[impl][name])
                          for impl in impls if runs[impl][name]}
            if name + role in ratios:
                pair_ratio(table[row], ratios[name + role])
            elif len(impls) == 2 and len(table[row]) == 2 and table[row][impls[0]] > 0:
                table[row]["ratio"] = table[row][impls[1]] / table[row][impls[0]]
    print_table(impls, table)
    return table


def main(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=1000, help="files in the deep-checked tree")
    p.add_argument("--dirs", type=int, default=50,
                   help="directories in the deep-checked tree, the root included (0 with "
                        "--files 0: no deep-check)")
    p.add_argument("--file-size", type=int, default=1024,
                   help="bytes of each file of the tree (more than %d: CHK, not literal)" % LIT_MAX)
    p.add_argument("--size", type=int, default=100, help="MiB of the repaired file (0: no repair)")
    p.add_argument("--lose", type=int, default=3,
                   help="share numbers whose share files are deleted before each repair")
    p.add_argument("--repeat", type=int, default=3, help="runs of each operation")
    add_impl_options(
        p,
        paired_help="with two implementations: run both grids at once and make each measurement "
                    "for one right after the other, in alternating order; the ratio is the "
                    "median of the pairs' ratios",
        pyspy_help="sample our client and first storage node with py-spy in each of our runs; "
                   "collapsed stacks and the top functions go to DIR")
    args = p.parse_args(argv)
    impls = check_impl_options(p, args)
    if args.files and args.file_size <= LIT_MAX:
        p.error("--file-size must be more than %d bytes: smaller files are literal caps, with no "
                "shares to check" % LIT_MAX)
    if (args.files or args.dirs) and args.dirs < 1:
        p.error("--dirs must be at least 1 (the root) when there are files")
    if not 1 <= args.lose <= N - 3:
        p.error("--lose must leave at least 3 of the %d shares (1..%d)" % (N, N - 3))
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    root = args.workdir or tempfile.mkdtemp(prefix="tahoe-bench-maint-")
    venv = prepare_impls(impls)
    try:
        names, runs, ratios = run(impls, root, args, venv)
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)
    if args.pyspy and "ours" in impls:
        show_profiles(args.pyspy, names, args.repeat)
    table = report(impls, names, runs, ratios)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": {impl: {name: [list(t) for t in ts] for name, ts in r.items()}
                                for impl, r in runs.items()},
                       "table": table}, f, indent=1)
    return 0
