"""Where the CPU goes during an upload and a download on a local process grid.

Builds the grid of ``misc/benchmark.py grid`` (5 storage node processes and a client,
3-of-10, happy 5), uploads and downloads one file of --size MiB through the
client's web API, and prints for each phase the wall time, the CPU seconds
(user+system) each process used, the minor page faults of the client and the servers, the client's peak
RSS, and the timings of the upload that the client logged (time spent
encoding, waiting for the encoder, sending...).  --small N adds N uploads of
1 KiB.  Profilers, output in --out:

* --pyspy: py-spy (pip install py-spy into the virtualenv) of the client and
  the first storage node: flame graphs, --raw collapsed stacks, or
  --speedscope timelines (idle samples included);
* --perf [--callgraph] [--perf-event page-faults]: ``perf record`` of the
  same two processes (C-level: zfec, OpenSSL, the kernel, libc copies);
* --cprofile-client FILE: the client runs under cProfile with the reactor
  thread's CPU time as the clock (``misc/profiling.py node``).

    nice -n -15 .venv/bin/python misc/profiling.py grid --size 100 --runs 3
    .venv/bin/python misc/profiling.py grid --size 100 --pyspy --raw --out /tmp/prof

The machine's other load shows in the wall times: compare CPU seconds, and
run several times.  Only our implementation; for Tahoe-LAFS's numbers use
``misc/benchmark.py grid``.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import psutil

from allmydata.testing.processes import read_pid
from allmydata.testing.reference import OurStorageGrid
from allmydata.testing.waiting import wait_for

from . import PROFILING
from . import grid as gridbench

MiB = 1024 * 1024


def cpu(pids):
    out = {}
    for name, pid in pids.items():
        t = psutil.Process(pid).cpu_times()
        out[name] = t.user + t.system
    return out


def minor_faults(pid):
    """Minor page faults of a process so far (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def pyspy(pid, path, native=False):
    exe = os.path.join(os.path.dirname(sys.executable), "py-spy")
    cmd = [exe, "record", "-p", str(pid), "-o", path, "--rate", "250", "--threads"]
    if path.endswith(".txt"):
        cmd += ["--format", "raw"]
    elif path.endswith(".json"):
        cmd += ["--format", "speedscope", "--idle"]
    if native:
        cmd.append("--native")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def perf(pid, path, callgraph=False, event=None):
    extra = ["--call-graph", "dwarf,16384"] if callgraph else []
    if event:
        extra += ["-e", event]
    return subprocess.Popen(["perf", "record", "-F", "499" if callgraph else "999"] + extra
                            + ["-p", str(pid), "-o", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def phase(name, pids, fn, args):
    spies = []
    if args.perf:
        for who in ("client", "server0"):
            spies.append(perf(pids[who], os.path.join(args.out, "%s-%s.perf" % (name, who)),
                             args.callgraph, args.perf_event))
        time.sleep(1.0)
    if args.pyspy:
        for who in ("client", "server0"):
            ext = "txt" if args.raw else "json" if args.speedscope else "svg"
            spies.append(pyspy(pids[who], os.path.join(args.out, "%s-%s.%s" % (name, who, ext)),
                               args.native))
        time.sleep(1.0)
    before = cpu(pids)
    faults = {k: minor_faults(pid) for k, pid in pids.items()}
    t0 = time.perf_counter()
    with gridbench.PeakRSS(pids["client"]) as rss:
        result = fn()
    wall = time.perf_counter() - t0
    after = cpu(pids)
    faults = {k: minor_faults(pid) - faults[k] for k, pid in pids.items()}
    server_faults = sum(v for k, v in faults.items() if k.startswith("server"))
    for p in spies:
        p.send_signal(2)  # SIGINT: py-spy writes its output and exits
    for p in spies:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
    used = {k: after[k] - before[k] for k in pids}
    servers = sum(v for k, v in used.items() if k.startswith("server"))
    print("%-9s %6.2f s wall  %6.1f MB/s   client %5.2f CPU-s (%d page faults, peak RSS %d MiB)  "
          "servers %5.2f CPU-s (%s; %d page faults)"
          % (name, wall, args.size * MiB / wall / 1e6, used["client"], faults["client"],
             rss.peak / MiB, servers,
             " ".join("%.2f" % used["server%d" % i] for i in range(gridbench.SERVERS)),
             server_faults),
          flush=True)
    return result


def last_upload_timings(basedir):
    """The timings of the client's last upload, from its log."""
    try:
        with open(os.path.join(basedir, "logs", "twistd.log")) as f:
            lines = [line for line in f if "uploaded " in line and "seconds:" in line]
    except OSError:
        return "(no log)"
    return lines[-1].split("seconds:", 1)[1].strip() if lines else "(no timings logged)"


def main(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=100, help="MiB")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--pyspy", action="store_true")
    p.add_argument("--raw", action="store_true", help="py-spy raw (collapsed) output, not SVG")
    p.add_argument("--speedscope", action="store_true",
                   help="py-spy speedscope output with idle samples (a timeline)")
    p.add_argument("--perf", action="store_true", help="perf record the client and a server")
    p.add_argument("--perf-event", help="perf record -e EVENT (e.g. page-faults)")
    p.add_argument("--callgraph", action="store_true", help="perf with DWARF call graphs")
    p.add_argument("--cprofile-client", metavar="FILE",
                   help="run the client under cProfile (main-thread CPU time) into FILE")
    p.add_argument("--no-download", action="store_true")
    p.add_argument("--native", action="store_true", help="py-spy --native")
    p.add_argument("--small", type=int, default=0, help="also time this many 1 KiB uploads")
    p.add_argument("--out", default="/tmp/tahoe-prof")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    root = tempfile.mkdtemp(prefix="tahoe-prof-")
    grid = OurStorageGrid(root, gridbench.SERVERS)
    client = gridbench.OurClient(os.path.join(root, "client"))
    cp = None
    try:
        nodes = grid.start()
        client.create()
        client.set_servers(nodes)
        if args.cprofile_client:
            client.procs.basedirs.append(client.basedir)
            cp = subprocess.Popen([sys.executable, PROFILING, "node",
                                   args.cprofile_client, "run", "--allow-stdin-close",
                                   client.basedir], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: os.path.exists(os.path.join(client.basedir, "node.url")),
                     60, what="node.url")
        else:
            client.start()
        gridbench.wait_connected(client.url, gridbench.SERVERS)
        pids = {"client": client.pid()}
        print("client RSS at start: %d MiB" % (psutil.Process(pids["client"]).memory_info().rss / MiB))
        for i, basedir in enumerate(grid.procs.basedirs):
            pids["server%d" % i] = read_pid(basedir)
        data_dir = os.path.join(root, "data")
        os.makedirs(data_dir)
        for _ in range(args.runs if args.size else 0):
            path = gridbench.random_file(data_dir, args.size * MiB)
            cap = phase("upload", pids, lambda: gridbench.put_file(client.url, path), args)
            print("  " + last_upload_timings(client.basedir), flush=True)
            if not args.no_download:
                phase("download", pids, lambda: gridbench.get_file(client.url, cap), args)
            os.unlink(path)
        if args.small:
            paths = []
            for i in range(args.small):
                sp = os.path.join(data_dir, "small-%d" % i)
                with open(sp, "wb") as f:
                    f.write(os.urandom(1024))
                paths.append(sp)
            before = cpu(pids)
            t0 = time.perf_counter()
            phase("small", pids, lambda: [gridbench.put_file(client.url, sp) for sp in paths],
                  args)
            per = (time.perf_counter() - t0) / len(paths)
            after = cpu(pids)
            print("1 KiB upload %.1f ms each; client %.1f CPU-ms each, servers %.1f CPU-ms each" % (
                per * 1000, (after["client"] - before["client"]) * 1000 / len(paths),
                sum(after[k] - before[k] for k in pids if k != "client") * 1000 / len(paths)))
    finally:
        if args.cprofile_client:
            os.kill(client.pid(), signal.SIGUSR1)  # write the profile
            time.sleep(2)
        client.stop()
        if cp is not None:
            try:
                cp.wait(30)
            except subprocess.TimeoutExpired:
                cp.kill()
        grid.stop()
        shutil.rmtree(root, ignore_errors=True)

