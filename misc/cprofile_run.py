#!/usr/bin/env python3
"""Run ``tahoe ARGS...`` (or, with --script, a Python script) under cProfile, timing the main (reactor) thread's
CPU time (not wall time), and write the stats to OUT when it exits:

    .venv/bin/python misc/cprofile_run.py OUT run --allow-stdin-close BASEDIR

Used by misc/profile_grid.py --cprofile-client.
"""

import cProfile
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))


def main():
    if sys.argv[1] == "--script":  # cprofile_run.py --script OUT SCRIPT ARGS...
        out = sys.argv[2]
        sys.argv = sys.argv[3:]
        import runpy

        def tahoe_main():
            runpy.run_path(sys.argv[0], run_name="__main__")
    else:
        out = sys.argv[1]
        sys.argv = ["tahoe"] + sys.argv[2:]
        from allmydata.scripts.runner import main as tahoe_main
    prof = cProfile.Profile(time.thread_time)

    def dump(*_):
        prof.disable()
        prof.dump_stats(out)
        prof.enable()
    signal.signal(signal.SIGUSR1, dump)  # dump now and go on
    prof.enable()
    try:
        tahoe_main()
    finally:
        prof.disable()
        prof.dump_stats(out)


if __name__ == "__main__":
    main()
