"""In-process pieces for the upload tests: real buckets without a network.

* :class:`LocalRemote` lets library code that talks to a ``RemoteReference``
  (``callRemote(name, *args)``) talk to a real Referenceable in this process
  (a ``StorageServer``, ``BucketWriter``...) by calling its ``remote_*``
  method; Referenceables it returns come back wrapped the same way.
* :class:`MemoryBucket` is a complete bucket kept in a bytearray: it accepts
  ``write``/``close``/``abort`` like a storage server's bucket writer (with
  the same refusals: past the allocation, conflicting rewrites, use after
  close) and ``read`` like a bucket reader.
* :class:`NamedServer` is the little that the proxies ask of a server
  object (a name and a server id).
"""

from foolscap.api import Referenceable
from twisted.internet import defer

from allmydata.util.idlib import nodeid_b2a


def _wrap(value):
    if isinstance(value, Referenceable):
        return LocalRemote(value)
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    if isinstance(value, dict):
        return {k: _wrap(v) for k, v in value.items()}
    return value


class LocalRemote:
    """``callRemote`` onto a real object in this process."""

    def __init__(self, target):
        self.target = target

    def callRemote(self, name, *args, **kwargs):
        d = defer.maybeDeferred(getattr(self.target, "remote_" + name), *args, **kwargs)
        d.addCallback(_wrap)
        return d


class BucketError(Exception):
    pass


class MemoryBucket:
    """One share kept in memory, written and read like a storage bucket."""

    def __init__(self, allocated_size: int):
        self.allocated_size = allocated_size
        self.data = bytearray()
        self.written = 0       # high-water mark
        self.writes = []       # (offset, length) of every write call
        self.state = "open"    # open, closed or aborted

    def callRemote(self, name, *args):
        return defer.maybeDeferred(getattr(self, "remote_" + name), *args)

    def remote_write(self, offset, data):
        if self.state != "open":
            raise BucketError("write to a %s bucket" % self.state)
        end = offset + len(data)
        if end > self.allocated_size:
            raise BucketError("write past the allocated %d bytes" % self.allocated_size)
        if len(self.data) < end:
            self.data.extend(bytes(end - len(self.data)))
        overlap_end = min(end, self.written)
        if offset < overlap_end and self.data[offset:overlap_end] != data[:overlap_end - offset]:
            raise BucketError("conflicting write at %d" % offset)
        self.data[offset:end] = data
        self.written = max(self.written, end)
        self.writes.append((offset, len(data)))

    def remote_close(self):
        if self.state != "open":
            raise BucketError("close of a %s bucket" % self.state)
        self.state = "closed"

    def remote_abort(self):
        self.state = "aborted"

    def remote_read(self, offset, length):
        return bytes(self.data[offset:offset + length])


class NamedServer:
    """A server as the bucket proxies see it: an id and a name."""

    def __init__(self, serverid: bytes):
        self._serverid = serverid

    def get_serverid(self) -> bytes:
        return self._serverid

    def get_name(self) -> str:
        return nodeid_b2a(self._serverid)[:8]


class Grid:
    """``num_servers`` real StorageServers, each on its own Tub on
    127.0.0.1, reached over Foolscap from one client Tub; ``broker`` is a
    StorageFarmBroker over those connections."""

    def __init__(self, basedir: str, num_servers: int = 5):
        self.basedir = basedir
        self.num_servers = num_servers
        self.servers = []   # (serverid, StorageServer, Tub, storedir)
        self.client_tub = None
        self.broker = None

    async def start(self):
        import os

        from foolscap.api import Tub

        from allmydata.storage.server import StorageServer
        from allmydata.storage_client import StorageFarmBroker
        from allmydata.testing.tubs import start_tub
        from allmydata.util.idlib import nodeid_a2b
        from allmydata.util.rrefutil import call_remote

        self.client_tub = Tub()
        self.client_tub.startService()
        connections = []
        try:
            for i in range(self.num_servers):
                tub = start_tub()
                serverid = nodeid_a2b(tub.getTubID())
                storedir = os.path.join(self.basedir, "server%d" % i)
                ss = StorageServer(storedir, serverid)
                ss.startService()
                self.servers.append((serverid, ss, tub, storedir))
                rref = await self.client_tub.getReference(tub.registerReference(ss))
                version = await call_remote(rref, "get_version")
                connections.append((serverid, rref, version))
        except BaseException:
            await self.stop()
            raise
        self.broker = StorageFarmBroker.from_rrefs(connections)
        return self

    def storedir_of(self, serverid: bytes) -> str:
        for sid, _ss, _tub, storedir in self.servers:
            if sid == serverid:
                return storedir
        raise KeyError(serverid)

    def share_files(self, storage_index: bytes) -> dict:
        """{shnum: [(serverid, path)]} of the complete shares of an SI."""
        import os

        from allmydata.util import base32
        sia = base32.b2a(storage_index).decode()
        found = {}
        for serverid, _ss, _tub, storedir in self.servers:
            d = os.path.join(storedir, "shares", sia[:2], sia)
            if os.path.isdir(d):
                for name in os.listdir(d):
                    found.setdefault(int(name), []).append((serverid, os.path.join(d, name)))
        return found

    async def stop(self):
        if self.client_tub is not None and self.client_tub.running:
            await self.client_tub.stopService()
        for _sid, ss, tub, _storedir in self.servers:
            if tub.running:  # a test may have stopped it already
                await tub.stopService()
            await ss.stopService()
