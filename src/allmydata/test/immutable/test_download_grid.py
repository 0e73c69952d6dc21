"""The in-process storage grid of the download tests
(:class:`allmydata.testing.storagegrid.StorageGrid`): distinct servers, all
connected, and an upload puts its shares on their disks."""

import pytest_twisted

from allmydata import uri
from allmydata.testing.storagegrid import share_layout
from allmydata.util.rrefutil import call_remote


# ---- the grid itself ------------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_grid_servers_are_distinct_and_connected(grid):
    assert len(set(grid.serverids)) == 5
    servers = grid.broker.get_connected_servers()
    assert {s.get_serverid() for s in servers} == set(grid.serverids)
    for s in servers:
        v = await call_remote(s.get_rref(), "get_version")
        assert b"http://allmydata.org/tahoe/protocols/storage/v1" in v


@pytest_twisted.ensureDeferred
async def test_grid_upload_places_shares_on_disk(grid):
    cap = await grid.upload(b"x" * 1000)
    si = uri.from_string(cap).get_storage_index()
    files = grid.share_files(si)
    assert sorted(shnum for _i, shnum, _p in files) == list(range(10))
    assert {i for i, _s, _p in files} == set(range(5))
    assert share_layout(files[0][2]).version == 1
