"""``tahoe manifest`` and ``tahoe stats``: list, or count, everything
reachable from a directory.

* ``tahoe manifest [-s/--storage-index] [--verify-cap] [--repair-cap]
  [-r/--raw] [ALIAS:PATH]`` sends ``POST ...?t=stream-manifest`` and prints
  one line per file or directory as the node reaches it: ``CAP PATH`` (the
  root's path is empty, so its line ends with a space), or only the storage
  index, verify cap or repair cap (objects without one, such as LIT files,
  print nothing then).  ``--raw`` prints the node's stream as it comes.
* ``tahoe stats [-r/--raw] [ALIAS:PATH]`` starts ``t=start-deep-stats``
  under a fresh operation handle, polls
  ``/operations/HANDLE?t=status&output=JSON&release-after-complete=true``
  until the node says it has finished, and prints the counts and total
  sizes with a size histogram (``--raw``: the node's JSON).

The output is Tahoe-LAFS 1.20's, byte for byte.  Exit codes: 0 when the
node answered; 1 for an HTTP error, a traversal that failed (the node's
``ERROR:`` text goes to stderr) or an answer that is not what the web API
sends.

Tahoe-LAFS polls the stats at 1, 5, 10, 30, 60, 90 seconds and every two
minutes after that, so a small tree takes a second and a large one up to
two minutes longer than it needs; these commands poll after 0.1 s and then
at intervals growing by half up to 10 s, which answers small trees at once
and costs the node one small request every 10 s on large ones.

On a terminal, both show on stderr how many objects the node has visited
so far (see :mod:`.progress`).
"""

import json
import os
import re
import sys
import time

from ..util import base32
from .common import UsageError
from .common_http import get_node_url, http_call
from .progress import ObjectCounter
from .quoting import quote_output, quote_path
from .streaming import add_location_options, location_url, post_stream, print_stream, write_raw

FIRST_POLL = 0.1
POLL_GROWTH = 1.5
LONGEST_POLL = 10.0

# what --raw copies to stdout as it is; anything else is refused
PRINTABLE = re.compile(rb"[\n\r\x20-\x7E]*\Z")

STATS_KEYS = ("count-immutable-files", "count-mutable-files", "count-literal-files",
              "count-files", "count-directories", "size-immutable-files", "size-mutable-files",
              "size-literal-files", "size-directories", "largest-directory",
              "largest-immutable-file")


def register(sub):
    p = sub.add_parser(
        "manifest", help="List every file and directory under a directory.",
        description="Print the cap and path of every file and directory reachable from "
                    "ALIAS:PATH (default 'tahoe:'), each once.")
    p.add_argument("-s", "--storage-index", dest="storage_index", action="store_true",
                   help="print only the storage indexes")
    p.add_argument("--verify-cap", dest="verify_cap", action="store_true",
                   help="print only the verify caps")
    p.add_argument("--repair-cap", dest="repair_cap", action="store_true",
                   help="print only the repair caps")
    add_location_options(p, raw_flags=("-r", "--raw"),
                         raw_help="print the node's JSON lines as they come")
    p.set_defaults(func=manifest)
    p = sub.add_parser(
        "stats", help="Count the files and directories under a directory, and their sizes.",
        description="Count the files and directories reachable from ALIAS:PATH (default "
                    "'tahoe:') by kind, add up their sizes and print a histogram of file "
                    "sizes.")
    add_location_options(p, raw_flags=("-r", "--raw"))
    p.set_defaults(func=stats)


class ManifestReport:
    """The line ``tahoe manifest`` prints for each object of the stream."""

    def __init__(self, options):
        self.options = options

    def add(self, d) -> list:
        if d["type"] not in ("file", "directory"):
            return []
        options = self.options
        for wanted, key in ((options.storage_index, "storage-index"),
                            (options.verify_cap, "verifycap"),
                            (options.repair_cap, "repaircap")):
            if wanted:
                value = d.get(key)
                return ["%s\n" % quote_output(value, quotemarks=False)] if value else []
        return ["%s %s\n" % (quote_output(d["cap"], quotemarks=False),
                             quote_path(d["path"], quotemarks=False))]

    def done(self) -> list:
        return []


def manifest(options) -> int:
    url = location_url(options, options.where, "t=stream-manifest")
    with ObjectCounter("manifest") as counter:
        conn, resp = post_stream(url)
        return print_stream(conn, resp, ManifestReport(options), counter, "t=stream-manifest",
                            raw=options.raw)


def abbreviate_size(n, si=True) -> str:
    """A byte count the way ``tahoe stats`` shows it: ``"%d B"`` below 1024
    (in both systems), else two decimals of kB/MB/.. (powers of 1000) or
    kiB/MiB/.. (powers of 1024), the unit chosen so that the number is
    below the next power."""
    if n < 1024:
        return "%d B" % n
    base = 1000.0 if si else 1024.0
    suffix = "B" if si else "iB"
    for power, letter in enumerate("kMGTP", start=1):
        if n < base ** (power + 1):
            return "%.2f %s%s" % (n / base ** power, letter, suffix)
    return "%.2f E%s" % (n / base ** 6, suffix)


def abbreviate_size_both(n) -> str:
    return "(%s, %s)" % (abbreviate_size(n, True), abbreviate_size(n, False))


def format_stats(data) -> list:
    """The lines ``tahoe stats`` prints for the finished deep-stats JSON."""
    width = max(len(k) for k in STATS_KEYS)
    lines = ["Counts and Total Sizes:\n"]
    for key in STATS_KEYS:
        if key not in data:
            continue
        value = data[key]
        line = "%*s: %d" % (width, key, value)
        if not key.startswith("count-") and value > 1000:
            line += "    " + abbreviate_size_both(value)
        lines.append(line + "\n")
    histogram = data["size-files-histogram"]
    if histogram:
        lines.append("Size Histogram:\n")
        maxlen = max(len(str(high)) for (low, high, count) in histogram)
        countlen = max(len(str(count)) for (low, high, count) in histogram)
        previous_high = None
        for low, high, count in histogram:
            if _skips_sizes(previous_high, low):
                lines.append(" " * (maxlen - 1) + "...\n")
            previous_high = high
            lines.append("%*d-%-*d : %-*d    %s\n" % (maxlen, low, maxlen, high, countlen, count,
                                                      abbreviate_size_both(high)))
    return lines


def _skips_sizes(previous_high, low) -> bool:
    """Does the histogram skip sizes between the previous bucket and this one?"""
    return previous_high is not None and low != previous_high + 1


def poll_delays():
    delay = FIRST_POLL
    while True:
        yield delay
        delay = min(delay * POLL_GROWTH, LONGEST_POLL)


def _visited(status) -> int:
    counts = [status.get("count-files"), status.get("count-directories")]
    return sum(c for c in counts if isinstance(c, int))


def stats(options) -> int:
    ophandle = base32.b2a(os.urandom(16)).decode("ascii")
    url = location_url(options, options.where, "t=start-deep-stats&ophandle=" + ophandle)
    http_call("POST", url, body=b"", ok=(200, 302))
    status_url = (get_node_url(options) + "operations/" + ophandle
                  + "?t=status&output=JSON&release-after-complete=true")
    with ObjectCounter("stats") as counter:
        for delay in poll_delays():
            time.sleep(delay)
            _, body = http_call("GET", status_url, ok=(200,))
            try:
                status = json.loads(body)
                finished = status["finished"]
            except (ValueError, KeyError, TypeError) as e:
                raise UsageError("the node's status of the deep-stats operation is not what the "
                                 "web API sends (%s: %s): %r" % (type(e).__name__, e, body[:300])
                                 ) from None
            if finished:
                break
            counter.set_count(_visited(status))
    if options.raw:
        if not PRINTABLE.match(body):
            print("the node's deep-stats answer holds characters other than printable ASCII, "
                  "not copied to the output:\n%s" % quote_output(body), file=sys.stderr)
            return 1
        write_raw(body + b"\n")
        return 0
    try:
        lines = format_stats(status)
    except (KeyError, TypeError, ValueError) as e:
        raise UsageError("the node's deep-stats answer is not what the web API sends (%s: %s)"
                         % (type(e).__name__, e)) from None
    sys.stdout.write("".join(lines))
    return 0
