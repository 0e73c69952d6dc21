"""Downloads when things go wrong: servers that are gone, fail, hang or hold
corrupt or truncated shares.  The file must come back right from the other
shares, corrupt shares must be reported to their servers
(``storage/corruption-advisories/``), and when fewer than k good shares are
left the download must fail with a clear error, never with a wrong byte."""

import os

import pytest
import pytest_twisted
from twisted.internet import defer

from allmydata import uri
from allmydata.immutable.download.errors import (
    NoSharesError,
    NotEnoughSharesError,
    UnrecoverableFileError,
)
from allmydata.immutable.filenode import ImmutableFileNode
from allmydata.immutable.params import SegmentParams, next_power_of_two
from allmydata.immutable.target import MemoryConsumer
from allmydata.storage import immutable as storage_immutable
from allmydata.storage.server import StorageServer
from allmydata.testing.storagegrid import ReadLog, flip_byte, share_layout
from allmydata.testing.waiting import eventually
from allmydata.util.idlib import nodeid_b2a

from .test_download import content

SEGSIZE = 4096


async def setup_file(grid, size=5 * SEGSIZE + 10, seed=1, **kw):
    data = content(size, seed)
    cap = uri.from_string(await grid.upload(data, max_segment_size=SEGSIZE, **kw))
    files = grid.share_files(cap.get_storage_index())
    return data, cap, files


def count_advisories(grid) -> int:
    return sum(len(v) for v in grid.all_advisories().values())


def holder(files, shnum):
    """(server index, path) of share ``shnum``."""
    [(i, path)] = [(i, p) for i, s, p in files if s == shnum]
    return i, path


def servers_holding(files, shnums):
    return sorted({i for i, s, _p in files if s in shnums})


# ---- servers that are gone ------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_works_with_servers_gone(grid):
    data, cap, files = await setup_file(grid)
    # 5 servers hold 2 shares each; stop the ones holding the primary shares
    gone = servers_holding(files, {0, 1, 2})
    assert len(gone) == 3
    for i in gone:
        await grid.stop_server(i)
    node = ImmutableFileNode(cap, grid.broker)
    assert await node.download_to_data() == data
    results = node.get_download_node().last_results
    assert {grid.serverids[i] for i in gone} <= set(results.server_problems)
    assert not results.servers_used & {grid.serverids[i] for i in gone}


@pytest_twisted.ensureDeferred
async def test_too_few_servers_left(grid):
    _data, cap, _files = await setup_file(grid)
    for i in range(4):
        await grid.stop_server(i)
    node = ImmutableFileNode(cap, grid.broker)
    consumer = MemoryConsumer()
    with pytest.raises(NotEnoughSharesError) as info:
        await node.read(consumer)
    e = info.value
    assert (e.needed, e.good_shares, e.good_servers) == (3, 2, 1)
    msg = str(e)
    assert "2 good shares found on 1 server, but 3 are needed" in msg
    for i in range(4):
        assert nodeid_b2a(grid.serverids[i])[:8] in msg
    assert consumer.data() == b""


@pytest_twisted.ensureDeferred
async def test_no_servers_have_shares(grid):
    node = ImmutableFileNode(
        uri.CHKFileURI(b"k" * 16, b"u" * 32, 3, 10, 10_000), grid.broker)
    with pytest.raises(NoSharesError) as info:
        await node.download_to_data()
    assert "no shares of file" in str(info.value)
    assert "any of the 5 servers asked" in str(info.value)
    assert isinstance(info.value, UnrecoverableFileError)
    for i in range(5):
        await grid.stop_server(i)
    with pytest.raises(NoSharesError) as info:
        await node.download_to_data()
    # every server's problem is listed
    for i in range(5):
        assert nodeid_b2a(grid.serverids[i])[:8] in str(info.value)


@pytest_twisted.ensureDeferred
async def test_server_lost_in_the_middle(grid):
    data, cap, files = await setup_file(grid, size=12 * SEGSIZE)
    victim, _path = holder(files, 1)
    node = ImmutableFileNode(cap, grid.broker)
    consumer = MemoryConsumer()
    writes = []
    orig = consumer.write

    def write(chunk):
        orig(chunk)
        writes.append(len(chunk))
        if len(writes) == 3:
            defer.ensureDeferred(grid.stop_server(victim))
    consumer.write = write
    await node.read(consumer)
    assert consumer.data() == data
    results = node.get_download_node().last_results
    assert grid.serverids[victim] in results.server_problems


@pytest_twisted.ensureDeferred
async def test_server_errors_and_hangs(grid, monkeypatch):
    data, cap, _files = await setup_file(grid)
    real = storage_immutable.BucketReader.remote_read
    hung = []

    def remote_read(reader, offset, length):
        if reader.shnum == 0:
            raise OSError("disk on fire")
        if reader.shnum == 1:
            d = defer.Deferred()  # never answers
            hung.append(d)
            return d
        return real(reader, offset, length)
    monkeypatch.setattr(storage_immutable.BucketReader, "remote_read", remote_read)
    node = ImmutableFileNode(cap, grid.broker, read_timeout=0.5)
    assert await node.download_to_data() == data
    problems = node.get_download_node().last_results.server_problems
    text = "\n".join(problems.values())
    assert "disk on fire" in text
    assert "no answer" in text
    for d in hung:
        d.callback(b"")


@pytest_twisted.ensureDeferred
async def test_share_queries_that_fail_or_hang(grid, monkeypatch):
    data, cap, files = await setup_file(grid)
    silent, _p = holder(files, 0)
    broken, _p = holder(files, 1)
    silent_ss, broken_ss = grid.servers[silent], grid.servers[broken]
    real = StorageServer.remote_get_buckets
    hung = []

    def remote_get_buckets(ss, storage_index):
        if ss is silent_ss:
            d = defer.Deferred()
            hung.append(d)
            return d
        if ss is broken_ss:
            raise OSError("cannot list shares")
        return real(ss, storage_index)
    monkeypatch.setattr(StorageServer, "remote_get_buckets", remote_get_buckets)
    node = ImmutableFileNode(cap, grid.broker, query_timeout=1.0, ready_grace=0.2)
    assert await node.download_to_data() == data
    problems = node.get_download_node().last_results.server_problems
    assert "cannot list shares" in problems[grid.serverids[broken]]
    # the download did not wait for the silent server's answer to start, but
    # its query timed out in the end
    await eventually(lambda: grid.serverids[silent] in
                     node.get_download_node().last_results.server_problems, what="a timeout")
    assert "no answer" in problems[grid.serverids[silent]]
    for d in hung:
        d.callback({})


# ---- corrupt shares --------------------------------------------------------------------
def region_offset(layout, params, region):
    P = next_power_of_two(params.num_segments)
    return {
        "block": layout.data + 1 * params.block_size + 7,       # block 1
        "tail block": layout.data + (params.num_segments - 1) * params.block_size,
        "block hash leaf": layout.block_hashes + (P - 1) * 32 + 3,
        "block hash root": layout.block_hashes + 5,
        "share hash chain": layout.share_hashes + 2 + 9,
        "share hash index": layout.share_hashes + 1,
        "crypttext hash tree": layout.crypttext_hash_tree + (P - 1) * 32 + 1,
        "UEB": layout.uri_extension + layout.fieldsize + 20,
        "UEB length": layout.uri_extension + layout.fieldsize - 1,
        "header": 0x0C + 1,
    }[region]


@pytest.mark.parametrize("region", ["block", "tail block", "block hash leaf", "block hash root",
                                    "share hash chain", "share hash index", "UEB",
                                    "UEB length", "header"])
@pytest_twisted.ensureDeferred
async def test_corrupt_share_is_skipped_and_reported(grid, region):
    data, cap, files = await setup_file(grid)
    params = SegmentParams.for_file(len(data), 3, 10, SEGSIZE)
    server, path = holder(files, 0)
    layout = share_layout(path)
    flip_byte(path, region_offset(layout, params, region))
    node = ImmutableFileNode(cap, grid.broker)
    assert await node.download_to_data() == data
    await eventually(lambda: count_advisories(grid) >= 1, what="a corruption report")
    advisories = grid.all_advisories()
    assert list(advisories) == [server], advisories
    [name] = advisories[server]
    assert name.endswith("-0")
    text = open(os.path.join(grid.servers[server].corruption_advisory_dir, name)).read()
    assert "share_number: 0" in text and "corrupt" in text
    problems = node.get_download_node().last_results.server_problems
    assert "share 0" in problems[grid.serverids[server]]
    # a second read of the same node does not use (or report) the share again
    assert await node.download_to_data() == data
    assert len(grid.advisories(server)) == 1


@pytest_twisted.ensureDeferred
async def test_corrupt_crypttext_trees_are_skipped(grid):
    data, cap, files = await setup_file(grid)
    params = SegmentParams.for_file(len(data), 3, 10, SEGSIZE)
    for shnum in (0, 1, 2):
        _server, path = holder(files, shnum)
        flip_byte(path, region_offset(share_layout(path), params, "crypttext hash tree"))
    node = ImmutableFileNode(cap, grid.broker)
    assert await node.download_to_data() == data
    # the trees are tried one at a time until one matches the UEB
    await eventually(lambda: count_advisories(grid) == 3, what="3 corruption reports")


@pytest_twisted.ensureDeferred
async def test_truncated_share(grid):
    data, cap, files = await setup_file(grid)
    server, path = holder(files, 2)
    layout = share_layout(path)
    with open(path, "r+b") as f:
        f.truncate(0x0C + layout.data + 100)  # inside block 0
    node = ImmutableFileNode(cap, grid.broker)
    assert await node.download_to_data() == data
    await eventually(lambda: count_advisories(grid) >= 1, what="a corruption report")
    assert list(grid.all_advisories()) == [server]


@pytest_twisted.ensureDeferred
async def test_too_few_good_shares_after_corruption(grid):
    size = 6 * SEGSIZE
    data, cap, files = await setup_file(grid, size=size)
    params = SegmentParams.for_file(size, 3, 10, SEGSIZE)
    # block 3 is corrupt in 8 of the 10 shares: segments 0-2 can be read
    for shnum in range(8):
        _server, path = holder(files, shnum)
        layout = share_layout(path)
        flip_byte(path, layout.data + 3 * params.block_size + 11)
    node = ImmutableFileNode(cap, grid.broker)
    consumer = MemoryConsumer()
    with pytest.raises(NotEnoughSharesError) as info:
        await node.read(consumer)
    msg = str(info.value)
    assert "2 good shares found on" in msg and "3 are needed" in msg
    assert msg.count("block 3 does not match its hash") >= 1
    # whatever was delivered is a correct prefix of whole segments before segment 3
    got = consumer.data()
    segsize = params.segment_size
    assert got == data[:len(got)]
    assert len(got) <= 3 * segsize and len(got) % segsize == 0
    # a range that avoids segment 3 still works, with the shares that were
    # found corrupt used only where needed, and not reported twice
    await eventually(lambda: count_advisories(grid) == 8, what="8 corruption reports")
    before = grid.all_advisories()
    c = await node.read(MemoryConsumer(), 0, 3 * segsize)
    assert c.data() == data[:3 * segsize]
    assert grid.all_advisories() == before


@pytest_twisted.ensureDeferred
async def test_every_share_corrupt(grid):
    size = 2 * SEGSIZE
    _data, cap, files = await setup_file(grid, size=size)
    for _i, _shnum, path in files:
        flip_byte(path, share_layout(path).data + 1)   # block 0 of every share
    node = ImmutableFileNode(cap, grid.broker)
    consumer = MemoryConsumer()
    with pytest.raises(NotEnoughSharesError) as info:
        await node.read(consumer)
    assert consumer.data() == b""
    # it gives up as soon as fewer than k shares are left untried
    assert "1 good share found on 1 server, but 3 are needed" in str(info.value)
    assert str(info.value).count("block 0 does not match its hash") == 9
    await eventually(lambda: count_advisories(grid) == 9, what="9 corruption reports")


@pytest_twisted.ensureDeferred
async def test_a_bad_node_of_a_large_hash_tree_fails_its_shares_and_the_download_goes_on(grid):
    """Node 2 of the block hash tree (the top uncle of blocks 0 to 31) is
    wrong in 7 of the 10 shares, read node by node: the blocks in flight
    that wait for the one read of that node all see their share fail, the
    download goes on with good shares, and each bad share used is reported
    once."""
    data, cap, files = await setup_file(grid, size=40 * 4098 + 5, seed=22)
    for _server, shnum, path in files:
        if shnum < 7:
            flip_byte(path, share_layout(path).block_hashes + 32 * 2 + 5)
    node = ImmutableFileNode(cap, grid.broker, whole_tree_limit=0)
    assert await node.download_to_data() == data
    await eventually(lambda: count_advisories(grid) >= 1, what="a corruption report")
    assert count_advisories(grid) <= 7
