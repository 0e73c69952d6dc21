"""The ``tahoe`` command: global options and dispatch to one module per
sub-command.

Each sub-command module has ``register(subparsers)``, which adds its parser
and sets ``func`` (taking the parsed options and returning an exit code).
Option names are spelled as Tahoe-LAFS 1.20 spells them, so that scripts
written for one drive the other.
"""

import argparse
import os
import sys

import allmydata

from .. import __appname__, __version__
from . import (
    create_node,
    create_stats_gatherer,
    debug,
    tahoe_admin,
    tahoe_alias,
    tahoe_backup,
    tahoe_check,
    tahoe_cp,
    tahoe_get,
    tahoe_ls,
    tahoe_manifest,
    tahoe_mkdir,
    tahoe_mv,
    tahoe_put,
    tahoe_run,
    tahoe_status,
    tahoe_unlink,
    tahoe_webopen,
)
from .common import UsageError

COMMAND_MODULES = [create_node, tahoe_run, tahoe_put, tahoe_get, tahoe_ls, tahoe_mkdir, tahoe_cp,
                   tahoe_mv, tahoe_unlink, tahoe_alias, tahoe_webopen, tahoe_manifest,
                   tahoe_check, tahoe_status, tahoe_backup, debug, create_stats_gatherer,
                   tahoe_admin]


def version_text() -> str:
    # imported only for --version: the other commands start without them
    import cryptography
    import foolscap
    import twisted
    import zfec
    lines = ["%s: %s" % (__appname__, __version__),
             "foolscap: %s" % foolscap.__version__,
             "twisted: %s" % twisted.__version__,
             "zfec: %s" % zfec.__version__,
             "cryptography: %s" % cryptography.__version__,
             "python: %s" % sys.version.split()[0]]
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit(0)


class _VersionAndPathAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        print("path: %s" % os.path.dirname(allmydata.__file__))
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tahoe", description="Tahoe: a least-authority, erasure-coded file store.")
    parser.add_argument("-d", "--node-directory", dest="node_directory", default=None,
                        help="the node directory (default: ~/.tahoe)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print less")
    parser.add_argument("-V", "--version", action=_VersionAction, nargs=0,
                        help="print version information and exit")
    parser.add_argument("--version-and-path", action=_VersionAndPathAction, nargs=0,
                        help="print version information and where the code lives, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    options = parser.parse_args(argv)
    if not getattr(options, "func", None):
        parser.print_help(sys.stderr)
        return 1
    try:
        return options.func(options) or 0
    except UsageError as e:
        print("tahoe %s: error: %s" % (options.command, e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1
    except BrokenPipeError:  # e.g. "tahoe ls | head": the reader has gone
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- no flush error at exit
        except OSError:
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main())
