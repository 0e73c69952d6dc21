"""The introducer and its clients over real Foolscap connections on 127.0.0.1."""

import hashlib

import pytest
import pytest_twisted
from foolscap.api import Referenceable
from zope.interface import implementer

from allmydata.introducer.common import BadAnnouncementError
from allmydata.introducer.interfaces import RIIntroducerSubscriberClient
from allmydata.testing.introducer_grid import IntroducerGrid, STORAGE_RI, TinyStorage
from allmydata.testing.tubs import start_tub
from allmydata.testing.waiting import eventually
from allmydata.util import idlib
from allmydata.util.rrefutil import RemoteException, call_remote


@implementer(RIIntroducerSubscriberClient)
class RecordingSubscriber(Referenceable):
    """A subscriber that writes down every call it gets."""

    def __init__(self):
        self.announcements = []
        self.parameters = []

    def remote_announce(self, announcements):
        self.announcements.extend(announcements)

    def remote_set_encoding_parameters(self, parameters):
        self.parameters.append(tuple(parameters))


@pytest_twisted.ensureDeferred
async def test_client_connects_to_every_storage_server():
    grid = IntroducerGrid()
    try:
        await grid.wait_connected()
        ic = grid.client.ic
        nodeids = {idlib.nodeid_a2b(s.nodeid) for s in grid.storage}

        assert ic.connected_to_introducer()
        assert ic.get_all_peerids() == frozenset(nodeids)
        conns = ic.get_all_connections()
        assert {(n, s) for n, s, _ in conns} == {(n, "storage") for n in nodeids}
        assert ic.get_all_connections_for("storage") == conns
        assert ic.get_all_connections_for(b"storage") == conns
        assert ic.get_all_connections_for("stub_client") == frozenset()
        for _, _, rref in conns:
            assert rref.getRemoteTubID() in {s.nodeid for s in grid.storage}

        connectors = ic.get_all_connectors()
        assert set(connectors) == {(n, "storage") for n in nodeids}
        by_nick = {c.nickname: c for c in connectors.values()}
        assert set(by_nick) == {"storage-0", "storage-1", "storage-2"}
        for i, node in enumerate(grid.storage):
            c = by_nick["storage-%d" % i]
            assert c.service_name == "storage"
            assert c.furl == node.furl
            assert c.nodeid == idlib.nodeid_a2b(node.nodeid)
            assert c.version == "allmydata-tahoe/test"
            assert c.oldest_supported == "allmydata-tahoe/0.1"
            assert c.announcement_time is not None
            assert c.last_connect_time >= c.announcement_time
            assert c.last_loss_time is None
            assert c.rref is not None
            assert (c.remote_host.host, c.remote_host.port) == ("127.0.0.1", node.port)
            assert c.connection_status() == "Connected to tcp:127.0.0.1:%d" % node.port
        # the storage servers' version dicts arrive a moment after connecting
        await eventually(lambda: all(c.storage_version for c in connectors.values()),
                         what="get_version answers")
        for i in range(3):
            v = by_nick["storage-%d" % i].storage_version
            assert v[b"http://allmydata.org/tahoe/protocols/storage/v1"][b"available-space"] == 10_000 * (i + 1)
    finally:
        await grid.stop()


@pytest_twisted.ensureDeferred
async def test_permuted_peers_follow_sha1_of_key_and_tubid():
    grid = IntroducerGrid()
    try:
        await grid.wait_connected()
        nodeids = [idlib.nodeid_a2b(s.nodeid) for s in grid.storage]
        for key in [b"\x00" * 16, b"\xff" * 16, b"some storage index", b"another one!!!!!"]:
            peers = grid.client.ic.get_permuted_peers("storage", key)
            expected = sorted(nodeids, key=lambda n: hashlib.sha1(key + n).digest())
            assert [p for p, _ in peers] == expected
            assert all(rref.getRemoteTubID() == idlib.nodeid_b2a(p) for p, rref in peers)
        assert grid.client.ic.get_permuted_peers("nothing", b"k") == []
    finally:
        await grid.stop()


@pytest_twisted.ensureDeferred
async def test_introducer_holds_announcements_and_subscribers():
    grid = IntroducerGrid()
    try:
        await grid.wait_connected()
        intro = grid.introducer.service
        await eventually(lambda: intro.announcement_summary() == {"storage": 3, "stub_client": 1},
                         what="all four announcements")
        assert intro.subscription_summary() == {"storage": 1}
        assert intro.announcement_distinct_hosts() == {"storage": 1, "stub_client": 1}
        anns = {r.announcement.nickname: r for r in intro.get_announcements()}
        assert set(anns) == {"storage-0", "storage-1", "storage-2", "client"}
        assert anns["client"].service_name == "stub_client"
        assert anns["client"].announcement.remoteinterface_name == "RIStubClient"
        assert anns["storage-0"].announcement.location_hints == (
            "tcp:127.0.0.1:%d" % grid.storage[0].port,)
        [sub] = intro.get_subscribers()
        assert sub.nodeid == idlib.nodeid_a2b(grid.client.tub.tubID)
        assert sub.service_name == "storage"
        assert sub.nickname == "client"  # it announced a stub_client
        assert sub.remote_address.startswith("127.0.0.1:")
        assert grid.client.ic.encoding_parameters == (3, 7, 10)
    finally:
        await grid.stop()


@pytest_twisted.ensureDeferred
async def test_duplicate_subscription_is_ignored():
    grid = IntroducerGrid()
    tub = start_tub()
    try:
        await grid.wait_connected()
        rref = await tub.getReference(grid.introducer.furl)
        sub = RecordingSubscriber()
        await call_remote(rref, "subscribe", sub, b"storage")
        await call_remote(rref, "subscribe", sub, b"storage")
        await eventually(lambda: len(sub.announcements) >= 3 and len(sub.parameters) >= 1)
        # a later announcement also arrives once
        new = start_tub()
        try:
            furl = new.registerReference(Referenceable(), name="storage")
            ann = (furl.encode(), b"storage", STORAGE_RI.encode(), b"late", b"v", b"v")
            await call_remote(rref, "publish", ann)
            await eventually(lambda: len(sub.announcements) >= 4)
            # one more round trip, so any duplicate would have arrived by now
            await call_remote(rref, "subscribe", sub, b"storage")
            assert len(sub.announcements) == 4
            assert len(set(sub.announcements)) == 4
            assert sub.parameters == [(3, 7, 10)]
            assert grid.introducer.service.subscription_summary() == {"storage": 2}
            # the IntroducerClient grid client connects to the late server too
            await eventually(lambda: len(grid.client.ic.get_all_connections_for("storage")) == 4)
        finally:
            await new.stopService()
    finally:
        await tub.stopService()
        await grid.stop()


@pytest_twisted.ensureDeferred
async def test_subscriber_is_forgotten_when_it_disconnects():
    grid = IntroducerGrid(n_storage=1)
    tub = start_tub()
    try:
        await grid.wait_connected()
        rref = await tub.getReference(grid.introducer.furl)
        await call_remote(rref, "subscribe", RecordingSubscriber(), b"storage")
        intro = grid.introducer.service
        assert intro.subscription_summary() == {"storage": 2}
        await tub.stopService()
        await eventually(lambda: intro.subscription_summary() == {"storage": 1},
                         what="the introducer to drop the lost subscriber")
    finally:
        await grid.stop()


@pytest_twisted.ensureDeferred
async def test_new_announcement_replaces_old_one():
    grid = IntroducerGrid()
    try:
        await grid.wait_connected()
        node = grid.storage[1]
        ic = grid.client.ic
        key = (idlib.nodeid_a2b(node.nodeid), "storage")
        old_connector = ic.get_all_connectors()[key]
        new_furl = node.tub.registerReference(TinyStorage(99), name="storage-v2")
        node.ic.publish(new_furl, "storage", STORAGE_RI)

        await eventually(lambda: ic.get_all_connectors()[key].furl == new_furl,
                         what="the client to hear of the new FURL")
        intro = grid.introducer.service
        assert intro.announcement_summary()["storage"] == 3
        [rec] = [r for r in intro.get_announcements() if r.announcement.nodeid == key[0]]
        assert rec.announcement.furl == new_furl
        new_connector = ic.get_all_connectors()[key]
        assert new_connector is not old_connector
        assert old_connector.rref is None and old_connector._reconnector is None
        await eventually(lambda: new_connector.storage_version is not None)
        v = new_connector.storage_version[b"http://allmydata.org/tahoe/protocols/storage/v1"]
        assert v[b"available-space"] == 99
        assert len(ic.get_all_connections_for("storage")) == 3
    finally:
        await grid.stop()


@pytest_twisted.ensureDeferred
async def test_malformed_announcement_is_rejected():
    grid = IntroducerGrid(n_storage=1)
    tub = start_tub()
    try:
        await grid.wait_connected()
        intro = grid.introducer.service
        await eventually(lambda: len(intro.get_announcements()) == 2)
        before = intro.get_announcements()
        rref = await tub.getReference(grid.introducer.furl)
        bad = (b"http://example.com/not-a-furl", b"storage", STORAGE_RI.encode(), b"bad", b"v", b"v")
        with pytest.raises(RemoteException) as e:
            await call_remote(rref, "publish", bad)
        assert e.value.is_type("BadAnnouncementError")
        assert "bad FURL" in e.value.message
        no_name = (b"pb://%s@tcp:127.0.0.1:1" % tub.tubID.encode(), b"storage", b"x", b"n", b"v", b"v")
        with pytest.raises(RemoteException, match="no object name"):
            await call_remote(rref, "publish", no_name)
        assert intro.get_announcements() == before
        # nothing was passed on: the client still knows one server only
        assert len(grid.client.ic.get_all_connectors()) == 1
    finally:
        await tub.stopService()
        await grid.stop()


def test_client_publish_rejects_bad_furl():
    from allmydata.introducer.client import IntroducerClient

    ic = IntroducerClient(tub=None, introducer_furl="pb://x@y/z", nickname="n",
                          my_version="v", oldest_supported="v")
    with pytest.raises(BadAnnouncementError, match="bad FURL"):
        ic.publish("not a furl", "storage", STORAGE_RI)
    assert ic.get_published() == []


@implementer(RIIntroducerSubscriberClient)
class BrokenSubscriber(Referenceable):
    def remote_announce(self, announcements):
        raise RuntimeError("this subscriber is broken")

    def remote_set_encoding_parameters(self, parameters):
        raise RuntimeError("this subscriber is broken")


@pytest_twisted.ensureDeferred
async def test_failing_subscriber_does_not_hurt_the_introducer():
    grid = IntroducerGrid(n_storage=1)
    tub = start_tub()
    new = start_tub()
    try:
        await grid.wait_connected()
        rref = await tub.getReference(grid.introducer.furl)
        await call_remote(rref, "subscribe", BrokenSubscriber(), b"storage")
        furl = new.registerReference(TinyStorage(1), name="storage")
        ann = (furl.encode(), b"storage", STORAGE_RI.encode(), b"late", b"v", b"v")
        # the publisher hears nothing of the broken subscriber
        assert await call_remote(rref, "publish", ann) is None
        await eventually(lambda: len(grid.client.ic.get_all_connections_for("storage")) == 2,
                         what="the healthy client to hear of the new server")
        assert grid.introducer.service.announcement_summary()["storage"] == 2
    finally:
        await new.stopService()
        await tub.stopService()
        await grid.stop()
