"""Download targets (IDownloadTarget of the 2008 interfaces) and the consumers that
connect them to :meth:`ImmutableFileNode.read`.

* :class:`Data` collects the file in memory; ``finish()`` returns the bytes.
* :class:`FileName` writes to a path; on failure the partial file is removed;
  ``finish()`` returns the path.
* :class:`FileHandle` writes to an open file object it does not own (it never
  closes it); ``finish()`` returns the file object.

A file node's ``download(target)`` drives a target through
:class:`TargetConsumer`, an IConsumer that forwards ``write`` to the target;
``download_to_data()`` reads into a :class:`MemoryConsumer`.
"""

import os

from twisted.internet.interfaces import IConsumer
from zope.interface import implementer

from .interfaces import IDownloadTarget


@implementer(IDownloadTarget)
class Data:
    """Keep the whole file in memory; ``finish()`` returns it as bytes."""

    def __init__(self):
        self._chunks = []
        self.data = None
        self.failure = None

    def open(self, size):
        self._chunks = []

    def write(self, data):
        self._chunks.append(data)

    def close(self):
        self.data = b"".join(self._chunks)
        self._chunks = []

    def fail(self, why):
        self.failure = why
        self._chunks = []

    def register_canceller(self, cb):
        pass

    def finish(self):
        return self.data


@implementer(IDownloadTarget)
class FileName:
    """Write the file to ``filename``; a failed download leaves no file."""

    def __init__(self, filename):
        self._filename = filename
        self._f = None

    def open(self, size):
        self._f = open(self._filename, "wb")

    def write(self, data):
        self._f.write(data)

    def close(self):
        self._f.close()
        self._f = None

    def fail(self, why):
        if self._f is not None:
            self._f.close()
            self._f = None
        if os.path.exists(self._filename):
            os.unlink(self._filename)

    def register_canceller(self, cb):
        pass

    def finish(self):
        return self._filename


@implementer(IDownloadTarget)
class FileHandle:
    """Write the file to an open file object; whoever opened it closes it."""

    def __init__(self, filehandle):
        self._filehandle = filehandle

    def open(self, size):
        pass

    def write(self, data):
        self._filehandle.write(data)

    def close(self):
        pass  # the owner of the handle closes it

    def fail(self, why):
        pass

    def register_canceller(self, cb):
        pass

    def finish(self):
        return self._filehandle


@implementer(IConsumer)
class MemoryConsumer:
    """An IConsumer that keeps what it is given (``.chunks``, ``.data()``)."""

    def __init__(self):
        self.chunks = []
        self.producer = None

    def registerProducer(self, producer, streaming):
        if self.producer is not None:
            raise RuntimeError("a producer is already registered with this consumer")
        self.producer = producer

    def unregisterProducer(self):
        self.producer = None

    def write(self, data):
        self.chunks.append(data)

    def data(self) -> bytes:
        return b"".join(self.chunks)


@implementer(IConsumer)
class TargetConsumer:
    """An IConsumer writing into an IDownloadTarget (which cannot push back)."""

    def __init__(self, target):
        self.target = target
        self.producer = None

    def registerProducer(self, producer, streaming):
        self.producer = producer

    def unregisterProducer(self):
        self.producer = None

    def write(self, data):
        self.target.write(data)
