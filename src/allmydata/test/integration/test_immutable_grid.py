"""Immutable files on a grid of real node processes.

One module-scoped grid (:class:`~allmydata.testing.procgrid.ProcessGrid`): an introducer,
five storage nodes and a client whose maximum segment size is 64 KiB, driven
only through the ``tahoe`` command line, the node directories and the web
API on 127.0.0.1.  The tests check

* round trips (``PUT /uri``, ``GET /uri/$CAP``, ``t=json``, ranges, the CLI)
  of LIT and CHK files around the segment boundaries, at 3-of-10 (happy 5),
  3-of-3 and 1-of-1: the client's encoding is changed by editing its
  tahoe.cfg and restarting it;
* faults: storage nodes stopped before a download; share files corrupted on
  disk (block data, hash trees, UEB); a storage node SIGKILLed in the middle
  of a large upload; too few servers for ``shares.happy``.

Each test sets the encoding it needs, so they do not depend on their order;
the order below keeps the number of client restarts low.
"""

import concurrent.futures
import json
import os

import pytest

from allmydata import uri as urimod
from allmydata.immutable.layout import parse_header
from allmydata.immutable.params import SegmentParams, next_multiple
from allmydata.testing.procgrid import CONTAINER_HEADER, ProcessGrid, SEGMENT_SIZE
from allmydata.testing.waiting import wait_for
from allmydata.util import base32

pytestmark = pytest.mark.integration

ENCODING = (3, 5, 10)  # k, happy, N: the grid's client starts with these


@pytest.fixture(scope="module")
def module_grid(tmp_path_factory):
    yield from ProcessGrid(tmp_path_factory.mktemp("immgrid"), num_storage=5,
                           encoding=ENCODING).lifetime()


@pytest.fixture
def grid(module_grid):
    """The module's grid with every storage node running and connected,
    whatever an earlier (failed) test left behind."""
    module_grid.heal()
    return module_grid


# ---- checks shared by several tests ----------------------------------------------------
def check_get(grid, cap, data, what=""):
    r = grid.get(cap)
    assert r.status == 200, "%s: GET %s answered %r" % (what, cap, r)
    assert r.complete and len(r.body) == len(data), "%s: %d of %d bytes" % (what, len(r.body),
                                                                         len(data))
    assert r.body == data, "%s: wrong bytes" % what
    assert int(r.headers["content-length"]) == len(data)
    return r


def check_shares_on_disk(grid, cap, data):
    """The shares of a CHK cap: N distinct share numbers on >= happy servers,
    each with the header the segment rules give."""
    k, happy, n = grid.encoding
    placed = grid.shares(cap)
    shnums = [shnum for held in placed.values() for shnum in held]
    assert sorted(shnums) == list(range(n)), placed
    assert len(placed) >= min(happy, grid.num_storage)
    params = SegmentParams.for_file(len(data), k, n, SEGMENT_SIZE)
    for held in placed.values():
        for path in held.values():
            with open(path, "rb") as f:
                lay = parse_header(f.read(CONTAINER_HEADER + 68)[CONTAINER_HEADER:], path)
            assert lay.version == 1
            assert lay.block_size == params.block_size
            assert lay.data_size == params.share_data_size
            assert lay.plaintext_hash_tree - lay.data == params.share_data_size
    return placed


def sizes_for(k):
    seg = next_multiple(SEGMENT_SIZE, k)  # the segment size of any file >= 64 KiB
    return [0, 1, 55, 56, seg - 1, seg, seg + 1, 3 * seg + 7]


def round_trips(grid, encoding):
    grid.set_encoding(*encoding)
    k, _happy, n = encoding
    seg = next_multiple(SEGMENT_SIZE, k)
    for size in sizes_for(k):
        what = "%d bytes at %d-of-%d" % (size, k, n)
        data = os.urandom(size)
        cap = grid.upload(data)
        u = urimod.from_string(cap)
        if size <= 55:
            assert cap == "URI:LIT:" + base32.b2a(data).decode("ascii"), what
        else:
            assert isinstance(u, urimod.CHKFileURI), what
            assert (u.needed_shares, u.total_shares, u.size) == (k, n, size), what
            check_shares_on_disk(grid, cap, data)
        # convergence: the same bytes with the same secret give the same cap
        assert grid.upload(data) == cap, what
        check_get(grid, cap, data, what)
        r = grid.get(cap, "?t=json")
        assert r.status == 200, r
        kind, info = json.loads(r.body)
        assert kind == "filenode" and info["size"] == size and info["mutable"] is False, info
        assert info["format"] == "CHK" and info["ro_uri"] == cap
        if size > 55:
            assert info["verify_uri"] == u.get_verifier().to_string().decode("ascii")
        else:
            assert "verify_uri" not in info
        if size > seg:  # a range across the first segment boundary
            r = grid.get(cap, headers={"Range": "bytes=%d-%d" % (seg - 10, seg + 9)})
            assert r.status == 206 and r.body == data[seg - 10:seg + 10], what
            end = min(seg + 9, size - 1)
            assert r.headers["content-range"] == "bytes %d-%d/%d" % (seg - 10, end, size)


# ---- 1. round trips ------------------------------------------------------------------
def test_round_trips_3_of_10(grid):
    round_trips(grid, ENCODING)


def test_cli_put_and_get(grid, tmp_path):
    grid.set_encoding(*ENCODING)
    data = os.urandom(3 * SEGMENT_SIZE + 12345)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    proc = grid.tahoe("put", src)
    assert proc.returncode == 0, proc.stderr
    cap = proc.stdout.decode().strip()
    assert cap.endswith(":3:10:%d" % len(data))
    assert grid.upload(data) == cap  # the web API converges on the same cap
    proc = grid.tahoe("get", cap)
    assert proc.returncode == 0 and proc.stdout == data
    out = tmp_path / "out.bin"
    proc = grid.tahoe("get", cap, out)
    assert proc.returncode == 0 and out.read_bytes() == data
    check_shares_on_disk(grid, cap, data)


# ---- 2b. corrupted shares ----------------------------------------------------------------
def region_offset(path, region, segment=1):
    """Offset in the share file of one byte inside ``region``."""
    with open(path, "rb") as f:
        lay = parse_header(f.read(CONTAINER_HEADER + 68)[CONTAINER_HEADER:], path)
    if region == "block data":
        rel = lay.data + segment * lay.block_size + lay.block_size // 2
    elif region == "block hash tree":
        # the leaf of segment 0: P-1 nodes precede it
        num_nodes = (lay.share_hashes - lay.block_hashes) // 32
        rel = lay.block_hashes + (num_nodes // 2) * 32 + 7
    elif region == "share hash chain":
        rel = lay.share_hashes + 2 + 11  # inside the first hash, after its u16 index
    elif region == "crypttext hash tree":
        rel = lay.crypttext_hash_tree + 5
    elif region == "UEB":
        rel = lay.uri_extension + lay.fieldsize + 40
    else:
        raise ValueError(region)
    return CONTAINER_HEADER + rel


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        assert len(b) == 1, "offset %d is past the end of %s" % (offset, path)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


def holder_of(placed, shnum):
    return next(i for i, held in placed.items() if shnum in held)


def advised_shares(grid, cap) -> set:
    """``{(storage node index, shnum)}`` named by the corruption advisories
    about ``cap`` (file names end in ``-<b32 SI>-<shnum>``)."""
    return {(i, int(os.path.basename(p).rsplit("-", 1)[1].split(".")[0]))
            for i in range(grid.num_storage) for p in grid.advisories(i, cap)}


@pytest.mark.parametrize("region", ["block data", "block hash tree", "share hash chain",
                                    "crypttext hash tree", "UEB"])
def test_corrupt_share_is_survived_and_reported(grid, region):
    grid.set_encoding(*ENCODING)
    k = ENCODING[0]
    data = os.urandom(3 * SEGMENT_SIZE + 100)
    cap = grid.upload(data)
    placed = grid.shares(cap)
    # The downloader reads the primary shares (0..k-1) first, and checks the
    # block data, block hash tree, share-hash chain and UEB of each share it
    # uses: corrupting share 0 is enough.  The crypttext hash tree is read
    # from one of the shares in use only, so it is corrupted in all of them.
    victims = range(k) if region == "crypttext hash tree" else [0]
    corrupted = set()
    for shnum in victims:
        holder = holder_of(placed, shnum)
        flip_byte(placed[holder][shnum], region_offset(placed[holder][shnum], region))
        corrupted.add((holder, shnum))
    check_get(grid, cap, data, "after corrupting the %s of shares %s" % (region, list(victims)))
    reported = wait_for(lambda: advised_shares(grid, cap), 15, what="a corruption advisory")
    assert reported <= corrupted, (reported, corrupted)  # nobody else was accused
    if len(corrupted) == 1:
        assert reported == corrupted
    holder, shnum = min(reported)
    [path] = [p for p in grid.advisories(holder, cap) if p.endswith("-%d" % shnum)]
    with open(path) as f:
        text = f.read()
    si = base32.b2a(urimod.from_string(cap).get_storage_index()).decode("ascii")
    assert "storage_index: %s" % si in text and "share_number: %d" % shnum in text, text
    check_get(grid, cap, data, "a second read")


def test_too_many_corrupt_shares_never_give_wrong_bytes(grid):
    grid.set_encoding(*ENCODING)
    k, _, n = ENCODING
    # 20 segments; the blocks of segment 0 of one file and of the last
    # segment of another are corrupted in all shares but k-1
    data0 = os.urandom(20 * next_multiple(SEGMENT_SIZE, k) - 3)
    data1 = os.urandom(len(data0))
    cap0, cap1 = grid.upload(data0), grid.upload(data1)
    last = SegmentParams.for_file(len(data1), k, n, SEGMENT_SIZE).num_segments - 1
    for cap, segment in ((cap0, 0), (cap1, last)):
        for held in grid.shares(cap).values():
            for shnum, path in held.items():
                if shnum < n - (k - 1):
                    flip_byte(path, region_offset(path, "block data", segment))

    r = grid.get(cap0)
    assert r.status == 410, r
    assert "NotEnoughSharesError" in r.text and "not enough shares" in r.text, r.text
    assert data0[:100] not in r.body

    r = grid.get(cap1)
    # the first 19 segments are good: the answer began as a 200 and is cut
    # short (the client sees a broken body) -- or, if the downloader found the
    # bad segment before sending anything, a 410; never a wrong byte
    if r.status == 200:
        assert not r.complete and len(r.body) < len(data1), r
        assert r.body == data1[:len(r.body)]
    else:
        assert r.status == 410 and "NotEnoughSharesError" in r.text, r
        assert data1[:100] not in r.body
    # a range that avoids the bad segment still works
    r = grid.get(cap1, headers={"Range": "bytes=0-99999"})
    assert r.status == 206 and r.body == data1[:100000]
    # the shares tried and found bad were reported to their servers: the
    # first k tried are the primary shares 0..k-1, all bad
    for cap in (cap0, cap1):
        def enough(cap=cap):
            reported = advised_shares(grid, cap)
            return reported if len(reported) >= k else None

        reported = wait_for(enough, 15, what="corruption advisories")
        shnums = {shnum for _i, shnum in reported}
        assert set(range(k)) <= shnums <= set(range(n - (k - 1))), shnums


# ---- 2a + 2d. servers stopped ------------------------------------------------------------
def test_stopped_servers_and_unhappy_uploads(grid):
    grid.set_encoding(*ENCODING)
    k, happy, _n = ENCODING
    data = os.urandom(2 * SEGMENT_SIZE + 5)
    cap = grid.upload(data)
    placed = {i: set(held) for i, held in grid.shares(cap).items()}
    assert len(placed) == 5
    stopped = []
    # stop servers one at a time (4, 3, 2, 1 left), those with the most shares
    # first, so that the last one holds fewer than k
    order = sorted(placed, key=lambda i: -len(placed[i]))[:-1]
    try:
        for victim in order:
            grid.stop(victim)
            stopped.append(victim)
            left = [i for i in range(grid.num_storage) if i not in stopped]
            grid.wait_connected(len(left))
            reachable = set().union(*(placed.get(i, set()) for i in left))
            r = grid.get(cap)
            what = "%d shares left on %d servers" % (len(reachable), len(left))
            if len(reachable) >= k:
                assert r.status == 200 and r.complete and r.body == data, (what, r)
            else:
                assert r.status == 410, (what, r)
                assert "not enough shares" in r.text.lower(), r.text
                assert "NotEnoughSharesError" in r.text and data[:64] not in r.body
            # 2d: fewer than `happy` servers: uploads are refused with the count
            r = grid.put(os.urandom(1000))
            assert r.status == 500, r
            assert "UploadUnhappinessError" in r.text, r.text
            assert "%d storage server(s) are connected" % len(left) in r.text, r.text
            assert "shares.happy = %d" % happy in r.text, r.text
        assert len(reachable) < k, "the last step must leave too few shares: %s" % placed
    finally:
        if stopped:
            grid.start(*stopped)
            grid.wait_connected(grid.num_storage)
    check_get(grid, cap, data, "after the servers came back")


def test_no_servers_holding_shares_is_410(grid):
    """3-of-3 on five servers: stop one holder while four servers stay up."""
    grid.set_encoding(3, 3, 3)
    data = os.urandom(SEGMENT_SIZE + 1)
    cap = grid.upload(data)
    placed = grid.shares(cap)
    assert len(placed) == 3
    victim = min(placed)
    grid.stop(victim)
    try:
        grid.wait_connected(grid.num_storage - 1)
        r = grid.get(cap)
        assert r.status == 410 and "NotEnoughSharesError" in r.text, r
        assert "2 good shares found on 2 servers, but 3 are needed" in r.text, r.text
        assert "on 2 of the 4 servers asked" in r.text, r.text
        assert data[:64] not in r.body
    finally:
        grid.start(victim)
        grid.wait_connected(grid.num_storage)
    check_get(grid, cap, data)


# ---- 2c. a storage node killed during a large upload -------------------------------------
def share_dirs(grid):
    """Every storage index directory of complete shares, per node."""
    found = set()
    for i, d in enumerate(grid.storage):
        base = os.path.join(d, "storage", "shares")
        for prefix in os.listdir(base):
            if prefix == "incoming":
                continue
            for si in os.listdir(os.path.join(base, prefix)):
                found.add((i, si))
    return found


def upload_and_kill(grid, data):
    """PUT ``data``; as soon as a storage node has received 1 MiB of its
    share (so the upload is past server selection and sending blocks),
    SIGKILL that node.  ``(victim, response, share dirs before)``."""
    before = share_dirs(grid)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(grid.put, data)
        try:
            def receiving():
                for i in grid.running():
                    if grid.incoming(i, min_written=2**20):
                        return [i]
                assert not future.done(), "the PUT ended before any share arrived: %r" % (
                    future.result(),)
                return None
            [victim] = wait_for(receiving, 120, interval=0.01, what="a share being uploaded")
            assert not future.done(), "the upload finished before the kill"
            grid.kill(victim)
        finally:
            r = future.result(timeout=300)
    assert grid.incoming(victim), "the killed node should have left its partial share"
    assert not any(i == victim for i, _si in share_dirs(grid) - before), \
        "the kill came too late: the killed node's share was complete"
    return victim, r, before


def restart_killed(grid, victim):
    grid.start(victim)
    grid.wait_connected(grid.num_storage)
    assert grid.incoming(victim) == [], "a partial share survived the restart"


def test_storage_node_killed_during_upload_happiness_holds(grid):
    grid.set_encoding(3, 4, 10)
    data = os.urandom(24 * 2**20)
    victim, r, _before = upload_and_kill(grid, data)
    try:
        assert r.status == 200, r
        cap = r.text.strip()
        placed = grid.shares(cap)
        assert victim not in placed, placed
        assert len(placed) == 4
        shnums = [s for held in placed.values() for s in held]
        # the killed node's shares are lost: the others' are all there
        assert len(set(shnums)) == len(shnums) and 3 <= len(shnums) < 10, placed
        check_get(grid, cap, data, "the upload that lost a server")
    finally:
        restart_killed(grid, victim)
    assert victim not in grid.shares(cap)
    check_get(grid, cap, data, "after the killed node came back")


def test_round_trips_3_of_3(grid):
    round_trips(grid, (3, 3, 3))


def test_storage_node_killed_during_upload_unhappy(grid):
    grid.set_encoding(3, 3, 3)
    data = os.urandom(24 * 2**20)
    victim, r, before = upload_and_kill(grid, data)
    try:
        assert r.status == 500, r
        assert "UploadUnhappinessError" in r.text, r.text
        assert "shares.happy" in r.text and "Lost: share" in r.text, r.text
        # the survivors aborted their buckets: nothing incomplete, nothing new
        wait_for(lambda: not any(grid.incoming(i) for i in grid.running()), 15,
                 what="the other servers' partial shares removed")
        assert share_dirs(grid) == before
    finally:
        restart_killed(grid, victim)
    assert share_dirs(grid) == before


def test_round_trips_1_of_1(grid):
    round_trips(grid, (1, 1, 1))
