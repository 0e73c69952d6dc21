"""The downloader of one CHK file: :class:`DownloadNode`.

``read(consumer, offset, size)`` is the one operation.  It finds the shares
(:class:`~.finder.SharePool`), learns the segment size from the first good
UEB, then walks the segments that overlap the range with up to
``pipeline_depth`` segments in flight (fetched and decoded by
:class:`~.fetcher.SegmentFetcher`), writing each one's wanted slice to the
consumer as soon as it is validated and decrypted, in order.

The read registers itself as a streaming IPushProducer with the consumer:
``pauseProducing`` stops new segment fetches and holds back writes until
``resumeProducing``; ``stopProducing`` ends the read with
:class:`DownloadStopped`.  So memory stays bounded by a few segments
whatever the file size.

What was verified about the file (its UEB, share hash tree and crypttext
hash tree, and each share's block hash tree) is kept on the node for later
reads; shares are looked up afresh
for every read, and those an earlier read found corrupt are used only when
no other share will do (a share with one bad block still has good ones), and
are reported to their server only once.
"""

import time
from collections import deque

from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

from ...util.default_reactor import default_reactor
from .errors import DownloadStopped
from .fetcher import SegmentFetcher
from .finder import SharePool
from .segmentation import clip_range, segments_for_range, slice_of_segment
from .share import WHOLE_TREE_LIMIT
from .status import DownloadResults, DownloadStatus
from .validation import FileHashes

log = Logger()


@implementer(IPushProducer)
class ReadProducer:
    """What a read registers with its consumer.  ``paused_seconds`` is how
    long the read has waited for the consumer to resume it (``now`` tells
    the time)."""

    def __init__(self, now=time.monotonic):
        self.paused = False
        self.stopped = False
        self.paused_seconds = 0.0
        self._now = now
        self._waiters = []

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False
        self._wake()

    def stopProducing(self):
        self.stopped = True
        self._wake()

    def _wake(self):
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    async def wait_until_unpaused(self) -> None:
        while self.paused and not self.stopped:
            d = defer.Deferred()
            self._waiters.append(d)
            began = self._now()
            try:
                await d
            finally:
                self.paused_seconds += self._now() - began
        if self.stopped:
            raise DownloadStopped("the consumer stopped the download")


#: Segments in flight: four keep the servers of a download busy while
#: earlier segments are checked and decoded, and hold no more memory at the
#: peak than two do (docs/performance.md).
PIPELINE_DEPTH = 4


class DownloadNode:
    """Reads byte ranges of one CHK file from the grid."""

    def __init__(self, storage_index: bytes, key: bytes, uri_extension_hash: bytes, k: int,
                 n: int, size: int, storage_broker, reactor=None, history=None,
                 pipeline_depth: int = PIPELINE_DEPTH, query_timeout: float = 15.0,
                 read_timeout: float = 60.0, ready_grace: float = 0.5,
                 use_threads: bool = True, whole_tree_limit: int = WHOLE_TREE_LIMIT,
                 known_corrupt=(), advised=None):
        if reactor is None:
            reactor = default_reactor()
        self.storage_index = storage_index
        self.file = FileHashes(key, uri_extension_hash, k, n, size)
        self._broker = storage_broker
        self._reactor = reactor
        self._history = history
        self._depth = max(1, pipeline_depth)
        self._query_timeout = query_timeout
        self._read_timeout = read_timeout
        self._ready_grace = ready_grace
        self._use_threads = use_threads
        self._known_corrupt: set = set(known_corrupt)   # (serverid, shnum) found corrupt
        # of which reported to their server (a set shared with a checker
        # keeps a share from being reported twice)
        self._advised: set = advised if advised is not None else set()
        self._tree_cache: dict = {}        # (serverid, shnum) -> validated block hash tree
        self._whole_tree_limit = whole_tree_limit
        self.last_results: DownloadResults | None = None
        self.last_status: DownloadStatus | None = None

    def read(self, consumer, offset: int = 0, size: int | None = None):
        """Write bytes ``[offset, offset+size)`` of the file to ``consumer``
        (an IConsumer); ``size=None`` means to the end.  Deferred(consumer)."""
        return defer.ensureDeferred(self._read(consumer, offset, size))

    async def _read(self, consumer, offset, size):
        offset, size = clip_range(self.file.size, offset, size)
        t_start = time.monotonic()
        results = DownloadResults(self.file.size)
        status = DownloadStatus(self.storage_index, size)
        status.set_results(results)
        self.last_results, self.last_status = results, status
        if self._history is not None:
            self._history.add_download(status)
        producer = ReadProducer()
        registered = False
        try:
            if size:
                consumer.registerProducer(producer, True)
                registered = True
                await self._download(consumer, offset, size, producer, results, status)
            status.set_progress(1.0)
            status.set_status("Finished")
            if self._history is not None:
                self._history.count("downloader.files_downloaded")
                self._history.count("downloader.bytes_downloaded", size)
        except BaseException as e:
            status.set_status("Failed: %s" % (e,))
            raise
        finally:
            status.set_active(False)
            results.timings["total"] = time.monotonic() - t_start
            results.timings["paused"] = producer.paused_seconds
            if registered:
                consumer.unregisterProducer()
        return consumer

    async def _download(self, consumer, offset, size, producer, results, status):
        status.set_status("Locating shares")
        pool = SharePool(self._broker, self.storage_index, self.file, self._reactor, results,
                         query_timeout=self._query_timeout, read_timeout=self._read_timeout,
                         ready_grace=self._ready_grace, known_corrupt=self._known_corrupt,
                         advised=self._advised, tree_cache=self._tree_cache,
                         whole_tree_limit=self._whole_tree_limit, first_offset=offset)
        pool.start()
        try:
            await pool.wait_ready()
            results.timings["peer_selection"] = pool.ready_at - pool.started_at
            fetcher = SegmentFetcher(pool, self.file, results, self._reactor, self._use_threads)
            status.set_status("Fetching the URI extension block")
            await fetcher.get_parameters()
            await producer.wait_until_unpaused()
            await self._stream(consumer, offset, size, producer, fetcher, results, status)
        finally:
            self._known_corrupt |= pool.known_corrupt

    async def _stream(self, consumer, offset, size, producer, fetcher, results, status):
        params = self.file.params
        todo = iter(segments_for_range(params, offset, size))
        inflight = deque()

        def start_next():
            segnum = next(todo, None)
            if segnum is not None:
                inflight.append((segnum, time.monotonic(),
                                 defer.ensureDeferred(fetcher.get_plaintext(segnum))))

        t0 = time.monotonic()
        delivered = 0
        try:
            for _ in range(self._depth):
                start_next()
            while inflight:
                segnum, asked, d = inflight.popleft()
                status.set_status("Fetching segment %d of %d" % (segnum + 1, params.num_segments))
                try:
                    plaintext = await d
                except BaseException:
                    results.add_segment(segnum, asked, time.monotonic(),
                                        segnum * params.segment_size, 0, False)
                    raise
                results.add_segment(segnum, asked, time.monotonic(),
                                    segnum * params.segment_size, len(plaintext), True)
                await producer.wait_until_unpaused()
                start_next()
                start, end = slice_of_segment(params, segnum, offset, size)
                piece = plaintext if (start, end) == (0, len(plaintext)) else plaintext[start:end]
                del plaintext
                consumer.write(piece)
                delivered += len(piece)
                results.segments_delivered += 1
                status.set_progress(delivered / size)
        finally:
            for _segnum, _asked, d in inflight:
                d.addErrback(lambda f: None)  # abandoned: nobody wants these results
            results.add_time("segments", time.monotonic() - t0)
