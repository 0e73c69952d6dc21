"""An introducer, storage announcers and a client on Tubs in this process.

Real Foolscap Tubs, a real :class:`IntroducerService` and real
:class:`IntroducerClient`\\ s.  The "storage servers" are a tiny Referenceable
implementing the real ``RIStorageServer`` interface with only
``get_version`` (the introducer client calls nothing else).  Nodes can be
stopped and started again with the same certificate, port and object name,
so they come back at the same FURL, as a restarted tahoe node does.
"""

from __future__ import annotations

from foolscap.api import Referenceable
from zope.interface import implementer

from allmydata.introducer.client import (
    STUB_CLIENT_REMOTEINTERFACE_NAME,
    STUB_CLIENT_SERVICE_NAME,
    IntroducerClient,
    StubClient,
)
from allmydata.introducer.server import IntroducerService
from allmydata.storage.interfaces import RIStorageServer

from .tubs import start_tub
from .waiting import eventually

RETRY = 0.1  # max reconnection backoff in these tests, seconds
STORAGE_RI = RIStorageServer.__remote_name__


@implementer(RIStorageServer)
class TinyStorage(Referenceable):
    """Answers ``get_version`` like a storage server with ``space`` bytes free."""

    def __init__(self, space: int):
        self.space = space

    def remote_get_version(self):
        return {
            b"http://allmydata.org/tahoe/protocols/storage/v1": {
                b"available-space": self.space,
                b"maximum-immutable-share-size": self.space,
            },
            b"application-version": b"allmydata-tahoe/test",
        }


class IntroducerNode:
    """A Tub with an :class:`IntroducerService` registered as ``introducer``."""

    def __init__(self, encoding_parameters=(3, 7, 10)):
        self.encoding_parameters = encoding_parameters
        self.cert = None
        self.port = None
        self.tub = None
        self.service = None
        self.furl = None

    def start(self):
        self.tub = start_tub(self.port, self.cert)
        self.port, self.cert = self.tub.test_port, self.tub.getCertData()
        self.service = IntroducerService(encoding_parameters=self.encoding_parameters)
        self.service.startService()
        self.furl = self.tub.registerReference(self.service, name="introducer")
        return self

    async def stop(self):
        if self.tub is not None:
            await self.service.stopService()
            await self.tub.stopService()
            self.tub = None


class StorageNode:
    """A Tub offering a :class:`TinyStorage` and announcing it as ``storage``
    through its own :class:`IntroducerClient`."""

    def __init__(self, introducer_furl: str, nickname: str, space: int):
        self.introducer_furl = introducer_furl
        self.nickname = nickname
        self.space = space
        self.cert = None
        self.port = None
        self.tub = None
        self.ic = None
        self.furl = None

    def start(self):
        self.tub = start_tub(self.port, self.cert)
        self.port, self.cert = self.tub.test_port, self.tub.getCertData()
        self.nodeid = self.tub.tubID
        self.furl = self.tub.registerReference(TinyStorage(self.space), name="storage")
        self.ic = IntroducerClient(self.tub, self.introducer_furl, self.nickname,
                                   "allmydata-tahoe/test", "allmydata-tahoe/0.1",
                                   max_retry_delay=RETRY)
        self.ic.publish(self.furl, "storage", STORAGE_RI)
        self.ic.startService()
        return self

    async def stop(self):
        if self.tub is not None:
            await self.ic.stopService()
            await self.tub.stopService()
            self.tub = None


class ClientNode:
    """A Tub with an :class:`IntroducerClient` that subscribes to ``storage``
    and announces a :class:`StubClient`."""

    def __init__(self, introducer_furl: str, nickname: str = "client"):
        self.introducer_furl = introducer_furl
        self.nickname = nickname
        self.tub = None
        self.ic = None

    def start(self):
        self.tub = start_tub()
        self.ic = IntroducerClient(self.tub, self.introducer_furl, self.nickname,
                                   "allmydata-tahoe/test", "allmydata-tahoe/0.1",
                                   max_retry_delay=RETRY)
        stub_furl = self.tub.registerReference(StubClient())
        self.ic.publish(stub_furl, STUB_CLIENT_SERVICE_NAME, STUB_CLIENT_REMOTEINTERFACE_NAME)
        self.ic.subscribe_to("storage")
        self.ic.startService()
        return self

    async def stop(self):
        if self.tub is not None:
            await self.ic.stopService()
            await self.tub.stopService()
            self.tub = None


class IntroducerGrid:
    """An introducer, ``n`` storage nodes and one client, all started."""

    def __init__(self, n_storage: int = 3, encoding_parameters=(3, 7, 10)):
        self.introducer = IntroducerNode(encoding_parameters).start()
        self.storage = [
            StorageNode(self.introducer.furl, "storage-%d" % i, 10_000 * (i + 1)).start()
            for i in range(n_storage)
        ]
        self.client = ClientNode(self.introducer.furl).start()

    async def wait_connected(self):
        n = len(self.storage)
        await eventually(lambda: len(self.client.ic.get_all_connections_for("storage")) == n,
                         what="the client to connect to %d storage servers" % n)

    async def stop(self):
        for node in [self.client, *self.storage, self.introducer]:
            await node.stop()
