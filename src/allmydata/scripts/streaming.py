"""Reading the node's streamed answers (``t=stream-deep-check``,
``t=stream-manifest``): one JSON object per line, written as the node
visits the tree, and, if the traversal fails, a line starting with
``ERROR:`` followed by the failure's text.

:func:`post_stream` sends the ``POST`` and returns the response unread;
:func:`read_chunks` yields what arrives as soon as it arrives (so that a
progress counter moves while the node works); :class:`LineSplitter` cuts
those chunks into lines, and :class:`StreamPrinter` hands each line to a
command's report (which says what to print for it), with the stream's
errors going to stderr; :func:`print_stream` does all of that for one
answer.  :func:`write_raw` copies the answer as it is (``--raw``).

:func:`add_location_options` adds the options that these commands (and
``tahoe stats``) share: which directory to start from, how to reach the
node, and ``--raw``; :func:`location_url` reads them.
"""

import http.client
import json
import sys

from .cli_paths import add_dir_cap_option, resolve_arg
from .common_http import (
    NodeUnreachable,
    add_node_url_option,
    check_response,
    get_node_url,
    send_request,
)
from .quoting import quote_output

CHUNK = 64 * 1024


def add_location_options(parser, several=False, raw_flags=("--raw",),
                         raw_help="print the node's JSON answer as it comes") -> None:
    """The ALIAS:PATH argument -- ``where``, one and optional (``""``
    without it), or with ``several`` ``locations``, any number --, the
    ``--raw`` flag (named ``raw_flags``), ``--dir-cap`` and ``-u/--node-url``."""
    if several:
        parser.add_argument("locations", nargs="*", metavar="ALIAS:PATH")
    else:
        parser.add_argument("where", nargs="?", default="", metavar="ALIAS:PATH")
    parser.add_argument(*raw_flags, dest="raw", action="store_true", help=raw_help)
    add_dir_cap_option(parser)
    add_node_url_option(parser)


def location_url(options, where, query) -> str:
    """The URL of ``where`` (an ``alias:path`` or cap argument; ``""``
    is the ``tahoe:`` root) with ``?query``."""
    return resolve_arg(options, where).url(get_node_url(options), query)


def post_stream(url, ok=(200,)):
    """``POST url`` with an empty body: ``(connection, response)``, the
    response unread.  Raises ``HTTPError`` for a status not in ``ok``."""
    conn, resp = send_request("POST", url, body=b"")
    try:
        check_response("POST", resp, ok)
    except BaseException:
        conn.close()
        raise
    return conn, resp


def read_chunks(conn, resp):
    """The response body, in pieces as they arrive; closes the connection
    at the end.  Raises ``NodeUnreachable`` if the answer breaks off."""
    try:
        while True:
            try:
                chunk = resp.read1(CHUNK)
            except (OSError, http.client.HTTPException) as e:
                raise NodeUnreachable("the node's answer broke off: %s" % (e,)) from None
            if not chunk:
                return
            yield chunk
    finally:
        conn.close()


class LineSplitter:
    """Cuts a byte stream into lines (without their ``\\n``)."""

    def __init__(self):
        self._pending = b""

    def feed(self, chunk) -> list:
        """The lines completed by ``chunk``."""
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        return lines

    def rest(self) -> bytes:
        """What came after the last newline (empty when the stream ended with one)."""
        rest, self._pending = self._pending, b""
        return rest


class StreamPrinter:
    """Feeds the lines of a streamed answer to a report and prints what it
    says.  After an ``ERROR:`` line, everything goes to stderr and the
    totals are not printed."""

    def __init__(self, report, counter, describe):
        self.report = report
        self.counter = counter
        self.describe = describe  # what to call the stream in messages
        self.in_error = False
        self.rc = 0

    def _error(self, text):
        self.counter.write(text + "\n", self.counter.stream)

    def line(self, line: bytes):
        if self.in_error:
            self._error(quote_output(line, quotemarks=False))
            return
        if line.startswith(b"ERROR:"):
            self.in_error = True
            self.rc = 1
            self._error(quote_output(line, quotemarks=False))
            return
        if not line.strip():
            return
        try:
            d = json.loads(line)
            if d.get("type") in ("file", "directory", "unknown"):
                self.counter.update()
            lines = self.report.add(d)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            self.rc = 1
            self._error("the node sent a line of %s that is not what the web API sends "
                        "(%s: %s): %s" % (self.describe, type(e).__name__, e,
                                          quote_output(line[:300])))
            return
        if lines:
            self.counter.write("".join(lines))

    def finish(self, rest: bytes):
        """The stream has ended; ``rest`` is what came after its last newline."""
        if rest:
            self.line(rest)
        if not self.in_error:
            self.counter.write("".join(self.report.done()))


def print_stream(conn, resp, report, counter, describe, raw=False) -> int:
    """Read a streamed answer (from :func:`post_stream`) to its end: with
    ``raw`` copy it to stdout as it comes, else print what ``report`` says of
    each line (see :class:`StreamPrinter`); ``counter`` counts the objects.
    The exit code: 1 after an ``ERROR:`` line or a line that is not what the
    web API sends, else 0."""
    if raw:
        for chunk in read_chunks(conn, resp):
            counter.update(chunk.count(b"\n"))
            write_raw(chunk)
        return 0
    printer = StreamPrinter(report, counter, describe)
    splitter = LineSplitter()
    for chunk in read_chunks(conn, resp):
        for line in splitter.feed(chunk):
            printer.line(line)
    printer.finish(splitter.rest())
    return printer.rc


def write_raw(chunk: bytes):
    """Copy bytes of the node's answer to stdout as they are."""
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        out.write(chunk.decode("utf-8", "replace"))
        return
    out.flush()
    buffer.write(chunk)
    buffer.flush()
