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

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from perf import dispatch  # noqa: E402  (misc/ is on the path of a script run from it)

COMMANDS = {
    "grid": "perf.profile_grid",
    "node": "perf.cprofile_node",
}


def main(argv=None):
    return dispatch(__doc__, COMMANDS, "what to profile", argv)


if __name__ == "__main__":
    sys.exit(main())
