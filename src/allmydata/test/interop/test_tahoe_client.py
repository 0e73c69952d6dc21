"""The real Tahoe-LAFS 1.20 client stores and reads files through storage nodes.

Each test runs against the ``interop_grid`` fixture twice: with our storage
nodes (the interoperability claim) and with Tahoe-LAFS's own (the control,
showing that a failure on ours is ours and not the harness's).  Bytes must
come back intact through the client's web API, and the share files left on
the storage nodes' disks must be Tahoe-LAFS containers (docs/specifications/containers.md §2, §3).
"""

import os

import pytest

from allmydata.test.interop import diskshares

pytestmark = pytest.mark.interop

MiB = 1024 * 1024


def _assert_same(grid, got, expected, what):
    if got != expected:
        first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b),
                     min(len(got), len(expected)))
        raise AssertionError("%s on %s storage: got %d bytes, expected %d; first difference at "
                             "offset %d\n%s" % (what, grid.kind, len(got), len(expected), first,
                                                 grid.logs()))


def _assert_healthy(grid, cap):
    """Tahoe's verifier reads every share in full and finds all of them good."""
    results = grid.client.check(cap, verify=True)
    total = grid.client.total
    assert (results["healthy"], results["count-shares-good"], results["count-corrupt-shares"]) \
        == (True, total, 0), "check --verify on %s storage: %s" % (grid.kind, results)


def _shares_or_fail(grid, si):
    shares = diskshares.collect_shares(grid.storage_nodes, si)
    shnums = {shnum for _, shnum, _ in shares}
    total = grid.client.total
    assert shnums == set(range(total)), (
        "share numbers on disk for SI %s: %s, expected 0..%d; files: %s"
        % (si, sorted(shnums), total - 1, [p for _, _, p in shares]))
    return shares


def test_immutable_5mib_roundtrip(interop_grid):
    grid = interop_grid
    data = os.urandom(5 * MiB)
    cap = grid.client.upload(data)
    assert cap.startswith("URI:CHK:"), cap
    _assert_same(grid, grid.client.download(cap), data, "CHK download")

    kind, details = grid.client.info(cap)
    assert (kind, details["size"], details["format"]) == ("filenode", len(data), "CHK"), details
    _assert_healthy(grid, cap)
    si = details["verify_uri"].split(":")[2]
    shares = _shares_or_fail(grid, si)
    hosts = {node for node, _, _ in shares}
    assert len(hosts) >= grid.client.happy, "shares only on %s" % sorted(hosts)
    problems = [p for _, _, path in shares for p in diskshares.check_immutable_share(path)]
    assert not problems, "\n".join(problems)


def _mutable_roundtrip(grid, fmt, size1, size2):
    client = grid.client
    data1 = os.urandom(size1)
    cap = client.upload(data1, format=fmt)
    prefix = {"SDMF": "URI:SSK:", "MDMF": "URI:MDMF:"}[fmt]
    assert cap.startswith(prefix), cap
    _assert_same(grid, client.download(cap), data1, "%s read after create" % fmt)

    data2 = os.urandom(size2)
    client.overwrite(cap, data2)
    _assert_same(grid, client.download(cap), data2, "%s read after overwrite" % fmt)

    kind, details = client.info(cap)
    assert (kind, details["size"], details["format"], details["mutable"]) == \
        ("filenode", len(data2), fmt, True), details
    _assert_healthy(grid, cap)
    return cap, data2, details["verify_uri"].split(":")[2]


def _check_mutable_shares(grid, si, version_byte, seqnum):
    shares = _shares_or_fail(grid, si)
    problems = [p for _, _, path in shares
                for p in diskshares.check_mutable_share(path, version_byte, seqnum)]
    assert not problems, "\n".join(problems)


def test_sdmf_create_read_overwrite(interop_grid):
    cap, _, si = _mutable_roundtrip(interop_grid, "SDMF", 200_000, 150_001)
    _check_mutable_shares(interop_grid, si, diskshares.SDMF_VERSION, seqnum=2)


def test_mdmf_create_read_overwrite_patch(interop_grid):
    grid = interop_grid
    # 128 KiB segments: several of them, with a partial tail
    cap, data, si = _mutable_roundtrip(grid, "MDMF", 400_000, 300_001)
    _check_mutable_shares(grid, si, diskshares.MDMF_VERSION, seqnum=2)

    # an in-place write that straddles a segment boundary
    offset, patch = 120_000, os.urandom(20_000)
    grid.client.overwrite(cap, patch, offset=offset)
    expected = data[:offset] + patch + data[offset + len(patch):]
    _assert_same(grid, grid.client.download(cap), expected, "MDMF read after offset write")
    _assert_healthy(grid, cap)
    _check_mutable_shares(grid, si, diskshares.MDMF_VERSION, seqnum=3)
