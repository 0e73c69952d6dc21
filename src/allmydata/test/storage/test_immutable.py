"""Contract: immutable uploads and downloads (allocate_buckets, RIBucketWriter,
get_buckets, RIBucketReader), run in-process and over Foolscap."""

import gc
import os

import pytest
import pytest_twisted
from foolscap.api import Referenceable, fireEventually
from foolscap.broker import Broker
from twisted.internet import task

from allmydata.storage.common import (
    IncompleteShareError,
    BUCKET_WRITER_IDLE_TIMEOUT, BadArgumentError, BucketClosedError, ConflictingWriteError,
    DataTooLargeError,
)
from allmydata.storage.server import StorageServer
from allmydata.testing.storage_transports import FakeCanary
from allmydata.testing.waiting import eventually

from .suite_data import (
    LOCAL_NODEID,
    all_files,
    incoming_leftovers,
    make_si,
    secret,
    share_path,
    upload,
)

SI = make_si(1)
R, C = secret("renew"), secret("cancel")


async def allocate(t, sharenums, size, si=SI, canary=None, renew=R, cancel=C):
    canary = canary if canary is not None else t.new_canary()
    return await t.server.call("allocate_buckets", si, renew, cancel, set(sharenums), size, canary)


@pytest_twisted.ensureDeferred
async def test_upload_then_download(t):
    already, writers = await allocate(t, {0, 1, 2}, 100)
    assert already == set() and sorted(writers) == [0, 1, 2]
    for shnum, w in writers.items():
        await w.call("write", 0, bytes([shnum]) * 60)
        await w.call("write", 60, b"z" * 40)
        await w.call("close")
    readers = await t.server.call("get_buckets", SI)
    assert sorted(readers) == [0, 1, 2]
    assert await readers[1].call("read", 0, 100) == b"\x01" * 60 + b"z" * 40
    assert await readers[2].call("read", 55, 10) == b"\x02" * 5 + b"z" * 5
    assert all_files(os.path.join(t.storedir, "shares")) == sorted(
        os.path.relpath(share_path(t.storedir, SI, n), os.path.join(t.storedir, "shares"))
        for n in range(3))


@pytest_twisted.ensureDeferred
async def test_reads_past_the_end_are_cut_short(t):
    await upload(t, SI, {0: b"0123456789"})
    (reader,) = (await t.server.call("get_buckets", SI)).values()
    assert await reader.call("read", 5, 100) == b"56789"
    assert await reader.call("read", 9, 1) == b"9"
    assert await reader.call("read", 10, 5) == b""
    assert await reader.call("read", 1000, 5) == b""
    assert await reader.call("read", 3, 0) == b""


@pytest_twisted.ensureDeferred
async def test_unwritten_bytes_read_as_zeros_and_close_does_not_check_completeness(t):
    _, writers = await allocate(t, {0}, 10)
    await writers[0].call("write", 6, b"abcd")
    await writers[0].call("close")
    (reader,) = (await t.server.call("get_buckets", SI)).values()
    assert await reader.call("read", 0, 10) == b"\x00" * 6 + b"abcd"


@pytest_twisted.ensureDeferred
async def test_alreadygot_lists_every_complete_share_and_no_writer_is_made_for_them(t):
    await upload(t, SI, {0: b"a" * 10, 3: b"b" * 10})
    already, writers = await allocate(t, {0, 1}, 10)
    assert already == {0, 3}  # share 3 was not asked for, it is still reported
    assert sorted(writers) == [1]
    await writers[1].call("abort")


@pytest_twisted.ensureDeferred
async def test_share_being_uploaded_gets_no_second_writer_and_is_not_alreadygot(t):
    _, first = await allocate(t, {0, 1}, 10)
    already, second = await allocate(t, {0, 1, 2}, 10, renew=secret("renew", 2))
    assert already == set() and sorted(second) == [2]
    await first[0].call("write", 0, b"x" * 10)
    await first[0].call("close")
    already, third = await allocate(t, {0, 1}, 10)
    assert already == {0} and third == {}


@pytest_twisted.ensureDeferred
async def test_get_buckets_lists_only_complete_shares(t):
    _, writers = await allocate(t, {0, 1}, 10)
    assert await t.server.call("get_buckets", SI) == {}
    await writers[1].call("write", 0, b"1" * 10)
    await writers[1].call("close")
    assert sorted(await t.server.call("get_buckets", SI)) == [1]
    assert await t.server.call("get_buckets", make_si(99)) == {}


@pytest_twisted.ensureDeferred
async def test_write_past_allocated_size_fails_and_keeps_written_data(t):
    _, writers = await allocate(t, {0}, 10)
    w = writers[0]
    await w.call("write", 0, b"abcdef")
    with t.raises(DataTooLargeError, match="past the 10 bytes allocated"):
        await w.call("write", 6, b"ghijk")
    with t.raises(DataTooLargeError):
        await w.call("write", 11, b"")
    await w.call("write", 6, b"ghij")
    await w.call("close")
    (reader,) = (await t.server.call("get_buckets", SI)).values()
    assert await reader.call("read", 0, 100) == b"abcdefghij"


@pytest_twisted.ensureDeferred
async def test_overlapping_writes_must_agree(t):
    _, writers = await allocate(t, {0}, 20)
    w = writers[0]
    await w.call("write", 0, b"0123456789")
    await w.call("write", 5, b"56789ABCDE")  # identical overlap, then new bytes
    await w.call("write", 2, b"234")
    with t.raises(ConflictingWriteError, match="already written"):
        await w.call("write", 8, b"89XY")
    with t.raises(ConflictingWriteError):
        await w.call("write", 13, b"DX")  # byte 14 is already 'E'
    await w.call("write", 15, b"FGHIJ")
    with t.raises(ConflictingWriteError):
        await w.call("write", 0, b"?")
    await w.call("close")
    (reader,) = (await t.server.call("get_buckets", SI)).values()
    assert await reader.call("read", 0, 20) == b"0123456789ABCDEFGHIJ"


@pytest_twisted.ensureDeferred
async def test_writer_refuses_calls_after_close_or_abort(t):
    _, writers = await allocate(t, {0, 1}, 10)
    await writers[0].call("write", 0, b"x" * 10)
    await writers[0].call("close")
    for method, args in [("write", (0, b"x")), ("close", ()), ("abort", ())]:
        with t.raises(BucketClosedError, match="already closed"):
            await writers[0].call(method, *args)
    await writers[1].call("abort")
    for method, args in [("write", (0, b"x")), ("close", ()), ("abort", ())]:
        with t.raises(BucketClosedError, match="already aborted"):
            await writers[1].call(method, *args)
    assert sorted(await t.server.call("get_buckets", SI)) == [0]


@pytest_twisted.ensureDeferred
async def test_abort_leaves_no_file_and_the_share_can_be_uploaded_again(t):
    _, writers = await allocate(t, {0, 1}, 10)
    await writers[0].call("write", 0, b"x" * 5)
    assert os.path.exists(share_path(t.storedir, SI, 0, incoming=True))
    await writers[0].call("abort")
    await writers[1].call("abort")
    assert all_files(os.path.join(t.storedir, "shares")) == []
    assert os.listdir(os.path.join(t.storedir, "shares")) == ["incoming"]
    assert incoming_leftovers(t.storedir) == []
    already, writers = await allocate(t, {0}, 10)
    assert already == set() and sorted(writers) == [0]
    await writers[0].call("abort")


@pytest_twisted.ensureDeferred
async def test_close_moves_the_share_and_cleans_incoming(t):
    _, writers = await allocate(t, {4}, 3)
    await writers[4].call("write", 0, b"abc")
    assert all_files(os.path.join(t.storedir, "shares")) == [
        os.path.relpath(share_path(t.storedir, SI, 4, incoming=True),
                        os.path.join(t.storedir, "shares"))]
    await writers[4].call("close")
    assert os.path.exists(share_path(t.storedir, SI, 4))
    assert incoming_leftovers(t.storedir) == []


@pytest_twisted.ensureDeferred
async def test_lost_canary_aborts_every_unclosed_writer_of_that_call(t):
    await upload(t, make_si(2), {0: b"kept"})
    canary = t.new_canary()
    _, writers = await allocate(t, {0, 1, 2}, 10, canary=canary)
    await writers[0].call("write", 0, b"x" * 10)
    await writers[0].call("close")  # closed before the loss: survives
    await writers[1].call("write", 0, b"y" * 4)
    await t.lose_canary(canary)
    shares = os.path.join(t.storedir, "shares")
    assert all_files(shares) == sorted(
        os.path.relpath(share_path(t.storedir, si, 0), shares) for si in (SI, make_si(2)))
    assert incoming_leftovers(t.storedir) == []
    assert t.storage_server.get_stats()["storage_server.allocated"] == 0
    # the server, reached again (over a new connection for Foolscap), lets the
    # lost shares be uploaded anew
    already, writers = await allocate(t, {0, 1, 2}, 10)
    assert already == {0} and sorted(writers) == [1, 2]


@pytest.mark.parametrize("make_transport", ["foolscap"], indirect=True)
@pytest_twisted.ensureDeferred
async def test_the_latest_canary_of_each_uploader_is_kept(t, monkeypatch):
    """An uploader that sends one canary with all its uploads (ours does) is
    sent no decref for it after each upload; one that sends a new canary each
    time (Tahoe-LAFS does) gets the previous one released.  (Over
    Foolscap only: in-process there are no remote references to release.)"""
    decrefs = []
    real_decref = Broker.remote_decref

    def spy(broker, clid, count):
        if broker.tub is t.client_tub:  # the server releasing a canary of the client
            decrefs.append(clid)
        return real_decref(broker, clid, count)

    monkeypatch.setattr(Broker, "remote_decref", spy)

    async def upload_with(canary, n):
        _, writers = await allocate(t, {0, 1}, 4, si=make_si(100 + n), canary=canary)
        for w in writers.values():
            await w.call("write", 0, b"abcd")
            await w.call("close")

    async def settle():
        # Collect the server's dropped references to canaries: each release
        # goes out as a decref from Foolscap's eventual-send queue.  A round
        # trip sent after that queue has run is answered after every decref
        # on the same connection, so the client has them all by then.
        gc.collect()
        await fireEventually()
        await fireEventually()
        await t.server.call("get_version")
        await fireEventually()

    shared = t.new_canary()
    for n in range(3):
        await upload_with(shared, n)
    await settle()
    assert decrefs == []
    assert len(t.storage_server._canaries) == 1

    for n in range(3, 6):
        await upload_with(t.new_canary(), n)
    await settle()
    assert len(decrefs) == 3, decrefs  # the shared one, then each fresh one but the last
    assert len(t.storage_server._canaries) == 1

    await t.lose_canary(shared)
    await eventually(lambda: not t.storage_server._canaries,
                     what="the server to forget the canary of a lost client")


def test_closing_a_writer_stops_watching_its_canary(tmp_path):
    """In-process only: the fake canary is what lets us count its watchers."""
    server = StorageServer(str(tmp_path), LOCAL_NODEID, clock=task.Clock())
    canary = FakeCanary()
    _, writers = server.remote_allocate_buckets(SI, R, C, {0, 1, 2}, 4, canary)
    assert canary.watchers == 3
    writers[0].remote_write(0, b"abcd")
    writers[0].remote_close()
    assert canary.watchers == 2
    writers[1].remote_abort()
    assert canary.watchers == 1
    canary.disconnect()
    assert canary.watchers == 0
    assert all_files(os.path.join(str(tmp_path), "shares")) == [os.path.relpath(
        share_path(str(tmp_path), SI, 0), os.path.join(str(tmp_path), "shares"))]


def test_in_process_caller_may_pass_a_canary_that_cannot_be_watched(tmp_path):
    """A plain Referenceable cannot report a disconnection: the writer is
    then only guarded by its idle timer."""
    clock = task.Clock()
    server = StorageServer(str(tmp_path), LOCAL_NODEID, clock=clock)
    _, writers = server.remote_allocate_buckets(SI, R, C, {0, 1}, 4, Referenceable())
    writers[0].remote_write(0, b"abcd")
    writers[0].remote_close()
    clock.advance(BUCKET_WRITER_IDLE_TIMEOUT)
    assert all_files(os.path.join(str(tmp_path), "shares")) == [os.path.relpath(
        share_path(str(tmp_path), SI, 0), os.path.join(str(tmp_path), "shares"))]


@pytest_twisted.ensureDeferred
async def test_writer_idle_for_30_minutes_aborts_itself(t):
    _, writers = await allocate(t, {0, 1}, 10)
    t.clock.advance(BUCKET_WRITER_IDLE_TIMEOUT - 1)
    await writers[0].call("write", 0, b"a")  # resets writer 0's timer only
    t.clock.advance(1)
    assert not os.path.exists(share_path(t.storedir, SI, 1, incoming=True))
    with t.raises(BucketClosedError, match="aborted"):
        await writers[1].call("write", 0, b"b")
    t.clock.advance(BUCKET_WRITER_IDLE_TIMEOUT - 2)
    await writers[0].call("write", 1, b"b")
    t.clock.advance(BUCKET_WRITER_IDLE_TIMEOUT)
    with t.raises(BucketClosedError):
        await writers[0].call("close")
    assert all_files(os.path.join(t.storedir, "shares")) == []


@pytest_twisted.ensureDeferred
async def test_closed_writer_is_not_aborted_by_the_idle_timer(t):
    _, writers = await allocate(t, {0}, 2)
    await writers[0].call("write", 0, b"ok")
    await writers[0].call("close")
    t.clock.advance(2 * BUCKET_WRITER_IDLE_TIMEOUT)
    assert os.path.exists(share_path(t.storedir, SI, 0))


@pytest_twisted.ensureDeferred
async def test_negative_offsets_and_lengths_are_refused(t):
    _, writers = await allocate(t, {0}, 10)
    with t.raises(BadArgumentError, match="write offset"):
        await writers[0].call("write", -1, b"x")
    await writers[0].call("write", 0, b"0123456789")
    await writers[0].call("close")
    (reader,) = (await t.server.call("get_buckets", SI)).values()
    with t.raises(BadArgumentError, match="read offset"):
        await reader.call("read", -5, 3)
    with t.raises(BadArgumentError, match="read length"):
        await reader.call("read", 0, -3)
    assert await reader.call("read", 0, 10) == b"0123456789"


@pytest_twisted.ensureDeferred
async def test_share_numbers_outside_0_to_255_are_refused(t):
    with t.raises(BadArgumentError, match="share numbers"):
        await allocate(t, {0, 256}, 10)
    with t.raises(BadArgumentError, match="share numbers"):
        await allocate(t, {-1}, 10)
    assert all_files(os.path.join(t.storedir, "shares")) == []


@pytest_twisted.ensureDeferred
async def test_incomplete_uploads_are_removed_at_startup(make_transport):
    t = await make_transport()
    _, writers = await allocate(t, {0}, 10)
    await writers[0].call("write", 0, b"x")
    assert os.path.exists(share_path(t.storedir, SI, 0, incoming=True))
    StorageServer(t.storedir, b"\x00" * 20, clock=t.clock)
    assert all_files(os.path.join(t.storedir, "shares")) == []


@pytest_twisted.ensureDeferred
async def test_close_after_a_disk_failure_deletes_the_partial_share(t):
    # A client may send close() right behind its last write without waiting
    # for the answer; when the disk failed under that write, the close must
    # not put the incomplete share in place.
    _, writers = await allocate(t, {0}, 20)
    w = writers[0]
    await w.call("write", 0, b"0123456789")
    incoming = share_path(t.storedir, SI, 0, incoming=True)
    os.unlink(incoming)
    os.mkdir(incoming)  # the next write's open() fails with an OSError
    with t.raises(Exception):
        await w.call("write", 10, b"ABCDEFGHIJ")
    os.rmdir(incoming)
    with t.raises(IncompleteShareError, match="earlier write to it failed"):
        await w.call("close")
    assert not os.path.exists(share_path(t.storedir, SI, 0))
    assert await t.server.call("get_buckets", SI) == {}
