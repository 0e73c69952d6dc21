"""``/statistics`` (HTML, ``?t=json``, ``?t=openmetrics``): the bodies run
against our client node and against a Tahoe-LAFS 1.20 client (the
``webapi`` fixture), and the OpenMetrics text is read with
``prometheus_client``'s parser."""

import json
import math
import os
import sys
import urllib.request

import pytest
import pytest_twisted
from foolscap.api import Referenceable, Tub
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from twisted.internet import reactor, task

from allmydata.node import create_node
from allmydata.scripts.runner import main
from allmydata.stats import StatsProvider
from allmydata.storage.server import StorageServer
from allmydata.testing import refvenv
from allmydata.testing.nodeconfig import edit_config
from allmydata.testing.ports import free_port
from allmydata.testing.reference import ReferenceNode
from allmydata.testing.waiting import wait_for
from allmydata.util.rrefutil import call_remote
from allmydata.web.statistics import escape_values, metric_value, openmetrics_text

from .conftest import WebAPI

OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def parse(text) -> dict:
    """{(sample name, quantile or None): value} of an OpenMetrics text (the
    parser raises on anything the format does not allow)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, s.labels.get("quantile"))
            assert key not in out, key
            out[key] = s.value
    return out


async def statistics(webapi) -> dict:
    r = await webapi.get(webapi.url + "statistics?t=json")
    assert r.code == 200, r.text
    assert r.header("content-type").startswith("text/plain")
    return json.loads(r.body)


def moved(before, after, section="counters") -> dict:
    b, a = before[section], after[section]
    return {k: a[k] - b.get(k, 0) for k in a if a[k] != b.get(k, 0)}


@pytest_twisted.ensureDeferred
async def test_json_counts_uploads_and_downloads(webapi):
    before = await statistics(webapi)
    data = os.urandom(30_000)
    cap = await webapi.ok_text("PUT", webapi.url + "uri", data, code=200)
    r = await webapi.get(webapi.url + "uri/" + cap)
    assert r.code == 200 and r.body == data
    after = await statistics(webapi)
    d = moved(before, after)
    assert d["uploader.files_uploaded"] == 1
    assert d["uploader.bytes_uploaded"] == len(data)
    assert d["downloader.files_downloaded"] == 1
    assert d["downloader.bytes_downloaded"] == len(data)
    stats = after["stats"]
    assert stats["node.uptime"] > 0
    assert stats["cpu_monitor.total"] > 0
    for name, value in list(after["counters"].items()) + list(stats.items()):
        assert value is None or isinstance(value, (int, float)), name


@pytest_twisted.ensureDeferred
async def test_json_counts_mutable_publishes_and_retrieves(webapi):
    before = await statistics(webapi)
    data = b"a mutable file, counted"
    cap = await webapi.ok_text("PUT", webapi.url + "uri?format=MDMF", data, code=200)
    r = await webapi.get(webapi.url + "uri/" + cap)
    assert r.code == 200 and r.body == data
    d = moved(before, await statistics(webapi))
    assert d["mutable.files_published"] == 1
    assert d["mutable.bytes_published"] == len(data)
    assert d["mutable.files_retrieved"] >= 1
    assert d["mutable.bytes_retrieved"] >= len(data)


@pytest_twisted.ensureDeferred
async def test_openmetrics_parses_and_carries_the_json_values(webapi):
    data = os.urandom(5000)
    await webapi.ok_text("PUT", webapi.url + "uri", data, code=200)
    r = await webapi.get(webapi.url + "statistics?t=openmetrics")
    assert r.code == 200
    assert r.header("content-type") == OPENMETRICS_TYPE
    assert r.text.endswith("\n# EOF\n")
    samples = parse(r.text)
    stats = await statistics(webapi)
    files = stats["counters"]["uploader.files_uploaded"]
    assert samples[("tahoe_counters_uploader_files_uploaded", None)] == files
    assert samples[("tahoe_counters_uploader_bytes_uploaded", None)] == \
        stats["counters"]["uploader.bytes_uploaded"]
    assert samples[("tahoe_stats_node_uptime", None)] > 0
    assert ("tahoe_stats_cpu_monitor_total", None) in samples


@pytest_twisted.ensureDeferred
async def test_html_summarises_the_counters(webapi):
    data = os.urandom(2000)
    await webapi.ok_text("PUT", webapi.url + "uri", data, code=200)
    r = await webapi.get(webapi.url + "statistics")
    assert r.code == 200
    assert r.header("content-type").startswith("text/html")
    counters = (await statistics(webapi))["counters"]
    text = r.text
    assert "Operational Statistics" in text
    files, nbytes = counters["uploader.files_uploaded"], counters["uploader.bytes_uploaded"]
    assert "Files Uploaded (immutable): %d files / %d bytes (" % (files, nbytes) in text
    for label in ("Files Downloaded (immutable):", "Files Published (mutable):",
                  "Files Retrieved (mutable):", "Raw Stats:", "node.uptime"):
        assert label in text


@pytest_twisted.ensureDeferred
async def test_an_unknown_format_is_refused(webapi):
    r = await webapi.get(webapi.url + "statistics?t=xml")
    assert r.code == 400
    assert "xml" in r.text


@pytest_twisted.ensureDeferred
async def test_our_node_reports_reactor_lag_memory_and_python(ours_webapi):
    # the load monitor's first sample comes a second after the node starts
    for _ in range(100):
        stats = (await statistics(ours_webapi))["stats"]
        if "load_monitor.max_load" in stats:
            break
        await task.deferLater(reactor, 0.1, lambda: None)
    assert 0 <= stats["load_monitor.avg_load"] <= stats["load_monitor.max_load"]
    assert stats["memory.rss"] > 10**6
    assert stats["python.version.major"] == sys.version_info.major
    r = await ours_webapi.get(ours_webapi.url + "statistics?t=openmetrics")
    samples = parse(r.text)
    assert samples[("tahoe_stats_memory_rss", None)] > 10**6
    assert ("tahoe_stats_load_monitor_max_load", None) in samples


@pytest.mark.interop
@pytest_twisted.ensureDeferred
async def test_we_report_every_name_tahoe_reports(ours_webapi, tahoe_webapi):
    """After the same operations on both, every counter and stat of a
    Tahoe-LAFS 1.20 client (no storage) is on ours, with a value of the
    same kind."""
    found = []
    for api in (ours_webapi, tahoe_webapi):
        cap = await api.ok_text("PUT", api.url + "uri", os.urandom(3000), code=200)
        assert (await api.get(api.url + "uri/" + cap)).code == 200
        mcap = await api.ok_text("PUT", api.url + "uri?format=SDMF", b"m" * 100, code=200)
        assert (await api.get(api.url + "uri/" + mcap)).code == 200
        found.append(await statistics(api))
    ours, tahoe = found
    for section in ("counters", "stats"):
        missing = set(tahoe[section]) - set(ours[section])
        assert not missing, (section, sorted(missing))
        for name, value in tahoe[section].items():
            assert isinstance(ours[section][name], (int, float)) == \
                isinstance(value, (int, float)), name


# ---- a storage node's statistics, ours and Tahoe-LAFS 1.20's ----------------------------

def _storage_node(basedir, web_port, tub_port, create):
    create("create-node", "--nickname", "stats", "--listen", "tcp",
           "--port", "tcp:%d:interface=127.0.0.1" % tub_port,
           "--location", "tcp:127.0.0.1:%d" % tub_port,
           "--webport", "tcp:%d:interface=127.0.0.1" % web_port)
    edit_config(basedir, {"storage": {"reserved_space": "0"}})


async def _exercise_storage(furl):
    """One call of each kind Tahoe-LAFS 1.20 answers, through Foolscap."""
    tub = Tub()
    tub.startService()
    try:
        ss = await tub.getReference(furl)
        si, msi = os.urandom(16), os.urandom(16)
        renew, cancel, we = os.urandom(32), os.urandom(32), os.urandom(32)
        _, writers = await call_remote(ss, "allocate_buckets", si, renew, cancel, {0}, 100,
                                       Referenceable())
        await call_remote(writers[0], "write", 0, b"s" * 100)
        await call_remote(writers[0], "close")
        readers = await call_remote(ss, "get_buckets", si)
        assert await call_remote(readers[0], "read", 0, 100) == b"s" * 100
        await call_remote(ss, "add_lease", si, os.urandom(32), os.urandom(32))
        ok, _ = await call_remote(ss, "slot_testv_and_readv_and_writev", msi, (we, renew, cancel),
                                  {0: ([], [(0, b"mutable")], None)}, [])
        assert ok
        await call_remote(ss, "slot_readv", msi, [0], [(0, 7)])
    finally:
        await tub.stopService()


def _fetch_json(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as f:
            return json.loads(f.read())
    except OSError:
        return None


@pytest.mark.interop
@pytest_twisted.ensureDeferred
async def test_a_storage_nodes_statistics_have_tahoes_names_and_shapes(tmp_path):
    # Tahoe-LAFS 1.20's storage node, as a process
    venv = refvenv.ensure_ref_venv()
    ref_dir = str(tmp_path / "tahoe")
    ref = ReferenceNode(venv, ref_dir)
    ref_web = free_port()
    _storage_node(ref_dir, ref_web, free_port(), ref.create)
    ref.start()
    # ours, in this process
    our_dir = str(tmp_path / "ours")

    def create_ours(*args):
        assert main(list(args) + [our_dir]) == 0, args

    _storage_node(our_dir, free_port(), free_port(), create_ours)
    node = create_node(our_dir, reactor)
    node.startService()
    try:
        ref_url = "http://127.0.0.1:%d/" % ref_web

        def ref_statistics():
            ref.check_running()
            return _fetch_json(ref_url + "statistics?t=json")

        wait_for(ref_statistics, 60, what="the reference node's /statistics")
        with open(os.path.join(ref_dir, "private", "storage.furl")) as f:
            await _exercise_storage(f.read().strip())
        await _exercise_storage(node.storage_server.furl)
        tahoe = _fetch_json(ref_url + "statistics?t=json")
        ours = await statistics(WebAPI("ours", node.web.url))
    finally:
        ref.stop()
        await node.stopService()

    def storage(section):
        return {k: v for k, v in section.items() if k.startswith("storage_server.")}

    # the same counters, with the same values (one call of each; Tahoe-LAFS
    # counts the bytes of immutable shares only)
    def calls(counters):
        return {k: v for k, v in storage(counters).items() if k != "storage_server.bytes_added"}

    assert calls(tahoe["counters"]) == calls(ours["counters"])
    assert len(calls(ours["counters"])) == 8
    # every stat of Tahoe's, null where Tahoe's is null (latencies of one sample)
    t_stats, o_stats = storage(tahoe["stats"]), storage(ours["stats"])
    assert set(t_stats) <= set(o_stats), sorted(set(t_stats) - set(o_stats))
    latencies = sorted(k for k in t_stats if ".latencies." in k)
    assert latencies == sorted(k for k in o_stats if ".latencies." in k)
    assert len(latencies) == 8 * 9  # allocate write close get read add-lease writev readv
    for name in latencies:
        assert (t_stats[name] is None) == (o_stats[name] is None), name
        assert name.endswith(".samplesize") == (t_stats[name] == 1), name


# ---- the OpenMetrics text of given stats -------------------------------------------------

def test_percentiles_become_quantiles_and_none_is_nan():
    stats = {"counters": {"storage_server.allocate": 4},
             "stats": {"storage_server.latencies.allocate.01_0_percentile": None,
                       "storage_server.latencies.allocate.50_0_percentile": 0.125,
                       "storage_server.latencies.allocate.99_9_percentile": None,
                       "storage_server.latencies.allocate.mean": 0.25,
                       "storage_server.latencies.allocate.samplesize": 12,
                       "node.uptime": 3.5}}
    text = openmetrics_text(stats)
    assert text.splitlines() == [
        "tahoe_counters_storage_server_allocate 4",
        "tahoe_stats_node_uptime 3.5",
        'tahoe_stats_storage_server_latencies_allocate{quantile="0.010"} NaN',
        'tahoe_stats_storage_server_latencies_allocate{quantile="0.500"} 0.125',
        'tahoe_stats_storage_server_latencies_allocate{quantile="0.999"} NaN',
        "tahoe_stats_storage_server_latencies_allocate_mean 0.25",
        "tahoe_stats_storage_server_latencies_allocate_samplesize 12",
        "# EOF",
    ]
    samples = parse(text)
    assert math.isnan(samples[("tahoe_stats_storage_server_latencies_allocate", "0.010")])
    assert samples[("tahoe_stats_storage_server_latencies_allocate", "0.500")] == 0.125


def test_names_with_characters_openmetrics_refuses_are_escaped():
    stats = {"counters": {"storage_server.add-lease": 2, "storage_server.advise-corrupt": 1,
                          "storage_server.add_lease": 7, "odd name/é": 3},
             "stats": {"storage_server.latencies.add-lease.50_0_percentile": 0.5,
                       "storage_server.latencies.add-lease.mean": 0.25}}
    samples = parse(openmetrics_text(stats))
    assert samples[("tahoe_counters_storage_server_add_lease", None)] == 7
    # a changed name that meets a valid one is escaped the injective way
    assert samples[(escape_values("tahoe_counters_storage_server_add-lease"), None)] == 2
    assert escape_values("tahoe_counters_storage_server_add-lease") == \
        "U__tahoe__counters__storage__server__add_2d_lease"
    assert samples[("tahoe_counters_storage_server_advise_corrupt", None)] == 1
    assert samples[("tahoe_counters_odd_name__", None)] == 3
    assert samples[("tahoe_stats_storage_server_latencies_add_lease", "0.500")] == 0.5
    assert samples[("tahoe_stats_storage_server_latencies_add_lease_mean", None)] == 0.25


def test_values_are_written_as_openmetrics_numbers():
    assert metric_value(None) == "NaN"
    assert metric_value(True) == "1"
    assert metric_value(12) == "12"
    assert metric_value(0.1) == "0.1"
    assert metric_value(1e-7) == "1e-07"
    assert metric_value(math.inf) == "+Inf" and metric_value(-math.inf) == "-Inf"
    assert metric_value(math.nan) == "NaN"
    samples = parse(openmetrics_text({"counters": {}, "stats": {
        "a": 1e-7, "b": math.inf, "c": 2**70, "d": -3}}))
    assert samples[("tahoe_stats_a", None)] == 1e-7
    assert samples[("tahoe_stats_b", None)] == math.inf
    assert samples[("tahoe_stats_c", None)] == 2**70
    assert samples[("tahoe_stats_d", None)] == -3


def test_a_storage_servers_stats_parse_after_every_operation(tmp_path):
    clock = task.Clock()
    provider = StatsProvider(clock=clock)
    ss = StorageServer(str(tmp_path / "s"), bytes(20), clock=clock, stats_provider=provider)
    si = os.urandom(16)
    renew, cancel = b"r" * 32, b"c" * 32
    _, writers = ss.remote_allocate_buckets(si, renew, cancel, {0}, 10, object())
    writers[0].remote_write(0, b"0123456789")
    writers[0].remote_close()
    ss.remote_get_buckets(si)[0].remote_read(0, 10)
    ss.remote_add_lease(si, b"R" * 32, b"C" * 32)
    ss.remote_renew_lease(si, b"R" * 32)
    ss.remote_cancel_lease(si, b"C" * 32)
    ss.remote_advise_corrupt_share(b"immutable", si, 0, b"a test says so")
    stats = provider.get_stats()
    assert stats["counters"]["storage_server.add-lease"] == 1
    samples = parse(openmetrics_text(stats))
    assert samples[("tahoe_counters_storage_server_add_lease", None)] == 1
    assert samples[("tahoe_counters_storage_server_advise_corrupt", None)] == 1
    assert samples[("tahoe_stats_storage_server_latencies_add_lease_samplesize", None)] == 1
    assert math.isnan(samples[("tahoe_stats_storage_server_latencies_write", "0.500")])
    assert samples[("tahoe_stats_storage_server_accepting_immutable_shares", None)] == 1
    for key, value in samples.items():
        assert isinstance(value, (int, float)), key
    json.loads(json.dumps(stats, allow_nan=False))  # what t=json sends is strict JSON


@pytest.mark.parametrize("name", ["storage_server.latencies.get.01_0_percentile.x",
                                  "a.01_0_percentile_b"])
def test_a_percentile_in_the_middle_of_a_name_is_no_quantile(name):
    (sample,) = parse(openmetrics_text({"counters": {}, "stats": {name: 1}}))
    assert sample[1] is None
