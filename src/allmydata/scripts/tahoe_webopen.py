"""``tahoe webopen [PATH]``: open a browser on the node's page for a file or
directory (``/uri/$CAP/path``; ``-i/--info``: its ``?t=info`` page), or on
the welcome page without PATH.

The browser is started through the ``webbrowser`` module (which honours
``$BROWSER``); :func:`webopen` takes the opener as an argument so that the
URL can be checked without starting one.
"""

import webbrowser

from .cli_paths import add_dir_cap_option, resolve_arg
from .common_http import add_node_url_option, get_node_url


def register(sub):
    p = sub.add_parser("webopen", help="Open a web browser to a grid file or directory.",
                       description="Open a web browser to the contents of some file or "
                                   "directory on the grid. Without PATH, open the Welcome page.")
    p.add_argument("path", nargs="?", metavar="ALIAS:PATH", default=None)
    p.add_argument("-i", "--info", action="store_true", help="open the t=info page")
    add_dir_cap_option(p)
    add_node_url_option(p)
    p.set_defaults(func=webopen)


def webopen_url(options) -> str:
    node = get_node_url(options)
    if options.path is None:
        return node
    where = resolve_arg(options, options.path)
    return where.url(node, "t=info" if options.info else "")


def webopen(options, opener=None) -> int:
    url = webopen_url(options)
    (opener or webbrowser.open)(url)
    return 0
