"""``tahoe backup FROM ALIAS:TO``: a versioned backup of a local directory.

Every file of FROM is uploaded as an immutable file and every directory is
made with ``t=mkdir-immutable`` (deepest first, so a directory's children
exist before it); the new root goes in ``TO/Archives/<UTC timestamp>Z`` and
``TO/Latest``.  The backup database (:mod:`.backupdb`) lets a run reuse the
cap of a file whose size, mtime and ctime are unchanged and of a directory
whose children are unchanged, so a second run over an unchanged tree
uploads nothing.

A line of progress is printed after each file or directory, then the
summary lines.  Symlinks, special files and unreadable entries are skipped
with a warning, and the exit code is then 2.
"""

import datetime
import fnmatch
import json
import os
import re
import sys
import time
import urllib.parse

from . import backupdb
from .cli_paths import add_dir_cap_option, resolve_arg
from .common import UsageError, node_directory
from .common_http import add_node_url_option, get_node_url, http_call, send_request, check_response
from .quoting import quote_output

# The names --exclude-vcs excludes, as Tahoe-LAFS 1.20 lists them.
VCS_PATTERNS = ('CVS', 'RCS', 'SCCS', '.git', '.gitignore', '.cvsignore', '.svn', '.arch-ids',
                '{arch}', '=RELEASE-ID', '=meta-update', '=update', '.bzr', '.bzrignore',
                '.bzrtags', '.hg', '.hgignore', '_darcs')


def register(sub):
    p = sub.add_parser(
        "backup", help="Back up a local directory to the grid as a dated snapshot.",
        description="Upload the local directory FROM as an immutable snapshot named "
                    "TO/Archives/<UTC date and time>Z and link it as TO/Latest. Files and "
                    "directories unchanged since an earlier run (per the backup database "
                    "NODEDIR/private/backupdb.sqlite) are not uploaded again.")
    p.add_argument("from_dir", metavar="FROM")
    p.add_argument("to_dir", metavar="ALIAS:TO")
    p.add_argument("-v", "--verbose", action="store_true", help="Print each file and directory as it is uploaded, reused or checked.")
    p.add_argument("--ignore-timestamps", dest="ignore_timestamps", action="store_true",
                   help="Upload every file again, trusting no size and time recorded in "
                        "the backup database.")
    p.add_argument("--exclude", dest="exclude", action="append", default=[], metavar="PATTERN",
                   help="Leave out entries whose name matches this glob pattern (repeatable).")
    p.add_argument("--exclude-from-utf-8", dest="exclude_from", action="append", default=[],
                   metavar="FILE", help="Leave out entries matching any of the glob patterns "
                                        "in FILE (UTF-8 text, one pattern a line).")
    p.add_argument("--exclude-vcs", dest="exclude_vcs", action="store_true",
                   help="Leave out version-control metadata (.git, .hg, .svn, CVS, _darcs, "
                        ".bzr and the like).")
    add_dir_cap_option(p)
    add_node_url_option(p)
    p.set_defaults(func=backup)


def exclude_patterns(options) -> list:
    """The glob patterns of ``--exclude``, ``--exclude-from-utf-8`` and
    ``--exclude-vcs`` (blank ones dropped)."""
    patterns = list(options.exclude)
    for path in options.exclude_from:
        try:
            with open(os.path.expanduser(path), encoding="utf-8") as f:
                patterns.extend(f.read().splitlines())
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError("Error opening exclude file %s. (Error: %s)"
                             % (quote_output(os.path.abspath(path)), e)) from None
    if options.exclude_vcs:
        patterns.extend(VCS_PATTERNS)
    return sorted({p.strip() for p in patterns if p.strip()})


def name_filter(patterns):
    """A function that keeps the names matching none of ``patterns``
    (matched against a child's name, not its path)."""
    regexps = [re.compile(fnmatch.translate(p)) for p in patterns]
    return lambda names: [n for n in names if not any(r.match(n) for r in regexps)]


def local_metadata(st) -> dict:
    """The metadata recorded for each child: the POSIX stat fields."""
    md = {"ctime": st.st_ctime, "mtime": st.st_mtime}
    for field in ("st_mode", "st_ino", "st_dev", "st_uid", "st_gid"):
        if hasattr(st, field):
            md[field] = getattr(st, field)
    return md


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept as surrogates by os.listdir
        return False
    return True


def collect_targets(root, keep):
    """``(kind, path)`` for every entry under ``root`` (itself last), each
    directory after its children; kind is ``file``, ``dir``, ``symlink``,
    ``special``, ``unlistable``, or ``undecodable`` / ``undecodable-dir``
    for a name that is not UTF-8 (a directory name holds only UTF-8)."""
    try:
        names = sorted(os.listdir(root))
    except OSError:
        yield "unlistable", root
        return
    for name in keep(names):
        path = os.path.join(root, name)
        if not _is_utf8(name):
            yield ("undecodable-dir" if os.path.isdir(path) else "undecodable"), path
        elif os.path.islink(path):
            yield "symlink", path
        elif os.path.isdir(path):
            yield from collect_targets(path, keep)
        elif os.path.isfile(path):
            yield "file", path
        else:
            yield "special", path
    yield "dir", root


class Counts:
    def __init__(self):
        self.files_created = self.files_reused = self.files_skipped = 0
        self.dirs_created = self.dirs_reused = self.dirs_skipped = 0
        self.files_checked = self.dirs_checked = 0

    def done(self) -> int:
        return (self.files_created + self.files_reused + self.files_skipped
                + self.dirs_created + self.dirs_reused + self.dirs_skipped)


def format_elapsed(seconds: int) -> str:
    return "%dh %dm %ds" % (seconds // 3600, (seconds // 60) % 60, seconds % 60)


class BackerUpper:
    def __init__(self, options, node, db, out, err):
        self.options = options
        self.node = node
        self.db = db
        self.out = out
        self.err = err
        self.counts = Counts()
        self.use_timestamps = not options.ignore_timestamps

    def say(self, msg):
        if self.options.verbose:
            print(msg, file=self.out)

    def warn(self, msg):
        print(msg, file=self.err)

    def _healthy(self, cap: bytes) -> bool:
        """``t=check`` of ``cap``; anything but a healthy answer counts as
        unhealthy (the caller then uploads again)."""
        self.say("checking %s" % quote_output(cap.decode("ascii")))
        url = self.node + "uri/%s?t=check&output=JSON" % urllib.parse.quote(cap.decode("ascii"), safe="")
        try:
            status, body = http_call("POST", url, b"", ok=(200,))
            return bool(json.loads(body)["results"]["healthy"])
        except (UsageError, ValueError, KeyError, TypeError):
            return False

    def file(self, path):
        """``(created, cap bytes, metadata)`` for one local file."""
        st = os.stat(path)
        metadata = local_metadata(st)
        size, mtime, ctime = st.st_size, int(st.st_mtime), int(st.st_ctime)
        cap, should_check = self.db.lookup_file(path, size, mtime, ctime, self.use_timestamps)
        if cap is not None and should_check:
            self.counts.files_checked += 1
            if self._healthy(cap):
                self.db.did_check_file_healthy(cap)
            else:
                cap = None
        if cap is not None:
            self.say("skipping %s.." % quote_output(path))
            return False, cap, metadata
        self.say("uploading %s.." % quote_output(path))
        with open(path, "rb") as f:
            conn, resp = send_request("PUT", self.node + "uri", body=f, size=size)
            try:
                check_response("PUT", resp)
                cap = resp.read().strip()
            finally:
                conn.close()
        self.say(" %s -> %s" % (quote_output(path, quotemarks=False),
                                quote_output(cap.decode("ascii"), quotemarks=False)))
        self.db.did_upload_file(cap, path, size, mtime, ctime)
        return True, cap, metadata

    def directory(self, path, children):
        """``(created, dircap bytes)`` for a directory whose children are
        ``children`` (``name -> (kind, cap bytes, metadata)``)."""
        dirhash = self.db.dirhash({n: c[1] for n, c in children.items()})
        cap, should_check = self.db.lookup_directory(dirhash)
        if cap is not None and should_check:
            self.counts.dirs_checked += 1
            if self._healthy(cap):
                self.db.did_check_directory_healthy(cap)
            else:
                cap = None
        if cap is not None:
            self.say(" re-using old directory for %s" % quote_output(path))
            return False, cap
        self.say(" creating directory for %s" % quote_output(path))
        kids = {name: [kind, {"ro_uri": c.decode("ascii"), "metadata": md}]
                for name, (kind, c, md) in children.items()}
        _, body = http_call("POST", self.node + "uri?t=mkdir-immutable",
                            json.dumps(kids).encode("utf-8"))
        cap = body.strip()
        self.db.did_create_directory(cap, dirhash)
        return True, cap

    def skip(self, kind, path, isdir):
        what = "directory" if isdir else "file"
        if isdir:
            self.counts.dirs_skipped += 1
        else:
            self.counts.files_skipped += 1
        if kind in ("symlink", "special"):
            self.warn("WARNING: cannot backup %s %s" % (kind, quote_output(path)))
        elif kind.startswith("undecodable"):
            self.warn("WARNING: cannot backup %s %s: its name is not valid UTF-8"
                      % (what, quote_output(os.fsencode(path))))
        else:
            self.warn("WARNING: permission denied on %s %s" % (what, quote_output(path)))

    def run(self, root, keep, start):
        """Back up ``root`` (``keep`` filters each directory's names); its
        dircap (bytes)."""
        targets = list(collect_targets(root, keep))
        entries = {}  # parent dir -> {name: (kind, cap, metadata)}
        root_cap = None
        for kind, path in targets:
            parent, name = os.path.split(path)
            if kind == "file":
                try:
                    created, cap, md = self.file(path)
                except OSError:
                    self.skip("unreadable", path, isdir=False)
                else:
                    entries.setdefault(parent, {})[name] = ("filenode", cap, md)
                    if created:
                        self.counts.files_created += 1
                    else:
                        self.counts.files_reused += 1
            elif kind == "dir":
                md = local_metadata(os.stat(path))
                created, cap = self.directory(path, entries.pop(path, {}))
                if path == root:
                    root_cap = cap
                else:
                    entries.setdefault(parent, {})[name] = ("dirnode", cap, md)
                if created:
                    self.counts.dirs_created += 1
                else:
                    self.counts.dirs_reused += 1
            else:
                self.skip(kind, path, isdir=kind in ("unlistable", "undecodable-dir"))
            print("Backing up %d/%d... %s elapsed..."
                  % (self.counts.done(), len(targets), format_elapsed(int(time.time() - start))),
                  file=self.out)
        return root_cap


def backup(options) -> int:
    out, err = sys.stdout, sys.stderr
    start = time.time()
    root = os.path.abspath(os.path.expanduser(options.from_dir))
    if not os.path.isdir(root):
        raise UsageError("%s is not a directory" % quote_output(root))
    keep = name_filter(exclude_patterns(options))  # a bad exclude file stops us here
    node = get_node_url(options)
    target = resolve_arg(options, options.to_dir)
    db = backupdb.BackupDB.open(os.path.join(node_directory(options), backupdb.DB_FILENAME))
    try:
        archives = target.child("Archives")
        conn, resp = send_request("GET", archives.url(node, "t=json"))
        try:
            status = resp.status
            if status != 404:
                check_response("GET", resp, ok=(200,))
        finally:
            conn.close()
        if status == 404:
            http_call("POST", archives.url(node, "t=mkdir"), b"", ok=(200, 201))
        bu = BackerUpper(options, node, db, out, err)
        root_cap = bu.run(root, keep, start)
    finally:
        db.close()
    if root_cap is None:
        raise UsageError("cannot list %s: nothing was backed up" % quote_output(root))
    stamp = datetime.datetime.fromtimestamp(int(time.time()), datetime.timezone.utc)
    name = stamp.strftime("%Y-%m-%d_%H:%M:%S") + "Z"
    http_call("PUT", archives.child(name).url(node, "t=uri"), root_cap)
    http_call("PUT", target.child("Latest").url(node, "t=uri"), root_cap)
    c = bu.counts
    if not getattr(options, "quiet", False):
        print(" %d files uploaded (%d reused), %d files skipped, %d directories created "
              "(%d reused), %d directories skipped"
              % (c.files_created, c.files_reused, c.files_skipped, c.dirs_created, c.dirs_reused,
                 c.dirs_skipped), file=out)
    if options.verbose:
        print(" %d files checked, %d directories checked" % (c.files_checked, c.dirs_checked),
              file=out)
    print(" backup done, elapsed time: %s"
          % datetime.timedelta(seconds=int(time.time() - start)), file=out)
    return 2 if (c.files_skipped or c.dirs_skipped) else 0
