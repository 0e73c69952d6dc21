"""Keeping files alive on a grid of real node processes, through the
``tahoe`` command line: ``check``, ``check --repair``, ``deep-check
--repair`` and ``deep-check --add-lease``.

One module-scoped :class:`~allmydata.testing.procweb.MultiClientGrid`: an
introducer, six storage nodes and two clients at 3-of-10, happy 5 (six
servers, so that happiness can still be met with one of them stopped).
For a CHK file, an SDMF file, an MDMF file and a directory:

* lose shares -- stop a storage node holding some, or delete every share
  file of the object on two nodes -- until it is unhealthy but recoverable;
* ``tahoe check`` says so; ``tahoe check --repair`` (``deep-check
  --repair`` for the directory) repairs it; ``tahoe check`` says healthy,
  with all ten shares and happiness of at least 5 (the stopped node is
  started again by the next test);
* a file with fewer than k shares left is reported unrecoverable, and its
  repair writes nothing on any server;
* ``tahoe deep-check --add-lease`` run by the second client adds its lease
  to every share of a tree, as ``tahoe debug dump-share`` shows.
"""

import hashlib
import io
import json
import os
import subprocess

import pytest

from allmydata.scripts.debug_shares import dump_share
from allmydata.testing.processes import TAHOE
from allmydata.testing.procweb import MultiClientGrid

pytestmark = pytest.mark.integration

K, HAPPY, N = 3, 5, 10
NUM_STORAGE = 6


@pytest.fixture(scope="module")
def module_grid(tmp_path_factory):
    yield from MultiClientGrid(tmp_path_factory.mktemp("maintgrid"), num_storage=NUM_STORAGE,
                               encoding=(K, HAPPY, N), extra_clients=1).lifetime()


@pytest.fixture
def grid(module_grid):
    module_grid.heal()
    return module_grid


def tahoe(grid, *args, client_dir=None, stdin=None):
    """``tahoe -d CLIENT ARGS``: (exit code, stdout, stderr)."""
    proc = subprocess.run(TAHOE + ["-d", client_dir or grid.client] + [str(a) for a in args],
                          input=stdin, capture_output=True, timeout=300, check=False,
                          stdin=None if stdin is not None else subprocess.DEVNULL)
    return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8", "replace")


def ok(grid, *args, client_dir=None, stdin=None) -> str:
    rc, out, err = tahoe(grid, *args, client_dir=client_dir, stdin=stdin)
    assert rc == 0, "tahoe %s: exit %d\n%s\n%s" % (" ".join(map(str, args)), rc, out, err)
    return out


def check_json(grid, cap) -> dict:
    """``tahoe check --raw CAP``, decoded: the results."""
    return json.loads(ok(grid, "check", "--raw", cap))["results"]


def make(grid, kind) -> str:
    client = grid.clients[0]
    data = os.urandom(9000)
    if kind == "CHK":
        return client.upload(data)
    if kind in ("SDMF", "MDMF"):
        return client.create_mutable(data, kind)
    dircap = client.mkdir()
    r = client.put(dircap, data, sub="child")
    assert r.status in (200, 201), r
    return dircap


def assert_healthy(grid, cap):
    out = ok(grid, "check", cap)
    assert out.startswith("Summary: Healthy\n"), out
    assert " good-shares: %d (encoding is %d-of-%d)\n" % (N, K, N) in out, out
    results = check_json(grid, cap)
    assert results["healthy"] and results["recoverable"], results
    assert results["count-happiness"] >= HAPPY, results


def disk_state(grid, cap) -> dict:
    """``{path: sha256}`` of every share file of ``cap`` on every node,
    incoming (unfinished) ones included."""
    state = {}
    for held in grid.shares(cap).values():
        for path in held.values():
            with open(path, "rb") as f:
                state[path] = hashlib.sha256(f.read()).hexdigest()
    for i in range(NUM_STORAGE):
        for path in grid.incoming(i):
            state[path] = "incoming"
    return state


def nodes_by_share_count(grid, cap) -> list:
    held = grid.shares(cap)
    return sorted(held, key=lambda i: (-len(held[i]), i))


@pytest.mark.parametrize("kind, how", [("CHK", "stop"), ("SDMF", "delete"), ("MDMF", "stop"),
                                       ("DIR", "delete"), ("CHK", "delete"), ("MDMF", "delete")])
def test_lost_shares_are_reported_then_repaired(grid, kind, how):
    cap = make(grid, kind)
    assert_healthy(grid, cap)
    victims = nodes_by_share_count(grid, cap)
    if how == "stop":
        grid.stop(victims[0])  # 5 servers are left: happiness can still be met
        grid.wait_all_connected(NUM_STORAGE - 1)
        lost = len(grid.shares(cap)[victims[0]])
    else:
        lost = 0
        for i in victims[:2]:
            for path in grid.shares(cap)[i].values():
                os.unlink(path)
                lost += 1

    out = ok(grid, "check", cap)
    assert not out.startswith("Summary: Healthy"), out
    assert " good-shares: %d (encoding is %d-of-%d)\n" % (N - lost, K, N) in out, out
    results = check_json(grid, cap)
    assert (results["healthy"], results["recoverable"]) == (False, True), results

    if kind == "DIR":
        out = ok(grid, "deep-check", "--repair", "-v", cap)
        assert "'<root>': not healthy\n repair successful\n" in out, out
        assert out.endswith(" post-repair: 2 healthy, 0 unhealthy\n"), out
    else:
        out = ok(grid, "check", "--repair", cap)
        assert out.startswith("Summary: not healthy\n"), out
        assert out.endswith(" repair successful\n"), out
    assert_healthy(grid, cap)


@pytest.mark.parametrize("kind", ["CHK", "SDMF"])
def test_unrecoverable_file_is_reported_and_left_alone(grid, kind):
    cap = make(grid, kind)
    held = grid.shares(cap)
    keep = K - 1
    for i in sorted(held):
        for shnum, path in sorted(held[i].items()):
            if keep:
                keep -= 1
            else:
                os.unlink(path)
    before = disk_state(grid, cap)
    assert len(before) == K - 1

    results = check_json(grid, cap)
    assert (results["healthy"], results["recoverable"]) == (False, False), results
    assert results["count-shares-good"] == K - 1
    out = ok(grid, "check", "--repair", cap)
    assert out.startswith("Summary: not healthy\n"), out
    assert "repair successful" not in out
    assert disk_state(grid, cap) == before
    results = check_json(grid, cap)
    assert (results["recoverable"], results["count-shares-good"]) == (False, K - 1)


def lease_counts(grid, cap) -> list:
    """The number of leases ``tahoe debug dump-share`` shows on each share
    file of ``cap`` (its code run here: one process per share file would
    cost a Python start-up each)."""
    counts = []
    for held in grid.shares(cap).values():
        for path in held.values():
            out = io.StringIO()
            dump_share(path, out, leases_only=True)
            counts.append(out.getvalue().count("Lease #"))
    return counts


def test_deep_check_add_lease_by_another_client(grid):
    root = grid.clients[0].mkdir()
    ok(grid, "add-alias", "maint", root)
    ok(grid, "mkdir", "maint:sub")
    ok(grid, "put", "-", "maint:sub/chk", stdin=os.urandom(5000))
    ok(grid, "put", "--format=SDMF", "-", "maint:sdmf", stdin=os.urandom(2000))
    ok(grid, "put", "--format=MDMF", "-", "maint:mdmf", stdin=os.urandom(2000))
    ok(grid, "put", "-", "maint:lit", stdin=b"small")
    sis = ok(grid, "manifest", "--storage-index", "maint:").split()
    caps = [line.split(" ", 1)[0] for line in ok(grid, "manifest", "maint:").splitlines()]
    stored = [c for c in caps if not c.startswith("URI:LIT:")]
    assert len(sis) == len(stored) == 5
    for cap in stored:
        assert set(lease_counts(grid, cap)) == {1}, cap

    other = grid.extra_client_dirs[0]
    ok(grid, "add-alias", "maint", root, client_dir=other)
    out = ok(grid, "deep-check", "--add-lease", "maint:", client_dir=other)
    assert out == "done: 6 objects checked, 6 healthy, 0 unhealthy\n", out
    for cap in stored:
        counts = lease_counts(grid, cap)
        assert len(counts) == N and set(counts) == {2}, (cap, counts)
    # and as the command shows it, for one share
    share = next(iter(next(iter(grid.shares(stored[0]).values())).values()))
    out = ok(grid, "debug", "dump-share", "--leases-only", share)
    assert " Lease #0:" in out and " Lease #1:" in out and " Lease #2:" not in out, out

    # renewing again from the same client adds no third lease
    ok(grid, "deep-check", "--add-lease", "maint:", client_dir=other)
    for cap in stored:
        assert set(lease_counts(grid, cap)) == {2}, cap


@pytest.mark.parametrize("kind", ["CHK", "SDMF", "MDMF"])
def test_corrupt_share_found_by_verify_and_replaced(grid, kind):
    """``tahoe debug corrupt-share`` flips a bit of one share's block data:
    ``check`` cannot see it, ``check --verify`` names the server and share
    number, ``check --verify --repair`` leaves the file healthy with ten
    good shares.  (A client cannot remove a share from a server: a repaired
    immutable file still has the corrupt copy there, reported as before, and
    a good copy of that share elsewhere.)"""
    cap = make(grid, kind)
    node, held = sorted(grid.shares(cap).items())[0]
    shnum, path = sorted(held.items())[0]
    ok(grid, "debug", "corrupt-share", path)
    assert ok(grid, "check", cap).startswith("Summary: Healthy\n")

    results = json.loads(ok(grid, "check", "--verify", "--raw", cap))
    si = results["storage-index"]
    corrupt = results["results"]["list-corrupt-shares"]
    assert len(corrupt) == 1 and corrupt[0][1:] == [si, shnum], corrupt
    server = corrupt[0][0]
    assert server in results["results"]["servers-responding"]
    out = ok(grid, "check", "--verify", cap)
    assert not out.startswith("Summary: Healthy"), out
    assert out.endswith(" corrupt shares:\n  server %s, SI %s, shnum %d\n"
                        % (server, si, shnum)), out

    out = ok(grid, "check", "--verify", "--repair", cap)
    assert " corrupt shares:\n  server %s, SI %s, shnum %d\n" % (server, si, shnum) in out, out
    assert out.endswith(" repair successful\n"), out
    out = ok(grid, "check", "--verify", cap)
    assert out.startswith("Summary: Healthy\n"), out
    assert " good-shares: %d (encoding is %d-of-%d)\n" % (N, K, N) in out, out
    corrupt = [line for line in out.splitlines() if line.startswith("  server ")]
    assert corrupt in ([], ["  server %s, SI %s, shnum %d" % (server, si, shnum)]), out


def test_deep_check_verify_names_a_corrupt_share(grid):
    root = grid.clients[0].mkdir()
    ok(grid, "add-alias", "damaged", root)
    ok(grid, "put", "-", "damaged:a", stdin=os.urandom(4000))
    ok(grid, "put", "-", "damaged:b", stdin=os.urandom(4000))
    cap = json.loads(ok(grid, "ls", "--json", "damaged:a"))[1]["ro_uri"]
    node, held = sorted(grid.shares(cap).items())[0]
    shnum, path = sorted(held.items())[0]
    ok(grid, "debug", "corrupt-share", path)
    assert ok(grid, "deep-check", "damaged:") == "done: 3 objects checked, 3 healthy, 0 unhealthy\n"
    out = ok(grid, "deep-check", "--verify", "-v", "damaged:")
    lines = out.splitlines()
    corrupt = [line for line in lines if line.startswith(" corrupt: server ")]
    assert len(corrupt) == 1 and corrupt[0].endswith(", shnum %d" % shnum), out
    assert lines[lines.index(corrupt[0]) - 1].startswith("'a': "), out
    assert lines[-1] == "done: 3 objects checked, 2 healthy, 1 unhealthy", out
    out = ok(grid, "deep-check", "--verify", "--repair", "damaged:")
    assert out.endswith(" 1 repairs attempted, 1 successful, 0 failed\n"
                        " post-repair: 3 healthy, 0 unhealthy\n"), out
    out = ok(grid, "deep-check", "--verify", "damaged:")
    assert out.endswith("done: 3 objects checked, 3 healthy, 0 unhealthy\n"), out
    assert set(out.splitlines()[:-1]) <= {corrupt[0]}, out  # the old copy, if reported
