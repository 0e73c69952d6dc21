"""The client side of the upload helper, against small real partners.

Our :class:`~allmydata.immutable.upload.Uploader` with a
:class:`~allmydata.helper.client.HelperConnection` uploads through a helper
on its own Tub (:class:`.small_helper.SmallHelper`, which fetches the
ciphertext over Foolscap, encodes it and places the shares on five real
storage servers).  The shares are then read back from disk by the independent
parser of the upload tests, with the cap our client built.

* an upload through the helper: cap, status (helper used, progress) and
  results (ciphertext fetched, the helper's timings);
* a file the helper already stored costs no ``read_encrypted`` call;
* a helper that lies about the UEB, its hash or the ciphertext hashes: a
  clear error and no cap;
* a helper that is not connected, does not speak the helper protocol, is
  lost or declines before it read anything: the upload goes directly to the
  servers and its status says why; a helper lost or failing after it started
  reading: a clear error;
* a helper that does not answer ``upload_chk``, or stops reading, is given
  up after the timeouts (on the connection's clock, a ``task.Clock`` here);
* small (LIT) files never reach the helper.
"""

import pytest
import pytest_twisted
from foolscap.api import fireEventually
from twisted.internet import defer, task

from allmydata.helper.assisted import (
    ANSWER_TIMEOUT, IDLE_TIMEOUT, HelperLostError, HelperResultsError, HelperUnavailableError,
)
from allmydata.helper.client import HelperConnection
from allmydata.helper.interfaces import HELPER_V1
from allmydata.immutable.upload import Data, Uploader
from allmydata.immutable.uri_extension import pack_uri_extension, uri_extension_hash
from allmydata.testing.ports import free_port
from allmydata.testing.plaintext import plaintext
from allmydata.testing.storagegrid import StorageGrid, grid_secrets
from allmydata.testing.tubs import start_tub
from allmydata.testing.waiting import eventually

from ..immutable.sharecheck import check_and_decode
from .small_helper import READ_SIZE, SmallHelper

PARAMS = {"k": 3, "happy": 5, "n": 10, "max_segment_size": 64 * 1024}
CONVERGENCE = b"\x07" * 32


@pytest_twisted.async_yield_fixture(scope="module")
async def grid(tmp_path_factory):
    g = await StorageGrid(tmp_path_factory.mktemp("grid")).start(5)
    try:
        yield g
    finally:
        await g.close()


class Setup:
    """A helper on its own Tub and an uploader connected to it."""

    def __init__(self, grid, helper):
        self.grid = grid
        self.clock = task.Clock()  # times the helper's answers
        self.helper = helper
        self.helper_tub = start_tub()
        self.furl = self.helper_tub.registerReference(helper) if helper is not None else (
            "pb://%s@tcp:127.0.0.1:%d/nothing" % ("a" * 32, free_port()))
        self._helper_stopped = None
        self.connection = HelperConnection(grid.client_tub, self.furl, clock=self.clock)
        self.uploader = Uploader(grid.broker, grid_secrets(), PARAMS, helper=self.connection)
        self.uploader.startService()

    async def connected(self):
        await eventually(lambda: self.uploader.get_helper_info() == (self.furl, True), 30,
                         what="the connection to the helper")
        return self

    def stop_helper(self):
        """Stop the helper's Tub (its connections go with it), once."""
        if self._helper_stopped is None:
            self._helper_stopped = self.helper_tub.stopService()
        return self._helper_stopped

    async def close(self):
        await self.uploader.stopService()
        await self.stop_helper()
        await fireEventually()

    def check_stored(self, results, data: bytes) -> None:
        files = self.grid.shares_by_shnum(results.storage_index)
        assert set(files) == set(range(PARAMS["n"]))
        paths = {shnum: where[0][1] for shnum, where in files.items()}
        assert check_and_decode(results.uri, paths) == data


async def setup(grid, helper) -> Setup:
    return await Setup(grid, helper).connected()


def last_status(uploader):
    return uploader.list_all_upload_statuses()[-1]


# ---- through the helper -----------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_upload_through_the_helper_then_already_stored(grid):
    helper = SmallHelper(grid.broker, grid_secrets())
    s = await setup(grid, helper)
    try:
        data = plaintext(200 * 1000, b"through")
        results = await s.uploader.upload(Data(data, CONVERGENCE))
        s.check_stored(results, data)
        # the helper read it all, in order, and nothing twice
        assert helper.calls.upload_chk == [results.storage_index]
        assert sum(got for _, _, got in helper.calls.reads) == len(data)
        assert [off for off, _, _ in helper.calls.reads] == list(range(0, len(data), READ_SIZE))
        assert helper.calls.closed == 1
        assert results.ciphertext_fetched == len(data)
        assert results.pushed_shares == 10 and set(results.sharemap) == set(range(10))
        for name in ("storage_index", "contacting_helper", "helper_total", "encode_and_push",
                     "total"):
            assert results.timings[name] >= 0, name
        status = last_status(s.uploader)
        assert status.using_helper() and status.get_results() is results
        assert status.get_progress() == (1.0, 1.0, 1.0)
        assert status.get_status() == "Finished"

        # the same file again: the helper has it, and reads nothing
        reads = len(helper.calls.reads)
        again = await s.uploader.upload(Data(data, CONVERGENCE))
        assert again.uri == results.uri
        assert len(helper.calls.reads) == reads
        assert again.ciphertext_fetched == 0 and again.pushed_shares == 10
        assert last_status(s.uploader).get_progress() == (1.0, 1.0, 1.0)
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_small_files_never_reach_the_helper(grid):
    helper = SmallHelper(grid.broker, grid_secrets())
    s = await setup(grid, helper)
    try:
        results = await s.uploader.upload(Data(b"small" * 11, CONVERGENCE))
        assert results.uri.startswith(b"URI:LIT:")
        assert helper.calls.upload_chk == []
        assert not last_status(s.uploader).using_helper()
    finally:
        await s.close()


# ---- a helper that lies ------------------------------------------------------------------
def _rehash(results):
    """Make the UEB hash match the (altered) UEB: only the lie in the data remains."""
    results.uri_extension_hash = uri_extension_hash(pack_uri_extension(
        results.uri_extension_data))


def _set(key, value, rehash=True):
    def lie(results, ciphertext):
        results.uri_extension_data = dict(results.uri_extension_data, **{key: value})
        if rehash:
            _rehash(results)
    return lie


def _wrong_hash(results, ciphertext):
    results.uri_extension_hash = bytes(32)


def _drop(key):
    def lie(results, ciphertext):
        results.uri_extension_data = {k: v for k, v in results.uri_extension_data.items()
                                      if k != key}
        _rehash(results)
    return lie


def _not_results(results, ciphertext):
    results.uri_extension_data = "not a dict"


def _empty_ueb(results, ciphertext):
    results.uri_extension_data = {}


LIES = {
    "ueb-hash": (_wrong_hash, "URI extension hash is not the hash of its URI extension data"),
    "ueb-data-unhashed": (_set("share_root_hash", b"\x01" * 32, rehash=False),
                          "URI extension hash is not the hash"),
    "size": (_set("size", 1000), "does not describe this file: size=1000"),
    # refused by the results' schema as they arrive
    "huge-size": (_set("size", b"x" * 100000), "breaks the helper protocol"),
    "needed-shares": (_set("needed_shares", 2), "needed_shares=2"),
    "total-shares": (_set("total_shares", 12), "total_shares=12"),
    "segment-size": (_set("segment_size", 4096), "segment_size=4096"),
    "codec-params": (_set("codec_params", b"4096-3-10"), "wrong encoding for this file"),
    "crypttext-hash": (_set("crypttext_hash", b"\x02" * 32),
                       "crypttext_hash that is not that of this file's ciphertext"),
    "crypttext-root-hash": (_set("crypttext_root_hash", b"\x03" * 32),
                            "crypttext_root_hash that is not that of this file's ciphertext"),
    "missing-key": (_drop("crypttext_root_hash"), "lacks crypttext_root_hash"),
    "no-ueb": (_not_results, "breaks the helper protocol"),
    "empty-ueb": (_empty_ueb, "no URI extension data"),
}


@pytest.mark.parametrize("lie", sorted(LIES))
@pytest_twisted.ensureDeferred
async def test_a_lying_helper_gets_no_cap(grid, lie):
    alter, phrase = LIES[lie]
    helper = SmallHelper(grid.broker, grid_secrets(), lie=alter)
    s = await setup(grid, helper)
    try:
        data = plaintext(150 * 1000, lie.encode())
        with pytest.raises(HelperResultsError) as e:
            await s.uploader.upload(Data(data, CONVERGENCE))
        assert phrase in str(e.value) and len(str(e.value)) < 1000
        status = last_status(s.uploader)
        assert status.get_results() is None
        assert status.get_status().startswith("Failed: ") and phrase in status.get_status()
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_results_that_name_a_method_do_not_replace_it(grid):
    """A helper's results whose state names ``get`` (a method of the results
    class, and no attribute of the results' schema) fail the upload with a
    clear error as they arrive; no cap is made."""
    def shadow(results, ciphertext):
        results.get = "not a method"
    helper = SmallHelper(grid.broker, grid_secrets(), lie=shadow)
    s = await setup(grid, helper)
    try:
        data = plaintext(120 * 1000, b"shadow")
        with pytest.raises(HelperResultsError) as e:
            await s.uploader.upload(Data(data, CONVERGENCE))
        assert "breaks the helper protocol" in str(e.value)
        assert "unknown attribute 'get'" in str(e.value)
    finally:
        await s.close()


# ---- when the helper cannot be used ----------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_helper_not_connected_uploads_directly(grid):
    s = Setup(grid, None)  # nothing listens at its FURL's address
    try:
        assert s.uploader.get_helper_info() == (s.furl, False)
        data = plaintext(100 * 1000, b"direct")
        results = await s.uploader.upload(Data(data, CONVERGENCE))
        s.check_stored(results, data)
        assert results.ciphertext_fetched == 0
        status = last_status(s.uploader)
        assert not status.using_helper()
        text = status.get_status()
        assert text.startswith("Finished (") and "is not connected" in text
        assert "uploading directly to the storage servers" in text
        assert "/nothing" not in text and "[CENSORED]" in text  # no swissnum
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_helper_without_the_protocol_is_not_used(grid):
    helper = SmallHelper(grid.broker, grid_secrets(), version={b"application-version": b"x"})
    s = Setup(grid, helper)
    try:
        await eventually(lambda: s.connection.problem is not None, 30, what="get_version")
        assert HELPER_V1.decode() in s.connection.problem
        data = plaintext(90 * 1000, b"no protocol")
        results = await s.uploader.upload(Data(data, CONVERGENCE))
        s.check_stored(results, data)
        assert helper.calls.upload_chk == []
        assert "does not speak the helper protocol" in last_status(s.uploader).get_status()
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_helper_lost_before_reading_falls_back_to_direct(grid):
    holder = {}

    class Vanishing(SmallHelper):
        def remote_upload_chk(self, si):
            self.calls.upload_chk.append(si)
            # the helper's connection goes before it answers
            holder["setup"].stop_helper()
            return fireEventually(None)

    helper = Vanishing(grid.broker, grid_secrets())
    s = holder["setup"] = await setup(grid, helper)
    try:
        data = plaintext(80 * 1000, b"vanishing")
        results = await s.uploader.upload(Data(data, CONVERGENCE))
        s.check_stored(results, data)
        status = last_status(s.uploader)
        assert not status.using_helper()
        assert "before it read anything" in status.get_status()
        assert "uploading directly" in status.get_status()
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_helper_lost_while_reading_fails_the_upload(grid):
    holder = {}

    async def cut_after_two_reads(helper, offset):
        if offset >= 2 * READ_SIZE:
            await holder["setup"].stop_helper()

    helper = SmallHelper(grid.broker, grid_secrets(), on_upload=cut_after_two_reads)
    s = holder["setup"] = await setup(grid, helper)
    try:
        data = plaintext(300 * 1000, b"cut")
        with pytest.raises(HelperLostError) as e:
            await s.uploader.upload(Data(data, CONVERGENCE))
        assert "after it had %d of %d bytes" % (2 * READ_SIZE, len(data)) in str(e.value)
        status = last_status(s.uploader)
        assert status.using_helper() and status.get_results() is None
        assert status.get_status().startswith("Failed: lost the connection to the helper")
        assert status.get_progress()[1] == pytest.approx(2 * READ_SIZE / len(data))
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_a_helper_that_declines_before_reading_means_a_direct_upload(grid):
    class Busy(SmallHelper):
        def remote_upload_chk(self, si):
            self.calls.upload_chk.append(si)
            raise RuntimeError("too many uploads at once")

    helper = Busy(grid.broker, grid_secrets())
    s = await setup(grid, helper)
    try:
        data = plaintext(70 * 1000, b"busy")
        results = await s.uploader.upload(Data(data, CONVERGENCE))
        s.check_stored(results, data)
        assert len(helper.calls.upload_chk) == 1
        text = last_status(s.uploader).get_status()
        assert "the helper declined the upload" in text and "too many uploads" in text
        assert "uploading directly" in text
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_a_helper_failing_after_reading_fails_the_upload(grid):
    async def fail_at_the_second_read(helper, offset):
        if offset >= READ_SIZE:
            raise RuntimeError("disk full")

    helper = SmallHelper(grid.broker, grid_secrets(), on_upload=fail_at_the_second_read)
    s = await setup(grid, helper)
    try:
        data = plaintext(120 * 1000, b"disk full")
        with pytest.raises(HelperUnavailableError) as e:
            await s.uploader.upload(Data(data, CONVERGENCE))
        assert "after it had %d of %d bytes" % (READ_SIZE, len(data)) in str(e.value)
        assert "disk full" in str(e.value)
        assert last_status(s.uploader).get_results() is None
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_a_helper_answering_outside_the_protocol_means_a_direct_upload(grid):
    """Its own Tub refuses to send the answer (Foolscap checks it against
    RIHelper), so the client sees a failed upload_chk: nothing was read yet."""
    class Garbled(SmallHelper):
        def remote_upload_chk(self, si):
            self.calls.upload_chk.append(si)
            return (None, "not an uploader")

    helper = Garbled(grid.broker, grid_secrets())
    s = await setup(grid, helper)
    try:
        data = plaintext(70 * 1000, b"garbled")
        results = await s.uploader.upload(Data(data, CONVERGENCE))
        s.check_stored(results, data)
        text = last_status(s.uploader).get_status()
        assert "the helper declined the upload" in text and "Violation" in text
        assert not last_status(s.uploader).using_helper()
    finally:
        await s.close()


# ---- a helper that stops answering (times of the injected clock) -----------------------
@pytest_twisted.ensureDeferred
async def test_a_helper_that_does_not_answer_upload_chk_is_given_up(grid):
    class Silent(SmallHelper):
        def remote_upload_chk(self, si):
            self.calls.upload_chk.append(si)
            return defer.Deferred()  # never answers

    helper = Silent(grid.broker, grid_secrets())
    s = await setup(grid, helper)
    try:
        data = plaintext(70 * 1000, b"silent")
        d = s.uploader.upload(Data(data, CONVERGENCE))
        await eventually(lambda: helper.calls.upload_chk, 30, what="upload_chk")
        s.clock.advance(ANSWER_TIMEOUT - 1)
        assert not d.called
        s.clock.advance(1)
        results = await d
        s.check_stored(results, data)
        text = last_status(s.uploader).get_status()
        assert "did not answer upload_chk within %d seconds" % ANSWER_TIMEOUT in text
        assert "uploading directly" in text
    finally:
        await s.close()


@pytest_twisted.ensureDeferred
async def test_a_helper_that_stops_reading_is_given_up(grid):
    stall = defer.Deferred()

    async def stall_at_the_second_read(helper, offset):
        if offset >= READ_SIZE:
            await stall

    helper = SmallHelper(grid.broker, grid_secrets(), on_upload=stall_at_the_second_read)
    s = await setup(grid, helper)
    try:
        data = plaintext(150 * 1000, b"stalled")
        d = s.uploader.upload(Data(data, CONVERGENCE))
        await eventually(lambda: len(helper.calls.reads) == 1, 30, what="the first read")
        step = IDLE_TIMEOUT / 4
        s.clock.advance(step)  # the last read is seen here: idle from now on
        for _ in range(3):
            s.clock.advance(step)
            assert not d.called
        s.clock.advance(step)
        with pytest.raises(HelperUnavailableError) as e:
            await d
        assert "read nothing for %d seconds, with %d of %d bytes" % (
            IDLE_TIMEOUT, READ_SIZE, len(data)) in str(e.value)
        assert last_status(s.uploader).get_results() is None
    finally:
        stall.callback(None)
        await s.close()
