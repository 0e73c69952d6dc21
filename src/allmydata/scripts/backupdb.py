"""The backup database of ``tahoe backup``: ``NODEDIR/private/backupdb.sqlite``.

It remembers which local files were uploaded under which cap (keyed by the
absolute path, with the size, mtime and ctime seen then) and which immutable
directories were made for which contents (keyed by a hash of the sorted
``name -> cap`` pairs), so that an unchanged file is not uploaded again and
an unchanged directory is not made again.

The schema (version 2) is Tahoe-LAFS's, and caps and directory hashes are
stored as sqlite BLOBs as Tahoe-LAFS stores them, so that a database written
by either ``tahoe backup`` is read by the other.  A version-1 database (no
``directories`` table) is upgraded in place.

A remembered cap is trusted for a month after it was last uploaded or
checked; from then on it is checked (``t=check``) with a probability that
grows to certainty at two months, and a cap that is not healthy is uploaded
again.
"""

import os
import random
import sqlite3
import time

from ..util import base32
from ..util.hashutil import backupdb_dirhash
from ..util.netstring import netstring
from .common import UsageError

DB_FILENAME = os.path.join("private", "backupdb.sqlite")

DAY = 24 * 60 * 60
NO_CHECK_BEFORE = 30 * DAY
ALWAYS_CHECK_AFTER = 60 * DAY
VERSION = 2
COMMIT_EVERY = 64

_V1_TABLES = """
CREATE TABLE version (version INTEGER);
CREATE TABLE local_files (
 path VARCHAR(1024) PRIMARY KEY,
 size INTEGER,
 mtime NUMBER,
 ctime NUMBER,
 fileid INTEGER
);
CREATE TABLE caps (
 fileid INTEGER PRIMARY KEY AUTOINCREMENT,
 filecap VARCHAR(256) UNIQUE
);
CREATE TABLE last_upload (
 fileid INTEGER PRIMARY KEY,
 last_uploaded TIMESTAMP,
 last_checked TIMESTAMP
);
"""

_DIRECTORIES_TABLE = """
CREATE TABLE directories (
 dirhash varchar(256) PRIMARY KEY,
 dircap varchar(256),
 last_uploaded TIMESTAMP,
 last_checked TIMESTAMP
);
"""


class BackupDBError(UsageError):
    """The backup database cannot be opened, read or upgraded."""


def _as_bytes(value):
    return value.encode("ascii") if isinstance(value, str) else bytes(value)


def check_probability(age: float) -> float:
    """How likely a cap last uploaded or checked ``age`` seconds ago is
    checked before it is reused."""
    p = (age - NO_CHECK_BEFORE) / (ALWAYS_CHECK_AFTER - NO_CHECK_BEFORE)
    return min(max(p, 0.0), 1.0)


class BackupDB:
    """One open backup database.  ``now`` and ``chance`` (a function
    returning a float in [0, 1)) are replaceable for tests."""

    def __init__(self, connection, now=time.time, chance=random.random):
        self._db = connection
        self._now = now
        self._chance = chance
        self._pending = 0

    @classmethod
    def open(cls, path, **kw):
        """Open ``path``, creating it (version 2) when it does not exist;
        its directory must exist."""
        creating = not os.path.exists(path)
        try:
            db = sqlite3.connect(path)
            c = db.cursor()
            if creating:
                c.executescript(_V1_TABLES + _DIRECTORIES_TABLE)
                c.execute("INSERT INTO version (version) VALUES (?)", (VERSION,))
                db.commit()
            c.execute("SELECT version FROM version")
            row = c.fetchone()
            version = row[0] if row else None
            if version == 1:
                c.executescript(_DIRECTORIES_TABLE + "UPDATE version SET version=2;")
                db.commit()
                version = 2
        except sqlite3.Error as e:
            raise BackupDBError("the backup database %s is unusable: %s" % (path, e)) from None
        if version != VERSION:
            db.close()
            raise BackupDBError("the backup database %s has version %r, which this tahoe "
                                "cannot handle" % (path, version))
        return cls(db, **kw)

    def close(self):
        """Commit what is pending and close."""
        self._db.commit()
        self._db.close()

    def _wrote(self):
        # Records are committed in batches: a commit waits for the disk, and
        # a record lost to a crash costs only one upload more next time.
        self._pending += 1
        if self._pending >= COMMIT_EVERY:
            self._db.commit()
            self._pending = 0

    def _should_check(self, last_checked) -> bool:
        return self._chance() < check_probability(self._now() - (last_checked or 0))

    # files

    def lookup_file(self, path, size, mtime, ctime, use_timestamps=True):
        """``(filecap bytes, should_check)`` for an unchanged file uploaded
        earlier, or ``(None, False)`` when it must be uploaded (an entry for
        a changed file is forgotten)."""
        c = self._db.cursor()
        c.execute("SELECT size, mtime, ctime, fileid FROM local_files WHERE path=?", (path,))
        row = c.fetchone()
        if row is None:
            return None, False
        last_size, last_mtime, last_ctime, fileid = row
        c.execute("SELECT caps.filecap, last_upload.last_checked FROM caps, last_upload"
                  " WHERE caps.fileid=? AND last_upload.fileid=?", (fileid, fileid))
        row2 = c.fetchone()
        unchanged = (use_timestamps and last_size == size and last_mtime == mtime
                     and last_ctime == ctime)
        if not unchanged or row2 is None:
            c.execute("DELETE FROM local_files WHERE path=?", (path,))
            self._wrote()
            return None, False
        filecap, last_checked = row2
        return _as_bytes(filecap), self._should_check(last_checked)

    def _fileid(self, filecap: bytes) -> int:
        c = self._db.cursor()
        c.execute("INSERT OR IGNORE INTO caps (filecap) VALUES (?)", (filecap,))
        c.execute("SELECT fileid FROM caps WHERE filecap=?", (filecap,))
        return c.fetchone()[0]

    def did_upload_file(self, filecap: bytes, path, size, mtime, ctime):
        now = self._now()
        fileid = self._fileid(filecap)
        c = self._db.cursor()
        c.execute("INSERT OR REPLACE INTO last_upload VALUES (?,?,?)", (fileid, now, now))
        c.execute("INSERT OR REPLACE INTO local_files VALUES (?,?,?,?,?)",
                  (path, size, mtime, ctime, fileid))
        self._wrote()

    def did_check_file_healthy(self, filecap: bytes):
        fileid = self._fileid(filecap)
        self._db.execute("UPDATE last_upload SET last_checked=? WHERE fileid=?",
                         (self._now(), fileid))
        self._wrote()

    # directories

    @staticmethod
    def dirhash(contents: dict) -> bytes:
        """The base32 key of a directory whose children are ``contents``
        (``name -> cap bytes``)."""
        entries = sorted((name.encode("utf-8"), cap) for name, cap in contents.items())
        data = b"".join(netstring(name) + netstring(cap) for name, cap in entries)
        return base32.b2a(backupdb_dirhash(data))

    def lookup_directory(self, dirhash: bytes):
        """``(dircap bytes, should_check)`` of a directory made earlier for
        these contents, or ``(None, False)``."""
        row = self._db.execute("SELECT dircap, last_checked FROM directories WHERE dirhash=?",
                               (dirhash,)).fetchone()
        if row is None:
            return None, False
        dircap, last_checked = row
        return _as_bytes(dircap), self._should_check(last_checked)

    def did_create_directory(self, dircap: bytes, dirhash: bytes):
        now = self._now()
        self._db.execute("REPLACE INTO directories VALUES (?,?,?,?)", (dirhash, dircap, now, now))
        self._wrote()

    def did_check_directory_healthy(self, dircap: bytes):
        self._db.execute("UPDATE directories SET last_checked=? WHERE dircap=?",
                         (self._now(), dircap))
        self._wrote()
