"""Publish on a grid of real storage servers: new files, overwrites,
placement, test-and-set, byte compatibility with the pure share code."""

import pytest
import pytest_twisted

from allmydata.mutable import layout, shares
from allmydata.mutable.common import MDMF_VERSION, SDMF_VERSION, NotEnoughServersError
from allmydata.mutable.publish import segments_per_batch, split_by_size


SEG = 131073  # nextmul(131072, 3)


def data_of(size, seed=0):
    return bytes((i * 7 + seed) % 251 for i in range(size))


def verify_on_disk(grid, node, expected):
    """Every share on disk parses and decodes (with the pure layer) to ``expected``."""
    parsed = {}
    for _i, shnum, path in grid.share_files(node.get_storage_index()):
        parsed[shnum] = layout.parse_share(grid.read_share(path))
    plain, errs = shares.verify_and_decode(node.get_keys(), parsed)
    assert plain == expected and not errs
    return parsed


@pytest.mark.parametrize("version", [SDMF_VERSION, MDMF_VERSION])
@pytest_twisted.ensureDeferred
async def test_create_sizes(grid, version):
    for size in (0, 1, 1000, 3 * SEG + 5):
        data = data_of(size, size)
        node = await grid.create(data, version=version)
        assert node.get_version() == version and not node.is_readonly()
        parsed = verify_on_disk(grid, node, data)
        assert sorted(parsed) == list(range(10))
        # ten shares over five servers: two each
        per_server = {}
        for i, shnum, _p in grid.share_files(node.get_storage_index()):
            per_server[i] = per_server.get(i, 0) + 1
        assert sorted(per_server.values()) == [2] * 5
        assert layout.unpack_prefix(grid.read_share(grid.share_files(node.get_storage_index())[0][2])).seqnum == 1
        assert await grid.node(node.get_uri()).download_best_version() == data


@pytest_twisted.ensureDeferred
async def test_streamed_mdmf_publish_is_bounded_and_readable(grid):
    size = 20 * SEG + 17       # more than WHOLE_SHARE_SEGMENTS: streamed
    data = data_of(size)
    grid.clear_logs()
    node = await grid.create(data, version=MDMF_VERSION)
    biggest = max(length for _sh, _off, length in grid.written())
    per_batch = segments_per_batch(3, 10, 5, SEG)
    assert per_batch < 21       # one batch of blocks at a time, not a whole share
    assert biggest <= per_batch * (SEG // 3 + 16)
    verify_on_disk(grid, node, data)
    assert await grid.node(node.get_uri()).download_best_version() == data
    status = node.get_publish_status()
    assert status.get_progress() == 1.0 and not status.get_active()
    assert status.get_encoding() == (3, 10) and status.get_seqnum() == 1


@pytest.mark.parametrize("version", [SDMF_VERSION, MDMF_VERSION])
@pytest_twisted.ensureDeferred
async def test_overwrite_bumps_seqnum_and_shrinks(grid, version):
    node = await grid.create(data_of(5 * SEG), version=version)
    await node.overwrite(b"short")
    parsed = verify_on_disk(grid, node, b"short")
    assert {p.prefix.seqnum for p in parsed.values()} == {2}
    await node.overwrite(data_of(2 * SEG, 3))
    parsed = verify_on_disk(grid, node, data_of(2 * SEG, 3))
    assert {p.prefix.seqnum for p in parsed.values()} == {3}


@pytest_twisted.ensureDeferred
async def test_one_share_per_server_when_enough_servers(grid10):
    node = await grid10.create(b"spread me", version=SDMF_VERSION)
    files = grid10.share_files(node.get_storage_index())
    assert sorted(sh for _i, sh, _p in files) == list(range(10))
    assert len({i for i, _sh, _p in files}) == 10


@pytest_twisted.ensureDeferred
async def test_failing_server_is_replaced(grid):
    grid.servers[0].fail_writes = True
    node = await grid.create(b"replace me", version=SDMF_VERSION)
    files = grid.share_files(node.get_storage_index())
    assert sorted(sh for _i, sh, _p in files) == list(range(10))
    assert 0 not in {i for i, _sh, _p in files}
    assert "write failed" in " ".join(node.get_publish_status().get_problems().values())
    assert await grid.node(node.get_uri()).download_best_version() == b"replace me"


@pytest_twisted.ensureDeferred
async def test_no_server_accepts_writes(grid):
    for ss in grid.servers:
        ss.fail_writes = True
    with pytest.raises(NotEnoughServersError) as e:
        await grid.create(b"nowhere", version=MDMF_VERSION)
    assert "0 distinct shares" in str(e.value)


@pytest_twisted.ensureDeferred
async def test_write_enablers_and_leases(grid):
    node = await grid.create(b"x", version=SDMF_VERSION)
    from allmydata.storage.mutable import MutableShareFile
    keys = node.get_keys()
    for i, _sh, path in grid.share_files(node.get_storage_index()):
        share = MutableShareFile(path)
        share.check_write_enabler(keys.write_enabler(grid.serverids[i]))  # raises if wrong
        assert len(share.get_leases()) == 1


@pytest_twisted.ensureDeferred
async def test_streamed_publish_replaces_a_server_failing_after_the_claim(grid):
    size = 20 * SEG + 17
    data = data_of(size, 5)
    grid.servers[1].fail_after_writes = 2     # the claim and one batch, then broken
    node = await grid.create(data, version=MDMF_VERSION)
    files = grid.share_files(node.get_storage_index())
    # every share is complete somewhere other than the broken server
    complete = {sh for i, sh, p in files
                if i != 1 and len(grid.read_share(p)) > size // 3}
    assert complete == set(range(10))
    verify_on_disk_except(grid, node, data, broken=1)
    problems = " ".join(node.get_publish_status().get_problems().values())
    assert "write failed" in problems
    assert await grid.node(node.get_uri()).download_best_version() == data


def verify_on_disk_except(grid, node, expected, broken):
    parsed = {}
    for i, shnum, path in grid.share_files(node.get_storage_index()):
        if i != broken:
            parsed[shnum] = layout.parse_share(grid.read_share(path))
    plain, errs = shares.verify_and_decode(node.get_keys(), parsed)
    assert plain == expected and not errs


@pytest_twisted.ensureDeferred
async def test_streamed_publish_fails_clearly_without_enough_servers(grid):
    # three of five servers break after the claim: 4 shares at most, 7 (happy) needed,
    # and a generator-like source cannot be read twice to re-send the lost shares
    for i in (0, 1, 2):
        grid.servers[i].fail_after_writes = 1

    class OneShot:
        def __init__(self, data):
            self.data, self.pos = data, 0

        def get_size(self):
            return len(self.data)

        def read(self, n):
            piece = self.data[self.pos:self.pos + n]
            self.pos += len(piece)
            return [piece]
    with pytest.raises(NotEnoughServersError) as e:
        await grid.create(OneShot(data_of(20 * SEG)), version=MDMF_VERSION)
    text = str(e.value)
    assert "4 distinct shares could be written (7 needed" in text and "write failed" in text


@pytest_twisted.ensureDeferred
async def test_streamed_publish_replaces_a_server_failing_at_the_last_write(grid):
    size = 20 * SEG + 17
    data = data_of(size, 9)
    per_batch = segments_per_batch(3, 10, 5, SEG)
    batches = -(-21 // per_batch)            # 21 segments
    grid.servers[3].fail_after_writes = 1 + batches    # the claim and every batch, not the end
    node = await grid.create(data, version=MDMF_VERSION)
    assert grid.servers[3].fail_writes
    assert "write failed" in " ".join(node.get_publish_status().get_problems().values())
    verify_on_disk_except(grid, node, data, broken=3)
    held = {sh for i, sh, _p in grid.share_files(node.get_storage_index()) if i != 3}
    assert held == set(range(10))
    assert await grid.node(node.get_uri()).download_best_version() == data


def test_a_servers_shares_are_split_into_calls_a_server_accepts():
    def tw(size):
        return ([(0, 1, b"eq", b"")], [(0, b"x" * size)], size)
    shares_ = {3: tw(40), 1: tw(40), 2: tw(30), 0: tw(100)}
    parts = split_by_size(shares_, limit=100)
    assert [sorted(p) for p in parts] == [[0], [1, 2], [3]]
    assert all(p[sh] is shares_[sh] for p in parts for sh in p)
    assert split_by_size(shares_, limit=10**9) == [dict(sorted(shares_.items()))]
    assert split_by_size({}) == [{}]
    # a share's data counts every data vector it carries
    many = {0: ([], [(0, b"a" * 60), (60, b"b" * 60)], None), 1: tw(1)}
    assert [sorted(p) for p in split_by_size(many, limit=100)] == [[0], [1]]
