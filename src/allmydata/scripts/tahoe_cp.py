"""``tahoe cp [-r] SRC... DST``: copy files and directory trees between the
local disk and the grid, both ways, and within the grid.

An argument is on the grid when it is a cap or starts with ``alias:``
(:func:`cli_paths.is_remote`); anything else is a local path.

The rules, as Tahoe-LAFS 1.20 applies them:

* One source file and a target that is not an existing directory (nor a
  missing grid path ending in ``/``): the target is that file, replaced if
  it exists.  ``Success: file copied``.
* Otherwise the target is a directory (made if missing, with its parents);
  directory sources need ``-r``.  A source with a name (``alias:dir``,
  ``./photos``) is copied *into* the target under that name; a source
  without one (a bare directory cap, ``alias:``) gives its *contents*.
  Directories already at the target are merged into.
  ``Success: files copied``.

How bytes move:

* local -> grid: each file is uploaded unlinked (``PUT /uri``), then a new
  directory gets all its children at once (``POST /uri?t=mkdir-with-children``)
  and an existing one in one ``t=set_children``.  An existing *mutable* file
  at the target is overwritten in place instead.
* grid -> grid: an immutable file is linked (same cap), a mutable one is
  copied into a new immutable file (so the copy does not change with the
  original); directories are new directories.
* grid -> local: streamed to a temporary file and renamed (``--caps-only``
  writes the file's cap instead of its contents).  Names from the grid that
  could escape the target directory (``..``, ``/``) are refused.
"""

import json
import os
import shutil
import sys
import urllib.parse

import attrs

from .cli_paths import add_dir_cap_option, alias_table, is_remote, resolve
from .common import UsageError
from .common_http import (
    HTTPError,
    _NoProgress,
    add_node_url_option,
    check_response,
    get_json,
    get_node_url,
    http_call,
    send_request,
)
from .tahoe_get import _download_to_file


class CopyError(UsageError):
    """The copy cannot be done as asked."""


def register(sub):
    p = sub.add_parser("cp", help="Copy one or more files or directories.",
                       description="Copy files between the local filesystem and the grid "
                                   "(and within the grid). Arguments that begin with an alias "
                                   "(alias:path) or are caps name things on the grid.")
    p.add_argument("sources", nargs="+", metavar="FROM")
    p.add_argument("target", metavar="TO")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="copy source directories recursively")
    p.add_argument("-v", "--verbose", action="store_true", help="say what is being copied")
    p.add_argument("--caps-only", dest="caps_only", action="store_true",
                   help="when copying to local files, write their caps instead of their contents")
    add_dir_cap_option(p)
    add_node_url_option(p)
    p.set_defaults(func=cp)


# --- sources ---------------------------------------------------------------

@attrs.define
class LocalFile:
    path: str
    name: object  # str, or None


@attrs.define
class LocalDir:
    path: str
    name: object

    def children(self, copier) -> dict:
        out = {}
        try:
            entries = sorted(os.listdir(self.path))
        except OSError as e:
            raise CopyError("cannot list %s: %s" % (self.path, e.strerror or e)) from None
        for entry in entries:
            path = os.path.join(self.path, entry)
            if os.path.isdir(path):
                out[entry] = LocalDir(path, entry)
            elif os.path.isfile(path):
                out[entry] = LocalFile(path, entry)
            else:
                copier.warn("skipping %s: not a regular file or directory" % path)
        return out


@attrs.define
class RemoteFile:
    name: object
    readcap: object
    writecap: object
    mutable: bool

    @property
    def cap(self):
        return self.readcap or self.writecap


@attrs.define
class RemoteDir:
    name: object
    cap: str
    readcap: str
    listing: object = None  # the "children" of its t=json, fetched when needed

    def children(self, copier) -> dict:
        if self.listing is None:
            kind, data = get_json(copier.cap_url(self.cap, "t=json"))
            self.listing = data.get("children", {}) if kind == "dirnode" else {}
        out = {}
        for name, (kind, data) in sorted(self.listing.items()):
            source = remote_source(name, kind, data)
            if source is None:
                copier.warn("skipping %s: an object of unknown type" % name)
            else:
                out[name] = source
        return out


def remote_source(name, kind, data):
    if kind == "filenode":
        return RemoteFile(name, data.get("ro_uri"), data.get("rw_uri"), bool(data.get("mutable")))
    if kind == "dirnode":
        cap = data.get("rw_uri") or data.get("ro_uri")
        return RemoteDir(name, cap, data.get("ro_uri") or cap)
    return None


# --- targets ---------------------------------------------------------------

@attrs.define
class LocalTargetDir:
    path: str


@attrs.define
class RemoteTargetDir:
    cap: str
    children: dict  # name -> [kind, data], as in t=json


def safe_local_name(name) -> str:
    if name in ("", ".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise CopyError("refusing to write a local file named %r: it would land outside the "
                        "target directory" % name)
    return name


class Copier:
    def __init__(self, options):
        self.options = options
        self.node = get_node_url(options)
        self._aliases = None
        self.out = sys.stdout
        self.err = sys.stderr

    @property
    def aliases(self):
        if self._aliases is None:
            self._aliases = alias_table(self.options)
        return self._aliases

    def cap_url(self, cap, query="") -> str:
        return self.node + "uri/" + urllib.parse.quote(cap, safe="") + ("?" + query if query else "")

    def warn(self, message):
        print(message, file=self.err)

    def say(self, message):
        if self.options.verbose:
            print(message, file=self.err)

    # --- looking at the arguments

    def remote_info(self, where):
        """``(kind, data)`` of a grid path, or None when it does not exist."""
        try:
            return get_json(where.url(self.node, "t=json"))
        except HTTPError as e:
            if e.status == 404:
                return None
            raise

    def source(self, arg):
        if is_remote(arg):
            where = resolve(arg, self.aliases)
            info = self.remote_info(where)
            if info is None:
                raise CopyError("No such file or directory '%s'" % arg)
            kind, data = info
            source = remote_source(where.name, kind, data)
            if source is None:
                raise CopyError("cannot copy %s: an object of unknown type" % arg)
            if isinstance(source, RemoteFile) and where.trailing_slash:
                raise CopyError("%s is a file, but ends with a slash" % arg)
            if isinstance(source, RemoteDir):
                source.listing = data.get("children", {})
            return source
        path = os.path.expanduser(arg)
        if os.path.isdir(path):
            return LocalDir(path, os.path.basename(os.path.normpath(os.path.abspath(path))))
        if os.path.isfile(path):
            if arg.endswith("/"):
                raise CopyError("%s is a file, but ends with a slash" % arg)
            return LocalFile(path, os.path.basename(path))
        raise CopyError("No such file or directory '%s'" % arg)

    def target(self, arg):
        """``(kind, where)`` with kind "dir", "file", "missing-dir" or "missing"."""
        if is_remote(arg):
            where = resolve(arg, self.aliases)
            info = self.remote_info(where)
            if info is None:
                return ("missing-dir" if where.trailing_slash else "missing"), where
            kind, data = info
            if kind == "dirnode":
                return "dir", (where, data)
            if where.trailing_slash:
                raise CopyError("target %s is a file, but ends with a slash" % arg)
            return "file", where
        path = os.path.expanduser(arg)
        if os.path.isdir(path):
            return "dir", path
        if arg.endswith("/"):
            raise CopyError("target is not a directory, but ends with a slash")
        return ("file" if os.path.exists(path) else "missing"), path

    # --- making target directories

    def open_target_dir(self, kind, where):
        """The target directory, made (with its parents) when missing."""
        if isinstance(where, str):  # local
            try:
                os.makedirs(where, exist_ok=True)
            except OSError as e:
                raise CopyError("cannot make the directory %s: %s"
                                % (where, e.strerror or e)) from None
            return LocalTargetDir(where)
        if kind != "dir":  # a missing grid directory
            _, body = http_call("POST", where.url(self.node, "t=mkdir"), b"")
            return RemoteTargetDir(body.decode("utf-8").strip(), {})
        where, data = where
        cap = data.get("rw_uri")
        if not cap:
            raise CopyError("cannot copy into %s: it is a read-only directory" % where.arg)
        return RemoteTargetDir(cap, data.get("children", {}))

    # --- copying files

    def _open_source(self, source):
        """``(file object, size, closer)`` for the bytes of a source file."""
        if isinstance(source, LocalFile):
            try:
                f = open(source.path, "rb")
            except OSError as e:
                raise CopyError("cannot read %s: %s" % (source.path, e.strerror or e)) from None
            return f, os.fstat(f.fileno()).st_size, f.close
        conn, resp = send_request("GET", self.cap_url(source.cap))
        try:
            check_response("GET", resp, ok=(200,))
        except BaseException:
            conn.close()
            raise
        length = resp.getheader("Content-Length")
        return resp, (int(length) if length and length.isdigit() else None), conn.close

    def _put(self, url, source) -> str:
        body, size, close = self._open_source(source)
        try:
            conn, resp = send_request("PUT", url, body=body, size=size)
            try:
                check_response("PUT", resp)
                return resp.read().decode("utf-8").strip()
            finally:
                conn.close()
        finally:
            close()

    def upload_unlinked(self, source) -> str:
        """The cap of an immutable copy of a source file."""
        if isinstance(source, RemoteFile) and not source.mutable and source.readcap:
            return source.readcap
        return self._put(self.node + "uri", source)

    def copy_file_to_remote_path(self, source, where):
        self.say("copying %s to %s" % (describe(source), where.arg))
        if isinstance(source, RemoteFile) and not source.mutable and source.readcap:
            http_call("PUT", where.url(self.node, "t=uri&replace=true"),
                      source.readcap.encode("utf-8"))
        else:
            self._put(where.url(self.node), source)

    def copy_file_to_local(self, source, path):
        self.say("copying %s to %s" % (describe(source), path))
        path = os.path.abspath(path)
        if isinstance(source, LocalFile):
            try:
                shutil.copyfile(source.path, path)
            except OSError as e:
                raise CopyError("cannot copy %s to %s: %s" % (source.path, path,
                                                              e.strerror or e)) from None
            return
        if self.options.caps_only:
            with open(path, "w", encoding="utf-8") as f:
                f.write(source.cap)
            return
        conn, resp = send_request("GET", self.cap_url(source.cap))
        try:
            check_response("GET", resp, ok=(200,))
            _download_to_file(resp, path, _NoProgress())
        finally:
            conn.close()

    # --- copying into directories

    def copy_into(self, sources: dict, target, seen=frozenset()):
        if isinstance(target, LocalTargetDir):
            return self._copy_into_local(sources, target, seen)
        return self._copy_into_remote(sources, target, seen)

    def _dir_identity(self, source):
        if isinstance(source, LocalDir):
            st = os.stat(source.path)
            return ("local", st.st_dev, st.st_ino)
        return ("remote", source.readcap)

    def _enter(self, source, seen):
        ident = self._dir_identity(source)
        if ident in seen:
            self.warn("skipping %s: it contains itself (a directory cycle)" % describe(source))
            return None
        return seen | {ident}

    def _copy_into_local(self, sources, target, seen):
        for name, source in sources.items():
            path = os.path.join(target.path, safe_local_name(name))
            if isinstance(source, (LocalFile, RemoteFile)):
                if os.path.isdir(path):
                    raise CopyError("cannot replace the directory %s with a file" % path)
                self.copy_file_to_local(source, path)
            else:
                inner = self._enter(source, seen)
                if inner is None:
                    continue
                if os.path.exists(path) and not os.path.isdir(path):
                    raise CopyError("cannot replace the file %s with a directory" % path)
                os.makedirs(path, exist_ok=True)
                self._copy_into_local(source.children(self), LocalTargetDir(path), inner)

    def _file_entry(self, source, existing):
        """The set_children entry for a file, or None when it was written
        in place into an existing mutable file."""
        linkable = isinstance(source, RemoteFile) and not source.mutable
        if (existing and existing[0] == "filenode" and existing[1].get("mutable")
                and existing[1].get("rw_uri") and not linkable):
            self._put(self.cap_url(existing[1]["rw_uri"]), source)
            return None
        return ["filenode", {"ro_uri": self.upload_unlinked(source)}]

    def _copy_into_remote(self, sources, target, seen):
        batch = {}
        for name, source in sources.items():
            existing = target.children.get(name)
            self.say("copying %s to %s" % (describe(source), name))
            if isinstance(source, (LocalFile, RemoteFile)):
                entry = self._file_entry(source, existing)
                if entry is not None:
                    batch[name] = entry
                continue
            inner = self._enter(source, seen)
            if inner is None:
                continue
            if existing and existing[0] == "dirnode" and existing[1].get("rw_uri"):
                cap = existing[1]["rw_uri"]
                _, data = get_json(self.cap_url(cap, "t=json"))
                self._copy_into_remote(source.children(self),
                                       RemoteTargetDir(cap, data.get("children", {})), inner)
            else:
                batch[name] = ["dirnode", {"rw_uri": self.build_remote_dir(source, inner)}]
        if batch:
            http_call("POST", self.cap_url(target.cap, "t=set_children"),
                      json.dumps(batch).encode("utf-8"))

    def build_remote_dir(self, source, seen) -> str:
        """Make a new grid directory holding a copy of ``source``; its cap."""
        children = {}
        for name, child in source.children(self).items():
            if isinstance(child, (LocalFile, RemoteFile)):
                children[name] = ["filenode", {"ro_uri": self.upload_unlinked(child)}]
            else:
                inner = self._enter(child, seen)
                if inner is not None:
                    children[name] = ["dirnode", {"rw_uri": self.build_remote_dir(child, inner)}]
        _, body = http_call("POST", self.node + "uri?t=mkdir-with-children",
                            json.dumps(children).encode("utf-8"))
        return body.decode("utf-8").strip()

    # --- the command

    def run(self) -> str:
        options = self.options
        sources = [self.source(arg) for arg in options.sources]
        has_dirs = any(isinstance(s, (LocalDir, RemoteDir)) for s in sources)
        if has_dirs and not options.recursive:
            raise CopyError("cannot copy directories without --recursive")
        kind, where = self.target(options.target)
        if len(sources) == 1 and not has_dirs and kind in ("file", "missing"):
            if isinstance(where, str):
                self.copy_file_to_local(sources[0], where)
            else:
                self.copy_file_to_remote_path(sources[0], where)
            return "Success: file copied"
        if kind == "file":
            if has_dirs:
                raise CopyError("cannot copy directory into a file")
            raise CopyError("copying multiple things requires target be a directory")
        contents = {}
        for source in sources:
            if source.name is not None:
                contents[source.name] = source
            elif isinstance(source, (LocalDir, RemoteDir)):
                contents.update(source.children(self))
            else:
                raise CopyError("cannot copy %s into a directory: a file given by its cap has "
                                "no name (give the target's file name instead)" % source.cap)
        self.copy_into(contents, self.open_target_dir(kind, where))
        return "Success: files copied"


def describe(source) -> str:
    if isinstance(source, (LocalFile, LocalDir)):
        return source.path
    return source.name or source.cap


def cp(options) -> int:
    print(Copier(options).run())
    return 0
