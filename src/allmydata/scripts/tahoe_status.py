"""``tahoe status [-v]``: what the node has done since it started.

It reads the node's ``/statistics?t=json`` (for the upload and download
counters and the uptime) and ``/status?t=json`` (the running and recent
operations), and prints them as Tahoe-LAFS 1.20 does, byte for byte for the
same JSON:

* ``Statistics (for last <uptime>):`` and the bytes and files uploaded and
  downloaded;
* the running operations, a box-drawn table with a progress bar (or ``No
  active operations.``);
* the recent operations, another table; without ``-v/--verbose`` only the
  uploads and downloads, with a line saying how many others were left out.

Sizes and durations are written as Tahoe-LAFS's CLI writes them
(:func:`size_text`, :func:`duration_text`), which differs from the
abbreviations of the rest of this package (1000 to 1023 bytes stay bytes,
and a unit is kept until the value reaches the next power of 1000).

Characters the output stream cannot encode are replaced (with ``?``), so an
ASCII-only terminal gets readable lines rather than an error.

The node is found through ``NODEDIR/node.url``, or ``-u/--node-url`` (an
option Tahoe-LAFS's ``tahoe status`` lacks; it means what it means in the
other commands).  When the node cannot be reached, or answers with an error
or something that is not the JSON expected, the command says so on stderr
and exits with 2, as Tahoe-LAFS's does.
"""

import numbers
import sys

from .common import UsageError
from .common_http import add_node_url_option, get_json, get_node_url

# the five-character label of each operation type in the tables
OP_LABELS = {
    "upload": " put ",
    "download": " get ",
    "retrieve": "retr ",
    "publish": " pub ",
    "mapupdate": "mapup",
}
UNKNOWN_LABEL = " ??? "
# the operation types listed without --verbose
DEFAULT_TYPES = ("upload", "download")

BAR_WIDTH = 15
FULL_BLOCK = "\u2588"
# The partly filled cell after the full ones: U+258F (one eighth of a cell)
# minus k, for k whole eighths of the cell's share of the progress
# (U+2588, a full block, for seven)
LAST_EIGHTH_BLOCK = 0x258F

SIZE_COLUMN = 10
SI_LETTERS = "kMGTPE"

MINUTE = 60
HOUR = 3600
DAY = 24 * HOUR
MONTH = 30 * DAY
YEAR = 365 * DAY


def register(sub):
    p = sub.add_parser("status", help="Various status information.",
                       description="Various status information: the bytes and files this node "
                                   "has uploaded and downloaded, its running operations and "
                                   "the recent ones.")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="Include publish, retrieve, mapupdate in ops")
    add_node_url_option(p)
    p.set_defaults(func=status)


class StatusDataError(Exception):
    """The node's answer is not the JSON ``tahoe status`` reads."""


def size_text(n) -> str:
    """A byte count as Tahoe-LAFS's CLI writes it: ``"%d B"`` below 1024,
    else two decimals of the SI unit (k, M, G, T, P, E) below whose next
    power of 1000 the count lies; ``"unknown"`` for None."""
    if n is None:
        return "unknown"
    if isinstance(n, bool) or not isinstance(n, numbers.Real):
        return str(n)
    if n < 1024:
        return "%d B" % n
    scale = 1000.0
    for letter in SI_LETTERS[:-1]:
        if n < scale * 1000.0:
            return "%.2f %sB" % (n / scale, letter)
        scale *= 1000.0
    return "%.2f %sB" % (n / scale, SI_LETTERS[-1])


def duration_text(seconds) -> str:
    """A duration as Tahoe-LAFS's CLI writes it: whole seconds below two
    minutes, minutes below three hours, hours below two days, days below
    two months, months below four years, years beyond; ``"unknown"`` for
    None."""
    if seconds is None:
        return "unknown"
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        return str(seconds)
    for limit, unit, name in ((2 * MINUTE, 1, "second"), (3 * HOUR, MINUTE, "minute"),
                              (2 * DAY, HOUR, "hour"), (2 * MONTH, DAY, "day"),
                              (4 * YEAR, MONTH, "month"), (None, YEAR, "year")):
        if limit is None or seconds < limit:
            count = int(seconds / unit) if unit != 1 else int(seconds)
            return "%d %s%s" % (count, name, "" if count == 1 else "s")
    raise AssertionError("unreachable")


def progress_bar(percent, width=BAR_WIDTH) -> str:
    """``percent`` (0 to 100) as a bar of ``width`` cells: full blocks, then
    one block filled to the nearest lower eighth, then spaces.  At 100 and
    beyond only the full blocks are drawn."""
    full = int(percent / 100.0 * width)
    fraction = (percent / (100.0 / width)) - full
    partial = "" if percent >= 100.0 else chr(LAST_EIGHTH_BLOCK - int(fraction * 8))
    return FULL_BLOCK * full + partial + " " * (width - full - 1)


def _label(op) -> str:
    return OP_LABELS.get(op.get("type"), UNKNOWN_LABEL)


def _active_cells(op):
    """(progress bar, progress figure) of one running operation."""
    kind = op.get("type")
    if kind == "upload":
        total = (op["progress-hash"] + op["progress-ciphertext"]
                 + op["progress-encode-push"]) / 3.0 * 100.0
        return progress_bar(total), "{:3.0f}".format(total)
    if kind == "download":
        # the figure is the fraction as the node sent it, the bar its percentage
        return progress_bar(op["progress"] * 100.0), "{}".format(op["progress"])
    return "", "???"


def active_lines(status_data) -> list:
    """The lines describing the running operations."""
    active = status_data.get("active")
    if not active:
        return ["No active operations."]

    def bar(left, middle):
        return (left + "\u2500" + "\u2500" * 5 + "\u2500" + middle + "\u2500" + "\u2500" * 26
                + "\u2500" + middle + "\u2500" + "\u2500" * 22 + "\u2500" + middle + "\u2500"
                + "\u2500" * 20)

    lines = ["Active operations:",
             "\u2553 {:<5} \u2565 {:<26} \u2565 {:<22} \u2565 {}".format(
                 "type", "storage index", "progress", "status message"),
             bar("\u255f", "\u256b")]
    for op in active:
        bar_text, figure = _active_cells(op)
        lines.append("\u2551 {} \u2551 {} \u2551 {:15} ({}%) \u2551 {}".format(
            _label(op), op["storage-index-string"], bar_text, figure, op["status"]))
    lines.append(bar("\u2559", "\u2568"))
    return lines


def _recent_size_cell(op) -> str:
    if op.get("type") == "mapupdate":
        return "{}".format(op["mode"])
    return size_text(op["total-size"])


def recent_lines(status_data, verbose) -> list:
    """The lines describing the recent operations: uploads and downloads,
    or all of them when ``verbose``."""
    recent = status_data.get("recent") or []
    lines = []
    if not recent:
        lines.append("No recent operations.")
    default_ops = [op for op in recent if op.get("type") in DEFAULT_TYPES]
    shown = recent if verbose else default_ops
    lines.append("")
    lines.append("Recent operations:")
    boxed = bool(default_ops) or verbose
    if boxed:
        lines.append("\u2553 {:<5} \u2565 {:<26} \u2565 {:<10} \u2565 {}".format(
            "type", "storage index", "size", "status message"))
    for op in shown:
        lines.append("\u2551 {} \u2551 {} \u2551 {:<10} \u2551 {}".format(
            _label(op), op["storage-index-string"], _recent_size_cell(op), op["status"]))
    if boxed:
        lines.append("\u2559\u2500" + "\u2500" * 5 + "\u2500\u2568\u2500" + "\u2500" * 26
                     + "\u2500\u2568\u2500" + "\u2500" * SIZE_COLUMN + "\u2500\u2568\u2500"
                     + "\u2500" * 20)
    skipped = len(recent) - len(shown)
    if skipped:
        lines.append("   Skipped {} non-upload/download operations; use --verbose to see"
                     .format(skipped))
    return lines


def statistics_lines(statistics_data) -> list:
    counters = statistics_data.get("counters") or {}
    stats = statistics_data.get("stats") or {}
    return [
        "Statistics (for last {}):".format(duration_text(stats.get("node.uptime"))),
        "    uploaded {} in {} files".format(size_text(counters.get("uploader.bytes_uploaded", 0)),
                                            counters.get("uploader.files_uploaded", 0)),
        "  downloaded {} in {} files".format(
            size_text(counters.get("downloader.bytes_downloaded", 0)),
            counters.get("downloader.files_downloaded", 0)),
        "",
    ]


def status_lines(status_data, statistics_data, verbose=False) -> list:
    """Every line ``tahoe status`` prints for these two JSON documents.
    Raises :class:`StatusDataError` when they lack what the lines need."""
    for name, doc in (("status", status_data), ("statistics", statistics_data)):
        if not isinstance(doc, dict):
            raise StatusDataError("the %s JSON is not an object" % name)
    for key in ("active", "recent"):
        ops = status_data.get(key)
        if ops is not None and not (isinstance(ops, list)
                                    and all(isinstance(op, dict) for op in ops)):
            raise StatusDataError("the status JSON's %r is not a list of objects" % key)
    for key in ("counters", "stats"):
        if not isinstance(statistics_data.get(key, {}), dict):
            raise StatusDataError("the statistics JSON's %r is not an object" % key)
    try:
        return (statistics_lines(statistics_data) + active_lines(status_data)
                + recent_lines(status_data, verbose))
    except KeyError as e:
        raise StatusDataError("an operation in the status JSON has no %s" % e) from None
    except (TypeError, ValueError) as e:
        raise StatusDataError("an operation in the status JSON has a value of the wrong "
                              "type: %s" % e) from None


def write_lines(lines, out=None):
    """Print ``lines`` on ``out`` (stdout), replacing what its encoding cannot
    represent."""
    out = out if out is not None else sys.stdout
    encoding = getattr(out, "encoding", None) or "ascii"
    for line in lines:
        out.write(line.encode(encoding, "replace").decode(encoding) + "\n")


def status(options) -> int:
    try:
        node_url = get_node_url(options)
        status_data = get_json(node_url + "status?t=json")
        statistics_data = get_json(node_url + "statistics?t=json")
        lines = status_lines(status_data, statistics_data, verbose=options.verbose)
    except (UsageError, StatusDataError) as e:
        print("failed to retrieve data: %s" % e, file=sys.stderr)
        return 2
    write_lines(lines)
    return 0


__all__ = ["register", "status", "status_lines", "size_text", "duration_text", "progress_bar",
           "StatusDataError"]
