"""``tahoe create-stats-gatherer``: a node directory for a stats gatherer.

The directory holds ``tahoe.cfg`` (only ``[node]``: a stats gatherer, like
an introducer, reads nothing else), the marker file ``tahoe-stats-gatherer.tac``
that tells ``tahoe run`` what it is, and ``private/``.  The gatherer must
listen: it takes the listening options of ``create-introducer``
(``--hostname``, or ``--port`` with ``--location``; ``--listen``).  ``tahoe
run`` then writes ``stats_gatherer.furl`` (mode 0600) and ``stats.json`` in
the directory (docs/stats-gatherer.md).
"""

import os

from ..config import NODE_TYPE_MARKERS, ConfigError, check_config_text
from ..nodedir import ensure_private_dir
from ..util import fileutil
from ..util.logdir import ensure_log_dir
from .common import UsageError, node_directory
from .create_node import _add_listen_options, _cfg_value, _listen_config

NODE_TYPE = "stats-gatherer"


def register(sub):
    helptext = "Create a stats gatherer node."
    p = sub.add_parser("create-stats-gatherer", help=helptext, description=helptext)
    p.add_argument("basedir_pos", nargs="?", metavar="NODEDIR")
    p.add_argument("-C", "--basedir", dest="basedir", help="the node directory")
    _add_listen_options(p)
    p.add_argument("-n", "--nickname", default=None, help="the nickname of this node")
    p.set_defaults(func=create)


def config_text(options, tub_port, tub_location) -> str:
    lines = ["# -*- mode: conf; coding: utf-8 -*-",
             "",
             "# This file configures the stats gatherer that lives in this directory. It is",
             "# read once, when the node starts; the node never writes it. A stats gatherer",
             "# reads only [node] and [connections]. See docs/stats-gatherer.md.",
             "",
             "[node]",
             "nickname = %s" % _cfg_value(options.nickname or ""),
             "reveal-IP-address = true",
             "web.port =",
             "tub.port = %s" % _cfg_value(tub_port),
             "tub.location = %s" % _cfg_value(tub_location),
             "#timeout.keepalive =",
             "#timeout.disconnect =",
             "#log_gatherer.furl =",
             ""]
    return "\n".join(lines) + "\n"


def create(options) -> int:
    basedir = node_directory(options, options.basedir_pos)
    if os.path.exists(basedir) and os.listdir(basedir):
        raise UsageError("the base directory %s is not empty; to avoid clobbering anything, "
                         "I am going to quit now" % basedir)
    tub_port, tub_location = _listen_config(options, NODE_TYPE)
    if tub_port == "disabled":
        raise UsageError("a stats gatherer must listen (--listen=none is not allowed)")
    text = config_text(options, tub_port, tub_location)
    try:
        check_config_text(text, os.path.join(basedir, "tahoe.cfg"), NODE_TYPE)
    except ConfigError as e:
        raise UsageError("the options would make a tahoe.cfg that the node refuses: %s" % e)
    os.makedirs(basedir, exist_ok=True)
    ensure_private_dir(basedir)
    fileutil.write_atomically(os.path.join(basedir, "tahoe.cfg"), text.encode("utf-8"))
    fileutil.write_atomically(
        os.path.join(basedir, NODE_TYPE_MARKERS[NODE_TYPE]),
        b"# The presence of this file tells 'tahoe run' what kind of node this is.\n")
    ensure_log_dir(basedir)
    if not options.quiet:
        print("Stats gatherer created in %s" % basedir)
        print(" Please run 'tahoe run %s' to launch it; it writes its FURL to %s"
              % (basedir, os.path.join(basedir, "stats_gatherer.furl")))
    return 0
