"""What a download reports while and after it runs.

:class:`DownloadResults` is IDownloadResults of the 2008 interfaces: plain attributes
(``file_size``, ``servers_used``, ``server_problems``, ``servermap``,
``timings``) filled in as the download goes.  :class:`DownloadStatus` is the
2008 IDownloadStatus, for the status web pages: progress from 0.0 to 1.0
of the bytes delivered, a one-line state text, and a unique counter.

Times are measured with ``time.monotonic`` (durations) and ``time.time``
(the start timestamp shown to people).
"""

import time
from collections import deque

from zope.interface import implementer

from ...util.opstatus import OperationStatus
from ..interfaces import IDownloadResults, IDownloadStatus



#: how many block fetch times, and how many problems, of one server are kept
MAX_TIMES_PER_SERVER = 32
#: how many block requests, and how many segments, the timeline keeps (the latest)
MAX_EVENTS = 1000
#: how many servers' share queries the timeline keeps
MAX_QUERIES = 256


@implementer(IDownloadResults)
class DownloadResults:
    """Details of one download (IDownloadResults).

    * ``file_size``: bytes in the file.
    * ``servers_used``: serverids that delivered blocks.
    * ``server_problems``: ``{serverid: problem text}`` (the latest problem;
      ``problems_per_server`` keeps the latest :data:`MAX_TIMES_PER_SERVER`
      of each server).
    * ``servermap``: ``{serverid: set(shnum)}`` for servers holding shares.
    * ``timings``: seconds: ``peer_selection``, ``servers_peer_selection``
      (``{serverid: seconds}``), ``uri_extension``, ``hashtrees``,
      ``segments``, ``cumulative_fetch``, ``cumulative_decode``,
      ``cumulative_decrypt``, ``total``, ``paused`` (waiting for the
      consumer to resume the read), ``fetch_per_server``
      (``{serverid: seconds of each block fetched}``, the latest
      :data:`MAX_TIMES_PER_SERVER` of each server: a big download does not
      grow its results without bound).
    * ``blocks_fetched``, ``bytes_fetched``, ``segments_delivered``: counters.
    * the timeline of the status pages (``time.monotonic`` times; ``t0`` and
      ``t0_wall`` are the same moment on both clocks): ``queries``
      (``{serverid: (sent, answered)}`` of the share queries),
      ``block_events`` (``(serverid, shnum, segnum, sent, received, bytes)``)
      and ``segment_events`` (``(segnum, asked, delivered, start, length,
      ok)``), the latest :data:`MAX_EVENTS` of each.
    """

    def __init__(self, file_size: int | None = None):
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        self.queries: dict = {}
        self.block_events: deque = deque(maxlen=MAX_EVENTS)
        self.segment_events: deque = deque(maxlen=MAX_EVENTS)
        self.file_size = file_size
        self.servers_used: set = set()
        self.server_problems: dict = {}
        self.problems_per_server: dict = {}
        self.servermap: dict = {}
        self.timings: dict = {
            "servers_peer_selection": {},
            "fetch_per_server": {},
            "cumulative_fetch": 0.0,
            "cumulative_decode": 0.0,
            "cumulative_decrypt": 0.0,
        }
        self.blocks_fetched = 0
        self.bytes_fetched = 0
        self.segments_delivered = 0

    def add_problem(self, serverid: bytes, text: str) -> None:
        self.server_problems[serverid] = text
        problems = self.problems_per_server.get(serverid)
        if problems is None:
            problems = self.problems_per_server[serverid] = deque(maxlen=MAX_TIMES_PER_SERVER)
        problems.append(text)

    def add_share(self, serverid: bytes, shnum: int) -> None:
        self.servermap.setdefault(serverid, set()).add(shnum)

    def add_query(self, serverid: bytes, sent: float, answered: float) -> None:
        """A server answered the query for its shares (``time.monotonic`` times)."""
        self.timings["servers_peer_selection"][serverid] = answered - sent
        if serverid in self.queries or len(self.queries) < MAX_QUERIES:
            self.queries[serverid] = (sent, answered)

    def add_segment(self, segnum: int, asked: float, delivered: float, start: int, length: int,
                    ok: bool) -> None:
        self.segment_events.append((segnum, asked, delivered, start, length, ok))

    def add_fetch(self, serverid: bytes, seconds: float, nbytes: int, shnum: int | None = None,
                  segnum: int | None = None) -> None:
        now = time.monotonic()
        self.block_events.append((serverid, shnum, segnum, now - seconds, now, nbytes))
        self.servers_used.add(serverid)
        times = self.timings["fetch_per_server"].get(serverid)
        if times is None:
            times = self.timings["fetch_per_server"][serverid] = deque(
                maxlen=MAX_TIMES_PER_SERVER)
        times.append(seconds)
        self.blocks_fetched += 1
        self.bytes_fetched += nbytes

    def add_time(self, name: str, seconds: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + seconds


@implementer(IDownloadStatus)
class DownloadStatus(OperationStatus):
    """The live state of one download (IDownloadStatus)."""

    def __init__(self, storage_index: bytes | None, size: int | None):
        OperationStatus.__init__(self, storage_index, size)
        self.results: DownloadResults | None = None

    # IDownloadStatus
    def get_results(self) -> DownloadResults | None:
        return self.results

    # updates, by the downloader
    def set_status(self, text: str) -> None:
        self.status = text

    def set_progress(self, fraction: float) -> None:
        self.progress = max(0.0, min(1.0, fraction))

    def set_active(self, active: bool) -> None:
        self.active = active

    def set_results(self, results: DownloadResults) -> None:
        self.results = results
