"""Faults: a server holding an old version, corrupt shares, too few servers."""

import pytest
import pytest_twisted

from allmydata.mutable import layout
from allmydata.mutable.common import (
    MDMF_VERSION,
    MODE_CHECK,
    SDMF_VERSION,
    NotEnoughServersError,
    UnrecoverableFileError,
)

from .test_publish import SEG, data_of


@pytest.mark.parametrize("version", [SDMF_VERSION, MDMF_VERSION])
@pytest_twisted.ensureDeferred
async def test_server_with_an_old_version(grid, version):
    node = await grid.create(b"old version", version=version)
    si = node.get_storage_index()
    saved = grid.save_shares(si)
    on_server0 = [p for i, _sh, p in grid.share_files(si) if i == 0]
    await node.overwrite(b"new version")
    grid.restore_shares(saved, only=on_server0)       # server 0 went back in time
    reader = grid.node(node.get_readonly_uri())
    assert await reader.download_best_version() == b"new version"
    smap = await reader.get_servermap(MODE_CHECK)
    assert sorted(v[0] for v in smap.versions()) == [1, 2]
    assert smap.best_recoverable_version()[0] == 2
    # the next publish rewrites every share, old ones included
    await node.overwrite(b"third")
    for _i, _sh, path in grid.share_files(si):
        assert layout.unpack_prefix(grid.read_share(path)).seqnum == 3


@pytest.mark.parametrize("version,where", [(SDMF_VERSION, "data"), (MDMF_VERSION, "data"),
                                           (SDMF_VERSION, "signature"), (MDMF_VERSION, "chain")])
@pytest_twisted.ensureDeferred
async def test_corrupt_share_is_reported_and_avoided(grid, version, where):
    data = data_of(2 * SEG if version == MDMF_VERSION else 5000)
    node = await grid.create(data, version=version)
    si = node.get_storage_index()
    files = grid.share_files(si)
    # corrupt shares 0, 1 and 2 (the ones a reader tries first)
    for i, shnum, path in files:
        if shnum > 2:
            continue
        h = layout.parse_share(grid.read_share(path))
        if where == "data":
            offset = h.offsets["share_data"] + (20 if version == SDMF_VERSION else 16 + 20)
        elif where == "signature":
            offset = h.field_range("signature")[0] + 10
        else:
            offset = h.field_range("share_hash_chain")[0] + 5
        grid.corrupt_share(path, offset)
    reader = grid.node(node.get_readonly_uri())
    assert await reader.download_best_version() == data
    advised = grid.all_advisories()
    assert sum(len(v) for v in advised.values()) >= 3
    problems = " ".join(reader.get_retrieve_status().get_problems().values())
    if where != "signature":
        assert "corrupt" in problems or "does not" in problems


@pytest_twisted.ensureDeferred
async def test_too_many_corrupt_shares(grid):
    data = data_of(5000)
    node = await grid.create(data, version=SDMF_VERSION)
    for _i, shnum, path in grid.share_files(node.get_storage_index()):
        if shnum < 8:
            h = layout.parse_share(grid.read_share(path))
            grid.corrupt_share(path, h.offsets["share_data"] + 1)
    with pytest.raises(UnrecoverableFileError) as e:
        await grid.node(node.get_readonly_uri()).download_best_version()
    assert "3 needed" in str(e.value) or "needed" in str(e.value)


@pytest.mark.parametrize("version", [SDMF_VERSION, MDMF_VERSION])
@pytest_twisted.ensureDeferred
async def test_fewer_than_k_servers(grid, version):
    node = await grid.create(b"hard to reach", version=version)
    for i in range(4):          # 2 shares left, 3 needed
        await grid.stop_server(i)
    reader = grid.node(node.get_readonly_uri())
    with pytest.raises(UnrecoverableFileError) as e:
        await reader.download_best_version()
    text = str(e.value)
    assert "2 distinct shares, 3 needed" in text and "did not answer" in text


@pytest_twisted.ensureDeferred
async def test_reads_with_servers_down(grid):
    data = data_of(3 * SEG)
    node = await grid.create(data, version=MDMF_VERSION)
    await grid.stop_server(0)
    await grid.stop_server(1)     # 6 shares left
    assert await grid.node(node.get_readonly_uri()).download_best_version() == data
    await node.write_at(SEG, b"still writable")
    expect = data[:SEG] + b"still writable" + data[SEG + 14:]
    assert await grid.node(node.get_readonly_uri()).download_best_version() == expect


@pytest.mark.parametrize("version", [SDMF_VERSION, MDMF_VERSION])
@pytest_twisted.ensureDeferred
async def test_writes_with_no_server_reachable(grid, version):
    """Every server stopped: a write through a fresh write-cap node (which has
    no private key yet) or through the creating node fails with
    NotEnoughServersError saying how many servers could be reached, not with
    a complaint about the private key."""
    node = await grid.create(b"out of reach", version=version)
    for i in range(5):
        await grid.stop_server(i)
    for writer in (grid.node(node.get_uri()), node):
        for write in (lambda w=writer: w.overwrite(b"new"),
                      lambda w=writer: w.modify(lambda old, smap, first: old + b"!"),
                      lambda w=writer: w.write_at(2, b"xy")):
            with pytest.raises(NotEnoughServersError) as e:
                await write()
            assert "only 0 of the 5 known storage servers could be reached" in str(e.value)
            assert "5 did not answer" in str(e.value)


@pytest_twisted.ensureDeferred
async def test_writes_with_only_shareless_servers_reachable(grid):
    """The three servers holding the file's shares (3-of-3) are down, two
    others answer: a write cannot find the shares (nor the private key), so
    it is a NotEnoughServersError naming the 2 servers reached; reads stay
    UnrecoverableFileError; the file is intact once the servers return."""
    node = await grid.create(b"three shares", version=MDMF_VERSION, k=3, n=3)
    holders = sorted({i for i, _sh, _p in grid.share_files(node.get_storage_index())})
    assert len(holders) == 3
    saved = grid.save_shares(node.get_storage_index())
    for i in holders:
        await grid.stop_server(i)
    fresh = grid.node(node.get_uri(), k=3, n=3)
    for writer in (fresh, node):
        with pytest.raises(NotEnoughServersError) as e:
            await writer.overwrite(b"lost")
        text = str(e.value)
        assert "only 2 of the 5 known storage servers could be reached" in text, text
        assert "3 did not answer" in text, text
    with pytest.raises(UnrecoverableFileError):
        await fresh.download_best_version()
    # nothing was written on the servers that answered
    assert grid.save_shares(node.get_storage_index()) == saved


@pytest_twisted.ensureDeferred
async def test_overwrite_with_a_share_holder_reachable(grid):
    """Fewer than k servers answer but one of them holds shares: the private
    key comes from those shares and the overwrite places every share on the
    servers there are."""
    node = await grid.create(b"before", version=SDMF_VERSION)
    for i in range(4):
        await grid.stop_server(i)
    fresh = grid.node(node.get_uri())
    await fresh.overwrite(b"after")
    assert await grid.node(node.get_readonly_uri()).download_best_version() == b"after"
