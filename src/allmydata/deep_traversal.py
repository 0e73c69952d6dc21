"""Deep traversal: every file and directory reachable from a directory, once.

:func:`deep_traverse` walks the tree under a directory node and reports
each object to a *walker*:

- ``walker.add_node(node, path)`` for every object reached (``path``: the
  tuple of names from the root; the root's is ``()``).  It may return a
  Deferred (a check, say): the operation counts as in flight until it fires.
- ``walker.enter_directory(node, children)`` for every directory read, with
  its ``{name: (node, metadata)}``.
- ``walker.finish()`` at the end: its value becomes the monitor's final status.
- optional ``walker.set_monitor(monitor)`` first (the walker sets the
  status the monitor shows while the walk runs), and optional
  ``walker.directory_unreadable(node, path, failure)`` when a directory's
  children cannot be read: it returns to go on without them, or raises to
  end the walk.  Without it, such a failure ends the walk.

Each object is reported once, under the first path the walk finds it by,
even when directories link to each other in cycles: objects are told apart
by verify cap (a read cap and a write cap of one object are one object).
LIT files and LIT directories have no verify cap and are reported at every
path (their contents are in the cap: nothing is fetched for them), and so
are unknown caps.  The order is Tahoe-LAFS's depth-first order: a directory,
then its unknown children, then its files, then its subdirectories, each
group by name -- so the walk finds the same first path for an object as
Tahoe-LAFS does.

At most ``limit`` operations (``add_node`` calls and directory reads) are in
flight at once, however large the tree: the walk hands out operations in
order and waits for a free slot before the next; the reads of the next few
directories are started ahead while checks of files run.  The monitor is
asked for cancellation before every operation; on cancellation or on the
failure of an operation, no new operation starts, the walk waits for those in
flight to end, and the monitor fails with the first error.

The walkers of the deep operations are :class:`ManifestWalker`
(``build_manifest``), :class:`~allmydata.deep_stats.DeepStats`
(``start_deep_stats``) and :class:`DeepCheckWalker` (``start_deep_check``
with or without repair).
"""

from twisted.internet import defer
from twisted.python.failure import Failure

from .deep_results import DeepCheckAndRepairResults, DeepCheckResults
from .deep_stats import DeepStats
from .dirnode_interfaces import IDirectoryNode
from .monitor import Monitor, OperationCancelledError
from .util import base32

__all__ = ["deep_traverse", "DEFAULT_LIMIT", "ManifestWalker", "DeepCheckWalker", "DeepStats"]

#: operations in flight at once during a deep traversal
DEFAULT_LIMIT = 10


def deep_traverse(root, walker, limit: int = DEFAULT_LIMIT, monitor=None) -> Monitor:
    """Walk everything reachable from the directory node ``root``; return the
    :class:`Monitor` of the walk at once (a fresh one unless given)."""
    if limit < 1:
        raise ValueError("a traversal needs at least one operation in flight, not %r"
                         % (limit,))
    monitor = Monitor() if monitor is None else monitor
    set_monitor = getattr(walker, "set_monitor", None)
    if set_monitor is not None:
        set_monitor(monitor)
    d = defer.ensureDeferred(_Traversal(root, walker, monitor, limit).run())
    d.addCallbacks(monitor.finish, monitor.fail)
    return monitor


def _key(node):
    """What tells one object from another: its verify cap (None: LIT)."""
    verifycap = node.get_verify_cap()
    return None if verifycap is None else verifycap.to_string()


class _Frame:
    """A directory waiting to be walked, and the read of its children once started."""

    __slots__ = ("node", "path", "listing")

    def __init__(self, node, path):
        self.node = node
        self.path = path
        self.listing = None


class _Traversal:
    def __init__(self, root, walker, monitor, limit):
        self._root = root
        self._walker = walker
        self._monitor = monitor
        self._slots = defer.DeferredSemaphore(limit)
        self._read_ahead = max(1, limit // 2)   # directory reads started before their turn
        self._reading_ahead = []                # their frames, until their turn comes
        self._running = 0
        self._idle = []                         # Deferreds fired when _running drops to 0
        self._failure = None                    # of the first operation that failed

    async def run(self):
        try:
            await self._walk()
        except Exception as e:
            await self._drain()
            raise e
        await self._drain()
        if self._failure is not None:
            self._failure.raiseException()
        return await defer.maybeDeferred(self._walker.finish)

    # ---- the walk, in order ----------------------------------------------------------------
    async def _walk(self):
        walker = self._walker
        found = {_key(self._root)}
        stack = [_Frame(self._root, ())]
        while stack:
            frame = stack.pop()
            own_check = await self._add_node(frame.node, frame.path)
            if frame.listing is None:
                self._start_listing(frame)
            else:
                self._reading_ahead.remove(frame)
            try:
                children = await frame.listing
            except Exception:
                await self._unreadable(frame, own_check, Failure())
                continue
            self._raise_if_stopped()
            await defer.maybeDeferred(walker.enter_directory, frame.node, children)
            files, dirs = [], []
            for name in sorted(children):
                child = children[name][0]
                path = frame.path + (name,)
                if child.is_unknown():
                    await self._add_node(child, path)
                    continue
                key = _key(child)
                if key is not None:
                    if key in found:
                        continue
                    found.add(key)
                (dirs if IDirectoryNode.providedBy(child) else files).append((child, path))
            del children
            for child, path in files:
                await self._add_node(child, path)
            for child, path in reversed(dirs):
                stack.append(_Frame(child, path))
            self._read_next(stack)

    def _raise_if_stopped(self):
        if self._failure is not None:
            self._failure.raiseException()
        self._monitor.raise_if_cancelled()

    async def _unreadable(self, frame, own_check, failure):
        if failure.check(OperationCancelledError):
            failure.raiseException()
        handler = getattr(self._walker, "directory_unreadable", None)
        if handler is None:
            failure.raiseException()
        await own_check     # the walker has the directory's own results first
        self._raise_if_stopped()
        await defer.maybeDeferred(handler, frame.node, frame.path, failure)

    # ---- operations, at most ``limit`` at once -------------------------------------------------
    async def _add_node(self, node, path):
        """Start ``walker.add_node`` once a slot is free; a Deferred that
        fires (with None) when it has ended."""
        self._raise_if_stopped()
        await self._slots.acquire()
        try:
            self._raise_if_stopped()
        except BaseException:
            self._slots.release()
            raise
        self._running += 1
        return defer.maybeDeferred(self._walker.add_node, node, path).addBoth(self._ended)

    def _ended(self, result):
        self._slots.release()
        if isinstance(result, Failure) and self._failure is None:
            self._failure = result
        self._one_less()
        return None

    def _one_less(self):
        self._running -= 1
        if not self._running:
            idle, self._idle = self._idle, []
            for d in idle:
                d.callback(None)

    def _start_listing(self, frame):
        def read():
            self._raise_if_stopped()
            return frame.node.list()

        def ended(result):
            self._one_less()
            return result
        self._running += 1
        frame.listing = self._slots.run(read).addBoth(ended)

    def _read_next(self, stack):
        """Start reading the directories walked next, up to the read-ahead."""
        i = len(stack) - 1
        while i >= 0 and len(self._reading_ahead) < self._read_ahead:
            frame = stack[i]
            if frame.listing is None:
                self._start_listing(frame)
                self._reading_ahead.append(frame)
            i -= 1

    async def _drain(self):
        """Wait until no operation is in flight; drop the reads started ahead."""
        while self._running:
            d = defer.Deferred()
            self._idle.append(d)
            await d
        for frame in self._reading_ahead:
            frame.listing.addErrback(lambda _f: None)
        self._reading_ahead = []


# ---- walkers ---------------------------------------------------------------------------------
class ManifestWalker(DeepStats):
    """``build_manifest``: every object's path and cap, the verify caps, the
    storage indexes (base32 str) and the deep-stats."""

    def __init__(self):
        super().__init__()
        self.manifest = []              # (path tuple, cap bytes)
        self.verifycaps = set()         # bytes
        self.storage_indexes = set()    # base32 str

    def add_node(self, node, path):
        self.manifest.append((tuple(path), node.get_uri()))
        si = node.get_storage_index()
        if si:
            self.storage_indexes.add(base32.b2a(si).decode("ascii"))
        verifycap = node.get_verify_cap()
        if verifycap is not None:
            self.verifycaps.add(verifycap.to_string())
        return super().add_node(node, path)

    def get_results(self) -> dict:
        return {"manifest": self.manifest, "verifycaps": self.verifycaps,
                "storage-index": self.storage_indexes, "stats": super().get_results()}


class DeepCheckWalker:
    """``start_deep_check`` (and ``start_deep_check_and_repair`` with
    ``repair=True``): checks every object, adding its results to a
    :class:`~allmydata.deep_results.DeepCheckResults` (or
    :class:`~allmydata.deep_results.DeepCheckAndRepairResults`), which is
    the monitor's status from the start.

    A directory that cannot be read is passed over when its own check found
    it unrecoverable (the results say so); any other read failure ends the
    walk.  Unknown objects have no check: they are counted in the stats only.
    """

    def __init__(self, root, verify=False, repair=False, add_lease=False):
        self._verify = bool(verify)
        self._repair = bool(repair)
        self._add_lease = bool(add_lease)
        root_si = root.get_storage_index()
        if repair:
            self._results = DeepCheckAndRepairResults(root_si)
        else:
            self._results = DeepCheckResults(root_si)
        self._stats = DeepStats()
        self.monitor = None

    def set_monitor(self, monitor):
        self.monitor = monitor
        monitor.set_status(self._results)

    def add_node(self, node, path):
        if node.is_unknown():
            self._stats.add_node(node, path)
            return None
        if self._repair:
            d = node.check_and_repair(monitor=self.monitor, verify=self._verify,
                                      add_lease=self._add_lease)
            d.addCallback(self._results.add_check_and_repair, path)
        else:
            d = node.check(monitor=self.monitor, verify=self._verify, add_lease=self._add_lease)
            d.addCallback(self._results.add_check, path)
        d.addCallback(lambda _: self._stats.add_node(node, path))
        return d

    def enter_directory(self, node, children):
        self._stats.enter_directory(node, children)
        self._results.update_stats(self._stats.get_results())

    def directory_unreadable(self, node, path, failure):
        results = self._results.get_all_results().get(tuple(path))
        if results is not None:
            after = getattr(results, "post_repair_results", results)
            if not after.is_recoverable():
                self._results.add_unlisted_directory(path, failure)
                return
        failure.raiseException()

    def finish(self):
        self._results.update_stats(self._stats.get_results())
        return self._results
