"""The lease checker on real share files: both expiry modes, the share-kind
switches, scan-only counting, open uploads, corrupt files, its history and
state across a restart, and clients that still hold a share it deletes."""

import json
import os

import pytest
import pytest_twisted
from twisted.internet import task

from allmydata.storage.common import LEASE_DURATION, StorageError, si_str
from allmydata.storage.expirer import ExpirationPolicy
from allmydata.storage.immutable import ImmutableShareFile
from allmydata.storage.mutable import MutableShareFile
from allmydata.storage.server import StorageServer
from allmydata.stats import StatsProvider

from .planted import plant_immutable, plant_mutable, si_of
from .suite_data import LOCAL_NODEID, T0, secret, share_path, upload

DAY = 24 * 60 * 60
FAST = {"slow_start": 0, "minimum_cycle_time": 1000}
AGE = ExpirationPolicy(enabled=True, mode="age")


def renewed(days_ago: float) -> int:
    """The expiration time of a lease granted or renewed ``days_ago`` before T0."""
    return int(T0 - days_ago * DAY + LEASE_DURATION)


def make_server(storedir, policy, stats=None):
    clock = task.Clock()
    clock.advance(T0)
    server = StorageServer(storedir, LOCAL_NODEID, clock=clock, expiration_policy=policy,
                           crawler_pace=FAST, stats_provider=stats)
    server.clock = clock
    return server


def run_cycle(server):
    """Run the lease checker's next cycle; return its history entry."""
    checker = server.lease_checker
    before = checker.state["last-cycle-finished"]
    if not server.running:
        server.startService()
        server.clock.advance(0)
    else:
        server.clock.advance(checker.next_wake_time - server.clock.seconds())
    cycle = checker.state["last-cycle-finished"]
    assert cycle == (0 if before is None else before + 1)
    return checker.get_state()["history"][str(cycle)]


@pytest.fixture
def storedir(tmp_path):
    return str(tmp_path / "storage")


def exists(*paths):
    return [os.path.exists(p) for p in paths]


def test_age_mode_removes_expired_leases_and_unleased_shares(storedir):
    stats = StatsProvider()
    server = make_server(storedir, AGE, stats)
    gone_i = plant_immutable(storedir, si_of("expired immutable"), 0, [renewed(32)])
    gone_m = plant_mutable(storedir, si_of("expired mutable"), 3, [renewed(40), renewed(33)])
    kept_i = plant_immutable(storedir, si_of("leased immutable"), 0, [renewed(1)])
    kept_m = plant_mutable(storedir, si_of("leased mutable"), 0, [renewed(30)])
    mixed = plant_immutable(storedir, si_of("mixed"), 2, [renewed(45), renewed(2), renewed(50)])
    size = os.path.getsize(gone_i) + os.path.getsize(gone_m)
    cycle = run_cycle(server)
    assert exists(gone_i, gone_m, kept_i, kept_m, mixed) == [False, False, True, True, True]
    for path in (gone_i, gone_m):  # the bucket and its prefix directory went with it
        assert not os.path.exists(os.path.dirname(path))
    assert [lease.expiration_time for lease in ImmutableShareFile(mixed).get_leases()] == [
        renewed(2)]
    assert [lease.expiration_time for lease in MutableShareFile(kept_m).get_leases()] == [
        renewed(30)]
    sr = cycle["space-recovered"]
    assert cycle["expiration-enabled"] is True
    assert cycle["configured-expiration-mode"] == ["age", None, None, ["immutable", "mutable"]]
    assert (sr["examined-shares"], sr["examined-buckets"], sr["actual-shares"],
            sr["actual-buckets"], sr["actual-shares-mutable"], sr["actual-shares-immutable"],
            sr["actual-sharebytes"]) == (5, 5, 2, 2, 1, 1, size)
    assert sr["actual-diskbytes"] > 0 and sr["original-shares"] == 2
    assert cycle["leases-per-share-histogram"] == {"1": 3, "2": 1, "3": 1}
    assert sum(n for _low, _high, n in cycle["lease-age-histogram"]) == 8
    assert [1 * DAY, 2 * DAY, 1] in cycle["lease-age-histogram"]
    assert stats.get_stats()["counters"]["storage_server.bytes_freed"] == size
    server.stopService()


def test_age_mode_with_an_overriding_duration(storedir):
    server = make_server(storedir, ExpirationPolicy(enabled=True, mode="age",
                                                    override_lease_duration=10 * DAY))
    young = plant_immutable(storedir, si_of("9 days"), 0, [renewed(9)])
    old = plant_immutable(storedir, si_of("11 days"), 0, [renewed(11)])
    run_cycle(server)
    assert exists(young, old) == [True, False]
    server.stopService()


def test_cutoff_date_mode(storedir):
    cutoff = T0 - 5 * DAY
    server = make_server(storedir, ExpirationPolicy(enabled=True, mode="cutoff-date",
                                                    cutoff_date=cutoff))
    before = plant_mutable(storedir, si_of("before"), 0, [renewed(5.01)])
    after = plant_mutable(storedir, si_of("after"), 0, [renewed(4.99)])
    # its own expiration time passed long ago, but it was renewed after the cutoff:
    # in this mode only the renewal time counts
    cycle = run_cycle(server)
    assert exists(before, after) == [False, True]
    assert cycle["configured-expiration-mode"] == ["cutoff-date", None, cutoff,
                                                   ["immutable", "mutable"]]
    server.stopService()


@pytest.mark.parametrize("kinds", [("immutable",), ("mutable",), ()])
def test_share_kind_switches(storedir, kinds):
    server = make_server(storedir, ExpirationPolicy(enabled=True, mode="age", sharetypes=kinds))
    immutable = plant_immutable(storedir, si_of("i"), 0, [renewed(40)])
    mutable = plant_mutable(storedir, si_of("m"), 0, [renewed(40)])
    unleased_mutable = plant_mutable(storedir, si_of("m0"), 0, [])
    cycle = run_cycle(server)
    assert exists(immutable, mutable, unleased_mutable) == [
        "immutable" not in kinds, "mutable" not in kinds, "mutable" not in kinds]
    if "immutable" not in kinds:  # its lease is not even removed
        assert len(ImmutableShareFile(immutable).get_leases()) == 1
    assert cycle["space-recovered"]["configured-shares"] == len(kinds) + ("mutable" in kinds)
    server.stopService()


def test_with_expiry_disabled_nothing_is_removed_but_everything_is_counted(storedir):
    server = make_server(storedir, ExpirationPolicy(enabled=False, mode="age",
                                                    override_lease_duration=3 * DAY))
    paths = [plant_immutable(storedir, si_of("a"), 0, [renewed(40)]),
             plant_immutable(storedir, si_of("b"), 0, [renewed(4)]),
             plant_mutable(storedir, si_of("c"), 0, [renewed(1)])]
    before = [open(p, "rb").read() for p in paths]
    cycle = run_cycle(server)
    assert [open(p, "rb").read() for p in paths] == before
    sr = cycle["space-recovered"]
    assert (sr["examined-shares"], sr["original-shares"], sr["configured-shares"],
            sr["configured-buckets"], sr["actual-shares"]) == (3, 1, 2, 2, 0)
    assert cycle["expiration-enabled"] is False
    server.stopService()


def test_open_uploads_are_never_touched(storedir):
    server = make_server(storedir, AGE)
    si = si_of("uploading")
    r, c = secret("renew", 5), secret("cancel", 5)
    _, writers = server.remote_allocate_buckets(si, r, c, {1}, 100, object())
    writers[1].remote_write(0, b"w" * 50)  # half written
    # a complete share of the same storage index whose lease expired
    beside = plant_immutable(storedir, si, 0, [renewed(40)])
    # and, in incoming/, a file that no writer owns: never walked either
    stray_si = si_of("stray")
    stray = share_path(storedir, stray_si, 0, incoming=True)
    os.makedirs(os.path.dirname(stray))
    ImmutableShareFile.create(stray, 10, lease=(0, r, c, renewed(40)))
    incoming = share_path(storedir, si, 1, incoming=True)
    cycle = run_cycle(server)
    assert exists(beside, incoming, stray) == [True, True, True]
    assert cycle["space-recovered"]["actual-shares"] == 0
    assert cycle["space-recovered"]["examined-shares"] == 1
    writers[1].remote_write(50, b"w" * 50)
    writers[1].remote_close()
    run_cycle(server)  # the upload is over: the expired share goes, the new one stays
    assert exists(beside, share_path(storedir, si, 1)) == [False, True]
    server.stopService()


def test_a_corrupt_share_is_listed_and_kept(storedir):
    server = make_server(storedir, AGE)
    si = si_of("corrupt")
    bad = share_path(storedir, si, 4)
    os.makedirs(os.path.dirname(bad))
    with open(bad, "wb") as f:
        f.write(b"\x00\x00\x00\x09" + b"\x00" * 40)  # container version 9
    expired = plant_immutable(storedir, si_of("other"), 0, [renewed(40)])
    cycle = run_cycle(server)
    assert exists(bad, expired) == [True, False]
    assert cycle["corrupt-shares"] == [[si_str(si), 4]]
    server.stopService()


def test_history_keeps_ten_cycles_and_state_survives_a_restart(storedir):
    server = make_server(storedir, AGE)
    plant_immutable(storedir, si_of("kept"), 0, [renewed(1)])
    for _ in range(12):
        run_cycle(server)
    server.stopService()
    with open(os.path.join(storedir, "lease_checker.history.json")) as f:
        assert sorted(json.load(f), key=int) == [str(n) for n in range(2, 12)]
    again = make_server(storedir, AGE)
    again.clock.advance(T0 + 12 * 1000 - again.clock.seconds())
    assert again.lease_checker.state["last-cycle-finished"] == 11
    assert run_cycle(again)["space-recovered"]["examined-shares"] == 1
    assert sorted(again.lease_checker.get_state()["history"], key=int)[-1] == "12"
    again.stopService()


def test_a_cycle_cut_by_a_restart_keeps_its_counts(storedir):
    server = make_server(storedir, AGE)
    names = sorted(os.path.basename(os.path.dirname(
        plant_immutable(storedir, si_of("n%d" % i), 0, [renewed(40 if i % 2 else 1)])))
        for i in range(20))
    checker = server.lease_checker
    checker.startService()  # the checker alone, and it stops after its first bucket
    # a CPU meter that reads "over budget" once the slice has finished a bucket
    checker._cpu_time = lambda: 1000 if checker.state["last-complete-bucket"] else 0
    server.clock.advance(0)
    checker.stopService()
    assert checker.state["last-complete-bucket"] == names[0]
    so_far = checker.state["cycle-to-date"]["space-recovered"]["examined-shares"]
    assert so_far == 1
    again = make_server(storedir, AGE)
    assert again.lease_checker.state["cycle-to-date"]["space-recovered"]["examined-shares"] == 1
    cycle = run_cycle(again)
    sr = cycle["space-recovered"]
    assert (sr["examined-shares"], sr["actual-shares"]) == (20, 10)
    again.stopService()


def test_get_state_has_tahoe_keys_during_and_between_cycles(storedir):
    server = make_server(storedir, AGE)
    for i in range(40):
        plant_immutable(storedir, si_of("k%d" % i), 0, [renewed(1)])
    checker = server.lease_checker
    state = checker.get_state()
    assert set(state) == {"version", "last-cycle-finished", "current-cycle",
                          "current-cycle-start-time", "last-complete-prefix",
                          "last-complete-bucket", "history"}
    assert set(checker.get_progress()) == {"cycle-in-progress", "next-crawl-time",
                                           "remaining-wait-time", "estimated-time-per-cycle"}
    checker.startService()
    ticks = iter(range(0, 10 ** 6))
    checker._cpu_time = lambda: next(ticks) * 0.01  # a few buckets a slice
    server.clock.advance(0)
    state = checker.get_state()
    assert state["current-cycle"] == 0
    assert set(state) >= {"cycle-to-date", "estimated-remaining-cycle",
                          "estimated-current-cycle"}
    assert set(state["cycle-to-date"]) == {"corrupt-shares", "space-recovered",
                                           "lease-age-histogram", "leases-per-share-histogram",
                                           "expiration-enabled", "configured-expiration-mode"}
    assert len(state["cycle-to-date"]["space-recovered"]) == 48
    assert set(checker.get_progress()) == {
        "cycle-in-progress", "cycle-complete-percentage", "estimated-cycle-complete-time-left",
        "remaining-sleep-time", "estimated-time-per-cycle"}
    checker.stopService()


# ---- a client that holds a share the server deletes --------------------------------------

@pytest_twisted.ensureDeferred
async def test_expiry_racing_a_reader(make_transport):
    t = await make_transport(expiration_policy=AGE, crawler_pace=FAST)
    si = si_of("read while it expires")
    await upload(t, si, {0: b"a" * 1000, 1: b"b" * 1000})
    readers = await t.server.call("get_buckets", si)
    assert await readers[0].call("read", 0, 10) == b"a" * 10
    t.clock.advance(LEASE_DURATION + 1)  # the lease expires; the checker walks (slow start 0)
    assert not os.path.exists(share_path(t.storedir, si, 0))
    with t.raises(StorageError) as e:
        await readers[0].call("read", 10, 10)
    assert "no longer exists" in str(e.value)
    assert await readers[1].call("advise_corrupt_share", b"gone") is None
    # the server goes on serving
    assert await t.server.call("get_buckets", si) == {}
    await upload(t, si_of("after"), {0: b"c" * 10})
    readers = await t.server.call("get_buckets", si_of("after"))
    assert await readers[0].call("read", 0, 10) == b"c" * 10


@pytest_twisted.ensureDeferred
async def test_cancel_lease_racing_a_reader(make_transport):
    t = await make_transport()
    si = si_of("read while cancelled")
    await upload(t, si, {0: b"a" * 1000})
    readers = await t.server.call("get_buckets", si)
    await t.server.call("cancel_lease", si, secret("cancel"))
    with t.raises(StorageError) as e:
        await readers[0].call("read", 0, 10)
    assert "no longer exists" in str(e.value)
    assert await t.server.call("get_version")


def test_resumes_from_a_state_file_tahoe_lafs_saved_in_mid_cycle(storedir):
    """Tahoe-LAFS 1.20 saves what its get_state() answers: the history and
    the estimates beside the position, and the lease age histogram as a
    list.  Its cycle goes on from there."""
    planted = {}
    for i in range(12):
        path = plant_immutable(storedir, si_of("t%d" % i), 0, [renewed(40)])
        planted[os.path.basename(os.path.dirname(path))] = path
    names = sorted(planted)
    position = names[5][:2]
    done_before = [n for n in names if n[:2] <= position]
    so_far = {"corrupt-shares": [], "lease-age-histogram": [[0, DAY, 3]],
              "leases-per-share-histogram": {"1": 3},
              "space-recovered": {"examined-shares": 3, "examined-buckets": 3},
              "expiration-enabled": False,
              "configured-expiration-mode": ["age", None, None, ["mutable", "immutable"]]}
    with open(os.path.join(storedir, "lease_checker.state.json"), "w") as f:
        json.dump({"version": 1, "last-cycle-finished": 4, "current-cycle": 5,
                   "current-cycle-start-time": T0 - 100, "last-complete-prefix": position,
                   "last-complete-bucket": max(done_before), "cycle-to-date": so_far,
                   "history": {"4": {}}, "estimated-remaining-cycle": {},
                   "estimated-current-cycle": {}}, f)
    server = make_server(storedir, AGE)
    assert server.lease_checker.state["current-cycle"] == 5
    cycle = run_cycle(server)
    assert server.lease_checker.state["last-cycle-finished"] == 5
    sr = cycle["space-recovered"]
    assert sr["examined-shares"] == 3 + len(names) - len(done_before)
    assert sr["actual-shares"] == len(names) - len(done_before)
    assert [0, DAY, 3] in cycle["lease-age-histogram"]
    assert [os.path.exists(planted[n]) for n in names] == [
        n in done_before for n in names]
    server.stopService()


def test_an_unreadable_history_is_set_aside(storedir):
    os.makedirs(storedir)
    history = os.path.join(storedir, "lease_checker.history.json")
    with open(history, "w") as f:
        f.write('{"0": [1, 2]}')
    server = make_server(storedir, AGE)
    assert server.lease_checker.history == {}
    assert os.path.exists(history + ".corrupt")
    assert run_cycle(server)["space-recovered"]["examined-shares"] == 0
    server.stopService()
