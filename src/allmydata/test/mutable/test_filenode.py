"""MutableFileNode: caps, read-only refusal, overwrite, update, modify,
write_at (MDMF in place, SDMF whole), sizes."""

import pytest
import pytest_twisted

from allmydata import uri
from allmydata.interfaces import NotCapableError as SeedNotCapableError
from allmydata.mutable.common import (
    MDMF_VERSION,
    SDMF_VERSION,
    NotCapableError,
    UncoordinatedWriteError,
)
from allmydata.mutable.layout import MDMF_SHARE_DATA_OFFSET as MDMF_SHARE_DATA

from .test_publish import SEG, data_of, verify_on_disk


@pytest_twisted.ensureDeferred
async def test_caps(grid):
    sdmf = await grid.create(b"a", version=SDMF_VERSION)
    mdmf = await grid.create(b"b", version=MDMF_VERSION)
    assert sdmf.get_uri().startswith(b"URI:SSK:") and mdmf.get_uri().startswith(b"URI:MDMF:")
    assert sdmf.get_readonly_uri().startswith(b"URI:SSK-RO:")
    assert mdmf.get_readonly_uri().startswith(b"URI:MDMF-RO:")
    for node in (sdmf, mdmf):
        assert node.is_mutable() and not node.is_unknown()
        assert not node.is_allowed_in_immutable_directory()
        assert node.get_writekey() is not None and len(node.get_fingerprint()) == 32
        ro = grid.node(node.get_readonly_uri())
        assert ro.is_readonly() and ro.get_writekey() is None
        assert ro.get_storage_index() == node.get_storage_index()
        assert ro.get_readkey() == node.get_readkey()
        assert ro.get_verify_cap() == node.get_verify_cap()
        assert ro.get_version() == node.get_version()
        assert isinstance(uri.from_string(node.get_verify_cap().to_string()), type(node.get_verify_cap()))
    assert (await grid.node(mdmf.get_uri()).get_current_size()) == 1


@pytest_twisted.ensureDeferred
async def test_read_cap_refuses_writes(grid):
    node = await grid.create(b"mine", version=MDMF_VERSION)
    ro = grid.node(node.get_readonly_uri())
    for call in (lambda: ro.overwrite(b"x"), lambda: ro.update(b"x"),
                 lambda: ro.modify(lambda old, sm, first: b"x"), lambda: ro.write_at(0, b"x")):
        with pytest.raises(NotCapableError):
            await call()
    assert issubclass(NotCapableError, SeedNotCapableError)
    assert await node.download_best_version() == b"mine"


@pytest_twisted.ensureDeferred
async def test_update_and_modify(grid):
    node = await grid.create(b"one", version=SDMF_VERSION)
    assert await node.download_to_data() == b"one"
    await node.update(b"two")
    assert await grid.node(node.get_uri()).download_best_version() == b"two"
    # another writer changes the file: update() of a stale node refuses
    other = grid.node(node.get_uri())
    await other.overwrite(b"three")
    with pytest.raises(UncoordinatedWriteError):
        await node.update(b"four")
    calls = []

    def modifier(old, servermap, first_time):
        calls.append((old, first_time))
        return old + b"+m"
    await node.modify(modifier)
    assert calls == [(b"three", True)]
    assert await node.download_best_version() == b"three+m"
    await node.modify(lambda old, sm, first: None)     # no change: no publish
    assert node.get_publish_status().get_seqnum() == 4


@pytest_twisted.ensureDeferred
async def test_write_at_mdmf_touches_only_its_segments(grid):
    data = data_of(6 * SEG + 50)
    node = await grid.create(data, version=MDMF_VERSION)
    piece = SEG // 3 + 16
    grid.clear_logs()
    await node.write_at(2 * SEG + 5, b"hello")
    expect = bytearray(data)
    expect[2 * SEG + 5:2 * SEG + 10] = b"hello"
    block_writes = [(off, length) for _sh, off, length in grid.written() if off >= MDMF_SHARE_DATA
                    and off < MDMF_SHARE_DATA + 6 * piece]
    assert block_writes and all(off == MDMF_SHARE_DATA + 2 * piece and length == piece
                                for off, length in block_writes)
    assert await grid.node(node.get_readonly_uri()).download_best_version() == bytes(expect)
    verify_on_disk(grid, node, bytes(expect))


@pytest.mark.parametrize("version", [SDMF_VERSION, MDMF_VERSION])
@pytest_twisted.ensureDeferred
async def test_write_at_offsets(grid, version):
    data = data_of(2 * SEG + 100)
    node = await grid.create(data, version=version)
    expect = bytearray(data)
    for offset, new in [(0, b"start"), (SEG - 2, b"across"), (2 * SEG + 95, b"extend" * 3000),
                        (len(expect), b"append"), (len(expect) + 6 + 10, b"gap")]:
        await node.write_at(offset, new)
        if offset > len(expect):
            expect += b"\x00" * (offset - len(expect))
        expect[offset:offset + len(new)] = new
        assert await grid.node(node.get_uri()).download_best_version() == bytes(expect)
        assert await node.get_current_size() == len(expect)
    verify_on_disk(grid, node, bytes(expect))


@pytest_twisted.ensureDeferred
async def test_write_at_empty_mdmf(grid):
    node = await grid.create(b"", version=MDMF_VERSION)
    await node.write_at(0, b"first bytes")
    assert await node.download_best_version() == b"first bytes"


@pytest_twisted.ensureDeferred
async def test_create_from_file_like(grid):
    import io
    data = data_of(SEG + 1)
    node = await grid.create(io.BytesIO(data), version=MDMF_VERSION)
    assert await node.download_best_version() == data
    await node.overwrite(io.BytesIO(b"again"))
    assert await node.download_best_version() == b"again"
    assert node.get_size() == 5


@pytest.mark.parametrize("version", [SDMF_VERSION, MDMF_VERSION])
@pytest_twisted.ensureDeferred
async def test_reads_and_writes_take_few_remote_calls(grid, version):
    """Each round trip costs latency: a read maps the 5 servers, then reads
    k=3 shares' hashes together with their blocks (one call each); an MDMF
    write_at also loads every share's hashes with one call per server."""
    from allmydata.immutable.target import MemoryConsumer
    size = 6 * SEG + 50 if version == MDMF_VERSION else 5000
    data = data_of(size)
    node = await grid.create(data, version=version)
    fresh = grid.node(node.get_uri())
    grid.clear_logs()
    c = await fresh.read(MemoryConsumer(), size // 2, 10)
    assert c.data() == data[size // 2:size // 2 + 10]
    assert grid.read_calls() == 5 + 3
    if version == MDMF_VERSION:
        grid.clear_logs()
        await fresh.write_at(size // 3, b"x")
        assert grid.read_calls() == 5 + 3 + 5
        expect = data[:size // 3] + b"x" + data[size // 3 + 1:]
        assert await grid.node(node.get_readonly_uri()).download_best_version() == expect
