#!/usr/bin/env python3
"""Drive a running client node through its control port.

    .venv/bin/python misc/control.py NODEDIR COMMAND [ARGS]

Commands:

  wait-for-connections N    return once N storage servers are connected
  upload FILE [--convergence SECRET]
                            upload a local file, print its cap
  download CAP FILE         download a file to a local path, print the path
  memory                    print VmPeak, VmSize and VmData of the node (bytes)
  speed-test --count N --size SIZE [--mutable create|upload]
                            time uploading then downloading N files of SIZE
                            (e.g. 1MiB); print both times and the rates
  ping                      print each connected server's response time (a
                            server that fails or does not answer is left
                            out; the node's log says why)

The script reads NODEDIR/private/control.furl and connects with a Foolscap
Tub of its own; local paths are made absolute here (the node refuses
relative ones, as its working directory is not the caller's).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from foolscap.api import Tub  # noqa: E402
from twisted.internet import defer, task  # noqa: E402

from allmydata.util.abbreviate import parse_abbreviated_size  # noqa: E402
from allmydata.util.idlib import nodeid_b2a  # noqa: E402
from allmydata.util.rrefutil import call_remote  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(prog="control.py", description="Drive a node's control port.")
    p.add_argument("nodedir")
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("wait-for-connections")
    w.add_argument("count", type=int)
    u = sub.add_parser("upload")
    u.add_argument("file")
    u.add_argument("--convergence", default=None,
                   help="convergence secret (default: a random encryption key)")
    d = sub.add_parser("download")
    d.add_argument("cap")
    d.add_argument("file")
    sub.add_parser("memory")
    s = sub.add_parser("speed-test")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--size", type=parse_abbreviated_size, required=True)
    s.add_argument("--mutable", choices=("create", "upload"), default=None)
    sub.add_parser("ping")
    return p.parse_args(argv)


def read_furl(nodedir) -> str:
    path = os.path.join(nodedir, "private", "control.furl")
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        raise SystemExit("cannot read %s (is the client node running?): %s" % (path, e.strerror))


async def run(args, out):
    furl = read_furl(args.nodedir)
    tub = Tub()
    tub.startService()
    try:
        rref = await tub.getReference(furl)
        if args.command == "wait-for-connections":
            await call_remote(rref, "wait_for_client_connections", num_clients=args.count)
            print("connected to at least %d storage servers" % args.count, file=out)
        elif args.command == "upload":
            conv = args.convergence.encode("utf-8") if args.convergence is not None else None
            cap = await call_remote(rref, "upload_from_file_to_uri",
                                        filename=os.path.abspath(args.file), convergence=conv)
            print(cap.decode("ascii"), file=out)
        elif args.command == "download":
            path = await call_remote(rref, "download_from_uri_to_file",
                                         uri=args.cap.encode("ascii"),
                                         filename=os.path.abspath(args.file))
            print(path, file=out)
        elif args.command == "memory":
            usage = await call_remote(rref, "get_memory_usage")
            for key in sorted(usage):
                print("%s: %d" % (key, usage[key]), file=out)
        elif args.command == "speed-test":
            up, down = await call_remote(rref, "speed_test", count=args.count, size=args.size,
                                             mutable=args.mutable)
            total = args.count * args.size
            for name, seconds in (("upload", up), ("download", down)):
                rate = "%.0f bytes/s" % (total / seconds) if seconds > 0 else "-"
                print("%s: %.3f s (%s)" % (name, seconds, rate), file=out)
        elif args.command == "ping":
            times = await call_remote(rref, "measure_peer_response_time")
            for serverid in sorted(times):
                print("%s: %.6f s" % (nodeid_b2a(serverid), times[serverid]), file=out)
    finally:
        await tub.stopService()


async def run_or_explain(args, out):
    """Run the command; a refusal or a failure ends the script with one
    line on stderr and exit status 1."""
    try:
        await run(args, out)
    except SystemExit:
        raise
    except Exception as e:
        print("control.py %s: %s" % (args.command, e), file=sys.stderr)
        raise SystemExit(1)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    task.react(lambda reactor: defer.ensureDeferred(run_or_explain(args, sys.stdout)))


if __name__ == "__main__":
    main()
