"""``tahoe get REMOTE [LOCAL|-]``: download a file through the node's web API
(``GET /uri/$CAP``) to a local file or standard output.

REMOTE is ``alias:path``, a path under ``tahoe:``, or a cap (``URI:...``,
optionally ``DIRCAP/path/in/dir``).  The body is streamed in chunks.  A
local file is written under a temporary name next to LOCAL and renamed at
the end, so a failed download never leaves a truncated LOCAL behind (nor
destroys an existing one).
"""

import http.client
import os
import sys
import tempfile

from .cli_paths import add_dir_cap_option, resolve_arg
from .common import UsageError
from .common_http import (
    CHUNK_SIZE,
    add_node_url_option,
    check_response,
    get_node_url,
    progress_bar,
    send_request,
)

CAP_PREFIXES = ("URI:", "ro.URI:", "imm.URI:")


def register(sub):
    p = sub.add_parser("get", help="Download a file.",
                       description="Download REMOTE (alias:path, a path under tahoe:, or a "
                                   "cap) to LOCAL, or to standard output when LOCAL is - or "
                                   "absent.")
    p.add_argument("remote", metavar="REMOTE", help="alias:path, path (under tahoe:) or cap")
    p.add_argument("local", nargs="?", metavar="LOCAL", default=None,
                   help="where to write it; - or absent: standard output")
    add_dir_cap_option(p)
    add_node_url_option(p)
    p.set_defaults(func=get)


def split_remote(remote: str) -> tuple[str, str]:
    """``(cap, path inside it)`` of a ``CAP[/path]`` argument (not an alias)."""
    if not remote.startswith(CAP_PREFIXES):
        raise UsageError("%s is not a cap (URI:...)" % remote)
    cap, _, path = remote.partition("/")
    return cap, path


def _copy(resp, out, bar):
    while True:
        try:
            chunk = resp.read(CHUNK_SIZE)
        except http.client.IncompleteRead as e:
            raise UsageError("the download broke off after %d more bytes: the node stopped "
                             "sending (see its log)" % len(e.partial)) from None
        except OSError as e:
            raise UsageError("the download broke off: %s" % e) from None
        if not chunk:
            return
        try:
            out.write(chunk)
        except OSError as e:
            raise UsageError("cannot write the download: %s" % (e.strerror or e)) from None
        bar.update(len(chunk))


def get(options) -> int:
    url = resolve_arg(options, options.remote).url(get_node_url(options))
    conn, resp = send_request("GET", url)
    try:
        check_response("GET", resp, ok=(200,))
        length = resp.getheader("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with progress_bar(total, "downloading") as bar:
            if options.local is None or options.local == "-":
                _copy(resp, sys.stdout.buffer, bar)
                sys.stdout.buffer.flush()
                return 0
            local = os.path.abspath(os.path.expanduser(options.local))
            _download_to_file(resp, local, bar)
    finally:
        conn.close()
    if not options.quiet:
        print("%s retrieved and written to %s" % (options.remote, options.local), file=sys.stderr)
    return 0


def _mode_for(local) -> int:
    """Keep the mode of a file we replace; a new one gets 0666 minus umask."""
    try:
        return os.stat(local).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _download_to_file(resp, local, bar):
    directory = os.path.dirname(local)
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(local) + ".", suffix=".part",
                                   dir=directory)
    except OSError as e:
        raise UsageError("cannot write into %s: %s" % (directory, e.strerror or e)) from None
    try:
        with os.fdopen(fd, "wb") as out:
            _copy(resp, out, bar)
            os.fchmod(out.fileno(), _mode_for(local))
        os.replace(tmp, local)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
