"""``misc/benchmark.py floor``: the Foolscap floor benchmark runs and reports."""

import os
import re
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "misc", "benchmark.py")


@pytest.mark.misc
def test_the_floor_benchmark_makes_its_calls_and_reports_them():
    out = subprocess.run(
        [sys.executable, SCRIPT, "floor", "--servers", "2", "--small", "3", "--size", "2"],
        capture_output=True, text=True, timeout=120, check=True).stdout
    assert re.search(r"^small \(the calls of one 1 KiB upload\): [\d.]+ ms each", out, re.M), out
    assert re.search(r"^large \(the calls of a 2 MiB upload, 6 MiB of shares\): [\d.]+ s", out,
                     re.M), out
    assert re.search(r"^download \(the calls of a 2 MiB download\): [\d.]+ s", out, re.M), out
