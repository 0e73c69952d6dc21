"""The node's process and machine as stats: uptime, memory, threads, open
files, the Python version and the machine's CPUs and load (names and units in
docs/statistics.md).

Only numbers are stats: the Python version is given as its three parts, and
what a platform cannot tell (open files on Windows, the load average where
``os.getloadavg`` does not exist) is left out rather than reported as zero.
"""

import os
import sys

import psutil
from zope.interface import implementer

from .stats_interfaces import IStatsProducer

try:
    import resource
except ImportError:  # Windows
    resource = None

#: ru_maxrss is in KiB on Linux and the BSDs, in bytes on macOS
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024


@implementer(IStatsProducer)
class ProcessStats:
    """``node.uptime`` (seconds of ``clock`` since :meth:`start`), this
    process's memory, threads and open files, and numbers about Python and
    the machine."""

    def __init__(self, clock):
        self._clock = clock
        self._process = psutil.Process()
        self._started = clock.seconds()

    def start(self) -> None:
        """Count the uptime from now."""
        self._started = self._clock.seconds()

    def get_stats(self) -> dict:
        stats = {"node.uptime": self._clock.seconds() - self._started}
        p = self._process
        with p.oneshot():
            mem = p.memory_info()
            stats["memory.rss"] = mem.rss
            stats["memory.vms"] = mem.vms
            stats["process.threads"] = p.num_threads()
            if hasattr(p, "num_fds"):
                stats["process.open_fds"] = p.num_fds()
        if resource is not None:
            stats["memory.peak_rss"] = \
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _MAXRSS_UNIT
        v = sys.version_info
        stats["python.version.major"] = v.major
        stats["python.version.minor"] = v.minor
        stats["python.version.micro"] = v.micro
        cpus = os.cpu_count()
        if cpus:
            stats["platform.cpu_count"] = cpus
        if hasattr(os, "getloadavg"):
            try:
                one, five, fifteen = os.getloadavg()
            except OSError:  # the platform has the call but cannot answer
                pass
            else:
                stats["platform.load_average.1min"] = one
                stats["platform.load_average.5min"] = five
                stats["platform.load_average.15min"] = fifteen
        return stats
