"""Contract: leases (allocate_buckets, add_lease, renew_lease, cancel_lease,
and the lease a mutable write grants), run in-process and over Foolscap."""

import hashlib
import os

import pytest_twisted

from allmydata.storage.common import LEASE_DURATION, NoSuchLeaseError
from allmydata.storage.immutable import ImmutableShareFile
from allmydata.storage.mutable import MutableShareFile

from .suite_data import T0, all_files, make_si, secret, share_path, upload

SI = make_si(10)
MSI = make_si(11)
R, C = secret("renew"), secret("cancel")
WE = secret("write-enabler")


def blake(s: bytes) -> bytes:
    return hashlib.blake2b(s, digest_size=32).digest()


def immutable_leases(t, shnum=0, si=SI):
    return ImmutableShareFile(share_path(t.storedir, si, shnum)).get_leases()


def mutable_leases(t, shnum=0, si=MSI):
    return MutableShareFile(share_path(t.storedir, si, shnum)).get_leases()


async def write_mutable(t, shnums=(0,), data=b"mutable data", renew=R, cancel=C, si=MSI):
    tw = {n: ([], [(0, data)], None) for n in shnums}
    ok, _ = await t.server.call("slot_testv_and_readv_and_writev", si, (WE, renew, cancel), tw, [])
    assert ok


def lease_tuple(lease):
    return (lease.owner_num, lease.stored_renew_secret, lease.stored_cancel_secret,
            lease.expiration_time)


@pytest_twisted.ensureDeferred
async def test_allocation_grants_owner_0_lease_with_hashed_secrets(t):
    await upload(t, SI, {0: b"data"})
    assert [lease_tuple(x) for x in immutable_leases(t)] == [
        (0, blake(R), blake(C), T0 + LEASE_DURATION)]


@pytest_twisted.ensureDeferred
async def test_allocate_again_renews_same_secret_and_adds_new_secret(t):
    await upload(t, SI, {0: b"data", 1: b"more"})
    t.clock.advance(100)
    await t.server.call("allocate_buckets", SI, R, C, {0}, 4, t.new_canary())
    assert [lease_tuple(x) for x in immutable_leases(t, 1)] == [
        (0, blake(R), blake(C), T0 + 100 + LEASE_DURATION)]  # shares not asked for, too
    r2, c2 = secret("renew", 2), secret("cancel", 2)
    await t.server.call("allocate_buckets", SI, r2, c2, {0}, 4, t.new_canary())
    assert [lease_tuple(x) for x in immutable_leases(t)] == [
        (0, blake(R), blake(C), T0 + 100 + LEASE_DURATION),
        (0, blake(r2), blake(c2), T0 + 100 + LEASE_DURATION)]


@pytest_twisted.ensureDeferred
async def test_add_lease_adds_owner_1_then_renews(t):
    await upload(t, SI, {0: b"a", 1: b"b"})
    r2, c2 = secret("renew", 2), secret("cancel", 2)
    t.clock.advance(10)
    assert await t.server.call("add_lease", SI, r2, c2) is None
    for shnum in (0, 1):
        assert [lease_tuple(x) for x in immutable_leases(t, shnum)] == [
            (0, blake(R), blake(C), T0 + LEASE_DURATION),
            (1, blake(r2), blake(c2), T0 + 10 + LEASE_DURATION)]
    t.clock.advance(1000)
    await t.server.call("add_lease", SI, r2, secret("cancel", 3))  # renew secret decides
    assert [lease_tuple(x) for x in immutable_leases(t)] == [
        (0, blake(R), blake(C), T0 + LEASE_DURATION),
        (1, blake(r2), blake(c2), T0 + 1010 + LEASE_DURATION)]


@pytest_twisted.ensureDeferred
async def test_add_lease_on_unknown_storage_index_is_silent(t):
    assert await t.server.call("add_lease", make_si(404), R, C) is None
    assert all_files(os.path.join(t.storedir, "shares")) == []


@pytest_twisted.ensureDeferred
async def test_add_lease_covers_mutable_shares(t):
    await write_mutable(t, shnums=(0, 1))
    r2, c2 = secret("renew", 2), secret("cancel", 2)
    t.clock.advance(5)
    await t.server.call("add_lease", MSI, r2, c2)
    for shnum in (0, 1):
        leases = mutable_leases(t, shnum)
        assert [lease_tuple(x) for x in leases] == [
            (1, blake(R), blake(C), T0 + LEASE_DURATION),
            (1, blake(r2), blake(c2), T0 + 5 + LEASE_DURATION)]
        assert {x.nodeid for x in leases} == {t.nodeid}


@pytest_twisted.ensureDeferred
async def test_renew_lease_pushes_expiration_out(t):
    await upload(t, SI, {0: b"a"})
    await write_mutable(t)
    t.clock.advance(3600)
    for si in (SI, MSI):
        assert await t.server.call("renew_lease", si, R) is None
    assert immutable_leases(t)[0].expiration_time == T0 + 3600 + LEASE_DURATION
    assert mutable_leases(t)[0].expiration_time == T0 + 3600 + LEASE_DURATION


@pytest_twisted.ensureDeferred
async def test_renew_lease_without_matching_lease_is_an_error(t):
    await upload(t, SI, {0: b"a"})
    with t.raises(NoSuchLeaseError, match="no such lease to renew"):
        await t.server.call("renew_lease", SI, secret("renew", 9))
    with t.raises(NoSuchLeaseError, match="no such lease to renew"):
        await t.server.call("renew_lease", make_si(404), R)
    with t.raises(NoSuchLeaseError):
        await t.server.call("renew_lease", SI, C)  # a cancel secret does not renew
    assert immutable_leases(t)[0].expiration_time == T0 + LEASE_DURATION


def test_no_such_lease_is_an_index_error_as_in_the_seed():
    assert issubclass(NoSuchLeaseError, IndexError)


@pytest_twisted.ensureDeferred
async def test_cancel_lease_removes_one_lease_and_keeps_the_share(t):
    await upload(t, SI, {0: b"a"})
    r2, c2 = secret("renew", 2), secret("cancel", 2)
    await t.server.call("add_lease", SI, r2, c2)
    assert await t.server.call("cancel_lease", SI, C) is None
    assert [lease_tuple(x) for x in immutable_leases(t)] == [
        (1, blake(r2), blake(c2), T0 + LEASE_DURATION)]
    (reader,) = (await t.server.call("get_buckets", SI)).values()
    assert await reader.call("read", 0, 1) == b"a"


@pytest_twisted.ensureDeferred
async def test_cancelling_the_last_lease_deletes_the_share(t):
    await upload(t, SI, {0: b"a", 1: b"b"})
    await write_mutable(t, shnums=(3,))
    await t.server.call("cancel_lease", SI, C)
    await t.server.call("cancel_lease", MSI, C)
    assert all_files(os.path.join(t.storedir, "shares")) == []
    assert os.listdir(os.path.join(t.storedir, "shares")) == ["incoming"]
    assert await t.server.call("get_buckets", SI) == {}
    assert await t.server.call("slot_readv", MSI, [], [(0, 10)]) == {}


@pytest_twisted.ensureDeferred
async def test_cancel_lease_without_matching_lease_is_an_error(t):
    await upload(t, SI, {0: b"a"})
    with t.raises(NoSuchLeaseError, match="no such lease to cancel"):
        await t.server.call("cancel_lease", SI, secret("cancel", 9))
    with t.raises(NoSuchLeaseError):
        await t.server.call("cancel_lease", SI, R)  # a renew secret does not cancel
    with t.raises(NoSuchLeaseError):
        await t.server.call("cancel_lease", make_si(404), C)
    assert len(immutable_leases(t)) == 1


@pytest_twisted.ensureDeferred
async def test_mutable_write_grants_owner_1_lease_and_renews_it(t):
    await write_mutable(t)
    (lease,) = mutable_leases(t)
    assert lease_tuple(lease) == (1, blake(R), blake(C), T0 + LEASE_DURATION)
    assert lease.nodeid == t.nodeid
    t.clock.advance(60)
    await write_mutable(t, data=b"again")
    assert [lease_tuple(x) for x in mutable_leases(t)] == [
        (1, blake(R), blake(C), T0 + 60 + LEASE_DURATION)]


@pytest_twisted.ensureDeferred
async def test_mutable_leases_beyond_four_slots_go_to_the_extra_block(t):
    await write_mutable(t)
    for i in range(2, 7):
        await t.server.call("add_lease", MSI, secret("renew", i), secret("cancel", i))
    leases = mutable_leases(t)
    assert [x.stored_renew_secret for x in leases] == [blake(R)] + [
        blake(secret("renew", i)) for i in range(2, 7)]
    # cancelling one frees a slot; the next lease takes it
    await t.server.call("cancel_lease", MSI, secret("cancel", 2))
    await t.server.call("add_lease", MSI, secret("renew", 7), secret("cancel", 7))
    assert [x.stored_renew_secret for x in mutable_leases(t)] == [
        blake(R), blake(secret("renew", 7))] + [blake(secret("renew", i)) for i in range(3, 7)]
    slot = await t.server.call("slot_readv", MSI, [0], [(0, 100)])
    assert slot == {0: [b"mutable data"]}
