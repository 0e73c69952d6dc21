"""The storage server: RIStorageServer over the share files of one directory.

Directory layout under ``storedir`` (docs/specifications/containers.md §1)::

    shares/<b32(SI)[:2]>/<b32(SI)>/<shnum>            complete shares
    shares/incoming/<b32(SI)[:2]>/<b32(SI)>/<shnum>   immutable uploads in progress
    corruption-advisories/<time>--<type>-<b32(SI)>-<shnum>

One storage index holds either immutable shares (written through
:class:`~.immutable.BucketWriter`) or mutable ones (written by test-and-set,
docs/specifications/storage-protocol.md §4), never both: an allocation is
refused where mutable shares are, and a mutable write where immutable shares are or are being uploaded.  Incomplete
uploads left by a previous run are removed at start-up.

Every ``remote_*`` method checks the arguments its Foolscap schema cannot
check, so that in-process callers get the same clear errors, and checks
every bound of :mod:`.limits` (sizes, space, leases) before it changes
anything.
"""

import collections
import os
import shutil
import time
from time import perf_counter

import attr
from foolscap.api import Referenceable
from twisted.application import service
from twisted.logger import Logger
from zope.interface import implementer

from .. import __full_version__
from ..stats_interfaces import IStatsProducer
from ..util.default_reactor import default_reactor
from ..util.latencies import LatencySamples
from .common import (
    LEASE_DURATION, MAX_MUTABLE_SHARE_SIZE, AnswerTooLargeError, BadArgumentError,
    DataTooLargeError, LeaseLimitError, NoSpaceError, NoSuchLeaseError, ShareTypeError,
    check_bytes, check_offset, check_read_vector, check_secret, check_sharenum,
    check_storage_index, remove_empty_dirs, si_str, storage_index_to_dir,
)
from .bucket_counter import BucketCounter
from .expirer import ExpirationPolicy, LeaseChecker
from .immutable import BucketReader, BucketWriter, ImmutableShareFile
from .interfaces import MAX_BUCKETS, RIStorageServer
from .lease import OWNER_ALLOCATE, OWNER_CLIENT
from .limits import (
    MAX_ADVISORIES_PER_SHARE, MAX_CALL_SHARE_DATA, MAX_CORRUPTION_REASON, MAX_LEASES_PER_SHARE,
    MAX_VECTORS, connection_may_promise,
)
from .mutable import (
    DATA_OFFSET, MutableShareFile, check_data_vector, check_test_vector, empty_share_passes,
)
from .shares import open_share_file
from .space import get_disk_stats

STORAGE_PROTOCOL_V1 = b"http://allmydata.org/tahoe/protocols/storage/v1"
MY_VERSION = __full_version__.encode("ascii")
#: what get_versions() (the 2008 call) names as the oldest peer we serve
OLDEST_SUPPORTED_VERSION = b"1.0.0"
SHARE_TYPES = (b"immutable", b"mutable")
#: a new mutable container before its data: header, lease slots, extra-lease count
MUTABLE_CONTAINER_OVERHEAD = DATA_OFFSET + 4
#: the operations whose durations are sampled (Tahoe-LAFS's latency categories)
LATENCY_CATEGORIES = ("allocate", "write", "close", "read", "get", "writev", "readv",
                      "add-lease", "renew", "cancel")


@implementer(RIStorageServer, IStatsProducer)
class StorageServer(service.MultiService, Referenceable):
    """A storage server, served as-is over Foolscap (``tub.registerReference``).

    * ``storedir``: the node's ``storage`` directory (created if missing).
    * ``nodeid``: this server's 20-byte binary tubid; it goes into mutable
      containers and their leases, and into BadWriteEnablerError messages.
    * ``reserved_space``: bytes of free disk never promised to uploads.
    * ``readonly_storage``: accept no new immutable shares (mutable writes
      and lease operations still work, as in Tahoe-LAFS).
    * ``stats_provider``: an ``allmydata.stats.StatsProvider``; operations
      are counted there as ``storage_server.<op>`` and :meth:`get_stats`
      is registered as a producer.  Whether or not there is one, the
      duration of every call that succeeds is sampled in ``latencies``
      (``storage_server.latencies.*`` in :meth:`get_stats`).
    * ``clock``: an ``IReactorTime`` for lease times and writer timeouts
      (the global reactor if None).
    * ``disk_stats``: ``path -> space.DiskStats``; the real disk if None.
    * ``expiration_policy``: an :class:`~.expirer.ExpirationPolicy` for the
      lease checker (default: expiry disabled, age mode).
    * ``crawler_pace``: ``{field: value}`` of :class:`~.crawler.CrawlerPace`
      that replace those of both crawlers' default paces (tests and
      ``[storage] crawler.*`` use ``slow_start`` and ``minimum_cycle_time``).

    Two crawlers are child services: ``lease_checker``
    (:class:`~.expirer.LeaseChecker`, state in ``lease_checker.state.json``
    and ``lease_checker.history.json``) and ``bucket_counter``
    (:class:`~.bucket_counter.BucketCounter`, ``bucket_counter.state.json``),
    both in ``storedir``.
    """

    name = "storage"
    log = Logger()

    def __init__(self, storedir: str, nodeid: bytes, reserved_space: int = 0,
                 readonly_storage: bool = False, stats_provider=None, clock=None,
                 disk_stats=None, expiration_policy: ExpirationPolicy | None = None,
                 crawler_pace: dict | None = None):
        service.MultiService.__init__(self)
        if not isinstance(nodeid, bytes) or len(nodeid) != 20:
            raise BadArgumentError("the server's nodeid is its 20-byte binary tubid")
        if clock is None:
            clock = default_reactor()
        self.storedir = os.path.abspath(storedir)
        self.sharedir = os.path.join(self.storedir, "shares")
        self.incomingdir = os.path.join(self.sharedir, "incoming")
        self.corruption_advisory_dir = os.path.join(self.storedir, "corruption-advisories")
        self.nodeid = nodeid
        self.reserved_space = int(reserved_space)
        self.readonly_storage = bool(readonly_storage)
        self._stats_provider = stats_provider
        self.latencies = LatencySamples(LATENCY_CATEGORIES)
        self._record = {op: self.latencies.recorder(op) for op in LATENCY_CATEGORIES}
        self._clock = clock
        self._disk_stats = disk_stats or get_disk_stats
        self._active_writers = {}  # incoming path -> BucketWriter
        self._incoming_dirs = collections.Counter()  # incoming SI dir -> active writers
        self._canaries = {}  # uploader's Tub ID -> (its latest canary, disconnect marker)
        self._writers_of = {}  # connection (see _connection_of) -> its active BucketWriters
        os.makedirs(self.sharedir, exist_ok=True)
        shutil.rmtree(self.incomingdir, ignore_errors=True)  # uploads cut off by a restart
        os.makedirs(self.incomingdir)
        pace = crawler_pace or {}
        self.bucket_counter = BucketCounter(
            self, os.path.join(self.storedir, "bucket_counter.state.json"), clock,
            attr.evolve(BucketCounter.default_pace, **pace))
        self.bucket_counter.setServiceParent(self)
        self.lease_checker = LeaseChecker(
            self, os.path.join(self.storedir, "lease_checker.state.json"),
            os.path.join(self.storedir, "lease_checker.history.json"), clock,
            expiration_policy, attr.evolve(LeaseChecker.default_pace, **pace))
        self.lease_checker.setServiceParent(self)
        if stats_provider is not None:
            stats_provider.register_producer(self)

    def __repr__(self):
        return "<StorageServer %s>" % self.storedir

    def stopService(self):
        for writer in list(self._active_writers.values()):
            writer.stop_timer()
        self._canaries.clear()
        return service.MultiService.stopService(self)

    # ---- accounting ---------------------------------------------------------------
    def _count(self, name: str, delta: int = 1) -> None:
        if self._stats_provider is not None:
            self._stats_provider.count("storage_server." + name, delta)

    def get_available_space(self) -> int:
        """Bytes we may still fill: free disk minus the reserve; 0 if read-only."""
        if self.readonly_storage:
            return 0
        free = self._disk_stats(self.sharedir).free_for_nonroot
        return max(0, free - self.reserved_space)

    def allocated_size(self) -> int:
        """Space allocated to uploads still in progress."""
        return sum(w.allocated_size for w in self._active_writers.values())

    def promised_space(self) -> int:
        """Space allocated to uploads in progress and not written yet (what
        is written already shows in the disk's free space)."""
        return sum(w.unwritten for w in self._active_writers.values())

    def _space_for_mutable_growth(self) -> int:
        """Bytes mutable shares may still grow by: free disk above the
        reserve, less what uploads were promised.  Read-only storage does
        not stop mutable writes (as in Tahoe-LAFS), the reserve does."""
        free = self._disk_stats(self.sharedir).free_for_nonroot
        return max(0, free - self.reserved_space - self.promised_space())

    @staticmethod
    def _connection_of(canary):
        """What identifies the connection an upload is tied to: the Foolscap
        broker its canary came through, or (an in-process caller) the
        canary itself."""
        tracker = getattr(canary, "tracker", None)
        broker = getattr(tracker, "broker", None)
        return broker if broker is not None else canary

    def get_stats(self) -> dict:
        disk = self._disk_stats(self.sharedir)
        avail = self.get_available_space()
        stats = {
            "storage_server.allocated": self.allocated_size(),
            "storage_server.active_uploads": len(self._active_writers),
            "storage_server.reserved_space": self.reserved_space,
            "storage_server.disk_total": disk.total,
            "storage_server.disk_used": disk.used,
            "storage_server.disk_free_for_root": disk.free_for_root,
            "storage_server.disk_free_for_nonroot": disk.free_for_nonroot,
            "storage_server.disk_avail": avail,
            "storage_server.accepting_immutable_shares":
                int(not self.readonly_storage and avail > 0),
        }
        buckets = self.bucket_counter.get_bucket_count()
        if buckets:
            stats["storage_server.total_bucket_count"] = buckets
        stats.update(self.latencies.stats("storage_server.latencies"))
        return stats

    def _writer_finished(self, writer: BucketWriter, closed: bool) -> None:
        held = self._writers_of.get(writer.connection)
        if held is not None:
            held.discard(writer)
            if not held:
                del self._writers_of[writer.connection]
        if self._active_writers.pop(writer.incoming_path, None) is not None:
            d = os.path.dirname(writer.incoming_path)
            self._incoming_dirs[d] -= 1
            if self._incoming_dirs[d] <= 0:
                del self._incoming_dirs[d]
        if closed:
            size = writer.share_file_size()
            if size is None:
                final = os.path.join(self._bucket_dir(writer.storage_index), str(writer.shnum))
                size = os.path.getsize(final)
            self._count("bytes_added", size)

    def upload_in_progress(self, storage_index_b32: str) -> bool:
        """Whether shares of this storage index (base32) are being uploaded."""
        return self._incoming_dirs.get(
            os.path.join(self.incomingdir, storage_index_b32[:2], storage_index_b32), 0) > 0

    def note_bytes_freed(self, n: int) -> None:
        """Count share bytes deleted by the lease checker."""
        self._count("bytes_freed", n)

    def _others_incoming(self, writer: BucketWriter) -> bool:
        """Whether other writers still fill shares in ``writer``'s incoming
        directory (then it is not empty: no need to try removing it)."""
        return self._incoming_dirs.get(os.path.dirname(writer.incoming_path), 0) > 1

    # ---- paths and share files ----------------------------------------------------
    def _bucket_dir(self, storage_index: bytes) -> str:
        return os.path.join(self.sharedir, storage_index_to_dir(storage_index))

    def _share_paths(self, storage_index: bytes) -> list:
        """[(shnum, path)] of the complete shares of a storage index."""
        bucketdir = self._bucket_dir(storage_index)
        try:
            names = os.listdir(bucketdir)
        except FileNotFoundError:
            return []
        found = [(int(n), os.path.join(bucketdir, n)) for n in names
                 if n.isdigit() and str(int(n)) == n]
        return sorted(found)

    def _share_files(self, storage_index: bytes) -> list:
        return [(shnum, path, open_share_file(path))
                for shnum, path in self._share_paths(storage_index)]

    def _expiration(self) -> int:
        return int(self._clock.seconds()) + LEASE_DURATION

    def _delete_share(self, path: str) -> int:
        size = os.path.getsize(path)
        os.unlink(path)
        return size

    # ---- version ------------------------------------------------------------------
    def remote_get_versions(self):
        return (MY_VERSION, OLDEST_SUPPORTED_VERSION)

    def remote_get_version(self):
        available = self.get_available_space()
        # the most an uploader that holds nothing yet may be promised
        largest = max(0, available - self.promised_space()) // 2
        return {
            STORAGE_PROTOCOL_V1: {
                b"maximum-immutable-share-size": largest,
                b"maximum-mutable-share-size": MAX_MUTABLE_SHARE_SIZE,
                b"available-space": available,
                b"tolerates-immutable-read-overrun": True,
                b"delete-mutable-shares-with-zero-length-writev": True,
                b"fills-holes-with-zero-bytes": True,
                b"prevents-read-past-end-of-share-data": True,
            },
            b"application-version": MY_VERSION,
        }

    # ---- immutable shares ---------------------------------------------------------
    def remote_allocate_buckets(self, storage_index, renew_secret, cancel_secret,
                                sharenums, allocated_size, canary):
        start = perf_counter()
        check_storage_index(storage_index)
        check_secret("renew secret", renew_secret)
        check_secret("cancel secret", cancel_secret)
        if not isinstance(sharenums, (set, frozenset, list, tuple)):
            raise BadArgumentError("sharenums is a set of share numbers")
        wanted = sorted({check_sharenum(n) for n in sharenums})
        check_offset("allocated_size", allocated_size)
        self._count("allocate")
        expiration = self._expiration()

        held = self._share_files(storage_index)
        if any(isinstance(share, MutableShareFile) for _, _, share in held):
            raise ShareTypeError(
                "storage index %s holds mutable shares; immutable shares cannot be "
                "allocated beside them" % si_str(storage_index))
        alreadygot = set()
        for shnum, path, share in held:
            alreadygot.add(shnum)
            self._add_or_renew_kept(share, OWNER_ALLOCATE, renew_secret, cancel_secret,
                                    expiration)

        connection = self._connection_of(canary)
        mine = self._writers_of.get(connection, ())
        mine_unwritten = sum(w.unwritten for w in mine)
        others_room = self.get_available_space() - (self.promised_space() - mine_unwritten)
        sidir = storage_index_to_dir(storage_index)
        writers = {}
        for shnum in wanted:
            incoming = os.path.join(self.incomingdir, sidir, str(shnum))
            if shnum in alreadygot or os.path.exists(incoming):
                continue  # complete here, or someone else is uploading it
            if self.readonly_storage or not connection_may_promise(
                    mine_unwritten, allocated_size, others_room):
                self.log.info("no room for share {shnum} of {si} ({size} bytes)",
                              shnum=shnum, si=si_str(storage_index), size=allocated_size)
                continue
            share = ImmutableShareFile.create(
                incoming, allocated_size,
                lease=(OWNER_ALLOCATE, renew_secret, cancel_secret, expiration))
            writer = BucketWriter(self, share, os.path.join(self.sharedir, sidir, str(shnum)),
                                  storage_index, shnum, self._clock)
            writer.connection = connection
            self._writers_of.setdefault(connection, set()).add(writer)
            self._active_writers[incoming] = writer
            self._incoming_dirs[os.path.dirname(incoming)] += 1
            writers[shnum] = writer
            mine_unwritten += allocated_size

        if getattr(canary, "notifyOnDisconnect", None) is not None:
            try:
                for writer in writers.values():
                    writer.watch_canary(canary)
            except Exception:
                for writer in writers.values():
                    writer._discard("the canary could not be watched")
                raise
            self._keep_canary(canary)
        self._record["allocate"](perf_counter() - start)
        return alreadygot, writers

    def _add_or_renew_kept(self, share, owner_num, renew_secret, cancel_secret,
                           expiration) -> None:
        """Renew this client's lease on a share it writes or uploads again, or
        add one; a share that holds as many leases as it may keeps its data
        and its other leases (the write or allocation still succeeds)."""
        try:
            if isinstance(share, MutableShareFile):
                share.add_or_renew_lease(owner_num, renew_secret, cancel_secret, expiration,
                                         self.nodeid)
            else:
                share.add_or_renew_lease(owner_num, renew_secret, cancel_secret, expiration)
        except LeaseLimitError as e:
            self.log.info("no lease added: {why}", why=str(e))

    def _keep_canary(self, canary) -> None:
        """Hold on to the latest canary of each uploader until its connection
        goes.  An uploader that sends the same canary with every upload (ours
        does) then costs no decref message per upload; one that sends a new
        canary each time gets its previous one released here."""
        try:
            tubid = canary.getRemoteTubID()
        except Exception:  # not a remote reference (a local caller)
            return
        held = self._canaries.get(tubid)
        if held is not None:
            if held[0] is canary:
                return
            try:
                held[0].dontNotifyOnDisconnect(held[1])
            except Exception:
                pass
        try:
            marker = canary.notifyOnDisconnect(self._forget_canary, tubid, canary)
        except Exception:
            self._canaries.pop(tubid, None)
            return
        self._canaries[tubid] = (canary, marker)

    def _forget_canary(self, tubid, canary) -> None:
        held = self._canaries.get(tubid)
        if held is not None and held[0] is canary:
            del self._canaries[tubid]

    def remote_get_buckets(self, storage_index):
        start = perf_counter()
        check_storage_index(storage_index)
        self._count("get")
        readers = {shnum: BucketReader(self, share, storage_index, shnum)
                   for shnum, path, share in self._share_files(storage_index)
                   if isinstance(share, ImmutableShareFile)}
        self._record["get"](perf_counter() - start)
        return readers

    # ---- leases -------------------------------------------------------------------
    def remote_add_lease(self, storage_index, renew_secret, cancel_secret):
        start = perf_counter()
        check_storage_index(storage_index)
        check_secret("renew secret", renew_secret)
        check_secret("cancel secret", cancel_secret)
        self._count("add-lease")
        expiration = self._expiration()
        shares = self._share_files(storage_index)
        for shnum, path, share in shares:
            if share.lease_count() >= MAX_LEASES_PER_SHARE and not share.has_lease(renew_secret):
                raise LeaseLimitError(
                    "share %d of storage index %s already holds %d leases, as many as a share "
                    "may; no lease was added" % (shnum, si_str(storage_index),
                                                 MAX_LEASES_PER_SHARE))
        for shnum, path, share in shares:
            if isinstance(share, MutableShareFile):
                share.add_or_renew_lease(OWNER_CLIENT, renew_secret, cancel_secret,
                                         expiration, self.nodeid)
            else:
                share.add_or_renew_lease(OWNER_CLIENT, renew_secret, cancel_secret, expiration)
        self._record["add-lease"](perf_counter() - start)
        return None

    def remote_renew_lease(self, storage_index, renew_secret):
        start = perf_counter()
        check_storage_index(storage_index)
        check_secret("renew secret", renew_secret)
        self._count("renew")
        expiration = self._expiration()
        renewed = [share.renew_lease(renew_secret, expiration)
                   for shnum, path, share in self._share_files(storage_index)]
        if not any(renewed):
            raise NoSuchLeaseError(
                "no such lease to renew: no share of storage index %s on this server holds "
                "a lease with that renew secret" % si_str(storage_index))
        self._record["renew"](perf_counter() - start)
        return None

    def remote_cancel_lease(self, storage_index, cancel_secret):
        start = perf_counter()
        check_storage_index(storage_index)
        check_secret("cancel secret", cancel_secret)
        self._count("cancel")
        removed_any = False
        freed = 0
        for shnum, path, share in self._share_files(storage_index):
            size = os.path.getsize(path)
            removed, remaining = share.cancel_lease(cancel_secret)
            if removed:
                removed_any = True
                if remaining == 0:
                    os.unlink(path)
                    freed += size
        if freed:
            remove_empty_dirs(self._bucket_dir(storage_index), self.sharedir)
            self._count("bytes_freed", freed)
        if not removed_any:
            raise NoSuchLeaseError(
                "no such lease to cancel: no share of storage index %s on this server holds "
                "a lease with that cancel secret" % si_str(storage_index))
        self._record["cancel"](perf_counter() - start)
        return None

    # ---- mutable shares -----------------------------------------------------------
    def _mutable_shares(self, storage_index: bytes) -> tuple[dict, set]:
        """({shnum: MutableShareFile}, shnums of immutable shares beside
        them).  A storage index of immutable shares only is refused.  Both
        kinds together are what a server that let immutable shares be
        planted beside mutable ones may still hold: the mutable shares stay
        readable and writable, the others' share numbers are off limits."""
        shares, others = {}, set()
        for shnum, path, share in self._share_files(storage_index):
            if isinstance(share, MutableShareFile):
                shares[shnum] = share
            else:
                others.add(shnum)
        if others and not shares:
            raise ShareTypeError(
                "storage index %s holds immutable shares; slot operations apply to "
                "mutable shares only" % si_str(storage_index))
        return shares, others

    def remote_slot_readv(self, storage_index, shares, readv):
        start = perf_counter()
        check_storage_index(storage_index)
        if not isinstance(shares, (list, tuple, set, frozenset)):
            raise BadArgumentError("shares is a list of share numbers (empty for all)")
        if len(shares) > MAX_BUCKETS:
            raise BadArgumentError("shares lists at most %d share numbers" % MAX_BUCKETS)
        wanted = {check_sharenum(n) for n in shares}
        readv = _check_read_vector(readv)
        self._count("readv")
        mutable, _others = self._mutable_shares(storage_index)
        chosen = {shnum: share for shnum, share in mutable.items()
                  if not wanted or shnum in wanted}
        _check_answer_size(storage_index, chosen, readv)
        answer = {shnum: share.readv(readv) for shnum, share in chosen.items()}
        self._record["readv"](perf_counter() - start)
        return answer

    def remote_slot_testv_and_readv_and_writev(self, storage_index, secrets, tw_vectors,
                                               r_vector):
        start = perf_counter()
        check_storage_index(storage_index)
        if not isinstance(secrets, (list, tuple)) or len(secrets) != 3:
            raise BadArgumentError("secrets is (write_enabler, renew_secret, cancel_secret)")
        write_enabler, renew_secret, cancel_secret = secrets
        check_secret("write enabler", write_enabler)
        check_secret("renew secret", renew_secret)
        check_secret("cancel secret", cancel_secret)
        tw_vectors = _check_tw_vectors(tw_vectors)
        r_vector = _check_read_vector(r_vector)
        self._count("writev")

        if self._incoming_dirs.get(os.path.join(self.incomingdir,
                                                storage_index_to_dir(storage_index))):
            raise ShareTypeError(
                "storage index %s has immutable shares being uploaded; slot operations apply "
                "to mutable shares only" % si_str(storage_index))
        shares, others = self._mutable_shares(storage_index)
        if others & set(tw_vectors):
            raise ShareTypeError(
                "share(s) %s of storage index %s are immutable; slot operations apply to "
                "mutable shares only" % (sorted(others & set(tw_vectors)),
                                         si_str(storage_index)))
        for share in shares.values():
            share.check_write_enabler(write_enabler)
        _check_answer_size(storage_index, shares, r_vector)
        passed = all(shares[shnum].passes_test_vector(testv) if shnum in shares
                     else empty_share_passes(testv)
                     for shnum, (testv, _, _) in tw_vectors.items())
        read_data = {shnum: share.readv(r_vector) for shnum, share in shares.items()}
        if passed:
            self._check_growth(storage_index, shares, tw_vectors, renew_secret)
            self._apply_writes(storage_index, shares, tw_vectors, secrets)
        self._record["writev"](perf_counter() - start)
        return passed, read_data

    def _check_growth(self, storage_index, shares, tw_vectors, renew_secret) -> None:
        """Refuse writes that would grow the shares by more than the space
        left above the reserve (nothing is changed then).  A new share's
        lease goes into one of its slots; an old share may need a record
        more for this client's lease."""
        growth = 0
        for shnum, (_testv, datav, new_length) in tw_vectors.items():
            if new_length == 0:
                continue
            if shnum in shares:
                growth += shares[shnum].growth(datav) + shares[shnum].lease_growth(renew_secret)
            else:
                end = max([0] + [offset + len(data) for offset, data in datav])
                growth += MUTABLE_CONTAINER_OVERHEAD + end
        if growth <= 0:
            return
        room = self._space_for_mutable_growth()
        if growth > room:
            raise NoSpaceError(
                "this write would grow the shares of storage index %s by %d bytes, and this "
                "server has %d bytes left above its reserve; nothing was written"
                % (si_str(storage_index), growth, room))

    def _apply_writes(self, storage_index, shares, tw_vectors, secrets) -> None:
        write_enabler, renew_secret, cancel_secret = secrets
        bucketdir = self._bucket_dir(storage_index)
        expiration = self._expiration()
        added = freed = 0
        for shnum in sorted(tw_vectors):
            _testv, datav, new_length = tw_vectors[shnum]
            path = os.path.join(bucketdir, str(shnum))
            if new_length == 0:
                if shnum in shares:
                    freed += self._delete_share(path)
                continue
            if shnum in shares:
                share = shares[shnum]
                before = share.container_size()
            else:
                share = MutableShareFile.create(path, self.nodeid, write_enabler)
                before = 0
            share.writev(datav, new_length)
            self._add_or_renew_kept(share, OWNER_CLIENT, renew_secret, cancel_secret, expiration)
            added += share.container_size() - before
        if added:
            self._count("bytes_added", added)
        if freed:
            remove_empty_dirs(bucketdir, self.sharedir)
            self._count("bytes_freed", freed)

    # ---- corruption reports -------------------------------------------------------
    def remote_advise_corrupt_share(self, share_type, storage_index, shnum, reason):
        if share_type not in SHARE_TYPES:
            raise BadArgumentError("share_type is b'immutable' or b'mutable', got %r"
                                   % (share_type,))
        check_storage_index(storage_index)
        check_sharenum(shnum)
        check_bytes("reason", reason)
        if len(reason) > MAX_CORRUPTION_REASON:
            raise BadArgumentError("a corruption report's reason is at most %d bytes, got %d"
                                   % (MAX_CORRUPTION_REASON, len(reason)))
        self._count("advise-corrupt")
        si_s = si_str(storage_index)
        if not os.path.exists(os.path.join(self._bucket_dir(storage_index), str(shnum))):
            self.log.info("ignoring corruption report for share {shnum} of {si}: not held here",
                          shnum=shnum, si=si_s)
            return None
        os.makedirs(self.corruption_advisory_dir, exist_ok=True)
        suffix = "--%s-%s-%d" % (share_type.decode("ascii"), si_s, shnum)
        kept = [n for n in os.listdir(self.corruption_advisory_dir)
                if n.endswith(suffix) or (suffix + ".") in n]
        if len(kept) >= MAX_ADVISORIES_PER_SHARE:
            self.log.warn("client reports corrupt {kind} share {shnum} of {si} again; "
                          "{n} reports are kept already", kind=share_type.decode("ascii"),
                          shnum=shnum, si=si_s, n=len(kept))
            return None
        now = self._clock.seconds()
        stamp = time.strftime("%Y-%m-%dT%H%M%S", time.gmtime(now)) + ".%06dZ" % (
            int(now * 1_000_000) % 1_000_000)
        kind = share_type.decode("ascii")
        base = os.path.join(self.corruption_advisory_dir,
                            "%s--%s-%s-%d" % (stamp, kind, si_s, shnum))
        path, n = base, 1
        while os.path.exists(path):
            path, n = "%s.%d" % (base, n), n + 1
        with open(path, "w", encoding="utf-8") as f:
            f.write("report: Share Corruption\n"
                    "type: %s\nstorage_index: %s\nshare_number: %d\n\n%s\n"
                    % (kind, si_s, shnum, reason.decode("utf-8", "backslashreplace")))
        self.log.warn("client reports corrupt {kind} share {shnum} of {si}: {reason}",
                      kind=kind, shnum=shnum, si=si_s,
                      reason=reason[:200].decode("utf-8", "backslashreplace"))
        return None


def _check_tw_vectors(tw_vectors) -> dict:
    if not isinstance(tw_vectors, dict):
        raise BadArgumentError("tw_vectors is a dict {shnum: (testv, datav, new_length)}")
    out = {}
    for shnum, value in tw_vectors.items():
        check_sharenum(shnum)
        if not isinstance(value, (list, tuple)) or len(value) != 3:
            raise BadArgumentError(
                "tw_vectors[%d] must be (testv, datav, new_length)" % shnum)
        testv, datav, new_length = value
        if new_length is not None:
            check_offset("new_length", new_length)
        out[shnum] = (check_test_vector(testv), check_data_vector(datav), new_length)
    total = sum(len(data) for _testv, datav, _n in out.values() for _offset, data in datav)
    if total > MAX_CALL_SHARE_DATA:
        raise DataTooLargeError(
            "one call writes at most %d bytes of share data, got %d; nothing was written"
            % (MAX_CALL_SHARE_DATA, total))
    return out


def _check_read_vector(readv) -> list:
    readv = check_read_vector(readv)
    if len(readv) > MAX_VECTORS:
        raise BadArgumentError("a read vector has at most %d entries, got %d"
                               % (MAX_VECTORS, len(readv)))
    return readv


def _check_answer_size(storage_index, shares: dict, readv) -> None:
    """Refuse, before reading anything, reads whose answer would carry more
    than one call may (reads past the end of a share count what they
    return)."""
    total = sum(share.answer_size(readv) for share in shares.values())
    if total > MAX_CALL_SHARE_DATA:
        raise AnswerTooLargeError(
            "this read of the shares of storage index %s would answer %d bytes, more than "
            "one call may carry (%d); read them in parts"
            % (si_str(storage_index), total, MAX_CALL_SHARE_DATA))
