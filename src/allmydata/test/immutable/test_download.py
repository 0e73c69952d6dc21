"""Downloads from an in-process grid of real storage servers on real Tubs:
round trips of many sizes and encodings, ranged reads that fetch only the
segments they need, targets, results and status, and consumer back-pressure.
"""


import pytest
import pytest_twisted
from foolscap.api import fireEventually
from twisted.internet import defer
from twisted.internet.interfaces import IConsumer
from zope.interface import implementer

from allmydata import uri
from allmydata.history import History
from allmydata.immutable.download.downloader import Downloader
from allmydata.immutable.download.errors import DownloadStopped
from allmydata.immutable.filenode import ImmutableFileNode
from allmydata.immutable.interfaces import IFileNode
from allmydata.immutable.literal import LiteralFileNode
from allmydata.immutable.params import SegmentParams
from allmydata.immutable.target import Data, FileHandle, FileName, MemoryConsumer
from allmydata.testing.storagegrid import ReadLog, share_layout
from allmydata.testing.waiting import eventually
from allmydata.util.rrefutil import call_remote


def content(size: int, seed: int = 0) -> bytes:
    """Deterministic data in which every 4-byte word differs (so a misplaced
    slice shows)."""
    words = (size + 3) // 4
    return b"".join((i * 2654435761 + seed).to_bytes(8, "big")[4:] for i in range(words))[:size]


async def upload(grid, data, **kw):
    cap = await grid.upload(data, **kw)
    return uri.from_string(cap)


def node_for(grid, cap, **kw):
    return ImmutableFileNode(cap, grid.broker, **kw)


# ---- round trips -----------------------------------------------------------------------
ROUND_TRIPS = [
    # (size, k, n, max_segment_size)
    (56, 3, 10, 128 * 1024),          # the smallest CHK file
    (3000, 3, 10, 3000),              # exactly one segment
    (3001, 3, 10, 3000),              # one segment and one byte
    (7 * 4096 + 123, 3, 10, 4096),    # several segments, short tail
    (8 * 4095, 3, 10, 4095),          # several segments, full tail
    (10_000, 3, 3, 4096),             # k = N
    (10_000, 1, 1, 4096),             # 1-of-1
    (10_000, 1, 5, 4096),             # 1-of-N: every share is a copy
    (20_000, 5, 7, 4096),             # k does not divide the segment size
    (1024 * 1024 + 17, 3, 10, 128 * 1024),
]


@pytest.mark.parametrize("size,k,n,maxseg", ROUND_TRIPS)
@pytest_twisted.ensureDeferred
async def test_round_trip(grid, size, k, n, maxseg):
    data = content(size, seed=size + k)
    cap = await upload(grid, data, k=k, n=n, happy=min(n, 5), max_segment_size=maxseg)
    assert (cap.needed_shares, cap.total_shares, cap.size) == (k, n, size)
    node = node_for(grid, cap)
    assert IFileNode.providedBy(node)
    assert node.get_size() == size
    got = await node.download_to_data()
    assert got == data
    results = node.get_download_node().last_results
    params = SegmentParams.for_file(size, k, n, maxseg)
    assert results.segments_delivered == params.num_segments
    assert results.blocks_fetched == k * params.num_segments
    assert results.server_problems == {}


@pytest_twisted.ensureDeferred
async def test_node_identity(grid):
    data = content(5000)
    cap = await upload(grid, data)
    node = ImmutableFileNode(cap.to_string(), grid.broker)
    assert node.get_uri() == cap.to_string() == node.get_readonly_uri()
    assert node.get_storage_index() == cap.get_storage_index()
    assert node.get_verify_cap().to_string() == cap.get_verifier().to_string()
    assert node.is_readonly() and not node.is_mutable()
    assert node.get_size() == 5000
    assert await node.get_current_size() == 5000


@pytest_twisted.ensureDeferred
async def test_primary_shares_are_preferred(grid, monkeypatch):
    log = ReadLog(monkeypatch)
    data = content(50_000)
    cap = await upload(grid, data, max_segment_size=8192)
    log.clear()
    node = node_for(grid, cap)
    assert await node.download_to_data() == data
    shnums_read = {shnum for _si, shnum, _o, _l in log.entries}
    assert shnums_read == {0, 1, 2}
    results = node.get_download_node().last_results
    # the three primary shares sit on three different servers of this grid
    assert len(results.servers_used) == 3
    assert set(results.servermap) == set(grid.serverids)
    assert sorted(s for shares in results.servermap.values() for s in shares) == list(range(10))
    for name in ("peer_selection", "segments", "total", "cumulative_fetch",
                 "cumulative_decode", "cumulative_decrypt"):
        assert results.timings[name] >= 0.0
    assert set(results.timings["fetch_per_server"]) == results.servers_used


# ---- targets and the downloader service --------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_download_targets(grid, tmp_path):
    data = content(30_000, 7)
    cap = await upload(grid, data, max_segment_size=8192)
    node = node_for(grid, cap)
    assert await node.download(Data()) == data
    path = str(tmp_path / "out.bin")
    assert await node.download(FileName(path)) == path
    assert open(path, "rb").read() == data
    with open(tmp_path / "h.bin", "wb") as f:
        assert await node.download(FileHandle(f)) is f
    assert (tmp_path / "h.bin").read_bytes() == data


@pytest_twisted.ensureDeferred
async def test_downloader_service_and_history(grid):
    data = content(9000, 3)
    cap = await upload(grid, data, max_segment_size=4096)
    history = History()
    downloader = Downloader(grid.broker, history)
    assert await downloader.download(cap.to_string(), Data()) == data
    assert await downloader.download_to_data(cap.to_string()) == data
    lit = uri.LiteralFileURI(b"tiny").to_string()
    assert await downloader.download(lit, Data()) == b"tiny"
    statuses = history.list_all_download_statuses()
    assert len(statuses) == 2
    assert not [s for s in statuses if s.get_active()]
    for s in statuses:
        assert s.get_progress() == 1.0 and s.get_status() == "Finished"
        assert s.get_storage_index() == cap.get_storage_index()
        assert s.get_results().file_size == 9000


@pytest_twisted.ensureDeferred
async def test_literal_node():
    for data in (b"", b"hello", b"x" * 55):
        cap = uri.LiteralFileURI(data)
        node = LiteralFileNode(cap)
        assert IFileNode.providedBy(node)
        assert node.get_size() == len(data)
        assert node.get_uri() == cap.to_string()
        assert node.get_storage_index() is None and node.get_verify_cap() is None
        assert await node.download_to_data() == data
        assert await node.download(Data()) == data
        c = await node.read(MemoryConsumer(), 1, 3)
        assert c.data() == data[1:4]
    assert LiteralFileNode(b"URI:LIT:nbswy3dp").get_size() == 5


# ---- speculative reads ---------------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_small_file_reads_each_share_once(grid, monkeypatch):
    """With the default segment size, a download reads each of k shares in
    one read: header, block 0 and the span holding the hash trees,
    share-hash chain and UEB lie next to each other in a one-segment share;
    a second read of the node (block hash trees known) reads only header +
    block."""
    log = ReadLog(monkeypatch)
    data = content(100_000, 3)
    cap = await upload(grid, data)
    log.clear()
    node = node_for(grid, cap)
    assert await node.download_to_data() == data
    per_share = {}
    for _si, shnum, offset, _length in log.entries:
        per_share.setdefault(shnum, []).append(offset)
    assert sorted(per_share) == [0, 1, 2]
    for offsets in per_share.values():
        assert offsets == [0]
    log.clear()
    assert await node.download_to_data() == data
    assert sorted((shnum, offset) for _si, shnum, offset, _l in log.entries) == \
        [(0, 0), (1, 0), (2, 0)]


# ---- ranges ------------------------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_ranges_fetch_only_their_segments(grid, monkeypatch):
    log = ReadLog(monkeypatch)
    params = SegmentParams.for_file(10 * 4098 + 100, 3, 10, 4096)
    segsize = params.segment_size  # 4098: the multiple of k=3 at or above 4096
    size = 10 * segsize + 100    # 11 segments, the last one 100 bytes
    assert (params.segment_size, params.num_segments) == (4098, 11)
    data = content(size, 11)
    cap = await upload(grid, data, max_segment_size=4096)
    si = cap.get_storage_index()
    path = [p for _i, shnum, p in grid.share_files(si) if shnum == 0][0]
    layout = share_layout(path)

    cases = [
        (0, 1, {0}),                              # first byte
        (size - 1, 1, {10}),                      # last byte
        (segsize - 1, 2, {0, 1}),                 # across one boundary
        (2 * segsize + 5, 3 * segsize, {2, 3, 4, 5}),
        (5 * segsize, segsize, {5}),              # exactly one segment
        (9 * segsize, None, {9, 10}),             # to the end
        (size - 50, 1000, {10}),                  # past the end: cut short
    ]
    node = node_for(grid, cap)
    for offset, length, segments in cases:
        log.clear()
        c = await node.read(MemoryConsumer(), offset, length)
        end = size if length is None else min(size, offset + length)
        assert c.data() == data[offset:end], (offset, length)
        reads = log.block_reads(layout, params.block_size)
        assert {seg for _shnum, seg in reads} == segments, (offset, length)
        assert len(reads) == 3 * len(segments)

    # empty ranges touch no server at all
    for offset, length in ((0, 0), (size, 10), (size + 100, None)):
        log.clear()
        c = await node.read(MemoryConsumer(), offset, length)
        assert c.data() == b""
        assert log.entries == []


@pytest_twisted.ensureDeferred
async def test_read_rejects_negative_ranges(grid):
    cap = await upload(grid, content(1000))
    node = node_for(grid, cap)
    with pytest.raises(ValueError):
        await node.read(MemoryConsumer(), -1, 5)
    with pytest.raises(ValueError):
        await node.read(MemoryConsumer(), 0, -5)


# ---- back-pressure -----------------------------------------------------------------------
@implementer(IConsumer)
class PausingConsumer:
    """Pauses its producer after every write; the test resumes it."""

    def __init__(self):
        self.chunks = []
        self.producer = None
        self.streaming = None
        self.unregistered = False
        self.paused = False

    def registerProducer(self, producer, streaming):
        self.producer, self.streaming = producer, streaming

    def unregisterProducer(self):
        self.unregistered = True

    def write(self, data):
        self.chunks.append(data)
        self.paused = True
        self.producer.pauseProducing()


async def requests_answered(grid, rounds=3):
    """Return once the requests the client had sent are answered and the
    reads their answers led to (``rounds`` deep) are answered too: a call
    to a server comes back after the answers to every earlier call on the
    same connection."""
    for _ in range(rounds):
        await fireEventually()
        for server in grid.broker.get_connected_servers():
            await call_remote(server.get_rref(), "get_version")


@pytest_twisted.ensureDeferred
async def test_paused_consumer_holds_back_the_download(grid, monkeypatch):
    log = ReadLog(monkeypatch)
    segsize = 4096
    size = 12 * segsize
    data = content(size, 5)
    cap = await upload(grid, data, max_segment_size=segsize)
    params = SegmentParams.for_file(size, 3, 10, segsize)
    layout = share_layout(grid.share_files(cap.get_storage_index())[0][2])
    log.clear()
    node = node_for(grid, cap, pipeline_depth=2)
    consumer = PausingConsumer()
    d = node.read(consumer)
    done = []
    d.addBoth(done.append)
    while not done:
        await eventually(lambda: consumer.paused or done, what="a write")
        if done:
            break
        delivered = len(consumer.chunks)

        def fetched():
            return {seg for _sh, seg in log.block_reads(layout, params.block_size)}

        # the pipeline fills up to the segments in flight, and then nothing
        # more happens while paused: no writes, no more segments fetched
        await eventually(lambda: len(fetched()) >= min(delivered + 2, 12),
                         what="the segments in flight to be fetched")
        await requests_answered(grid)
        assert len(consumer.chunks) == delivered
        assert len(fetched()) <= delivered + 2
        consumer.paused = False
        consumer.producer.resumeProducing()
    assert done == [consumer]
    assert consumer.streaming is True and consumer.unregistered
    assert len(consumer.chunks) == 12
    assert b"".join(consumer.chunks) == data


@implementer(IConsumer)
class StoppingConsumer:
    def __init__(self):
        self.chunks = []
        self.producer = None

    def registerProducer(self, producer, streaming):
        self.producer = producer

    def unregisterProducer(self):
        pass

    def write(self, data):
        self.chunks.append(data)
        self.producer.stopProducing()


@pytest_twisted.ensureDeferred
async def test_stopped_consumer_ends_the_download(grid):
    data = content(6 * 4096, 9)
    cap = await upload(grid, data, max_segment_size=4096)
    node = node_for(grid, cap)
    consumer = StoppingConsumer()
    with pytest.raises(DownloadStopped):
        await node.read(consumer)
    assert b"".join(consumer.chunks) == data[:4098]  # the first segment
    # the canceller a download target gets does the same
    target = Data()
    cancel = []
    target.register_canceller = cancel.append
    orig_write = target.write

    def write(chunk):
        orig_write(chunk)
        cancel[0]()
    target.write = write
    with pytest.raises(DownloadStopped):
        await node.download(target)
    assert target.failure is not None


@pytest_twisted.ensureDeferred
async def test_concurrent_reads_of_one_node(grid):
    data = content(40_000, 13)
    cap = await upload(grid, data, max_segment_size=4096)
    node = node_for(grid, cap)
    results = await defer.gatherResults([
        node.read(MemoryConsumer(), 0, 20_000),
        node.read(MemoryConsumer(), 15_000, 20_000),
        node.download_to_data(),
    ])
    assert results[0].data() == data[:20_000]
    assert results[1].data() == data[15_000:35_000]
    assert results[2] == data


@pytest_twisted.ensureDeferred
async def test_large_hash_trees_are_read_node_by_node(grid, monkeypatch):
    """Above ``whole_tree_limit`` bytes a share's block hash tree (and the
    crypttext hash tree) is not read whole: only the nodes a block needs."""
    log = ReadLog(monkeypatch)
    params = SegmentParams.for_file(40 * 4098 + 5, 3, 10, 4096)
    assert params.num_segments == 41   # trees of 2*64-1 = 127 nodes
    data = content(params.size, 21)
    cap = await upload(grid, data, max_segment_size=4096)
    layout = share_layout(grid.share_files(cap.get_storage_index())[0][2])
    log.clear()
    node = node_for(grid, cap, whole_tree_limit=0)
    c = await node.read(MemoryConsumer(), 20 * 4098 + 3, 10)
    assert c.data() == data[20 * 4098 + 3:20 * 4098 + 13]

    def hash_bytes(start, end):
        per_share = {}
        for _si, shnum, offset, length in log.entries:
            if start <= offset < end:
                per_share[shnum] = per_share.get(shnum, 0) + length
        return per_share
    # one leaf and its 6 uncles: 7 nodes of 32 bytes, not 127
    block_tree = hash_bytes(layout.block_hashes, layout.share_hashes)
    assert sorted(block_tree) == [0, 1, 2]
    assert all(n == 7 * 32 for n in block_tree.values()), block_tree
    crypttext_tree = hash_bytes(layout.crypttext_hash_tree, layout.block_hashes)
    assert sum(crypttext_tree.values()) == 7 * 32
    # the rest of the file fills in the trees as it goes, each node of a
    # share read once (whichever shares answer first this time)
    first_read = list(log.entries)
    log.clear()
    assert await node.download_to_data() == data
    nodes_read = {}
    for _si, shnum, offset, length in first_read + log.entries:
        if layout.block_hashes <= offset < layout.share_hashes:
            nodes = nodes_read.setdefault(shnum, [])
            nodes.extend(range(offset, offset + length, 32))
    assert nodes_read
    for shnum, nodes in nodes_read.items():
        assert len(nodes) == len(set(nodes)) <= 127, (shnum, sorted(nodes))
    # and a later read needs no hash at all
    log.clear()
    c = await node.read(MemoryConsumer(), 5, 10)
    assert c.data() == data[5:15]
    assert hash_bytes(layout.crypttext_hash_tree, layout.share_hashes) == {}
