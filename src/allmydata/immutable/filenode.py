"""Immutable CHK files as file nodes: :class:`ImmutableFileNode`.

The node is built from a read cap (``URI:CHK:...``) and the storage broker.
``get_size()`` comes from the cap; ``read(consumer, offset, size)`` streams
a byte range (fetching only the segments it overlaps); ``download(target)``
and ``download_to_data()`` are the IFileNode calls of the 2008 interfaces built on ``read``.
``check()`` and ``check_and_repair()`` (the later ICheckable) work from the
verify cap: :mod:`.checker` and :mod:`.repairer`.
The downloading itself is :class:`~.download.node.DownloadNode`.
"""

import functools

from twisted.internet import defer
from zope.interface import implementer

from .. import uri
from ..util import base32
from .checker import check_immutable
from .download.node import DownloadNode
from .interfaces import IFileNode
from .nodebase import ImmutableNodeBase
from .repairer import check_and_repair_immutable


def _as_chkcap(cap):
    if isinstance(cap, (bytes, str)):
        cap = uri.from_string(cap)
    for attr in ("key", "uri_extension_hash", "needed_shares", "total_shares", "size"):
        if not hasattr(cap, attr):
            raise TypeError("ImmutableFileNode needs a URI:CHK: read cap, got %r" % (cap,))
    return cap


@implementer(IFileNode)
class ImmutableFileNode(ImmutableNodeBase):
    """A CHK file on the grid, readable by range.

    ``download_options`` go to :class:`DownloadNode`: ``pipeline_depth``
    (segments in flight, default 2), ``query_timeout`` (get_buckets, 15 s),
    ``read_timeout`` (each share read, 60 s), ``ready_grace``,
    ``use_threads``.  ``history`` (optional) gets ``add_download(status)``
    for every read.
    """

    def __init__(self, filecap, storage_broker, secret_holder=None, history=None,
                 reactor=None, **download_options):
        self.u = _as_chkcap(filecap)
        self._storage_broker = storage_broker
        self._secret_holder = secret_holder
        self._reactor = reactor
        self._download_args = dict(reactor=reactor, history=history, **download_options)

    @functools.cached_property
    def _node(self) -> DownloadNode:
        # made at the first read: listing a big directory makes a node for
        # every child, and most of them are never read
        return DownloadNode(self.u.get_storage_index(), self.u.key,
                            self.u.uri_extension_hash, self.u.needed_shares,
                            self.u.total_shares, self.u.size, self._storage_broker,
                            **self._download_args)

    def __repr__(self):
        return "<ImmutableFileNode SI=%s>" % base32.b2a_str(self.u.get_storage_index())

    # ---- IFilesystemNode ----------------------------------------------------------------
    def get_verify_cap(self):
        return self.u.get_verifier()

    get_verifier = get_verify_cap

    def get_repair_cap(self):
        return self.u

    def get_storage_index(self) -> bytes:
        return self.u.get_storage_index()

    # ---- IFileNode ----------------------------------------------------------------------
    def get_size(self) -> int:
        return self.u.size

    def get_download_node(self) -> DownloadNode:
        """The downloader (its ``last_results`` / ``last_status`` describe
        the latest read)."""
        return self._node

    def read(self, consumer, offset: int = 0, size: int | None = None):
        """Stream bytes ``[offset, offset+size)`` to an IConsumer (``size``
        None: to the end); Deferred(consumer).  Only the segments the range
        overlaps are fetched."""
        return self._node.read(consumer, offset, size)

    # ---- ICheckable ---------------------------------------------------------------------
    def check(self, monitor=None, verify: bool = False, add_lease: bool = False):
        """Deferred(CheckResults): which shares the servers hold (with
        ``verify``: which of them are intact, read in full)."""
        return defer.ensureDeferred(check_immutable(
            self.u.get_verifier(), self._storage_broker, verify=verify, add_lease=add_lease,
            secret_holder=self._secret_holder, monitor=monitor, reactor=self._reactor))

    def check_and_repair(self, monitor=None, verify: bool = False, add_lease: bool = False):
        """Deferred(CheckAndRepairResults): a check, a repair if the file
        is not healthy, and a check after it."""
        return defer.ensureDeferred(check_and_repair_immutable(
            self.u.get_verifier(), self._storage_broker, self._secret_holder, verify=verify,
            add_lease=add_lease, monitor=monitor, reactor=self._reactor))
