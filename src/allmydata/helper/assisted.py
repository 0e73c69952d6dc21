"""A CHK upload through an upload helper, and the checks of what it answers.

:func:`upload_through_helper` does the client's part of the 2008 helper
protocol: it computes the encryption key and storage index locally, asks the
helper ``upload_chk(storage_index)``; when the helper answers with an
uploader (the file is not yet on the grid), it hands that uploader a
:class:`~.remote_uploadable.RemoteEncryptedUploadable` over the ciphertext
and waits for ``upload(reader)``.

The client builds the read cap from its own key and what the helper answers,
so the helper's answer is checked before any cap is made (the helper is a
peer that may lie, or run another version):

* the results are a :class:`~.interfaces.HelperUploadResults`;
* ``uri_extension_data`` has this file's ``needed_shares``, ``total_shares``,
  ``segment_size`` and ``size``, the codec parameters and segment count that
  follow from them, and every key a current UEB has;
* ``uri_extension_hash`` is the hash of that UEB, recomputed here;
* when the helper read the whole ciphertext in this upload, the UEB's
  ``crypttext_hash`` and ``crypttext_root_hash`` are those of this client's
  ciphertext.

A failed check raises :class:`HelperResultsError` and no cap is made.  The
informative parts of the results (share map, timings, share counts) are
kept only when well-formed and bounded.

A helper that declines or fails (:class:`HelperUnavailableError`), or whose
connection is lost (:class:`HelperLostError`), says whether it had read any
ciphertext: if not, the source is untouched and the uploader sends the file
to the servers directly; if it had, the upload fails (the source cannot be
rewound, and an upload through the helper later resumes where it stopped).
Once ``upload`` returns or fails, the reader is stopped: a helper that keeps
its reference reads nothing more.
"""

import math
import time

import attr
from foolscap.api import DeadReferenceError
from twisted.internet import defer

from ..immutable.params import SegmentParams
from ..immutable.push import PushedFile
from ..immutable.uri_extension import (
    CURRENT_KEYS, BadURIExtensionError, pack_uri_extension, uri_extension_hash,
)
from ..util.rrefutil import RemoteException, Violation, call_remote
from .interfaces import HelperUploadResults
from .remote_uploadable import RemoteEncryptedUploadable

__all__ = ["HelperResultsError", "HelperUnavailableError", "HelperLostError", "AssistedUpload",
           "upload_through_helper", "check_helper_results"]

#: the most timings entries kept from a helper's results
MAX_TIMINGS = 64
#: characters of a value from the helper quoted in an error message
MAX_SHOWN = 80
#: seconds a helper gets to answer ``upload_chk`` (it asks the servers
#: whether the file is stored)
ANSWER_TIMEOUT = 600.0
#: seconds a helper may go without reading while it still lacks ciphertext
#: (once it has read it all, it encodes and pushes for as long as it takes)
IDLE_TIMEOUT = 600.0


class HelperResultsError(Exception):
    """The helper's answer cannot be the upload of this file: no cap is made."""


class HelperUnavailableError(Exception):
    """The helper could not take the upload.

    ``before_reading`` is True when the helper had not yet read any
    ciphertext (the upload can then still go to the servers directly)."""

    def __init__(self, message: str, before_reading: bool):
        Exception.__init__(self, message)
        self.before_reading = before_reading


class HelperLostError(HelperUnavailableError):
    """The connection to the helper was lost during the upload."""


@attr.s(frozen=True)
class AssistedUpload(PushedFile):
    """What an upload through a helper produced, checked: the fields of a
    :class:`~allmydata.immutable.push.PushedFile` (``sharemap``, share
    counts and timings as the helper reported them, well-formed entries
    only; ``placement_summary`` one line for people), and
    ``ciphertext_fetched`` (bytes this client sent the helper),
    ``already_stored`` (the helper found the file on the grid),
    ``read_calls`` (``read_encrypted`` calls answered).
    """

    ciphertext_fetched = attr.ib()
    already_stored = attr.ib()
    read_calls = attr.ib()


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _shown(value) -> str:
    """A value the helper sent, as an error message quotes it (cut short:
    the helper chooses its size)."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 3] + "..."


def check_helper_results(results, size: int, k: int, n: int, segment_size: int,
                         hashes=None) -> tuple:
    """``(uri_extension_hash, uri_extension_data)`` of checked helper results
    for a file of these parameters (see the module docstring); ``hashes``
    (a :class:`~.remote_uploadable.CiphertextHashes`), when it saw the whole
    ciphertext, is compared with the UEB's ciphertext hashes."""
    if not isinstance(results, HelperUploadResults):
        raise HelperResultsError("the helper answered %s, not upload results"
                                 % type(results).__name__)
    ued = results.get("uri_extension_data")
    ueb_hash = results.get("uri_extension_hash")
    if not isinstance(ued, dict) or not all(isinstance(key, str) for key in ued):
        raise HelperResultsError("the helper's results have no URI extension data (a dict "
                                 "with text keys)")
    if not isinstance(ueb_hash, bytes) or len(ueb_hash) != 32:
        raise HelperResultsError("the helper's results have no 32-byte URI extension hash")
    missing = sorted(CURRENT_KEYS - set(ued))
    if missing:
        raise HelperResultsError("the helper's URI extension data lacks %s"
                                 % ", ".join(missing))
    expected = {"needed_shares": k, "total_shares": n, "segment_size": segment_size,
                "size": size}
    wrong = ["%s=%s (this file: %d)" % (key, _shown(ued[key]), value)
             for key, value in sorted(expected.items())
             if not _is_int(ued[key]) or ued[key] != value]
    if wrong:
        raise HelperResultsError("the helper's URI extension data does not describe this "
                                 "file: %s" % "; ".join(wrong))
    params = SegmentParams.from_ueb(size, k, n, segment_size)
    derived = {"codec_params": params.codec_params(),
               "tail_codec_params": params.tail_codec_params(),
               "num_segments": params.num_segments}
    wrong = ["%s=%s (expected %r)" % (key, _shown(ued[key]), value)
             for key, value in sorted(derived.items()) if ued[key] != value]
    if wrong:
        raise HelperResultsError("the helper's URI extension data has the wrong encoding for "
                                 "this file: %s" % "; ".join(wrong))
    try:
        packed = pack_uri_extension(ued)
    except BadURIExtensionError as e:
        raise HelperResultsError("the helper's URI extension data cannot be serialized: %s"
                                 % (e,)) from None
    if uri_extension_hash(packed) != ueb_hash:
        raise HelperResultsError("the helper's URI extension hash is not the hash of its URI "
                                 "extension data")
    if hashes is not None and hashes.complete:
        for key, mine in (("crypttext_hash", hashes.crypttext_hash()),
                          ("crypttext_root_hash", hashes.crypttext_root_hash())):
            if ued[key] != mine:
                raise HelperResultsError("the helper's URI extension data has a %s that is not "
                                         "that of this file's ciphertext" % key)
    return ueb_hash, dict(ued)


def _sharemap(results, n: int) -> dict:
    """The helper's share map, well-formed entries only."""
    raw = results.get("sharemap", {})
    out = {}
    if not isinstance(raw, dict):
        return out
    for shnum, ids in list(raw.items())[:n]:
        if _is_int(shnum) and 0 <= shnum < n and isinstance(ids, (set, frozenset, list, tuple)):
            good = {i for i in list(ids)[:n] if isinstance(i, bytes) and len(i) <= 64}
            if good:
                out[shnum] = good
    return out


def _count(results, name: str, limit: int) -> int:
    value = results.get(name, 0)
    return value if _is_int(value) and 0 <= value <= limit else 0


def _helper_timings(results) -> dict:
    """The helper's timings, ``total`` renamed ``helper_total`` (as Tahoe-LAFS's
    client names it); well-formed entries only."""
    raw = results.get("timings", {})
    out = {}
    if not isinstance(raw, dict):
        return out
    for key, value in list(raw.items())[:MAX_TIMINGS]:
        if (isinstance(key, str) and len(key) <= 64 and isinstance(value, (int, float))
                and not isinstance(value, bool) and math.isfinite(value) and value >= 0):
            out["helper_total" if key == "total" else key] = float(value)
    return out


def _lost(e) -> bool:
    return isinstance(e, DeadReferenceError)


class _IdleWatch:
    """Cancels ``d`` (the pending ``upload``) when ``reader`` has had no
    ``read_encrypted`` call for ``idle`` seconds while it still has
    ciphertext to give; checked every ``idle / 4`` seconds of ``clock``."""

    def __init__(self, d, reader, clock, idle: float):
        self._d, self._reader, self._clock, self._idle = d, reader, clock, idle
        self._last = (reader.accepted, clock.seconds())
        self.fired = False
        self._call = clock.callLater(idle / 4, self._check)

    def _check(self):
        self._call = None
        now = self._clock.seconds()
        accepted, since = self._last
        if self._reader.accepted != accepted or self._reader.hashes.complete:
            self._last = (self._reader.accepted, now)
        elif now - since >= self._idle:
            self.fired = True
            self._d.cancel()
            return
        self._call = self._clock.callLater(self._idle / 4, self._check)

    def stop(self):
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None


def _broke_protocol(e, call: str) -> HelperResultsError:
    return HelperResultsError("the helper's answer to %s breaks the helper protocol: %s"
                              % (call, e))


async def upload_through_helper(helper, encrypted, status=None, clock=None,
                                answer_timeout: float = ANSWER_TIMEOUT,
                                idle_timeout: float = IDLE_TIMEOUT) -> AssistedUpload:
    """Upload the ciphertext of ``encrypted`` (an EncryptAnUploadable) through
    ``helper`` (the RemoteReference of an RIHelper).  With ``clock``, a
    helper that does not answer ``upload_chk`` within ``answer_timeout``
    seconds, or reads nothing for ``idle_timeout`` seconds while it lacks
    ciphertext, is given up (:class:`HelperUnavailableError`).  Raises
    :class:`HelperResultsError` for an answer that fails the checks,
    :class:`HelperUnavailableError` when the helper declines ``upload_chk``
    and :class:`HelperLostError` when the connection is lost."""
    timings = {}
    t = time.perf_counter()
    size = await encrypted.get_size()
    k, happy, n, segment_size = await encrypted.get_all_encoding_parameters()
    storage_index = await encrypted.get_storage_index()
    timings["storage_index"] = time.perf_counter() - t

    t = time.perf_counter()
    if status is not None:
        status.set_status("Contacting Helper")
    try:
        d = call_remote(helper, "upload_chk", storage_index)
        if clock is not None:
            d.addTimeout(answer_timeout, clock)
        answer = await d
    except Exception as e:
        if isinstance(e, defer.TimeoutError):
            raise HelperUnavailableError("the helper did not answer upload_chk within %d "
                                         "seconds" % answer_timeout, before_reading=True) from None
        if _lost(e):
            raise HelperLostError("lost the connection to the helper before it read anything "
                                  "(%s)" % type(e).__name__, before_reading=True) from None
        if isinstance(e, RemoteException):
            # a helper that declines (busy, out of space) before reading anything
            raise HelperUnavailableError("the helper declined the upload (%s)" % (e,),
                                         before_reading=True) from None
        if isinstance(e, Violation):
            raise _broke_protocol(e, "upload_chk") from None
        raise
    timings["contacting_helper"] = time.perf_counter() - t
    if not isinstance(answer, tuple) or len(answer) != 2:
        raise HelperResultsError("the helper answered upload_chk with %s, not (results, "
                                 "uploader)" % type(answer).__name__)
    results, uploader = answer
    reader = None
    if uploader is not None:
        if status is not None:
            status.set_status("Uploading Ciphertext")
        reader = RemoteEncryptedUploadable(encrypted, size, (k, happy, n, segment_size), status)
        d = call_remote(uploader, "upload", reader)
        watch = _IdleWatch(d, reader, clock, idle_timeout) if clock is not None else None
        try:
            results = await d
        except Exception as e:
            reader.stop()
            before_reading = reader.accepted == 0
            if watch is not None and watch.fired:
                raise HelperUnavailableError(
                    "the helper read nothing for %d seconds, with %d of %d bytes of ciphertext; "
                    "no cap was made" % (idle_timeout, reader.position, size),
                    before_reading=before_reading) from None
            if _lost(e):
                raise HelperLostError(
                    "lost the connection to the helper after it had %d of %d bytes of "
                    "ciphertext; no cap was made (the helper keeps what it fetched, so the "
                    "next upload of this file through it resumes there)"
                    % (reader.position, size), before_reading=before_reading) from None
            if isinstance(e, RemoteException):
                raise HelperUnavailableError(
                    "the helper's upload failed after it had %d of %d bytes of ciphertext (%s); "
                    "no cap was made" % (reader.position, size, e),
                    before_reading=before_reading) from None
            if isinstance(e, Violation):
                raise _broke_protocol(e, "upload") from None
            raise
        finally:
            if watch is not None:
                watch.stop()
        reader.stop()
    elif status is not None:
        status.set_progress(1, 1.0)
    if status is not None:
        status.set_status("Building Readcap")
    ueb_hash, ued = check_helper_results(results, size, k, n, segment_size,
                                         reader.hashes if reader is not None else None)
    if status is not None:
        status.set_progress(2, 1.0)
    timings.update({key: value for key, value in _helper_timings(results).items()
                    if key not in timings})
    fetched = reader.bytes_sent if reader is not None else 0
    if uploader is None:
        summary = "already on the grid (the helper found it)"
    else:
        summary = "placed by the helper after fetching %d bytes of ciphertext" % fetched
    return AssistedUpload(
        storage_index=storage_index, uri_extension_hash=ueb_hash, uri_extension_data=ued,
        needed_shares=k, total_shares=n, size=size, sharemap=_sharemap(results, n),
        pushed_shares=_count(results, "pushed_shares", n),
        preexisting_shares=_count(results, "preexisting_shares", n),
        timings=timings, placement_summary=summary, ciphertext_fetched=fetched,
        already_stored=uploader is None, read_calls=reader.reads if reader is not None else 0)
