"""``/storage`` of a storage node: the HTML page and ``?t=json``, compared
with what Tahoe-LAFS 1.20 answers (a reference node's own page, and its
storage server's lease checker run over the same share files)."""

import json
import os
import shutil
import subprocess
import time
import urllib.request

import pytest
import pytest_twisted
from twisted.internet import reactor, task
from twisted.web.template import flattenString, tags

from allmydata.node import create_node
from allmydata.scripts.runner import main
from allmydata.storage.common import LEASE_DURATION
from allmydata.storage.expirer import ExpirationPolicy
from allmydata.storage.server import StorageServer
from allmydata.testing import refvenv
from allmydata.testing.nodeconfig import edit_config
from allmydata.testing.nodegrid import http_request
from allmydata.testing.ports import free_port
from allmydata.testing.reference import ReferenceNode
from allmydata.testing.waiting import eventually, wait_for
from allmydata.web.storage_status import status_page

from ..storage.planted import plant_immutable, plant_mutable, si_of

DAY = 24 * 60 * 60
#: how many days before now the planted leases were granted or renewed (half
#: days, far from the edges of the one-day bins of the lease age histogram)
RENEWED = {"a": [1.5], "b": [5.5, 12.5], "c": [40.5], "d": [12.5], "e": [33.5, 2.5]}
MUTABLE = {"d", "e"}
#: the age-mode duration both implementations are given (Tahoe-LAFS 1.20 never
#: expires a lease in age mode without one)
OVERRIDE_DAYS = 10


def plant_shares(storedir, now):
    for name, ages in RENEWED.items():
        expirations = [int(now - age * DAY + LEASE_DURATION) for age in ages]
        plant = plant_mutable if name in MUTABLE else plant_immutable
        plant(storedir, si_of(name), 0, expirations)
    plant_immutable(storedir, si_of("b"), 1, [int(now - 3.5 * DAY + LEASE_DURATION)])


def storage_node_dir(basedir, settings):
    assert main(["create-node", "--hostname", "127.0.0.1", "--webport",
                 "tcp:0:interface=127.0.0.1", basedir]) == 0
    edit_config(basedir, {"storage": settings})
    return basedir


@pytest_twisted.async_yield_fixture(scope="module")
async def crawled(tmp_path_factory):
    """A storage node of ours whose crawlers have each finished a cycle over
    the planted shares: (node, base URL, a copy of its storage directory as
    the crawlers found it)."""
    top = tmp_path_factory.mktemp("storage-status")
    basedir = storage_node_dir(str(top / "node"), {
        "crawler.slow_start": "0", "expire.mode": "age",
        "expire.override_lease_duration": "%d days" % OVERRIDE_DAYS,
        "reserved_space": "1M"})
    storedir = os.path.join(basedir, "storage")
    plant_shares(storedir, time.time())
    pristine = str(top / "pristine")
    shutil.copytree(storedir, pristine)
    node = create_node(basedir, reactor)
    node.startService()
    try:
        ss = node.storage_server
        await eventually(lambda: ss.lease_checker.state["last-cycle-finished"] == 0
                         and ss.bucket_counter.state["last-cycle-finished"] == 0, 30,
                         what="a cycle of both crawlers")
        yield node, node.web.url, pristine
    finally:
        await node.stopService()


def shape(value):
    """The structure of a JSON value: objects keep their keys."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


@pytest_twisted.ensureDeferred
async def test_json_of_a_crawled_server(crawled):
    node, url, _ = crawled
    r = await http_request("GET", url + "storage?t=json")
    assert r.code == 200 and r.header("content-type").startswith("application/json")
    data = json.loads(r.body)
    assert set(data) == {"stats", "bucket-counter", "lease-checker", "lease-checker-progress"}
    stats = data["stats"]
    assert stats["storage_server.reserved_space"] == 1000 ** 2
    assert stats["storage_server.disk_avail"] == (
        stats["storage_server.disk_free_for_nonroot"] - 1000 ** 2)
    assert stats["storage_server.total_bucket_count"] == len(RENEWED)
    assert data["bucket-counter"]["last-complete-bucket-count"] == len(RENEWED)
    checker = data["lease-checker"]
    assert checker["last-cycle-finished"] == 0 and "cycle-to-date" not in checker
    last = checker["history"]["0"]
    sr = last["space-recovered"]
    # 6 shares; expired by their own time: c; by the 10-day duration: c and d (each
    # of the others holds a lease renewed less than 10 days ago)
    assert (sr["examined-shares"], sr["examined-buckets"], sr["examined-buckets-mutable"],
            sr["original-shares"], sr["configured-shares"], sr["configured-buckets"],
            sr["actual-shares"]) == (6, 5, 2, 1, 2, 2, 0)
    assert last["configured-expiration-mode"] == ["age", OVERRIDE_DAYS * DAY, None,
                                                  ["immutable", "mutable"]]
    progress = data["lease-checker-progress"]
    assert progress["cycle-in-progress"] is False and progress["remaining-wait-time"] > 0


@pytest_twisted.ensureDeferred
async def test_html_of_a_crawled_server(crawled):
    node, url, _ = crawled
    r = await http_request("GET", url + "storage")
    assert r.code == 200 and r.header("content-type").startswith("text/html")
    text = r.text
    for phrase in ("Storage Server Status", "Reserved space:", "Space Available to Tahoe:",
                   "(1000000)", "Total buckets: 5", "Accepting new shares: Yes",
                   "Disabled: scan-only mode", "more than 10 days ago",
                   "Last complete cycle", "and saw a total of 6 shares, 5 buckets",
                   "it would have removed: 2 shares, 2 buckets", node.nodeid_s):
        assert phrase in text, phrase
    bad = await http_request("GET", url + "storage?t=bogus")
    assert bad.code == 400


@pytest_twisted.ensureDeferred
async def test_a_node_without_storage_says_so(tmp_path):
    basedir = str(tmp_path / "client")
    assert main(["create-client", "--webport", "tcp:0:interface=127.0.0.1", basedir]) == 0
    node = create_node(basedir, reactor)
    node.startService()
    try:
        html = await http_request("GET", node.web.url + "storage")
        assert html.code == 200 and "No Storage Server Running" in html.text
        assert (await http_request("GET", node.web.url + "storage?t=json")).code == 404
    finally:
        await node.stopService()


# ---- Tahoe-LAFS 1.20 ----------------------------------------------------------------

@pytest.fixture(scope="module")
def tahoe_idle_json(tmp_path_factory):
    """``/storage?t=json`` of a freshly started Tahoe-LAFS 1.20 storage node."""
    venv = refvenv.ensure_ref_venv()
    basedir = str(tmp_path_factory.mktemp("tahoe-storage") / "node")
    tub, web = free_port(), free_port()
    ref = ReferenceNode(venv, basedir)
    ref.create("create-node", "--nickname", "ref", "--listen", "tcp",
               "--port", "tcp:%d:interface=127.0.0.1" % tub,
               "--location", "tcp:127.0.0.1:%d" % tub,
               "--webport", "tcp:%d:interface=127.0.0.1" % web)
    ref.start()
    try:
        def fetch():
            ref.check_running()
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/storage?t=json" % web,
                                            timeout=10) as f:
                    return json.loads(f.read())
            except OSError:
                return None
        yield wait_for(fetch, 60, what="the reference node's /storage?t=json")
    finally:
        ref.stop()


@pytest.mark.interop
@pytest_twisted.ensureDeferred
async def test_idle_json_has_tahoe_keys(tmp_path, tahoe_idle_json):
    # ours, started the same way: its crawlers are waiting for their first cycle
    basedir = storage_node_dir(str(tmp_path / "node"), {})
    node = create_node(basedir, reactor)
    node.startService()
    try:
        r = await http_request("GET", node.web.url + "storage?t=json")
        ours = json.loads(r.body)
    finally:
        await node.stopService()
    theirs = tahoe_idle_json
    assert set(ours) == set(theirs)
    # we add active_uploads; Tahoe-LAFS adds latencies once it has served calls
    assert set(theirs["stats"]) <= set(ours["stats"])
    for key in ("bucket-counter", "lease-checker", "lease-checker-progress"):
        assert shape(ours[key]) == shape(theirs[key]), key


TAHOE_CYCLE = r"""
import json, sys
from twisted.internet import reactor
from allmydata.storage.server import StorageServer
from allmydata.web.storage import StorageStatus

class Request:
    def setHeader(self, name, value):
        pass

ss = StorageServer(sys.argv[1], b"\x01" * 20, expiration_enabled=False,
                   expiration_mode="age", expiration_override_lease_duration=int(sys.argv[2]),
                   expiration_sharetypes=("immutable", "mutable"))
for crawler in (ss.lease_checker, ss.bucket_counter):
    crawler.slow_start = 0
ss.startService()

def done():
    if (ss.lease_checker.state["last-cycle-finished"] is None
            or ss.bucket_counter.state["last-cycle-finished"] is None):
        reactor.callLater(0.05, done)
        return
    print(StorageStatus(ss).render_JSON(Request()))
    reactor.stop()
reactor.callLater(0.05, done)
reactor.run()
"""


@pytest.mark.interop
@pytest_twisted.ensureDeferred
async def test_a_cycle_counts_what_tahoe_counts(crawled, tmp_path):
    """Tahoe-LAFS 1.20's storage server, its lease checker run over a copy
    of the same share files with the same settings, reports the same cycle."""
    node, url, pristine = crawled
    storedir = str(tmp_path / "storage")
    shutil.copytree(pristine, storedir)
    venv = refvenv.ensure_ref_venv()
    proc = subprocess.run([os.path.join(venv, "bin", "python"), "-c", TAHOE_CYCLE, storedir,
                           str(OVERRIDE_DAYS * DAY)], capture_output=True, text=True,
                          timeout=120, env=refvenv.clean_env(), stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = json.loads(proc.stdout)
    ours = json.loads((await http_request("GET", url + "storage?t=json")).body)
    assert shape(ours["lease-checker"]) == shape(theirs["lease-checker"])
    assert shape(ours["bucket-counter"]) == shape(theirs["bucket-counter"])
    mine, tahoe = ours["lease-checker"]["history"]["0"], theirs["lease-checker"]["history"]["0"]
    del mine["cycle-start-finish-times"], tahoe["cycle-start-finish-times"]
    assert mine == tahoe
    for key in ("last-complete-bucket-count", "storage-index-samples"):
        assert ours["bucket-counter"][key] == theirs["bucket-counter"][key], key


def render(server) -> str:
    out = []
    flattenString(None, tags.div(*status_page(server, "nick",
                                              server.lease_checker.clock.seconds()))
                  ).addBoth(out.append)
    assert isinstance(out[0], bytes), out[0]
    return out[0].decode("utf-8")


def test_html_before_the_first_cycle_and_during_one(tmp_path):
    storedir = str(tmp_path / "storage")
    clock = task.Clock()
    clock.advance(1_700_000_000)
    for i in range(30):
        plant_immutable(storedir, si_of("x%d" % i), 0, [1_700_000_000 - 3600])
    server = StorageServer(storedir, b"\x02" * 20, clock=clock, crawler_pace={"slow_start": 60},
                           expiration_policy=ExpirationPolicy(enabled=True, mode="age"))
    server.startService()
    try:
        idle = render(server)
        for phrase in ("Total buckets: Not computed yet", "Next crawl in 60 seconds",
                       "Enabled: expired leases will be removed",
                       "Leases expire when their own expiration time"):
            assert phrase in idle, phrase
        assert "Last complete cycle" not in idle
        checker = server.lease_checker
        ticks = iter(range(10 ** 6))
        checker._cpu_time = lambda: next(ticks) * 0.01  # a few buckets a slice
        clock.advance(60)
        assert checker.state["current-cycle"] == 0
        busy = render(server)
        for phrase in ("Current crawl", "So far, this cycle has examined",
                       "and has removed: ", "The whole cycle is expected to remove"):
            assert phrase in busy, phrase
    finally:
        server.stopService()
