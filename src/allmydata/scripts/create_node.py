"""``tahoe create-node``, ``create-client`` and ``create-introducer``.

They write ``tahoe.cfg`` (docs/configuration.md), the node-type marker file that
``tahoe run`` reads (``tahoe-client.tac`` / ``tahoe-introducer.tac``, as
Tahoe-LAFS writes), ``private/`` (owner-only) with the node's secrets, and
``private/introducers.yaml`` when an introducer is given.  The Foolscap
identity (``private/node.pem``) is made at first start.

Options that would write a setting the node refuses (Tor, I2P, ``--hide-ip``)
are refused here, and the ``tahoe.cfg`` about to be written goes
through the node's own checks first, so a node that ``create-*`` made always
starts.  ``create-client`` without ``--hostname``, ``--port`` or
``--location`` makes a client that listens nowhere (``tub.port = disabled``),
as Tahoe-LAFS does; with them it listens, which Tahoe-LAFS's create-client
cannot do.
"""

import os

import yaml

from ..config import NODE_TYPE_MARKERS, ConfigError, check_config_text
from ..nodedir import ensure_private_dir, ensure_secret_file, pick_free_port
from ..util import fileutil
from ..util.logdir import ensure_log_dir
from .common import UsageError, node_directory

DEFAULT_WEBPORT = "tcp:3456:interface=127.0.0.1"
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
UNSUPPORTED_TRANSPORT_OPTIONS = ("tor_control_port", "tor_executable", "tor_launch",
                                 "i2p_sam_port", "i2p_executable", "i2p_launch")


def _add_listen_options(p):
    p.add_argument("--hostname", help="hostname to advertise; picks --port/--location when --listen=tcp")
    p.add_argument("--listen", default=None,
                   help="listener type: tcp or none (tor and i2p are not supported) [default: tcp; "
                        "for create-client, none unless --hostname, --port or --location is given]")
    p.add_argument("--location", help="server location to advertise (e.g. tcp:example.org:12345)")
    p.add_argument("--port", help="server endpoint to listen on (e.g. tcp:12345:interface=127.0.0.1)")
    p.add_argument("--hide-ip", action="store_true",
                   help="refused: hiding the IP address needs Tor or I2P, which this version does not support")
    p.add_argument("--tor-control-port", dest="tor_control_port")
    p.add_argument("--tor-executable", dest="tor_executable")
    p.add_argument("--tor-launch", dest="tor_launch", action="store_true")
    p.add_argument("--i2p-sam-port", dest="i2p_sam_port")
    p.add_argument("--i2p-executable", dest="i2p_executable")
    p.add_argument("--i2p-launch", dest="i2p_launch", action="store_true")


def _add_client_options(p):
    p.add_argument("-n", "--nickname", default=None, help="the nickname of this node")
    p.add_argument("-i", "--introducer", default=None, help="the introducer FURL to use")
    p.add_argument("-p", "--webport", default=DEFAULT_WEBPORT,
                   help="endpoint of the web interface ('none' to disable) [default: %(default)s]")
    p.add_argument("--shares-needed", default=3, help="shares needed to recover a file [3]")
    p.add_argument("--shares-happy", default=7, help="servers new files must be placed on [7]")
    p.add_argument("--shares-total", default=10, help="total shares per file [10]")
    p.add_argument("--join", help="join a grid with an invite code (needs magic-wormhole)")


def register(sub):
    for name, helptext, kind in (
            ("create-node", "Create a node that acts as a client and a storage server.", "node"),
            ("create-client", "Create a client node (no storage).", "client"),
            ("create-introducer", "Create an introducer node.", "introducer")):
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.add_argument("basedir_pos", nargs="?", metavar="NODEDIR")
        p.add_argument("-C", "--basedir", dest="basedir", help="the node directory")
        _add_listen_options(p)
        if kind == "introducer":
            p.add_argument("-p", "--webport", default="none",
                           help="endpoint of the introducer's web page [default: none]")
        else:
            _add_client_options(p)
            p.add_argument("--storage-dir", help="where storage shares are kept [NODEDIR/storage]")
            p.add_argument("--helper", action="store_true",
                           help="run an upload helper (the node must listen)")
            p.add_argument("--no-storage", action="store_true", help="do not offer storage to others")
        p.set_defaults(func=lambda options, kind=kind: create(options, kind))


def _listen_config(options, kind):
    """(tub.port, tub.location) from --listen/--hostname/--port/--location."""
    for opt in UNSUPPORTED_TRANSPORT_OPTIONS:
        if getattr(options, opt, None):
            raise UsageError("--%s: Tor and I2P are not supported by this version"
                             % opt.replace("_", "-"))
    if options.hide_ip:
        raise UsageError("--hide-ip: hiding this node's IP address needs Tor or I2P, which this "
                         "version does not support; refusing rather than connecting over plain TCP")
    listen = options.listen
    if listen is None:
        where = options.hostname or options.port or options.location
        listen = "none" if kind == "client" and not where else "tcp"
    listeners = [x.strip() for x in listen.split(",") if x.strip()]
    if not listeners:
        raise UsageError("--listen needs a listener type (tcp or none), not %r" % listen)
    if listeners == ["none"]:
        if options.port or options.location or options.hostname:
            raise UsageError("--listen=none cannot be combined with --port, --location or --hostname")
        return "disabled", "disabled"
    unknown = [x for x in listeners if x not in ("tcp", "tor", "i2p", "none")]
    if unknown:
        raise UsageError("--listen: unknown listener type(s) %s (choose from tcp, tor, i2p, none)"
                         % ", ".join(unknown))
    if "none" in listeners:
        raise UsageError("--listen=none cannot be combined with other listener types")
    if "tor" in listeners or "i2p" in listeners:
        raise UsageError("--listen: Tor and I2P are not supported by this version")
    if bool(options.port) != bool(options.location):
        raise UsageError("--port must be used with --location")
    if options.port:
        if options.hostname:
            raise UsageError("--hostname cannot be used with --location/--port")
        return options.port, options.location
    if not options.hostname:
        raise UsageError("--listen=tcp requires --hostname=(public hostname), or --port and --location")
    port = pick_free_port()
    if options.hostname in LOOPBACK_NAMES:
        tub_port = "tcp:%d:interface=127.0.0.1" % port
    else:
        tub_port = "tcp:%d" % port
    return tub_port, "tcp:%s:%d" % (options.hostname, port)


def _check_shares(options):
    # Read as text and checked here, so that a non-number is a usage error
    # naming the option, with exit code 1 like every other create-* refusal.
    for name in ("shares_needed", "shares_happy", "shares_total"):
        value = getattr(options, name)
        try:
            setattr(options, name, int(str(value).strip()))
        except ValueError:
            raise UsageError("--%s must be an integer, not %r"
                             % (name.replace("_", "-"), value)) from None
    k, h, n = options.shares_needed, options.shares_happy, options.shares_total
    if not 1 <= k <= 256 or not 1 <= n <= 256 or not 1 <= h <= 256:
        raise UsageError("--shares-needed, --shares-happy and --shares-total must be between 1 and 256")
    if k > n:
        raise UsageError("--shares-needed (%d) must not exceed --shares-total (%d)" % (k, n))
    if h > n:
        raise UsageError("--shares-happy (%d) must not exceed --shares-total (%d)" % (h, n))


def _cfg_value(v) -> str:
    text = str(v)
    if "\n" in text or "\r" in text:
        raise UsageError("values may not contain line breaks: %r" % text)
    return text


def node_config_text(kind, options, tub_port, tub_location) -> str:
    lines = ["# -*- mode: conf; coding: utf-8 -*-",
             "",
             "# This file configures the node that lives in this directory. It is read once,",
             "# when the node starts; the node never writes it. See docs/configuration.md.",
             "",
             "[node]",
             "nickname = %s" % _cfg_value(getattr(options, "nickname", None) or ""),
             "reveal-IP-address = true"]
    webport = getattr(options, "webport", None)
    lines.append("web.port = %s" % ("" if (not webport or webport.lower() == "none")
                                     else _cfg_value(webport)))
    lines += ["web.static = public_html",
              "tub.port = %s" % _cfg_value(tub_port),
              "tub.location = %s" % _cfg_value(tub_location),
              "#timeout.keepalive =",
              "#timeout.disconnect =",
              ""]
    if kind == "introducer":
        return "\n".join(lines) + "\n"
    storage_enabled = kind == "node" and not options.no_storage
    lines += ["[client]",
              "helper.furl =",
              "# Encoding parameters for newly uploaded files; each cap records its own,",
              "# so changing these never makes old files unreadable.",
              "shares.needed = %d" % options.shares_needed,
              "shares.happy = %d" % options.shares_happy,
              "shares.total = %d" % options.shares_total,
              "",
              "[storage]",
              "# Shall this node provide storage service?",
              "enabled = %s" % ("true" if storage_enabled else "false"),
              "#readonly =",
              "reserved_space = 1G"]
    if options.storage_dir:
        lines.append("storage_dir = %s" % _cfg_value(os.path.abspath(options.storage_dir)))
    else:
        lines.append("#storage_dir =")
    lines += ["",
              "[helper]",
              "# Shall this node run an upload helper that clients can use?",
              "enabled = %s" % ("true" if getattr(options, "helper", False) else "false"),
              ""]
    return "\n".join(lines) + "\n"


def create(options, kind) -> int:
    if kind == "introducer" and not (options.basedir_pos or options.basedir
                                     or options.node_directory):
        # An introducer is never made in the default ~/.tahoe, as in Tahoe-LAFS.
        raise UsageError("no default node directory for an introducer: give NODEDIR, "
                         "-C/--basedir or -d/--node-directory")
    basedir = node_directory(options, options.basedir_pos)
    if getattr(options, "join", None):
        raise UsageError("--join needs magic-wormhole invites, which this version does not support")
    if kind != "introducer":
        _check_shares(options)
        if options.introducer and not options.introducer.startswith("pb://"):
            raise UsageError("--introducer must be a FURL (pb://...), not %r" % options.introducer)
    if kind == "client":
        if options.storage_dir:
            raise UsageError("--storage-dir: create-client makes a node without storage; "
                             "use create-node to make one that stores shares")
        options.no_storage = True
    if os.path.exists(basedir) and os.listdir(basedir):
        raise UsageError("the base directory %s is not empty; to avoid clobbering anything, "
                         "I am going to quit now" % basedir)
    tub_port, tub_location = _listen_config(options, kind)
    if kind == "introducer" and tub_port == "disabled":
        raise UsageError("an introducer must listen (--listen=none is not allowed)")
    if kind == "node" and not options.no_storage and tub_port == "disabled":
        raise UsageError("a storage node must listen: use --no-storage with --listen=none")
    if getattr(options, "helper", False) and tub_port == "disabled":
        raise UsageError("--helper: a helper must listen (give --hostname, --port or --location)")
    config_text = node_config_text(kind, options, tub_port, tub_location)
    try:
        check_config_text(config_text, os.path.join(basedir, "tahoe.cfg"),
                          "introducer" if kind == "introducer" else "client")
    except ConfigError as e:
        raise UsageError("the options would make a tahoe.cfg that the node refuses: %s" % e)
    os.makedirs(basedir, exist_ok=True)
    private = ensure_private_dir(basedir)
    fileutil.write_atomically(os.path.join(basedir, "tahoe.cfg"), config_text.encode("utf-8"))
    marker = NODE_TYPE_MARKERS["introducer" if kind == "introducer" else "client"]
    fileutil.write_atomically(os.path.join(basedir, marker),
                              b"# The presence of this file tells 'tahoe run' what kind of node this is.\n")
    if kind != "introducer":
        ensure_secret_file(os.path.join(private, "secret"))
        ensure_secret_file(os.path.join(private, "convergence"))
        if options.introducer:
            text = yaml.safe_dump({"introducers": {"default": {"furl": options.introducer}}},
                                  default_flow_style=False)
            fileutil.write_atomically(os.path.join(private, "introducers.yaml"),
                                      text.encode("utf-8"), mode=0o600)
    ensure_log_dir(basedir)
    if not options.quiet:
        what = {"node": "Node", "client": "Client", "introducer": "Introducer"}[kind]
        print("%s created in %s" % (what, basedir))
        if kind != "introducer" and not options.introducer:
            print(" Please add an introducer to private/introducers.yaml (or use --introducer)")
        print(" Please run 'tahoe run %s' (or 'tahoe start %s') to launch it" % (basedir, basedir))
    return 0
