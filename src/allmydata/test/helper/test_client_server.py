"""Our client's uploader through our own helper (:class:`allmydata.helper.server.Helper`).

In process: five storage servers and the helper on Tubs of their own, and
our :class:`~allmydata.immutable.upload.Uploader` with a
:class:`~allmydata.helper.client.HelperConnection` on a client Tub.

* an upload goes through the helper and reads back;
* the same file again: the helper finds it, no ciphertext is fetched;
* an upload whose client vanishes half-way (its Tub stops while the source
  is stalled), started again by a new client: the helper fetches only what
  it did not have, plus at most one segment.
"""

import pytest
import pytest_twisted
from foolscap.api import Tub, fireEventually
from twisted.internet import defer

from allmydata.helper.assisted import HelperLostError
from allmydata.helper.client import HelperConnection
from allmydata.helper.fetcher import FETCH_CHUNK
from allmydata.immutable.upload import Data, Uploader
from allmydata.testing.storagegrid import grid_secrets
from allmydata.testing.waiting import eventually

from .helpergrid import content, download

SEGMENT = 128 * 1024
PARAMS = {"k": 3, "happy": 5, "n": 10, "max_segment_size": SEGMENT}
CONVERGENCE = b"\x09" * 32


class Client:
    """An uploader on a Tub of its own, connected to the helper."""

    def __init__(self, hg):
        self.tub = Tub()
        self.tub.startService()
        self.connection = HelperConnection(self.tub, hg.furl)
        self.uploader = Uploader(hg.grid.broker, grid_secrets(), PARAMS, helper=self.connection)
        self.uploader.startService()
        self._stopped = None

    async def connected(self):
        await eventually(lambda: self.uploader.get_helper_info()[1], 30,
                         what="the connection to the helper")
        return self

    def vanish(self):
        """The client's Tub stops: its connection to the helper is lost."""
        if self._stopped is None:
            self._stopped = self.tub.stopService()
        return self._stopped

    async def close(self):
        await self.uploader.stopService()
        await self.vanish()
        await fireEventually()


class StallingData(Data):
    """Bytes that stop coming at ``stall_at``: ``stalled`` fires, and the
    read never answers (a client process that hangs, then is killed)."""

    read_sync = None  # reads go through read(), one answer each

    def __init__(self, data, convergence, stall_at: int):
        Data.__init__(self, data, convergence)
        self.stall_at = stall_at
        self.stalled = defer.Deferred()

    def read(self, length):
        start = self._pos
        if start >= self.stall_at:
            if not self.stalled.called:
                self.stalled.callback(start)
            return defer.Deferred()
        self._pos = min(self.size, self.stall_at, start + length)
        return defer.succeed([bytes(self._view[start:self._pos])])


def fetched(hg) -> int:
    return hg.helper.get_stats()["chk_upload_helper.fetched_bytes"]


@pytest_twisted.ensureDeferred
async def test_through_our_helper_then_already_stored(hg):
    client = await Client(hg).connected()
    try:
        data = content(3 * SEGMENT + 1000, seed=1)
        results = await client.uploader.upload(Data(data, CONVERGENCE))
        assert results.ciphertext_fetched == len(data) == fetched(hg)
        assert await download(hg.grid, results.uri) == data
        status = client.uploader.list_all_upload_statuses()[-1]
        assert status.using_helper() and status.get_progress() == (1.0, 1.0, 1.0)
        for name in ("storage_index", "contacting_helper", "total"):
            assert results.timings[name] >= 0

        again = await client.uploader.upload(Data(data, CONVERGENCE))
        assert again.uri == results.uri
        assert again.ciphertext_fetched == 0 and fetched(hg) == len(data)
        assert again.placement_summary.startswith("already on the grid")
        assert hg.helper.get_stats()["chk_upload_helper.upload_already_present"] == 1
    finally:
        await client.close()


@pytest_twisted.ensureDeferred
async def test_a_vanished_client_resumes_where_the_helper_stopped(hg):
    data = content(4 * FETCH_CHUNK + 5000, seed=2)
    half = len(data) // 2  # the helper gets two whole reads, and waits on the third
    first = await Client(hg).connected()
    try:
        source = StallingData(data, CONVERGENCE, stall_at=half)
        client_upload = first.uploader.upload(source)
        await source.stalled
        await first.vanish()
        with pytest.raises(HelperLostError) as e:
            await client_upload
        assert "no cap was made" in str(e.value)
    finally:
        await first.close()
    had = fetched(hg)
    assert had == 2 * FETCH_CHUNK

    second = await Client(hg).connected()
    try:
        results = await second.uploader.upload(Data(data, CONVERGENCE))
        assert results.ciphertext_fetched <= len(data) - had + SEGMENT
        assert results.ciphertext_fetched < len(data)
        assert await download(hg.grid, results.uri) == data
    finally:
        await second.close()
