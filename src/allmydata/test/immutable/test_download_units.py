"""The downloader's pure parts: range arithmetic, targets, status objects,
the read producer, and the decoding of one segment."""

import gc
import os

import pytest
from twisted.internet import defer, task
from twisted.python.failure import Failure

from allmydata.history import History
from allmydata.immutable.download.errors import (
    BadCiphertextError,
    BadRangeError,
    DownloadStopped,
    NoSharesError,
    NotEnoughSharesError,
    UnrecoverableFileError,
)
from allmydata.immutable.download.node import ReadProducer
from allmydata.immutable.download.segmentation import (
    clip_range,
    segments_for_range,
    slice_of_segment,
)
from allmydata.immutable.download.status import DownloadResults, DownloadStatus
from allmydata.immutable.interfaces import (
    IDownloadResults,
    IDownloadStatus,
    IDownloadTarget,
)
from allmydata.immutable.params import SegmentParams
from allmydata.immutable.target import Data, FileHandle, FileName, MemoryConsumer


# ---- ranges ---------------------------------------------------------------------------
def test_clip_range():
    assert clip_range(100, 0, None) == (0, 100)
    assert clip_range(100, 10, None) == (10, 90)
    assert clip_range(100, 10, 5) == (10, 5)
    assert clip_range(100, 90, 50) == (90, 10)
    assert clip_range(100, 100, 5) == (100, 0)
    assert clip_range(100, 500, None) == (500, 0)
    assert clip_range(100, 0, 0) == (0, 0)
    for offset, size in ((-1, None), (0, -1), (1.5, None), ("0", None)):
        with pytest.raises(BadRangeError):
            clip_range(100, offset, size)


def test_segments_for_range():
    p = SegmentParams.for_file(1000, 3, 10, 300)  # segments of 300: 300,300,300,100
    assert p.segment_size == 300 and p.num_segments == 4
    assert list(segments_for_range(p, 0, 0)) == []
    assert list(segments_for_range(p, 0, 1)) == [0]
    assert list(segments_for_range(p, 0, 300)) == [0]
    assert list(segments_for_range(p, 0, 301)) == [0, 1]
    assert list(segments_for_range(p, 299, 2)) == [0, 1]
    assert list(segments_for_range(p, 999, 1)) == [3]
    assert list(segments_for_range(p, 0, 1000)) == [0, 1, 2, 3]
    assert list(segments_for_range(p, 600, 400)) == [2, 3]


def test_slice_of_segment():
    p = SegmentParams.for_file(1000, 3, 10, 300)
    assert slice_of_segment(p, 0, 0, 1000) == (0, 300)
    assert slice_of_segment(p, 3, 0, 1000) == (0, 100)
    assert slice_of_segment(p, 0, 299, 2) == (299, 300)
    assert slice_of_segment(p, 1, 299, 2) == (0, 1)
    assert slice_of_segment(p, 1, 350, 10) == (50, 60)
    assert slice_of_segment(p, 3, 999, 1) == (99, 100)
    # the slices of a range add up to it
    for offset, size in ((0, 1000), (1, 998), (299, 302), (450, 1)):
        total = 0
        for seg in segments_for_range(p, offset, size):
            s, e = slice_of_segment(p, seg, offset, size)
            total += e - s
        assert total == size


# ---- targets --------------------------------------------------------------------------
def test_data_target():
    t = Data()
    assert IDownloadTarget.providedBy(t)
    t.open(6)
    t.write(b"abc")
    t.write(b"def")
    t.close()
    assert t.finish() == b"abcdef"


def test_filename_target(tmp_path):
    path = str(tmp_path / "out")
    t = FileName(path)
    t.open(3)
    t.write(b"xyz")
    t.close()
    assert t.finish() == path
    assert open(path, "rb").read() == b"xyz"
    # a failed download leaves no partial file behind
    path2 = str(tmp_path / "failed")
    t = FileName(path2)
    t.open(10)
    t.write(b"part")
    t.fail(Failure(RuntimeError("boom")))
    assert not os.path.exists(path2)


def test_filehandle_target(tmp_path):
    with open(tmp_path / "h", "wb") as f:
        t = FileHandle(f)
        t.open(2)
        t.write(b"hi")
        t.close()
        assert t.finish() is f
        assert not f.closed  # its owner closes it
    assert (tmp_path / "h").read_bytes() == b"hi"


def test_memory_consumer_refuses_a_second_producer():
    c = MemoryConsumer()
    c.registerProducer(object(), True)
    with pytest.raises(RuntimeError):
        c.registerProducer(object(), True)
    c.unregisterProducer()
    c.write(b"a")
    c.write(b"b")
    assert c.data() == b"ab"


# ---- status ---------------------------------------------------------------------------
def test_status_and_results():
    s1 = DownloadStatus(b"s" * 16, 1234)
    s2 = DownloadStatus(None, None)
    assert IDownloadStatus.providedBy(s1)
    assert s2.get_counter() > s1.get_counter()
    assert s1.get_storage_index() == b"s" * 16 and s1.get_size() == 1234
    assert s1.using_helper() is False and s1.get_active() is True
    assert s1.get_progress() == 0.0
    s1.set_progress(0.5)
    s1.set_status("Fetching segment 1 of 2")
    assert (s1.get_progress(), s1.get_status()) == (0.5, "Fetching segment 1 of 2")
    s1.set_progress(7)
    assert s1.get_progress() == 1.0
    r = DownloadResults(1234)
    assert IDownloadResults.providedBy(r)
    r.add_share(b"A" * 20, 3)
    r.add_share(b"A" * 20, 4)
    r.add_problem(b"B" * 20, "gone")
    r.add_fetch(b"A" * 20, 0.25, 100)
    assert r.servermap == {b"A" * 20: {3, 4}}
    assert r.server_problems == {b"B" * 20: "gone"}
    assert r.servers_used == {b"A" * 20}
    assert {k: list(v) for k, v in r.timings["fetch_per_server"].items()} == {b"A" * 20: [0.25]}
    assert (r.blocks_fetched, r.bytes_fetched) == (1, 100)


def test_history():
    # the two latest are kept; an older one stays listed while someone holds it
    h = History({"download": 2})
    a, b, c = (DownloadStatus(None, 1) for _ in range(3))
    for s in (a, b, c):
        h.add_download(s)
    assert h.list_all_download_statuses() == [a, b, c]
    del a
    gc.collect()
    assert h.list_all_download_statuses() == [b, c]


# ---- errors ---------------------------------------------------------------------------
def test_error_messages_list_problems():
    e = NotEnoughSharesError("2 good shares of the 3 needed", b"si", 3, 2, 2,
                             {"server1": ["share 4: corrupt"], "server0": ["gone"]})
    assert isinstance(e, UnrecoverableFileError)
    assert not isinstance(e, NoSharesError)
    text = str(e)
    assert text.startswith("2 good shares of the 3 needed")
    assert text.index("[server0] gone") < text.index("[server1] share 4: corrupt")
    assert (e.needed, e.good_shares, e.good_servers) == (3, 2, 2)


# ---- the producer ---------------------------------------------------------------------
def test_read_producer_pauses_and_stops():
    p = ReadProducer()
    d = p.wait_until_unpaused().__await__()
    with pytest.raises(StopIteration):
        d.send(None)  # not paused: returns at once
    p.pauseProducing()
    results = []
    from twisted.internet import defer
    w = defer.ensureDeferred(p.wait_until_unpaused())
    w.addBoth(results.append)
    assert results == []
    p.resumeProducing()
    assert results == [None]
    p.pauseProducing()
    results.clear()
    w = defer.ensureDeferred(p.wait_until_unpaused())
    w.addBoth(results.append)
    p.stopProducing()
    assert len(results) == 1 and isinstance(results[0].value, DownloadStopped)


def test_read_producer_counts_the_time_it_was_paused():
    clock = task.Clock()
    p = ReadProducer(now=clock.seconds)
    defer.ensureDeferred(p.wait_until_unpaused())  # not paused: no time counted
    clock.advance(3)
    p.pauseProducing()
    w = defer.ensureDeferred(p.wait_until_unpaused())
    clock.advance(5)
    p.resumeProducing()
    assert w.called and p.paused_seconds == 5


# ---- decoding one segment ---------------------------------------------------------------
def _encoded_segment(plaintext_file: bytes, key: bytes, k: int, n: int, maxseg: int, segnum: int):
    """The blocks of one segment, made the way docs/specifications/immutable-shares.md §2-§3 says."""
    from allmydata.codec import CRSEncoder
    from allmydata.crypto.aes import ctr_encrypt
    params = SegmentParams.for_file(len(plaintext_file), k, n, maxseg)
    ciphertext = ctr_encrypt(key, plaintext_file)
    offset, length = params.segment_range(segnum)
    seg = ciphertext[offset:offset + length]
    padded = params.padded_tail_size if segnum == params.num_segments - 1 else params.segment_size
    seg += b"\x00" * (padded - len(seg))
    enc = CRSEncoder()
    enc.set_params(padded, k, n)
    piece = padded // k
    blocks, ids = enc.encode_sync([seg[i * piece:(i + 1) * piece] for i in range(k)])
    return params, dict(zip(ids, blocks)), ciphertext[offset:offset + length]


@pytest.mark.parametrize("shnums", [(0, 1, 2), (7, 3, 9), (0, 5, 2)])
@pytest.mark.parametrize("segnum", [0, 2])
def test_decode_segment(shnums, segnum):
    from allmydata.immutable.download.validation import decode_segment
    from allmydata.util import hashutil
    key = b"K" * 16
    plaintext = bytes(range(256)) * 40 + b"tail"   # 3 segments of 4098, the last short
    params, blocks, ciphertext = _encoded_segment(plaintext, key, 3, 10, 4096, segnum)
    chosen = {i: blocks[i] for i in shnums}
    leaves = {i: hashutil.block_hash(blocks[i]) for i in shnums}
    leaf = hashutil.crypttext_segment_hash(ciphertext)
    timings = {}
    out, bad = decode_segment(params, key, segnum, chosen, leaves, leaf, timings)
    offset, length = params.segment_range(segnum)
    assert bad == {} and out == plaintext[offset:offset + length]
    assert set(timings) == {"decode", "decrypt"}
    # a block that does not match its hash is named, and nothing is decoded
    wrong = dict(chosen)
    wrong[shnums[1]] = b"\x00" + wrong[shnums[1]][1:]
    out, bad = decode_segment(params, key, segnum, wrong, leaves, leaf, {})
    assert out is None and list(bad) == [shnums[1]]
    # blocks that match their hashes but not the crypttext tree: refused
    with pytest.raises(BadCiphertextError):
        decode_segment(params, key, segnum, chosen, leaves, b"\x01" * 32, {})
