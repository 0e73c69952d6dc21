"""``tahoe check`` and ``tahoe deep-check``: ask the node how healthy a file
or a whole tree is, and optionally verify, repair and renew leases.

* ``tahoe check [--raw] [--verify] [--repair] [--add-lease] [ALIAS:PATH ...]``
  sends ``POST ...?t=check&output=JSON`` (with ``verify=true``,
  ``repair=true``, ``add-lease=true`` as asked) for each argument in turn
  (the ``tahoe:`` root when there is none) and prints a summary: the
  one-line summary (or ``healthy``/``not healthy`` with ``--repair``), the
  storage index, the good and wrong share counts, every corrupt share and,
  with ``--repair``, whether the repair succeeded.  ``--raw`` prints the
  node's JSON instead.
* ``tahoe deep-check [--raw] [--verify] [--repair] [--add-lease] [-v]
  [ALIAS:PATH ...]`` sends ``POST ...?t=stream-deep-check`` and reads one
  JSON line per object as the node checks it: a line every 100 objects,
  one line per object with ``-v``, every corrupt share and repair outcome,
  and totals at the end.  ``--raw`` prints the stream as it comes.

The output is Tahoe-LAFS 1.20's, byte for byte.  Both exit with 0 when the
node answered, whatever it found (unhealthy files are a result, not a
failure); with 1 for an HTTP error (the first failing argument stops the
command), a traversal that failed (the node's ``ERROR:`` text goes to
stderr) or an answer that is not what the web API sends.  An unhealthy
file exits with 0 as in Tahoe-LAFS, so scripts must read the output.

Two cases where Tahoe-LAFS 1.20's CLI fails do something useful here:
``check --repair`` of a LIT file or directory (whose answer has no
pre-repair results, as nothing of it is on the servers) prints
``Summary: healthy`` and its empty storage index; and ``deep-check``
without ALIAS:PATH exits with 1 after an ``ERROR:`` line, as it does with
one (Tahoe-LAFS 1.20 exits with 0 there).

On a terminal, ``deep-check`` also shows on stderr how many objects have
been checked so far (see :mod:`.progress`).
"""

import json
import sys

from .common import UsageError
from .common_http import http_call
from .progress import ObjectCounter
from .quoting import quote_output, quote_path
from .streaming import add_location_options, location_url, post_stream, print_stream

LIT_SUMMARY = "Healthy (LIT)"


def _add_check_options(p):
    p.add_argument("--verify", action="store_true",
                   help="download every share and check its hashes, rather than only asking "
                        "the servers which shares they hold")
    p.add_argument("--repair", action="store_true",
                   help="repair whatever is found unhealthy")
    p.add_argument("--add-lease", dest="add_lease", action="store_true",
                   help="add or renew this client's lease on every share found")
    add_location_options(p, several=True)


def register(sub):
    p = sub.add_parser(
        "check", help="Check the health of a file or directory.",
        description="Ask the grid how many shares of each named file or directory (not what "
                    "it contains) are in place, optionally verify them, repair them and renew "
                    "their leases. Without ALIAS:PATH, 'tahoe:' is checked.")
    _add_check_options(p)
    p.set_defaults(func=check)
    p = sub.add_parser(
        "deep-check", help="Check every file and directory under a directory.",
        description="Run 'tahoe check' on a directory and on everything reachable from it, "
                    "each object once, and print totals. Without ALIAS:PATH, 'tahoe:' is "
                    "checked.")
    _add_check_options(p)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print one line for every object checked")
    p.set_defaults(func=deep_check)


def check_query(base, options) -> str:
    query = base
    if options.verify:
        query += "&verify=true"
    if options.repair:
        query += "&repair=true"
    if options.add_lease:
        query += "&add-lease=true"
    return query


def _share_location(entry) -> str:
    serverid, storage_index, shnum = entry
    return "server %s, SI %s, shnum %r" % (quote_output(serverid, quotemarks=False),
                                           quote_output(storage_index, quotemarks=False), shnum)


def _counts_lines(results) -> list:
    return [" good-shares: %r (encoding is %r-of-%r)\n"
            % (results["count-shares-good"], results["count-shares-needed"],
               results["count-shares-expected"]),
            " wrong-shares: %r\n" % (results["count-wrong-shares"],)]


def _corrupt_lines(results) -> list:
    corrupt = results.get("list-corrupt-shares") or []
    if not corrupt:
        return []
    return [" corrupt shares:\n"] + ["  %s\n" % _share_location(e) for e in corrupt]


def format_check(data) -> list:
    """The lines ``tahoe check`` prints for one ``t=check&output=JSON`` answer."""
    results = data["results"]
    lines = ["Summary: %s\n" % quote_output(data.get("summary", LIT_SUMMARY), quotemarks=False),
             " storage index: %s\n" % quote_output(data["storage-index"], quotemarks=False)]
    if all(k in results for k in ("count-shares-good", "count-shares-needed",
                                  "count-shares-expected", "count-wrong-shares")):
        lines += _counts_lines(results)
    return lines + _corrupt_lines(results)


def format_check_and_repair(data) -> list:
    """The lines ``tahoe check --repair`` prints for one answer."""
    storage_index = " storage index: %s\n" % quote_output(data["storage-index"], quotemarks=False)
    if "pre-repair-results" not in data:
        # a LIT file or directory: nothing on the servers, nothing to repair
        return ["Summary: healthy\n", storage_index]
    results = data["pre-repair-results"]["results"]
    lines = ["Summary: %s\n" % ("healthy" if results["healthy"] else "not healthy"),
             storage_index]
    lines += _counts_lines(results)
    lines += _corrupt_lines(results)
    if data["repair-attempted"]:
        lines.append(" repair successful\n" if data["repair-successful"] else " repair failed\n")
    return lines


def _not_understood(what, where, body, e):
    return UsageError("the node's answer to %s for %s is not what the web API sends (%s: %s): %r"
                      % (what, where or "tahoe:", type(e).__name__, e, body[:300]))


def check_location(options, where) -> None:
    url = location_url(options, where, check_query("t=check&output=JSON", options))
    _, body = http_call("POST", url, body=b"", ok=(200,))
    out = sys.stdout
    if options.raw:
        out.write(body.decode("utf-8") + "\n")
        return
    try:
        data = json.loads(body)
        lines = format_check_and_repair(data) if options.repair else format_check(data)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise _not_understood("t=check", where, body, e) from None
    out.write("".join(lines))


def check(options) -> int:
    for where in options.locations or [""]:
        check_location(options, where)
    return 0


class DeepCheckReport:
    """Turns the objects of a ``t=stream-deep-check`` answer into the lines
    ``tahoe deep-check`` prints, and keeps the totals."""

    def __init__(self, verbose=False):
        self.verbose = verbose
        self.objects = 0
        self.healthy = 0
        self.unhealthy = 0

    def _count(self) -> list:
        self.objects += 1
        # without -v, a sign of life every 100 objects
        return ["%d objects checked..\n" % self.objects] if self.objects % 100 == 0 else []

    @staticmethod
    def _path(d) -> str:
        return quote_path(d["path"] or ["<root>"])

    @staticmethod
    def _corrupt(results) -> list:
        return [" corrupt: %s\n" % _share_location(e)
                for e in results.get("list-corrupt-shares", [])]

    def add(self, d) -> list:
        """The lines for one object of the stream (nothing for the final
        ``stats`` object or an unknown object)."""
        if d["type"] not in ("file", "directory"):
            return []
        lines = self._count()
        cr = d["check-results"]
        if cr["results"]["healthy"]:
            self.healthy += 1
        else:
            self.unhealthy += 1
        if self.verbose:
            summary = quote_output(cr.get("summary", LIT_SUMMARY), quotemarks=False)
            lines.append("%s: %s\n" % (self._path(d), summary))
        return lines + self._corrupt(cr["results"])

    def done(self) -> list:
        return ["done: %d objects checked, %d healthy, %d unhealthy\n"
                % (self.objects, self.healthy, self.unhealthy)]


class DeepCheckAndRepairReport(DeepCheckReport):
    """The same for ``--repair``: counts before and after repair."""

    def __init__(self, verbose=False):
        DeepCheckReport.__init__(self, verbose)
        self.post_healthy = 0
        self.post_unhealthy = 0
        self.attempted = 0
        self.successful = 0

    def add(self, d) -> list:
        if d["type"] not in ("file", "directory"):
            return []
        lines = self._count()
        crr = d["check-and-repair-results"]
        if d["storage-index"]:
            was_healthy = bool(crr["pre-repair-results"]["results"]["healthy"])
            now_healthy = bool(crr["post-repair-results"]["results"]["healthy"])
        else:
            was_healthy = now_healthy = True  # a LIT file or directory
        self.healthy += was_healthy
        self.unhealthy += not was_healthy
        self.post_healthy += now_healthy
        self.post_unhealthy += not now_healthy
        if crr["repair-attempted"]:
            self.attempted += 1
            self.successful += bool(crr["repair-successful"])
        if self.verbose:
            lines.append("%s: %s\n" % (self._path(d), "healthy" if was_healthy else "not healthy"))
        lines += self._corrupt(crr.get("pre-repair-results", {}).get("results", {}))
        if crr["repair-attempted"]:
            lines.append(" repair successful\n" if crr["repair-successful"]
                         else " repair failed\n")
        return lines

    def done(self) -> list:
        return ["done: %d objects checked\n" % self.objects,
                " pre-repair: %d healthy, %d unhealthy\n" % (self.healthy, self.unhealthy),
                " %d repairs attempted, %d successful, %d failed\n"
                % (self.attempted, self.successful, self.attempted - self.successful),
                " post-repair: %d healthy, %d unhealthy\n"
                % (self.post_healthy, self.post_unhealthy)]


def deep_check_location(options, where, counter) -> int:
    url = location_url(options, where, check_query("t=stream-deep-check", options))
    conn, resp = post_stream(url)
    report = (DeepCheckAndRepairReport if options.repair else DeepCheckReport)(options.verbose)
    return print_stream(conn, resp, report, counter, "t=stream-deep-check", raw=options.raw)


def deep_check(options) -> int:
    rc = 0
    with ObjectCounter("deep-check") as counter:
        for where in options.locations or [""]:
            rc = deep_check_location(options, where, counter) or rc
    return rc
