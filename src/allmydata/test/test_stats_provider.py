"""The stats provider: counters, producers, the process-wide producers it
runs, and its remote ``get_stats`` (the 2008 schema: byte-string keys and
numbers only), called over real Foolscap on 127.0.0.1."""

import math

import pytest
import pytest_twisted
from foolscap.api import Tub
from twisted.internet import task
from twisted.logger import globalLogPublisher
from zope.interface import implementer

from allmydata.stats import StatsProvider, is_number, wire_section
from allmydata.stats_interfaces import MAX_STAT_NAME, MAX_STATS, IStatsProducer
from allmydata.testing.tubs import start_tub
from allmydata.util.rrefutil import call_remote


@implementer(IStatsProducer)
class Producer:
    def __init__(self, stats):
        self.stats = stats

    def get_stats(self):
        return dict(self.stats)


class FakeCPU:
    def __init__(self):
        self.seconds = 10.0

    def __call__(self):
        return self.seconds


def test_counters_add_up_and_producers_are_merged():
    sp = StatsProvider(clock=task.Clock())
    sp.count("uploader.files_uploaded")
    sp.count("uploader.files_uploaded")
    sp.count("uploader.bytes_uploaded", 1234)
    sp.register_producer(Producer({"a.one": 1, "a.two": 2.5}))
    sp.register_producer(Producer({"b.three": 3}))
    stats = sp.get_stats()
    assert set(stats) == {"counters", "stats"}
    assert stats["counters"] == {"uploader.files_uploaded": 2, "uploader.bytes_uploaded": 1234}
    assert stats["stats"]["a.one"] == 1 and stats["stats"]["a.two"] == 2.5
    assert stats["stats"]["b.three"] == 3


@implementer(IStatsProducer)
class Failing:
    def get_stats(self):
        raise OSError("the disk went away")


def test_a_failing_producer_is_left_out():
    sp = StatsProvider(clock=task.Clock())
    sp.register_producer(Producer({"a.one": 1}))
    sp.register_producer(Failing())
    sp.register_producer(Producer({"b.two": 2}))
    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        stats = sp.get_stats()["stats"]
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert stats["a.one"] == 1 and stats["b.two"] == 2
    assert "node.uptime" in stats
    (failure,) = [e["log_failure"] for e in events if "log_failure" in e]
    assert "the disk went away" in str(failure.value)


def test_a_producer_must_provide_the_interface():
    sp = StatsProvider(clock=task.Clock())
    with pytest.raises(TypeError):
        sp.register_producer(object())


def test_a_started_provider_runs_the_process_monitors():
    clock, cpu = task.Clock(), FakeCPU()
    sp = StatsProvider(clock=clock, cpu_time=cpu)
    sp.startService()
    try:
        for _ in range(60):
            cpu.seconds += 0.25
            clock.advance(1.0)
        stats = sp.get_stats()["stats"]
        assert stats["node.uptime"] == 60.0
        assert stats["cpu_monitor.1min_avg"] == pytest.approx(0.25)
        assert stats["cpu_monitor.total"] == pytest.approx(15.0)
        assert stats["load_monitor.avg_load"] == 0.0
        assert stats["load_monitor.max_load"] == 0.0
        assert stats["memory.rss"] > 0
        assert stats["python.version.major"] == 3
    finally:
        sp.stopService()
    assert not clock.getDelayedCalls()


def test_only_finite_numbers_go_over_the_wire():
    assert is_number(3) and is_number(0.5) and is_number(-2)
    for bad in (None, True, False, math.nan, math.inf, "3", b"3", [1]):
        assert not is_number(bad), bad
    section = wire_section({"ok.int": 1, "ok.float": 0.25, "none": None, "flag": True,
                            "nan": math.nan, "text": "x", "é.name": 7,
                            "x" * (MAX_STAT_NAME + 1): 5, "x" * MAX_STAT_NAME: 6})
    assert section == {b"ok.int": 1, b"ok.float": 0.25, "é.name".encode("utf-8"): 7,
                       b"x" * MAX_STAT_NAME: 6}


def test_no_more_names_than_the_interface_allows_go_over_the_wire():
    section = wire_section({"s.%05d" % i: i for i in range(MAX_STATS + 50)})
    assert len(section) == MAX_STATS
    assert b"s.00000" in section and ("s.%05d" % (MAX_STATS - 1)).encode() in section


@pytest_twisted.ensureDeferred
async def test_remote_get_stats_keeps_the_2008_schema():
    clock = task.Clock()
    sp = StatsProvider(clock=clock)
    sp.startService()
    sp.count("storage_server.add-lease", 3)
    sp.register_producer(Producer({
        "storage_server.latencies.get.mean": None,  # too few samples: local callers see None
        "storage_server.latencies.get.samplesize": 1,
        "weird.bool": True,
    }))
    server = start_tub()
    client = Tub()
    client.startService()
    try:
        furl = server.registerReference(sp)
        rref = await client.getReference(furl)
        answer = await call_remote(rref, "get_stats")
    finally:
        sp.stopService()
        await client.stopService()
        await server.stopService()
    assert set(answer) == {b"counters", b"stats"}
    assert answer[b"counters"] == {b"storage_server.add-lease": 3}
    stats = answer[b"stats"]
    assert all(isinstance(k, bytes) for k in stats)
    assert all(is_number(v) for v in stats.values())
    assert stats[b"storage_server.latencies.get.samplesize"] == 1
    assert b"storage_server.latencies.get.mean" not in stats
    assert b"weird.bool" not in stats
    assert b"node.uptime" in stats and b"cpu_monitor.total" in stats and b"memory.rss" in stats
    local = sp.get_stats()["stats"]
    assert local["storage_server.latencies.get.mean"] is None
