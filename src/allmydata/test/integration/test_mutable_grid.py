"""Mutable files (SDMF, MDMF) on a grid of real node processes.

One module-scoped :class:`~allmydata.testing.procweb.MultiClientGrid`: an introducer, five
storage nodes and two client nodes, all at 3-of-5 (happy 4), driven through
the web API on 127.0.0.1 and the share files on the storage nodes' disks.
The tests check

* creation with ``PUT /uri?format=SDMF|MDMF``, reads, overwrites through the
  write cap (from either client), ``t=json``, the read cap's refusal of
  writes (the data stays as it was), the shares on disk (one version, the
  seqnum going up);
* MDMF byte ranges (``Range:``) and in-place writes (``PUT ?offset=``) that
  change only the segments concerned on disk, and the same writes on SDMF;
* two clients overwriting the same file at the same moment: afterwards both
  read one whole version, never a mix, and the file can still be written;
* faults: a storage node that slept through an overwrite (holding the old
  version), corrupt shares on disk, fewer than k servers running.
"""

import concurrent.futures
import json
import os

import pytest

from allmydata import uri as urimod
from allmydata.testing.procweb import MultiClientGrid, flip_byte, mutable_share_fields

pytestmark = pytest.mark.integration

ENCODING = (3, 4, 5)
MDMF_SEGSIZE = 131073  # nextmul(131072, k=3)


@pytest.fixture(scope="module")
def module_grid(tmp_path_factory):
    yield from MultiClientGrid(tmp_path_factory.mktemp("mutgrid"), num_storage=5, encoding=ENCODING,
                           extra_clients=1).lifetime()


@pytest.fixture
def grid(module_grid):
    module_grid.heal()
    return module_grid


def seqnums_on_disk(grid, cap) -> dict:
    """``{(node, shnum): seqnum}`` of every share of ``cap`` on disk."""
    return {key: mutable_share_fields(path)["seqnum"]
            for key, path in grid.mutable_shares(cap).items()}


def check_shares(grid, cap, version, datalen):
    """All N share numbers exist on disk in one version of ``datalen``
    bytes; returns their seqnum."""
    k, _happy, n = grid.encoding
    shares = grid.mutable_shares(cap)
    assert sorted({shnum for _, shnum in shares}) == list(range(n)), shares
    fields = [mutable_share_fields(p) for p in shares.values()]
    assert {f["version"] for f in fields} == {version}
    assert {(f["k"], f["n"], f["datalen"]) for f in fields} == {(k, n, datalen)}
    seqnums = {f["seqnum"] for f in fields}
    assert len(seqnums) == 1, "shares of several versions on disk: %s" % seqnums_on_disk(grid,
                                                                                        cap)
    return seqnums.pop()


# ---- create, read, overwrite, read-only ------------------------------------------------------
@pytest.mark.parametrize("fmt", ["SDMF", "MDMF"])
def test_create_read_overwrite_readonly(grid, fmt):
    c0, c1 = grid.clients
    data = os.urandom(70000)
    cap = c0.create_mutable(data, fmt)
    u = urimod.from_string(cap)
    prefix = "URI:SSK:" if fmt == "SDMF" else "URI:MDMF:"
    assert cap.startswith(prefix), cap
    assert not u.is_readonly() and u.is_mutable()
    version = 0 if fmt == "SDMF" else 1
    seq1 = check_shares(grid, cap, version, len(data))

    assert c0.read(cap) == data
    assert c1.read(cap) == data  # the other client
    kind, info = c0.json(cap)
    assert kind == "filenode", info
    assert info["mutable"] is True and info["format"] == fmt and info["size"] == len(data)
    assert info["rw_uri"] == cap
    rocap = info["ro_uri"]
    assert rocap.startswith("URI:SSK-RO:" if fmt == "SDMF" else "URI:MDMF-RO:"), rocap
    r = c0.get(cap, query="t=readonly-uri")
    assert r.status == 200 and r.text.strip() == rocap
    assert c1.read(rocap) == data
    kind, roinfo = c1.json(rocap)
    assert "rw_uri" not in roinfo and roinfo["ro_uri"] == rocap and roinfo["size"] == len(data)

    # overwrite through the write cap, from the other client; bigger, then smaller
    data2 = os.urandom(150000)
    r = c1.put(cap, data2)
    assert r.status == 200, r
    assert r.text.strip() == cap
    assert c0.read(cap) == data2 and c0.read(rocap) == data2
    seq2 = check_shares(grid, cap, version, len(data2))
    assert seq2 > seq1
    data3 = b"short now"
    r = c0.put(cap, data3)
    assert r.status == 200, r
    assert c1.read(rocap) == data3
    assert c0.json(cap)[1]["size"] == len(data3)
    assert check_shares(grid, cap, version, len(data3)) > seq2

    # a read cap refuses writes, whole and in place; the data stays
    for query in ("", "offset=2"):
        r = c0.put(rocap, b"not allowed", query=query)
        assert 400 <= r.status < 500, (query, r)
        assert "read-only" in r.text or "cannot be changed" in r.text, r
    assert c1.read(cap) == data3
    seq3 = check_shares(grid, cap, version, len(data3))

    # an empty overwrite, then the POST t=upload form replaces the contents
    r = c0.put(cap, b"")
    assert r.status == 200, r
    assert c1.json(cap)[1]["size"] == 0
    assert check_shares(grid, cap, version, 0) > seq3
    boundary = "----boundary4"
    body = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n" % boundary).encode() + \
        b"from a form" + ("\r\n--%s--\r\n" % boundary).encode()
    r = c1.post(cap, query="t=upload", body=body,
                headers={"Content-Type": "multipart/form-data; boundary=%s" % boundary})
    assert r.status in (200, 303), r
    assert c0.read(cap) == b"from a form"


def test_empty_mutable_file_and_head(grid):
    """``mutable=true`` makes an SDMF file; an empty one reads as zero
    bytes; HEAD answers the headers of a mutable file without its body."""
    c0, c1 = grid.clients
    r = c0.request("PUT", "/uri?format=bogus", body=b"x")
    assert r.status == 400, r
    cap = c0.create_mutable(b"head me", "MDMF")
    r = c1.get(cap, method="HEAD")
    assert r.status == 200, r
    assert int(r.headers["content-length"]) == 7 and r.body == b""
    r = c0.request("PUT", "/uri?mutable=true", body=b"")
    assert r.status == 200, r
    cap = r.text.strip()
    assert cap.startswith("URI:SSK:"), cap
    assert c0.json(cap)[1]["size"] == 0
    assert c0.read(cap) == b""


# ---- MDMF ranges and in-place writes ---------------------------------------------------------
def segment_regions(path, datalen, k=3):
    """``[bytes of (salt + block) of each segment]`` of an MDMF share file."""
    fields = mutable_share_fields(path)
    block = MDMF_SEGSIZE // k
    nsegs = -(-datalen // MDMF_SEGSIZE)
    tail = datalen - (nsegs - 1) * MDMF_SEGSIZE
    tail_block = -(-tail // k)
    start = fields["offsets"]["share_data"]
    with open(path, "rb") as f:
        f.seek(start)
        blob = f.read((nsegs - 1) * (block + 16) + 16 + tail_block)
    regions = [blob[s * (block + 16):(s + 1) * (block + 16)] for s in range(nsegs - 1)]
    regions.append(blob[(nsegs - 1) * (block + 16):])
    return regions


def test_mdmf_ranges_and_offset_writes(grid):
    c0, c1 = grid.clients
    size = 3 * MDMF_SEGSIZE + 1000
    data = bytearray(os.urandom(size))
    cap = c0.create_mutable(bytes(data), "MDMF")
    check_shares(grid, cap, 1, size)

    # ranges across and inside segments, suffix ranges, past the end
    for first, last in ((0, 9), (MDMF_SEGSIZE - 5, MDMF_SEGSIZE + 5), (2 * MDMF_SEGSIZE, None),
                        (size - 1, None), (10, 3 * MDMF_SEGSIZE + 3)):
        spec = "bytes=%d-%s" % (first, "" if last is None else last)
        r = c1.get(cap, headers={"Range": spec})
        end = size - 1 if last is None else last
        assert r.status == 206, (spec, r)
        assert r.body == bytes(data[first:end + 1]), spec
        assert r.headers["content-range"] == "bytes %d-%d/%d" % (first, end, size)
    r = c0.get(cap, headers={"Range": "bytes=-100"})
    assert r.status == 206 and r.body == bytes(data[-100:])
    r = c0.get(cap, headers={"Range": "bytes=%d-" % size})
    assert r.status == 416, r

    # a write inside segment 1 changes only segment 1 of every share on disk
    shares = grid.mutable_shares(cap)
    before = {key: segment_regions(p, size) for key, p in shares.items()}
    patch = os.urandom(500)
    off = MDMF_SEGSIZE + 100
    r = c1.put(cap, patch, query="offset=%d" % off)
    assert r.status == 200, r
    data[off:off + len(patch)] = patch
    assert c0.read(cap) == bytes(data)
    check_shares(grid, cap, 1, size)
    for key, p in grid.mutable_shares(cap).items():
        after = segment_regions(p, size)
        changed = [s for s in range(4) if after[s] != before[key][s]]
        assert changed == [1], "share %s: segments changed by a write in segment 1: %s" % (
            key, changed)

    # a write across the segment 2/3 boundary, then one extending the file
    patch = os.urandom(3000)
    off = 3 * MDMF_SEGSIZE - 1500
    r = c0.put(cap, patch, query="offset=%d" % off)
    assert r.status == 200, r
    data[off:off + len(patch)] = patch
    assert c1.read(cap) == bytes(data)
    tail = os.urandom(MDMF_SEGSIZE)  # grows the file into a fifth segment
    r = c1.put(cap, tail, query="offset=%d" % (len(data) - 10))
    assert r.status == 200, r
    data[len(data) - 10:] = tail
    assert c0.read(cap) == bytes(data)
    assert c0.json(cap)[1]["size"] == len(data)
    check_shares(grid, cap, 1, len(data))
    r = c0.get(cap, headers={"Range": "bytes=%d-%d" % (4 * MDMF_SEGSIZE - 3, 4 * MDMF_SEGSIZE + 3)})
    assert r.status == 206 and r.body == bytes(data[4 * MDMF_SEGSIZE - 3:4 * MDMF_SEGSIZE + 4])


def test_sdmf_ranges_and_offset_writes(grid):
    c0, c1 = grid.clients
    data = bytearray(os.urandom(100000))
    cap = c0.create_mutable(bytes(data), "SDMF")
    r = c1.get(cap, headers={"Range": "bytes=99990-"})
    assert r.status == 206 and r.body == bytes(data[99990:])
    r = c1.put(cap, b"0123456789", query="offset=50000")
    assert r.status == 200, r
    data[50000:50010] = b"0123456789"
    assert c0.read(cap) == bytes(data)
    r = c0.put(cap, b"end", query="offset=%d" % len(data))  # append
    assert r.status == 200, r
    data += b"end"
    assert c1.read(cap) == bytes(data)
    check_shares(grid, cap, 0, len(data))


# ---- racing writers ---------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["SDMF", "MDMF"])
def test_racing_writers_leave_one_whole_version(grid, fmt):
    c0, c1 = grid.clients
    old = os.urandom(200000)
    cap = c0.create_mutable(old, fmt)
    assert c1.read(cap) == old
    statuses = []
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for round_ in range(3):
            a = b"A%d" % round_ + os.urandom(200000)
            b = b"B%d" % round_ + os.urandom(200000)
            fa = pool.submit(c0.put, cap, a)
            fb = pool.submit(c1.put, cap, b)
            ra, rb = fa.result(), fb.result()
            statuses.append((ra.status, rb.status))
            for r in (ra, rb):
                assert r.status in (200, 409), "a racing PUT answered %r" % (r,)
                if r.status == 409:
                    assert "UncoordinatedWriteError" in r.text, r
            possible = {old}
            if ra.status == 200:
                possible.add(a)
            if rb.status == 200:
                possible.add(b)
            if ra.status != 200 or rb.status != 200:
                possible |= {a, b}  # a refused writer may still have placed its version
            seen0, seen1 = c0.read(cap), c1.read(cap)
            assert seen0 == seen1, "the two clients read different versions after a race"
            assert seen0 in possible, ("round %d (statuses %s): the file read after two racing "
                                       "writes is no whole version (%d bytes, starts %r)"
                                       % (round_, statuses[-1], len(seen0), seen0[:2]))
            if ra.status == 200 and rb.status == 200:
                assert seen0 in (a, b)
            old = seen0
    # the file can still be written after the races
    final = os.urandom(1000)
    r = c1.put(cap, final)
    assert r.status == 200, r
    assert c0.read(cap) == final
    check_shares(grid, cap, 0 if fmt == "SDMF" else 1, len(final))


@pytest.mark.parametrize("fmt", ["SDMF", "MDMF"])
def test_reads_during_overwrites(grid, fmt):
    """One client overwrites a file again and again while the other reads
    it: every complete read is one whole version, never a mix; a read that
    fails says so with an error status; and the shares that were replaced
    under a reader are not reported to their servers as corrupt."""
    c0, c1 = grid.clients
    size = 2 * MDMF_SEGSIZE + 100
    versions = [bytes([i]) * size for i in range(8)]
    cap = c0.create_mutable(versions[0], fmt)

    def write_all():
        return [c0.put(cap, v).status for v in versions[1:]]

    reads = []
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        writer = pool.submit(write_all)
        while not writer.done():
            reads.append(c1.get(cap))
        statuses = writer.result()
    assert statuses == [200] * (len(versions) - 1), statuses
    for r in reads:
        if r.status == 200 and r.complete:
            assert r.body in versions, "a read during overwrites mixed versions: %r" % (
                sorted(set(r.body)),)
        else:
            assert r.status in (200, 409, 410), r
    advisories = [p for i in range(grid.num_storage) for p in grid.advisories(i, cap)]
    assert not advisories, ("%d reads (%d failed) during overwrites reported healthy shares as "
                            "corrupt: %s" % (len(reads), sum(r.status != 200 for r in reads),
                                             [os.path.basename(p) for p in advisories]))
    assert c1.read(cap) == versions[-1]


# ---- faults -----------------------------------------------------------------------------------
def test_server_with_an_old_version(grid):
    """A storage node is down while an SDMF and an MDMF file are overwritten;
    once it is back its shares are of the old version, and the new one is
    read even when only k new shares and the old one are reachable."""
    c0, c1 = grid.clients
    files = {}
    for fmt in ("SDMF", "MDMF"):
        v1 = os.urandom(50000)
        cap = c0.create_mutable(v1, fmt)
        files[fmt] = (cap, check_shares(grid, cap, 0 if fmt == "SDMF" else 1, len(v1)))
    sleeper = 0
    grid.stop(sleeper)
    try:
        grid.wait_all_connected(grid.num_storage - 1)
        newdata = {}
        for fmt, (cap, _) in files.items():
            newdata[fmt] = os.urandom(60000)
            r = c1.put(cap, newdata[fmt])
            assert r.status == 200, r
    finally:
        grid.start(sleeper)
    grid.wait_all_connected(grid.num_storage)

    k = grid.encoding[0]
    to_stop = {}
    for fmt, (cap, seq1) in files.items():
        seqs = seqnums_on_disk(grid, cap)
        old = {key for key, s in seqs.items() if s == seq1}
        assert old and all(i == sleeper for i, _ in old), seqs
        new = {key for key, s in seqs.items() if s > seq1}
        assert sorted({shnum for _, shnum in new}) == list(range(5)), seqs
        assert c0.read(cap) == newdata[fmt] and c1.read(cap) == newdata[fmt]
        assert c0.json(cap)[1]["size"] == len(newdata[fmt])
        stop = []
        for i in sorted({i for i, _ in new} - {sleeper}):
            if sum(1 for j, _ in new if j not in stop + [i]) >= k:
                stop.append(i)
        to_stop[fmt] = set(stop)
    # nodes to stop so that, for both files, k new shares remain
    common = sorted(to_stop["SDMF"] & to_stop["MDMF"])
    assert common, to_stop
    grid.stop(*common)
    try:
        grid.wait_all_connected(grid.num_storage - len(common))
        for fmt, (cap, _) in files.items():
            assert c0.read(cap) == newdata[fmt], fmt
    finally:
        grid.start(*common)
    grid.wait_all_connected(grid.num_storage)

    # the next write brings the sleeper's share up to date
    for fmt, (cap, _) in files.items():
        v3 = os.urandom(1234)
        r = c0.put(cap, v3)
        assert r.status == 200, r
        seqs = seqnums_on_disk(grid, cap)
        assert len(set(seqs.values())) == 1, "%s: shares of old versions left after a " \
            "write: %s" % (fmt, seqs)
        assert c1.read(cap) == v3


def corrupt(path, field, delta=5):
    fields = mutable_share_fields(path)
    flip_byte(path, fields["offsets"][field] + delta)


@pytest.mark.parametrize("fmt", ["SDMF", "MDMF"])
def test_corrupt_mutable_shares(grid, fmt):
    c0, c1 = grid.clients
    data = os.urandom(MDMF_SEGSIZE + 7000)
    cap = c0.create_mutable(data, fmt)
    shares = sorted(grid.mutable_shares(cap).items())
    # two shares of five damaged, in different fields: three good ones remain
    corrupt(shares[0][1], "share_data", 100)
    corrupt(shares[1][1], "signature" if fmt == "SDMF" else "block_hash_tree", 3)
    assert c1.read(cap) == data
    r = c0.get(cap, headers={"Range": "bytes=5-50"})
    assert r.status == 206 and r.body == data[5:51]
    assert c0.read(cap) == data
    # and the file can still be changed
    data2 = os.urandom(20000)
    r = c1.put(cap, data2)
    assert r.status == 200, r
    assert c0.read(cap) == data2


def test_too_many_corrupt_shares_never_give_wrong_bytes(grid):
    c0, _ = grid.clients
    data = os.urandom(40000)
    cap = c0.create_mutable(data, "SDMF")
    shares = sorted(grid.mutable_shares(cap).items())
    for _, path in shares[:3]:  # 2 good shares < k
        corrupt(path, "share_data", 77)
    r = c0.get(cap)
    assert r.status == 410 or (r.status == 200 and not r.complete), r
    assert len(r.body) <= len(data)
    if r.status == 200:
        assert data.startswith(r.body), "wrong bytes sent for a damaged file"


def test_fewer_than_k_servers(grid):
    """With 2 of 5 servers running (k=3, one share each) a read is a 410
    naming the problem; a write either works with the servers there are or
    is a clear error; after the restart the file is whole again."""
    c0, c1 = grid.clients
    files = {}
    for fmt in ("SDMF", "MDMF"):
        data = os.urandom(30000)
        cap = c0.create_mutable(data, fmt)
        assert len({i for i, _ in grid.mutable_shares(cap)}) == 5
        files[fmt] = [cap, data]
    down = [1, 2, 3]
    grid.stop(*down)
    try:
        grid.wait_all_connected(2)
        for fmt, (cap, data) in files.items():
            r = c0.get(cap)
            assert r.status == 410, (fmt, r)
            assert "UnrecoverableFileError" in r.text or "NotEnoughShares" in r.text, r
            r = c1.get(cap, query="t=json")
            assert r.status in (200, 410), r
            if r.status == 200:
                _kind, info = json.loads(r.body)
                assert "size" not in info or info["size"] == len(data), info
            r = c1.get(cap, headers={"Range": "bytes=0-10"})
            assert r.status == 410, (fmt, r)
            data2 = os.urandom(100)
            r = c1.put(cap, data2)
            assert r.status in (200, 410, 503), (fmt, r)
            if r.status == 200:
                files[fmt][1] = data2
            else:
                assert r.text.strip(), r
        r = c0.request("PUT", "/uri?format=SDMF", body=b"new file")
        assert r.status in (200, 503), r
        new_cap = r.text.strip() if r.status == 200 else None
        # no server at all: reads are 410, writes and creations 503, all saying why
        grid.stop(0, 4)
        down += [0, 4]
        grid.wait_all_connected(0)
        r = c0.request("PUT", "/uri?format=MDMF", body=b"nowhere")
        assert r.status == 503 and "NotEnoughServersError" in r.text, r
        r = c0.request("POST", "/uri?t=mkdir")
        assert r.status == 503 and "NotEnoughServersError" in r.text, r
        for fmt, (cap, _) in files.items():
            r = c1.get(cap)
            assert r.status == 410 and "UnrecoverableFileError" in r.text, (fmt, r)
            r = c1.put(cap, b"nowhere")
            # the error names the cause: no storage server is connected
            assert r.status == 503 and "NotEnoughServersError" in r.text, (fmt, r)
            assert "no storage server is connected" in r.text, (fmt, r)
    finally:
        grid.start(*down)
    grid.wait_all_connected(grid.num_storage)
    for fmt, (cap, data) in files.items():
        assert c0.read(cap) == data, fmt
        assert c1.read(cap) == data, fmt
    if new_cap is not None:
        assert c1.read(new_cap) == b"new file"


# ---- directories written by two clients, and damaged -----------------------------------------
def test_two_clients_adding_children_to_one_directory(grid):
    """Each client links names into the same directory at the same time: the
    directory's read-modify-write retries after an uncoordinated write, so
    every name ends up there and every request succeeds."""
    c0, c1 = grid.clients
    filecap = c0.upload(b"shared child")
    # some entries already, so that reading the directory takes a moment
    initial = {"old%03d" % i: ["filenode", {"ro_uri": filecap}] for i in range(300)}
    r = c0.request("POST", "/uri?t=mkdir-with-children", body=json.dumps(initial).encode())
    assert r.status == 200, r
    dircap = r.text.strip()
    n = 8

    def add(client, prefix):
        return [client.put(dircap, filecap.encode(), "%s%d" % (prefix, i), "t=uri")
                for i in range(n)]

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        fa, fb = pool.submit(add, c0, "a"), pool.submit(add, c1, "b")
        results = fa.result() + fb.result()
    failed = [r for r in results if r.status not in (200, 201)]
    advisories = [p for i in range(grid.num_storage) for p in grid.advisories(i, dircap)]
    assert not failed and not advisories, (
        "%d of %d links failed: %r; healthy shares reported as corrupt: %s"
        % (len(failed), 2 * n, failed[:2], [os.path.basename(p) for p in advisories]))
    expected = sorted(["a%d" % i for i in range(n)] + ["b%d" % i for i in range(n)]
                      + list(initial))
    assert sorted(c0.children(dircap)) == expected
    assert sorted(c1.children(dircap)) == expected
    assert c1.read(dircap, "b4") == b"shared child"


def test_directory_with_a_corrupt_share(grid):
    c0, c1 = grid.clients
    dircap = c0.mkdir("MDMF")
    r = c0.put(dircap, b"inside", "sub/file.txt")
    assert r.status == 201, r
    shares = sorted(grid.mutable_shares(dircap).items())
    corrupt(shares[0][1], "share_data", 10)
    corrupt(shares[1][1], "signature", 10)
    assert sorted(c1.children(dircap)) == ["sub"]
    assert c1.read(dircap, "sub/file.txt") == b"inside"
    r = c1.put(dircap, b"more", "other.txt")
    assert r.status == 201, r
    assert sorted(c0.children(dircap)) == ["other.txt", "sub"]
