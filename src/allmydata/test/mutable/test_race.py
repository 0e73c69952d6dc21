"""Two writers at once: test-and-set makes one of them fail, and the file
always reads as one whole version."""

import pytest
import pytest_twisted
from twisted.internet import defer

from allmydata.mutable.common import (
    MDMF_VERSION,
    MODE_WRITE,
    SDMF_VERSION,
    UncoordinatedWriteError,
)

from .test_publish import SEG, data_of


@pytest.mark.parametrize("version,size", [(SDMF_VERSION, 1000), (MDMF_VERSION, 1000),
                                          (MDMF_VERSION, 12 * SEG)])
@pytest_twisted.ensureDeferred
async def test_racing_writers(grid, version, size):
    node = await grid.create(data_of(size), version=version)
    a, b = grid.node(node.get_uri()), grid.node(node.get_uri())
    map_a = await a.get_servermap(MODE_WRITE)
    map_b = await b.get_servermap(MODE_WRITE)
    new_a, new_b = data_of(size, 1), data_of(size, 2)
    results = await defer.DeferredList(
        [defer.ensureDeferred(a._publish(new_a, map_a)),
         defer.ensureDeferred(b._publish(new_b, map_b))], consumeErrors=True)
    failures = [r for ok, r in results if not ok]
    assert failures and all(f.check(UncoordinatedWriteError) for f in failures)
    got = await grid.node(node.get_readonly_uri()).download_best_version()
    assert got in (new_a, new_b)


@pytest_twisted.ensureDeferred
async def test_stale_writer_is_refused(grid):
    node = await grid.create(b"v1", version=SDMF_VERSION)
    stale = grid.node(node.get_uri())
    stale_map = await stale.get_servermap(MODE_WRITE)
    await node.overwrite(b"v2")
    with pytest.raises(UncoordinatedWriteError) as e:
        await stale._publish(b"stale", stale_map)
    assert "another writer" in str(e.value)
    assert await node.download_best_version() == b"v2"


@pytest_twisted.ensureDeferred
async def test_modify_retries_after_a_race(grid):
    node = await grid.create(b"0", version=SDMF_VERSION)
    other = grid.node(node.get_uri())
    seen = []

    async def modifier(old, servermap, first_time):
        seen.append(old)
        if first_time:   # someone else writes between our read and our publish
            await other.overwrite(b"10")
        return b"%d" % (int(old) + 1)
    await node.modify(modifier)
    assert seen == [b"0", b"10"]
    assert await node.download_best_version() == b"11"
