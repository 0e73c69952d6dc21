"""IClientStatus of the 2008 interfaces: a client lists its running and
recent uploads and downloads (the node's History), on an in-process grid."""

import pytest
import pytest_twisted
from twisted.internet import defer

from allmydata.client import IClientStatus
from allmydata.immutable.target import MemoryConsumer
from allmydata.immutable.uploadable import Data
from allmydata.testing.nodegrid import start_grid


@pytest_twisted.async_yield_fixture(scope="module")
async def grid(tmp_path_factory):
    g = await start_grid(tmp_path_factory.mktemp("clientstatus"), storage_count=3, needed=2,
                         happy=2, total=3)
    try:
        yield g
    finally:
        await g.stop()


class HeldConsumer(MemoryConsumer):
    """Takes the first write, then holds the download until released (the
    download stays running meanwhile)."""

    def __init__(self):
        MemoryConsumer.__init__(self)
        self.first_write = defer.Deferred()
        self.release = defer.Deferred()

    def write(self, data):
        MemoryConsumer.write(self, data)
        if not self.first_write.called:
            self.producer.pauseProducing()
            self.first_write.callback(None)
            self.release.addCallback(lambda _: self.producer.resumeProducing())


@pytest_twisted.ensureDeferred
async def test_client_lists_its_uploads_and_downloads(grid):
    client = grid.client
    assert IClientStatus.providedBy(client)
    data = b"listed " * 500_000  # several segments: the download pauses after the first
    results = await client.upload(Data(data, convergence=b""))
    uploads = client.list_all_uploads()
    assert uploads and uploads[-1].get_results() is not None
    assert uploads[-1].get_size() == len(data)
    assert uploads[-1] in client.list_recent_uploads()
    assert uploads[-1] not in client.list_active_uploads()

    node = client.create_node_from_uri(results.get_uri())
    held = HeldConsumer()
    reading = node.read(held)
    await held.first_write
    running = client.list_active_downloads()
    assert len(running) == 1 and running[0].get_active()
    assert running[0].get_storage_index() == node.get_storage_index()
    assert running[0] in client.list_all_downloads()
    assert running[0] not in client.list_recent_downloads()
    held.release.callback(None)
    await reading
    assert held.data() == data
    assert client.list_active_downloads() == []
    assert running[0] in client.list_recent_downloads()
