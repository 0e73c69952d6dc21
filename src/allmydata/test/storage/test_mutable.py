"""Contract: mutable slots (slot_readv, slot_testv_and_readv_and_writev),
run in-process and over Foolscap."""

import os

import pytest
import pytest_twisted

from allmydata.storage.common import (
    MAX_MUTABLE_SHARE_SIZE, BadArgumentError, BadWriteEnablerError, DataTooLargeError,
    ShareTypeError, UnknownTestOperatorError,
)
from allmydata.util.idlib import nodeid_b2a

from .suite_data import all_files, make_si, secret, share_path, upload

SI = make_si(20)
WE, R, C = secret("write-enabler"), secret("renew"), secret("cancel")
SECRETS = (WE, R, C)
NEW = [(0, 1, b"eq", b"")]  # "this share does not exist yet"


async def twrite(t, tw, r_vector=(), secrets=SECRETS, si=SI):
    return await t.server.call("slot_testv_and_readv_and_writev", si, secrets, tw,
                               list(r_vector))


async def readv(t, shares, r_vector, si=SI):
    return await t.server.call("slot_readv", si, list(shares), list(r_vector))


async def contents(t, shnum=0, si=SI):
    (data,) = (await readv(t, [shnum], [(0, 10_000)], si))[shnum]
    return data


@pytest_twisted.ensureDeferred
async def test_create_read_and_update(t):
    ok, reads = await twrite(t, {0: (NEW, [(0, b"version one")], None),
                                 1: (NEW, [(0, b"other share")], None)}, [(0, 7)])
    assert (ok, reads) == (True, {})
    assert await readv(t, [], [(0, 7), (8, 3), (5, 100)]) == {
        0: [b"version", b"one", b"on one"], 1: [b"other s", b"are", b" share"]}
    assert await readv(t, [1], [(0, 5)]) == {1: [b"other"]}
    assert await readv(t, [1, 7], [(0, 5)]) == {1: [b"other"]}
    assert await readv(t, [], [(0, 5)], si=make_si(404)) == {}
    ok, reads = await twrite(t, {0: ([(0, 11, b"eq", b"version one")], [(8, b"two")], None)},
                             [(0, 11)])
    assert ok and reads == {0: [b"version one"], 1: [b"other share"]}
    assert await contents(t) == b"version two"


@pytest_twisted.ensureDeferred
async def test_failed_test_vector_writes_nothing_but_still_reads(t):
    await twrite(t, {0: (NEW, [(0, b"original")], None)})
    ok, reads = await twrite(t, {0: ([(0, 8, b"eq", b"changed!")], [(0, b"XXXXXXXX")], None),
                                 5: ([], [(0, b"new share")], None)}, [(0, 4)])
    assert (ok, reads) == (False, {0: [b"orig"]})
    assert await contents(t) == b"original"
    assert await readv(t, [], [(0, 1)]) == {0: [b"o"]}  # share 5 was not created


@pytest.mark.parametrize("op, specimen, expected", [
    (b"lt", b"abd", True), (b"lt", b"abc", False), (b"lt", b"abb", False),
    (b"le", b"abd", True), (b"le", b"abc", True), (b"le", b"abb", False),
    (b"eq", b"abd", False), (b"eq", b"abc", True), (b"eq", b"abb", False),
    (b"ne", b"abd", True), (b"ne", b"abc", False), (b"ne", b"abb", True),
    (b"ge", b"abd", False), (b"ge", b"abc", True), (b"ge", b"abb", True),
    (b"gt", b"abd", False), (b"gt", b"abc", False), (b"gt", b"abb", True),
])
@pytest_twisted.ensureDeferred
async def test_all_six_operators_compare_the_read_bytes_with_the_specimen(t, op, specimen,
                                                                            expected):
    await twrite(t, {0: (NEW, [(0, b"abcdef")], None)})
    ok, _ = await twrite(t, {0: ([(0, 3, op, specimen)], [(0, b"X")], None)})
    assert ok is expected
    assert await contents(t) == (b"Xbcdef" if expected else b"abcdef")


@pytest.mark.parametrize("testv, expected", [
    ([(0, 1, b"eq", b"")], True),
    ([(0, 0, b"eq", b"")], True),
    ([(5, 10, b"eq", b"")], True),
    ([(0, 1, b"lt", b"a")], True),
    ([(0, 1, b"gt", b"")], False),
    ([(0, 1, b"ne", b"")], False),
    ([(0, 1, b"eq", b"a")], False),
    ([(0, 1, b"le", b""), (0, 1, b"ge", b"")], True),
])
@pytest_twisted.ensureDeferred
async def test_a_missing_share_behaves_as_empty(t, testv, expected):
    ok, reads = await twrite(t, {3: (testv, [(0, b"new")], None)}, [(0, 10)])
    assert (ok, reads) == (expected, {})
    assert await readv(t, [], [(0, 10)]) == ({3: [b"new"]} if expected else {})


@pytest.mark.parametrize("op", [b"nop", b"EQ", b"==", b""])
@pytest_twisted.ensureDeferred
async def test_other_operators_are_refused_and_change_nothing(t, op):
    await twrite(t, {0: (NEW, [(0, b"data")], None)})
    with t.raises(UnknownTestOperatorError, match="lt, le, eq, ne, ge, gt"):
        await twrite(t, {0: ([(0, 4, b"eq", b"data")], [(0, b"XXXX")], None),
                         1: ([(0, 1, op, b"")], [(0, b"new")], None)})
    assert await readv(t, [], [(0, 10)]) == {0: [b"data"]}


@pytest_twisted.ensureDeferred
async def test_wrong_write_enabler_is_refused_with_the_recording_nodeid(t):
    await twrite(t, {0: (NEW, [(0, b"secret data")], None)})
    bad = (secret("write-enabler", 2), R, C)
    expected = "The write enabler was recorded by nodeid '%s'." % nodeid_b2a(t.nodeid)
    with t.raises(BadWriteEnablerError) as info:
        await twrite(t, {0: ([], [(0, b"forged")], None)}, [(0, 6)], secrets=bad)
    assert expected in str(info.value)
    with t.raises(BadWriteEnablerError, match="recorded by nodeid"):
        await twrite(t, {1: (NEW, [(0, b"another")], None)}, secrets=bad)  # any share of the SI
    assert await readv(t, [], [(0, 20)]) == {0: [b"secret data"]}
    # anyone may read; a new storage index accepts any write enabler
    ok, _ = await twrite(t, {0: (NEW, [(0, b"x")], None)}, secrets=bad, si=make_si(21))
    assert ok


@pytest_twisted.ensureDeferred
async def test_reads_happen_before_writes_on_every_existing_share(t):
    await twrite(t, {0: (NEW, [(0, b"zero")], None), 1: (NEW, [(0, b"one!")], None)})
    ok, reads = await twrite(t, {0: ([], [(0, b"ZERO")], None),
                                 2: (NEW, [(0, b"two!")], None)}, [(0, 4), (2, 9)])
    assert ok and reads == {0: [b"zero", b"ro"], 1: [b"one!", b"e!"]}
    assert await readv(t, [], [(0, 4)]) == {0: [b"ZERO"], 1: [b"one!"], 2: [b"two!"]}


@pytest_twisted.ensureDeferred
async def test_new_length_zero_deletes_the_share(t):
    await twrite(t, {0: (NEW, [(0, b"zero")], None), 1: (NEW, [(0, b"one")], None)})
    ok, _ = await twrite(t, {0: ([(0, 4, b"eq", b"zero")], [], 0), 7: ([], [], 0)})
    assert ok
    assert await readv(t, [], [(0, 4)]) == {1: [b"one"]}
    assert not os.path.exists(share_path(t.storedir, SI, 0))
    assert not os.path.exists(share_path(t.storedir, SI, 7))
    await twrite(t, {1: ([], [], 0)})
    assert all_files(os.path.join(t.storedir, "shares")) == []
    assert os.listdir(os.path.join(t.storedir, "shares")) == ["incoming"]


@pytest_twisted.ensureDeferred
async def test_smaller_new_length_truncates_and_larger_is_ignored(t):
    await twrite(t, {0: (NEW, [(0, b"0123456789")], None)})
    await twrite(t, {0: ([], [], 100)})
    assert await contents(t) == b"0123456789"
    await twrite(t, {0: ([], [(0, b"AB")], 4)})  # writes first, then truncation
    assert await contents(t) == b"AB23"
    # growing again exposes zeros, never the truncated bytes
    await twrite(t, {0: ([], [(8, b"Z")], None)})
    assert await contents(t) == b"AB23\x00\x00\x00\x00Z"


@pytest_twisted.ensureDeferred
async def test_gaps_are_filled_with_zeros(t):
    ok, _ = await twrite(t, {0: (NEW, [(5, b"five"), (12, b"twelve")], None)})
    assert ok
    assert await contents(t) == b"\x00" * 5 + b"five" + b"\x00" * 3 + b"twelve"
    assert await readv(t, [0], [(0, 3), (16, 10), (18, 1), (40, 2)]) == {
        0: [b"\x00" * 3, b"ve", b"", b""]}


@pytest_twisted.ensureDeferred
async def test_empty_write_vectors_create_an_empty_share_and_renew_leases(t):
    ok, _ = await twrite(t, {2: ([], [], None)})
    assert ok
    assert await readv(t, [], [(0, 5)]) == {2: [b""]}


@pytest_twisted.ensureDeferred
async def test_readonly_does_not_apply_to_mutable_shares(make_transport):
    t = await make_transport(readonly_storage=True)
    ok, _ = await twrite(t, {0: (NEW, [(0, b"still writable")], None)})
    assert ok and await contents(t) == b"still writable"


@pytest_twisted.ensureDeferred
async def test_slot_operations_on_an_immutable_storage_index_are_refused(t):
    await upload(t, SI, {0: b"immutable"})
    with t.raises(ShareTypeError, match="immutable"):
        await readv(t, [], [(0, 4)])
    with t.raises(ShareTypeError, match="immutable"):
        await twrite(t, {1: (NEW, [(0, b"x")], None)})
    assert os.listdir(os.path.dirname(share_path(t.storedir, SI, 0))) == ["0"]


@pytest_twisted.ensureDeferred
async def test_writes_past_the_largest_mutable_share_are_refused(t):
    with t.raises(DataTooLargeError, match="largest mutable share"):
        await twrite(t, {0: ([], [(MAX_MUTABLE_SHARE_SIZE, b"x")], None)})
    assert all_files(os.path.join(t.storedir, "shares")) == []


@pytest_twisted.ensureDeferred
async def test_bad_vectors_are_refused_before_anything_is_done(t):
    await twrite(t, {0: (NEW, [(0, b"data")], None)})
    for tw, r_vector in [
        ({0: ([], [(-1, b"x")], None)}, []),
        ({0: ([(-1, 1, b"eq", b"")], [], None)}, []),
        ({0: ([(0, -1, b"eq", b"")], [], None)}, []),
        ({0: ([], [], -5)}, []),
        ({0: ([], [(0, b"x")], None)}, [(0, -1)]),
        ({0: ([], [(0, b"x")], None)}, [(-1, 1)]),
    ]:
        with t.raises(BadArgumentError):
            await twrite(t, tw, r_vector)
    with t.raises(BadArgumentError):
        await readv(t, [-1], [(0, 1)])
    with t.raises(BadArgumentError):
        await readv(t, [], [(0, -2)])
    assert await readv(t, [], [(0, 10)]) == {0: [b"data"]}
