"""misc/benchmark.py measures what it is asked for on a real local grid."""

import os
import re
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "misc", "benchmark.py")


@pytest.mark.misc
def test_the_benchmark_measures_throughput_and_small_files_on_our_grid(tmp_path):
    out = subprocess.run(
        [sys.executable, SCRIPT, "--impl", "ours", "--sizes", "1", "--repeat", "1",
         "--small", "2", "--big", "0", "--dir-entries", "0", "--mdmf", "0",
         "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=True).stdout
    for row in ("upload 1 MiB \\(MB/s\\)", "download 1 MiB \\(MB/s\\)",
                "1 KiB upload \\(ms each\\)", "1 KiB download \\(ms each\\)"):
        assert re.search(r"^%s\s+[\d.]+$" % row, out, re.M), (row, out)
