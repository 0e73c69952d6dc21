"""The sub-commands of ``misc/benchmark.py`` and ``misc/profiling.py``.

Each module has ``main(argv, prog)``.  A sub-command that starts copies of
itself in other processes runs them through its entry point (``BENCHMARK``
or ``PROFILING`` and its own name), so every process finds this package and
``src/`` the same way.
"""

import argparse
import importlib
import os

MISC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(MISC)
SRC = os.path.join(REPO, "src")
BENCHMARK = os.path.join(MISC, "benchmark.py")
PROFILING = os.path.join(MISC, "profiling.py")


def dispatch(description: str, commands: dict, what: str, argv=None):
    """Run the sub-command named first in ``argv``: ``commands`` maps its
    name to the module (in this package) whose ``main(argv, prog)`` runs it.
    Only that module is imported: some sub-commands measure memory."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=sorted(commands), help=what)
    p.add_argument("args", nargs=argparse.REMAINDER, help="its options (COMMAND --help)")
    args = p.parse_args(argv)
    command = importlib.import_module(commands[args.command])
    return command.main(args.args, prog="%s %s" % (p.prog, args.command))
