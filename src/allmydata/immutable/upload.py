"""The uploader service: an IUploadable in, a read cap out.

:class:`Uploader` turns each upload into one of two things:

* a LIT cap (``URI:LIT:`` + base32 of the data) for files of at most 55
  bytes -- no server is contacted (docs/specifications/caps.md §2.2);
* a CHK upload: encryption key and storage index
  (docs/specifications/encodings.md §4.1, §5), server selection
  (:mod:`.selector`, servers.md §5), encoding and pushing (:mod:`.encode`),
  and the ``URI:CHK:`` cap (caps.md §2.1).  With an upload helper configured
  and connected, the helper does the selection, encoding and pushing from
  the ciphertext it fetches (:mod:`allmydata.helper.assisted`); when it is
  not connected, the upload goes to the servers directly and its status and
  the log say why.

Each upload gets an :class:`UploadStatus` (IUploadStatus of the 2008 interfaces) that the
web status pages can follow, and ends with an :class:`UploadResults` (the
2008 IUploadResults).  The plaintext sources live in :mod:`.uploadable`
and are re-exported here: :class:`Data`, :class:`FileHandle`,
:class:`FileName`.
"""

import collections
import time

from foolscap.api import Referenceable
from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from .. import uri as urimod
from ..helper.assisted import HelperUnavailableError, upload_through_helper
from ..history import History
from ..util import base32
from ..util.opstatus import OperationStatus
from .interfaces import IUploader, IUploadResults, IUploadStatus, IUploadable
from .params import LIT_SIZE_THRESHOLD
from .push import encode_and_push
from .selector import UploadUnhappinessError
from .uploadable import (
    DEFAULT_ENCODING_PARAMETERS, Data, EncryptAnUploadable, FileHandle, FileName,
    UploadableError,
)

__all__ = ["Uploader", "UploadResults", "UploadStatus", "Data", "FileHandle", "FileName",
           "UploadUnhappinessError", "UploadableError"]

log = Logger()



class _Base32:
    """Formats as the base32 of ``data`` only if the log event is written."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data

    def __str__(self):
        return base32.b2a(self.data).decode()


class _Timings:
    """Formats a timings dict as ``name=seconds ...`` only when written."""

    __slots__ = ("timings",)

    def __init__(self, timings: dict):
        self.timings = timings

    def __str__(self):
        return " ".join("%s=%.3f" % kv for kv in sorted(self.timings.items()))


@implementer(IUploadStatus)
class UploadStatus(OperationStatus):
    """How one upload is getting on; read by the web status pages.  Its
    progress is three fractions (hashing for the key, reading the
    ciphertext, encoding and pushing), as the 2008 IUploadStatus says."""

    def __init__(self):
        OperationStatus.__init__(self)
        self.helper = False
        self.helper_note = None
        self.progress = [0.0, 0.0, 0.0]
        self.results = None

    # ---- IUploadStatus (beyond OperationStatus) ---------------------------------------
    def using_helper(self) -> bool:
        return self.helper

    def get_progress(self) -> tuple:
        """(chk, ciphertext, encode_and_push), each from 0.0 to 1.0."""
        return tuple(self.progress)

    def get_results(self):
        return self.results

    # ---- updates ------------------------------------------------------------------------
    def set_storage_index(self, si: bytes) -> None:
        self.storage_index = si

    def set_size(self, size: int) -> None:
        self.size = size

    def get_status(self) -> str:
        """The current step, followed by why the configured helper is not
        used, if it is not."""
        if self.helper_note:
            return "%s (%s)" % (self.status, self.helper_note)
        return self.status

    def set_helper(self, helper: bool) -> None:
        self.helper = helper

    def set_helper_note(self, note: str) -> None:
        """Say why this upload does not go through the configured helper."""
        self.helper_note = note

    def set_status(self, status: str) -> None:
        self.status = status

    def set_progress(self, which: int, value: float) -> None:
        self.progress[which] = value

    def set_active(self, active: bool) -> None:
        self.active = active

    def set_results(self, results) -> None:
        self.results = results


@implementer(IUploadResults)
class UploadResults:
    """The outcome of one upload.

    ``uri`` (bytes cap), ``file_size``, ``storage_index`` (None for LIT),
    ``sharemap`` {shnum: set(serverid)}, ``servermap`` {serverid:
    set(shnum)}, ``timings`` {name: seconds}, ``uri_extension_data`` (the
    UEB dict), ``uri_extension_hash``, ``ciphertext_fetched`` (bytes of
    ciphertext a helper fetched from this client; 0 without a helper),
    ``pushed_shares`` (shares written by this upload),
    ``preexisting_shares`` (complete shares found already on servers),
    ``placement_summary`` (one line for people).

    The timings of an upload through a helper are those of the 2008
    IUploadResults: ``storage_index``, ``contacting_helper``, the helper's
    own (its ``total`` as ``helper_total``) and ``total``.
    """

    def __init__(self, uri: bytes, file_size: int, storage_index=None, sharemap=None,
                 timings=None, uri_extension_data=None, uri_extension_hash=None,
                 pushed_shares=0, preexisting_shares=0, placement_summary="",
                 ciphertext_fetched=0):
        self.uri = uri
        self.file_size = file_size
        self.storage_index = storage_index
        self.sharemap = {shnum: set(ids) for shnum, ids in (sharemap or {}).items()}
        servermap = collections.defaultdict(set)
        for shnum, ids in self.sharemap.items():
            for serverid in ids:
                servermap[serverid].add(shnum)
        self.servermap = dict(servermap)
        self.timings = dict(timings or {})
        self.uri_extension_data = uri_extension_data
        self.uri_extension_hash = uri_extension_hash
        self.ciphertext_fetched = ciphertext_fetched
        self.pushed_shares = pushed_shares
        self.preexisting_shares = preexisting_shares
        self.placement_summary = placement_summary

    def __repr__(self):
        # named by storage index: the cap (its first part is the read key) stays out
        si = "LIT" if self.storage_index is None else "SI %s" % _Base32(self.storage_index)
        return "<UploadResults %s (%d bytes)>" % (si, self.file_size)

    def get_uri(self) -> bytes:
        return self.uri

    def get_file_size(self) -> int:
        return self.file_size

    def get_sharemap(self) -> dict:
        return self.sharemap

    def get_servermap(self) -> dict:
        return self.servermap

    def get_timings(self) -> dict:
        return self.timings

    def get_uri_extension_data(self):
        return self.uri_extension_data

    def get_verifycapstr(self):
        u = urimod.from_string(self.uri)
        v = u.get_verifier()
        return None if v is None else v.to_string()


def _chk_results(key: bytes, pushed, ciphertext_fetched: int = 0) -> UploadResults:
    """The results of a CHK upload: its cap from ``key`` and ``pushed`` (a
    :class:`~.push.PushedFile`, or the helper's checked answer)."""
    cap = urimod.CHKFileURI(key, pushed.uri_extension_hash, pushed.needed_shares,
                            pushed.total_shares, pushed.size).to_string()
    return UploadResults(
        cap, pushed.size, storage_index=pushed.storage_index, sharemap=pushed.sharemap,
        timings=pushed.timings, uri_extension_data=pushed.uri_extension_data,
        uri_extension_hash=pushed.uri_extension_hash, pushed_shares=pushed.pushed_shares,
        preexisting_shares=pushed.preexisting_shares,
        placement_summary=pushed.placement_summary, ciphertext_fetched=ciphertext_fetched)


@implementer(IUploader)
class Uploader(service.MultiService):
    """Uploads files (the 2008 IUploader), as a child service of the client.

    * ``storage_broker``: where the servers are (``get_servers_for_psi``);
    * ``secret_holder``: ``get_renewal_secret()``, ``get_cancel_secret()``;
    * ``default_encoding_params``: {k, happy, n, max_segment_size};
    * ``reactor``: clock and thread pool (the global reactor if None);
    * ``stats_provider``: counts ``uploader.files_uploaded`` and
      ``uploader.bytes_uploaded`` if given;
    * ``history``: the node's History, which gets every upload's status
      (a History of the uploader's own if None);
    * ``helper``: the :class:`~allmydata.helper.client.HelperConnection` to
      the upload helper of ``[client] helper.furl`` (made a child service of
      this one), or None: CHK uploads go through the helper while it is
      connected.
    """

    name = "uploader"

    def __init__(self, storage_broker, secret_holder, default_encoding_params: dict | None = None,
                 reactor=None, stats_provider=None, selection_timeout: float | None = None,
                 history=None, helper=None):
        service.MultiService.__init__(self)
        self._storage_broker = storage_broker
        self._secret_holder = secret_holder
        self._params = dict(DEFAULT_ENCODING_PARAMETERS)
        self._params.update({k: v for k, v in (default_encoding_params or {}).items()
                             if v is not None})
        self._reactor = reactor
        self._stats = stats_provider
        self._selection_timeout = selection_timeout
        self._history = history if history is not None else History()
        # One canary for all of this client's uploads: a server that keeps it
        # (ours keeps the latest one of each client) need not send a decref
        # message back after every upload.  It tells a server the same thing
        # a canary per upload would: that this client's connection is gone.
        self._canary = Referenceable()
        self._helper = helper
        if helper is not None:
            helper.setServiceParent(self)

    def get_helper_info(self) -> tuple:
        """``(helper FURL or None, connected)``, as Tahoe-LAFS's uploader
        answers it (the welcome page shows the FURL censored)."""
        if self._helper is None:
            return (None, False)
        return self._helper.get_helper_info()

    # ---- status pages ------------------------------------------------------------------
    def list_active_uploads(self) -> list:
        return [s for s in self._history.list_all_upload_statuses() if s.get_active()]

    def list_recent_uploads(self) -> list:
        return [s for s in self._history.list_all_upload_statuses() if not s.get_active()]

    def list_all_upload_statuses(self) -> list:
        return self._history.list_all_upload_statuses()

    def get_upload_status(self, counter: int):
        for s in self.list_all_upload_statuses():
            if s.get_counter() == counter:
                return s
        return None

    # ---- uploading ---------------------------------------------------------------------
    def upload(self, uploadable):
        """Deferred(UploadResults) for the IUploadable."""
        return defer.ensureDeferred(self._upload(IUploadable(uploadable)))

    async def _upload(self, uploadable):
        status = UploadStatus()
        self._history.add_upload(status)
        started = time.perf_counter()
        try:
            uploadable.set_upload_status(status)
            uploadable.set_default_encoding_parameters(self._params)
            size = await uploadable.get_size()
            status.set_size(size)
            if size <= LIT_SIZE_THRESHOLD:
                results = await self._upload_literal(uploadable, size, status)
            else:
                results = await self._upload_chk(uploadable, size, status)
            results.timings["total"] = time.perf_counter() - started
            status.set_results(results)
            status.set_status("Finished")
            self._count("uploader.files_uploaded", 1)
            self._count("uploader.bytes_uploaded", size)
            return results
        except BaseException as e:
            status.set_status("Failed: %s" % (e,))
            raise
        finally:
            status.set_active(False)
            try:
                uploadable.close()
            except Exception as e:  # a source that cannot close does not fail the upload
                log.info("closing the uploadable failed: {e}", e=e)

    async def _upload_literal(self, uploadable, size: int, status) -> UploadResults:
        status.set_status("Creating a LIT cap")
        chunks = await uploadable.read(size)
        data = b"".join(bytes(c) for c in chunks)
        if len(data) != size:
            raise UploadableError("the file gave %d bytes, not the %d it announced"
                                  % (len(data), size))
        for i in range(3):
            status.set_progress(i, 1.0)
        cap = urimod.LiteralFileURI(data).to_string()
        return UploadResults(cap, size)

    async def _upload_chk(self, uploadable, size: int, status) -> UploadResults:
        if self._helper is not None:
            helper = self._helper.get_helper()
            if helper is None:
                self._no_helper(status, self._helper.describe_state())
            else:
                try:
                    return await self._upload_through_helper(helper, uploadable, status)
                except HelperUnavailableError as e:
                    if not e.before_reading:
                        raise
                    # nothing was read from the source yet: it can still go directly
                    status.set_helper(False)
                    self._no_helper(status, str(e))
        status.set_status("Computing the encryption key")
        eu = EncryptAnUploadable(uploadable, status, reactor=self._reactor)
        pushed = await encode_and_push(eu, self._storage_broker, self._secret_holder,
                                       self._canary, reactor=self._reactor, status=status,
                                       selection_timeout=self._selection_timeout)
        results = _chk_results(await eu.get_encryption_key(), pushed)
        # one line per upload (the selector's own summary is a debug event)
        log.info("uploaded {si}: {size} bytes; {summary}; seconds: {timings}",
                 si=_Base32(pushed.storage_index), size=pushed.size,
                 summary=results.placement_summary, timings=_Timings(pushed.timings))
        return results

    def _no_helper(self, status, why: str) -> None:
        note = "%s; uploading directly to the storage servers" % why
        log.warn("{note}", note=note)
        status.set_helper_note(note)

    async def _upload_through_helper(self, helper, uploadable, status) -> UploadResults:
        status.set_helper(True)
        status.set_status("Computing the encryption key")
        eu = EncryptAnUploadable(uploadable, status, reactor=self._reactor)
        done = await upload_through_helper(helper, eu, status, clock=self._helper.clock)
        results = _chk_results(await eu.get_encryption_key(), done, done.ciphertext_fetched)
        log.info("uploaded {si} through the helper: {size} bytes; {summary}; seconds: "
                 "{timings}", si=_Base32(done.storage_index), size=done.size,
                 summary=done.placement_summary, timings=_Timings(done.timings))
        return results

    def _count(self, name: str, delta: int) -> None:
        if self._stats is not None:
            self._stats.count(name, delta)
