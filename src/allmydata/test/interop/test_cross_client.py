"""Our client node and the real Tahoe-LAFS 1.20 client read each other's files.

Every test runs on the ``cross_grid`` fixture twice: with our storage nodes
and with Tahoe-LAFS's own (the control: a failure there is in our client, not
in our storage server).  Both clients use the same encoding (2-of-5, happy 3,
over three storage nodes) and the same convergence secret.

* What our client uploads, Tahoe-LAFS downloads intact, and its verifier
  (``t=check&verify=true``, which reads every share in full and checks every
  hash) finds all shares good.  The shares on disk carry the UEB fields that
  docs/specifications/immutable-shares.md §1/§5 prescribe.
* What Tahoe-LAFS uploads, our client downloads intact, whole and by
  ``Range: bytes=`` ranges, and answers the ranges as Tahoe-LAFS does.
* The same bytes give the same cap from both clients (docs/specifications/encodings.md §5,
  "Convergence key"), for files of one segment and of several; when they do
  not, the failure says which part of the cap differs and how the two UEBs
  differ.
"""

import os

import pytest

from allmydata.test.interop import diskshares
from allmydata.test.interop.conftest import HAPPY, NEEDED, TOTAL

pytestmark = pytest.mark.interop

MiB = 1024 * 1024
MAX_SEGMENT_SIZE = MiB
LIT_SIZE = 40  # <= 55 bytes: a LIT cap, never stored on a server

SIZES = {
    "lit-40B": LIT_SIZE,
    "56B": 56,
    "2segments-1MiB+1": MiB + 1,
    "5MiB": 5 * MiB,
}


def _next_multiple(n, k):
    return (n + k - 1) // k * k


def _assert_same(grid, got, expected, what):
    if got != expected:
        first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b),
                     min(len(got), len(expected)))
        raise AssertionError("%s on %s storage: got %d bytes, expected %d; first difference at "
                             "offset %d\n%s" % (what, grid.kind, len(got), len(expected), first,
                                                 grid.logs()))


def _check_cap_kind(cap, size):
    prefix = "URI:LIT:" if size <= 55 else "URI:CHK:"
    assert cap.startswith(prefix), "a %d-byte file got cap %s, expected %s..." % (size, cap, prefix)


def _assert_healthy(grid, cap, size):
    """Tahoe's verifier reads every share in full and finds all of them good."""
    results = grid.client.check(cap, verify=True)
    if size <= 55:
        assert results.get("healthy") is True, "check of a LIT cap: %s" % results
        return
    got = {key: results.get(key) for key in
           ("healthy", "count-shares-good", "count-corrupt-shares", "count-shares-needed",
            "count-shares-expected", "count-wrong-shares")}
    expected = {"healthy": True, "count-shares-good": TOTAL, "count-corrupt-shares": 0,
                "count-shares-needed": NEEDED, "count-shares-expected": TOTAL,
                "count-wrong-shares": 0}
    assert got == expected, "Tahoe check --verify of %s on %s storage: %s" % (cap, grid.kind, results)
    assert results["count-happiness"] >= HAPPY, results


def _same_json_info(grid, cap, size):
    """Both clients describe the file alike in ``t=json``."""
    fields = ("ro_uri", "verify_uri", "size", "mutable", "format")
    kind_t, theirs = grid.client.info(cap)
    kind_o, ours = grid.ours.info(cap)
    assert (kind_o, {f: ours.get(f) for f in fields}) == (kind_t, {f: theirs.get(f) for f in fields}), \
        "t=json of %s: ours %s %s, Tahoe's %s %s" % (cap, kind_o, ours, kind_t, theirs)
    assert theirs["size"] == size
    return theirs


def _check_our_shares(grid, si, size):
    """The shares our client left: all N, v1 layout, and the UEB of immutable-shares.md §1/§5."""
    shares = diskshares.collect_shares(grid.storage_nodes, si)
    assert sorted(shnum for _, shnum, _ in shares) == list(range(TOTAL)), shares
    problems = [p for _, _, path in shares for p in diskshares.check_immutable_share(path)]
    assert not problems, "\n".join(problems)
    segsize = _next_multiple(min(MAX_SEGMENT_SIZE, size), NEEDED)
    num_segments = (size + segsize - 1) // segsize
    tail = size % segsize or segsize
    expected = {
        "codec_name": b"crs",
        "codec_params": b"%d-%d-%d" % (segsize, NEEDED, TOTAL),
        "tail_codec_params": b"%d-%d-%d" % (_next_multiple(tail, NEEDED), NEEDED, TOTAL),
        "size": size, "segment_size": segsize, "num_segments": num_segments,
        "needed_shares": NEEDED, "total_shares": TOTAL,
    }
    uebs = set()
    for _, shnum, path in shares:
        version, header, ueb = diskshares.read_immutable_layout(path)
        got = {key: ueb.get(key) for key in expected}
        assert (version, got) == (1, expected), \
            "share %d (%s): layout v%d, UEB %s, expected v1 and %s" % (shnum, path, version, got, expected)
        assert set(ueb) == set(expected) | {"crypttext_hash", "crypttext_root_hash",
                                            "share_root_hash"}, sorted(ueb)
        assert header["data_size"] == (size + NEEDED - 1) // NEEDED, (shnum, header)
        uebs.add(tuple(sorted(ueb.items())))
    assert len(uebs) == 1, "the shares of %s carry %d different UEBs" % (si, len(uebs))


@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
def test_our_upload_tahoe_download(cross_grid, size):
    grid = cross_grid
    data = os.urandom(size)
    cap = grid.ours.upload(data)
    _check_cap_kind(cap, size)
    _assert_same(grid, grid.client.download(cap), data, "Tahoe download of our %d-byte upload" % size)
    _assert_healthy(grid, cap, size)
    details = _same_json_info(grid, cap, size)
    if size > 55:
        _check_our_shares(grid, details["verify_uri"].split(":")[2], size)


def _ranges(size):
    """``Range: bytes=`` specs worth asking for a file of ``size`` bytes."""
    specs = ["0-0", "%d-%d" % (size // 3, size // 2), "-7", "%d-" % (size - 5),
             "%d-%d" % (size // 4, size + 1000)]  # the last ends past EOF: cut at the end
    if size > MAX_SEGMENT_SIZE:
        # across the first segment boundary, and from there to the end
        specs += ["%d-%d" % (MAX_SEGMENT_SIZE - 10, MAX_SEGMENT_SIZE + 9), "%d-" % MAX_SEGMENT_SIZE]
    if size > 3 * MAX_SEGMENT_SIZE:
        # a range over three whole segments, starting and ending mid-segment
        specs.append("%d-%d" % (MAX_SEGMENT_SIZE // 2, 3 * MAX_SEGMENT_SIZE + 12345))
    return specs


def _expected_slice(spec, size):
    first, _, last = spec.partition("-")
    if not first:
        return size - int(last), size - 1
    return int(first), min(int(last), size - 1) if last else size - 1


@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
def test_tahoe_upload_our_download(cross_grid, size):
    grid = cross_grid
    data = os.urandom(size)
    cap = grid.client.upload(data)
    _check_cap_kind(cap, size)
    _assert_same(grid, grid.ours.download(cap), data, "our download of Tahoe's %d-byte upload" % size)
    _same_json_info(grid, cap, size)
    for spec in _ranges(size):
        a, b = _expected_slice(spec, size)
        ours = grid.ours.download_range(cap, spec)
        theirs = grid.client.download_range(cap, spec)
        _assert_same(grid, ours.body, data[a:b + 1], "our GET with Range: bytes=%s" % spec)
        got = (ours.status, ours.headers.get("content-range"), ours.headers.get("content-length"))
        assert got == (206, "bytes %d-%d/%d" % (a, b, size), str(b - a + 1)), \
            "Range: bytes=%s of a %d-byte file: our answer %s" % (spec, size, got)
        assert (theirs.status, theirs.headers.get("content-range"), theirs.body) == \
            (ours.status, ours.headers.get("content-range"), ours.body), \
            "Range: bytes=%s: Tahoe answers %s %s" % (spec, theirs.status, theirs.headers)


def _cap_fields(cap):
    parts = cap.split(":")
    if parts[1] == "CHK":
        return dict(zip(("key", "ueb_hash", "k", "N", "size"), parts[2:]))
    return {"literal": cap}


def _explain_cap_mismatch(grid, ours, theirs, size):
    """Which fields of the two caps differ and, for CHK caps, how their UEBs differ."""
    fo, ft = _cap_fields(ours), _cap_fields(theirs)
    lines = ["a %d-byte file: our cap %s, Tahoe's %s" % (size, ours, theirs),
             "differing cap fields: %s" % [f for f in fo if fo.get(f) != ft.get(f)]]
    if fo.get("key") != ft.get("key"):
        lines.append("the convergent keys differ: see allmydata/immutable/uploadable.py and "
                     "hashutil.convergence_hasher (secret, k, N and effective segsize)")
    uebs = {}
    for who, cap in (("ours", ours), ("Tahoe", theirs)):
        if not cap.startswith("URI:CHK:"):
            continue
        si = grid.client.storage_index(cap)
        shares = diskshares.collect_shares(grid.storage_nodes, si)
        if shares:
            version, header, ueb = diskshares.read_immutable_layout(shares[0][2])
            uebs[who] = ueb
            lines.append("%s: layout v%d header %s" % (who, version, header))
    if len(uebs) == 2:
        for key in sorted(set(uebs["ours"]) | set(uebs["Tahoe"])):
            a, b = uebs["ours"].get(key), uebs["Tahoe"].get(key)
            if a != b:
                lines.append("UEB %s: ours %r, Tahoe's %r" % (key, a, b))
    return "\n".join(lines)


CONVERGENCE_CASES = [
    # (size, which client uploads first): the second upload finds the shares already there
    pytest.param(LIT_SIZE, "ours", id="lit"),
    pytest.param(57, "ours", id="57B-ours-first"),  # odd: segsize rounds up to 58
    pytest.param(100_001, "tahoe", id="100001B-tahoe-first"),
    pytest.param(MiB + 1, "ours", id="1MiB+1-ours-first"),
    pytest.param(2 * MiB + 12_345, "tahoe", id="2MiB+12345-tahoe-first"),
]


@pytest.mark.parametrize("size,first", CONVERGENCE_CASES)
def test_same_cap_from_both_clients(cross_grid, size, first):
    grid = cross_grid
    data = os.urandom(size)
    order = [grid.ours, grid.client] if first == "ours" else [grid.client, grid.ours]
    caps = [client.upload(data) for client in order]
    ours, theirs = caps if first == "ours" else caps[::-1]
    assert ours == theirs, _explain_cap_mismatch(grid, ours, theirs, size)
    _check_cap_kind(ours, size)
    _assert_same(grid, grid.client.download(ours), data, "Tahoe download of the converged file")
    _assert_same(grid, grid.ours.download(ours), data, "our download of the converged file")
    _assert_healthy(grid, ours, size)


def _share_regions(data, header):
    """``{region name: bytes}`` of a v1/v2 immutable share's data (docs/specifications/immutable-shares.md §6)."""
    bounds = [("header", 0, header["data"]),
              ("blocks", header["data"], header["plaintext_hash_tree"]),
              ("plaintext hash tree", header["plaintext_hash_tree"], header["crypttext_hash_tree"]),
              ("crypttext hash tree", header["crypttext_hash_tree"], header["block_hashes"]),
              ("block hashes", header["block_hashes"], header["share_hashes"]),
              ("share hashes", header["share_hashes"], header["uri_extension"]),
              ("UEB", header["uri_extension"], len(data))]
    return {name: data[a:b] for name, a, b in bounds}


def _share_hash_entries(region):
    """``[(node index, hash)]`` of a share-hashes region: u16 BE index + 32 bytes each."""
    return [(int.from_bytes(region[i:i + 2], "big"), region[i + 2:i + 34])
            for i in range(0, len(region), 34)]


def _take_shares(grid, si):
    """``{shnum: share data}`` of one storage index, removing the files from the servers."""
    shares = {}
    for node in grid.storage_nodes:
        for shnum, path in node.share_files(si).items():
            shares[shnum] = (diskshares.read_immutable_share_data(path),
                             diskshares.read_immutable_layout(path)[1])
            os.unlink(path)
    return shares


@pytest.mark.parametrize("size", [57, 2 * MiB + 12_345], ids=["57B", "2MiB+12345"])
def test_same_share_bytes_from_both_clients(cross_grid, size):
    """Our client writes, byte for byte, the share data Tahoe-LAFS writes.

    Our client uploads a file; its shares are taken off the servers; the
    Tahoe client then uploads the same file (same secret, so the same cap)
    and writes them afresh.  Only the 12-byte container header and the lease
    records, which the servers write, are left out of the comparison -- and
    the order of the share-hash entries: Tahoe-LAFS writes them in Python
    set-iteration order (for N=5 e.g. nodes 8, 2, 4, 7 in share 0), we write
    them ascending; readers take them in any order (docs/specifications/immutable-shares.md §6.2).
    """
    grid = cross_grid
    data = os.urandom(size)
    cap = grid.ours.upload(data)
    si = grid.client.storage_index(cap)
    ours = _take_shares(grid, si)
    assert sorted(ours) == list(range(TOTAL)), sorted(ours)
    assert grid.client.upload(data) == cap
    theirs = _take_shares(grid, si)
    assert sorted(theirs) == list(range(TOTAL)), sorted(theirs)
    problems = []
    for shnum in range(TOTAL):
        (od, oh), (td, th) = ours[shnum], theirs[shnum]
        if od == td:
            continue
        if oh != th:
            problems.append("share %d header: ours %s, Tahoe's %s" % (shnum, oh, th))
            continue
        ro, rt = _share_regions(od, oh), _share_regions(td, th)
        for name in ro:
            if name == "share hashes":
                oi, ti = _share_hash_entries(ro[name]), _share_hash_entries(rt[name])
                if sorted(oi) != sorted(ti):
                    problems.append("share %d share hashes differ: nodes ours %s, Tahoe's %s"
                                    % (shnum, [i for i, _ in oi], [i for i, _ in ti]))
            elif ro[name] != rt[name]:
                first = next((i for i, (a, b) in enumerate(zip(ro[name], rt[name])) if a != b),
                             min(len(ro[name]), len(rt[name])))
                problems.append("share %d %s: %d bytes ours, %d Tahoe's, first difference at "
                                "byte %d of the region" % (shnum, name, len(ro[name]), len(rt[name]), first))
    assert not problems, "%s (%d bytes):\n%s" % (cap, size, "\n".join(problems))
