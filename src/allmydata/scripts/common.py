"""Helpers shared by the ``tahoe`` sub-commands."""

import os


class UsageError(Exception):
    """Bad command-line usage or a refused operation; shown with exit code 1."""


def node_directory(options, positional=None) -> str:
    """The node directory named by a positional arg, -C/--basedir, or -d."""
    for candidate in (positional, getattr(options, "basedir", None), options.node_directory):
        if candidate:
            return os.path.abspath(os.path.expanduser(candidate))
    return os.path.abspath(os.path.expanduser("~/.tahoe"))
