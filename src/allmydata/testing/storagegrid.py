"""Real storage servers in this process, reached over Foolscap.

:class:`StorageGrid` runs ``num_servers`` real :class:`StorageServer`\\ s,
each registered on its own real Foolscap Tub listening on 127.0.0.1, plus a
client Tub connected to all of them.  The client side is a real
:class:`StorageFarmBroker` built from the remote references
(``StorageFarmBroker.from_rrefs``) and, for uploads, a real
:class:`Uploader`.  Tests look at the share files on disk
(:meth:`StorageGrid.share_files`), damage them (:func:`flip_byte`) or stop
servers (:meth:`StorageGrid.stop_server`).

Tub certificates can be made once and passed in (each costs a fraction of a
second to make).

:class:`ReadLog` records every ``read(offset, length)`` the storage servers
answer (it wraps ``BucketReader.remote_read``, which still does the work), so
tests can check which blocks a ranged read fetched.
"""

import os

from foolscap.api import Tub

from allmydata.client import SecretHolder
from allmydata.immutable.layout import parse_header
from allmydata.immutable.upload import Data as UploadData
from allmydata.immutable.upload import Uploader
from allmydata.storage import immutable as storage_immutable
from allmydata.storage.server import StorageServer
from allmydata.storage_client import StorageFarmBroker
from allmydata.util import base32
from allmydata.util.idlib import nodeid_a2b
from allmydata.util.rrefutil import call_remote

from .tubs import start_tub

#: bytes before the share data in an immutable container (docs/specifications/containers.md §2)
CONTAINER_HEADER = 0x0C


def grid_secrets() -> SecretHolder:
    """The lease and convergence secrets of the grid's client."""
    return SecretHolder(b"L" * 32, b"C" * 32)


class StorageGrid:
    """``num_servers`` (given to :meth:`start`) storage servers of class
    ``server_class`` under ``basedir``, and a broker connected to them.

    ``certs``, if given, holds at least one more Tub certificate than there
    are servers: the last one is the client Tub's."""

    server_class = StorageServer

    def __init__(self, basedir, certs=None):
        self.basedir = str(basedir)
        self._certs = certs
        self.servers = []       # StorageServer
        self.server_tubs = []
        self.serverids = []
        self.connections = []   # (serverid, rref, version) as the client Tub sees them
        self.client_tub = None
        self.broker = None
        self.stopped = set()

    def _cert(self, i):
        return self._certs[i] if self._certs is not None else None

    async def start(self, num_servers: int):
        try:
            for _ in range(num_servers):
                await self.add_server()
        except BaseException:
            await self.close()
            raise
        self.broker = self.make_broker()
        return self

    async def add_server(self, **server_kwargs):
        """Start one more server (``server_kwargs`` go to its class) and
        connect the client Tub to it; :meth:`make_broker` includes it."""
        if self.client_tub is None:
            self.client_tub = Tub(certData=self._certs[-1] if self._certs is not None else None)
            self.client_tub.startService()
        i = len(self.servers)
        tub = start_tub(cert=self._cert(i))
        serverid = nodeid_a2b(tub.getTubID())
        ss = self.server_class(os.path.join(self.basedir, "server%d" % i, "storage"), serverid,
                               **server_kwargs)
        ss.startService()
        self.servers.append(ss)
        self.server_tubs.append(tub)
        self.serverids.append(serverid)
        rref = await self.client_tub.getReference(tub.registerReference(ss))
        version = await call_remote(rref, "get_version")
        self.connections.append((serverid, rref, version))
        return ss

    def make_broker(self) -> StorageFarmBroker:
        """A storage broker over the client's connections to every server."""
        return StorageFarmBroker.from_rrefs(self.connections)

    def uploader(self, k=3, happy=None, n=10, max_segment_size=128 * 1024):
        happy = happy if happy is not None else min(n, len(self.servers))
        return Uploader(self.broker, grid_secrets(),
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
        if self.server_tubs[i].running:  # a test may have stopped it already
            await self.server_tubs[i].stopService()
        await self.servers[i].stopService()

    async def close(self):
        for i in range(len(self.servers)):
            await self.stop_server(i)
        if self.client_tub is not None and self.client_tub.running:
            await self.client_tub.stopService()

    # ---- shares on disk ----------------------------------------------------------------
    def storedir_of(self, serverid: bytes) -> str:
        """The storage directory of the server with this id."""
        return self.servers[self.serverids.index(serverid)].storedir

    def share_files(self, storage_index: bytes) -> list:
        """[(server index, shnum, path)] of every share of the file, by shnum."""
        si = base32.b2a(storage_index).decode("ascii")
        out = []
        for i, ss in enumerate(self.servers):
            d = os.path.join(ss.sharedir, si[:2], si)
            if os.path.isdir(d):
                out += [(i, int(name), os.path.join(d, name)) for name in os.listdir(d)]
        return sorted(out, key=lambda t: (t[1], t[0]))

    def delete_shares(self, storage_index: bytes, server=None, shnums=None) -> set:
        """Delete the share files of a file that server index ``server``
        holds (any server's when None) with a share number in ``shnums``
        (any when None); returns the share numbers deleted."""
        gone = set()
        for i, shnum, path in self.share_files(storage_index):
            if (server is None or i == server) and (shnums is None or shnum in shnums):
                os.unlink(path)
                gone.add(shnum)
        return gone

    def shares_by_shnum(self, storage_index: bytes) -> dict:
        """{shnum: [(serverid, path)]} of the complete shares of a file."""
        found = {}
        for i, shnum, path in self.share_files(storage_index):
            found.setdefault(shnum, []).append((self.serverids[i], path))
        return found

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
    ``entries`` is a list of (storage index, shnum, offset, length).

    ``monkeypatch`` is pytest's fixture (anything with its ``setattr``),
    which puts the real method back after the test."""

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
