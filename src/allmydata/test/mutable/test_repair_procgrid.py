"""Check and repair of mutable files and directories on a grid of real node
processes (an introducer, five storage nodes, a client at 3-of-10, happy 5),
driven through the client's web API.

For an SDMF file, an MDMF file and a directory: two storage nodes stop, so
six shares of ten are left; a check says the object is recoverable but not
healthy; a repair republishes it on the three nodes left and the check after
it says healthy, with happiness 3.  When the two nodes come back they hold
shares of the old version: a check counts them as a second (recoverable) version, and a
second repair rewrites them, after which every share of the object is of the
newest version and happiness is 5.  An object with fewer than three shares
left is reported unrecoverable and no share file changes.
"""

import json

import pytest

from allmydata.mutable import layout
from allmydata.testing.mutablegrid import MutableGrid
from allmydata.testing.procgrid import ProcessGrid, http_request

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def module_grid(tmp_path_factory):
    yield from ProcessGrid(tmp_path_factory.mktemp("mutgrid"), num_storage=5,
                           encoding=(3, 5, 10)).lifetime()


@pytest.fixture
def grid(module_grid):
    module_grid.heal()
    return module_grid


def make(grid, kind) -> str:
    if kind == "directory":
        r = http_request(grid.url, "POST", "/uri?t=mkdir")
    else:
        r = http_request(grid.url, "PUT", "/uri?format=%s" % kind,
                         body=("%s contents\n" % kind).encode() * 2000)
    assert r.status == 200, r
    return r.text.strip()


def check(grid, cap, **args) -> dict:
    query = "?t=check&output=JSON" + "".join("&%s=true" % a for a in args)
    r = grid.get(cap, query, method="POST")
    assert r.status == 200, r
    return json.loads(r.body)


def seqnums(grid, cap) -> dict:
    """{(node, shnum): seqnum} of the shares on disk."""
    return {(i, shnum): layout.unpack_prefix(MutableGrid.read_share(path)).seqnum
            for i, shares in grid.shares(cap).items() for shnum, path in shares.items()}


@pytest.mark.parametrize("kind", ["SDMF", "MDMF", "directory"])
def test_lost_servers_then_repair(grid, kind):
    cap = make(grid, kind)
    assert set(seqnums(grid, cap).values()) == {1} and len(seqnums(grid, cap)) == 10
    grid.stop(0, 1)
    grid.wait_connected(3)

    r = check(grid, cap)["results"]
    assert r["recoverable"] is True and r["healthy"] is False, r
    assert r["count-shares-good"] == 6 and r["count-good-share-hosts"] == 3

    answer = check(grid, cap, repair=True)
    assert answer["repair-attempted"] is True and answer["repair-successful"] is True, answer
    post = answer["post-repair-results"]["results"]
    assert post["healthy"] is True and post["count-shares-good"] == 10, post
    assert post["count-happiness"] == 3
    live = {k: v for k, v in seqnums(grid, cap).items() if k[0] >= 2}
    assert sorted(sh for _i, sh in live) == list(range(10)) and set(live.values()) == {2}

    grid.start(0, 1)
    grid.wait_connected(5)
    r = check(grid, cap)["results"]
    assert r["healthy"] is False and r["count-wrong-shares"] == 4, r
    # four old shares (two nodes, two each) are enough to read the old version too
    assert (r["count-recoverable-versions"], r["count-unrecoverable-versions"]) == (2, 0)
    assert "multiple versions are recoverable" in check(grid, cap)["summary"]
    answer = check(grid, cap, repair=True, verify=True)
    assert answer["repair-successful"] is True, answer
    post = answer["post-repair-results"]["results"]
    assert post["healthy"] is True and post["count-wrong-shares"] == 0
    assert post["count-happiness"] == 5, post
    assert set(seqnums(grid, cap).values()) == {3}
    assert check(grid, cap, verify=True)["results"]["healthy"] is True


@pytest.mark.parametrize("kind", ["MDMF", "directory"])
def test_unrecoverable_is_left_alone(grid, kind):
    cap = make(grid, kind)
    grid.stop(0, 1, 2, 3)
    grid.wait_connected(1)
    try:
        before = {}
        for shares in grid.shares(cap).values():
            for path in shares.values():
                with open(path, "rb") as f:
                    before[path] = f.read()
        answer = check(grid, cap, repair=True)
        pre = answer["pre-repair-results"]["results"]
        assert pre["recoverable"] is False and pre["count-shares-good"] == 2, answer
        assert answer["repair-successful"] is False
        for path, data in before.items():
            with open(path, "rb") as f:
                assert f.read() == data, "%s changed" % path
    finally:
        grid.start(0, 1, 2, 3)
        grid.wait_connected(5)
