"""Counters and instantaneous statistics, served as RIStatsProvider
(the 2008 interfaces, allmydata-tahoe 2008).

Services count work with :meth:`StatsProvider.count` and register themselves
as :class:`IStatsProducer` to contribute instantaneous values.  The provider
itself runs the process-wide producers: the CPU monitor, the reactor-lag
monitor and the process statistics (uptime, memory, Python, platform).
Every name, its meaning and its unit are listed in docs/statistics.md.

The provider answers local callers (the web pages) with text keys; a value
may be None where a statistic cannot be computed yet (a latency percentile
of too few samples), which the pages show as JSON null and OpenMetrics NaN.
Remote callers (``get_stats`` over Foolscap) get the 2008 wire schema:
byte-string keys and numbers only, within the bounds the interface sets.
"""

import math
import time
from collections import defaultdict

from foolscap.api import Referenceable
from twisted.application import service
from twisted.logger import Logger
from zope.interface import implementer

from .cpu_monitor import CPUUsageMonitor, LoadMonitor
from .process_stats import ProcessStats
from .stats_interfaces import MAX_STAT_NAME, MAX_STATS, IStatsProducer, RIStatsProvider
from .util.default_reactor import default_reactor

log = Logger()


def is_number(value) -> bool:
    """A finite int or float (not a bool, not None, not NaN or infinite)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def wire_section(values: dict) -> dict:
    """One section of a remote get_stats answer: the numeric values, keys
    as UTF-8 bytes no longer than the interface allows, at most
    :data:`MAX_STATS` of them (the first in name order)."""
    out = {}
    for name in sorted(values):
        value = values[name]
        key = name.encode("utf-8")
        if not is_number(value) or len(key) > MAX_STAT_NAME:
            continue
        out[key] = value
        if len(out) == MAX_STATS:
            break
    return out


@implementer(RIStatsProvider)
class StatsProvider(Referenceable, service.MultiService):
    """The node's counters and stats producers.

    ``clock`` (an ``IReactorTime``, the global reactor if None) paces the
    CPU and load monitors and measures ``node.uptime``; ``cpu_time`` (a
    function returning CPU seconds, the process's own by default) is what
    the CPU monitor reads."""

    def __init__(self, clock=None, cpu_time=time.process_time):
        service.MultiService.__init__(self)
        if clock is None:
            clock = default_reactor()
        self.counters = defaultdict(int)
        self._producers = []
        self.cpu_monitor = CPUUsageMonitor(clock, cpu_time=cpu_time)
        self.cpu_monitor.setServiceParent(self)
        self.register_producer(self.cpu_monitor)
        self.load_monitor = LoadMonitor(clock)
        self.load_monitor.setServiceParent(self)
        self.register_producer(self.load_monitor)
        self.process_stats = ProcessStats(clock)
        self.register_producer(self.process_stats)

    def startService(self):
        self.process_stats.start()
        service.MultiService.startService(self)

    def count(self, name: str, delta: int = 1) -> None:
        self.counters[name] += delta

    def register_producer(self, producer) -> None:
        self._producers.append(IStatsProducer(producer))

    def get_stats(self) -> dict:
        """``{"counters": {name: number}, "stats": {name: number or None}}``.
        A producer that fails (a disk that cannot be asked, say) is logged
        and left out; the others' stats are still given."""
        stats = {}
        for p in self._producers:
            try:
                stats.update(p.get_stats())
            except Exception:
                log.failure("stats producer {producer!r} failed", producer=p)
        return {"counters": dict(self.counters), "stats": stats}

    def remote_get_stats(self):
        return {section.encode("ascii"): wire_section(values)
                for section, values in self.get_stats().items()}
