"""misc/benchmark.py measures what it is asked for on a real local grid, and
it and misc/profiling.py explain every command they have."""

import os
import re
import subprocess
import sys

import pytest

MISC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "misc")
SCRIPT = os.path.join(MISC, "benchmark.py")
PROFILING = os.path.join(MISC, "profiling.py")


@pytest.mark.misc
def test_the_benchmark_measures_throughput_and_small_files_on_our_grid(tmp_path):
    out = subprocess.run(
        [sys.executable, SCRIPT, "grid", "--impl", "ours", "--sizes", "1", "--repeat", "1",
         "--small", "2", "--big", "0", "--dir-entries", "0", "--mdmf", "0",
         "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=True).stdout
    for row in ("upload 1 MiB \\(MB/s\\)", "download 1 MiB \\(MB/s\\)",
                "1 KiB upload \\(ms each\\)", "1 KiB download \\(ms each\\)"):
        assert re.search(r"^%s\s+[\d.]+$" % row, out, re.M), (row, out)


@pytest.mark.misc
def test_the_maintenance_benchmark_deep_checks_and_repairs_on_our_grid(tmp_path):
    """A tree of 5 files in 3 directories deep-checked plainly and with
    verify, and a 1 MiB file repaired twice after losing 3 shares: the tool
    fails unless every deep-check line is healthy and every repair leaves
    the file healthy."""
    proc = subprocess.run(
        [sys.executable, SCRIPT, "maintenance", "--impl", "ours", "--files", "5", "--dirs", "3",
         "--size", "1", "--repeat", "2", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("deep-check, 5 files, 3 dirs", "deep-check verify, 5 files, 3 dirs",
                 "repair 1 MiB, 3 of 10 shares lost"):
        for role in ("", ", client CPU", ", servers CPU"):
            row = re.escape("%s%s (s)" % (name, role))
            assert re.search(r"^%s\s+[\d.]+$" % row, proc.stdout, re.M), (row, proc.stdout)


@pytest.mark.misc
def test_the_maintenance_benchmark_refuses_literal_files():
    proc = subprocess.run([sys.executable, SCRIPT, "maintenance", "--impl", "ours",
                           "--file-size", "55"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "more than 55 bytes" in proc.stderr, proc.stderr


@pytest.mark.misc
def test_the_helper_benchmark_uploads_through_our_helper_and_resumes(tmp_path):
    """A 16 MiB upload through our helper and one resumed after its client
    was killed: the tool fails unless the helper fetched each file's whole
    ciphertext, every file reads back the same and the resumed upload
    finished."""
    proc = subprocess.run(
        [sys.executable, SCRIPT, "helper", "--impl", "ours", "--size", "16", "--repeat", "1",
         "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    name = "upload 16 MiB through the helper"
    for role in ("", ", client CPU", ", helper CPU", ", servers CPU"):
        row = re.escape("%s%s (s)" % (name, role))
        assert re.search(r"^%s\s+[\d.]+$" % row, proc.stdout, re.M), (row, proc.stdout)
    assert re.search(r"^helper peak RSS, upload 16 MiB \(MiB\)\s+[\d.]+$", proc.stdout, re.M)
    again = re.search(r"^resumed upload 16 MiB: fetched again \(% of file\)\s+([\d.]+)$",
                      proc.stdout, re.M)
    assert again and 0 <= float(again.group(1)) <= 100, proc.stdout


@pytest.mark.misc
@pytest.mark.parametrize("script, commands", [
    (SCRIPT, ["grid", "floor", "bucket-writes", "dirnode", "mdmf", "mutable-rounds",
              "maintenance", "crawler", "helper"]),
    (PROFILING, ["grid", "node"]),
])
def test_every_command_has_help(script, commands):
    out = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    for command in commands:
        assert re.search(r"^  %s\s" % re.escape(command), out, re.M), (command, out)
        sub = subprocess.run([sys.executable, script, command, "--help"], capture_output=True,
                             text=True, timeout=60, check=True).stdout
        assert sub.startswith("usage: %s %s" % (os.path.basename(script), command)), sub
