"""Retrieve: range reads (MDMF fetches only the needed segments), streaming
to a consumer, status."""

import pytest_twisted

from allmydata.immutable.target import MemoryConsumer
from allmydata.mutable.common import MDMF_VERSION, SDMF_VERSION
from allmydata.mutable.layout import MDMF_SHARE_DATA_OFFSET as MDMF_SHARE_DATA

from .test_publish import SEG, data_of


async def read_range(node, offset, size):
    c = MemoryConsumer()
    await node.read(c, offset, size)
    return c.data()


@pytest_twisted.ensureDeferred
async def test_mdmf_ranges(grid):
    data = data_of(5 * SEG + 123)
    node = await grid.create(data, version=MDMF_VERSION)
    reader = grid.node(node.get_readonly_uri())
    for offset, size in [(0, 1), (10, 100), (SEG - 5, 10), (SEG, SEG), (2 * SEG - 1, 2 * SEG + 2),
                         (5 * SEG, 123), (5 * SEG + 100, 1000), (len(data), 10), (0, None),
                         (3 * SEG + 7, None)]:
        want = data[offset:] if size is None else data[offset:offset + size]
        assert await read_range(reader, offset, size) == want, (offset, size)
    status = reader.get_retrieve_status()
    assert status.get_progress() == 1.0 and status.get_seqnum() == 1


@pytest_twisted.ensureDeferred
async def test_mdmf_range_read_fetches_only_its_segments(grid):
    data = data_of(8 * SEG)
    node = await grid.create(data, version=MDMF_VERSION)
    reader = grid.node(node.get_readonly_uri())
    grid.clear_logs()
    assert await read_range(reader, 3 * SEG + 10, 20) == data[3 * SEG + 10:3 * SEG + 30]
    piece = SEG // 3 + 16
    block_reads = [(off, length) for _sh, off, length in grid.reads()
                   if MDMF_SHARE_DATA <= off < MDMF_SHARE_DATA + 8 * piece]
    assert block_reads and all(off == MDMF_SHARE_DATA + 3 * piece and length == piece
                               for off, length in block_reads)
    assert len(block_reads) == 3   # k blocks of one segment


@pytest_twisted.ensureDeferred
async def test_sdmf_ranges(grid):
    data = data_of(10_000)
    node = await grid.create(data, version=SDMF_VERSION)
    assert await read_range(node, 9_990, 100) == data[9_990:]
    assert await read_range(node, 100, 0) == b""
    assert await read_range(node, 0, None) == data


@pytest_twisted.ensureDeferred
async def test_consumer_sees_a_producer(grid):
    node = await grid.create(data_of(3 * SEG), version=MDMF_VERSION)

    class Pausing(MemoryConsumer):
        def registerProducer(self, producer, streaming):
            assert streaming
            MemoryConsumer.registerProducer(self, producer, streaming)
            producer.pauseProducing()
            from twisted.internet import reactor
            reactor.callLater(0.05, producer.resumeProducing)
    c = Pausing()
    await node.read(c)
    assert c.data() == data_of(3 * SEG) and c.producer is None


@pytest_twisted.ensureDeferred
async def test_version_replaced_during_a_read_is_not_corruption(grid):
    from allmydata.mutable.common import MODE_READ, VersionChangedError
    from allmydata.mutable.retrieve import Retrieve
    import pytest
    node = await grid.create(data_of(3 * SEG), version=MDMF_VERSION)
    reader = grid.node(node.get_readonly_uri())
    stale = await reader.get_servermap(MODE_READ)
    await node.overwrite(data_of(2 * SEG, 1))      # every share replaced
    r = Retrieve(reader.get_keys(), stale, stale.best_recoverable_version())
    with pytest.raises(VersionChangedError) as e:
        await r.download(MemoryConsumer())
    assert "another writer" in str(e.value) or "another version" in str(e.value)
    assert not grid.all_advisories() and not stale.bad_shares()
    assert await reader.download_best_version() == data_of(2 * SEG, 1)
