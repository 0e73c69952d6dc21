"""What a mutable-file operation reports while and after it runs.

The 2008 interfaces name :class:`IPublishStatus` and :class:`IRetrieveStatus` without
methods; they are given here the methods of the 2008 IUploadStatus and
IDownloadStatus (started, storage index, size, a one-line state text,
progress from 0.0 to 1.0, active flag, a unique counter), plus what is
particular to mutable files: the encoding (k, N), the sequence number
published or read, the servers involved and the problems met, timings, each
server's response times (the latest :data:`MAX_TIMES_PER_SERVER` of each:
a long operation does not grow its status without bound) and which shares
each server holds (found by a map update, written by a publish).

:class:`ServermapUpdateStatus` does the same for one server-map update.
The status objects only hold state: the publisher, retriever and map
updater set it as they go.
"""

import collections
import time

from zope.interface import Interface, implementer

from ..util.opstatus import OperationStatus



class IMutableOperationStatus(Interface):
    def get_started():
        """When the operation started (seconds since the epoch)."""

    def get_storage_index():
        """The binary storage index of the file."""

    def get_size():
        """Bytes of plaintext involved, or None if not known yet."""

    def get_status():
        """A one-line description of the current state."""

    def get_progress():
        """A float from 0.0 to 1.0."""

    def get_active():
        """True while the operation runs."""

    def get_counter():
        """A number unique to this status object."""

    def get_problems():
        """{server name: problem text}."""


class IPublishStatus(IMutableOperationStatus):
    """A publish (a new version written to the grid)."""


class IRetrieveStatus(IMutableOperationStatus):
    """A retrieve (a version read from the grid)."""


class IServermapUpdaterStatus(IMutableOperationStatus):
    """A server-map update (which servers hold which versions)."""


#: how many response times of one server a status keeps (the latest ones)
MAX_TIMES_PER_SERVER = 32


class _OperationStatus(OperationStatus):
    kind = "operation"

    def __init__(self, storage_index: bytes | None = None, size: int | None = None):
        OperationStatus.__init__(self, storage_index, size)
        self.encoding: tuple | None = None      # (k, N)
        self.seqnum: int | None = None
        self.problems: dict = {}                # server name -> text
        self.servers: set = set()               # names of the servers talked to
        self.timings: dict = {}
        self.server_times: dict = {}            # server name -> deque of (what, seconds)
        self.sharemap: dict = {}                # server name -> set(shnum)
        self.finished: float | None = None      # when it ended (seconds since the epoch)
        self._t0 = time.monotonic()

    def __repr__(self):
        return "<%s #%d %s %.0f%%>" % (type(self).__name__, self.counter, self.status,
                                      self.progress * 100)

    # ---- read side ----
    def get_encoding(self):
        return self.encoding

    def get_seqnum(self):
        return self.seqnum

    def get_problems(self) -> dict:
        return dict(self.problems)

    def get_servers(self) -> set:
        return set(self.servers)

    def get_timings(self) -> dict:
        return dict(self.timings)

    def get_server_times(self) -> dict:
        """{server name: [(what, seconds), ...]}, oldest first."""
        return {name: list(times) for name, times in self.server_times.items()}

    def get_sharemap(self) -> dict:
        """{server name: set(shnum)}."""
        return {name: set(shnums) for name, shnums in self.sharemap.items()}

    def get_finished(self) -> float | None:
        return self.finished

    # ---- write side (the operation) ----
    def set_status(self, text: str) -> None:
        self.status = text

    def set_progress(self, fraction: float) -> None:
        self.progress = max(0.0, min(1.0, fraction))

    def set_size(self, size: int) -> None:
        self.size = size

    def set_encoding(self, k: int, n: int) -> None:
        self.encoding = (k, n)

    def set_seqnum(self, seqnum: int) -> None:
        self.seqnum = seqnum

    def add_server(self, name: str) -> None:
        self.servers.add(name)

    def add_problem(self, name: str, text: str) -> None:
        self.problems[name] = text

    def add_time(self, name: str, seconds: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + seconds

    def add_server_time(self, name: str, what: str, seconds: float) -> None:
        times = self.server_times.get(name)
        if times is None:
            times = self.server_times[name] = collections.deque(maxlen=MAX_TIMES_PER_SERVER)
        times.append((what, seconds))

    def add_share(self, name: str, shnum: int) -> None:
        self.sharemap.setdefault(name, set()).add(shnum)

    def finish(self, text: str = "Finished") -> None:
        """The operation ended (``text``: "Finished" or why it failed).  Its
        ``total`` time is the one the operation recorded, if it did, else the
        time since this status was made."""
        self.status = text
        if text == "Finished":
            self.progress = 1.0
        self.active = False
        self.finished = time.time()
        self.timings.setdefault("total", time.monotonic() - self._t0)


@implementer(IPublishStatus)
class PublishStatus(_OperationStatus):
    kind = "publish"


@implementer(IRetrieveStatus)
class RetrieveStatus(_OperationStatus):
    kind = "retrieve"


@implementer(IServermapUpdaterStatus)
class ServermapUpdateStatus(_OperationStatus):
    kind = "mapupdate"

    def __init__(self, storage_index=None, mode=None):
        _OperationStatus.__init__(self, storage_index)
        self.mode = mode
        self.privkey_from: str | None = None

    def get_mode(self):
        return self.mode

    def get_privkey_from(self) -> str | None:
        """The server whose share gave the private key, if one did."""
        return self.privkey_from

    def set_privkey_from(self, name: str) -> None:
        self.privkey_from = name
