"""``tahoe mkdir [PATH]``: make a directory, unlinked (``POST /uri?t=mkdir``)
or at ``alias:path`` (``POST /uri/$DIRCAP/path?t=mkdir``, which also makes
missing parents), and print its write cap.  ``--format=SDMF|MDMF`` picks the
mutable format of the new directory.
"""

from .cli_paths import add_dir_cap_option, resolve_arg
from .common import UsageError
from .common_http import add_node_url_option, get_node_url, http_call

DIR_FORMATS = ("SDMF", "MDMF")


def register(sub):
    p = sub.add_parser("mkdir", help="Create a new directory.",
                       description="Create a new directory, either unlinked (and print its cap) "
                                   "or as a subdirectory at PATH.")
    p.add_argument("path", nargs="?", metavar="REMOTE_DIR", default=None)
    p.add_argument("--format", dest="format", default=None, type=str.upper,
                   help="the directory's format: SDMF or MDMF (case-insensitive)")
    add_dir_cap_option(p)
    add_node_url_option(p)
    p.set_defaults(func=mkdir)


def mkdir(options) -> int:
    if options.format is not None and options.format not in DIR_FORMATS:
        raise UsageError("--format of a directory must be SDMF or MDMF, not %s" % options.format)
    query = "t=mkdir" + ("&format=" + options.format if options.format else "")
    node = get_node_url(options)
    where = resolve_arg(options, options.path) if options.path is not None else None
    if where is None or not where.segments:
        url = node + "uri?" + query
    else:
        url = where.url(node, query)
    _, body = http_call("POST", url, b"")
    print(body.decode("utf-8").strip())
    return 0
