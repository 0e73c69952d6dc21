"""How the file-store commands (``tahoe put``, ``tahoe get`` ...) talk to the
node: plain HTTP to its web API, with bodies streamed in both directions.

* :func:`add_node_url_option` / :func:`get_node_url`: ``-u/--node-url``
  (given after the sub-command), else ``NODEDIR/node.url``.
* :func:`send_request`: one request whose body is read from a file object in
  chunks -- with Content-Length when the size is known, chunked otherwise --
  and whose response is returned unread, to be streamed by the caller.
* :class:`HTTPError` carries the node's plain-text message (we always send
  ``Accept: text/plain``), :class:`NodeUnreachable` the reason the node could
  not be reached.  Both are ``UsageError``, so ``tahoe`` prints them and
  exits with 1.
* :func:`progress_bar`: a tqdm bar on stderr, only when stderr is a terminal
  and the transfer is large or slow; a do-nothing bar otherwise.
* :func:`http_call` / :func:`get_json`: one small request whose whole answer
  is wanted (directory listings, mkdir, links), for the directory commands.
"""

import html.parser
import http.client
import json
import os
import sys
import urllib.parse

from .common import UsageError, node_directory

CHUNK_SIZE = 256 * 1024
PROGRESS_MIN_BYTES = 1024 * 1024
PROGRESS_DELAY = 1.0


class NodeUnreachable(UsageError):
    """The node's web API could not be found or reached."""


class HTTPError(UsageError):
    """The node answered with an HTTP error."""

    def __init__(self, method, status, reason, body: bytes):
        self.status = status
        self.reason = reason
        self.body = body
        text = error_text(body)
        UsageError.__init__(self, "%s failed: %d %s%s" % (method, status, reason,
                                                        (":\n" + text) if text else ""))


class _TextOfHTML(html.parser.HTMLParser):
    """The visible text of an HTML error page, one line per text block."""

    def __init__(self):
        html.parser.HTMLParser.__init__(self)
        self.lines = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("head", "script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("head", "script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.lines.extend(line.strip() for line in data.splitlines() if line.strip())


def error_text(body: bytes) -> str:
    """The message in an error answer: the text as it is, or the visible
    text of an HTML page (some nodes answer HTML even to ``Accept:
    text/plain``)."""
    text = body.decode("utf-8", "replace").strip()
    if text[:100].lower().startswith(("<html", "<!doctype html")):
        parser = _TextOfHTML()
        try:
            parser.feed(text)
            parser.close()
        except Exception:  # noqa: BLE001 -- a garbled page: show it as it came
            return text
        return "\n".join(parser.lines)
    return text


def add_node_url_option(parser):
    parser.add_argument("-u", "--node-url", dest="node_url", default=None,
                        help="the URL of the node's web API (default: read from NODEDIR/node.url)")


def get_node_url(options) -> str:
    """The web API base URL, ending with ``/``."""
    url = getattr(options, "node_url", None)
    if not url:
        nodedir = node_directory(options)
        path = os.path.join(nodedir, "node.url")
        try:
            with open(path) as f:
                url = f.read().strip()
        except FileNotFoundError:
            raise NodeUnreachable(
                "cannot find the node's web API: %s does not exist. Is the node in %s running "
                "(tahoe run %s), with a web.port? Or say where it is with --node-url."
                % (path, nodedir, nodedir)) from None
        except OSError as e:
            raise NodeUnreachable("cannot read %s: %s" % (path, e)) from None
        if not url:
            raise NodeUnreachable("%s is empty: is the node running?" % path)
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError("the node URL %r is not an http:// URL" % url)
    return url if url.endswith("/") else url + "/"


def cap_url_path(cap: str, path: str = "") -> str:
    """``uri/<escaped cap>[/<escaped path segments>]`` (relative to the node URL)."""
    out = "uri/" + urllib.parse.quote(cap, safe="")
    segments = [s for s in path.split("/") if s]
    if segments:
        out += "/" + "/".join(urllib.parse.quote(s, safe="") for s in segments)
    return out


def _connect(url: str):
    parsed = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
    return cls(parsed.hostname, parsed.port)


def send_request(method, url, body=None, size=None, headers=None, progress=None, on_sent=None):
    """Send one request and return ``(connection, response)`` with the
    response body unread.  ``body`` is a file object read in chunks (``size``
    bytes, or until EOF with chunked encoding when ``size`` is None) or
    bytes.  ``progress(n)`` is called as body bytes go out, ``on_sent()``
    once the whole body is out (the node may take a while to answer).  Raises
    :class:`NodeUnreachable` when the connection fails."""
    parsed = urllib.parse.urlsplit(url)
    target = parsed.path or "/"
    if parsed.query:
        target += "?" + parsed.query
    conn = _connect(url)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        conn.putheader("Accept", "text/plain")
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if isinstance(body, bytes):
            conn.putheader("Content-Length", str(len(body)))
        elif body is not None:
            if size is not None:
                conn.putheader("Content-Length", str(size))
            else:
                conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        if isinstance(body, bytes):
            conn.send(body)
        elif body is not None:
            _send_file(conn, body, size, progress)
        if on_sent:
            on_sent()
        return conn, conn.getresponse()
    except (ConnectionError, OSError, http.client.HTTPException) as e:
        conn.close()
        raise NodeUnreachable("cannot talk to the node's web API at %s://%s: %s. Is the node "
                              "running?" % (parsed.scheme, parsed.netloc,
                                            getattr(e, "strerror", None) or e)) from None


def _send_file(conn, fileobj, size, progress):
    sent = 0
    while size is None or sent < size:
        want = CHUNK_SIZE if size is None else min(CHUNK_SIZE, size - sent)
        try:
            chunk = fileobj.read(want)
        except OSError as e:
            raise UsageError("cannot read the input: %s" % (e.strerror or e)) from None
        if not chunk:
            break
        if size is None:
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        else:
            conn.send(chunk)
        sent += len(chunk)
        if progress:
            progress(len(chunk))
    if size is None:
        conn.send(b"0\r\n\r\n")
    elif sent != size:
        raise UsageError("the input ended after %d of the %d bytes expected" % (sent, size))


def http_call(method, url, body=None, ok=(200, 201), headers=None):
    """One request with a small answer: ``(status, body bytes)``.  Raises
    :class:`HTTPError` (the node's message) for a status not in ``ok``,
    :class:`NodeUnreachable` when the node cannot be reached."""
    conn, resp = send_request(method, url, body=body, headers=headers)
    try:
        check_response(method, resp, ok)
        try:
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise NodeUnreachable("the node's answer to %s broke off: %s" % (method, e)) from None
    finally:
        conn.close()


def get_json(url):
    """``GET url`` (which carries ``t=json``) and decode the JSON answer."""
    _, body = http_call("GET", url, ok=(200,))
    try:
        return json.loads(body)
    except ValueError:
        raise UsageError("the node answered GET %s with something that is not JSON: %r"
                         % (url, body[:200])) from None


def check_response(method, response, ok=(200, 201)):
    """Raise :class:`HTTPError` (with the node's message) unless the status
    is one of ``ok``."""
    if response.status not in ok:
        body = response.read(64 * 1024)
        raise HTTPError(method, response.status, response.reason, body)


class _NoProgress:
    def update(self, n):
        pass

    def set_postfix_str(self, s, refresh=True):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def progress_bar(total, description, stream=None):
    """A tqdm bar on ``stream`` (stderr) when it is a terminal and the
    transfer is over 1 MiB or of unknown size; shown only once it has taken
    a second.  Otherwise a bar that draws nothing."""
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", lambda: False)
    if not isatty() or (total is not None and total <= PROGRESS_MIN_BYTES):
        return _NoProgress()
    # imported only when a bar is drawn: every command would otherwise pay
    # for importing tqdm at start-up
    from tqdm import tqdm
    return tqdm(total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024,
                file=stream, delay=PROGRESS_DELAY, leave=False, dynamic_ncols=True)
