"""``tahoe put [LOCAL|-] [REMOTE]``: upload a file through the node's web API
and print its cap.

Without REMOTE the file is uploaded unlinked (``PUT /uri``).  With REMOTE
(``alias:path``, a path under ``tahoe:``, or ``DIRCAP/path``) it is uploaded
into that directory (``PUT /uri/$DIRCAP/path``; missing parent directories
are made, an existing mutable file there is changed in place), and the
node's status line (``201 Created`` / ``200 OK``) goes to stderr.  A mutable
file's write cap as REMOTE overwrites that file.

``-m/--mutable`` (SDMF) or ``--format=CHK|SDMF|MDMF`` chooses the format of
a new file; ``--private-key-path`` gives the RSA-2048 signing key (PEM) of a
new mutable file, sent as ``private-key=``.  The file is streamed from disk
(or stdin, with chunked encoding) in small chunks, never read whole.
"""

import os
import stat
import sys
import urllib.parse

from .cli_paths import add_dir_cap_option, resolve_arg
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
                   help="where to put it (alias:path, a path under tahoe:, or a mutable "
                        "file's write cap); absent: upload unlinked and print the cap")
    p.add_argument("-m", "--mutable", action="store_true", help="create a mutable file")
    p.add_argument("--format", dest="format", default=None, type=str.upper,
                   help="CHK (immutable, the default), SDMF or MDMF (mutable)")
    p.add_argument("--private-key-path", dest="private_key_path", default=None,
                   help="RSA private key for a new mutable file (mutable only)")
    add_dir_cap_option(p)
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


def private_key_argument(path) -> str:
    """The ``private-key=`` value (urlsafe base64 of the PKCS#8 DER) for the
    PEM key in ``path``."""
    # imported only for --private-key: the other commands start without
    # importing the cryptography library
    from allmydata.crypto import rsa
    try:
        with open(os.path.expanduser(path), "rb") as f:
            pem = f.read()
    except OSError as e:
        raise UsageError("cannot read the private key %s: %s" % (path, e.strerror or e)) from None
    try:
        return rsa.private_key_to_urlsafe_b64(rsa.private_key_from_pem(pem))
    except rsa.RSAError as e:
        raise UsageError("%s: %s" % (path, e)) from None


def put(options) -> int:
    if options.format is not None and options.format not in FORMATS:
        raise UsageError("--format must be CHK, SDMF or MDMF, not %s" % options.format)
    if options.private_key_path and not (options.mutable or options.format in ("SDMF", "MDMF")):
        raise UsageError("--private-key-path is only for mutable files (--mutable or --format)")
    query = []
    if options.format:
        query.append("format=" + options.format)
    if options.mutable:
        query.append("mutable=true")
    if options.private_key_path:
        query.append("private-key=" + urllib.parse.quote(
            private_key_argument(options.private_key_path), safe=""))
    node = get_node_url(options)
    if options.remote is not None:
        url = resolve_arg(options, options.remote).url(node, "&".join(query))
    else:
        url = node + "uri" + ("?" + "&".join(query) if query else "")
    f, size, close = _open_input(options.local)
    try:
        with progress_bar(size, "uploading") as bar:
            conn, resp = send_request("PUT", url, body=f, size=size, progress=bar.update,
                                      on_sent=lambda: _waiting(bar))
            try:
                check_response("PUT", resp)
                cap = resp.read().decode("utf-8").strip()
                status = "%d %s" % (resp.status, resp.reason)
            finally:
                conn.close()
    finally:
        if close:
            f.close()
    print(cap)
    if options.remote is not None:
        print(status, file=sys.stderr)
    return 0
