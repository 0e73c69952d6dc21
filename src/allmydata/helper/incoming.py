"""The helper's ciphertext spool: ``helper/CHK_incoming`` and ``helper/CHK_encoding``.

Ciphertext of an upload is appended to ``CHK_incoming/<si>`` (``<si>`` the
storage index in base32) as it is fetched; once it is complete the file is
renamed to ``CHK_encoding/<si>``, from which the shares are encoded.  Both
outlive the connection and the helper process, so an upload of the same
storage index started again resumes from what is already there: from the
length of the incoming file, or with no fetch at all when the encoding file
is complete.

The spool is bounded: a file not written for :data:`MAX_AGE` seconds (48
hours, as in Tahoe-LAFS) and not in use by a running upload is removed by
:meth:`CiphertextSpool.clean`; an upload is accepted only if the bytes it
still needs fit on the disk with :data:`MIN_FREE_SPACE` left over, beyond
what the other running fetches have claimed (inactive partial files, oldest
first, are removed to make room).  Every file is removed after a successful
upload.
"""

import os
import shutil
import time

from ..util import base32

__all__ = ["CiphertextSpool", "MAX_AGE", "MIN_FREE_SPACE", "SpoolFullError"]

#: seconds an untouched partial or complete ciphertext file is kept
MAX_AGE = 48 * 3600
#: bytes the spool leaves free on its disk
MIN_FREE_SPACE = 64 * 1024 * 1024

INCOMING = "CHK_incoming"
ENCODING = "CHK_encoding"


class SpoolFullError(Exception):
    """The helper's disk cannot hold the ciphertext of this upload."""


def _si_name(storage_index: bytes) -> str:
    return base32.b2a(storage_index).decode("ascii")


class CiphertextSpool:
    """The two spool directories under ``basedir`` (created here).

    ``now`` gives the time files are judged by (``time.time`` by default;
    file ages come from their modification times, so the clock a test
    injects must be on the same scale).  ``free_space`` gives the free bytes
    of the spool's disk (``shutil.disk_usage`` by default)."""

    def __init__(self, basedir, now=time.time, free_space=None,
                 max_age: float = MAX_AGE, min_free_space: int = MIN_FREE_SPACE):
        self.basedir = str(basedir)
        self.incoming_dir = os.path.join(self.basedir, INCOMING)
        self.encoding_dir = os.path.join(self.basedir, ENCODING)
        for d in (self.incoming_dir, self.encoding_dir):
            os.makedirs(d, mode=0o700, exist_ok=True)
        self._now = now
        self._free_space = free_space or (lambda: shutil.disk_usage(self.basedir).free)
        self.max_age = max_age
        self.min_free_space = min_free_space
        self._claims = {}   # storage index -> bytes a running fetch may still write

    # ---- paths ---------------------------------------------------------------------------
    def incoming_path(self, storage_index: bytes) -> str:
        return os.path.join(self.incoming_dir, _si_name(storage_index))

    def encoding_path(self, storage_index: bytes) -> str:
        return os.path.join(self.encoding_dir, _si_name(storage_index))

    def have(self, storage_index: bytes) -> tuple:
        """``(complete, bytes)``: the ciphertext already on disk for this
        storage index (complete: in CHK_encoding)."""
        for complete, path in ((True, self.encoding_path(storage_index)),
                               (False, self.incoming_path(storage_index))):
            try:
                return complete, os.stat(path).st_size
            except FileNotFoundError:
                pass
        return False, 0

    def finish(self, storage_index: bytes) -> str:
        """Move the complete incoming file to CHK_encoding; its new path."""
        path = self.encoding_path(storage_index)
        os.replace(self.incoming_path(storage_index), path)
        return path

    def remove(self, storage_index: bytes) -> None:
        """Forget everything spooled for this storage index."""
        for path in (self.incoming_path(storage_index), self.encoding_path(storage_index)):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    # ---- space ---------------------------------------------------------------------------
    def claim(self, storage_index: bytes, needed: int, active=()) -> None:
        """Reserve ``needed`` bytes for the fetch of this storage index, or
        raise :class:`SpoolFullError`.  Inactive spool files (those of
        storage indexes not in ``active``), oldest first, are removed when
        that makes room."""
        self._claims.pop(storage_index, None)
        keep = set(active) | {storage_index}

        def room():
            return self._free_space() - self.min_free_space - sum(self._claims.values())
        if needed > room():
            for _mtime, path, si in sorted(self._files(), key=lambda f: f[0]):
                if si in keep:
                    continue
                _unlink(path)
                if needed <= room():
                    break
        available = room()
        if needed > available:
            raise SpoolFullError("the helper has room for %d more bytes of ciphertext, this "
                                 "upload needs %d" % (max(0, available), needed))
        self._claims[storage_index] = needed

    def release(self, storage_index: bytes) -> None:
        self._claims.pop(storage_index, None)

    # ---- age -----------------------------------------------------------------------------
    def clean(self, active=()) -> list:
        """Remove every spool file older than ``max_age`` whose storage
        index is not in ``active``; the paths removed."""
        cutoff = self._now() - self.max_age
        removed = []
        for mtime, path, si in self._files():
            if mtime < cutoff and si not in active:
                if _unlink(path):
                    removed.append(path)
        return removed

    def usage(self) -> dict:
        """Tahoe-LAFS's ``chk_upload_helper.incoming_*`` and ``encoding_*``
        statistics: count, bytes, and bytes in files older than ``max_age``."""
        cutoff = self._now() - self.max_age
        out = {}
        for name, d in (("incoming", self.incoming_dir), ("encoding", self.encoding_dir)):
            count = size = old = 0
            for mtime, fsize in self._stat_all(d):
                count += 1
                size += fsize
                if mtime < cutoff:
                    old += fsize
            out["chk_upload_helper.%s_count" % name] = count
            out["chk_upload_helper.%s_size" % name] = size
            out["chk_upload_helper.%s_size_old" % name] = old
        return out

    def _stat_all(self, d):
        for entry in _scan(d):
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            yield st.st_mtime, st.st_size

    def _files(self):
        """[(mtime, path, storage index or None)] of every file in the spool."""
        out = []
        for d in (self.incoming_dir, self.encoding_dir):
            for entry in _scan(d):
                try:
                    mtime = entry.stat().st_mtime
                except FileNotFoundError:
                    continue
                try:
                    si = base32.a2b(entry.name.encode("ascii"))
                except Exception:  # a name the helper did not write
                    si = None
                out.append((mtime, entry.path, si))
        return out


def _scan(d):
    try:
        with os.scandir(d) as it:
            return [e for e in it if e.is_file(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _unlink(path) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
