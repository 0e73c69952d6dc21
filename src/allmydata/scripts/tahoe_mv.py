"""``tahoe mv FROM TO`` and ``tahoe ln FROM TO``: move or add a link between
directories on the grid, without copying any file contents.

Both look up FROM's cap (``GET .../FROM?t=json``), link it at TO with
``PUT .../TO?t=uri&replace=only-files`` (which makes missing parent
directories, and refuses to replace a directory), and ``mv`` then unlinks
FROM.  A TO ending in ``/`` is a directory: the link keeps FROM's name.
Both print ``OK``.
"""

import sys

from .cli_paths import add_dir_cap_option, resolve_arg
from .common import UsageError
from .common_http import (
    HTTPError,
    add_node_url_option,
    get_json,
    get_node_url,
    http_call,
)


def register(sub):
    for name, helptext in (("mv", "Move a file within the grid."),
                           ("ln", "Make an additional link to an existing file or directory.")):
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.add_argument("from_path", metavar="FROM")
        p.add_argument("to_path", metavar="TO")
        add_dir_cap_option(p)
        add_node_url_option(p)
        p.set_defaults(func=move_or_link, mode=name)


def child_cap(data) -> str:
    """The cap to link for a ``t=json`` description: the write cap if any."""
    cap = data.get("rw_uri") or data.get("ro_uri")
    if not cap:
        raise UsageError("the node gave no cap for this object")
    return cap


def move_or_link(options) -> int:
    node = get_node_url(options)
    source = resolve_arg(options, options.from_path)
    target = resolve_arg(options, options.to_path)
    if options.mode == "mv" and not source.segments:
        raise UsageError("cannot move %s: it is not an entry of a directory (give a path after "
                         "the alias or cap)" % options.from_path)
    if target.trailing_slash or not target.segments:
        if not source.segments:
            raise UsageError("cannot link %s into a directory: it has no name; give the new "
                             "name in TO" % options.from_path)
        target = target.child(source.name)
    if (source.root, source.segments) == (target.root, target.segments):
        print("OK")  # already there: moving onto itself must not unlink it
        return 0
    try:
        _, data = get_json(source.url(node, "t=json"))
    except HTTPError as e:
        print("Error: %s" % e.args[0], file=sys.stderr)
        return 1
    cap = child_cap(data)
    try:
        http_call("PUT", target.url(node, "t=uri&replace=only-files"), cap.encode("utf-8"))
    except HTTPError as e:
        if e.status == 409:
            print("Error: You can't overwrite a directory with a file", file=sys.stderr)
        else:
            print("Error: %s" % e.args[0], file=sys.stderr)
        return 1
    if options.mode == "mv":
        try:
            http_call("DELETE", source.url(node), ok=(200,))
        except HTTPError as e:
            print("Error deleting original after move: %s" % e.args[0], file=sys.stderr)
            return 2
    print("OK")
    return 0
