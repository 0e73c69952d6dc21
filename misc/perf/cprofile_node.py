"""Run ``tahoe ARGS...`` (or, with --script or --module, a Python script or
module) under cProfile, timing the main (reactor) thread's CPU time (not
wall time), and write the stats to OUT when it exits (SIGUSR1 writes them at
once too)::

    .venv/bin/python misc/profiling.py node OUT run --allow-stdin-close BASEDIR
    .venv/bin/python misc/profiling.py node --script OUT SCRIPT ARGS...
    .venv/bin/python misc/profiling.py node --module OUT MODULE ARGS...

``misc/profiling.py grid --cprofile-client`` runs the client this way.
"""

import argparse
import cProfile
import runpy
import signal
import sys
import time

from allmydata.scripts.runner import main as tahoe_main


def main(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group()
    what.add_argument("--script", action="store_true",
                      help="run a Python script (the first of ARGS) instead of tahoe")
    what.add_argument("--module", action="store_true",
                      help="run a Python module (the first of ARGS) instead of tahoe")
    p.add_argument("out", metavar="OUT", help="where the profile is written")
    p.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if args.script:
        sys.argv = args.args

        def run():
            runpy.run_path(sys.argv[0], run_name="__main__")
    elif args.module:
        sys.argv = args.args

        def run():
            runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = ["tahoe"] + args.args
        run = tahoe_main
    prof = cProfile.Profile(time.thread_time)

    def dump(*_):
        prof.disable()
        prof.dump_stats(args.out)
        prof.enable()
    signal.signal(signal.SIGUSR1, dump)  # dump now and go on
    prof.enable()
    try:
        return run()
    finally:
        prof.disable()
        prof.dump_stats(args.out)
