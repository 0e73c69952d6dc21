"""StorageFarmBroker: servers.yaml parsing, static connections, permuted ring."""

import hashlib

import pytest
import pytest_twisted
import yaml
from foolscap.api import Tub

from allmydata.static_servers import StaticServersError, parse_static_servers, permutation_seed_for
from allmydata.storage.server import StorageServer
from allmydata.storage_client import StorageFarmBroker
from allmydata.testing.tubs import start_tub
from allmydata.testing.waiting import eventually
from allmydata.util import base32
from allmydata.util.hashutil import permute_server_hash


def test_permutation_seed_rules():
    seed = b"\x01" * 32
    assert permutation_seed_for("x", {"permutation-seed-base32": base32.b2a(seed).decode()}) == seed
    assert permutation_seed_for("v0-" + base32.b2a(seed).decode(), {}) == seed
    assert permutation_seed_for("some-name", {}) == hashlib.sha256(b"some-name").digest()


def test_parse_static_servers():
    furl = "pb://%s@tcp:127.0.0.1:1/x" % ("a" * 32)
    data = yaml.safe_load("storage:\n  v0-abc:\n    ann:\n      anonymous-storage-FURL: %s\n"
                          "      nickname: n1\n" % furl)
    out = parse_static_servers(data)
    assert out["v0-abc"]["furl"] == furl and out["v0-abc"]["nickname"] == "n1"
    assert parse_static_servers(None) == {}
    for bad in ({"storage": []}, {"storage": {"s": {}}}, {"storage": {"s": {"ann": {}}}},
                {"storage": {"s": {"ann": {"anonymous-storage-FURL": "http://x"}}}}, [1]):
        with pytest.raises(StaticServersError):
            parse_static_servers(bad)


@pytest_twisted.ensureDeferred
async def test_static_servers_connect_and_permute(tmp_path):
    tubs, servers, static = [], [], {}
    client = Tub()
    client.startService()
    broker = None
    try:
        for i in range(4):
            tub = start_tub()
            tubs.append(tub)
            nodeid = base32.a2b(tub.getTubID())
            ss = StorageServer(str(tmp_path / ("s%d" % i)), nodeid)
            ss.startService()
            servers.append(ss)
            furl = tub.registerReference(ss)
            static["v0-%d" % i] = {"furl": furl, "nickname": "s%d" % i, "seed": nodeid}
        broker = StorageFarmBroker(tub=client, static_servers=static, max_retry_delay=0.2)
        broker.startService()
        await eventually(lambda: len(broker.get_connected_servers()) == 4, what="4 connections")
        await eventually(lambda: all(s.get_version() for s in broker.get_connected_servers()),
                         what="versions")
        si = b"\x07" * 16
        ordered = broker.get_servers_for_psi(si)
        assert [s.get_serverid() for s in ordered] == sorted(
            (s.get_serverid() for s in ordered), key=lambda sid: permute_server_hash(si, sid))
        assert all(s.get_available_space() > 0 for s in ordered)
        assert {s.get_nickname() for s in ordered} == {"s0", "s1", "s2", "s3"}
        assert all(s.connection_status().startswith("Connected") for s in ordered)
        assert {s.get_longname() for s in ordered} == set(static)  # servers.yaml keys, as Tahoe shows
        assert {s.get_name() for s in ordered} == {k[3:11] for k in static}
        # a preferred peer comes first whatever the permutation says
        last = ordered[-1]
        broker._preferred = frozenset([last.get_longname()])
        assert broker.get_servers_for_psi(si)[0] is last
        # a server going away leaves the ring
        await tubs[0].stopService()
        gone = base32.a2b(tubs[0].getTubID())
        await eventually(lambda: gone not in [s.get_serverid() for s in broker.get_connected_servers()],
                         what="disconnect noticed")
        assert len(broker.get_known_servers()) == 4
    finally:
        if broker is not None:
            await broker.stopService()
        await client.stopService()
        for tub in tubs:
            if tub.running:
                await tub.stopService()
        for ss in servers:
            await ss.stopService()
