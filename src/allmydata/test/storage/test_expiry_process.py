"""Lease expiry on a real storage node process (``tahoe start``), with a
crawler pace that does not make the test wait: expired shares go, leased
ones stay, an upload in progress is untouched, and the lease checker goes on
where it stopped after ``tahoe restart`` and after a stop in mid-cycle."""

import calendar
import json
import os
import time

import pytest
import pytest_twisted
from foolscap.api import Referenceable, Tub
from twisted.internet import reactor, task

from allmydata.storage.common import LEASE_DURATION, si_str
from allmydata.storage.crawler import PREFIXES
from allmydata.storage.expirer import empty_cycle
from allmydata.testing.nodeconfig import edit_config
from allmydata.testing.nodegrid import http_request
from allmydata.testing.ports import free_port
from allmydata.testing.processes import NodeProcesses, read_text, run_tahoe, stop_process_grid
from allmydata.util.rrefutil import call_remote

from .planted import lease_secret, plant_immutable, plant_mutable, share_file, si_of

pytestmark = pytest.mark.integration

DAY = 24 * 60 * 60


def renewed(days_ago: float) -> int:
    return int(time.time() - days_ago * DAY + LEASE_DURATION)


def storage_node(tmp_path, storage_settings):
    d = str(tmp_path / "storage")
    run_tahoe("create-node", "--nickname", "gc", "--hostname", "127.0.0.1", "--webport",
              "tcp:%d:interface=127.0.0.1" % free_port(), d)
    edit_config(d, {"storage": {"crawler.slow_start": "0", "crawler.minimum_cycle_time": "1",
                                "expire.enabled": "true", **storage_settings}})
    return d


async def storage_json(basedir) -> dict:
    url = read_text(os.path.join(basedir, "node.url"))
    r = await http_request("GET", url + "storage?t=json")
    assert r.code == 200, r.text
    return json.loads(r.body)


async def cycles_finished(basedir, at_least: int, timeout=60) -> dict:
    """Wait until the lease checker has finished cycle ``at_least``; its state."""
    deadline = time.monotonic() + timeout
    while True:
        state = (await storage_json(basedir))["lease-checker"]
        finished = state["last-cycle-finished"]
        if finished is not None and finished >= at_least:
            return state
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for lease checker cycle %d (at %r)"
                                 % (at_least, finished))
        await task.deferLater(reactor, 0.2, lambda: None)


@pytest_twisted.ensureDeferred
async def test_age_expiry_on_a_node_and_the_checker_resumes_after_restart(tmp_path):
    basedir = storage_node(tmp_path, {"expire.mode": "age"})
    storedir = os.path.join(basedir, "storage")
    expired = [plant_immutable(storedir, si_of("expired %d" % i), 0, [renewed(32 + i)])
               for i in range(3)]
    expired.append(plant_mutable(storedir, si_of("expired mutable"), 2, [renewed(40)]))
    leased = [plant_immutable(storedir, si_of("leased"), 0, [renewed(1)]),
              plant_mutable(storedir, si_of("leased mutable"), 0, [renewed(30), renewed(50)])]
    procs = NodeProcesses()
    tub = Tub()
    tub.startService()
    try:
        procs.start(basedir, wait_file="node.url")
        state = await cycles_finished(basedir, 0)
        assert [os.path.exists(p) for p in expired + leased] == [False] * 4 + [True] * 2
        last = state["history"]["0"]["space-recovered"]
        assert (last["examined-shares"], last["actual-shares"], last["actual-buckets"]) == (
            6, 4, 4)

        # an upload in progress, beside an expired share planted after it began
        ss = await tub.getReference(read_text(os.path.join(basedir, "private",
                                                           "storage.furl")))
        si = si_of("uploading")
        _, writers = await call_remote(ss, "allocate_buckets", si, lease_secret("renew", 9),
                                       lease_secret("cancel", 9), {1}, 20, Referenceable())
        await call_remote(writers[1], "write", 0, b"u" * 10)
        beside = plant_immutable(storedir, si, 0, [renewed(40)])
        incoming = os.path.join(storedir, "shares", "incoming", si_str(si)[:2], si_str(si), "1")
        seen = (await storage_json(basedir))["lease-checker"]["last-cycle-finished"]
        await cycles_finished(basedir, seen + 2)
        assert os.path.exists(beside) and os.path.exists(incoming)
        await call_remote(writers[1], "write", 10, b"u" * 10)
        await call_remote(writers[1], "close")
        seen = (await storage_json(basedir))["lease-checker"]["last-cycle-finished"]
        await cycles_finished(basedir, seen + 2)
        assert not os.path.exists(beside) and os.path.exists(share_file(storedir, si, 1))
        # (the blocking tahoe commands below would hold up this process's side of the
        # connection while the node shuts it down)
        await tub.stopService()

        # tahoe restart: the cycle count and the history go on
        before = (await storage_json(basedir))["lease-checker"]
        run_tahoe("restart", basedir)
        state = await cycles_finished(basedir, before["last-cycle-finished"] + 1)
        assert set(before["history"]) - set(state["history"]) <= {
            min(before["history"], key=int)}  # at most the oldest of ten left the history
        assert all(os.path.exists(p) for p in leased)

        # stopped in mid-cycle: the next run walks only what that cycle had left
        run_tahoe("stop", basedir)
        statefile = os.path.join(storedir, "lease_checker.state.json")
        with open(statefile) as f:
            saved = json.load(f)
        cycle = saved["last-cycle-finished"] + 1
        early = plant_immutable(storedir, si_of("early"), 0, [renewed(40)])
        late = plant_immutable(storedir, si_of("late"), 0, [renewed(40)])
        early, late = sorted([early, late], key=lambda p: os.path.basename(os.path.dirname(p)))
        position = PREFIXES[PREFIXES.index(os.path.basename(os.path.dirname(
            os.path.dirname(late)))) - 1]
        assert os.path.basename(os.path.dirname(early)) <= position + "~"
        buckets_after = 0
        for prefix in PREFIXES:
            prefixdir = os.path.join(storedir, "shares", prefix)
            if prefix > position and os.path.isdir(prefixdir):
                buckets_after += len(os.listdir(prefixdir))
        saved.update({"current-cycle": cycle, "last-complete-prefix": position,
                      "last-complete-bucket": None, "cycle-to-date": empty_cycle()})
        with open(statefile, "w") as f:
            json.dump(saved, f)
        procs.start(basedir, wait_file="node.url")
        state = await cycles_finished(basedir, cycle)
        resumed = state["history"][str(cycle)]["space-recovered"]
        assert (resumed["examined-buckets"], resumed["actual-shares"]) == (buckets_after, 1)
        assert not os.path.exists(late)
        state = await cycles_finished(basedir, cycle + 1)
        assert not os.path.exists(early) and all(os.path.exists(p) for p in leased)
    finally:
        if tub.running:
            await tub.stopService()
        stop_process_grid(procs)


@pytest_twisted.ensureDeferred
async def test_cutoff_date_expiry_on_a_node(tmp_path):
    today = time.strftime("%Y-%m-%d", time.gmtime())
    midnight = calendar.timegm(time.strptime(today, "%Y-%m-%d"))
    basedir = storage_node(tmp_path, {"expire.mode": "cutoff-date",
                                      "expire.cutoff_date": today, "expire.mutable": "false"})
    storedir = os.path.join(basedir, "storage")
    before = midnight - 3600 + LEASE_DURATION  # renewed an hour before the cutoff
    gone = plant_immutable(storedir, si_of("before"), 0, [before])
    kept_mutable = plant_mutable(storedir, si_of("mutable before"), 0, [before])
    kept = plant_immutable(storedir, si_of("today"), 0, [int(time.time()) + LEASE_DURATION])
    procs = NodeProcesses()
    try:
        procs.start(basedir, wait_file="node.url")
        state = await cycles_finished(basedir, 0)
        assert [os.path.exists(p) for p in (gone, kept_mutable, kept)] == [False, True, True]
        assert state["history"]["0"]["configured-expiration-mode"] == [
            "cutoff-date", None, midnight, ["immutable"]]
    finally:
        stop_process_grid(procs)
