"""Contract: versions, space (read-only, reserved space, promised space),
statistics, corruption advisories and argument checking; run in-process and
over Foolscap."""

import os
import re

import pytest_twisted

import allmydata
from allmydata.storage.common import BadArgumentError, MAX_MUTABLE_SHARE_SIZE
from allmydata.storage.immutable import ImmutableShareFile
from allmydata.storage.space import DiskStats, get_disk_stats
from allmydata.util import base32

from .suite_data import all_files, make_si, secret, share_path, upload

SI = make_si(30)
R, C, WE = secret("renew"), secret("cancel"), secret("write-enabler")
V1 = b"http://allmydata.org/tahoe/protocols/storage/v1"


class FixedDisk:
    """A disk of fixed size for the server's space query (the server itself
    and its files are real)."""

    def __init__(self, free: int, total: int = 10 ** 9):
        self.free = free
        self.total = total

    def __call__(self, path):
        assert os.path.isdir(path)
        return DiskStats(total=self.total, used=self.total - self.free - 1000,
                         free_for_root=self.free + 1000, free_for_nonroot=self.free)


async def allocate(t, si, sharenums, size, renew=R, canary=None):
    return await t.server.call("allocate_buckets", si, renew, C, set(sharenums), size,
                               canary or t.new_canary())


@pytest_twisted.ensureDeferred
async def test_get_version_dict(make_transport):
    t = await make_transport(disk_stats=FixedDisk(free=50_000), reserved_space=8_000)
    version = await t.server.call("get_version")
    assert version == {
        V1: {
            b"maximum-immutable-share-size": 21_000,  # one uploader gets at most half
            b"maximum-mutable-share-size": 69_105 * 10 ** 12,
            b"available-space": 42_000,
            b"tolerates-immutable-read-overrun": True,
            b"delete-mutable-shares-with-zero-length-writev": True,
            b"fills-holes-with-zero-bytes": True,
            b"prevents-read-past-end-of-share-data": True,
        },
        b"application-version": allmydata.__full_version__.encode("ascii"),
    }
    assert MAX_MUTABLE_SHARE_SIZE == 69_105_000_000_000_000


@pytest_twisted.ensureDeferred
async def test_get_version_on_the_real_disk(t):
    version = await t.server.call("get_version")
    space = version[V1][b"available-space"]
    assert isinstance(space, int) and 0 < space <= get_disk_stats(t.storedir).total
    assert version[V1][b"maximum-immutable-share-size"] == space // 2


@pytest_twisted.ensureDeferred
async def test_get_versions_of_the_seed(t):
    mine, oldest = await t.server.call("get_versions")
    assert mine == allmydata.__full_version__.encode("ascii")
    assert oldest == b"1.0.0"


@pytest_twisted.ensureDeferred
async def test_readonly_server_allocates_nothing_but_reports_and_renews(make_transport):
    t = await make_transport()
    await upload(t, SI, {0: b"kept"})
    ro = await make_transport(storedir=t.storedir, readonly_storage=True)
    assert (await ro.server.call("get_version"))[V1][b"available-space"] == 0
    already, writers = await allocate(ro, SI, {0, 1}, 4, renew=secret("renew", 2))
    assert (already, writers) == ({0}, {})
    assert not os.path.exists(share_path(t.storedir, SI, 1, incoming=True))
    leases = ImmutableShareFile(share_path(t.storedir, SI, 0)).get_leases()
    assert len(leases) == 2
    await ro.server.call("add_lease", SI, secret("renew", 3), C)
    assert len(ImmutableShareFile(share_path(t.storedir, SI, 0)).get_leases()) == 3
    already, writers = await allocate(ro, make_si(33), {0}, 4)
    assert (already, writers) == (set(), {})
    assert ro.storage_server.get_stats()["storage_server.accepting_immutable_shares"] == 0


@pytest_twisted.ensureDeferred
async def test_reserved_space_larger_than_the_disk_leaves_no_room(make_transport):
    t = await make_transport(reserved_space=2 ** 62)
    assert (await t.server.call("get_version"))[V1][b"available-space"] == 0
    assert await allocate(t, SI, {0}, 1) == (set(), {})
    assert t.storage_server.get_stats()["storage_server.accepting_immutable_shares"] == 0


@pytest_twisted.ensureDeferred
async def test_one_connection_is_promised_at_most_half_of_the_room(make_transport):
    t = await make_transport(disk_stats=FixedDisk(free=11_000), reserved_space=1_000)
    canary = t.new_canary()  # one uploader: one connection
    already, writers = await allocate(t, SI, {0, 1, 2}, 2_000, canary=canary)
    assert already == set() and sorted(writers) == [0, 1]  # 4,000 of 10,000 promised
    already, more = await allocate(t, make_si(31), {0}, 2_000, canary=canary)
    assert more == {}  # 6,000 would be more than half
    assert t.storage_server.get_stats()["storage_server.allocated"] == 4_000
    # what is written is no longer a promise: the uploader may be promised more
    await writers[0].call("write", 0, b"w" * 2_000)
    already, more = await allocate(t, make_si(31), {0}, 2_000, canary=canary)
    assert sorted(more) == [0]
    assert t.storage_server.promised_space() == 4_000
    await more[0].call("abort")
    await writers[1].call("abort")
    await writers[0].call("abort")
    assert t.storage_server.get_stats()["storage_server.allocated"] == 0
    assert t.storage_server.promised_space() == 0


@pytest_twisted.ensureDeferred
async def test_stats_counters_move(t):
    counters = t.stats.counters

    def counted(name):
        return counters.get("storage_server." + name, 0)

    _, writers = await allocate(t, SI, {0, 1}, 10)
    await writers[0].call("write", 0, b"0123456789")
    await writers[0].call("close")
    await writers[1].call("abort")
    readers = await t.server.call("get_buckets", SI)
    await readers[0].call("read", 0, 5)
    await t.server.call("add_lease", SI, secret("renew", 2), secret("cancel", 2))
    await t.server.call("renew_lease", SI, R)
    await t.server.call("cancel_lease", SI, secret("cancel", 2))
    await readers[0].call("advise_corrupt_share", b"looked wrong")
    msi = make_si(32)
    await t.server.call("slot_testv_and_readv_and_writev", msi, (WE, R, C),
                        {0: ([], [(0, b"m" * 100)], None)}, [])
    await t.server.call("slot_readv", msi, [], [(0, 1)])
    await t.server.call("cancel_lease", SI, C)  # deletes the immutable share
    for name in ["allocate", "write", "close", "abort", "get", "read", "add-lease", "renew",
                 "advise-corrupt", "readv", "writev"]:
        assert counted(name) == 1, name
    assert counted("cancel") == 2
    immutable_size = 12 + 10 + 72
    mutable_size = 468 + 100 + 4
    assert counted("bytes_added") == immutable_size + mutable_size
    assert counted("bytes_freed") == immutable_size


@pytest_twisted.ensureDeferred
async def test_get_stats_reports_space(make_transport):
    t = await make_transport(disk_stats=FixedDisk(free=50_000, total=90_000),
                             reserved_space=8_000)
    await allocate(t, SI, {0, 1}, 1_000)
    stats = t.stats.get_stats()["stats"]
    assert stats["storage_server.allocated"] == 2_000
    assert stats["storage_server.reserved_space"] == 8_000
    assert stats["storage_server.disk_total"] == 90_000
    assert stats["storage_server.disk_used"] == 39_000
    assert stats["storage_server.disk_avail"] == 42_000
    assert stats["storage_server.accepting_immutable_shares"] == 1


@pytest_twisted.ensureDeferred
async def test_corruption_advisory_is_recorded_for_a_held_share_only(t):
    await upload(t, SI, {2: b"bad bytes"})
    advisories = os.path.join(t.storedir, "corruption-advisories")
    assert await t.server.call("advise_corrupt_share", b"immutable", SI, 7, b"no such") is None
    assert await t.server.call("advise_corrupt_share", b"mutable", make_si(404), 0, b"x") is None
    assert not os.path.exists(advisories)
    await t.server.call("advise_corrupt_share", b"immutable", SI, 2, b"block hash mismatch")
    (reader,) = (await t.server.call("get_buckets", SI)).values()
    await reader.call("advise_corrupt_share", b"second report \xff")
    names = sorted(os.listdir(advisories))
    si_s = base32.b2a(SI).decode()
    assert len(names) == 2
    for name in names:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d{6}\.\d{6}Z--immutable-%s-2(\.\d+)?" % si_s, name)
    reports = [open(os.path.join(advisories, n), encoding="utf-8").read() for n in names]
    assert any("block hash mismatch" in r for r in reports)
    assert all("storage_index: %s" % si_s in r and "share_number: 2" in r for r in reports)
    assert all("type: immutable" in r for r in reports)


@pytest_twisted.ensureDeferred
async def test_corruption_advisory_arguments_are_checked(t):
    with t.raises(BadArgumentError, match="share_type"):
        await t.server.call("advise_corrupt_share", b"chk", SI, 0, b"x")
    with t.raises(BadArgumentError, match="share numbers"):
        await t.server.call("advise_corrupt_share", b"immutable", SI, -1, b"x")


@pytest_twisted.ensureDeferred
async def test_arguments_outside_the_constraints_are_refused_and_change_nothing(t):
    canary = t.new_canary()
    short_si, short_secret = b"s" * 17, b"r" * 31
    calls = [
        ("allocate_buckets", short_si, R, C, {0}, 10, canary),
        ("allocate_buckets", SI, short_secret, C, {0}, 10, canary),
        ("allocate_buckets", SI, R, short_secret, {0}, 10, canary),
        ("allocate_buckets", SI, R, C, set(range(257)), 10, canary),
        ("add_lease", SI, R, short_secret),
        ("add_lease", b"s" * 15, R, C),
        ("get_buckets", short_si),
        ("slot_readv", short_si, [], [(0, 1)]),
        ("slot_testv_and_readv_and_writev", SI, (WE, R, short_secret),
         {0: ([], [(0, b"x")], None)}, []),
        ("slot_testv_and_readv_and_writev", SI, (WE, R),
         {0: ([], [(0, b"x")], None)}, []),
        ("advise_corrupt_share", b"immutable", short_si, 0, b"x"),
        ("renew_lease", SI, short_secret),
        ("cancel_lease", short_si, C),
    ]
    for call in calls:
        with t.raises_constraint_violation():
            await t.server.call(*call)
        with t.raises_constraint_violation(sender_checks=False):
            await t.server.call_unchecked(*call)
    assert all_files(t.storedir) == []
    assert t.storage_server.get_stats()["storage_server.allocated"] == 0


@pytest_twisted.ensureDeferred
async def test_allocating_all_256_share_numbers_is_allowed(t):
    already, writers = await allocate(t, SI, set(range(256)), 1)
    assert sorted(writers) == list(range(256))
    assert os.path.exists(share_path(t.storedir, SI, 255, incoming=True))
