"""A background walk over every share a storage server holds, a little at a time.

A :class:`ShareCrawler` is a child service of the
:class:`~.server.StorageServer`.  One *cycle* visits the 1024 prefix
directories ``shares/<aa>/`` in sorted order and, in each, every storage
index directory (a *bucket*) in sorted order; ``shares/incoming/`` (uploads
still open) is never visited.  Subclasses say what to do with each bucket
(:meth:`ShareCrawler.process_bucket`) or with each prefix directory.

The walk runs in the reactor thread in *slices*.  A slice ends once it has
used :attr:`CrawlerPace.cpu_slice` seconds of CPU time, or four times that
in real time (a slice that waits on the disk stops too).  After a slice the
crawler sleeps long enough that its slices take at most
:attr:`CrawlerPace.cpu_fraction` of the real time; since a slice cannot use
more CPU than the real time it takes, that also bounds its CPU use.  A new
cycle starts no sooner than :attr:`CrawlerPace.minimum_cycle_time` after
the start of the previous one, and the first slice comes
:attr:`CrawlerPace.slow_start` seconds after the service starts.

The crawler's position and its subclass's counts are saved as JSON in one
state file, replaced atomically after every slice, after every cycle and
when the service stops, so a restarted server goes on where the previous
run left off (at worst it repeats the buckets of one interrupted slice).
The state keys are those of Tahoe-LAFS 1.20's crawler state files::

    version                   1
    last-cycle-finished       number of the last finished cycle, or null
    current-cycle             number of the cycle under way, or null between cycles
    current-cycle-start-time  when the cycle under way (or the last one) started
    last-complete-prefix      last prefix directory finished in this cycle, or null
    last-complete-bucket      last bucket finished in this cycle, or null

A state file that cannot be read (not JSON, not a state, a position that
names no prefix) is logged and set aside as ``<name>.corrupt``; the crawler
then starts from the beginning.  Nothing is lost: the state holds only
progress and counts.

Times come from the injected reactor (``clock.seconds()``, ``callLater``);
CPU and real time within a slice come from ``cpu_time`` and ``real_time``
(``time.thread_time`` and ``time.monotonic`` unless a test passes others).
"""

import json
import os
import struct
import time

import attr
from twisted.application import service
from twisted.logger import Logger

from ..util import base32
from ..util.fileutil import write_atomically

#: the 1024 two-letter prefix directories, in the order a cycle visits them
PREFIXES = sorted({base32.b2a(struct.pack(">H", i << 6)).decode("ascii")[:2]
                   for i in range(1024)})
assert len(PREFIXES) == 1024
STATE_VERSION = 1
#: the longest a crawler sleeps between two slices of one cycle
MAX_SLEEP_IN_CYCLE = 299


class StateFileError(Exception):
    """A crawler state file does not hold a state this crawler can resume."""


@attr.s(frozen=True, slots=True)
class CrawlerPace:
    """How fast a crawler walks.

    * ``slow_start``: seconds from the service's start to its first slice;
    * ``cpu_slice``: CPU seconds one slice may use;
    * ``cpu_fraction``: the largest share of real time the slices take
      (0.04: 4%);
    * ``minimum_cycle_time``: seconds from the start of one cycle to the
      start of the next, at least.
    """

    slow_start = attr.ib(default=300)
    cpu_slice = attr.ib(default=0.1)
    cpu_fraction = attr.ib(default=0.04)
    minimum_cycle_time = attr.ib(default=300)

    def __attrs_post_init__(self):
        if not self.slow_start >= 0:
            raise ValueError("slow_start must be >= 0, got %r" % (self.slow_start,))
        if not self.cpu_slice > 0:
            raise ValueError("cpu_slice must be > 0, got %r" % (self.cpu_slice,))
        if not 0 < self.cpu_fraction <= 1:
            raise ValueError("cpu_fraction must be in (0, 1], got %r" % (self.cpu_fraction,))
        if not self.minimum_cycle_time >= 0:
            raise ValueError("minimum_cycle_time must be >= 0, got %r"
                             % (self.minimum_cycle_time,))


class _SliceOver(Exception):
    """The slice has used its budget: stop here, save, sleep."""


def load_json_state(path: str):
    """The JSON value in ``path``, None if there is no such file;
    :class:`StateFileError` if it is not JSON."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise StateFileError("%s is not a JSON file (%s)" % (path, e))


def save_json_state(path: str, value) -> None:
    """Replace ``path`` with ``value`` as JSON, atomically."""
    write_atomically(path, json.dumps(value, sort_keys=True).encode("utf-8"))


def json_copy(value):
    """A deep copy of a JSON value."""
    return json.loads(json.dumps(value))


def set_aside(path: str, log, why: str) -> None:
    """Keep an unreadable state file as ``<path>.corrupt`` (for a person to
    look at) and say so in the log."""
    log.warn("{path}: {why}; it is kept as {path}.corrupt and the crawler starts over",
             path=path, why=why)
    try:
        os.replace(path, path + ".corrupt")
    except OSError:
        pass


class ShareCrawler(service.MultiService):
    """Walks every bucket of ``server.sharedir``; see the module docstring.

    Subclasses override :meth:`add_initial_state`, :meth:`started_cycle`,
    :meth:`process_bucket` (or :meth:`process_prefixdir`),
    :meth:`finished_prefix` and :meth:`finished_cycle`, and keep whatever
    they count in ``self.state`` (it must stay JSON).
    """

    log = Logger()
    #: the default pace of this kind of crawler
    default_pace = CrawlerPace()

    def __init__(self, server, statefile: str, clock, pace: CrawlerPace | None = None,
                 cpu_time=time.thread_time, real_time=time.monotonic):
        service.MultiService.__init__(self)
        self.server = server
        self.sharedir = server.sharedir
        self.statefile = statefile
        self.clock = clock
        self.pace = pace or self.default_pace
        self._cpu_time = cpu_time
        self._real_time = real_time
        self.prefixes = PREFIXES
        self._timer = None
        self._bucket_cache = (None, [])
        self.next_wake_time = None
        self.sleeping_between_cycles = True
        self.last_prefix_elapsed_time = None
        self._last_prefix_finished_time = None
        self.last_cycle_elapsed_time = None
        #: how many slices have run (in this process)
        self.slices = 0
        self.load_state()

    # ---- state --------------------------------------------------------------------
    def _fresh_state(self) -> dict:
        # the start time of no cycle yet is "now", as Tahoe-LAFS's states have it
        return {"version": STATE_VERSION, "last-cycle-finished": None, "current-cycle": None,
                "current-cycle-start-time": self.clock.seconds(), "last-complete-prefix": None,
                "last-complete-bucket": None}

    def load_state(self) -> None:
        try:
            state = load_json_state(self.statefile)
            if state is not None:
                self._check_state(state)
        except StateFileError as e:
            set_aside(self.statefile, self.log, str(e))
            state = None
        if state is None:
            state = self._fresh_state()
        state.setdefault("current-cycle-start-time", self.clock.seconds())
        self.state = state
        lcp = state["last-complete-prefix"]
        self.last_complete_prefix_index = -1 if lcp is None else self.prefixes.index(lcp)
        self.add_initial_state()

    def _check_state(self, state) -> None:
        def bad(why):
            raise StateFileError("%s is not a crawler state: %s" % (self.statefile, why))
        if not isinstance(state, dict):
            bad("not a JSON object")
        if state.get("version") != STATE_VERSION:
            bad("version %r, not %d" % (state.get("version"), STATE_VERSION))
        for key in ("last-cycle-finished", "current-cycle"):
            value = state.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 0):
                bad("%s is %r" % (key, value))
        start = state.get("current-cycle-start-time")
        if start is not None and (not isinstance(start, (int, float)) or isinstance(start, bool)):
            bad("current-cycle-start-time is %r" % (start,))
        lcp = state.get("last-complete-prefix")
        if lcp is not None and lcp not in self.prefixes:
            bad("last-complete-prefix %r names no prefix directory" % (lcp,))
        lcb = state.get("last-complete-bucket")
        if lcb is not None and not isinstance(lcb, str):
            bad("last-complete-bucket is %r" % (lcb,))
        if state.get("current-cycle") is None and (lcp is not None or lcb is not None):
            bad("a position is saved but no cycle is under way")
        self.check_subclass_state(state, bad)

    def check_subclass_state(self, state: dict, bad) -> None:
        """Check the keys a subclass keeps; call ``bad(why)`` if one is wrong."""

    def save_state(self) -> None:
        lcpi = self.last_complete_prefix_index
        self.state["last-complete-prefix"] = None if lcpi == -1 else self.prefixes[lcpi]
        save_json_state(self.statefile, self.state)

    def get_state(self) -> dict:
        """A copy of the state (callers may change the copy)."""
        return json_copy(self.state)

    def get_progress(self) -> dict:
        """Where the crawler is, with the keys of Tahoe-LAFS 1.20:
        ``cycle-in-progress``; during a cycle ``cycle-complete-percentage``,
        ``estimated-cycle-complete-time-left`` and ``remaining-sleep-time``;
        between cycles ``next-crawl-time`` and ``remaining-wait-time``; and
        always ``estimated-time-per-cycle``.  Unknown times are None."""
        now = self.clock.seconds()
        remaining = None if self.next_wake_time is None else self.next_wake_time - now
        out = {}
        if self.state["current-cycle"] is None:
            out["cycle-in-progress"] = False
            out["next-crawl-time"] = self.next_wake_time
            out["remaining-wait-time"] = remaining
        else:
            out["cycle-in-progress"] = True
            done = self.last_complete_prefix_index + 1
            out["cycle-complete-percentage"] = 100.0 * done / len(self.prefixes)
            left = None
            if self.last_prefix_elapsed_time is not None:
                left = (len(self.prefixes) - done) * self.last_prefix_elapsed_time
            out["estimated-cycle-complete-time-left"] = left
            out["remaining-sleep-time"] = remaining
        per_cycle = self.last_cycle_elapsed_time
        if per_cycle is None and self.last_prefix_elapsed_time is not None:
            per_cycle = len(self.prefixes) * self.last_prefix_elapsed_time
        out["estimated-time-per-cycle"] = per_cycle
        return out

    # ---- the service --------------------------------------------------------------
    def startService(self):
        service.MultiService.startService(self)
        now = self.clock.seconds()
        wake = now + self.pace.slow_start
        started = self.state.get("current-cycle-start-time")
        if (self.state["current-cycle"] is None and self.state["last-cycle-finished"] is not None
                and started is not None):
            # between cycles: keep the previous run's schedule
            wake = max(wake, started + self.pace.minimum_cycle_time)
        self.sleeping_between_cycles = self.state["current-cycle"] is None
        self._schedule(wake - now)

    def stopService(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self.next_wake_time = None
        self.save_state()
        return service.MultiService.stopService(self)

    def _schedule(self, delay: float) -> None:
        delay = max(0.0, delay)
        self.next_wake_time = self.clock.seconds() + delay
        self._timer = self.clock.callLater(delay, self.run_slice)

    def run_slice(self) -> None:
        """Walk until the slice's budget is used or the cycle ends, save the
        state, and schedule the next slice."""
        self._timer = None
        self.next_wake_time = None
        self.sleeping_between_cycles = False
        self.slices += 1
        cpu0, real0 = self._cpu_time(), self._real_time()
        budget = self.pace.cpu_slice

        def over():
            return (self._cpu_time() - cpu0 >= budget
                    or self._real_time() - real0 >= 4 * budget)
        self._over = over
        try:
            self._walk()
            finished = True
        except _SliceOver:
            finished = False
        self.save_state()
        if not self.running:
            return
        elapsed = max(0.0, self._real_time() - real0)
        sleep = elapsed / self.pace.cpu_fraction - elapsed
        if finished:
            self.sleeping_between_cycles = True
            started = self.state["current-cycle-start-time"]
            until_next = started + self.pace.minimum_cycle_time - self.clock.seconds()
            sleep = max(sleep, until_next)
        else:
            sleep = min(sleep, MAX_SLEEP_IN_CYCLE)
        self.yielding(sleep)
        self._schedule(sleep)

    def _walk(self) -> None:
        state = self.state
        if state["current-cycle"] is None:
            last = state["last-cycle-finished"]
            state["current-cycle"] = 0 if last is None else last + 1
            state["current-cycle-start-time"] = self.clock.seconds()
            state["last-complete-bucket"] = None
            self.last_complete_prefix_index = -1
            self.started_cycle(state["current-cycle"])
        cycle = state["current-cycle"]
        for i in range(self.last_complete_prefix_index + 1, len(self.prefixes)):
            prefix = self.prefixes[i]
            prefixdir = os.path.join(self.sharedir, prefix)
            if self._bucket_cache[0] == (cycle, i):
                buckets = self._bucket_cache[1]
            else:
                try:
                    buckets = sorted(os.listdir(prefixdir))
                except OSError:
                    buckets = []
                self._bucket_cache = ((cycle, i), buckets)
            self.process_prefixdir(cycle, prefix, prefixdir, buckets)
            self.last_complete_prefix_index = i
            now = self.clock.seconds()
            if self._last_prefix_finished_time is not None:
                self.last_prefix_elapsed_time = now - self._last_prefix_finished_time
            self._last_prefix_finished_time = now
            self.finished_prefix(cycle, prefix)
            if self._over():
                raise _SliceOver()
        self.last_complete_prefix_index = -1
        self._last_prefix_finished_time = None
        self._bucket_cache = (None, [])
        self.last_cycle_elapsed_time = self.clock.seconds() - state["current-cycle-start-time"]
        state["last-complete-bucket"] = None
        state["last-cycle-finished"] = cycle
        state["current-cycle"] = None
        self.finished_cycle(cycle)

    def process_prefixdir(self, cycle: int, prefix: str, prefixdir: str, buckets: list) -> None:
        """Process the buckets of one prefix directory (sorted base32
        storage index names), skipping those an earlier slice finished."""
        for bucket in buckets:
            last = self.state["last-complete-bucket"]
            if last is not None and bucket <= last:
                continue
            try:
                self.process_bucket(cycle, prefix, prefixdir, bucket)
            except Exception:
                # one bucket it cannot handle (a disk error, a permission)
                # must not stop the walk, nor make it try that bucket forever
                self.log.failure("{crawler} could not process bucket {bucket}",
                                 crawler=type(self).__name__, bucket=bucket)
            self.state["last-complete-bucket"] = bucket
            if self._over():
                raise _SliceOver()

    # ---- for subclasses -----------------------------------------------------------
    def add_initial_state(self) -> None:
        """Add the subclass's keys to a state that lacks them."""

    def started_cycle(self, cycle: int) -> None:
        """A cycle begins."""

    def process_bucket(self, cycle: int, prefix: str, prefixdir: str,
                       storage_index_b32: str) -> None:
        """Look at one bucket.  Called once per bucket per cycle (again for
        the buckets of a slice cut short by a crash)."""

    def finished_prefix(self, cycle: int, prefix: str) -> None:
        """A prefix directory is done."""

    def finished_cycle(self, cycle: int) -> None:
        """A cycle is done (``state["last-cycle-finished"]`` is ``cycle``)."""

    def yielding(self, sleep_time: float) -> None:
        """The crawler is about to sleep ``sleep_time`` seconds."""
