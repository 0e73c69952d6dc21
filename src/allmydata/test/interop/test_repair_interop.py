"""Repair across implementations: Tahoe-LAFS 1.20 repairs on our storage
nodes, and our client repairs what Tahoe-LAFS stored.

Every test runs on the ``cross_grid`` fixture twice: with our storage nodes
and with Tahoe-LAFS's own (the control).  Both clients (a Tahoe-LAFS 1.20
client and one of ours) use 2-of-5, happy 3, over three storage nodes.

* A storage node loses its shares of a file (deleted on disk): the
  Tahoe-LAFS client's ``POST ?t=check&repair=true&output=JSON`` sees the
  file unhealthy, repairs it, and its post-repair check says healthy.
* The same loss, repaired by our client: afterwards the Tahoe-LAFS client's
  verifier (every share read in full, every hash checked) finds the file
  healthy, and the file downloads intact.
* Our client repairs its own file after the same loss; a file left with
  fewer than k shares is reported unrecoverable and nothing is written.
* Our check with ``add-lease=true`` adds our client's lease to every share
  of a file the Tahoe-LAFS client stored.
* A share of a Tahoe-LAFS file damaged on disk: our verify finds it and
  our repair puts a good copy elsewhere, which Tahoe-LAFS's verifier then
  counts as good (Tahoe-LAFS's own repair places nothing in this case).
"""

import json
import os
import struct

import pytest

from allmydata.test.interop.conftest import TOTAL

pytestmark = pytest.mark.interop

SIZE = 3 * 1024 * 1024 + 4321   # several segments of either client's size


def _check_and_repair(client, cap, verify=False):
    path = client._cap_path(cap) + "?t=check&repair=true&output=JSON&verify=%s" % (
        "true" if verify else "false")
    return json.loads(client.request("POST", path, b"", timeout=300))


def _lose_shares(grid, si, node_index=0):
    """Delete the shares of ``si`` on one storage node; their numbers."""
    lost = grid.storage_nodes[node_index].delete_shares(si)
    assert lost, "node %d held no share of %s\n%s" % (node_index, si, grid.logs())
    return lost


def _shnums(grid, si):
    found = set()
    for node in grid.storage_nodes:
        found |= set(node.share_files(si))
    return found


def test_tahoe_client_repairs(cross_grid):
    grid = cross_grid
    data = os.urandom(SIZE)
    cap = grid.client.upload(data)
    si = grid.client.storage_index(cap)
    lost = _lose_shares(grid, si)

    answer = _check_and_repair(grid.client, cap)
    pre = answer["pre-repair-results"]["results"]
    post = answer["post-repair-results"]["results"]
    assert pre["healthy"] is False and pre["count-shares-good"] == TOTAL - len(lost), answer
    assert answer["repair-attempted"] is True
    assert answer["repair-successful"] is True, (answer, grid.logs())
    assert post["healthy"] is True and post["count-shares-good"] == TOTAL
    assert _shnums(grid, si) == set(range(TOTAL))
    # our client sees the repaired file healthy, read in full
    ours = json.loads(grid.ours.request("POST", grid.ours._cap_path(cap)
                                        + "?t=check&verify=true&output=JSON", b""))
    assert ours["results"]["healthy"] is True, ours
    assert grid.ours.download(cap) == data


def test_our_client_repairs_tahoe_file(cross_grid):
    grid = cross_grid
    data = os.urandom(SIZE)
    cap = grid.client.upload(data)
    si = grid.client.storage_index(cap)
    lost = _lose_shares(grid, si, node_index=1)

    answer = _check_and_repair(grid.ours, cap)
    pre = answer["pre-repair-results"]["results"]
    post = answer["post-repair-results"]["results"]
    assert pre["healthy"] is False and pre["count-shares-good"] == TOTAL - len(lost), answer
    assert answer["repair-attempted"] is True
    assert answer["repair-successful"] is True, (answer, grid.logs())
    assert post["healthy"] is True and post["count-happiness"] == len(grid.storage_nodes)
    assert _shnums(grid, si) == set(range(TOTAL))

    # Tahoe-LAFS reads every share, the new ones included, and finds them good
    results = grid.client.check(cap, verify=True)
    assert results["healthy"] is True and results["count-shares-good"] == TOTAL, results
    assert results["count-corrupt-shares"] == 0
    assert grid.client.download(cap) == data


def test_our_client_replaces_corrupt_share_of_tahoe_file(cross_grid):
    grid = cross_grid
    data = os.urandom(SIZE)
    cap = grid.client.upload(data)
    si = grid.client.storage_index(cap)
    node = grid.storage_nodes[2]
    shnum, path = sorted(node.share_files(si).items())[0]
    # a byte among the blocks: after the container header (12 bytes) and the
    # share's v1 header (36 bytes)
    with open(path, "r+b") as f:
        f.seek(0x0C + 0x24 + 1000)
        b = f.read(1)
        f.seek(0x0C + 0x24 + 1000)
        f.write(bytes([b[0] ^ 0xFF]))

    answer = _check_and_repair(grid.ours, cap, verify=True)
    pre = answer["pre-repair-results"]["results"]
    assert pre["count-corrupt-shares"] == 1 and pre["list-corrupt-shares"][0][2] == shnum, answer
    assert answer["repair-successful"] is True, (answer, grid.logs())
    assert answer["post-repair-results"]["results"]["healthy"] is True

    results = grid.client.check(cap, verify=True)
    assert results["healthy"] is True, results
    assert results["count-corrupt-shares"] == 1        # the bad copy is still there
    assert results["count-shares-good"] == TOTAL
    assert grid.client.download(cap) == data


def _check(client, cap, verify=False):
    path = client._cap_path(cap) + "?t=check&output=JSON&verify=%s" % (
        "true" if verify else "false")
    return json.loads(client.request("POST", path, b"", timeout=300))


def test_our_client_repairs_its_own_file(cross_grid):
    """Lose a node's shares: our check says unhealthy but recoverable, our
    repair restores every share with happiness over all three nodes."""
    grid = cross_grid
    data = os.urandom(SIZE)
    cap = grid.ours.upload(data)
    si = grid.client.storage_index(cap)
    lost = _lose_shares(grid, si, node_index=2)
    before = _check(grid.ours, cap)["results"]
    assert before["healthy"] is False and before["recoverable"] is True
    assert before["count-shares-good"] == TOTAL - len(lost)

    answer = _check_and_repair(grid.ours, cap)
    assert answer["repair-successful"] is True, (answer, grid.logs())
    after = _check(grid.ours, cap)["results"]
    assert after["healthy"] is True and after["count-happiness"] == len(grid.storage_nodes)
    assert grid.client.check(cap, verify=True)["healthy"] is True


def test_unrecoverable_file_left_alone(cross_grid):
    grid = cross_grid
    cap = grid.client.upload(os.urandom(SIZE))
    si = grid.client.storage_index(cap)
    kept = False
    for node in grid.storage_nodes:
        for _shnum, path in sorted(node.share_files(si).items()):
            if kept:
                os.unlink(path)
            kept = True
    assert len(_shnums(grid, si)) == 1
    answer = _check_and_repair(grid.ours, cap)
    assert answer["pre-repair-results"]["results"]["recoverable"] is False
    assert answer["repair-successful"] is False
    assert len(_shnums(grid, si)) == 1


def test_our_client_adds_leases(cross_grid):
    """``t=check&add-lease=true`` from our client adds a lease of its own to
    every share of a file the Tahoe-LAFS client stored (the storage nodes
    accept ``add_lease``), seen in the share files' lease counts."""
    grid = cross_grid
    cap = grid.client.upload(os.urandom(100_000))
    si = grid.client.storage_index(cap)

    def lease_counts():
        counts = []
        for node in grid.storage_nodes:
            for path in node.share_files(si).values():
                with open(path, "rb") as f:
                    counts.append(struct.unpack(">L", f.read(12)[8:12])[0])
        return counts
    assert set(lease_counts()) == {1}
    path = grid.ours._cap_path(cap) + "?t=check&add-lease=true&output=JSON"
    answer = json.loads(grid.ours.request("POST", path, b""))
    assert answer["results"]["healthy"] is True
    counts = lease_counts()
    assert len(counts) == TOTAL and set(counts) == {2}
