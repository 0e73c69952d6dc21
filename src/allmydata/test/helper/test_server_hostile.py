"""The helper server against clients that misbehave, and resumption.

Every announced bound is checked before the helper writes anything; every
``read_encrypted`` answer is checked before it is written; an upload cut off
half-way fetches only what is missing when it is started again (from a new
client connection); a complete ciphertext file whose encoding failed needs
no fetch at all; old spool files go after 48 hours on the helper's clock.
"""

import os
import time

import pytest
import pytest_twisted
from foolscap.api import Tub
from twisted.internet import defer, task

from allmydata.helper.fetcher import FETCH_CHUNK, MAX_FILE_SIZE
from allmydata.helper.incoming import MAX_AGE, MIN_FREE_SPACE, CiphertextSpool, SpoolFullError
from allmydata.helper.server import CLEAN_INTERVAL, IDLE_TIMEOUT, MAX_READERS, Helper
from allmydata.testing.ciphertext_source import BytesCiphertextSource
from allmydata.testing.waiting import eventually
from allmydata.util.rrefutil import RemoteException, Violation, call_remote

from .helpergrid import content, download, prepare, start_helper_grid, upload_through


def spool_files(helper) -> dict:
    out = {}
    for d in (helper.spool.incoming_dir, helper.spool.encoding_dir):
        for name in os.listdir(d):
            out[os.path.join(os.path.basename(d), name)] = os.path.getsize(os.path.join(d, name))
    return out


async def refused(rref, si, source) -> str:
    with pytest.raises(RemoteException) as e:
        await upload_through(rref, si, source)
    return str(e.value)


@pytest_twisted.ensureDeferred
async def test_bad_storage_index(hg):
    for si in (b"x" * 15, b"x" * 17, "x" * 16, 16):
        with pytest.raises((Violation, RemoteException)):
            await call_remote(hg.rref, "upload_chk", si)
    assert hg.helper.get_stats()["chk_upload_helper.upload_requests"] == 0


class Announces(BytesCiphertextSource):
    def __init__(self, ciphertext, params, size=None):
        BytesCiphertextSource.__init__(self, ciphertext, params)
        self.size = size

    def remote_get_size(self):
        self.calls.append(("get_size", ()))
        return self.size if self.size is not None else len(self.ciphertext)


@pytest.mark.parametrize("size,params,why", [
    (MAX_FILE_SIZE + 1, None, "file size"),
    (0, None, "file size"),
    (-5, None, "file size"),
    (None, (0, 1, 1, 1000), "1 <= k <= N"),
    (None, (4, 3, 3, 1000), "1 <= k <= N"),
    (None, (3, 11, 10, 999), "shares.happy"),
    (None, (3, 0, 10, 999), "shares.happy"),
    (None, (3, 7, 257, 999), "1 <= k <= N"),
    (None, (3, 7, 10, 1000), "multiple of k"),
    (None, (2, 2, 2, 16 * 1024 * 1024), "segment size"),
    (None, (1, 1, 256, 4 * 1024 * 1024), "bytes of blocks"),
    # caught by Foolscap's constraints on the answer, or by the helper's own check
    (None, (3, 7, 10), "Violation|four whole numbers"),
    (None, ("3", 7, 10, 999), "Violation|four whole numbers"),
    (None, (True, 7, 10, 999), "Violation|four whole numbers"),
])
@pytest_twisted.ensureDeferred
async def test_bounds_are_checked_before_anything(hg, size, params, why):
    f = await prepare(content(20_000), happy=5)
    source = Announces(f.ciphertext, params or f.params, size)
    text = await refused(hg.rref, f.storage_index, source)
    assert any(w in text for w in why.split("|")), text
    assert source.reads() == []
    assert spool_files(hg.helper) == {}
    await eventually(lambda: hg.helper.get_active_uploads() == [], 10, what="the upload ended")


class Answers(BytesCiphertextSource):
    """Answers the ``bad``-th read_encrypted with ``answer(offset, length, data)``."""

    def __init__(self, ciphertext, params, bad, answer, **kw):
        BytesCiphertextSource.__init__(self, ciphertext, params, **kw)
        self.bad, self.answer = bad, answer

    def remote_read_encrypted(self, offset, length):
        pieces = BytesCiphertextSource.remote_read_encrypted(self, offset, length)
        if len(self.reads()) == self.bad:
            return self.answer(offset, length, b"".join(pieces))
        return pieces


@pytest.mark.parametrize("answer,why", [
    (lambda o, n, d: [d, b"!"], "answered"),
    (lambda o, n, d: [d[:-1]], "answered"),
    (lambda o, n, d: [], "answered"),
    (lambda o, n, d: [d[:10], 7], "among its pieces"),
    (lambda o, n, d: d, "not a list"),
    (lambda o, n, d: [d[i:i + 1] for i in range(2000)], "list of at most"),
])
@pytest_twisted.ensureDeferred
async def test_bad_answers_are_refused_and_the_upload_resumes(hg, answer, why):
    """A bad answer is not written; the next client goes on from the good data."""
    f = await prepare(content(3 * FETCH_CHUNK + 5000, seed=9), happy=5)
    bad = Answers(f.ciphertext, f.params, 2, answer)
    text = await refused(hg.rref, f.storage_index, bad)
    assert why in text or "Violation" in text
    await eventually(lambda: hg.helper.get_active_uploads() == [], 10, what="the upload ended")
    assert spool_files(hg.helper) == {"CHK_incoming/" + hg.helper.spool.incoming_path(
        f.storage_index).rsplit("/", 1)[1]: FETCH_CHUNK}
    good = f.source()
    _, results = await upload_through(hg.rref, f.storage_index, good)
    assert good.reads()[0] == (FETCH_CHUNK, FETCH_CHUNK)
    assert good.bytes_served == results.ciphertext_fetched == len(f.ciphertext) - FETCH_CHUNK
    assert await download(hg.grid, f.cap(results)) == f.plaintext
    assert hg.helper.get_stats()["chk_upload_helper.resumes"] == 1


@pytest_twisted.ensureDeferred
async def test_disconnect_mid_fetch_then_resume(hg):
    """The client's connection goes half-way; a new client connection of the
    same file fetches at most what was missing plus one segment."""
    f = await prepare(content(6 * FETCH_CHUNK + 123, seed=4), happy=5,
                      max_segment_size=128 * 1024)
    size, segsize = len(f.ciphertext), f.params[3]
    tub = Tub()
    tub.startService()
    rref = await tub.getReference(hg.furl)

    def cut(offset, length):
        if offset >= size // 2:
            tub.stopService()  # the connection drops while this call is answered
    first = f.source(on_read=cut)
    with pytest.raises(Exception):
        await upload_through(rref, f.storage_index, first)
    await eventually(lambda: hg.helper.get_active_uploads() == [], 30, what="the upload ended")
    (have,) = spool_files(hg.helper).values()
    assert have >= size // 2 - FETCH_CHUNK

    second = f.source()
    _, results = await upload_through(hg.rref, f.storage_index, second)
    missing = size - have
    assert second.bytes_served <= missing + segsize
    assert results.ciphertext_fetched == second.bytes_served
    for offset, length in second.reads():
        assert length <= FETCH_CHUNK
    assert await download(hg.grid, f.cap(results)) == f.plaintext
    assert spool_files(hg.helper) == {}


@pytest_twisted.ensureDeferred
async def test_failed_encoding_then_resume(hg):
    """Encoding fails (the client wants more servers than there are): the
    upload fails, and the same file again fetches only what is missing."""
    f = await prepare(content(3 * FETCH_CHUNK, seed=5), happy=7, max_segment_size=64 * 1024)
    greedy = f.source()
    text = await refused(hg.rref, f.storage_index, greedy)
    assert "happiness" in text or "Unhappiness" in text
    await eventually(lambda: hg.helper.get_active_uploads() == [], 10, what="the upload ended")
    have = sum(spool_files(hg.helper).values())
    assert have == greedy.bytes_served <= len(f.ciphertext)
    k, _happy, n, segsize = f.params
    modest = BytesCiphertextSource(f.ciphertext, (k, 5, n, segsize))
    _, results = await upload_through(hg.rref, f.storage_index, modest)
    assert modest.bytes_served == results.ciphertext_fetched == len(f.ciphertext) - have
    assert await download(hg.grid, f.cap(results)) == f.plaintext


@pytest_twisted.ensureDeferred
async def test_complete_ciphertext_needs_no_fetch(hg):
    """A complete file in CHK_encoding (its fetch ended, its encoding did
    not: the helper was stopped) is encoded with no read_encrypted."""
    f = await prepare(content(300_000, seed=6), happy=5, max_segment_size=64 * 1024)
    with open(hg.helper.spool.encoding_path(f.storage_index), "wb") as out:
        out.write(f.ciphertext)
    source = f.source()
    _, results = await upload_through(hg.rref, f.storage_index, source)
    assert source.reads() == [] and results.ciphertext_fetched == 0
    assert await download(hg.grid, f.cap(results)) == f.plaintext
    assert spool_files(hg.helper) == {}


@pytest_twisted.ensureDeferred
async def test_too_big_for_the_disk(tmp_path, certs):
    free = [MIN_FREE_SPACE + 100_000]
    g = await start_helper_grid(tmp_path, certs, free_space=lambda: free[0])
    try:
        f = await prepare(content(150_000), happy=5)
        source = f.source()
        text = await refused(g.rref, f.storage_index, source)
        assert "room for 100000 more bytes" in text and source.reads() == []
        free[0] += 100_000
        _, results = await upload_through(g.rref, f.storage_index, f.source())
        assert await download(g.grid, f.cap(results)) == f.plaintext
    finally:
        await g.close()


def test_spool_makes_room_from_old_inactive_files(tmp_path, monkeypatch):
    free = [MIN_FREE_SPACE + 1000]
    spool = CiphertextSpool(tmp_path, free_space=lambda: free[0])
    old, active = b"o" * 16, b"a" * 16
    for si, age in ((old, 100), (active, 200)):
        path = spool.incoming_path(si)
        with open(path, "wb") as f:
            f.write(b"x" * 500)
        os.utime(path, (time.time() - age,) * 2)
    real_unlink = os.unlink

    def unlink(path):  # the free space the fake disk reports grows as files go
        real_unlink(path)
        free[0] += 500
    monkeypatch.setattr(os, "unlink", unlink)
    spool.claim(b"n" * 16, 1400, active={active})
    assert not os.path.exists(spool.incoming_path(old))
    assert os.path.exists(spool.incoming_path(active))
    with pytest.raises(SpoolFullError):
        spool.claim(b"m" * 16, 200, active={active})


def test_old_spool_files_are_cleaned_on_the_clock(tmp_path):
    clock = task.Clock()
    clock.advance(time.time())
    helper = Helper(str(tmp_path / "helper"), None, None, clock=clock)
    paths = {}
    for name, si, age in (("ancient", b"a" * 16, MAX_AGE + 10),
                          ("recent", b"r" * 16, MAX_AGE - CLEAN_INTERVAL / 2)):
        for path in (helper.spool.incoming_path(si), helper.spool.encoding_path(si)):
            with open(path, "wb") as f:
                f.write(b"c" * 10)
            os.utime(path, (clock.seconds() - age,) * 2)
            paths.setdefault(name, []).append(path)
    stats = helper.get_stats()
    assert stats["chk_upload_helper.incoming_size_old"] == 10
    assert stats["chk_upload_helper.encoding_count"] == 2
    helper.startService()
    try:
        assert not any(os.path.exists(p) for p in paths["ancient"])
        assert all(os.path.exists(p) for p in paths["recent"])
        clock.advance(CLEAN_INTERVAL)
        assert not any(os.path.exists(p) for p in paths["recent"])
        assert helper.get_stats()["chk_upload_helper.incoming_count"] == 0
    finally:
        helper.stopService()


@pytest_twisted.ensureDeferred
async def test_an_upload_nobody_sends_to_ends(tmp_path, certs):
    """upload_chk alone holds an upload slot only until IDLE_TIMEOUT on the
    helper's clock."""
    clock = task.Clock()
    g = await start_helper_grid(tmp_path, certs, clock=clock)
    try:
        f = await prepare(content(10_000), happy=5)
        _, uploader = await call_remote(g.rref, "upload_chk", f.storage_index)
        assert [u.storage_index for u in g.helper.get_active_uploads()] == [f.storage_index]
        clock.advance(IDLE_TIMEOUT)
        assert g.helper.get_active_uploads() == []
        source = f.source()
        with pytest.raises(RemoteException) as e:
            await call_remote(uploader, "upload", source)
        assert "has ended" in str(e.value) and source.calls == []
        _, results = await upload_through(g.rref, f.storage_index, f.source())
        assert await download(g.grid, f.cap(results)) == f.plaintext
    finally:
        await g.close()


class Held(BytesCiphertextSource):
    """Answers read_encrypted only when the test fires ``release``."""

    def __init__(self, ciphertext, params):
        BytesCiphertextSource.__init__(self, ciphertext, params)
        self.release = defer.Deferred()

    def remote_read_encrypted(self, offset, length):
        pieces = BytesCiphertextSource.remote_read_encrypted(self, offset, length)
        return self.release.addCallback(lambda _: pieces)


@pytest_twisted.ensureDeferred
async def test_readers_of_one_upload_are_bounded(hg):
    f = await prepare(content(50_000, seed=2), happy=5)
    _, uploader = await call_remote(hg.rref, "upload_chk", f.storage_index)
    held = Held(f.ciphertext, f.params)
    first = call_remote(uploader, "upload", held)
    await eventually(lambda: held.reads(), 10, what="the first read")
    waiting = [call_remote(uploader, "upload", f.source()) for _ in range(MAX_READERS - 1)]
    with pytest.raises(RemoteException) as e:
        await call_remote(uploader, "upload", f.source())
    assert "sending this file already" in str(e.value)
    held.release.callback(None)
    results = await first
    assert [r.uri_extension_hash for r in await defer.gatherResults(waiting)] == \
        [results.uri_extension_hash] * (MAX_READERS - 1)
    assert await download(hg.grid, f.cap(results)) == f.plaintext
