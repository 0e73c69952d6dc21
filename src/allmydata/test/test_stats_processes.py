"""Statistics of real node processes (``tahoe run``): the client's
``/statistics`` after an upload and a download, and each storage node's
``RIStatsProvider`` read over Foolscap from its ``private/stats_provider.furl``."""

import json
import os

import pytest
import pytest_twisted
from foolscap.api import Tub
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from allmydata.testing.procgrid import ProcessGrid, http_request
from allmydata.util.rrefutil import call_remote

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def procgrid(tmp_path_factory):
    yield from ProcessGrid(tmp_path_factory.mktemp("statsprocs"), num_storage=3,
                           encoding=(2, 3, 3)).lifetime()


def client_stats(grid) -> dict:
    r = http_request(grid.url, "GET", "/statistics?t=json")
    assert r.status == 200, r
    return json.loads(r.body)


async def storage_stats(grid) -> list:
    """The remote get_stats answer of each storage node."""
    tub = Tub()
    tub.startService()
    try:
        answers = []
        for d in grid.storage:
            with open(os.path.join(d, "private", "stats_provider.furl")) as f:
                rref = await tub.getReference(f.read().strip())
            answers.append(await call_remote(rref, "get_stats"))
        return answers
    finally:
        await tub.stopService()


@pytest_twisted.ensureDeferred
async def test_an_upload_and_a_download_move_the_counters(procgrid):
    before = client_stats(procgrid)
    storage_before = await storage_stats(procgrid)
    data = os.urandom(200_000)
    cap = procgrid.upload(data)
    r = procgrid.get(cap)
    assert r.status == 200 and r.body == data

    after = client_stats(procgrid)
    b, a = before["counters"], after["counters"]
    for name, delta in (("uploader.files_uploaded", 1), ("uploader.bytes_uploaded", len(data)),
                        ("downloader.files_downloaded", 1),
                        ("downloader.bytes_downloaded", len(data))):
        assert a[name] - b.get(name, 0) == delta, name
    assert after["stats"]["node.uptime"] > 0

    r = http_request(procgrid.url, "GET", "/statistics?t=openmetrics")
    samples = {s.name: s.value for family in text_string_to_metric_families(r.text)
               for s in family.samples}
    assert samples["tahoe_counters_uploader_files_uploaded"] == a["uploader.files_uploaded"]

    # each storage node got one share (3 of 3 on 3 servers), through the 2008 remote schema
    closes = 0
    for old, new in zip(storage_before, await storage_stats(procgrid)):
        assert set(new) == {b"counters", b"stats"}
        for section in new.values():
            assert all(isinstance(k, bytes) for k in section)
            assert all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       for v in section.values())
        counters, stats = new[b"counters"], new[b"stats"]
        closed = counters.get(b"storage_server.close", 0) - \
            old[b"counters"].get(b"storage_server.close", 0)
        closes += closed
        if closed:
            assert stats[b"storage_server.latencies.close.samplesize"] >= closed
            assert stats[b"storage_server.latencies.write.samplesize"] >= 1
            assert counters[b"storage_server.bytes_added"] > len(data) // 2 // 3
        assert stats[b"storage_server.accepting_immutable_shares"] == 1
        assert b"cpu_monitor.total" in stats and b"memory.rss" in stats
    assert closes == 3
