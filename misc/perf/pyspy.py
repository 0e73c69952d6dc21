"""py-spy for the benchmarks: recording node processes while they work and
the functions that took the most samples."""

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import time


def find_pyspy():
    """py-spy on the PATH or next to this Python, or None."""
    exe = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    return exe if os.access(exe, os.X_OK) else None


class PySpy:
    """py-spy recording some processes, each into its own collapsed-stacks file."""

    def __init__(self, exe, targets):
        """``targets``: [(pid, output path)]."""
        self.procs = [subprocess.Popen([exe, "record", "--pid", str(pid), "--output", path,
                                        "--format", "raw", "--rate", "200", "--nolineno",
                                        "--nonblocking"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                      for pid, path in targets]
        # py-spy takes a moment to attach and says nothing when it has
        time.sleep(1)

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def top_functions(paths, count=25):
    """From py-spy's collapsed stacks: the ``count`` functions seen most at
    the top of a stack (self) and anywhere in it (total), as (samples, name)."""
    own, total = collections.Counter(), collections.Counter()
    samples = 0
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                stack, _, n = line.rstrip("\n").rpartition(" ")
                if not stack or not n.isdigit():
                    continue
                frames = [fr for fr in stack.split(";") if not re.match(r"(process|thread) ", fr)]
                if not frames:
                    continue
                n = int(n)
                samples += n
                own[frames[-1]] += n
                for fr in set(frames):
                    total[fr] += n
    return samples, own.most_common(count), total.most_common(count)


def show_top(heading, paths, out_path):
    """Print (and write to ``out_path``) the functions with the most samples
    in these collapsed-stacks files, under ``heading`` (with the sample count)."""
    samples, own, total = top_functions(paths)
    lines = ["%s: %d samples" % (heading, samples)]
    for title, rows in (("self", own), ("total", total)):
        lines.append("  most samples, %s:" % title)
        lines += ["  %6.1f%%  %s" % (100.0 * n / max(samples, 1), fr) for fr, n in rows]
    text = "\n".join(lines)
    with open(out_path, "w") as f:
        f.write(text + "\n")
    print(text, flush=True)
