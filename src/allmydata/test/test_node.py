"""A node built in-process from a real node directory by create_node()."""

import os

import pytest
import pytest_twisted
from foolscap.api import Referenceable, Tub, fireEventually
from twisted.internet import reactor

from allmydata.config import ConfigError
from allmydata.node import create_node
from allmydata.scripts.runner import main
from allmydata.util import base32
from allmydata.util.hashutil import tagged_hash
from allmydata.util.rrefutil import call_remote


def make_node_dir(tmp_path, *extra):
    d = str(tmp_path / "node")
    assert main(["create-node", "--hostname", "127.0.0.1", "--webport", "none", *extra, d]) == 0
    return d


def read(path):
    with open(path) as f:
        return f.read().strip()


@pytest_twisted.ensureDeferred
async def test_storage_node_services_and_remote_stats(tmp_path):
    d = make_node_dir(tmp_path)
    node = create_node(d, reactor)
    client = Tub()
    node.startService()
    client.startService()
    try:
        assert node.storage_server is not None and node.introducer_client is None
        assert read(os.path.join(d, "my_nodeid")) == node.nodeid_s
        ss = await client.getReference(read(os.path.join(d, "private", "storage.furl")))
        stats = await client.getReference(read(os.path.join(d, "private", "stats_provider.furl")))
        version = await call_remote(ss, "get_version")
        v1 = version[b"http://allmydata.org/tahoe/protocols/storage/v1"]
        assert v1[b"available-space"] > 0
        si = tagged_hash(b"test", b"si", 16)
        canary = Referenceable()
        already, writers = await call_remote(ss, "allocate_buckets", si, b"r" * 32, b"c" * 32,
                                             {0, 1}, 100, canary)
        assert already == set() and sorted(writers) == [0, 1]
        await call_remote(writers[0], "write", 0, b"x" * 100)
        await call_remote(writers[0], "close")
        await call_remote(writers[1], "abort")
        got = await call_remote(stats, "get_stats")
        counters, values = got[b"counters"], got[b"stats"]
        assert counters[b"storage_server.allocate"] == 1
        assert counters[b"storage_server.write"] == 1
        assert counters[b"storage_server.close"] == 1
        assert counters[b"storage_server.abort"] == 1
        assert values[b"storage_server.disk_avail"] >= 0
        assert values[b"storage_server.reserved_space"] == 10**9
    finally:
        await client.stopService()
        await node.stopService()
        await fireEventually()


def test_identity_survives_rebuild(tmp_path):
    d = make_node_dir(tmp_path)
    first = create_node(d, reactor)
    second = create_node(d, reactor)
    assert first.nodeid == second.nodeid
    assert len(base32.a2b(first.tub.getTubID())) == 20
    assert oct(os.stat(os.path.join(d, "private", "node.pem")).st_mode & 0o777) == "0o600"


def test_client_node_has_no_storage(tmp_path):
    d = make_node_dir(tmp_path, "--no-storage")
    node = create_node(d, reactor)
    assert node.storage_server is None


def test_more_than_one_introducer_is_refused(tmp_path):
    d = make_node_dir(tmp_path)
    with open(os.path.join(d, "private", "introducers.yaml"), "w") as f:
        f.write("introducers:\n  a: {furl: 'pb://%s@tcp:127.0.0.1:1/a'}\n"
                "  b: {furl: 'pb://%s@tcp:127.0.0.1:1/b'}\n" % ("a" * 32, "b" * 32))
    with pytest.raises(ConfigError) as e:
        create_node(d, reactor)
    assert "introducers.yaml" in str(e.value) and "one introducer" in str(e.value)


def test_storage_without_listener_is_refused(tmp_path):
    d = make_node_dir(tmp_path)
    cfg = read(os.path.join(d, "tahoe.cfg"))
    lines = [l for l in cfg.splitlines() if not l.startswith(("tub.port", "tub.location"))]
    with open(os.path.join(d, "tahoe.cfg"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as e:
        create_node(d, reactor)
    assert "[storage] enabled" in str(e.value)
