"""Checking and repairing a directory is checking and repairing the file that
holds its contents, for every kind of directory; a LIT directory has
nothing on any server and answers None."""

import os

import pytest
import pytest_twisted

from allmydata.check_results import CheckAndRepairResults, CheckResults
from allmydata.test.dirnode.conftest import make_client
from allmydata.testing.storagegrid import flip_byte, share_layout
from allmydata.util import base32


async def make_dirs(c):
    """An SDMF, an MDMF and an immutable (CHK) directory, each with a child."""
    lit = c.create_node_from_uri(b"URI:LIT:mfrgg")
    sdmf = await c.create_dirnode({"x": lit}, version="sdmf")
    mdmf = await c.create_dirnode({"x": lit}, version="mdmf")
    pad = c.create_node_from_uri(b"URI:LIT:" + base32.b2a(b"long enough to need a CHK file"))
    imm = await c.create_immutable_dirnode({"x": lit, "pad": pad})
    assert imm.get_uri().startswith(b"URI:DIR2-CHK:")
    return {"sdmf": sdmf, "mdmf": mdmf, "imm": imm}


@pytest.fixture
def client(dir_grid):
    return make_client(dir_grid)


@pytest.mark.parametrize("verify", [False, True])
@pytest_twisted.ensureDeferred
async def test_every_directory_kind_checks_healthy(client, verify):
    for kind, d in (await make_dirs(client)).items():
        ro = client.create_node_from_uri(d.get_readonly_uri())
        for node in (d, ro):
            r = await node.check(verify=verify)
            assert isinstance(r, CheckResults), kind
            assert r.is_healthy() and r.is_recoverable(), (kind, r.summary)
            assert r.get_storage_index() == d.get_storage_index()
            assert r.count_shares_good == 10 and r.count_shares_needed == 3
            # the same answer as the file holding the contents
            f = await d.get_filenode().check(verify=verify)
            assert (f.healthy, f.count_shares_good) == (r.healthy, r.count_shares_good)


@pytest_twisted.ensureDeferred
async def test_a_lit_directory_has_nothing_to_check(client):
    d = await client.create_immutable_dirnode({})
    assert d.get_uri().startswith(b"URI:DIR2-LIT:")
    assert await d.check() is None
    assert await d.check(verify=True, add_lease=True) is None
    assert await d.check_and_repair() is None


def lose_shares(grid, node, count):
    """Delete ``count`` share files of ``node``'s file."""
    files = grid.share_files(node.get_storage_index())
    for _i, _shnum, path in files[:count]:
        os.remove(path)


@pytest.mark.parametrize("kind", ["sdmf", "mdmf", "imm"])
@pytest_twisted.ensureDeferred
async def test_repair_of_a_directory_that_lost_shares(client, dir_grid, kind):
    d = (await make_dirs(client))[kind]
    lose_shares(dir_grid, d, 4)
    other = make_client(dir_grid).create_node_from_uri(d.get_uri())
    r = await other.check()
    assert not r.is_healthy() and r.is_recoverable() and r.count_shares_good == 6
    crr = await other.check_and_repair()
    assert isinstance(crr, CheckAndRepairResults)
    assert crr.repair_attempted and crr.repair_successful, crr.repair_error
    assert not crr.pre_repair_results.is_healthy() and crr.post_repair_results.is_healthy()
    r = await make_client(dir_grid).create_node_from_uri(d.get_uri()).check()
    assert r.is_healthy() and r.count_shares_good == 10
    assert set(await other.list()) == {"x"} | ({"pad"} if kind == "imm" else set())


@pytest_twisted.ensureDeferred
async def test_verify_of_a_directory_finds_a_corrupt_share(client, dir_grid):
    d = (await make_dirs(client))["imm"]
    _i, shnum, path = dir_grid.share_files(d.get_storage_index())[0]
    flip_byte(path, share_layout(path).data)
    assert (await d.check()).is_healthy()         # a check does not read the shares
    r = await d.check(verify=True)
    assert not r.is_healthy() and r.is_recoverable()
    assert [(si, n) for (_s, si, n) in r.get_corrupt_shares()] == [(d.get_storage_index(),
                                                                     shnum)]
