"""``tahoe ls [PATH]``: list a directory (or describe one file) through the
node's web API (``GET ...?t=json``).

Output, as Tahoe-LAFS 1.20 prints it: one name per line, sorted; ``-F``
marks directories with ``/`` and mutable files with ``*``; ``--uri`` /
``--readonly-uri`` add the cap after the name; ``-l`` adds a mode
(``drwx``: directory, readable, writeable through this link, listable), the
size (``-`` for directories, ``?`` when unknown) and the link's modification
time.  When several columns are shown, sizes and names are right-aligned.
``--json`` prints the node's JSON answer as it came.  A missing path prints
``No such file or directory`` and exits with 2.
"""

import json
import sys
import time

from .cli_paths import add_dir_cap_option, resolve_arg
from .common_http import HTTPError, add_node_url_option, get_node_url, http_call

SIX_MONTHS = 6 * 31 * 24 * 60 * 60


def register(sub):
    p = sub.add_parser("ls", help="List a directory.",
                       description="List the contents of a directory on the grid (or show one "
                                   "file). If PATH is omitted, 'tahoe:' is assumed.")
    p.add_argument("path", nargs="?", metavar="PATH", default=None)
    p.add_argument("-l", "--long", action="store_true",
                   help="long format: mode, size and modification time")
    p.add_argument("--uri", action="store_true", help="show the caps")
    p.add_argument("--readonly-uri", dest="readonly_uri", action="store_true",
                   help="show the read-only caps")
    p.add_argument("-F", "--classify", action="store_true",
                   help="append '/' to directory names and '*' to mutable files")
    p.add_argument("--json", action="store_true", help="show the node's JSON answer")
    add_dir_cap_option(p)
    add_node_url_option(p)
    p.set_defaults(func=ls)


def format_time(when, now=None) -> str:
    """Like GNU ls: ``Mon DD HH:MM`` within six months, ``Mon DD  YYYY``
    for older or future times."""
    if when is None:
        return "-"
    now = time.time() if now is None else now
    fmt = "%b %d  %Y" if (now - when) > SIX_MONTHS or when > now else "%b %d %H:%M"
    return time.strftime(fmt, time.localtime(when))


def link_time(metadata):
    """The link's modification time: ``tahoe.linkmotime``, else ``mtime``."""
    if not isinstance(metadata, dict):
        return None
    tahoe = metadata.get("tahoe")
    if isinstance(tahoe, dict) and isinstance(tahoe.get("linkmotime"), (int, float)):
        return tahoe["linkmotime"]
    mtime = metadata.get("mtime")
    return mtime if isinstance(mtime, (int, float)) else None


def describe(name, kind, data, options, now=None) -> list:
    """The columns of one entry: [mode, size, time,] name[, cap]."""
    rw = data.get("rw_uri")
    ro = data.get("ro_uri")
    if kind == "dirnode":
        mode, size, suffix = "dr%sx" % ("w" if rw else "-"), "-", "/"
    elif kind == "filenode":
        mode = "-r%s-" % ("w" if rw else "-")
        size = str(data["size"]) if isinstance(data.get("size"), int) else "?"
        suffix = "*" if data.get("mutable") else ""
    else:
        mode, size, suffix = "?---", "?", ""
    columns = []
    if options.long:
        columns += [mode, size, format_time(link_time(data.get("metadata")), now)]
    columns.append(name + (suffix if options.classify else ""))
    if options.uri:
        columns.append(rw or ro or "")
    elif options.readonly_uri:
        columns.append(ro or rw or "")
    return columns


def format_rows(rows, options) -> list:
    """Lines of text: sizes and names right-aligned when there is more than
    the name to show."""
    if not rows:
        return []
    if not (options.long or options.uri or options.readonly_uri):
        return [row[0] for row in rows]
    name_col = 3 if options.long else 0
    right = {name_col} | ({1} if options.long else set())
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.rjust(widths[i]) if i in right else cell for i, cell in enumerate(row)]
        lines.append(" ".join(cells).rstrip())
    return lines


def listing(parsed, name, options, now=None):
    """``(lines, has_unknown)`` for the decoded ``t=json`` answer."""
    kind, data = parsed
    if kind == "dirnode":
        children = data.get("children", {})
        rows = [describe(child, ckind, cdata, options, now)
                for child, (ckind, cdata) in sorted(children.items())]
        unknown = any(ckind not in ("dirnode", "filenode") for ckind, _ in children.values())
    else:
        rows = [describe(name, kind, data, options, now)]
        unknown = kind not in ("filenode",)
    return format_rows(rows, options), unknown


def ls(options) -> int:
    where = resolve_arg(options, options.path)
    url = where.url(get_node_url(options), "t=json")
    try:
        _, body = http_call("GET", url, ok=(200,))
    except HTTPError as e:
        if e.status == 404:
            print("No such file or directory", file=sys.stderr)
            return 2
        raise
    if options.json:
        print(body.decode("utf-8"))
        return 0
    try:
        parsed = json.loads(body)
        lines, unknown = listing(parsed, where.name or "", options)
    except (ValueError, TypeError, KeyError, AttributeError):
        print("the node's t=json answer for %s is not a listing: %r" % (options.path, body[:200]),
              file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    if unknown:
        print("This listing included unknown objects. Using a webapi server that supports a "
              "later version of Tahoe may help.", file=sys.stderr)
    return 0
