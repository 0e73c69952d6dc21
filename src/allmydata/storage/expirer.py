"""The lease checker: which leases have expired, and the shares that go with them.

A :class:`LeaseChecker` is a :class:`~.crawler.ShareCrawler` that reads the
leases of every share.  With ``[storage] expire.enabled = true`` it removes
the leases that its :class:`ExpirationPolicy` calls expired and deletes each
share left with no lease (and the bucket and prefix directories that leaves
empty).  It never touches:

* a share whose kind (immutable, mutable) the policy does not expire;
* a share that still holds an unexpired lease;
* anything of a storage index with an upload open (shares in
  ``shares/incoming/`` are not walked at all, and the complete shares beside
  an open upload are counted but left alone);
* a share file it cannot read as a container: it is listed as corrupt.

Writes to a share happen inside one remote call, in the reactor thread like
the crawler, so no write is ever half done when a share is looked at.  A
client that still holds a bucket reader of a deleted share gets a clear
error from its next read.

With expiry disabled it still counts what it would remove.  Per cycle it
records, with the keys of Tahoe-LAFS 1.20, in ``space-recovered``:
``examined-*`` (what it looked at), ``actual-*`` (what it deleted),
``configured-*`` (what the policy calls expired, deleted or not) and
``original-*`` (what each lease's own expiration time calls expired), each
as ``-buckets``, ``-shares``, ``-sharebytes`` and ``-diskbytes`` (blocks in
use), in total and ``-mutable``/``-immutable``; and a histogram of lease
ages (one-day bins), one of leases per share, and the corrupt shares.  The
last ten cycles are kept in ``lease_checker.history.json``; the cycle under
way is in the crawler state, ``lease_checker.state.json``.
"""

import os
import struct

import attr

from ..util.time_format import DAY
from .common import LEASE_DURATION, UnknownContainerVersionError, remove_empty_dirs
from .crawler import (
    CrawlerPace, ShareCrawler, StateFileError, json_copy, load_json_state, save_json_state,
    set_aside,
)
from .shares import open_share_file, share_kind

SHARETYPES = ("immutable", "mutable")
MODES = ("age", "cutoff-date")
#: cycles kept in the history file
HISTORY_CYCLES = 10
#: the lease checker's pace: a cycle at most twice a day
LEASE_CHECKER_PACE = CrawlerPace(slow_start=360, minimum_cycle_time=12 * 60 * 60)
_KINDS = ("actual", "original", "configured", "examined")
_MEASURES = ("buckets", "shares", "sharebytes", "diskbytes")
_SUFFIXES = ("", "-mutable", "-immutable")


@attr.s(frozen=True, slots=True)
class ExpirationPolicy:
    """When a lease counts as expired.

    * ``enabled``: remove expired leases and delete unleased shares (else
      only count them);
    * ``mode``: ``"age"``: a lease expires when its last grant or renewal
      plus ``override_lease_duration`` (seconds; None: the lease's own
      duration, i.e. its expiration time) is in the past; ``"cutoff-date"``:
      it expires when it was last granted or renewed before
      ``cutoff_date`` (Unix seconds);
    * ``sharetypes``: the kinds of share whose leases may expire.

    A lease's grant or renewal time is its expiration time less the 31 days
    every lease is given.
    """

    enabled = attr.ib(default=False)
    mode = attr.ib(default="age")
    override_lease_duration = attr.ib(default=None)
    cutoff_date = attr.ib(default=None)
    sharetypes = attr.ib(default=SHARETYPES, converter=tuple)

    def __attrs_post_init__(self):
        if self.mode not in MODES:
            raise ValueError("the expiration mode is 'age' or 'cutoff-date', not %r"
                             % (self.mode,))
        if self.mode == "cutoff-date":
            if not isinstance(self.cutoff_date, int):
                raise ValueError("cutoff-date expiration needs a cutoff date")
            if self.override_lease_duration is not None:
                raise ValueError("a lease duration applies to age expiration only")
        else:
            if self.cutoff_date is not None:
                raise ValueError("a cutoff date applies to cutoff-date expiration only")
            if self.override_lease_duration is not None and not (
                    isinstance(self.override_lease_duration, int)
                    and self.override_lease_duration > 0):
                raise ValueError("the lease duration is a whole number of seconds > 0")
        for kind in self.sharetypes:
            if kind not in SHARETYPES:
                raise ValueError("share types are 'immutable' and 'mutable', not %r" % (kind,))

    def is_expired(self, lease, sharetype: str, now: float) -> bool:
        if sharetype not in self.sharetypes:
            return False
        renewed = lease.expiration_time - LEASE_DURATION
        if self.mode == "age":
            if self.override_lease_duration is None:
                return lease.expiration_time < now
            return renewed + self.override_lease_duration < now
        return renewed < self.cutoff_date

    def as_json(self) -> list:
        """``configured-expiration-mode``: [mode, override duration,
        cutoff date, share types]."""
        return [self.mode, self.override_lease_duration, self.cutoff_date,
                list(self.sharetypes)]


# ---- counting ---------------------------------------------------------------------------
def empty_space_recovered() -> dict:
    return {"%s-%s%s" % (k, m, s): 0 for k in _KINDS for m in _MEASURES for s in _SUFFIXES}


def empty_cycle() -> dict:
    return {"corrupt-shares": [], "space-recovered": empty_space_recovered(),
            "lease-age-histogram": {}, "leases-per-share-histogram": {}}


def _disk_bytes(st) -> int:
    return getattr(st, "st_blocks", 0) * 512 or st.st_size


def _histogram_list(histogram: dict) -> list:
    """{"min,max": count} as [[min, max, count], ...], sorted."""
    rows = []
    for key, count in histogram.items():
        low, high = key.split(",")
        rows.append([int(low), int(high), count])
    return sorted(rows)


class LeaseChecker(ShareCrawler):
    """The lease-checking crawler of a storage server.

    ``server`` must offer ``sharedir``, ``upload_in_progress(si_b32)`` and
    ``note_bytes_freed(n)``.
    """

    default_pace = LEASE_CHECKER_PACE

    def __init__(self, server, statefile, historyfile, clock, policy=None, pace=None,
                 **kwargs):
        self.policy = policy or ExpirationPolicy()
        self.historyfile = historyfile
        ShareCrawler.__init__(self, server, statefile, clock, pace, **kwargs)
        self.history = self._load_history()

    # ---- compatibility with Tahoe-LAFS's names ---------------------------------------
    @property
    def expiration_enabled(self) -> bool:
        return self.policy.enabled

    @property
    def mode(self) -> str:
        return self.policy.mode

    # ---- state ----------------------------------------------------------------------
    def add_initial_state(self) -> None:
        # what Tahoe-LAFS 1.20 saves beside its state and we keep elsewhere or compute
        for key in ("history", "estimated-remaining-cycle", "estimated-current-cycle"):
            self.state.pop(key, None)
        so_far = self.state.setdefault("cycle-to-date", empty_cycle())
        histogram = so_far.get("lease-age-histogram")
        if isinstance(histogram, list):  # saved as [[min, max, count], ...]
            so_far["lease-age-histogram"] = {"%d,%d" % (low, high): count
                                             for low, high, count in histogram}
        for key, value in empty_cycle().items():
            so_far.setdefault(key, value)
        for key, value in empty_space_recovered().items():
            so_far["space-recovered"].setdefault(key, value)

    def check_subclass_state(self, state, bad) -> None:
        so_far = state.get("cycle-to-date", {})
        if not isinstance(so_far, dict):
            bad("cycle-to-date is not an object")
        histogram = so_far.get("lease-age-histogram", {})
        if isinstance(histogram, list):
            if not all(isinstance(row, list) and len(row) == 3
                       and all(isinstance(n, int) for n in row) for row in histogram):
                bad("cycle-to-date.lease-age-histogram is not [[min, max, count], ...]")
            histogram = {}
        for key in ("space-recovered", "leases-per-share-histogram"):
            value = so_far.get(key, {})
            if not isinstance(value, dict) or not all(
                    isinstance(n, (int, float)) for n in value.values()):
                bad("cycle-to-date.%s is not an object of counts" % key)
        if not isinstance(histogram, dict) or not all(
                isinstance(n, int) for n in histogram.values()):
            bad("cycle-to-date.lease-age-histogram is not an object of counts")
        for key in histogram:
            low, comma, high = key.partition(",")
            if not (comma and low.lstrip("-").isdigit() and high.lstrip("-").isdigit()):
                bad("cycle-to-date.lease-age-histogram has the key %r" % (key,))
        if not isinstance(so_far.get("corrupt-shares", []), list):
            bad("cycle-to-date.corrupt-shares is not a list")

    def _load_history(self) -> dict:
        try:
            history = load_json_state(self.historyfile)
            if history is not None and not (isinstance(history, dict) and all(
                    k.isdigit() and isinstance(v, dict) for k, v in history.items())):
                raise StateFileError("%s is not a lease checker history" % self.historyfile)
        except StateFileError as e:
            set_aside(self.historyfile, self.log, str(e))
            history = None
        return history or {}

    def started_cycle(self, cycle) -> None:
        self.state["cycle-to-date"] = empty_cycle()

    # ---- the walk -------------------------------------------------------------------
    def process_bucket(self, cycle, prefix, prefixdir, storage_index_b32) -> None:
        bucketdir = os.path.join(prefixdir, storage_index_b32)
        try:
            names = sorted(os.listdir(bucketdir))
            bucket_stat = os.stat(bucketdir)
        except OSError:
            return  # gone since its prefix directory was listed
        so_far = self.state["cycle-to-date"]
        busy = self.server.upload_in_progress(storage_index_b32)
        kept = []  # per share: (kept by original, by configured, actually kept, kind)
        freed = 0
        for name in names:
            if not (name.isdigit() and str(int(name)) == name):
                continue
            path = os.path.join(bucketdir, name)
            try:
                outcome, size = self._process_share(path, busy)
            except (UnknownContainerVersionError, struct.error, ValueError) as e:
                self.log.warn("lease checker: share {shnum} of {si} is not a share "
                              "container it can read: {why}", shnum=name,
                              si=storage_index_b32, why=str(e))
                so_far["corrupt-shares"].append([storage_index_b32, int(name)])
                continue
            except FileNotFoundError:
                continue  # gone since the bucket was listed
            kept.append(outcome)
            freed += size
        if freed:
            remove_empty_dirs(bucketdir, self.sharedir)
            self.server.note_bytes_freed(freed)
        recovered = so_far["space-recovered"]
        kind = kept[-1][3] if kept else None
        self._add(recovered, "examined-buckets", 1, kind)
        if not kept:
            return
        diskbytes = _disk_bytes(bucket_stat)
        for index, name in enumerate(("original", "configured", "actual")):
            if not any(k[index] for k in kept):
                self._add(recovered, name + "-buckets", 1, kind)
                self._add(recovered, name + "-diskbytes", diskbytes, kind)

    def _process_share(self, path: str, busy: bool):
        """Look at one share, remove its expired leases and delete it when
        none is left (as the policy allows).  Returns ((kept by original,
        kept by configured, actually kept, kind), bytes freed)."""
        share = open_share_file(path)
        kind = share_kind(share)
        st = os.stat(path)
        leases = share.get_leases()
        now = self.clock.seconds()
        policy = self.policy
        so_far = self.state["cycle-to-date"]
        valid_original = 0
        expired = []
        for lease in leases:
            age = now - (lease.expiration_time - LEASE_DURATION)
            low = int(age // DAY) * DAY
            self._add(so_far["lease-age-histogram"], "%d,%d" % (low, low + DAY), 1)
            if lease.expiration_time > now:
                valid_original += 1
            if policy.is_expired(lease, kind, now):
                expired.append(lease)
        self._add(so_far["leases-per-share-histogram"], str(len(leases)), 1)
        recovered = so_far["space-recovered"]
        self._add_share(recovered, "examined", st, kind)
        outcome = [1, 1, 1, kind]
        if valid_original == 0:
            outcome[0] = 0
            self._add_share(recovered, "original", st, kind)
        removable = kind in policy.sharetypes and len(expired) == len(leases)
        if removable:
            outcome[1] = 0
            self._add_share(recovered, "configured", st, kind)
        if not policy.enabled or busy or not expired and not removable:
            return tuple(outcome), 0
        remaining = share.remove_leases(expired)
        if remaining == 0 and removable:
            os.unlink(path)
            outcome[2] = 0
            self._add_share(recovered, "actual", st, kind)
            return tuple(outcome), st.st_size
        return tuple(outcome), 0

    @staticmethod
    def _add(counts: dict, key: str, delta, kind=None) -> None:
        counts[key] = counts.get(key, 0) + delta
        if kind is not None:
            counts["%s-%s" % (key, kind)] = counts.get("%s-%s" % (key, kind), 0) + delta

    def _add_share(self, recovered: dict, name: str, st, kind: str) -> None:
        self._add(recovered, name + "-shares", 1, kind)
        self._add(recovered, name + "-sharebytes", st.st_size, kind)
        self._add(recovered, name + "-diskbytes", _disk_bytes(st), kind)

    def finished_cycle(self, cycle) -> None:
        so_far = self.state["cycle-to-date"]
        self.history[str(cycle)] = {
            "cycle-start-finish-times": [self.state["current-cycle-start-time"],
                                         self.clock.seconds()],
            "expiration-enabled": self.policy.enabled,
            "configured-expiration-mode": self.policy.as_json(),
            "lease-age-histogram": _histogram_list(so_far["lease-age-histogram"]),
            "leases-per-share-histogram": dict(so_far["leases-per-share-histogram"]),
            "corrupt-shares": [list(x) for x in so_far["corrupt-shares"]],
            "space-recovered": dict(so_far["space-recovered"]),
        }
        for old in sorted(self.history, key=int)[:-HISTORY_CYCLES]:
            del self.history[old]
        save_json_state(self.historyfile, self.history)

    # ---- what the status page shows ---------------------------------------------------
    def get_state(self) -> dict:
        """The crawler state with Tahoe-LAFS 1.20's keys: the position,
        ``history`` ({cycle: summary}) and, during a cycle, ``cycle-to-date``,
        ``estimated-remaining-cycle`` and ``estimated-current-cycle``."""
        state = ShareCrawler.get_state(self)
        state["history"] = json_copy(self.history)
        progress = self.get_progress()
        so_far = state.pop("cycle-to-date")
        if not progress["cycle-in-progress"]:
            return state
        so_far["lease-age-histogram"] = _histogram_list(so_far["lease-age-histogram"])
        so_far["expiration-enabled"] = self.policy.enabled
        so_far["configured-expiration-mode"] = self.policy.as_json()
        state["cycle-to-date"] = so_far
        done = progress["cycle-complete-percentage"] / 100.0
        sr = so_far["space-recovered"]
        remaining, whole = {}, {}
        for key in empty_space_recovered():
            if done > 0:
                remaining[key] = sr[key] * (1 - done) / done
                whole[key] = sr[key] + remaining[key]
            else:
                remaining[key] = whole[key] = None
        state["estimated-remaining-cycle"] = {"space-recovered": remaining}
        state["estimated-current-cycle"] = {"space-recovered": whole}
        return state

