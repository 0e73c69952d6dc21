"""An in-process grid for the download tests, and its own checks.

:class:`Grid` runs ``num_servers`` real :class:`StorageServer`\\ s, each
registered on its own real Foolscap Tub listening on 127.0.0.1, plus a
client Tub connected to all of them.  The client side is a real
:class:`StorageFarmBroker` built from the remote references
(``StorageFarmBroker.from_rrefs``) and a real :class:`Uploader`.  Tests
upload with the uploader and download with :class:`ImmutableFileNode`, then
poke at the share files on disk (:meth:`Grid.share_files`) or stop servers
(:meth:`Grid.stop_server`).

:class:`ReadLog` records every ``read(offset, length)`` the storage servers
answer (it wraps ``BucketReader.remote_read``, which still does the work), so
tests can check which blocks a ranged read fetched.
"""

import os

import pytest
import pytest_twisted
from foolscap.api import Tub

from allmydata.immutable.layout import parse_header
from allmydata.immutable.upload import Data as UploadData
from allmydata.immutable.upload import Uploader
from allmydata.storage import immutable as storage_immutable
from allmydata.storage.server import StorageServer
from allmydata.storage_client import StorageFarmBroker
from allmydata.testing.tubs import start_tub
from allmydata.util import base32, hashutil
from allmydata.util.idlib import nodeid_a2b
from allmydata.util.rrefutil import call_remote

#: bytes before the share data in an immutable container (docs/specifications/containers.md §2)
CONTAINER_HEADER = 0x0C


class SecretHolder:
    """The two lease secrets and the convergence secret a client node has."""

    def __init__(self, lease_secret: bytes = b"L" * 32, convergence: bytes = b"C" * 32):
        self._lease = lease_secret
        self._convergence = convergence

    def get_renewal_secret(self):
        return hashutil.my_renewal_secret_hash(self._lease)

    def get_cancel_secret(self):
        return hashutil.my_cancel_secret_hash(self._lease)

    def get_convergence_secret(self):
        return self._convergence


class Grid:
    def __init__(self, basedir, certs):
        self.basedir = str(basedir)
        self._certs = certs
        self.servers = []       # StorageServer
        self.server_tubs = []
        self.serverids = []
        self.client_tub = None
        self.broker = None
        self.stopped = set()

    async def start(self, num_servers: int):
        self.client_tub = Tub(certData=self._certs[-1])
        self.client_tub.startService()
        entries = []
        for i in range(num_servers):
            tub = start_tub(cert=self._certs[i])
            serverid = nodeid_a2b(tub.getTubID())
            ss = StorageServer(os.path.join(self.basedir, "server%d" % i, "storage"), serverid)
            ss.startService()
            furl = tub.registerReference(ss)
            rref = await self.client_tub.getReference(furl)
            version = await call_remote(rref, "get_version")
            self.servers.append(ss)
            self.server_tubs.append(tub)
            self.serverids.append(serverid)
            entries.append((serverid, rref, version))
        self.broker = StorageFarmBroker.from_rrefs(entries)
        return self

    def uploader(self, k=3, happy=None, n=10, max_segment_size=128 * 1024):
        happy = happy if happy is not None else min(n, len(self.servers))
        return Uploader(self.broker, SecretHolder(),
                        {"k": k, "happy": happy, "n": n, "max_segment_size": max_segment_size})

    async def upload(self, data: bytes, k=3, n=10, happy=None, max_segment_size=128 * 1024,
                     convergence=b"C" * 32):
        results = await self.uploader(k, happy, n, max_segment_size).upload(
            UploadData(data, convergence))
        return results.uri

    async def stop_server(self, i: int):
        if i in self.stopped:
            return
        self.stopped.add(i)
        await self.server_tubs[i].stopService()
        await self.servers[i].stopService()

    async def close(self):
        for i in range(len(self.servers)):
            await self.stop_server(i)
        if self.client_tub is not None:
            await self.client_tub.stopService()

    # ---- shares on disk ----------------------------------------------------------------
    def share_files(self, storage_index: bytes) -> list:
        """[(server index, shnum, path)] of every share of the file."""
        si = base32.b2a(storage_index).decode("ascii")
        out = []
        for i, ss in enumerate(self.servers):
            d = os.path.join(ss.sharedir, si[:2], si)
            if os.path.isdir(d):
                out += [(i, int(name), os.path.join(d, name)) for name in os.listdir(d)]
        return sorted(out, key=lambda t: (t[1], t[0]))

    def advisories(self, i: int) -> list:
        d = self.servers[i].corruption_advisory_dir
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def all_advisories(self) -> dict:
        return {i: self.advisories(i) for i in range(len(self.servers)) if self.advisories(i)}


def share_layout(path: str):
    """The parsed header of a share file (offsets relative to the share data)."""
    with open(path, "rb") as f:
        f.seek(CONTAINER_HEADER)
        return parse_header(f.read(0x44), path)


def flip_byte(path: str, share_offset: int) -> None:
    """Invert one byte of the share data at ``share_offset``."""
    with open(path, "r+b") as f:
        f.seek(CONTAINER_HEADER + share_offset)
        b = f.read(1)
        f.seek(CONTAINER_HEADER + share_offset)
        f.write(bytes([b[0] ^ 0xFF]))


class ReadLog:
    """Every ``read(offset, length)`` answered by a bucket reader:
    ``entries`` is a list of (storage index, shnum, offset, length)."""

    def __init__(self, monkeypatch):
        self.entries = []
        real = storage_immutable.BucketReader.remote_read
        log = self

        def remote_read(reader, offset, length):
            log.entries.append((reader.storage_index, reader.shnum, offset, length))
            return real(reader, offset, length)
        monkeypatch.setattr(storage_immutable.BucketReader, "remote_read", remote_read)

    def clear(self):
        self.entries.clear()

    def block_reads(self, layout, block_size: int) -> set:
        """{(shnum, segnum)} of the reads that fell in the data region; a
        read from the start of the share that brings all of block 0 with the
        header (the downloader's speculative first read) counts as a read of
        block 0."""
        out = set()
        block0_end = layout.data + min(block_size, layout.plaintext_hash_tree - layout.data)
        for _si, shnum, offset, length in self.entries:
            if layout.data <= offset < layout.plaintext_hash_tree:
                out.add((shnum, (offset - layout.data) // block_size))
            elif offset == 0 and length >= block0_end:
                out.add((shnum, 0))
        return out


# ---- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def grid_certs():
    """Tub certificates made once per session (each costs a fraction of a second)."""
    return [Tub().getCertData() for _ in range(11)]


@pytest_twisted.async_yield_fixture
async def grid(tmp_path, grid_certs):
    g = Grid(tmp_path, grid_certs)
    try:
        await g.start(5)
        yield g
    finally:
        await g.close()


# ---- the grid itself ------------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_grid_servers_are_distinct_and_connected(grid):
    assert len(set(grid.serverids)) == 5
    servers = grid.broker.get_connected_servers()
    assert {s.get_serverid() for s in servers} == set(grid.serverids)
    for s in servers:
        v = await call_remote(s.get_rref(), "get_version")
        assert b"http://allmydata.org/tahoe/protocols/storage/v1" in v


@pytest_twisted.ensureDeferred
async def test_grid_upload_places_shares_on_disk(grid):
    from allmydata import uri
    cap = await grid.upload(b"x" * 1000)
    si = uri.from_string(cap).get_storage_index()
    files = grid.share_files(si)
    assert sorted(shnum for _i, shnum, _p in files) == list(range(10))
    assert {i for i, _s, _p in files} == set(range(5))
    assert share_layout(files[0][2]).version == 1
