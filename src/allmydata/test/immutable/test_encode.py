"""The encoder's behaviour beyond the vectors: losing shareholders (with and
without enough happiness left), shares already on servers, a source that
changes under it, bounded read-ahead, and a server that disconnects in the
middle of a real upload over Foolscap."""

import io

import pytest
import pytest_twisted
from twisted.internet import defer

from allmydata import uri
from allmydata.client import SecretHolder
from allmydata.immutable.encode import EncodingError, Encoder
from allmydata.immutable.layout import allocated_size, make_write_bucket_proxy
from allmydata.immutable.selector import UploadUnhappinessError
from allmydata.immutable.upload import Data, FileHandle, Uploader
from allmydata.immutable.uploadable import EncryptAnUploadable
from allmydata.testing.buckets import BucketError, MemoryBucket, NamedServer
from allmydata.testing.storagegrid import StorageGrid
from .sharecheck import check_and_decode
from .test_upload import plaintext

PARAMS = {"k": 3, "happy": 7, "n": 10, "max_segment_size": 30_000}


class BrokenBucket(MemoryBucket):
    """A bucket whose server starts refusing writes after ``good`` of them."""

    def __init__(self, allocated_size, good):
        MemoryBucket.__init__(self, allocated_size)
        self.good = good

    def remote_write(self, offset, data):
        if self.good <= 0:
            raise BucketError("disk on fire")
        self.good -= 1
        return MemoryBucket.remote_write(self, offset, data)


class AsyncOnlyData(Data):
    """A source without ``read_sync``: read() Deferreds only (later)."""

    read_sync = None

    def read(self, length):
        chunks = Data.read_sync(self, length)
        d = defer.Deferred()
        from twisted.internet import reactor
        reactor.callLater(0, d.callback, chunks)
        return d


async def setup(data, params=PARAMS, broken=(), convergence=b"c" * 16, skip=(), good=1,
                source=None, **encoder_kwargs):
    """An encoder over MemoryBuckets, one per share on its own server;
    shares in ``broken`` fail after ``good`` writes, shares in ``skip`` get
    no writer (they are said to exist already on their server)."""
    u = source or Data(data, convergence)
    u.set_default_encoding_parameters(params)
    eu = EncryptAnUploadable(u)
    encoder = Encoder(**encoder_kwargs)
    await encoder.set_encrypted_uploadable(eu)
    p = encoder.get_segment_params()
    ueb_size = encoder.get_uri_extension_size()
    size = allocated_size(p.share_data_size, p.num_segments, p.num_share_hashes, ueb_size)
    buckets, writers, servermap = {}, {}, {}
    for shnum in range(p.n):
        server = NamedServer(bytes([shnum + 1]) * 20)
        servermap[shnum] = {server.get_serverid()}
        if shnum in skip:
            continue
        buckets[shnum] = BrokenBucket(size, good) if shnum in broken else MemoryBucket(size)
        # batch per block: failures show up early
        writers[shnum] = make_write_bucket_proxy(buckets[shnum], server, p.share_data_size,
                                                 p.block_size, p.num_segments,
                                                 p.num_share_hashes, ueb_size, batch_size=1)
    encoder.set_shareholders(writers, servermap)
    return encoder, eu, buckets


async def cap_of(encoder, eu):
    ueb_hash, k, n, size = await encoder.start()
    return uri.CHKFileURI(await eu.get_encryption_key(), ueb_hash, k, n, size).to_string()


@pytest_twisted.ensureDeferred
async def test_losing_shareholders_within_happiness():
    data = plaintext(100_000, b"lose")
    encoder, eu, buckets = await setup(data, broken={2, 5, 9})
    cap = await cap_of(encoder, eu)
    assert set(encoder.get_servermap()) == set(range(10)) - {2, 5, 9}
    assert set(encoder.get_shares_placed()) == set(range(10)) - {2, 5, 9}
    lost = encoder.get_lost_shareholders()
    assert set(lost) == {2, 5, 9}
    assert "disk on fire" in lost[5][1] and "sending block" in lost[5][1]
    for shnum, b in buckets.items():
        assert b.state == ("aborted" if shnum in {2, 5, 9} else "closed")
    good = {s: bytes(b.data) for s, b in buckets.items() if b.state == "closed"}
    assert check_and_decode(cap, good, use_shares=[8, 1, 7]) == data
    # the same cap as an upload that lost nothing
    encoder2, eu2, _ = await setup(data)
    assert await cap_of(encoder2, eu2) == cap


@pytest_twisted.ensureDeferred
async def test_losing_too_many_shareholders():
    encoder, eu, buckets = await setup(plaintext(100_000, b"lose4"), broken={0, 1, 2, 3},
                                       good=2)
    with pytest.raises(UploadUnhappinessError) as info:
        await encoder.start()
    msg = str(info.value)
    assert "only 6 distinct server(s)" in msg and "7 are wanted" in msg
    assert "disk on fire" in msg and "share 3 on" in msg
    assert info.value.happiness == 6 and info.value.wanted == 7
    assert {b.state for b in buckets.values()} == {"aborted"}


@pytest_twisted.ensureDeferred
async def test_shares_already_placed_give_the_same_cap():
    data = plaintext(70_000, b"pre")
    encoder, eu, buckets = await setup(data, skip=set(range(10)))
    assert buckets == {}
    cap = await cap_of(encoder, eu)
    encoder2, eu2, buckets2 = await setup(data, skip={0, 1, 2})
    assert await cap_of(encoder2, eu2) == cap
    assert set(buckets2) == set(range(3, 10))
    assert set(encoder2.get_servermap()) == set(range(10))


@pytest_twisted.ensureDeferred
async def test_source_that_shrinks():
    data = plaintext(100_000, b"shrink")
    f = io.BytesIO(data)
    source = FileHandle(f, None)
    encoder, eu, buckets = await setup(data, source=source)
    f.truncate(50_000)
    with pytest.raises(EncodingError, match="did the file change"):
        await encoder.start()
    assert {b.state for b in buckets.values()} == {"aborted"}


@pytest.mark.parametrize("ahead", [1, 3])
@pytest.mark.parametrize("segsize", [30_000, 60_000])  # reactor-side and threaded reads
@pytest_twisted.ensureDeferred
async def test_read_ahead_is_bounded(segsize, ahead):
    """Segment r is read after segment r-ahead-1 was pushed: at most
    ``segments_ahead`` + 1 segments are in the encoder's hands."""
    data = plaintext(400_000, b"ahead")
    encoder, eu, buckets = await setup(data, params={**PARAMS, "max_segment_size": segsize},
                                       segments_ahead=ahead)
    pushed = []     # segment numbers, as put_block is called
    reads = []      # for each read: the last segment pushed by then
    used = set()
    for name in ("read_encrypted", "read_encrypted_sync"):
        real = getattr(eu, name)
        setattr(eu, name, (lambda real, name: lambda *a: (
            reads.append(max(pushed, default=-1)), used.add(name), real(*a))[2])(real, name))
    for writer in encoder._shareholders.values():
        real_put = writer.put_block
        writer.put_block = (lambda put: lambda s, b: (pushed.append(s), put(s, b))[1])(real_put)
    cap = await cap_of(encoder, eu)
    num_segments = encoder.get_segment_params().num_segments
    assert num_segments == -(-400_000 // segsize) and len(reads) == num_segments
    assert used == {"read_encrypted" if segsize < 32 * 1024 else "read_encrypted_sync"}
    assert pushed == sorted(pushed)
    for r, last_pushed in enumerate(reads):
        assert last_pushed >= r - ahead - 1, (r, last_pushed)
        assert last_pushed <= r - 1
        if segsize < 32 * 1024:  # read on the reactor thread: exactly r-ahead-1
            assert last_pushed == max(-1, r - ahead - 1), (r, last_pushed)
    # the same file with one segment ahead (the old pipeline) gives the same cap
    encoder1, eu1, _b = await setup(data, params={**PARAMS, "max_segment_size": segsize},
                                    segments_ahead=1)
    assert await cap_of(encoder1, eu1) == cap


@pytest.mark.parametrize("size", [3 * 60_000 + 1_000, 2 * 60_000 + 40_000, 60_000 * 5])
@pytest.mark.parametrize("threaded_source", [True, False])
@pytest_twisted.ensureDeferred
async def test_segments_coded_in_parallel_keep_their_order(size, threaded_source):
    """Several segments are coded at once in worker threads, and a short
    tail segment comes after them: the shares still decode to the file
    (the ciphertext is read and hashed in segment order)."""
    data = plaintext(size, b"order%d" % size)
    params = {**PARAMS, "max_segment_size": 60_000}
    source = None if threaded_source else AsyncOnlyData(data, b"c" * 16)
    encoder, eu, buckets = await setup(data, params=params, segments_ahead=4, source=source)
    cap = await cap_of(encoder, eu)
    shares = {s: bytes(b.data) for s, b in buckets.items()}
    assert check_and_decode(cap, shares, use_shares=[9, 4, 6]) == data
    encoder1, eu1, _b = await setup(data, params=params, segments_ahead=1)
    assert await cap_of(encoder1, eu1) == cap


@pytest_twisted.ensureDeferred
async def test_get_param():
    encoder, _eu, _b = await setup(plaintext(100_000))
    assert encoder.get_param("share_counts") == (3, 7, 10)
    assert encoder.get_param("segment_size") == 30_000
    assert encoder.get_param("num_segments") == 4
    assert encoder.get_param("block_size") == 10_000
    assert encoder.get_param("share_size") == 33_334
    assert encoder.get_param("serialized_params") == b"30000-3-10"
    assert encoder.get_uri_extension_size() == len(b"".join(
        b"%s:%d:%s," % (k, len(v), v) for k, v in sorted({
            b"codec_name": b"crs", b"codec_params": b"30000-3-10",
            b"tail_codec_params": b"10002-3-10", b"size": b"100000",
            b"segment_size": b"30000", b"num_segments": b"4", b"needed_shares": b"3",
            b"total_shares": b"10", b"crypttext_hash": bytes(32),
            b"crypttext_root_hash": bytes(32), b"share_root_hash": bytes(32)}.items())))
    with pytest.raises(KeyError, match="unknown encoder parameter 'colour'"):
        encoder.get_param("colour")


# ---- a server that goes away during a real upload ------------------------------------
class StopsAServer(Data):
    """Plaintext whose reading, at ``when``, shuts down one server's Tub."""

    read_sync = None  # read through read(): on the reactor thread

    def __init__(self, data, convergence, grid, when):
        Data.__init__(self, data, convergence)
        self._grid, self._when, self.stopped = grid, when, None

    async def _read(self, length):
        if self.stopped is None and self._pos >= self._when:
            serverid, tub = self._grid.serverids[0], self._grid.server_tubs[0]
            self.stopped = serverid
            await tub.stopService()
        start = self._pos
        self._pos = min(self.size, start + length)
        return [self._view[start:self._pos]]

    def read(self, length):
        return defer.ensureDeferred(self._read(length))


@pytest.mark.parametrize("happy", [5, 6])
@pytest_twisted.ensureDeferred
async def test_server_disconnects_mid_upload(tmp_path, happy):
    grid = await StorageGrid(tmp_path).start(6)
    try:
        # 1.2 MB per share: the first ~1 MB batch is written before the loss
        data = plaintext(3_600_000, b"disconnect")
        up = Uploader(grid.broker, SecretHolder(b"s" * 32, b"c" * 32),
                      {"k": 3, "happy": happy, "n": 10, "max_segment_size": 120_000})
        source = StopsAServer(data, b"c" * 32, grid, when=3_300_000)
        if happy == 6:
            with pytest.raises(UploadUnhappinessError) as info:
                await up.upload(source)
            assert "only 5 distinct server(s)" in str(info.value)
            assert source.stopped is not None
            # every bucket was aborted before any was closed: nothing is left
            assert grid.shares_by_shnum(_si_of(up)) == {}
            for ss in grid.servers[1:]:
                assert ss.get_stats()["storage_server.active_uploads"] == 0
            return
        results = await up.upload(source)
        assert source.stopped is not None
        assert source.stopped not in results.servermap
        assert len(results.servermap) == 5
        files = grid.shares_by_shnum(results.storage_index)
        held = {shnum for shnum, where in files.items()
                if any(sid != source.stopped for sid, _ in where)}
        assert held == set(results.sharemap)
        paths = {shnum: next(p for sid, p in where if sid != source.stopped)
                 for shnum, where in files.items() if shnum in held}
        assert check_and_decode(results.uri, paths) == data
    finally:
        await grid.close()


def _si_of(up):
    return up.list_recent_uploads()[-1].get_storage_index()
