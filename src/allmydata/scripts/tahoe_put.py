"""``tahoe put [LOCAL|-] [REMOTE]``: upload a file through the node's web API
(``PUT /uri``) and print its new cap.

The file is streamed from disk (or stdin, with chunked encoding) in small
chunks, never read whole.  Only unlinked uploads exist so far: a REMOTE
(``alias:path`` or a cap to write into) is refused with a clear message, and
the node itself refuses mutable formats until they exist.
"""

import os
import stat
import sys

from .common import UsageError
from .common_http import (
    add_node_url_option,
    check_response,
    get_node_url,
    progress_bar,
    send_request,
)

FORMATS = ("CHK", "SDMF", "MDMF")


def register(sub):
    p = sub.add_parser("put", help="Upload a file and print its cap.",
                       description="Upload LOCAL (a file, or - / nothing for standard input) "
                                   "and print the new file's cap.")
    p.add_argument("local", nargs="?", metavar="LOCAL", default=None,
                   help="the file to upload; - or absent: standard input")
    p.add_argument("remote", nargs="?", metavar="REMOTE", default=None,
                   help="where to link the file (not supported yet)")
    p.add_argument("-m", "--mutable", action="store_true", help="create a mutable file")
    p.add_argument("--format", dest="format", default=None, type=str.upper,
                   help="CHK (immutable, the default), SDMF or MDMF (mutable)")
    p.add_argument("--private-key-path", dest="private_key_path", default=None,
                   help="RSA private key for a new mutable file (mutable only)")
    add_node_url_option(p)
    p.set_defaults(func=put)


def _open_input(local):
    """``(file object, size or None, close?)``."""
    if local is None or local == "-":
        stdin = sys.stdin.buffer
        size = None
        try:
            st = os.fstat(stdin.fileno())
            if stat.S_ISREG(st.st_mode):
                size = st.st_size - stdin.seek(0, os.SEEK_CUR)
        except (OSError, ValueError):
            size = None
        if sys.stdin.isatty():
            print("waiting for file data on stdin..", file=sys.stderr)
        return stdin, size, False
    try:
        f = open(os.path.expanduser(local), "rb")
    except OSError as e:
        raise UsageError("cannot read %s: %s" % (local, e.strerror or e)) from None
    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
        return f, None, True
    return f, os.fstat(f.fileno()).st_size, True


def _waiting(bar):
    """The body is sent; the node now encodes and pushes the shares, which
    can take a while: show the bar now (even if the sending was quick)."""
    bar.delay = 0
    bar.set_postfix_str("the node is storing the shares", refresh=True)


def put(options) -> int:
    if options.remote is not None:
        raise UsageError("uploading to REMOTE (%s) is not supported yet: leave it out to upload "
                         "an unlinked file and get its cap" % options.remote)
    if options.format is not None and options.format not in FORMATS:
        raise UsageError("--format must be CHK, SDMF or MDMF, not %s" % options.format)
    if options.private_key_path and not (options.mutable or options.format in ("SDMF", "MDMF")):
        raise UsageError("--private-key-path is only for mutable files (--mutable or --format)")
    query = []
    if options.format:
        query.append("format=" + options.format)
    if options.mutable:
        query.append("mutable=true")
    url = get_node_url(options) + "uri" + ("?" + "&".join(query) if query else "")
    f, size, close = _open_input(options.local)
    try:
        with progress_bar(size, "uploading") as bar:
            conn, resp = send_request("PUT", url, body=f, size=size, progress=bar.update,
                                      on_sent=lambda: _waiting(bar))
            try:
                check_response("PUT", resp)
                cap = resp.read().decode("utf-8").strip()
            finally:
                conn.close()
    finally:
        if close:
            f.close()
    print(cap)
    return 0
