"""The client's ciphertext reader (``RIEncryptedUploadable``) as a helper sees it.

The reader is registered on one Tub and called over Foolscap from another,
as a helper calls it: what it answers, in what pieces, and what it refuses.
"""

import pytest
import pytest_twisted
from foolscap.api import Tub, fireEventually

from allmydata.crypto.aes import ctr_encrypt
from allmydata.hashtree import HashTree
from allmydata.helper.interfaces import MAX_READ_PIECE
from allmydata.helper.remote_uploadable import (
    MAX_READ_LENGTH, CiphertextHashes, RemoteEncryptedUploadable,
)
from allmydata.immutable.upload import Data, UploadStatus
from allmydata.immutable.uploadable import EncryptAnUploadable
from allmydata.testing.plaintext import plaintext
from allmydata.testing.tubs import start_tub
from allmydata.util import hashutil
from allmydata.util.rrefutil import RemoteException, call_remote

SEGMENT = 64 * 1024
SEGSIZE = SEGMENT + 2  # the segment size: the next multiple of k=3


class Served:
    """A reader over ``size`` bytes, and a helper-side reference to it."""

    async def start(self, size: int):
        self.data = plaintext(size, b"reader")
        uploadable = Data(self.data, b"\x05" * 32)
        uploadable.set_default_encoding_parameters({"k": 3, "happy": 5, "n": 10,
                                                    "max_segment_size": SEGMENT})
        self.status = UploadStatus()
        eu = EncryptAnUploadable(uploadable, self.status)
        self.key = await eu.get_encryption_key()
        self.ciphertext = ctr_encrypt(self.key, self.data)
        params = await eu.get_all_encoding_parameters()
        self.reader = RemoteEncryptedUploadable(eu, size, params, self.status)
        self.server_tub = start_tub()
        self.helper_tub = Tub()
        self.helper_tub.startService()
        self.rref = await self.helper_tub.getReference(
            self.server_tub.registerReference(self.reader))
        return self

    def call(self, name, *args):
        return call_remote(self.rref, name, *args)

    async def read(self, offset, length) -> bytes:
        pieces = await self.call("read_encrypted", offset, length)
        assert all(len(p) <= MAX_READ_PIECE for p in pieces)
        return b"".join(pieces)

    async def close(self):
        await self.helper_tub.stopService()
        await self.server_tub.stopService()
        await fireEventually()


async def served(size: int) -> Served:
    return await Served().start(size)


@pytest_twisted.ensureDeferred
async def test_reads_in_order_to_the_end():
    s = await served(300 * 1000)
    try:
        assert await s.call("get_size") == len(s.data)
        assert tuple(await s.call("get_all_encoding_parameters")) == (3, 5, 10, SEGSIZE)
        got = b""
        while True:
            piece = await s.read(len(got), 70 * 1000)
            if not piece:
                break
            got += piece
        assert got == s.ciphertext
        assert await s.read(len(got) + 5, 10) == b""
        assert s.reader.bytes_sent == len(s.data) and s.reader.bytes_skipped == 0
        assert s.status.get_progress()[1] == 1.0
        assert s.reader.hashes.crypttext_hash() == hashutil.crypttext_hash(s.ciphertext)
        leaves = [hashutil.crypttext_segment_hash(s.ciphertext[i:i + SEGSIZE])
                  for i in range(0, len(s.ciphertext), SEGSIZE)]
        assert s.reader.hashes.crypttext_root_hash() == HashTree(leaves)[0]
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_a_resuming_helper_skips_ahead_without_the_skipped_bytes():
    s = await served(250 * 1000)
    try:
        start = 180 * 1000
        assert await s.read(start, 30 * 1000) == s.ciphertext[start:start + 30 * 1000]
        assert s.reader.bytes_sent == 30 * 1000 and s.reader.bytes_skipped == start
        assert s.status.get_progress()[1] == pytest.approx(210 / 250)
        assert await s.read(start + 30 * 1000, 100 * 1000) == s.ciphertext[start + 30 * 1000:]
        # the skipped bytes were hashed all the same
        assert s.reader.hashes.crypttext_hash() == hashutil.crypttext_hash(s.ciphertext)
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_large_reads_come_in_bounded_pieces():
    s = await served(3 * MAX_READ_PIECE + 17)
    try:
        pieces = await s.call("read_encrypted", 0, 3 * MAX_READ_PIECE + 100)
        assert [len(p) for p in pieces] == [MAX_READ_PIECE] * 3 + [17]
        assert b"".join(pieces) == s.ciphertext
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_pipelined_reads_are_answered_in_order():
    s = await served(120 * 1000)
    try:
        calls = [s.read(off, 40 * 1000) for off in (0, 40 * 1000, 80 * 1000)]
        got = [await d for d in calls]
        assert b"".join(got) == s.ciphertext
    finally:
        await s.close()


@pytest.mark.parametrize("offset,length,phrase", [
    (0, MAX_READ_LENGTH + 1, "answers at most %d bytes per read" % MAX_READ_LENGTH),
    (0, -1, "non-negative offset and length"),
])
@pytest_twisted.ensureDeferred
async def test_reads_out_of_bounds_are_refused(offset, length, phrase):
    s = await served(60 * 1000)
    try:
        with pytest.raises(RemoteException) as e:
            await s.call("read_encrypted", offset, length)
        assert e.value.is_type("ReadRefusedError") and phrase in e.value.message
        assert s.reader.position == 0  # nothing was read
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_going_backwards_and_reading_after_close_are_refused():
    s = await served(60 * 1000)
    try:
        await s.read(0, 30 * 1000)
        with pytest.raises(RemoteException) as e:
            await s.call("read_encrypted", 10 * 1000, 10)
        assert "goes back before offset 30000" in e.value.message
        assert await s.read(30 * 1000, 10) == s.ciphertext[30 * 1000:30 * 1000 + 10]
        await s.call("close")
        with pytest.raises(RemoteException) as e:
            await s.call("read_encrypted", 30 * 1000 + 10, 10)
        assert "after close()" in e.value.message
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_plaintext_hashes_are_not_provided():
    s = await served(60 * 1000)
    try:
        for name, args in (("get_plaintext_hashtree_leaves", (0, 1, 1)),
                           ("get_plaintext_hash", ())):
            with pytest.raises(RemoteException) as e:
                await s.call(name, *args)
            assert e.value.is_type("PlaintextHashesNotProvidedError")
            assert "does not compute plaintext hashes" in e.value.message
    finally:
        await s.close()


def test_ciphertext_hashes_match_the_encoder_definition():
    data = plaintext(10 * 1000 + 3, b"reader")
    h = CiphertextHashes(len(data), 4000)
    for i in range(0, len(data), 777):  # pieces that straddle segment boundaries
        h.feed(data[i:i + 777])
    leaves = [hashutil.crypttext_segment_hash(data[i:i + 4000])
              for i in range(0, len(data), 4000)]
    assert h.complete and h.crypttext_root_hash() == HashTree(leaves)[0]
    assert h.crypttext_hash() == hashutil.crypttext_hash(data)
    with pytest.raises(ValueError):
        h.feed(b"x")


@pytest_twisted.ensureDeferred
async def test_a_stopped_reader_reads_nothing_more():
    s = await served(60 * 1000)
    try:
        await s.read(0, 1000)
        s.reader.stop()  # what the client does once the helper's upload is over
        with pytest.raises(RemoteException) as e:
            await s.call("read_encrypted", 1000, 1000)
        assert "after close()" in e.value.message
        assert s.reader.position == 1000
    finally:
        await s.close()
