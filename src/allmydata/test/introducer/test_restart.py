"""Reconnection: the introducer and the storage servers go away and come back
at the same FURL (same certificate, port and object name)."""

import pytest_twisted

from allmydata.introducer.client import IntroducerClient
from allmydata.testing.introducer_grid import IntroducerGrid, RETRY, STORAGE_RI, TinyStorage
from allmydata.testing.tubs import start_tub
from allmydata.testing.waiting import eventually
from allmydata.util import idlib


@pytest_twisted.ensureDeferred
async def test_client_reconnects_after_introducer_restart():
    grid = IntroducerGrid()
    try:
        await grid.wait_connected()
        ic = grid.client.ic
        connectors = ic.get_all_connectors()
        old_furl = grid.introducer.furl
        assert ic.get_introducer_status() == "Connected to tcp:127.0.0.1:%d" % grid.introducer.port
        assert ic.get_introducer_furl() == old_furl

        await grid.introducer.stop()
        await eventually(lambda: not ic.connected_to_introducer(),
                         what="the client to notice the introducer is gone")
        assert ic.get_introducer_status().startswith("Not connected; trying since ")
        # connections to the servers do not depend on the introducer
        assert len(ic.get_all_connections_for("storage")) == 3

        grid.introducer.encoding_parameters = (2, 5, 8)
        grid.introducer.start()
        assert grid.introducer.furl == old_furl
        await eventually(ic.connected_to_introducer, what="the client to reconnect")
        intro = grid.introducer.service
        # every node published again and the client subscribed again
        await eventually(lambda: intro.announcement_summary() == {"storage": 3, "stub_client": 1}
                         and intro.subscription_summary() == {"storage": 1},
                         what="the new introducer to relearn the grid")
        await eventually(lambda: ic.encoding_parameters == (2, 5, 8))
        # the repeated announcements changed nothing on the client
        assert ic.get_all_connectors() == connectors
        assert all(a is connectors[k] for k, a in ic.get_all_connectors().items())
        assert len(ic.get_all_connections_for("storage")) == 3
    finally:
        await grid.stop()


@pytest_twisted.ensureDeferred
async def test_client_reconnects_after_server_restart():
    grid = IntroducerGrid()
    try:
        await grid.wait_connected()
        ic = grid.client.ic
        node = grid.storage[0]
        key = (idlib.nodeid_a2b(node.nodeid), "storage")
        c = ic.get_all_connectors()[key]
        first_connect = c.last_connect_time

        await node.stop()
        await eventually(lambda: c.rref is None, what="the client to notice the server is gone")
        assert c.remote_host is None
        assert c.last_loss_time is not None
        assert c.connection_status().startswith("Disconnected since ")
        assert len(ic.get_all_connections_for("storage")) == 2
        assert key[0] not in ic.get_all_peerids()
        # give the reconnector a few failed attempts to report
        await eventually(lambda: "last attempt failed" in c.connection_status(),
                         what="a failed reconnection attempt")

        node.start()
        await eventually(lambda: c.rref is not None, what="the client to reconnect")
        assert ic.get_all_connectors()[key] is c
        assert c.last_connect_time > c.last_loss_time >= first_connect
        assert c.connection_status() == "Connected to tcp:127.0.0.1:%d" % node.port
        assert len(ic.get_all_connections_for("storage")) == 3
        await eventually(lambda: c.storage_version is not None)
    finally:
        await grid.stop()


@pytest_twisted.ensureDeferred
async def test_client_started_before_introducer_connects_when_it_appears():
    grid = IntroducerGrid(n_storage=0)
    furl, port, cert = grid.introducer.furl, grid.introducer.port, grid.introducer.cert
    await grid.introducer.stop()
    tub = start_tub()
    ic = IntroducerClient(tub, furl, "both", "v1", "v0", max_retry_delay=RETRY)
    try:
        # a node that is client and storage server at once
        own = tub.registerReference(TinyStorage(5), name="storage")
        ic.publish(own, "storage", STORAGE_RI)
        ic.subscribe_to("storage")
        ic.subscribe_to("storage")
        ic.startService()
        await eventually(lambda: ic._introducer_reconnector.getLastFailure() is not None)
        assert not ic.connected_to_introducer()
        assert "last attempt failed" in ic.get_introducer_status()

        grid.introducer.start()
        assert (grid.introducer.port, grid.introducer.cert) == (port, cert)
        await eventually(ic.connected_to_introducer)
        # it connects to its own storage service too
        await eventually(lambda: len(ic.get_all_connections_for("storage")) == 1)
        [c] = ic.get_all_connectors().values()
        assert c.nodeid == idlib.nodeid_a2b(tub.tubID)
        assert c.connection_status() == "Connected to loopback"
        # (the grid's own client node subscribes as well)
        subs = grid.introducer.service.get_subscribers()
        assert [s.nickname for s in subs if s.nodeid == c.nodeid] == ["both"]
        await eventually(lambda: c.storage_version is not None)
    finally:
        await ic.stopService()
        await tub.stopService()
        await grid.stop()
