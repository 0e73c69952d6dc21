"""The node's checker service: the ``IChecker`` of the 2008 interfaces.

:class:`CheckerService` checks and verifies files and directories named by
their verify caps, and remembers every result:

* ``check(verifycap)`` asks the storage servers which shares they hold.  A
  file's result is ``(needed_shares, total_shares, found_shares, sharemap)``:
  the first three are ints (``found_shares`` counts the distinct good share
  numbers, so ``found_shares / needed_shares < 1`` means unrecoverable) and
  ``sharemap`` maps each share number to the list of binary nodeids holding
  it.  A directory's result is a boolean: whether it is healthy.
* ``verify(verifycap)`` also downloads and hash-checks every share.  For a
  file it fires with True when every share found checks out, and fails with
  :class:`VerifyFailed` when a share is corrupt or the file cannot be
  recovered; for a directory it fires with the same boolean as ``check``
  (computed with the verify's stronger judgement of which shares are good).
* ``checker_results_for(verifycap)`` answers, synchronously, the list of
  ``(when, results)`` recorded for that object, oldest first (``when`` in
  seconds since the epoch; ``results`` as ``check`` gives them).

A read or write cap given instead of a verify cap is reduced to its verify
cap first: only verify caps are ever kept.  A literal (LIT) cap has nothing
on the servers and is refused.

Results are kept in memory (the most recent :data:`MAX_RESULTS_IN_MEMORY` of
each object), and forgotten at shutdown -- unless the node directory holds a
file named ``checker_results.db``.  Then that file is a sqlite database of
every result, read and written instead of memory, so that results survive
restarts.  A user turns this on by creating the file empty; the node gives
it its tables when it starts.  A file that is not such a database (not
sqlite at all, damaged, or another program's) stops the node at start with
:class:`CheckerDatabaseError` naming the file.

The checks themselves are those of :func:`allmydata.immutable.checker.
check_immutable` and :func:`allmydata.mutable.checker.check_mutable`.
"""

import json
import os
import sqlite3

from twisted.application import service
from twisted.internet import defer

from . import uri
from .config import ConfigError
from .immutable.checker import check_immutable
from .mutable.checker import check_mutable
from .uri_interfaces import IDirnodeURI, IVerifierURI
from .util import base32

#: the database's file name, in the node directory
DB_FILENAME = "checker_results.db"
#: results kept per object when there is no database
MAX_RESULTS_IN_MEMORY = 100

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE checker_results_version (version INTEGER NOT NULL);
CREATE TABLE checker_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    verifycap TEXT NOT NULL,
    checked_at REAL NOT NULL,
    results TEXT NOT NULL
);
CREATE INDEX checker_results_by_cap ON checker_results (verifycap, checked_at);
"""
_TABLES = {"checker_results_version": ["version"],
           "checker_results": ["id", "verifycap", "checked_at", "results"]}


class CheckerDatabaseError(ConfigError):
    """``checker_results.db`` exists but is not a checker results database."""

    def __init__(self, path, problem):
        ConfigError.__init__(self, path, None, None, problem)


class VerifyFailed(Exception):
    """A verify found a corrupt share, or too few shares to recover the file."""


# ---- results as stored ---------------------------------------------------------------
def _results_to_json(results) -> str:
    if isinstance(results, bool):
        return json.dumps({"directory": {"healthy": results}})
    needed, total, found, sharemap = results
    return json.dumps({"file": {
        "needed": needed, "total": total, "found": found,
        "sharemap": {str(shnum): [base32.b2a_str(nodeid) for nodeid in nodeids]
                     for shnum, nodeids in sharemap.items()}}})


def _results_from_json(text):
    d = json.loads(text)
    if "directory" in d:
        return bool(d["directory"]["healthy"])
    f = d["file"]
    sharemap = {int(shnum): [base32.a2b(n) for n in nodeids]
                for shnum, nodeids in f["sharemap"].items()}
    return (f["needed"], f["total"], f["found"], sharemap)


def file_results(check_results) -> tuple:
    """``(needed, total, found, sharemap)`` of a :class:`CheckResults`."""
    sharemap = {shnum: sorted(server.get_serverid() for server in servers)
                for shnum, servers in sorted(check_results.sharemap.items()) if servers}
    return (check_results.count_shares_needed, check_results.count_shares_expected,
            len(sharemap), sharemap)


# ---- where results are kept ----------------------------------------------------------
class MemoryResults:
    """Results in memory, the newest :data:`MAX_RESULTS_IN_MEMORY` per object."""

    def __init__(self, limit=MAX_RESULTS_IN_MEMORY):
        self._limit = limit
        self._results = {}

    def add(self, verifycap: str, when: float, results) -> None:
        kept = self._results.setdefault(verifycap, [])
        kept.append((when, results))
        del kept[:-self._limit]

    def get(self, verifycap: str) -> list:
        return list(self._results.get(verifycap, []))

    def close(self) -> None:
        pass


class DatabaseResults:
    """Results in the sqlite database at ``path``, which must exist: empty
    (given its tables here) or a database this class made."""

    def __init__(self, path):
        self.path = path
        if not os.access(path, os.R_OK | os.W_OK):
            raise CheckerDatabaseError(path, "the checker results database must be readable "
                                             "and writable by the node")
        try:
            empty = os.path.getsize(path) == 0
            self._db = sqlite3.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            raise CheckerDatabaseError(path, "cannot open the checker results database: %s" % e)
        try:
            if empty:
                self._db.executescript("BEGIN;" + _SCHEMA + "INSERT INTO checker_results_version "
                                       "VALUES (%d); COMMIT;" % _SCHEMA_VERSION)
            self._check_schema()
        except sqlite3.Error as e:
            self._db.close()
            raise CheckerDatabaseError(
                path, "not a usable checker results database (%s); remove it to keep results "
                      "in memory only, or replace it with an empty file to start a new one" % e)
        except CheckerDatabaseError:
            self._db.close()
            raise

    def _check_schema(self) -> None:
        (verdict,) = self._db.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise CheckerDatabaseError(self.path, "the checker results database is damaged "
                                                  "(sqlite quick_check: %s)" % verdict)
        for table, columns in _TABLES.items():
            found = [row[1] for row in self._db.execute("PRAGMA table_info(%s)" % table)]
            if found != columns:
                raise CheckerDatabaseError(
                    self.path, "this sqlite database is not a checker results database: its "
                               "table %s has columns %s, not %s" % (table, found, columns))
        versions = [row[0] for row in self._db.execute(
            "SELECT version FROM checker_results_version")]
        if versions != [_SCHEMA_VERSION]:
            raise CheckerDatabaseError(
                self.path, "checker results database of version %s; this node reads version %d"
                           % (versions, _SCHEMA_VERSION))

    def add(self, verifycap: str, when: float, results) -> None:
        self._db.execute("INSERT INTO checker_results (verifycap, checked_at, results) "
                         "VALUES (?, ?, ?)", (verifycap, when, _results_to_json(results)))

    def get(self, verifycap: str) -> list:
        rows = self._db.execute("SELECT checked_at, results FROM checker_results "
                                "WHERE verifycap = ? ORDER BY checked_at, id", (verifycap,))
        return [(when, _results_from_json(text)) for when, text in rows]

    def close(self) -> None:
        self._db.close()


def open_results_store(basedir):
    """The database of ``basedir`` if the user created one, else memory."""
    path = os.path.join(basedir, DB_FILENAME)
    if os.path.lexists(path):
        return DatabaseResults(path)
    return MemoryResults()


# ---- the service ---------------------------------------------------------------------
def verifycap_of(cap):
    """The verify cap (an IVerifierURI) to check for ``cap`` (a cap object,
    bytes or str).  ValueError for a LIT cap or something not a cap."""
    if not IVerifierURI.providedBy(cap):
        if isinstance(cap, (bytes, str)):
            cap = uri.from_string(cap)
        if isinstance(cap, uri.UnknownURI) or not hasattr(cap, "get_verifier"):
            raise ValueError("the checker takes a verify cap (or a read or write cap, reduced "
                             "to its verify cap); got something else")
        cap = cap.get_verifier()
        if cap is None:
            raise ValueError("a literal (LIT) file or directory has nothing on the storage "
                             "servers to check")
    return cap


class CheckerService(service.Service):
    """IChecker: check, verify and the results of earlier checks.

    ``store`` is a :class:`MemoryResults` or :class:`DatabaseResults`;
    ``clock`` gives the time a result is recorded at (``seconds()``)."""

    name = "checker"

    def __init__(self, storage_broker, store, reactor=None, clock=None):
        self.storage_broker = storage_broker
        self.store = store
        self.reactor = reactor
        self.clock = clock or reactor
        if self.clock is None:
            raise ValueError("the checker service needs a reactor or a clock")

    def stopService(self):
        self.store.close()
        return service.Service.stopService(self)

    def check(self, uri_to_check):
        """Deferred: a file's (needed, total, found, sharemap), or a
        directory's health (bool)."""
        return defer.ensureDeferred(self._run(uri_to_check, verify=False))

    def verify(self, uri_to_check):
        """Deferred: True for a file whose shares all check out (else a
        :class:`VerifyFailed` failure), a directory's health (bool)."""
        return defer.ensureDeferred(self._run(uri_to_check, verify=True))

    def checker_results_for(self, uri_to_check) -> list:
        """[(when, results)] recorded for this object, oldest first."""
        return self.store.get(self._key(verifycap_of(uri_to_check)))

    @staticmethod
    def _key(verifycap) -> str:
        return verifycap.to_string().decode("ascii")

    async def _run(self, uri_to_check, verify):
        vcap = verifycap_of(uri_to_check)
        is_dir = IDirnodeURI.providedBy(vcap)
        file_vcap = vcap.get_filenode_cap() if is_dir else vcap
        if isinstance(file_vcap, uri.CHKFileVerifierURI):
            r = await check_immutable(file_vcap, self.storage_broker, verify=verify,
                                      reactor=self.reactor)
        else:
            r = await check_mutable(file_vcap, self.storage_broker, verify=verify,
                                    reactor=self.reactor)
        results = r.healthy if is_dir else file_results(r)
        self.store.add(self._key(vcap), self.clock.seconds(), results)
        if not verify or is_dir:
            return results
        if r.corrupt_shares:
            raise VerifyFailed("%d corrupt share(s): %s" % (len(r.corrupt_shares), ", ".join(
                "share %d on server %s" % (shnum, server.get_name())
                for server, _si, shnum in r.corrupt_shares)))
        if not r.recoverable:
            raise VerifyFailed("the file is not recoverable: %d good share(s) found, %d needed"
                               % (r.count_shares_good, r.count_shares_needed))
        return True
