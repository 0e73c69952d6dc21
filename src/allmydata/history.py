"""The node's record of its recent grid operations, for the status pages.

Every upload, download, server-map update, publish, retrieve and helper
upload hands its status object to :class:`History` when it starts.  The
history keeps the last few of each kind (the bounds below) and, through weak
references, every one that is still running: an operation that runs holds its
status object, so it stays listed however many others have started since;
once finished and pushed out of the recent ones it is no longer listed.

The operations that record themselves here also count their work through
:meth:`History.count` into the node's stats provider (``downloader.*``,
``mutable.*``; docs/statistics.md), as the history is what they all hold.
"""

import collections
import weakref

KINDS = ("upload", "download", "mapupdate", "publish", "retrieve", "helper_upload")

#: how many statuses of each kind are kept after they finish
MAX_RECENT = {"upload": 10, "download": 10, "mapupdate": 20, "publish": 20,
              "retrieve": 40, "helper_upload": 10}


class History:
    """Status objects of this node's operations, by kind (:data:`KINDS`)."""

    def __init__(self, max_recent=None, stats_provider=None):
        bounds = dict(MAX_RECENT, **(max_recent or {}))
        self._recent = {kind: collections.deque(maxlen=bounds[kind]) for kind in KINDS}
        self._all = {kind: weakref.WeakKeyDictionary() for kind in KINDS}
        self.stats_provider = stats_provider

    def count(self, name: str, delta: int = 1) -> None:
        """Add ``delta`` to the node's counter ``name`` (nothing happens
        without a stats provider)."""
        if self.stats_provider is not None:
            self.stats_provider.count(name, delta)

    def add(self, kind: str, status) -> None:
        """Record the status object of an operation that starts now."""
        self._all[kind][status] = None
        self._recent[kind].append(status)

    def list(self, kind: str) -> list:
        """The recorded statuses of one kind that are running or recent,
        oldest first (by their counters).  A finished status outside the
        recent ones is left out even while something still holds it (until
        the garbage collector frees it), so the listing does not depend on
        when that happens."""
        running = {s for s in list(self._all[kind].keys()) if s.get_active()}
        statuses = running | set(self._recent[kind])
        return sorted(statuses, key=lambda s: s.get_counter())

    def add_upload(self, status) -> None:
        self.add("upload", status)

    def add_download(self, status) -> None:
        self.add("download", status)

    def add_mapupdate(self, status) -> None:
        self.add("mapupdate", status)

    def add_publish(self, status) -> None:
        self.add("publish", status)

    def add_retrieve(self, status) -> None:
        self.add("retrieve", status)

    def add_helper_upload(self, status) -> None:
        self.add("helper_upload", status)

    def list_all_upload_statuses(self) -> list:
        return self.list("upload")

    def list_all_download_statuses(self) -> list:
        return self.list("download")

    def list_all_mapupdate_statuses(self) -> list:
        return self.list("mapupdate")

    def list_all_publish_statuses(self) -> list:
        return self.list("publish")

    def list_all_retrieve_statuses(self) -> list:
        return self.list("retrieve")

    def list_all_helper_statuses(self) -> list:
        return self.list("helper_upload")
