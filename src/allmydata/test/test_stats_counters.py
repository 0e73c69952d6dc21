"""The counters of a client node's operations (uploader, downloader, mutable
publish and retrieve) and of its storage servers, on an in-process grid."""

import pytest
import pytest_twisted

from allmydata.immutable.target import MemoryConsumer
from allmydata.immutable.uploadable import Data
from allmydata.testing.nodegrid import start_grid


@pytest_twisted.async_yield_fixture(scope="module")
async def grid(tmp_path_factory):
    g = await start_grid(tmp_path_factory.mktemp("statsgrid"), storage_count=3, needed=2,
                         happy=2, total=3)
    try:
        yield g
    finally:
        await g.stop()


def counters(node) -> dict:
    return node.stats_provider.get_stats()["counters"]


def moved(before: dict, after: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)
            if after.get(k, 0) != before.get(k, 0)}


@pytest_twisted.ensureDeferred
async def test_upload_and_download_counters(grid):
    c = grid.client_node
    before = counters(c)
    data = b"counted " * 10_000
    results = await grid.client.upload(Data(data, convergence=b""))
    small = await grid.client.upload(Data(b"tiny", convergence=b""))
    node = grid.client.create_node_from_uri(results.get_uri())
    consumer = await node.read(MemoryConsumer())
    assert consumer.data() == data
    await node.read(MemoryConsumer(), 1000, 500)  # a range counts what it asked for
    d = moved(before, counters(c))
    assert d["uploader.files_uploaded"] == 2
    assert d["uploader.bytes_uploaded"] == len(data) + 4
    assert d["downloader.files_downloaded"] == 2
    assert d["downloader.bytes_downloaded"] == len(data) + 500
    assert small.get_uri().startswith(b"URI:LIT:")


@pytest_twisted.ensureDeferred
async def test_mutable_counters(grid):
    c = grid.client_node
    before = counters(c)
    node = await grid.client.create_mutable_file(b"first version", version="mdmf")
    await node.overwrite(b"second, longer version")
    assert await node.download_best_version() == b"second, longer version"
    await node.write_at(8, b"LONGER")
    d = moved(before, counters(c))
    assert d["mutable.files_published"] == 3
    assert d["mutable.bytes_published"] == len(b"first version") + \
        len(b"second, longer version") + len(b"LONGER")
    # the in-place write reads old segments as part of its publish: not a retrieve
    assert d["mutable.files_retrieved"] == 1
    assert d["mutable.bytes_retrieved"] == len(b"second, longer version")


@pytest_twisted.ensureDeferred
async def test_storage_servers_count_and_time_the_client_calls(grid):
    before = [counters(n) for n in grid.storage_nodes]
    data = b"stored " * 20_000
    results = await grid.client.upload(Data(data, convergence=None))
    node = grid.client.create_node_from_uri(results.get_uri())
    await node.read(MemoryConsumer())
    allocate = write = close = get = read = 0
    for n, b in zip(grid.storage_nodes, before):
        d = moved(b, counters(n))
        allocate += d.get("storage_server.allocate", 0)
        write += d.get("storage_server.write", 0)
        close += d.get("storage_server.close", 0)
        get += d.get("storage_server.get", 0)
        read += d.get("storage_server.read", 0)
        if d.get("storage_server.close"):
            assert d["storage_server.bytes_added"] > len(data) // 2 // 3
        stats = n.stats_provider.get_stats()["stats"]
        if d.get("storage_server.write"):
            assert stats["storage_server.latencies.write.samplesize"] >= 1
            assert stats["storage_server.latencies.close.samplesize"] >= 1
    assert allocate >= 3 and close == 3 and write >= 3
    assert get >= 2 and read >= 2


@pytest.mark.parametrize("name", ["node.uptime", "cpu_monitor.total", "memory.rss"])
def test_running_nodes_report_process_stats(grid, name):
    for n in [grid.client_node] + grid.storage_nodes:
        assert n.stats_provider.get_stats()["stats"][name] >= 0
