"""The options of the benchmarks that compare our implementation with
Tahoe-LAFS 1.20 (``--impl``, ``--paired``, ``--workdir``, ``--json``,
``--pyspy``), their checks, and what each implementation needs before its
grid starts."""

import compileall
import os
import sys

from allmydata.testing.refvenv import ensure_ref_venv

from . import SRC
from .pyspy import find_pyspy

IMPLS = {"ours", "tahoe"}


def add_impl_options(p, paired_help: str, pyspy_help: str):
    """Add the shared options to the argument parser ``p``."""
    p.add_argument("--impl", default="ours,tahoe", help="ours, tahoe, or both (comma-separated)")
    p.add_argument("--paired", action="store_true", help=paired_help)
    p.add_argument("--workdir", default=None, help="where grids live (default: a temp dir)")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--pyspy", metavar="DIR", help=pyspy_help)


def check_impl_options(p, args) -> list:
    """Check the shared options of the parsed ``args`` (``p.error`` where they
    do not hold), set ``args.pyspy_exe`` with --pyspy, and return the
    implementations asked for, in order."""
    if args.pyspy:
        args.pyspy_exe = find_pyspy()
        if args.pyspy_exe is None:
            p.error("--pyspy needs py-spy on the PATH or next to %s" % sys.executable)
    impls = [x.strip() for x in args.impl.split(",") if x.strip()]
    if not impls or len(set(impls)) != len(impls) or not set(impls) <= IMPLS:
        p.error("--impl takes ours, tahoe or both")
    if args.paired and len(impls) != 2:
        p.error("--paired needs two implementations")
    return impls


def prepare_impls(impls):
    """Make ready what the implementations' nodes run from; return the
    reference virtualenv, or None without Tahoe-LAFS."""
    venv = ensure_ref_venv() if "tahoe" in impls else None
    if "ours" in impls:
        # our nodes start from byte-compiled modules, as from an installed package
        # (an editable install leaves src/ uncompiled; see the Makefile's install)
        compileall.compile_dir(os.path.join(SRC, "allmydata"), quiet=1)
    return venv
