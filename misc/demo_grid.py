#!/usr/bin/env python3
"""Bring up (or stop) a local demo grid on 127.0.0.1 with the `tahoe` command.

    python misc/demo_grid.py start [DIR]   # introducer + 3 storage nodes + a client,
                                           # then store a file and fetch it back
    python misc/demo_grid.py stop [DIR]

Every node listens on 127.0.0.1 only.  The grid lives in DIR (default
./demo-grid); running `start` again restarts the nodes already there.
"""

import json
import os
import subprocess
import sys
import urllib.request

from allmydata.testing.processes import TAHOE, read_text
from allmydata.testing.waiting import wait_for

STORAGE_NODES = 3


def tahoe(*args, check=True):
    proc = subprocess.run(TAHOE + [str(a) for a in args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        sys.exit("tahoe %s failed:\n%s%s" % (" ".join(map(str, args)), proc.stdout, proc.stderr))
    return proc


def node_dirs(root):
    return ([os.path.join(root, "introducer")]
            + [os.path.join(root, "storage%d" % i) for i in range(1, STORAGE_NODES + 1)]
            + [os.path.join(root, "client")])


def wait_for_file(path, timeout=30):
    try:
        wait_for(lambda: os.path.exists(path), timeout, what=path)
    except AssertionError as e:
        sys.exit(str(e))
    return read_text(path)


def create(root):
    intro = os.path.join(root, "introducer")
    tahoe("create-introducer", "--hostname", "127.0.0.1", "--webport", "tcp:0:interface=127.0.0.1", intro)
    tahoe("start", intro)
    furl = wait_for_file(os.path.join(intro, "private", "introducer.furl"))
    for i in range(1, STORAGE_NODES + 1):
        tahoe("create-node", "--nickname", "storage%d" % i, "--hostname", "127.0.0.1",
              "--introducer", furl, "--webport", "tcp:0:interface=127.0.0.1",
              os.path.join(root, "storage%d" % i))
    tahoe("create-client", "--nickname", "client", "--hostname", "127.0.0.1", "--introducer", furl,
          "--webport", "tcp:0:interface=127.0.0.1", "--shares-needed", "2",
          "--shares-happy", "3", "--shares-total", "4", os.path.join(root, "client"))


def start(root):
    root = os.path.abspath(root)
    if not os.path.exists(os.path.join(root, "client", "tahoe.cfg")):
        os.makedirs(root, exist_ok=True)
        create(root)
    for d in node_dirs(root):
        proc = tahoe("start", d, check=False)
        if proc.returncode != 0 and "already running" not in proc.stderr:
            sys.exit("could not start %s:\n%s" % (d, proc.stderr))
    client = os.path.join(root, "client")
    url = wait_for_file(os.path.join(client, "node.url"))
    seen = {}

    def all_connected():
        with urllib.request.urlopen(url + "?t=json") as r:
            seen["welcome"] = json.load(r)
        seen["connected"] = [s for s in seen["welcome"]["servers"]
                             if s["connection_status"].lower().startswith("connected")]
        return len(seen["connected"]) >= STORAGE_NODES

    try:
        wait_for(all_connected, 60, interval=0.2, what="the storage servers")
    except AssertionError:
        sys.exit("the client sees only %d of %d storage servers"
                 % (len(seen["connected"]), STORAGE_NODES))
    welcome = seen["welcome"]
    print("Demo grid running in %s" % root)
    print("  introducer : %s" % os.path.join(root, "introducer"))
    print("               FURL %s" % wait_for_file(os.path.join(root, "introducer", "private", "introducer.furl")))
    print("               web  %s" % wait_for_file(os.path.join(root, "introducer", "node.url")))
    for s in welcome["servers"]:
        print("  storage    : %-9s %s  (%s)" % (s["nickname"], s["nodeid"], s["connection_status"]))
    for i in range(1, STORAGE_NODES + 1):
        d = os.path.join(root, "storage%d" % i)
        print("               %s  web %s" % (d, wait_for_file(os.path.join(d, "node.url"))))
    print("  client     : %s" % client)
    print("               web  %s   (JSON: %s?t=json)" % (url, url))
    store_and_fetch(root, client)
    print("Stop it with: make demo-stop  (or python misc/demo_grid.py stop %s)" % root)


def store_and_fetch(root, client):
    """Upload a file through the client with `tahoe put`, fetch it back with
    `tahoe get`, and check the bytes."""
    sample = os.path.join(root, "sample.txt")
    with open(sample, "wb") as f:
        f.write(b"Hello from the demo grid.\n" + os.urandom(3 * 1024 * 1024))
    cap = tahoe("-d", client, "put", sample).stdout.strip()
    fetched = os.path.join(root, "sample.fetched")
    tahoe("-d", client, "get", cap, fetched)
    with open(sample, "rb") as a, open(fetched, "rb") as b:
        same = a.read() == b.read()
    if not same:
        sys.exit("the file fetched back differs from the one stored!")
    print("Stored %s (%d bytes) and fetched it back intact:" % (sample, os.path.getsize(sample)))
    print("  cap: %s" % cap)
    print("  fetch it again: .venv/bin/tahoe -d %s get %s OUTFILE" % (client, cap))


def stop(root):
    root = os.path.abspath(root)
    for d in reversed(node_dirs(root)):
        if os.path.exists(os.path.join(d, "tahoe.cfg")):
            proc = tahoe("stop", d, check=False)
            print(proc.stdout.strip() or proc.stderr.strip())


def main(argv):
    if len(argv) < 2 or argv[1] not in ("start", "stop"):
        sys.exit(__doc__)
    root = argv[2] if len(argv) > 2 else "demo-grid"
    (start if argv[1] == "start" else stop)(root)


if __name__ == "__main__":
    main(sys.argv)
