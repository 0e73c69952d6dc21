"""What a check of one file or directory found, and what a repair did.

:class:`CheckResults` is the answer of ``check()`` on a file or directory
node (the later ICheckResults): whether the object is healthy (every share
present, on enough distinct servers) and recoverable (at least k good shares
of one version), the share and server counts, the corrupt shares found by
a verify, and which server holds which share.  Servers appear as
storage-client server objects (``get_serverid()``, ``get_longname()``), so
that pages and JSON can name them as Tahoe-LAFS does (``v0-...``).

:class:`CheckAndRepairResults` pairs the results before and after a repair
with whether a repair was attempted and whether it succeeded.

A literal (LIT) file has nothing on any server: its ``check()`` answers
``None``, and :func:`check_results_json` / :func:`check_and_repair_json`
turn ``None`` into the answer Tahoe-LAFS gives for one.

The JSON shapes are those of Tahoe-LAFS 1.20's web API (``POST ?t=check
&output=JSON``), so that its ``tahoe check`` reads ours.
"""

import attr

from .util import base32


def _server_list(servers) -> tuple:
    return tuple(servers)


@attr.s(frozen=True, slots=True, kw_only=True)
class CheckResults:
    """One object's health, as a check (or verify) saw it.

    ``sharemap`` maps a share number to the set of servers holding a good
    copy of it; ``corrupt_shares`` and ``incompatible_shares`` are lists of
    ``(server, storage_index, shnum)``.  ``servermap`` is the mutable
    file's :class:`~allmydata.mutable.servermap.ServerMap` (None for
    immutable files).  ``share_problems`` lists ``(server, shnum, text)``
    for shares a check could not use, for the report.
    """

    uri = attr.ib()                      # the verify cap (bytes) of what was checked
    storage_index = attr.ib()            # bytes
    healthy = attr.ib(converter=bool)
    recoverable = attr.ib(converter=bool)
    count_happiness = attr.ib()
    count_shares_needed = attr.ib()
    count_shares_expected = attr.ib()
    count_shares_good = attr.ib()
    count_good_share_hosts = attr.ib()
    count_recoverable_versions = attr.ib()
    count_unrecoverable_versions = attr.ib()
    servers_responding = attr.ib(converter=_server_list)
    sharemap = attr.ib(factory=dict)     # shnum -> set of servers
    count_wrong_shares = attr.ib(default=0)
    corrupt_shares = attr.ib(factory=list)
    incompatible_shares = attr.ib(factory=list)
    summary = attr.ib(default="")
    report = attr.ib(factory=list)       # lines of text for the HTML page
    share_problems = attr.ib(factory=list)
    servermap = attr.ib(default=None, eq=False)
    needs_rebalancing_p = attr.ib(default=False)

    def __attrs_post_init__(self):
        if self.healthy and not self.recoverable:
            raise ValueError("a healthy object is recoverable")
        if not self.summary:
            object.__setattr__(self, "summary", "Healthy" if self.healthy else "Not Healthy")

    # ---- the accessors of the later ICheckResults, which pages and JSON use ----
    def get_storage_index(self) -> bytes:
        return self.storage_index

    def get_storage_index_string(self) -> str:
        return base32.b2a(self.storage_index).decode("ascii")

    def get_uri(self):
        return self.uri

    def is_healthy(self) -> bool:
        return self.healthy

    def is_recoverable(self) -> bool:
        return self.recoverable

    def needs_rebalancing(self) -> bool:
        return bool(self.needs_rebalancing_p)

    def get_summary(self) -> str:
        return self.summary

    def get_corrupt_shares(self) -> list:
        return list(self.corrupt_shares)

    def get_servers_responding(self) -> tuple:
        return self.servers_responding

    def get_sharemap(self) -> dict:
        return self.sharemap

    # the counters under Tahoe-LAFS 1.20's ICheckResults names
    def get_happiness(self) -> int:
        return self.count_happiness

    def get_encoding_needed(self) -> int:
        return self.count_shares_needed

    def get_encoding_expected(self) -> int:
        return self.count_shares_expected

    def get_share_counter_good(self) -> int:
        return self.count_shares_good

    def get_share_counter_wrong(self) -> int:
        return self.count_wrong_shares

    def get_host_counter_good_shares(self) -> int:
        return self.count_good_share_hosts

    def get_version_counter_recoverable(self) -> int:
        return self.count_recoverable_versions

    def get_version_counter_unrecoverable(self) -> int:
        return self.count_unrecoverable_versions

    def get_incompatible_shares(self) -> list:
        return list(self.incompatible_shares)

    def get_report(self) -> list:
        return list(self.report)

    def get_share_problems(self) -> list:
        return list(self.share_problems)

    def get_servermap(self):
        return self.servermap


@attr.s(frozen=True, slots=True, kw_only=True)
class CheckAndRepairResults:
    """A check, and the repair that may have followed it.

    ``post_repair_results`` is the check made after the repair; when no
    repair was attempted it is the same object as ``pre_repair_results``.
    ``repair_error`` says, for a repair that was not possible or failed,
    why (for example: a read-only mutable file, an unrecoverable file).
    """

    storage_index = attr.ib()
    pre_repair_results = attr.ib()
    post_repair_results = attr.ib()
    repair_attempted = attr.ib(converter=bool, default=False)
    repair_successful = attr.ib(converter=bool, default=False)
    repair_error = attr.ib(default=None)

    def get_storage_index_string(self) -> str:
        return base32.b2a(self.storage_index).decode("ascii")

    # Tahoe-LAFS 1.20's ICheckAndRepairResults names
    def get_storage_index(self) -> bytes:
        return self.storage_index

    def get_repair_attempted(self) -> bool:
        return self.repair_attempted

    def get_repair_successful(self) -> bool:
        return self.repair_attempted and self.repair_successful

    def get_pre_repair_results(self):
        return self.pre_repair_results

    def get_post_repair_results(self):
        return self.post_repair_results


def _sharemap_json(r: CheckResults) -> dict:
    """The JSON ``sharemap``: by share number for an immutable file; for a
    mutable one, as Tahoe-LAFS 1.20 names them, every good share of every
    version as ``seq<N>-<root hash prefix>-sh<shnum>``."""
    versioned = getattr(r.servermap, "versioned_sharemap", None)
    if versioned is not None:
        items = sorted(versioned().items())
    else:
        items = [(str(shnum), servers) for (shnum, servers) in sorted(r.sharemap.items())]
    return {name: sorted(s.get_longname() for s in servers) for (name, servers) in items}


def check_counts_json(r: CheckResults) -> dict:
    """The ``results`` object of a check's JSON (without healthy/recoverable)."""
    return {
        "count-happiness": r.count_happiness,
        "count-shares-good": r.count_shares_good,
        "count-shares-needed": r.count_shares_needed,
        "count-shares-expected": r.count_shares_expected,
        "count-good-share-hosts": r.count_good_share_hosts,
        "count-corrupt-shares": len(r.corrupt_shares),
        "list-corrupt-shares": [[s.get_longname(), base32.b2a(si).decode("ascii"), shnum]
                                for (s, si, shnum) in r.corrupt_shares],
        "servers-responding": [s.get_longname() for s in r.servers_responding],
        "sharemap": _sharemap_json(r),
        "count-wrong-shares": r.count_wrong_shares,
        "count-recoverable-versions": r.count_recoverable_versions,
        "count-unrecoverable-versions": r.count_unrecoverable_versions,
    }


def check_results_json(r) -> dict:
    """A check's JSON as Tahoe-LAFS 1.20 answers it; ``None`` is a LIT file."""
    if r is None:
        return {"storage-index": "", "results": {"healthy": True}}
    results = check_counts_json(r)
    results["healthy"] = r.healthy
    results["recoverable"] = r.recoverable
    return {"storage-index": r.get_storage_index_string(), "summary": r.summary,
            "results": results}


def check_and_repair_json(r) -> dict:
    """A check-and-repair's JSON as Tahoe-LAFS 1.20 answers it; ``None`` is a
    LIT file."""
    if r is None:
        return {"storage-index": "", "repair-attempted": False}
    return {
        "storage-index": r.get_storage_index_string(),
        "repair-attempted": r.repair_attempted,
        "repair-successful": r.repair_successful,
        "pre-repair-results": check_results_json(r.pre_repair_results),
        "post-repair-results": check_results_json(r.post_repair_results),
    }
