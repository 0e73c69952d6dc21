"""Share layout (docs/specifications/immutable-shares.md §6): offsets, headers, and shares written by
WriteBucketProxy into a real StorageServer -- called in-process and over
Foolscap on 127.0.0.1 -- read back by ReadBucketProxy and checked byte by
byte against the container format of containers.md §2."""

import hashlib
import os
import struct

import pytest
import pytest_twisted
from foolscap.api import Referenceable, Tub

from allmydata.immutable.layout import (
    FileTooLargeError, LayoutInvalid, LayoutUsageError, ReadBucketProxy, ShareLayout,
    allocated_size, compute_layout, make_write_bucket_proxy, parse_header,
)
from allmydata.storage.common import BucketClosedError
from allmydata.storage.server import StorageServer
from allmydata.testing.buckets import LocalRemote, MemoryBucket, NamedServer
from allmydata.testing.tubs import start_tub
from allmydata.util import base32
from allmydata.util.idlib import nodeid_a2b
from allmydata.util.rrefutil import RemoteException, call_remote

SI = hashlib.sha256(b"layout test").digest()[:16]
RENEW, CANCEL = b"r" * 32, b"c" * 32


def test_worked_example_offsets():
    lay = compute_layout(333_334, 333_334, 1, 5, 330)
    assert lay.version == 1
    assert (lay.data, lay.plaintext_hash_tree, lay.crypttext_hash_tree, lay.block_hashes,
            lay.share_hashes, lay.uri_extension) == \
        (36, 333_370, 333_402, 333_434, 333_466, 333_636)
    assert lay.allocated_size(330) == 333_970
    assert allocated_size(333_334, 1, 5, 330) == 333_970


def test_v1_header_bytes():
    lay = compute_layout(1000, 400, 3, 5, 300)
    tree = 7 * 32  # 3 segments -> 4 leaves -> 7 nodes
    expected = struct.pack(">9L", 1, 400, 1000, 36, 1036, 1036 + tree, 1036 + 2 * tree,
                           1036 + 3 * tree, 1036 + 3 * tree + 5 * 34)
    assert lay.header() == expected
    assert parse_header(expected) == lay


def test_v2_when_sizes_need_it():
    big = compute_layout(2**32, 2**30, 5, 9, 330)
    assert big.version == 2 and big.data == 0x44
    hdr = big.header()
    assert len(hdr) == 68
    assert struct.unpack(">L", hdr[:4]) == (2,)
    assert struct.unpack(">Q", hdr[4:12]) == (2**30,)
    assert struct.unpack(">Q", hdr[12:20]) == (2**32,)
    assert struct.unpack(">Q", hdr[20:28]) == (0x44,)
    assert parse_header(hdr) == big
    # the data fits 32 bits but the offsets after it do not
    edge = compute_layout(2**32 - 100, 2**20, 4096, 9, 330)
    assert edge.version == 2
    # just below every limit: v1
    assert compute_layout(2**31, 2**20, 2048, 9, 330).version == 1
    with pytest.raises(FileTooLargeError):
        compute_layout(2**64, 1, 1, 1, 330)


def test_forced_version():
    assert compute_layout(1000, 400, 3, 5, 300, version=2).version == 2
    with pytest.raises(FileTooLargeError):
        compute_layout(2**33, 2**20, 3, 5, 300, version=1)


@pytest.mark.parametrize("mangle,match", [
    (lambda h: h[:20], "truncated"),
    (lambda h: b"", "too short"),
    (lambda h: struct.pack(">L", 3) + h[4:], "unknown share layout version 3"),
    (lambda h: h[:12] + struct.pack(">L", 40) + h[16:], "data offset is 40"),
    (lambda h: h[:16] + struct.pack(">L", 10) + h[20:], "out of order"),
    (lambda h: h[:20] + struct.pack(">L", struct.unpack(">L", h[20:24])[0] + 1) + h[24:],
     "not a whole number of hashes"),
    (lambda h: h[:32] + struct.pack(">L", struct.unpack(">L", h[32:36])[0] - 1),
     "not a multiple of 34"),
])
def test_parse_header_rejects(mangle, match):
    good = compute_layout(1000, 400, 3, 5, 300).header()
    with pytest.raises(LayoutInvalid, match=match):
        parse_header(mangle(good))


# ---- a synthetic share -----------------------------------------------------------------
class ShareContent:
    """Everything that goes into one share, made up from a seed."""

    def __init__(self, data_size=10_000, block_size=3_000, n=10, seed=b"x"):
        self.num_segments = -(-data_size // block_size)
        self.block_size, self.data_size = block_size, data_size
        tail = data_size - block_size * (self.num_segments - 1)

        def h(*parts):
            return hashlib.sha256(seed + b"".join(b"%r" % (p,) for p in parts)).digest()
        self.blocks = [(h("block", s) * (block_size // 32 + 1))[:block_size if
                       s < self.num_segments - 1 else tail] for s in range(self.num_segments)]
        nodes = 2 * (1 << (self.num_segments - 1).bit_length()) - 1
        self.crypttext_hashes = [h("ct", i) for i in range(nodes)]
        self.block_hashes = [h("bt", i) for i in range(nodes)]
        self.num_share_hashes = (1 << (n - 1).bit_length()).bit_length()
        self.share_hashes = [(i * 3 + 1, h("sh", i)) for i in range(self.num_share_hashes)]
        self.ueb = b"codec_name:3:crs," + b"padding:%d:%s," % (200, b"p" * 200)

    def proxy(self, rref, server=None, **kwargs):
        return make_write_bucket_proxy(rref, server, self.data_size, self.block_size,
                                       self.num_segments, self.num_share_hashes,
                                       len(self.ueb), **kwargs)

    async def write(self, wbp):
        await wbp.put_header()
        for s, block in enumerate(self.blocks):
            await wbp.put_block(s, block)
        await wbp.put_crypttext_hashes(self.crypttext_hashes)
        await wbp.put_block_hashes(self.block_hashes)
        await wbp.put_share_hashes(self.share_hashes)
        await wbp.put_uri_extension(self.ueb)
        await wbp.close()

    def expected_share_bytes(self, version=1) -> bytes:
        """The share data assembled by hand from docs/specifications/immutable-shares.md §6."""
        tree = len(self.crypttext_hashes) * 32
        hdr_len, fmt = (36, ">L") if version == 1 else (68, ">Q")
        offs = [hdr_len]
        for size in (self.data_size, tree, tree, tree, 34 * self.num_share_hashes):
            offs.append(offs[-1] + size)
        if version == 1:
            header = struct.pack(">9L", 1, self.block_size, self.data_size, *offs)
        else:
            header = struct.pack(">LQQ6Q", 2, self.block_size, self.data_size, *offs)
        return (header + b"".join(self.blocks) + bytes(tree) + b"".join(self.crypttext_hashes)
                + b"".join(self.block_hashes)
                + b"".join(struct.pack(">H", i) + x for i, x in self.share_hashes)
                + struct.pack(fmt, len(self.ueb)) + self.ueb)

    async def check_read(self, rbp, version=1):
        lay = await rbp.get_header()
        assert lay.version == version
        for s, block in enumerate(self.blocks):
            assert await rbp.get_block_data(s, self.block_size, len(block)) == block
        assert await rbp.get_crypttext_hashes() == self.crypttext_hashes
        assert await rbp.get_plaintext_hashes() == [bytes(32)] * len(self.crypttext_hashes)
        assert await rbp.get_block_hashes() == dict(enumerate(self.block_hashes))
        assert await rbp.get_share_hashes() == self.share_hashes
        assert await rbp.get_uri_extension() == self.ueb


# ---- against a real StorageServer ------------------------------------------------------
class Link:
    """A real StorageServer reached in-process or over Foolscap."""

    def __init__(self, kind, storedir):
        self.kind, self.storedir = kind, storedir
        self.tubs = []

    async def start(self):
        if self.kind == "local":
            self.server = StorageServer(self.storedir, b"\x07" * 20)
            self.rref = LocalRemote(self.server)
            self.canary = Referenceable()
        else:
            server_tub = start_tub()
            self.tubs.append(server_tub)
            self.server = StorageServer(self.storedir, nodeid_a2b(server_tub.getTubID()))
            furl = server_tub.registerReference(self.server)
            ctub = Tub()
            ctub.startService()
            self.tubs.append(ctub)
            self.rref = await ctub.getReference(furl)
            self.canary = Referenceable()
        self.server.startService()
        return self

    async def allocate(self, shnums, size):
        return await call_remote(self.rref, "allocate_buckets", SI, RENEW, CANCEL, set(shnums),
                                 size, self.canary)

    async def readers(self):
        return await call_remote(self.rref, "get_buckets", SI)

    def share_file(self, shnum) -> bytes:
        sia = base32.b2a(SI).decode()
        with open(os.path.join(self.storedir, "shares", sia[:2], sia, str(shnum)), "rb") as f:
            return f.read()

    async def close(self):
        for tub in reversed(self.tubs):
            await tub.stopService()
        await self.server.stopService()


@pytest_twisted.async_yield_fixture(params=["local", "foolscap"])
async def link(request, tmp_path):
    link = await Link(request.param, str(tmp_path / "storage")).start()
    try:
        yield link
    finally:
        await link.close()


@pytest.mark.parametrize("batch_size,pipeline_size", [(1_000_000, 2_000_000), (1000, 1500),
                                                       (1, 0)])
@pytest_twisted.ensureDeferred
async def test_write_read_roundtrip(link, batch_size, pipeline_size):
    content = ShareContent()
    size = allocated_size(content.data_size, content.num_segments, content.num_share_hashes,
                          len(content.ueb))
    already, writers = await link.allocate([0], size)
    assert already == set() and set(writers) == {0}
    wbp = content.proxy(writers[0], NamedServer(b"\x07" * 20), batch_size=batch_size,
                        pipeline_size=pipeline_size)
    assert wbp.allocated_size() == size
    await content.write(wbp)
    on_disk = link.share_file(0)
    expected = content.expected_share_bytes()
    assert len(expected) == size
    # container (containers.md §2): version 2, legacy length, 1 lease; data; then the lease
    assert on_disk[:12] == struct.pack(">LLL", 2, size, 1)
    assert on_disk[12:12 + size] == expected
    assert len(on_disk) == 12 + size + 72
    readers = await link.readers()
    rbp = ReadBucketProxy(readers[0], NamedServer(b"\x07" * 20), SI, 0)
    await content.check_read(rbp)


@pytest_twisted.ensureDeferred
async def test_write_read_v2(link):
    content = ShareContent(data_size=7_000, block_size=2_000, n=3)
    lay = compute_layout(content.data_size, content.block_size, content.num_segments,
                         content.num_share_hashes, len(content.ueb), version=2)
    from allmydata.immutable.layout import WriteBucketProxy
    size = lay.allocated_size(len(content.ueb))
    _, writers = await link.allocate([3], size)
    wbp = WriteBucketProxy(writers[3], None, lay, len(content.ueb), content.num_segments,
                           batch_size=5000)
    await content.write(wbp)
    assert link.share_file(3)[12:12 + size] == content.expected_share_bytes(version=2)
    rbp = ReadBucketProxy((await link.readers())[3], None, SI, 3)
    await content.check_read(rbp, version=2)


@pytest_twisted.ensureDeferred
async def test_batching_makes_few_large_writes():
    content = ShareContent(data_size=3_000_000, block_size=100_000)
    bucket = MemoryBucket(allocated_size(content.data_size, content.num_segments,
                                         content.num_share_hashes, len(content.ueb)))
    await content.write(content.proxy(bucket))
    assert bucket.state == "closed"
    assert bytes(bucket.data) == content.expected_share_bytes()
    # strictly sequential, ~1 MB each
    pos = 0
    for offset, length in bucket.writes:
        assert offset == pos
        pos += length
    assert pos == bucket.allocated_size
    assert len(bucket.writes) == 4
    assert all(1_000_000 <= length < 1_100_000 for _, length in bucket.writes[:-1])


@pytest_twisted.ensureDeferred
async def test_server_error_fails_later_puts(link):
    content = ShareContent()
    size = allocated_size(content.data_size, content.num_segments, content.num_share_hashes,
                          len(content.ueb))
    _, writers = await link.allocate([1], size)
    # pipeline_size=0: each put waits until its write is acknowledged
    wbp = content.proxy(writers[1], batch_size=1000, pipeline_size=0)
    await call_remote(writers[1], "abort")  # the server forgets this bucket
    expected = BucketClosedError if link.kind == "local" else RemoteException
    with pytest.raises(expected) as info:
        await wbp.put_header()
        await wbp.put_block(0, content.blocks[0])
    assert "its writer was already aborted" in str(info.value)
    if link.kind == "foolscap":
        assert info.value.is_type("BucketClosedError")
    with pytest.raises(expected):
        await wbp.put_block(1, content.blocks[1])
    with pytest.raises(expected):
        await wbp.close()


@pytest_twisted.ensureDeferred
async def test_pipelined_failure_reaches_later_puts():
    """A write that fails after its put_* returned fails every later call."""
    from twisted.internet import defer

    content = ShareContent()
    bucket = MemoryBucket(100)  # far too small: every write is refused
    held = []
    real_call = bucket.callRemote

    def slow_call(name, *args):  # acknowledge writes only when the test says so
        d = defer.Deferred()
        held.append(lambda: real_call(name, *args).chainDeferred(d))
        return d
    bucket.callRemote = slow_call
    wbp = content.proxy(bucket, batch_size=1000)
    await wbp.put_header()
    await wbp.put_block(0, content.blocks[0])  # sent, not yet answered
    assert len(held) == 1
    held.pop()()
    with pytest.raises(Exception, match="write past the allocated 100 bytes"):
        await wbp.put_block(1, content.blocks[1])
    with pytest.raises(Exception, match="write past the allocated 100 bytes"):
        await wbp.close()
    assert held == []  # nothing more was sent after the failure


def test_usage_errors():
    content = ShareContent()
    wbp = content.proxy(MemoryBucket(10**6))
    with pytest.raises(LayoutUsageError, match="out-of-order"):
        wbp.put_block(0, content.blocks[0])
    wbp.put_header()
    with pytest.raises(LayoutUsageError, match="block 0 is 5 bytes"):
        wbp.put_block(0, b"12345")
    with pytest.raises(LayoutUsageError, match="block 9 of a 4-segment"):
        wbp.put_block(9, content.blocks[0])
    with pytest.raises(LayoutUsageError, match="close"):
        wbp.close()


@pytest_twisted.ensureDeferred
async def test_abort_never_fails():
    bucket = MemoryBucket(100)
    wbp = ShareContent().proxy(bucket)
    await wbp.abort()
    assert bucket.state == "aborted"
    await wbp.abort()  # the second one is refused by nobody, and fails nobody


@pytest_twisted.ensureDeferred
async def test_read_truncated_share():
    content = ShareContent()
    bucket = MemoryBucket(10**6)
    bucket.data = bytearray(content.expected_share_bytes()[:5000])
    rbp = ReadBucketProxy(bucket, NamedServer(b"\x01" * 20), SI, 4)
    assert (await rbp.get_header()).version == 1
    assert await rbp.get_block_data(0, 3000, 3000) == content.blocks[0]
    with pytest.raises(LayoutInvalid, match=r"share 4 of SI .* on aeaqcaib: the block 1 "
                                            r"\(3000 bytes at 3036\) came back 1964 bytes long"):
        await rbp.get_block_data(1, 3000, 3000)
    with pytest.raises(LayoutInvalid, match="outside its 10000-byte data region"):
        await rbp.get_block_data(4, 3000, 3000)
    with pytest.raises(LayoutInvalid, match="URI extension|UEB length"):
        await rbp.get_uri_extension()


@pytest_twisted.ensureDeferred
async def test_read_bad_header_and_retry():
    bucket = MemoryBucket(10**6)
    bucket.data = bytearray(struct.pack(">L", 7) + bytes(100))
    rbp = ReadBucketProxy(bucket, None, SI)
    with pytest.raises(LayoutInvalid, match="unknown share layout version 7"):
        await rbp.get_crypttext_hashes()
    content = ShareContent()
    bucket.data = bytearray(content.expected_share_bytes())  # a later call reads again
    await content.check_read(rbp)


@pytest_twisted.ensureDeferred
async def test_header_is_read_once():
    content = ShareContent()
    bucket = MemoryBucket(10**6)
    bucket.data = bytearray(content.expected_share_bytes())
    reads = []
    orig = bucket.remote_read
    bucket.remote_read = lambda o, n: (reads.append((o, n)), orig(o, n))[1]
    rbp = ReadBucketProxy(bucket, None, SI)
    await content.check_read(rbp)
    assert reads.count((0, 68)) == 1
    assert isinstance(rbp.layout, ShareLayout)
