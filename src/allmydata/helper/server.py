"""The upload helper: encodes and places the shares of its clients' CHK uploads.

A client that has a helper encrypts its file and asks the helper
``upload_chk(storage_index)``.  :class:`Helper` (``RIHelper``) first asks the
storage servers whether the file is already stored
(:func:`.existence.find_stored`); if so it answers the results at once and
no ciphertext moves.  Otherwise it answers a :class:`HelperUpload`
(``RICHKUploadHelper``, one per storage index, shared by every client
uploading that file at the same time), on which the client calls
``upload(reader)``.  The helper then

1. reads the size and encoding parameters from the reader and checks them
   against its bounds (:func:`.fetcher.check_encoding_parameters`) before
   anything else;
2. fetches the ciphertext it does not have yet into
   ``helper/CHK_incoming/<si>`` (:mod:`.fetcher`, :mod:`.incoming`); when the
   reader fails, it goes on with the next client's reader of the same file,
   if there is one, and otherwise the partial file waits for the upload to
   be started again;
3. meanwhile chooses servers (servers-of-happiness) and encodes and places
   the shares (:func:`.push.encode_and_push`, the uploader's own code),
   reading the file one segment at a time as the fetch fills it; the
   complete file is moved to ``helper/CHK_encoding/<si>``, from which an
   upload whose encoding failed starts again without a fetch;
4. removes the spool file and answers :class:`HelperUploadResults`.

Each upload's :class:`UploadStatus` goes to the node's history; the
``chk_upload_helper.*`` counters and spool statistics of Tahoe-LAFS come
from :meth:`Helper.get_stats`.  Old spool files are removed when the helper
starts and every :data:`CLEAN_INTERVAL` seconds.
"""

from __future__ import annotations

import time

from foolscap.api import Referenceable
from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from .. import __full_version__
from .. import uri as urimod
from ..immutable.push import encode_and_push
from ..immutable.upload import UploadStatus
from ..stats_interfaces import IStatsProducer
from ..util import base32
from ..util.default_reactor import default_reactor
from ..util.rrefutil import call_remote
from .existence import find_stored
from .fetcher import (
    MAX_FILE_SIZE, READ_TIMEOUT, CiphertextFetcher, LocalCiphertextReader, ReaderError,
    check_encoding_parameters, check_size,
)
from .incoming import CiphertextSpool
from .interfaces import HELPER_V1, HelperUploadResults, RICHKUploadHelper, RIHelper

__all__ = ["Helper", "HelperUpload", "HelperBusyError", "CLEAN_INTERVAL",
           "MAX_ACTIVE_UPLOADS", "MAX_READERS", "CHK_UPLOAD_V1", "IDLE_TIMEOUT"]

log = Logger()

#: the version key of the per-file upload object (Tahoe-LAFS's name)
CHK_UPLOAD_V1 = b"http://allmydata.org/tahoe/protocols/helper/chk-upload/v1"
#: seconds between two cleanings of the spool
CLEAN_INTERVAL = 3600.0
#: uploads the helper runs at once (more are refused until one ends)
MAX_ACTIVE_UPLOADS = 50
#: existence checks run at once (each asks every server)
MAX_CHECKS = 20
#: existence checks waiting for their turn (more are refused)
MAX_WAITING_CHECKS = 1000
#: seconds an upload object waits for its first ``upload()`` call
IDLE_TIMEOUT = 300.0
#: clients' readers one upload keeps at once (the first is used, the others wait)
MAX_READERS = 10

COUNTERS = ("upload_requests", "upload_already_present", "upload_need_upload", "resumes",
            "fetched_bytes", "encoded_bytes")


class HelperBusyError(Exception):
    """The helper runs as many uploads as it accepts at once."""


def _si(storage_index: bytes) -> str:
    return base32.b2a(storage_index).decode("ascii")[:10]


def _version() -> bytes:
    return __full_version__.encode("utf-8")


def _share_maps(sharemap: dict) -> tuple:
    """``(sharemap, servermap)`` of the results: {shnum: set(serverid)} and
    {serverid: set(shnum)}, fresh sets."""
    shares = {shnum: set(ids) for shnum, ids in sharemap.items()}
    servers = {}
    for shnum, ids in shares.items():
        for serverid in ids:
            servers.setdefault(serverid, set()).add(shnum)
    return shares, servers


def _as_failure(e) -> Failure:
    return e if isinstance(e, Failure) else Failure(e)


@implementer(RICHKUploadHelper)
class HelperUpload(Referenceable):
    """The upload of one storage index: fetch, encode, place (see the
    module docstring).  Every ``upload(reader)`` call gets the same results,
    or the reason its own reader was given up on."""

    def __init__(self, helper: "Helper", storage_index: bytes):
        self._helper = helper
        self.storage_index = storage_index
        self.status = s = UploadStatus()
        s.set_storage_index(storage_index)
        s.set_helper(False)
        s.set_progress(0, 1.0)  # the client computed the key; nothing to hash here
        s.set_status("Waiting for the client's ciphertext source")
        self._readers = []      # [(rref, Deferred of its upload() call, checked)]
        self._started = False
        self._finished = False
        self._size = None
        self._params = None
        self._last_problem = None
        self.ciphertext_fetched = 0
        self._idle = helper.clock.callLater(IDLE_TIMEOUT, self._expire)

    def __repr__(self):
        return "<HelperUpload %s>" % _si(self.storage_index)

    # ---- RICHKUploadHelper ---------------------------------------------------------------
    def remote_get_version(self):
        return {CHK_UPLOAD_V1: {}, b"application-version": _version()}

    def remote_upload(self, reader):
        d = defer.Deferred()
        if self._finished:
            d.errback(ReaderError("this upload has ended; ask the helper again"))
            return d
        if len(self._readers) >= MAX_READERS:
            d.errback(HelperBusyError("%d clients are sending this file already"
                                      % len(self._readers)))
            return d
        self._readers.append([reader, d, False])
        if not self._started:
            self._started = True
            if self._idle.active():
                self._idle.cancel()
            defer.ensureDeferred(self._run())
        return d

    def _expire(self) -> None:
        """No client called ``upload()`` in time: this upload ends (what is
        spooled for its storage index stays for a later one)."""
        if self._started or self._finished:
            return
        self._finished = True
        self.status.set_status("Ended: no client sent its ciphertext source")
        self._helper._upload_finished(self, 0)

    def cancel_timer(self) -> None:
        if self._idle.active():
            self._idle.cancel()

    # ---- the readers ---------------------------------------------------------------------
    def _drop(self, reader, reason) -> None:
        """Give up on ``reader``: its upload() call fails with ``reason``."""
        for entry in self._readers:
            if entry[0] is reader:
                self._readers.remove(entry)
                self._last_problem = reason
                log.info("helper upload {si}: a client's ciphertext source was given up: "
                         "{why}", si=_si(self.storage_index), why=reason)
                if not entry[1].called:
                    entry[1].errback(_as_failure(reason))
                return

    async def _call(self, reader, name, *args):
        d = defer.maybeDeferred(call_remote, reader, name, *args)
        d.addTimeout(READ_TIMEOUT, self._helper.clock)
        return await d

    async def _next_reader(self):
        """The first reader whose size and parameters are known to be those
        of this upload (the first one sets them)."""
        while self._readers:
            entry = self._readers[0]
            reader = entry[0]
            if entry[2]:
                return reader
            try:
                size = check_size(await self._call(reader, "get_size"),
                                  self._helper.max_file_size)
                params = check_encoding_parameters(
                    await self._call(reader, "get_all_encoding_parameters"))
                if self._size is not None and (size, params) != (self._size, self._params):
                    raise ReaderError("this client announces size %d and parameters %r, the "
                                      "upload of this file in progress has %d and %r"
                                      % (size, params, self._size, self._params))
            except Exception as e:
                self._drop(reader, e)
                continue
            if self._size is None:
                self._size, self._params = size, params
            entry[2] = True
            return reader
        raise ReaderError("no client is left to send the ciphertext (last problem: %s)"
                          % (self._last_problem,))

    # ---- the work ------------------------------------------------------------------------
    async def _run(self):
        try:
            results = await self._upload()
        except Exception as e:
            self.status.set_status("Failed: %s" % (e,))
            log.info("helper upload {si} failed: {why}", si=_si(self.storage_index), why=e)
            outcome = _as_failure(e)
        else:
            self.status.set_status("Finished")
            self.status.set_results(results)
            outcome = results
        self._finished = True
        waiters = [entry[1] for entry in self._readers]
        self._readers = []
        self._helper._upload_finished(self, self._size if not isinstance(outcome, Failure)
                                      else 0)
        for d in waiters:
            if not d.called:
                if isinstance(outcome, Failure):
                    d.errback(outcome)
                else:
                    d.callback(outcome)

    async def _upload(self) -> HelperUploadResults:
        helper, si, status = self._helper, self.storage_index, self.status
        started = time.perf_counter()
        await self._next_reader()
        size, params = self._size, self._params
        status.set_size(size)
        spool = helper.spool
        complete, have = spool.have(si)
        if (complete and have != size) or (not complete and have > size):
            # what is on disk is not this file's ciphertext: start afresh
            spool.remove(si)
            complete, have = False, 0
        fetcher = fetching = None
        if complete:
            reader = LocalCiphertextReader(spool.encoding_path(si), si, size, params, size)
        else:
            if have:
                helper.count("resumes")
            spool.claim(si, size - have, active=helper.active_storage_indexes())
            status.set_progress(1, have / size)
            path = spool.incoming_path(si)
            open(path, "ab").close()
            reader = LocalCiphertextReader(path, si, size, params, have)

            def fetched(n):
                self.ciphertext_fetched += n
                helper.count("fetched_bytes", n)
                status.set_progress(1, fetcher.have / size)
                reader.grew(fetcher.have)
            fetcher = CiphertextFetcher(path, size, have, self._next_reader, self._drop,
                                        helper.clock, on_bytes=fetched)
            fetching = defer.ensureDeferred(self._fetch(fetcher, reader))
        status.set_status("Fetching ciphertext, encoding and pushing" if fetcher else
                          "Encoding and pushing")
        try:
            pushed = await encode_and_push(reader, helper.storage_broker, helper.secret_holder,
                                           helper.canary, reactor=helper.reactor, status=status)
        except BaseException as e:
            if fetching is not None:
                fetcher.stop(e)
                try:
                    await fetching
                except Exception:  # the push's failure is the one to report
                    pass
            raise
        else:
            if fetching is not None:
                await fetching  # every byte was read, so the fetch has ended
        finally:
            reader.close()
            spool.release(si)
        spool.remove(si)
        fetch_times = fetcher.times if fetcher else {"cumulative_fetch": 0.0,
                                                     "total_fetch": 0.0}

        r = HelperUploadResults()
        r.timings = dict(pushed.timings)
        r.timings.update(fetch_times)
        r.timings["total"] = time.perf_counter() - started
        r.uri_extension_hash = pushed.uri_extension_hash
        r.uri_extension_data = dict(pushed.uri_extension_data)
        r.sharemap, r.servermap = _share_maps(pushed.sharemap)
        r.file_size = size
        r.ciphertext_fetched = self.ciphertext_fetched
        r.pushed_shares = pushed.pushed_shares
        r.preexisting_shares = pushed.preexisting_shares
        r.verifycapstr = urimod.CHKFileVerifierURI(
            si, pushed.uri_extension_hash, pushed.needed_shares, pushed.total_shares,
            size).to_string()
        log.info("helper upload {si}: {size} bytes, {fetched} fetched; {summary}",
                 si=_si(si), size=size, fetched=self.ciphertext_fetched,
                 summary=pushed.placement_summary)
        return r

    async def _fetch(self, fetcher, reader) -> None:
        """Fetch the rest of the ciphertext; then move the file to
        CHK_encoding and tell the clients' readers they are done.  A failed
        fetch fails the encoder's reader too."""
        try:
            await fetcher.run()
        except Exception as e:
            reader.fail(e)
            raise
        self._helper.spool.finish(self.storage_index)
        self.status.set_progress(1, 1.0)
        self._close_readers()

    def _close_readers(self) -> None:
        """Tell every reader the helper has what it needs (answers ignored)."""
        for entry in self._readers:
            d = defer.maybeDeferred(call_remote, entry[0], "close")
            d.addErrback(lambda _f: None)


@implementer(RIHelper, IStatsProducer)
class Helper(service.MultiService, Referenceable):
    """The helper service of a node (``[helper] enabled = true``).

    * ``basedir``: where ``CHK_incoming`` and ``CHK_encoding`` live;
    * ``storage_broker``, ``secret_holder``: the servers and the lease
      secrets of the helper's node (the shares get the helper's leases);
    * ``happy``: the servers-of-happiness a stored file must reach to be
      found stored (the node's ``shares.happy``);
    * ``stats_provider``, ``history``: where counters and statuses go;
    * ``reactor`` (encoding threads, server selection) and ``clock`` (the
      spool's cleaning, the clients' time limits; the reactor if None);
    * ``free_space``: the free bytes of the spool's disk (measured if None).
    """

    name = "helper"

    def __init__(self, basedir, storage_broker, secret_holder, happy: int = 7,
                 stats_provider=None, history=None, reactor=None, clock=None,
                 free_space=None, max_active: int = MAX_ACTIVE_UPLOADS,
                 max_file_size: int = MAX_FILE_SIZE, clean_interval: float = CLEAN_INTERVAL):
        service.MultiService.__init__(self)
        if reactor is None:
            reactor = default_reactor()
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.storage_broker = storage_broker
        self.secret_holder = secret_holder
        self.happy = happy
        self.spool = CiphertextSpool(basedir, now=self.clock.seconds, free_space=free_space)
        self.max_active = max_active
        self.max_file_size = max_file_size
        self.canary = Referenceable()
        self._stats = stats_provider
        self._history = history
        self._counters = {"chk_upload_helper." + name: 0 for name in COUNTERS}
        self._active = {}    # storage index -> HelperUpload
        self._checks = {}    # storage index -> Deferred of a running existence check
        self._check_slots = defer.DeferredSemaphore(MAX_CHECKS)
        self._cleaner = task.LoopingCall(self.clean)
        self._cleaner.clock = self.clock
        self._clean_interval = clean_interval
        if stats_provider is not None:
            stats_provider.register_producer(self)

    def startService(self):
        service.MultiService.startService(self)
        self._cleaner.start(self._clean_interval, now=True)

    def stopService(self):
        if self._cleaner.running:
            self._cleaner.stop()
        for upload in self._active.values():
            upload.cancel_timer()
        return service.MultiService.stopService(self)

    # ---- the spool -----------------------------------------------------------------------
    def active_storage_indexes(self) -> set:
        return set(self._active)

    def clean(self) -> list:
        """Remove spool files older than the spool's ``max_age`` that no
        running upload uses; the paths removed."""
        try:
            removed = self.spool.clean(active=self.active_storage_indexes())
        except OSError as e:  # tried again at the next interval
            log.warn("helper: cleaning the ciphertext spool failed: {e}", e=e)
            return []
        if removed:
            log.info("helper: removed {count} old ciphertext file(s)", count=len(removed))
        return removed

    # ---- statistics ----------------------------------------------------------------------
    def count(self, name: str, delta: int = 1) -> None:
        key = "chk_upload_helper." + name
        self._counters[key] += delta
        if self._stats is not None:
            self._stats.count(key, delta)

    def get_stats(self) -> dict:
        stats = {"chk_upload_helper.active_uploads": len(self._active)}
        stats.update(self.spool.usage())
        stats.update(self._counters)
        return stats

    def get_active_uploads(self) -> list:
        return list(self._active.values())

    # ---- RIHelper ------------------------------------------------------------------------
    def remote_get_version(self):
        return {HELPER_V1: {}, b"application-version": _version()}

    def remote_upload_chk(self, storage_index):
        return defer.ensureDeferred(self.upload_chk(storage_index))

    async def upload_chk(self, storage_index: bytes):
        """(results, None) when the file is stored, else (results, the
        HelperUpload of this storage index)."""
        if not isinstance(storage_index, bytes) or len(storage_index) != 16:
            raise ValueError("a storage index is 16 bytes")
        self.count("upload_requests")
        started = time.perf_counter()
        upload = self._active.get(storage_index)
        if upload is None:
            stored = await self._check(storage_index)
            if stored is not None:
                self.count("upload_already_present")
                return self._stored_results(stored, time.perf_counter() - started), None
            upload = self._active.get(storage_index)  # another request may have made one
            if upload is None:
                if len(self._active) >= self.max_active:
                    raise HelperBusyError("the helper runs %d uploads, as many as it accepts "
                                          "at once; upload directly or try later"
                                          % len(self._active))
                upload = HelperUpload(self, storage_index)
                self._active[storage_index] = upload
                if self._history is not None:
                    self._history.add_helper_upload(upload.status)
        self.count("upload_need_upload")
        results = HelperUploadResults()
        results.timings["existence_check"] = time.perf_counter() - started
        return results, upload

    def _check(self, storage_index: bytes):
        """Deferred(StoredFile or None); one check at a time per storage index,
        its answer shared by every request that arrives while it runs."""
        out = defer.Deferred()
        waiters = self._checks.get(storage_index)
        if waiters is not None:
            waiters.append(out)
            return out
        if len(self._checks) >= MAX_CHECKS + MAX_WAITING_CHECKS:
            raise HelperBusyError("the helper has %d requests waiting; try later"
                                  % len(self._checks))
        waiters = self._checks[storage_index] = [out]

        def done(result):
            del self._checks[storage_index]
            for d in waiters:
                if isinstance(result, Failure):
                    d.errback(result)
                else:
                    d.callback(result)
        self._check_slots.run(
            lambda: defer.ensureDeferred(find_stored(self.storage_broker, storage_index,
                                                     self.happy, self.clock))).addBoth(done)
        return out

    def _stored_results(self, stored, elapsed: float) -> HelperUploadResults:
        r = HelperUploadResults()
        r.timings["existence_check"] = elapsed
        r.uri_extension_hash = stored.uri_extension_hash
        r.uri_extension_data = dict(stored.uri_extension_data)
        r.sharemap, r.servermap = _share_maps(stored.sharemap)
        r.file_size = stored.uri_extension_data["size"]
        r.ciphertext_fetched = 0
        r.preexisting_shares = len(r.sharemap)
        r.pushed_shares = 0
        return r

    def _upload_finished(self, upload: HelperUpload, size: int) -> None:
        if self._active.get(upload.storage_index) is upload:
            del self._active[upload.storage_index]
        upload.status.set_active(False)
        if size:
            self.count("encoded_bytes", size)
