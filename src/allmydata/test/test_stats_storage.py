"""The storage server's statistics: latency samples and their percentiles,
the operation counters, and the space figures (names as Tahoe-LAFS 1.20's)."""

import os

import pytest
from twisted.internet import task

from allmydata.stats import StatsProvider
from allmydata.storage.common import NoSuchLeaseError
from allmydata.storage.server import LATENCY_CATEGORIES, StorageServer
from allmydata.storage.space import DiskStats
from allmydata.util.latencies import PERCENTILES, WINDOW, LatencySamples, summarise

PERCENTILE_NAMES = [name for _, name, _ in PERCENTILES]


class Canary:
    """An in-process uploader's canary (no connection to watch)."""


def _secret(kind: str, n: int = 0) -> bytes:
    return (kind.encode() * 32)[:31] + bytes([n])


# ---- summaries of known samples ------------------------------------------------------

def test_summary_of_one_sample_has_no_mean_and_no_percentiles():
    assert summarise([0.5]) == dict({"samplesize": 1, "mean": None},
                                    **{name: None for name in PERCENTILE_NAMES})


def test_percentiles_of_ten_samples():
    # 1..10 ms, shuffled: the summary sorts them
    samples = [0.001 * i for i in (7, 3, 10, 1, 5, 2, 9, 4, 8, 6)]
    s = summarise(samples)
    assert s["samplesize"] == 10
    assert s["mean"] == pytest.approx(0.0055)
    # index int(p * 10) of the sorted samples
    assert s["10_0_percentile"] == pytest.approx(0.002)
    assert s["50_0_percentile"] == pytest.approx(0.006)
    assert s["90_0_percentile"] == pytest.approx(0.010)
    # too few samples for these to mean anything
    for name in ("01_0_percentile", "95_0_percentile", "99_0_percentile", "99_9_percentile"):
        assert s[name] is None


def test_percentiles_of_a_full_window():
    samples = list(range(WINDOW))  # 0 .. 999
    s = summarise(reversed(samples))
    assert s["samplesize"] == 1000
    assert s["mean"] == pytest.approx(499.5)
    assert [s[name] for name in PERCENTILE_NAMES] == [10, 100, 500, 900, 950, 990, 999]


def test_twenty_samples_give_the_95th_but_not_the_99th():
    s = summarise([float(i) for i in range(20)])
    assert s["95_0_percentile"] == 19.0
    assert s["99_0_percentile"] is None and s["01_0_percentile"] is None


def test_the_window_keeps_the_most_recent_samples():
    lat = LatencySamples(["write"], window=5)
    for i in range(12):
        lat.add("write", float(i))
    summary = lat.summary()["write"]
    assert summary["samplesize"] == 5
    assert summary["mean"] == pytest.approx((7 + 8 + 9 + 10 + 11) / 5)


def test_default_window_is_a_thousand_samples():
    lat = LatencySamples()
    for i in range(2500):
        lat.add("read", float(i))
    s = lat.summary()["read"]
    assert s["samplesize"] == 1000
    assert s["mean"] == pytest.approx(sum(range(1500, 2500)) / 1000)
    assert s["99_9_percentile"] == 2499.0


def test_categories_without_samples_are_not_reported():
    lat = LatencySamples(["a", "b"])
    lat.add("b", 0.25)
    lat.add("c", 0.5)  # a category not given in advance gets a window too
    assert set(lat.summary()) == {"b", "c"}
    stats = lat.stats("x.latencies")
    assert stats["x.latencies.b.samplesize"] == 1
    assert stats["x.latencies.c.mean"] is None
    assert not any(k.startswith("x.latencies.a.") for k in stats)


# ---- the storage server ----------------------------------------------------------------

@pytest.fixture
def server(tmp_path):
    clock = task.Clock()
    clock.advance(1_700_000_000)
    stats = StatsProvider(clock=clock)
    ss = StorageServer(str(tmp_path / "storage"), bytes(range(20)), clock=clock,
                       stats_provider=stats)
    ss.stats = stats
    return ss


def _upload(ss, si, data=b"x" * 1000, shnums=(0, 1)):
    already, writers = ss.remote_allocate_buckets(si, _secret("r"), _secret("c"), set(shnums),
                                                  len(data), Canary())
    for w in writers.values():
        w.remote_write(0, data[:500])
        w.remote_write(500, data[500:])
        w.remote_close()
    return writers


def _latency(ss, op, name="samplesize"):
    return ss.get_stats().get("storage_server.latencies.%s.%s" % (op, name))


def test_every_storage_operation_is_timed_and_counted(server):
    ss = server
    si = os.urandom(16)
    _upload(ss, si)
    readers = ss.remote_get_buckets(si)
    assert readers[0].remote_read(0, 1000) == b"x" * 1000
    ss.remote_add_lease(si, _secret("r", 2), _secret("c", 2))
    ss.remote_renew_lease(si, _secret("r", 2))
    ss.remote_cancel_lease(si, _secret("c", 2))
    msi = os.urandom(16)
    ok, _ = ss.remote_slot_testv_and_readv_and_writev(
        msi, (_secret("w"), _secret("r"), _secret("c")), {0: ([], [(0, b"mutable")], None)}, [])
    assert ok
    assert ss.remote_slot_readv(msi, [0], [(0, 7)]) == {0: [b"mutable"]}

    expected = {"allocate": 1, "write": 4, "close": 2, "get": 1, "read": 1, "add-lease": 1,
                "renew": 1, "cancel": 1, "writev": 1, "readv": 1}
    assert set(expected) == set(LATENCY_CATEGORIES)
    stats = ss.get_stats()
    for op, n in expected.items():
        prefix = "storage_server.latencies.%s." % op
        assert stats[prefix + "samplesize"] == n, op
        assert set(k[len(prefix):] for k in stats if k.startswith(prefix)) == \
            {"samplesize", "mean"} | set(PERCENTILE_NAMES)
        mean = stats[prefix + "mean"]
        assert mean is None if n == 1 else mean >= 0
    counters = ss.stats.get_stats()["counters"]
    for op, n in expected.items():
        assert counters["storage_server." + op] == n, op
    assert counters["storage_server.bytes_added"] > 2000


def test_refused_calls_are_counted_but_not_timed(server):
    ss = server
    si = os.urandom(16)
    _upload(ss, si)
    with pytest.raises(NoSuchLeaseError):
        ss.remote_renew_lease(si, _secret("nobody"))
    with pytest.raises(NoSuchLeaseError):
        ss.remote_cancel_lease(si, _secret("nobody"))
    assert ss.stats.get_stats()["counters"]["storage_server.renew"] == 1
    assert _latency(ss, "renew") is None
    assert _latency(ss, "cancel") is None


def test_latency_samples_are_bounded(server):
    ss = server
    si = os.urandom(16)
    _already, writers = ss.remote_allocate_buckets(si, _secret("r"), _secret("c"), {0},
                                                   2 * WINDOW + 10, Canary())
    w = writers[0]
    for offset in range(2 * WINDOW + 10):
        w.remote_write(offset, b"y")
    assert _latency(ss, "write") == WINDOW
    assert ss.stats.get_stats()["counters"]["storage_server.write"] == 2 * WINDOW + 10
    assert _latency(ss, "write", "99_9_percentile") >= _latency(ss, "write", "50_0_percentile")


class Disk:
    def __init__(self, total, free):
        self.total, self.free = total, free

    def __call__(self, path):
        return DiskStats(total=self.total, used=self.total - self.free,
                         free_for_root=self.free, free_for_nonroot=self.free - 10)


def test_space_stats(tmp_path):
    ss = StorageServer(str(tmp_path / "s"), bytes(20), reserved_space=1000,
                       clock=task.Clock(), disk_stats=Disk(10**9, 10**6))
    stats = ss.get_stats()
    assert stats["storage_server.reserved_space"] == 1000
    assert stats["storage_server.disk_total"] == 10**9
    assert stats["storage_server.disk_used"] == 10**9 - 10**6
    assert stats["storage_server.disk_free_for_root"] == 10**6
    assert stats["storage_server.disk_free_for_nonroot"] == 10**6 - 10
    assert stats["storage_server.disk_avail"] == 10**6 - 10 - 1000
    assert stats["storage_server.accepting_immutable_shares"] == 1
    assert stats["storage_server.allocated"] == 0
    _already, writers = ss.remote_allocate_buckets(os.urandom(16), _secret("r"), _secret("c"),
                                                   {0, 1}, 5000, Canary())
    assert ss.get_stats()["storage_server.allocated"] == 10000
    assert ss.get_stats()["storage_server.active_uploads"] == 2


def test_a_full_or_readonly_server_does_not_accept_immutable_shares(tmp_path):
    full = StorageServer(str(tmp_path / "a"), bytes(20), reserved_space=10**6,
                         clock=task.Clock(), disk_stats=Disk(10**9, 10**6))
    assert full.get_stats()["storage_server.accepting_immutable_shares"] == 0
    assert full.get_stats()["storage_server.disk_avail"] == 0
    ro = StorageServer(str(tmp_path / "b"), bytes(20), readonly_storage=True,
                       clock=task.Clock(), disk_stats=Disk(10**9, 10**8))
    assert ro.get_stats()["storage_server.accepting_immutable_shares"] == 0
    assert ro.get_stats()["storage_server.disk_avail"] == 0
