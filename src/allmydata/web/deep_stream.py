"""Streaming deep traversals: ``POST ?t=stream-manifest`` and ``?t=stream-deep-check``.

Each object reachable from a directory is written as one line of JSON as
soon as it is visited (and, for a deep-check, checked), in Tahoe-LAFS
1.20's format::

    {"path": [...], "cap": ..., "type": "file"|"directory"|"unknown",
     "verifycap": ..., "repaircap": ..., "storage-index": ...,
     "check-results": {...}}          (stream-deep-check)
     "check-and-repair-results": {...}   (stream-deep-check&repair=true)

and the last line is ``{"type": "stats", "stats": {...}}`` (the deep-stats
of everything visited).  A traversal that cannot go on (an unrecoverable
directory) ends the body with a line starting ``ERROR:`` and a description
of the error.

Nothing is kept: the walker is registered as the request's producer, and
while the connection's send buffer is full (``pauseProducing``) each
visit waits before it counts as done, so the traversal, which keeps only a
bounded number of visits in flight, stops until the client reads on.  A
client that disconnects cancels the traversal.
"""

import json

from twisted.internet import defer

from ..deep_results import (deep_check_and_repair_unit, deep_check_unit, manifest_unit,
                            stats_unit)
from ..deep_stats import DeepStats
from ..monitor import OperationCancelledError
from .check_results import check_args
from .common import humanize_exception


def encode_line(data) -> bytes:
    # ensure_ascii: a name's non-ASCII characters (and any line separator
    # in it) are escaped, so a line never holds a newline
    return json.dumps(data, ensure_ascii=True).encode("ascii") + b"\n"


def error_lines(exc) -> bytes:
    """The ``ERROR:`` line (the exception's class and arguments) and a
    description, for a traversal that stopped."""
    args = ", ".join(str(a) for a in getattr(exc, "args", ()))
    _status, text = humanize_exception(exc)
    return ("ERROR: %s(%s)\n%s\n" % (type(exc).__name__, args, text)).encode("utf-8")


class StreamWalker:
    """The walker of a streamed traversal, and the producer the request
    asks to pause and resume.  ``check`` is None for a manifest, else
    ``(verify, repair, add_lease)``."""

    def __init__(self, request, check=None):
        self._request = request
        self._check = check
        self._stats = DeepStats()
        self._paused = False
        self._waiting = []
        self.monitor = None
        self.stopped = False

    # ---- the producer side (the request's transport) ----
    def pauseProducing(self):
        self._paused = True

    def resumeProducing(self):
        self._paused = False
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(None)

    def stopProducing(self):
        """The client went away: the traversal is cancelled."""
        self.stopped = True
        if self.monitor is not None:
            self.monitor.cancel()
        self.resumeProducing()

    def _write(self, data):
        if not self.stopped:
            self._request.write(encode_line(data))

    def _room(self):
        """A Deferred that fires once the client is reading again."""
        if self._paused and not self.stopped:
            d = defer.Deferred()
            self._waiting.append(d)
            return d
        return defer.succeed(None)

    # ---- the walker side (the traversal engine) ----
    def set_monitor(self, monitor):
        self.monitor = monitor

    def add_node(self, node, path):
        return defer.ensureDeferred(self._add_node(node, path))

    async def _add_node(self, node, path):
        if self.monitor is not None:
            self.monitor.raise_if_cancelled()
        self._stats.add_node(node, path)
        if self._check is None:
            data = manifest_unit(path, node)
        else:
            verify, repair, add_lease = self._check
            checkable = not node.is_unknown()   # an unknown cap has nothing to check
            if repair:
                r = await node.check_and_repair(monitor=self.monitor, verify=verify,
                                                add_lease=add_lease) if checkable else None
                data = deep_check_and_repair_unit(path, node, r)
            else:
                r = await node.check(monitor=self.monitor, verify=verify,
                                     add_lease=add_lease) if checkable else None
                data = deep_check_unit(path, node, r)
        self._write(data)
        await self._room()

    def enter_directory(self, node, children):
        return self._stats.enter_directory(node, children)

    def finish(self):
        self._write(stats_unit(self._stats.get_results()))
        return None


async def stream_traversal(request, node, check=None) -> bytes:
    """Walk from directory ``node``, writing a line per object to
    ``request``; ``check`` as for :class:`StreamWalker`."""
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    walker = StreamWalker(request, check)
    request.registerProducer(walker, True)
    monitor = None
    try:
        monitor = node.deep_traverse(walker)
        walker.set_monitor(monitor)
        await monitor.when_done()
    except OperationCancelledError:
        pass
    except defer.CancelledError:
        if monitor is not None:
            monitor.cancel()
        raise
    except Exception as e:  # noqa: BLE001 -- any error that stops the walk is reported in-band
        if not walker.stopped:
            request.write(error_lines(e))
    finally:
        request.unregisterProducer()
    return b""


async def stream_manifest(request, node) -> bytes:
    return await stream_traversal(request, node)


async def stream_deep_check(request, node) -> bytes:
    return await stream_traversal(request, node, check_args(request))
