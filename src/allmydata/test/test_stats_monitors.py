"""The process-wide stats producers: CPU use on a fake clock and a fake CPU
timer, reactor lag on a fake clock, and the process and platform numbers."""

import os
import sys

import psutil
import pytest
from twisted.internet import task

from allmydata.cpu_monitor import CPUUsageMonitor, LoadMonitor
from allmydata.process_stats import ProcessStats


class FakeCPU:
    """CPU seconds the test decides."""

    def __init__(self):
        self.seconds = 100.0

    def __call__(self):
        return self.seconds


def _run_minutes(clock, cpu, fractions):
    """Advance one minute per entry, the process using that fraction of a CPU."""
    for fraction in fractions:
        cpu.seconds += 60 * fraction
        clock.advance(60)


def test_cpu_monitor_averages_over_1_5_and_15_minutes():
    clock, cpu = task.Clock(), FakeCPU()
    m = CPUUsageMonitor(clock, cpu_time=cpu)
    m.startService()
    try:
        # at start: one sample, no average yet, nothing used
        assert m.get_stats() == {"cpu_monitor.total": 0.0}
        _run_minutes(clock, cpu, [0.5])
        s = m.get_stats()
        assert s["cpu_monitor.1min_avg"] == pytest.approx(0.5)
        assert "cpu_monitor.5min_avg" not in s and "cpu_monitor.15min_avg" not in s
        assert s["cpu_monitor.total"] == pytest.approx(30.0)
        _run_minutes(clock, cpu, [0.1, 0.1, 0.1, 0.2])
        s = m.get_stats()
        assert s["cpu_monitor.1min_avg"] == pytest.approx(0.2)
        assert s["cpu_monitor.5min_avg"] == pytest.approx((0.5 + 0.3 + 0.2) / 5)
        assert "cpu_monitor.15min_avg" not in s
        _run_minutes(clock, cpu, [1.0] * 10)
        s = m.get_stats()
        assert s["cpu_monitor.1min_avg"] == pytest.approx(1.0)
        assert s["cpu_monitor.5min_avg"] == pytest.approx(1.0)
        assert s["cpu_monitor.15min_avg"] == pytest.approx((0.5 + 0.5 + 10) / 15)
        # older minutes drop out of the 15-minute average
        _run_minutes(clock, cpu, [0.0] * 5)
        s = m.get_stats()
        assert s["cpu_monitor.1min_avg"] == 0.0
        assert s["cpu_monitor.15min_avg"] == pytest.approx(10 / 15)
        assert len(m.samples) == CPUUsageMonitor.HISTORY_LENGTH + 1
        assert s["cpu_monitor.total"] == pytest.approx(30 + 0.5 * 60 + 10 * 60)
    finally:
        m.stopService()
    assert not clock.getDelayedCalls()


def test_cpu_monitor_total_counts_from_start():
    clock, cpu = task.Clock(), FakeCPU()
    m = CPUUsageMonitor(clock, cpu_time=cpu)
    cpu.seconds += 7  # before the node starts
    m.startService()
    cpu.seconds += 2.5
    assert m.get_stats()["cpu_monitor.total"] == pytest.approx(2.5)
    m.stopService()


def test_cpu_monitor_reads_the_process_cpu_time_by_default():
    clock = task.Clock()
    m = CPUUsageMonitor(clock)
    m.startService()
    sum(i * i for i in range(200_000))  # use some CPU
    total = m.get_stats()["cpu_monitor.total"]
    m.stopService()
    assert total > 0


def test_load_monitor_measures_how_late_timers_fire():
    clock = task.Clock()
    m = LoadMonitor(clock)
    m.startService()
    try:
        assert m.get_stats() == {}
        clock.advance(1.0)  # on time
        assert m.get_stats() == {"load_monitor.avg_load": 0.0, "load_monitor.max_load": 0.0}
        clock.advance(1.5)  # the reactor was busy: the timer fires half a second late
        clock.advance(1.1)
        s = m.get_stats()
        assert s["load_monitor.max_load"] == pytest.approx(0.5)
        assert s["load_monitor.avg_load"] == pytest.approx((0 + 0.5 + 0.1) / 3)
        # only the last minute counts
        for _ in range(LoadMonitor.NUM_SAMPLES):
            clock.advance(1.0)
        assert m.get_stats() == {"load_monitor.avg_load": 0.0, "load_monitor.max_load": 0.0}
    finally:
        m.stopService()
    assert not clock.getDelayedCalls()


def test_process_stats():
    clock = task.Clock()
    clock.advance(1000)
    p = ProcessStats(clock)
    p.start()
    clock.advance(42.5)
    s = p.get_stats()
    assert s["node.uptime"] == 42.5
    assert s["python.version.major"] == sys.version_info.major
    assert s["python.version.minor"] == sys.version_info.minor
    assert s["python.version.micro"] == sys.version_info.micro
    assert s["platform.cpu_count"] == os.cpu_count()
    rss = psutil.Process().memory_info().rss
    assert 0.5 * rss < s["memory.rss"] < 2 * rss
    assert s["memory.vms"] >= s["memory.rss"]
    assert s["process.threads"] >= 1
    if sys.platform.startswith("linux"):
        assert s["memory.peak_rss"] >= s["memory.rss"] * 0.5
        assert s["process.open_fds"] >= 3
        load = os.getloadavg()
        assert s["platform.load_average.15min"] == pytest.approx(load[2], abs=1.0)
    for name, value in s.items():
        assert isinstance(value, (int, float)) and not isinstance(value, bool), name


def test_open_fds_follow_the_process(tmp_path):
    if not hasattr(psutil.Process(), "num_fds"):
        pytest.skip("this platform does not count file descriptors")
    p = ProcessStats(task.Clock())
    before = p.get_stats()["process.open_fds"]
    files = [open(tmp_path / ("f%d" % i), "w") for i in range(5)]
    try:
        assert p.get_stats()["process.open_fds"] == before + 5
    finally:
        for f in files:
            f.close()
