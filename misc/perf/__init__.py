"""The sub-commands of ``misc/benchmark.py`` and ``misc/profiling.py``.

Each module has ``main(argv, prog)``.  A sub-command that starts copies of
itself in other processes runs them through its entry point (``BENCHMARK``
or ``PROFILING`` and its own name), so every process finds this package and
``src/`` the same way.
"""

import os

MISC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(MISC)
SRC = os.path.join(REPO, "src")
BENCHMARK = os.path.join(MISC, "benchmark.py")
PROFILING = os.path.join(MISC, "profiling.py")
