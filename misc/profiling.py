#!/usr/bin/env python3
"""Profiling of this implementation's nodes on a local grid on 127.0.0.1.

    .venv/bin/python misc/profiling.py COMMAND [OPTIONS]
    .venv/bin/python misc/profiling.py COMMAND --help

Commands:

  grid   upload and download through a client of a grid of real node
         processes, with each process's CPU time and, on request, a cProfile
         of the client, py-spy or perf profiles
  node   run one ``tahoe`` node (or a Python script) under cProfile, writing
         its profile when it ends or on SIGTERM

(Not named profile.py: cProfile imports the standard library's ``profile``
module, which a script of that name next to it would hide.)
"""

import argparse
import importlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

COMMANDS = {
    "grid": "perf.profile_grid",
    "node": "perf.cprofile_node",
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=sorted(COMMANDS), help="what to profile")
    p.add_argument("args", nargs=argparse.REMAINDER, help="its options (COMMAND --help)")
    args = p.parse_args(argv)
    # only the module of the command asked for is loaded (some measure memory)
    command = importlib.import_module(COMMANDS[args.command])
    return command.main(args.args, prog="%s %s" % (p.prog, args.command))


if __name__ == "__main__":
    sys.exit(main())
