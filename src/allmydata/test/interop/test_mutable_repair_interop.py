"""Check and repair of mutable files (SDMF, MDMF) across implementations.

Every test runs on the ``cross_grid`` fixture twice: with our storage nodes
and with Tahoe-LAFS's own (the control).  Both clients (a Tahoe-LAFS 1.20
client and one of ours) use 2-of-5, happy 3, over three storage nodes.

* A storage node loses its shares of a mutable file Tahoe-LAFS wrote: our
  client's check-and-repair republishes it, and Tahoe-LAFS's verifier then
  finds every share good and of one version.
* One byte among the blocks of a share of a Tahoe-LAFS mutable file is
  damaged: a plain check by our client does not see it, our verify names the
  share, our repair rewrites it, and Tahoe-LAFS's verifier counts it good.
* A mutable file our client wrote lost shares: Tahoe-LAFS's check-and-repair
  republishes it, and our verify finds it healthy.
"""

import json
import os

import pytest

from allmydata.mutable import layout
from allmydata.test.interop.conftest import TOTAL
from allmydata.testing.mutablegrid import MutableGrid

pytestmark = pytest.mark.interop

FORMATS = ["SDMF", "MDMF"]


def _data(fmt) -> bytes:
    # MDMF: several 128 KiB segments
    return os.urandom(3 * 131072 + 777 if fmt == "MDMF" else 20000)


def _check(client, cap, verify=False, repair=False):
    path = client._cap_path(cap) + "?t=check&output=JSON&verify=%s&repair=%s" % (
        "true" if verify else "false", "true" if repair else "false")
    return json.loads(client.request("POST", path, b"", timeout=300))


def _lose_shares(grid, si, node_index):
    lost = grid.storage_nodes[node_index].delete_shares(si)
    assert lost, "node %d held no share of %s\n%s" % (node_index, si, grid.logs())
    return lost


def _seqnums(grid, si) -> dict:
    """{shnum: set of seqnums} of the shares on every storage node."""
    out: dict = {}
    for node in grid.storage_nodes:
        for shnum, path in node.share_files(si).items():
            seq = layout.unpack_prefix(MutableGrid.read_share(path)).seqnum
            out.setdefault(shnum, set()).add(seq)
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_our_client_repairs_tahoe_mutable_file(cross_grid, fmt):
    grid = cross_grid
    data = _data(fmt)
    cap = grid.client.upload(data, format=fmt)
    si = grid.client.storage_index(cap)
    lost = _lose_shares(grid, si, 0)

    answer = _check(grid.ours, cap, repair=True)
    pre = answer["pre-repair-results"]["results"]
    post = answer["post-repair-results"]["results"]
    assert pre["healthy"] is False and pre["recoverable"] is True, answer
    assert pre["count-shares-good"] == TOTAL - len(lost), answer
    assert answer["repair-attempted"] is True
    assert answer["repair-successful"] is True, (answer, grid.logs())
    assert post["healthy"] is True and post["count-shares-good"] == TOTAL, answer
    assert set(_seqnums(grid, si)) == set(range(TOTAL))
    assert {seq for seqs in _seqnums(grid, si).values() for seq in seqs} == {2}

    results = grid.client.check(cap, verify=True)
    assert results["healthy"] is True and results["count-shares-good"] == TOTAL, results
    assert results["count-corrupt-shares"] == 0 and results["count-wrong-shares"] == 0
    assert grid.client.download(cap) == data


@pytest.mark.parametrize("fmt", FORMATS)
def test_our_client_replaces_corrupt_share_of_tahoe_mutable_file(cross_grid, fmt):
    grid = cross_grid
    data = _data(fmt)
    cap = grid.client.upload(data, format=fmt)
    si = grid.client.storage_index(cap)
    shnum, path = sorted(grid.storage_nodes[1].share_files(si).items())[0]
    share = layout.parse_share(MutableGrid.read_share(path))
    salt = layout.SALT_SIZE if fmt == "MDMF" else 0
    MutableGrid.corrupt_share(path, share.offsets["share_data"] + salt + 100)

    plain = _check(grid.ours, cap)
    assert plain["results"]["healthy"] is True, "a plain check cannot see block damage"
    answer = _check(grid.ours, cap, verify=True, repair=True)
    pre = answer["pre-repair-results"]["results"]
    assert pre["count-corrupt-shares"] == 1 and pre["list-corrupt-shares"][0][2] == shnum, answer
    assert answer["repair-successful"] is True, (answer, grid.logs())
    assert answer["post-repair-results"]["results"]["healthy"] is True

    results = grid.client.check(cap, verify=True)
    assert results["healthy"] is True and results["count-corrupt-shares"] == 0, results
    assert grid.client.download(cap) == data


@pytest.mark.parametrize("fmt", FORMATS)
def test_tahoe_client_repairs_our_mutable_file(cross_grid, fmt):
    grid = cross_grid
    data = _data(fmt)
    cap = grid.ours.upload(data, format=fmt)
    si = grid.client.storage_index(cap)
    lost = _lose_shares(grid, si, 2)

    answer = _check(grid.client, cap, repair=True)
    assert answer["pre-repair-results"]["results"]["count-shares-good"] == TOTAL - len(lost)
    assert answer["repair-successful"] is True, (answer, grid.logs())
    ours = _check(grid.ours, cap, verify=True)
    assert ours["results"]["healthy"] is True, ours
    assert ours["results"]["count-shares-good"] == TOTAL
    assert grid.ours.download(cap) == data
