"""Byte-for-byte: share files built through the API equal files assembled by
hand from docs/specifications/containers.md §2 (immutable) and §3 (mutable); version-1
containers built by hand are read and updated correctly.  Run in-process and
over Foolscap."""

import hashlib
import os
import struct

import pytest_twisted

from allmydata.storage.common import BadWriteEnablerError, UnknownContainerVersionError

from .suite_data import T0, make_si, secret, share_path, upload
from .test_server import FixedDisk

SI = make_si(40)
R, C, WE = secret("renew"), secret("cancel"), secret("write-enabler")
EXPIRES = T0 + 31 * 24 * 60 * 60  # 2,678,400 s of lease
MAGIC_V1 = b"Tahoe mutable container v1\n" + bytes([0x75, 0x09, 0x44, 0x03, 0x8E])
MAGIC_V2 = b"Tahoe mutable container v2\n" + bytes([0xC3, 0x55, 0x21, 0x99, 0x25])


def blake(s: bytes) -> bytes:
    return hashlib.blake2b(s, digest_size=32).digest()


def immutable_lease(owner, renew, cancel, expires):
    return struct.pack(">L", owner) + renew + cancel + struct.pack(">L", expires)


def mutable_lease(owner, expires, renew, cancel, nodeid):
    return struct.pack(">LL", owner, expires) + renew + cancel + nodeid


def read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def put(path, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---- immutable ---------------------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_immutable_share_file_bytes(t):
    data = b"share data: 0123456789"
    already, writers = await t.server.call("allocate_buckets", SI, R, C, {3}, 30, t.new_canary())
    incoming = share_path(t.storedir, SI, 3, incoming=True)
    lease0 = immutable_lease(0, blake(R), blake(C), EXPIRES)
    assert read(incoming) == struct.pack(">LLL", 2, 30, 1) + b"\x00" * 30 + lease0
    await writers[3].call("write", 0, data)
    await writers[3].call("close")
    expected = struct.pack(">LLL", 2, 30, 1) + data + b"\x00" * 8 + lease0
    assert read(share_path(t.storedir, SI, 3)) == expected

    t.clock.advance(7)
    await t.server.call("add_lease", SI, secret("renew", 2), secret("cancel", 2))
    lease1 = immutable_lease(1, blake(secret("renew", 2)), blake(secret("cancel", 2)),
                             EXPIRES + 7)
    assert read(share_path(t.storedir, SI, 3)) == (
        struct.pack(">LLL", 2, 30, 2) + data + b"\x00" * 8 + lease0 + lease1)
    await t.server.call("cancel_lease", SI, C)
    assert read(share_path(t.storedir, SI, 3)) == (
        struct.pack(">LLL", 2, 30, 1) + data + b"\x00" * 8 + lease1)


@pytest_twisted.ensureDeferred
async def test_immutable_legacy_length_saturates_at_2_to_the_32_minus_1(make_transport):
    t = await make_transport(disk_stats=FixedDisk(free=2 ** 40))
    size = 2 ** 32 + 5
    _, writers = await t.server.call("allocate_buckets", SI, R, C, {0}, size, t.new_canary())
    path = share_path(t.storedir, SI, 0, incoming=True)
    with open(path, "rb") as f:
        assert f.read(12) == struct.pack(">LLL", 2, 2 ** 32 - 1, 1)
        f.seek(12 + size)
        assert f.read() == immutable_lease(0, blake(R), blake(C), EXPIRES)
    await writers[0].call("write", size - 3, b"end")
    await writers[0].call("close")
    (reader,) = (await t.server.call("get_buckets", SI)).values()
    assert await reader.call("read", size - 4, 100) == b"\x00end"


@pytest_twisted.ensureDeferred
async def test_version_1_immutable_container_with_clear_secrets(t):
    data = b"an old share, leases in clear"
    path = share_path(t.storedir, SI, 5)
    lease0 = immutable_lease(0, R, C, 1_234_567_890)
    put(path, struct.pack(">LLL", 1, len(data), 1) + data + lease0)
    (reader,) = (await t.server.call("get_buckets", SI)).values()
    assert await reader.call("read", 0, 1000) == data
    assert await t.server.call("allocate_buckets", SI, R, C, {5}, len(data),
                               t.new_canary()) == ({5}, {})
    lease0 = immutable_lease(0, R, C, EXPIRES)  # renewed, still in clear
    assert read(path) == struct.pack(">LLL", 1, len(data), 1) + data + lease0
    r2, c2 = secret("renew", 2), secret("cancel", 2)
    await t.server.call("add_lease", SI, r2, c2)
    assert read(path) == (struct.pack(">LLL", 1, len(data), 2) + data + lease0
                          + immutable_lease(1, r2, c2, EXPIRES))
    await t.server.call("cancel_lease", SI, c2)
    await t.server.call("cancel_lease", SI, C)
    assert not os.path.exists(path)


@pytest_twisted.ensureDeferred
async def test_unknown_immutable_container_version_is_reported(t):
    put(share_path(t.storedir, SI, 0), struct.pack(">LLL", 3, 4, 0) + b"data")
    with t.raises(UnknownContainerVersionError, match="unknown container version 3"):
        await t.server.call("get_buckets", SI)


@pytest_twisted.ensureDeferred
async def test_unknown_container_is_reported_by_every_operation(t):
    put(share_path(t.storedir, SI, 0), b"\xffgarbage, not a share container")
    calls = [("get_buckets", SI), ("add_lease", SI, R, C), ("renew_lease", SI, R),
             ("slot_readv", SI, [], [(0, 1)]),
             ("allocate_buckets", SI, R, C, {1}, 1, t.new_canary()),
             ("slot_testv_and_readv_and_writev", SI, (WE, R, C), {}, [])]
    for call in calls:
        with t.raises(UnknownContainerVersionError, match="share 0 of storage index .* unknown container version"):
            await t.server.call(*call)
    assert os.listdir(os.path.dirname(share_path(t.storedir, SI, 0))) == ["0"]


@pytest_twisted.ensureDeferred
async def test_upload_helper_writes_whole_file(t):
    await upload(t, SI, {0: b"abc"})
    assert read(share_path(t.storedir, SI, 0)) == (
        struct.pack(">LLL", 2, 3, 1) + b"abc" + immutable_lease(0, blake(R), blake(C), EXPIRES))


# ---- mutable -----------------------------------------------------------------------------
def mutable_header(magic, nodeid, we, data_length, extra_offset):
    return magic + nodeid + we + struct.pack(">QQ", data_length, extra_offset)


async def twrite(t, tw, secrets=(WE, R, C)):
    ok, _ = await t.server.call("slot_testv_and_readv_and_writev", SI, secrets, tw, [])
    assert ok


@pytest_twisted.ensureDeferred
async def test_mutable_container_bytes(t):
    data = b"hello world"
    await twrite(t, {1: ([(0, 1, b"eq", b"")], [(0, data)], None)})
    lease = mutable_lease(1, EXPIRES, blake(R), blake(C), t.nodeid)
    expected = (mutable_header(MAGIC_V2, t.nodeid, WE, 11, 468 + 11) + lease
                + b"\x00" * (3 * 92) + data + struct.pack(">L", 0))
    assert len(expected) == 468 + 11 + 4
    assert read(share_path(t.storedir, SI, 1)) == expected


@pytest_twisted.ensureDeferred
async def test_mutable_container_growth_moves_the_extra_leases(t):
    data = b"hello world"
    await twrite(t, {0: ([], [(0, data)], None)})
    pairs = [(R, C)] + [(secret("renew", i), secret("cancel", i)) for i in range(2, 6)]
    for renew, cancel in pairs[1:]:
        await t.server.call("add_lease", SI, renew, cancel)
    records = [mutable_lease(1, EXPIRES, blake(r), blake(c), t.nodeid) for r, c in pairs]
    path = share_path(t.storedir, SI, 0)
    assert read(path) == (mutable_header(MAGIC_V2, t.nodeid, WE, 11, 479) + b"".join(records[:4])
                          + data + struct.pack(">L", 1) + records[4])

    await twrite(t, {0: ([], [(20, b"XY")], None)})  # grows the data to 22 bytes
    assert read(path) == (mutable_header(MAGIC_V2, t.nodeid, WE, 22, 490) + b"".join(records[:4])
                          + data + b"\x00" * 9 + b"XY" + struct.pack(">L", 1) + records[4])

    await twrite(t, {0: ([], [], 5)})  # truncation: only the length changes
    assert read(path) == (mutable_header(MAGIC_V2, t.nodeid, WE, 5, 490) + b"".join(records[:4])
                          + data + b"\x00" * 9 + b"XY" + struct.pack(">L", 1) + records[4])

    await twrite(t, {0: ([], [(30, b"Q")], None)})  # past the old block: it moves again
    assert read(path) == (mutable_header(MAGIC_V2, t.nodeid, WE, 31, 499) + b"".join(records[:4])
                          + b"hello" + b"\x00" * 25 + b"Q" + struct.pack(">L", 1) + records[4])


@pytest_twisted.ensureDeferred
async def test_version_1_mutable_container_with_clear_secrets(t):
    old_nodeid = bytes(range(1, 21))
    data = b"an old mutable share"
    old_lease = mutable_lease(1, 1_234_567_890, R, C, old_nodeid)
    path = share_path(t.storedir, SI, 2)
    put(path, mutable_header(MAGIC_V1, old_nodeid, WE, len(data), 468 + len(data)) + old_lease
        + b"\x00" * (3 * 92) + data + struct.pack(">L", 0))
    assert await t.server.call("slot_readv", SI, [], [(0, 6), (7, 100)]) == {
        2: [b"an old", b"mutable share"]}

    bad = (secret("write-enabler", 9), R, C)
    with t.raises(BadWriteEnablerError, match="recorded by nodeid 'aebagbafaydqqcikbmga2dqpcaireeyu'"):
        await t.server.call("slot_testv_and_readv_and_writev", SI, bad,
                            {2: ([], [(0, b"X")], None)}, [])

    await twrite(t, {2: ([(0, 6, b"eq", b"an old")], [(0, b"AN OLD")], None)})
    renewed = mutable_lease(1, EXPIRES, R, C, old_nodeid)  # renewed in clear, slot kept
    r2, c2 = secret("renew", 2), secret("cancel", 2)
    await t.server.call("add_lease", SI, r2, c2)
    added = mutable_lease(1, EXPIRES, r2, c2, t.nodeid)
    assert read(path) == (mutable_header(MAGIC_V1, old_nodeid, WE, len(data), 468 + len(data))
                          + renewed + added + b"\x00" * (2 * 92) + b"AN OLD" + data[6:]
                          + struct.pack(">L", 0))
    await t.server.call("renew_lease", SI, r2)
    await t.server.call("cancel_lease", SI, C)
    await t.server.call("cancel_lease", SI, c2)
    assert not os.path.exists(path)
