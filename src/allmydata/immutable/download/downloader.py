"""IDownloader of the 2008 interfaces, and the list of recent downloads for status pages.

:class:`Downloader` turns a cap into a file node (CHK or LIT) and downloads it
into an IDownloadTarget.  :class:`DownloadHistory` keeps the status objects
of active and recent downloads (the download lists of the 2008 IClientStatus).
"""

from collections import deque

from twisted.application import service
from zope.interface import implementer

from ... import uri
from ..filenode import ImmutableFileNode
from ..interfaces import IDownloader
from ..literal import LiteralFileNode


class DownloadHistory:
    """The status objects of active downloads and the ``keep`` latest ones."""

    def __init__(self, keep: int = 20):
        self._recent = deque(maxlen=keep)
        self._active = []

    def add_download(self, status) -> None:
        self._recent.append(status)
        self._active = [s for s in self._active if s.get_active()] + [status]

    def list_active_downloads(self) -> list:
        self._active = [s for s in self._active if s.get_active()]
        return list(self._active)

    def list_recent_downloads(self) -> list:
        return list(self._recent)

    list_all_downloads = list_recent_downloads


@implementer(IDownloader)
class Downloader(service.Service):
    """Downloads CHK and LIT files by cap (a service of the client node)."""

    name = "downloader"

    def __init__(self, storage_broker, history: DownloadHistory | None = None, reactor=None,
                 **download_options):
        self._broker = storage_broker
        self.history = history if history is not None else DownloadHistory()
        self._reactor = reactor
        self._options = download_options

    def make_node(self, cap):
        """A file node for a ``URI:CHK:`` or ``URI:LIT:`` cap (bytes or parsed)."""
        if isinstance(cap, (bytes, str)):
            cap = uri.from_string(cap)
        if cap.get_storage_index() is None:
            return LiteralFileNode(cap)
        return ImmutableFileNode(cap, self._broker, history=self.history,
                                 reactor=self._reactor, **self._options)

    def download(self, uri, target):
        """Download into an IDownloadTarget; Deferred(target.finish())."""
        return self.make_node(uri).download(target)

    def download_to_data(self, uri):
        return self.make_node(uri).download_to_data()
