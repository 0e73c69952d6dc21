"""IDownloader of the 2008 interfaces.

:class:`Downloader` turns a cap into a file node (CHK or LIT) and downloads it
into an IDownloadTarget.  Every download's status object goes to a
:class:`~allmydata.history.History` (the node's, or one of the downloader's
own), which keeps the running and recent ones for the status pages.
"""

from twisted.application import service
from zope.interface import implementer

from ... import uri
from ...history import History
from ..filenode import ImmutableFileNode
from ..interfaces import IDownloader
from ..literal import LiteralFileNode


@implementer(IDownloader)
class Downloader(service.Service):
    """Downloads CHK and LIT files by cap (a service of the client node)."""

    name = "downloader"

    def __init__(self, storage_broker, history: History | None = None, reactor=None,
                 **download_options):
        self._broker = storage_broker
        self.history = history if history is not None else History()
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
