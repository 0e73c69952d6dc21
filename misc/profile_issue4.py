#!/usr/bin/env python3
"""Where our client's time goes in the issue-4 operations of misc/benchmark.py.

Builds the benchmark's grid of our nodes (5 storage node processes and a
client, 3-of-10, happy 5), makes a directory of --entries children with
``t=mkdir-with-children`` (the same children as the benchmark), and then runs
each operation below --runs times while py-spy samples the client:

* ``add``: ``PUT /uri/$DIR/name?t=uri`` (link one more child);
* ``list``: ``GET /uri/$DIR?t=json``;
* with --mdmf MiB, ``mdmf-create``, ``mdmf-read10``, ``mdmf-write1`` and
  ``mdmf-readall`` on an MDMF file of that size.

For each operation it prints the wall time, the CPU seconds of the client
and of the storage servers (so waiting shows as wall minus CPU), the
client's peak RSS, and from the py-spy samples of the client (idle samples
and waiting left out) our functions with the most samples on the stack
and any functions with the most at the top of the stack.  The collapsed stacks stay in --out
for flame graphs (``flamegraph.pl`` or speedscope).

    .venv/bin/python misc/profile_issue4.py --entries 10000 --runs 3
    .venv/bin/python misc/profile_issue4.py --entries 0 --mdmf 100 --runs 1
"""

import argparse
import collections
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

import benchmark  # noqa: E402
from allmydata.test import nodeprocs  # noqa: E402
from allmydata.testing.reference import OurStorageGrid  # noqa: E402
from profile_grid import cpu, pyspy  # noqa: E402

MiB = 1024 * 1024
_FRAME = re.compile(r"^(.*) \((.*?):\d+\)$")


def frame_name(frame):
    """``function (file.py)`` of a py-spy frame ``function (path/file.py:123)``."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group(2)
    short = path.split("site-packages/")[-1].split("/src/")[-1]
    return "%s (%s)" % (m.group(1), short)


#: top-of-stack functions that mean "waiting", left out of the summaries
IDLE = ("Condition.wait (threading.py)", "EPollReactor.doPoll (twisted/internet/epollreactor.py)")


def summarize(path, top):
    """Print, from a py-spy raw file, the busy samples' top functions: our
    code (``allmydata/``) by samples on the stack, and any code by samples at
    the top of the stack."""
    inclusive = collections.Counter()
    self_ = collections.Counter()
    total = 0
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        print("    (no py-spy output)")
        return
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [frame_name(x) for x in stack.split(";")
                  if not x.startswith(("process ", "thread "))]
        if not frames or frames[-1] in IDLE:
            continue
        n = int(count)
        total += n
        for name in set(frames):
            if "(allmydata/" in name:
                inclusive[name] += n
        self_[frames[-1]] += n
    if not total:
        print("    (no busy samples)")
        return
    print("    %d busy samples (%.2f s at 250 Hz); our functions, on the stack:" % (total, total / 250.0))
    for name, n in inclusive.most_common(top):
        print("      %5.1f%%  %s" % (100.0 * n / total, name))
    print("    any function, at the top of the stack:")
    for name, n in self_.most_common(top):
        print("      %5.1f%%  %s" % (100.0 * n / total, name))


def phase(name, pids, fn, args):
    spy_path = os.path.join(args.out, "%s.txt" % name)
    spy = pyspy(pids["client"], spy_path) if args.pyspy else None
    if spy is not None:
        time.sleep(1.0)
    before = cpu(pids)
    t0 = time.perf_counter()
    with benchmark.PeakRSS(pids["client"]) as rss:
        result = fn()
    wall = time.perf_counter() - t0
    after = cpu(pids)
    if spy is not None:
        spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()
    used = {k: after[k] - before[k] for k in pids}
    servers = sum(v for k, v in used.items() if k.startswith("server"))
    print("%-13s %7.3f s wall   client %6.3f CPU-s   servers %6.3f CPU-s   client peak RSS %d MiB"
          % (name, wall, used["client"], servers, rss.peak / MiB), flush=True)
    if spy is not None:
        summarize(spy_path, args.top)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entries", type=int, default=10000, help="children of the directory (0: skip)")
    p.add_argument("--mdmf", type=int, default=0, help="MiB of an MDMF file to profile (0: skip)")
    p.add_argument("--runs", type=int, default=2, help="times each operation is run")
    p.add_argument("--top", type=int, default=25, help="functions shown per list")
    p.add_argument("--no-pyspy", dest="pyspy", action="store_false", help="only the times")
    p.add_argument("--out", default="/tmp/tahoe-prof-issue4")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    root = tempfile.mkdtemp(prefix="tahoe-prof4-")
    grid = OurStorageGrid(root, benchmark.SERVERS)
    client = benchmark.OurClient(os.path.join(root, "client"))
    url = None
    try:
        nodes = grid.start()
        client.create()
        client.set_servers(nodes)
        client.start()
        url = client.url
        benchmark.wait_connected(url, benchmark.SERVERS)
        pids = {"client": client.pid()}
        for i, basedir in enumerate(grid.procs.basedirs):
            pids["server%d" % i] = nodeprocs.read_pid(basedir)
        req = benchmark.http_request
        if args.entries:
            import json
            body = json.dumps(benchmark.fake_children(args.entries)).encode()
            dircap = phase("mkdir", pids, lambda: req(url, "POST", "/uri?t=mkdir-with-children", body,
                                                      {"Content-Type": "application/json"})[1], args)
            dircap = dircap.decode().strip()
            small = req(url, "PUT", "/uri", os.urandom(1024))[1].decode().strip()
            for r in range(args.runs):
                phase("add-%d" % r, pids, lambda r=r: req(
                    url, "PUT", benchmark.cap_path(dircap, "/added-%d?t=uri" % r), small.encode()), args)
                phase("list-%d" % r, pids, lambda: req(url, "GET", benchmark.cap_path(dircap, "?t=json")),
                      args)
        if args.mdmf:
            data_dir = os.path.join(root, "data")
            os.makedirs(data_dir)
            path = benchmark.random_file(data_dir, args.mdmf * MiB)
            with open(path, "rb") as f:
                cap = phase("mdmf-create", pids, lambda: req(url, "PUT", "/uri?format=MDMF", f)[1], args)
            cap = cap.decode().strip()
            for r in range(args.runs):
                off = args.mdmf * MiB // 2 + 4096 * r
                phase("mdmf-read10-%d" % r, pids, lambda off=off: req(
                    url, "GET", benchmark.cap_path(cap), None, {"Range": "bytes=%d-%d" % (off, off + 9)}),
                    args)
                phase("mdmf-write1-%d" % r, pids, lambda off=off: req(
                    url, "PUT", benchmark.cap_path(cap, "?offset=%d" % (off // 2)), b"x"), args)
            phase("mdmf-readall", pids, lambda: req(url, "GET", benchmark.cap_path(cap),
                                                    sink=hashlib.sha256().update), args)
    finally:
        client.stop()
        grid.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
