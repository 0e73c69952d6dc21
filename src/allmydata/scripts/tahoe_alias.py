"""``tahoe create-alias ALIAS``, ``tahoe add-alias ALIAS DIRCAP`` and
``tahoe list-aliases``: the alias table in ``NODEDIR/private/aliases``.

``create-alias`` makes a new directory (``POST /uri?t=mkdir``) and names it;
``add-alias`` names an existing directory cap (checked to be one).
``list-aliases`` prints ``name: cap`` lines (names right-aligned, sorted),
``--readonly-uri`` the read-only caps, ``--json`` a ``{name: {readwrite,
readonly}}`` object.
"""

import json

from allmydata import uri
from allmydata.uri_interfaces import IDirnodeURI

from . import cli_paths
from .common import UsageError, node_directory
from .common_http import add_node_url_option, get_node_url, http_call


def register(sub):
    p = sub.add_parser("create-alias", help="Create a new alias cap.",
                       description="Create a new directory and add an alias for it.")
    p.add_argument("alias", metavar="ALIAS[:]")
    cli_paths.add_dir_cap_option(p)
    add_node_url_option(p)
    p.set_defaults(func=create_alias)

    p = sub.add_parser("add-alias", help="Add a new alias cap.",
                       description="Add a new alias for an existing directory.")
    p.add_argument("alias", metavar="ALIAS[:]")
    p.add_argument("cap", metavar="DIRCAP")
    cli_paths.add_dir_cap_option(p)
    add_node_url_option(p)
    p.set_defaults(func=add_alias)

    p = sub.add_parser("list-aliases", help="List all alias caps.",
                       description="Display a table of all configured aliases.")
    p.add_argument("--readonly-uri", dest="readonly_uri", action="store_true",
                   help="show read-only dircaps instead of read-write ones")
    p.add_argument("--json", action="store_true", help="show JSON output")
    cli_paths.add_dir_cap_option(p)
    add_node_url_option(p)
    p.set_defaults(func=list_aliases)


def directory_cap(text: str):
    """The parsed cap if ``text`` is a directory cap, else a UsageError."""
    try:
        cap = uri.from_string(text.strip())
    except uri.URIError as e:
        raise UsageError("%s is not a valid cap: %s" % (text, e)) from None
    if not IDirnodeURI.providedBy(cap):
        raise UsageError("%s is not a directory cap (URI:DIR2...)" % text)
    return cap


def create_alias(options) -> int:
    nodedir = node_directory(options)
    name = cli_paths.check_alias_name(options.alias)
    if name in cli_paths.read_aliases(nodedir):
        raise cli_paths.AliasError("Alias '%s' already exists!" % name)
    _, body = http_call("POST", get_node_url(options) + "uri?t=mkdir", b"")
    cli_paths.add_alias(nodedir, name, body.decode("utf-8").strip())
    print("Alias '%s' created" % name)
    return 0


def add_alias(options) -> int:
    nodedir = node_directory(options)
    name = cli_paths.check_alias_name(options.alias)
    cap = directory_cap(options.cap)
    cli_paths.add_alias(nodedir, name, cap.to_string().decode("ascii"))
    print("Alias '%s' added" % name)
    return 0


def _readonly(cap_text: str) -> str:
    try:
        return uri.from_string(cap_text).get_readonly().to_string().decode("ascii")
    except (uri.URIError, AttributeError):
        return cap_text


def list_aliases(options) -> int:
    aliases = cli_paths.read_aliases(node_directory(options))
    names = sorted(aliases)
    if options.json:
        data = {}
        for name in names:
            cap = aliases[name]
            entry = {}
            ro = _readonly(cap)
            if ro != cap:
                entry["readwrite"] = cap
            entry["readonly"] = ro
            data[name] = entry
        print(json.dumps(data, indent=4))
        return 0
    width = max((len(n) for n in names), default=0) + 2
    for name in names:
        cap = aliases[name]
        print("%s: %s" % (name.rjust(width), _readonly(cap) if options.readonly_uri else cap))
    return 0
