"""Where a file-store argument points: aliases and ``alias:path`` names.

A node directory keeps its aliases in ``NODEDIR/private/aliases``, one
``name: cap`` per line; ``NODEDIR/private/root_dir.cap`` (one cap) is an older
way to say what ``tahoe:`` is.  ``--dir-cap`` on the command line overrides
``tahoe:`` for one command.

An argument names a place on the grid as

* ``ALIAS:path/inside`` -- a directory from the alias table, then a path;
* ``URI:...`` (or ``ro.URI:`` / ``imm.URI:``) -- a cap, optionally followed
  by ``/path/inside`` when the cap is a directory;
* ``path/inside`` without a colon before the first ``/`` -- the ``tahoe:``
  alias.

:func:`resolve` turns such an argument into a :class:`RemotePath` (root cap,
path segments, whether the argument ended with ``/``); it raises
:class:`UnknownAliasError` (a ``UsageError``, exit 1) for an alias that is
not defined.  ``tahoe cp`` uses :func:`is_remote` to tell grid arguments
from local file names: an argument is remote when it is a cap or starts
with ``word:`` (use ``./name:with:colons`` for a local file with a colon).
"""

import os
import urllib.parse

import attrs

from .common import UsageError, node_directory

DEFAULT_ALIAS = "tahoe"
CAP_PREFIXES = ("URI:", "ro.URI:", "imm.URI:")


class UnknownAliasError(UsageError):
    """An ``alias:`` that is not in the alias table."""


class AliasError(UsageError):
    """An alias that cannot be added (bad name, already there, bad cap)."""


def aliases_path(nodedir) -> str:
    return os.path.join(nodedir, "private", "aliases")


def read_aliases(nodedir) -> dict:
    """``{name: cap}`` from ``private/root_dir.cap`` (as ``tahoe``) and
    ``private/aliases`` (which wins when both name ``tahoe``), in file order.
    Blank lines and ``#`` comments are skipped."""
    aliases = {}
    try:
        with open(os.path.join(nodedir, "private", "root_dir.cap"), encoding="utf-8") as f:
            cap = f.read().strip()
        if cap:
            aliases[DEFAULT_ALIAS] = cap
    except FileNotFoundError:
        pass
    except OSError as e:
        raise UsageError("cannot read %s: %s" % (os.path.join(nodedir, "private", "root_dir.cap"),
                                                 e.strerror or e)) from None
    path = aliases_path(nodedir)
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return aliases
    except OSError as e:
        raise UsageError("cannot read the aliases file %s: %s" % (path, e.strerror or e)) from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, cap = line.partition(":")
        if not sep or not name.strip() or not cap.strip():
            raise UsageError("%s line %d is not 'name: cap': %r" % (path, number, line))
        aliases[name.strip()] = cap.strip()
    return aliases


def check_alias_name(name) -> str:
    """The alias name without a trailing ``:``; refuse names that cannot work."""
    name = name.removesuffix(":")
    if not name:
        raise AliasError("the alias name is empty")
    if ":" in name:
        raise AliasError("Alias names cannot contain colons.")
    if any(c.isspace() for c in name) or "/" in name:
        raise AliasError("Alias names cannot contain spaces or slashes: %r" % name)
    return name


def add_alias(nodedir, name, cap) -> None:
    """Append ``name: cap`` to ``private/aliases`` (creating it, and
    ``private/``, if needed).  Refuses a name that is already taken."""
    name = check_alias_name(name)
    if name in read_aliases(nodedir):
        raise AliasError("Alias '%s' already exists!" % name)
    private = os.path.join(nodedir, "private")
    os.makedirs(private, mode=0o700, exist_ok=True)
    path = aliases_path(nodedir)
    try:
        with open(path, "a+", encoding="utf-8") as f:
            f.seek(0)
            existing = f.read()
            if existing and not existing.endswith("\n"):
                f.write("\n")
            f.write("%s: %s\n" % (name, cap))
    except OSError as e:
        raise AliasError("cannot write the aliases file %s: %s" % (path, e.strerror or e)) from None


def alias_table(options) -> dict:
    """The aliases of the node directory, with ``--dir-cap`` as ``tahoe``."""
    aliases = read_aliases(node_directory(options))
    dir_cap = getattr(options, "dir_cap", None)
    if dir_cap:
        aliases[DEFAULT_ALIAS] = dir_cap
    return aliases


def add_dir_cap_option(parser) -> None:
    parser.add_argument("--dir-cap", dest="dir_cap", default=None,
                        help="the directory cap to use as the 'tahoe' alias")


def is_cap(arg: str) -> bool:
    return arg.startswith(CAP_PREFIXES)


def has_alias_prefix(arg: str) -> bool:
    """``word:rest`` where ``word`` has no ``/`` (so ``./a:b`` is not)."""
    prefix, sep, _ = arg.partition(":")
    return bool(sep) and bool(prefix) and "/" not in prefix


def is_remote(arg: str) -> bool:
    """Does this ``tahoe cp`` argument name something on the grid?"""
    return is_cap(arg) or has_alias_prefix(arg)


@attrs.frozen
class RemotePath:
    """A place on the grid: a root cap and a path of child names below it."""

    arg: str                # as the user wrote it (for messages)
    root: str               # the cap the path starts from
    segments: tuple = ()    # child names (str), no empty ones
    trailing_slash: bool = False

    @property
    def path(self) -> str:
        return "/".join(self.segments)

    @property
    def name(self):
        """The last child name, or None when this is the root itself."""
        return self.segments[-1] if self.segments else None

    def url(self, node_url: str, query: str = "") -> str:
        """``NODE/uri/<escaped root>[/<escaped segments>][?query]``."""
        out = node_url + "uri/" + urllib.parse.quote(self.root, safe="")
        if self.segments:
            out += "/" + "/".join(urllib.parse.quote(s, safe="") for s in self.segments)
        return out + ("?" + query if query else "")

    def parent(self) -> "RemotePath":
        return attrs.evolve(self, segments=self.segments[:-1], trailing_slash=True)

    def child(self, name: str) -> "RemotePath":
        return attrs.evolve(self, segments=self.segments + (name,), trailing_slash=False)


def _segments(path: str) -> tuple:
    return tuple(s for s in path.split("/") if s)


def resolve(arg: str, aliases: dict, default_alias: str = DEFAULT_ALIAS) -> RemotePath:
    """Turn a command-line argument into a :class:`RemotePath`."""
    trailing = arg.endswith("/")
    if is_cap(arg):
        cap, _, path = arg.partition("/")
        return RemotePath(arg, cap, _segments(path), trailing)
    if has_alias_prefix(arg):
        alias, _, path = arg.partition(":")
        if alias not in aliases:
            raise UnknownAliasError(
                "Unknown alias '%s', please create it with 'tahoe add-alias' or "
                "'tahoe create-alias'." % alias)
        return RemotePath(arg, aliases[alias], _segments(path), trailing)
    if default_alias not in aliases:
        raise UnknownAliasError(
            "No alias specified, and the default '%s' alias doesn't exist. To create it, use "
            "'tahoe create-alias %s'." % (default_alias, default_alias))
    return RemotePath(arg, aliases[default_alias], _segments(arg), trailing)


def resolve_arg(options, arg) -> RemotePath:
    """:func:`resolve` with this command's alias table (``--dir-cap`` too)."""
    return resolve(arg if arg is not None else "", alias_table(options))
