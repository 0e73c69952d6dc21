"""LIT files: the contents live in the cap itself (docs/specifications/caps.md §2.2).

:class:`LiteralFileNode` offers the same reading methods as an immutable CHK
file node, without touching any server.
"""

from twisted.internet import defer
from twisted.python.failure import Failure
from zope.interface import implementer

from .. import uri
from .download.segmentation import clip_range
from .interfaces import IFileNode
from .nodebase import ImmutableNodeBase


def _as_litcap(cap):
    if isinstance(cap, (bytes, str)):
        cap = uri.from_string(cap)
    if not hasattr(cap, "data") or cap.get_storage_index() is not None:
        raise TypeError("LiteralFileNode needs a URI:LIT: cap, got %r" % (cap,))
    return cap


@implementer(IFileNode)
class LiteralFileNode(ImmutableNodeBase):
    """A file whose bytes are in its cap (``URI:LIT:``)."""

    def __init__(self, filecap):
        self.u = _as_litcap(filecap)
        self._data = bytes(self.u.data)

    def __repr__(self):
        return "<LiteralFileNode %d bytes>" % len(self._data)

    # IFilesystemNode
    def get_verify_cap(self):
        return None

    def get_repair_cap(self):
        return None

    def get_storage_index(self):
        return None

    # IFileNode
    def get_size(self) -> int:
        return len(self._data)

    def read(self, consumer, offset=0, size=None):
        """Write bytes ``[offset, offset+size)`` to the IConsumer at once."""
        try:
            offset, size = clip_range(len(self._data), offset, size)
        except Exception:
            return defer.fail(Failure())
        if size:
            consumer.write(self._data[offset:offset + size])
        return defer.succeed(consumer)

    def download_to_data(self):
        return defer.succeed(self._data)

    # ICheckable: nothing is on any server, so there is nothing to check or repair
    def check(self, monitor=None, verify: bool = False, add_lease: bool = False):
        """Deferred(None), as Tahoe-LAFS answers for a LIT file."""
        return defer.succeed(None)

    def check_and_repair(self, monitor=None, verify: bool = False, add_lease: bool = False):
        """Deferred(None), as Tahoe-LAFS answers for a LIT file."""
        return defer.succeed(None)
