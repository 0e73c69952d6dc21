"""Buckets and remote references without a network, for the upload tests.

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
