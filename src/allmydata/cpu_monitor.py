"""How busy the node's process is: CPU use and reactor lag, as stats producers.

:class:`CPUUsageMonitor` samples the process's CPU time once a minute and
reports the fraction of one CPU used over the last 1, 5 and 15 minutes
(``cpu_monitor.1min_avg`` ...), and the CPU seconds used since it started
(``cpu_monitor.total``), the names Tahoe-LAFS uses.

:class:`LoadMonitor` asks the reactor to wake it every second and measures
how late each wake-up comes: a reactor busy with other work (a long
computation, a flood of requests) answers late, and the lateness is how long
any other event (a network message, a timer) had to wait too.  It reports
the mean and the largest lateness of the last minute
(``load_monitor.avg_load``, ``load_monitor.max_load``), the names the
2008-era Tahoe nodes used.

Both take the reactor's clock as an argument (an ``IReactorTime``), so tests
drive them with ``twisted.internet.task.Clock``; the CPU monitor also takes
the function that reads CPU time.
"""

import collections
import time

from twisted.application import service
from twisted.internet.task import LoopingCall
from zope.interface import implementer

from .stats_interfaces import IStatsProducer


@implementer(IStatsProducer)
class CPUUsageMonitor(service.Service):
    """Moving averages of the process's CPU use.

    * ``clock``: an ``IReactorTime``; samples are taken every
      :attr:`POLL_INTERVAL` seconds of it, the first when the service starts.
    * ``cpu_time``: a function returning the CPU seconds the process has
      used (user + system); ``time.process_time`` by default.
    """

    POLL_INTERVAL = 60.0
    #: averages offered, in samples (minutes at the default interval)
    AVERAGES = ((1, "cpu_monitor.1min_avg"), (5, "cpu_monitor.5min_avg"),
                (15, "cpu_monitor.15min_avg"))
    HISTORY_LENGTH = 15

    def __init__(self, clock, cpu_time=time.process_time):
        self._clock = clock
        self._cpu_time = cpu_time
        self._initial_cpu = cpu_time()
        # (clock seconds, CPU seconds); one more than the longest average spans
        self.samples = collections.deque(maxlen=self.HISTORY_LENGTH + 1)
        self._loop = LoopingCall(self.check)
        self._loop.clock = clock

    def startService(self):
        service.Service.startService(self)
        self._initial_cpu = self._cpu_time()
        self._loop.start(self.POLL_INTERVAL, now=True)

    def stopService(self):
        if self._loop.running:
            self._loop.stop()
        return service.Service.stopService(self)

    def check(self) -> None:
        """Take one sample (the loop calls this every interval)."""
        self.samples.append((self._clock.seconds(), self._cpu_time()))

    def average(self, intervals: int) -> float | None:
        """CPU seconds per clock second over the last ``intervals`` sampling
        intervals (1.0: one CPU busy all the time); None until that many
        intervals have been sampled."""
        if len(self.samples) < intervals + 1:
            return None
        (wall0, cpu0), (wall1, cpu1) = self.samples[-intervals - 1], self.samples[-1]
        if wall1 <= wall0:
            return None
        return (cpu1 - cpu0) / (wall1 - wall0)

    def get_stats(self) -> dict:
        stats = {}
        for intervals, name in self.AVERAGES:
            avg = self.average(intervals)
            if avg is not None:
                stats[name] = avg
        stats["cpu_monitor.total"] = self._cpu_time() - self._initial_cpu
        return stats


@implementer(IStatsProducer)
class LoadMonitor(service.Service):
    """How late the reactor runs a timer, over the last minute.

    Every :attr:`LOOP_INTERVAL` seconds of ``clock`` a timer is set for the
    next interval; when it fires, the difference between the clock and the
    time it was due is one sample.  The last :attr:`NUM_SAMPLES` are kept.
    """

    LOOP_INTERVAL = 1.0
    NUM_SAMPLES = 60

    def __init__(self, clock):
        self._clock = clock
        self.samples = collections.deque(maxlen=self.NUM_SAMPLES)
        self._call = None
        self._due = None

    def startService(self):
        service.Service.startService(self)
        self._schedule()

    def stopService(self):
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        return service.Service.stopService(self)

    def _schedule(self) -> None:
        self._due = self._clock.seconds() + self.LOOP_INTERVAL
        self._call = self._clock.callLater(self.LOOP_INTERVAL, self._fired)

    def _fired(self) -> None:
        self.samples.append(max(0.0, self._clock.seconds() - self._due))
        self._schedule()

    def get_stats(self) -> dict:
        if not self.samples:
            return {}
        return {"load_monitor.avg_load": sum(self.samples) / len(self.samples),
                "load_monitor.max_load": max(self.samples)}
