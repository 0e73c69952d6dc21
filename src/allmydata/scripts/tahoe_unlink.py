"""``tahoe unlink PATH`` (also ``tahoe rm``): remove one entry from its
directory (``DELETE /uri/$DIRCAP/path``).  The object itself is not deleted;
only this link to it is.  Prints the node's status line (``200 OK``).

Tahoe-LAFS 1.20 removed ``rm``; it is kept here as another name for
``unlink``.
"""

from .cli_paths import add_dir_cap_option, resolve_arg
from .common import UsageError
from .common_http import add_node_url_option, get_node_url, http_call


def register(sub):
    for name, extra in (("unlink", {}), ("rm", {})):
        p = sub.add_parser(name, help="Unlink a file or directory on the grid.",
                           description="Remove a named entry from its parent directory.", **extra)
        p.add_argument("path", metavar="REMOTE_FILE")
        add_dir_cap_option(p)
        add_node_url_option(p)
        p.set_defaults(func=unlink)


def unlink(options) -> int:
    where = resolve_arg(options, options.path)
    if not where.segments:
        raise UsageError("'tahoe %s' can only unlink directory entries, so a path must be given."
                         % options.command)
    http_call("DELETE", where.url(get_node_url(options)), ok=(200,))
    print("200 OK")
    return 0
