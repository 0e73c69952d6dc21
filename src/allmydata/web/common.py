"""What every web page shares: security headers, errors, query arguments,
and the plumbing for handlers that answer later (Deferreds, coroutines).

Errors are mapped to HTTP statuses here and only here (as Tahoe-LAFS 1.20's web API does):

* a handler raises :class:`WebError` (it carries its status), or lets an
  exception of a lower layer escape; :func:`humanize_exception` knows the
  statuses of those (400 bad cap, 410 unrecoverable file, 413 too large ...)
  and anything unknown is a 500 whose traceback goes to the log, never to the
  browser;
* :func:`render_exception` writes the answer: plain text when the client
  says ``Accept: text/plain`` (the CLI does), otherwise a short HTML page.

A ``render_*`` method decorated with :func:`async_render` may return bytes,
a Deferred or a coroutine; exceptions and failures from any of them end up
in :func:`render_exception`, and so do exceptions raised while Twisted looks
a resource up (``getChild``) or renders one without that decorator
(:meth:`TahoeRequest.processingFailed`).

Client input is decoded here with its bounds: arguments that are not UTF-8
(:func:`get_arg`), numbers that are not ASCII digits (:func:`ascii_decimal`)
and ``when_done=`` targets off this node (:func:`local_location`) are 400s.
"""

import functools
import html
import inspect
import json
import urllib.parse

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http, resource, server
from twisted.web.template import flattenString

from ..dirnode_format import (BadChildNameError, ChildOfWrongTypeError, DirectoryFormatError,
                              ExistingChildError, NoSuchChildError, NotMutableError)
from ..immutable.download.errors import (NoSharesError, NotEnoughSharesError,
                                         UnrecoverableFileError)
from ..immutable.layout import FileTooLargeError
from ..immutable.selector import UploadUnhappinessError
from ..interfaces import NotCapableError
from ..mutable.common import NotEnoughServersError, NotWriteableError, UncoordinatedWriteError
from ..mutable.common import UnrecoverableFileError as MutableUnrecoverableFileError
from ..uri import BadURIError, CapConstraintError
from ..util.censor import censor_request_target, censor_text
from .channel import HEADERS_TIMEOUT, IDLE_TIMEOUT, use_timed_channels

log = Logger()


class WebError(Exception):
    """An error to show the web client, with its HTTP status."""

    status = http.BAD_REQUEST

    def __init__(self, message, status=None):
        Exception.__init__(self, message)
        if status is not None:
            self.status = status


class RangeNotSatisfiable(WebError):
    """A ``Range:`` that starts at or past the end of the file (416)."""

    status = http.REQUESTED_RANGE_NOT_SATISFIABLE

    def __init__(self, size: int):
        WebError.__init__(self, "the requested range starts past the end of the file "
                                "(the file has %d bytes)" % size)
        self.size = size


# Exceptions of the lower layers: (HTTP status, what the message starts
# with) by class.  An exception takes the entry of the first class of its MRO
# found here, so a subclass answers like its nearest listed base.  The web
# layer sits above every module these classes come from.
_ERRORS = {
    BadURIError: (http.BAD_REQUEST, "Invalid cap: "),
    CapConstraintError: (http.BAD_REQUEST, "This cap cannot be linked there: "),
    NoSharesError: (http.GONE, (
        "NoSharesError: no shares could be found. No shares at all usually means a mistyped "
        "or corrupt cap, or that no storage servers are connected; it can also mean severe "
        "damage. A file check will tell more.\n\nThe downloader said: ")),
    NotEnoughSharesError: (http.GONE, (
        "NotEnoughSharesError: this file cannot be recovered now: not enough shares were "
        "found.\n\nThe downloader said: ")),
    UnrecoverableFileError: (http.GONE,
                             "UnrecoverableFileError: this file cannot be recovered now: "),
    MutableUnrecoverableFileError: (
        http.GONE, "UnrecoverableFileError: this file cannot be recovered now: "),
    FileTooLargeError: (http.REQUEST_ENTITY_TOO_LARGE, ""),
    UploadUnhappinessError: (http.INTERNAL_SERVER_ERROR, (
        "UploadUnhappinessError: the file could not be placed on enough storage servers: ")),
    # directories
    NoSuchChildError: (http.NOT_FOUND, "No such child: "),
    ExistingChildError: (http.CONFLICT, (
        "There was already a child by that name, and you asked me not to replace it "
        "(replace=false, or replace=only-files and it is a directory): ")),
    NotMutableError: (http.BAD_REQUEST, "This directory cannot be changed through this cap: "),
    ChildOfWrongTypeError: (http.BAD_REQUEST, ""),
    BadChildNameError: (http.BAD_REQUEST, "Invalid child name: "),
    DirectoryFormatError: (http.INTERNAL_SERVER_ERROR,
                           "The directory's contents are malformed: "),
    # mutable files
    NotCapableError: (http.BAD_REQUEST, "This mutable file cannot be changed through this cap: "),
    # its private key is on no reachable share
    NotWriteableError: (http.GONE, (
        "NotWriteableError: this mutable file cannot be written now (no share of it, hence "
        "no private key, could be found): ")),
    UncoordinatedWriteError: (http.CONFLICT, (
        "UncoordinatedWriteError: someone else changed this file or directory at the same "
        "time; read it again and repeat the change: ")),
    NotEnoughServersError: (http.SERVICE_UNAVAILABLE, (
        "NotEnoughServersError: too few storage servers are connected to store this: ")),
}


def _known(exc):
    """The ``(status, prefix)`` of the nearest class of ``exc`` in the table, or None."""
    for cls in type(exc).__mro__:
        known = _ERRORS.get(cls)
        if known is not None:
            return known
    return None


def humanize_exception(exc) -> tuple[int, str]:
    """``(HTTP status, message for the person)`` for an exception."""
    if isinstance(exc, WebError):
        return exc.status, str(exc)
    known = _known(exc)
    if known is not None:
        status, prefix = known
        return status, prefix + str(exc)
    return http.INTERNAL_SERVER_ERROR, ("Internal server error (%s: %s). The node's log has "
                                        "the details." % (type(exc).__name__, exc))


def wants_plain_text(request) -> bool:
    accept = request.getHeader(b"accept") or b""
    return b"text/plain" in accept.lower()


_ENTITY_HEADERS = (b"content-length", b"content-range", b"content-disposition", b"etag",
                   b"accept-ranges", b"content-encoding")


def render_exception(request, exc, failure=None) -> bytes:
    """Set the status and headers of an error answer and return its body."""
    status, text = humanize_exception(exc)
    if status == http.INTERNAL_SERVER_ERROR and _known(exc) is None:
        log.failure("web request {method} {uri} failed",
                    failure=failure if failure is not None else Failure(exc),
                    method=censor_text(request.method.decode("latin-1")),
                    uri=censor_request_target(request.uri))
    request.setResponseCode(status)
    for name in _ENTITY_HEADERS:
        request.responseHeaders.removeHeader(name)
    if isinstance(exc, RangeNotSatisfiable):
        request.setHeader(b"Content-Range", b"bytes */%d" % exc.size)
    if wants_plain_text(request):
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return (text + "\n").encode("utf-8")
    request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
    phrase = http.RESPONSES.get(status, b"Error").decode("ascii", "replace")
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\" /><title>%d %s</title></head>\n"
            "<body><h1>%d %s</h1>\n<pre>%s</pre></body></html>\n"
            % (status, phrase, status, phrase, html.escape(text)))
    return page.encode("utf-8")


def render_error(request, err: WebError) -> bytes:
    return render_exception(request, err)


class ErrorResource(resource.Resource):
    """Answers every method with one error (what ``getChild`` returns for a
    path it refuses, e.g. a malformed cap)."""

    isLeaf = True

    def __init__(self, exc, failure=None):
        resource.Resource.__init__(self)
        self._exc = exc
        self._failure = failure

    def render(self, request):
        return render_exception(request, self._exc, self._failure)


def finish_deferred(request, d) -> object:
    """Answer ``request`` when ``d`` fires: with its bytes (if any) or with
    the error.  If the client goes away first, ``d`` is cancelled.  If part of
    the body was already sent when the failure arrives, the connection is
    closed so that the client sees a short (hence broken) body."""
    gone = []

    def client_gone(f):
        gone.append(f)
        d.cancel()

    request.notifyFinish().addErrback(client_gone)

    def done(body):
        if gone or request.finished:
            return
        if body:
            if not request.startedWriting:
                request.setHeader(b"Content-Length", b"%d" % len(body))
            request.write(body)
        request.finish()

    def failed(f):
        if gone or request.finished:
            return
        if request.startedWriting:
            log.failure("web request {method} {uri} failed after the body began; "
                        "dropping the connection", failure=f,
                        method=censor_text(request.method.decode("latin-1")),
                        uri=censor_request_target(request.uri))
            request.loseConnection()
            return
        body = render_exception(request, f.value, f)
        request.setHeader(b"Content-Length", b"%d" % len(body))
        if request.method != b"HEAD":
            request.write(body)
        request.finish()

    d.addCallbacks(done, failed)
    d.addErrback(lambda f: log.failure("answering a web request failed", failure=f))
    return server.NOT_DONE_YET


def render_html_document(request, page) -> object:
    """Answer ``request`` with ``page`` (a ``twisted.web.template`` tag or
    element) flattened into an HTML document; a failure to flatten it is
    answered (and logged) as :func:`finish_deferred` answers any failure."""
    request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
    d = flattenString(request, page)
    d.addCallback(lambda html: b"<!DOCTYPE html>\n" + html)
    return finish_deferred(request, d)


def async_render(method):
    """Decorate ``render_X(self, request)`` so that it may return bytes, a
    Deferred or a coroutine, and so that every exception is rendered by
    :func:`render_exception`."""

    @functools.wraps(method)
    def render(self, request):
        try:
            result = method(self, request)
        except Exception as e:  # noqa: BLE001 -- every error is answered, bugs as 500s
            return render_exception(request, e, Failure())
        if inspect.iscoroutine(result):
            result = defer.ensureDeferred(result)
        if isinstance(result, defer.Deferred):
            return finish_deferred(request, result)
        return result

    return render


class NodeHandler(resource.Resource):
    """A resource that answers every HTTP method in ``METHODS`` with one
    ``handle(request, method)`` (which may return bytes, a Deferred or a
    coroutine; its errors become answers as with :func:`async_render`).
    Other methods get Twisted's 405."""

    METHODS = (b"GET", b"HEAD", b"PUT", b"POST")

    def render(self, request):
        if request.method not in self.METHODS:
            raise server.UnsupportedMethod(self.METHODS)
        return self._render_method(request)

    @async_render
    def _render_method(self, request):
        return self.handle(request, request.method)

    def handle(self, request, method):
        raise TypeError("%s must define handle(request, method)" % type(self).__name__)


def redirect(request, location) -> bytes:
    """A 302 to ``location`` (a URL or absolute path, str or bytes)."""
    if isinstance(location, str):
        location = location.encode("utf-8")
    request.setResponseCode(http.FOUND)
    request.setHeader(b"Location", location)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return b"redirecting to " + location + b"\n"


_ASCII_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7f))


def local_location(target: str, what: str = "when_done=") -> str:
    """``target`` (a ``when_done=`` URL) as a ``Location`` that stays on
    this node, or a :class:`WebError` (400).  Followed: a path, absolute
    (``/uri/...``) or relative (``.``); refused: anything with a scheme or
    a host (``https://...``, ``//host/...``, ``javascript:...``), and
    backslashes, spaces and control characters, which browsers read in
    ways that can make a path into a host (``/\\host``).  Redirecting
    elsewhere would hand the new cap to another site."""
    if any(c == "\\" or c <= " " or c == "\x7f" for c in target):
        raise WebError("%s must be a path on this node; it may not contain backslashes, "
                       "spaces or control characters" % what)
    if target.startswith("//"):
        raise WebError("%s must be a path on this node, not //host/..." % what)
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc:
        raise WebError("%s must be a path on this node (such as /uri/...), not a URL with "
                       "a scheme or host" % what)
    # non-ASCII characters are sent %-escaped (a Location header is ASCII)
    return urllib.parse.quote(target, safe=_ASCII_PRINTABLE)


def check_when_done(request):
    """Refuse (400) a ``when_done=`` that leads off this node, before the
    request changes anything (call it after the form is parsed: the
    argument may be one of its fields)."""
    when_done = get_arg(request, "when_done")
    if when_done:
        local_location(when_done)


def redirect_when_done(request, when_done: str, cap=None) -> bytes:
    """The 302 answering ``when_done=``, with ``%(uri)s`` in it replaced by
    the %-escaped ``cap`` (bytes or text) when one is given."""
    if cap is not None:
        text = cap.decode("ascii") if isinstance(cap, bytes) else cap
        when_done = when_done.replace("%(uri)s", urllib.parse.quote(text, safe=""))
    return redirect(request, local_location(when_done))


def render_text(request, text) -> bytes:
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return text if isinstance(text, bytes) else text.encode("utf-8")


class TahoeRequest(server.Request):
    """A request whose every response carries the headers that keep caps
    in URLs from leaking through framing or the Referer header, and that
    keep browsers from sniffing a file's type (``nosniff``).

    Multipart bodies are NOT parsed by Twisted here (it would read the whole
    body into memory); handlers that take a form call
    :func:`allmydata.web.forms.get_form`, which scans the spooled body."""

    def requestReceived(self, command, path, version):
        ctype = (self.requestHeaders.getRawHeaders(b"content-type") or [b""])[0]
        self._parsePOSTFormSubmission = not ctype.strip().lower().startswith(b"multipart/")
        return server.Request.requestReceived(self, command, path, version)

    def process(self):
        self.setHeader(b"X-Frame-Options", b"DENY")
        self.setHeader(b"Referrer-Policy", b"no-referrer")
        # a browser must not guess a type other than the Content-Type we
        # send (a file served as text/plain must never run as HTML)
        self.setHeader(b"X-Content-Type-Options", b"nosniff")
        return server.Request.process(self)

    def processingFailed(self, reason):
        """An exception escaped a resource, while it was looked up
        (``getChild``) or rendered outside :func:`async_render`: it is
        answered as a handler's error would be (a :class:`WebError` with its
        status, a bad cap with 400 ...), not with Twisted's bare 500 page."""
        if self.finished or self.channel is None:
            return None
        if self.startedWriting:
            # the headers are gone: only a short body can tell the client
            self.loseConnection()
            return None
        body = render_exception(self, reason.value, reason)
        self.setHeader(b"Content-Length", b"%d" % len(body))
        if self.method != b"HEAD":
            self.write(body)
        self.finish()
        return None


def access_log_line(timestamp, request) -> str:
    """The access log's line for ``request`` (Twisted's ``Site`` writes one
    per request into the node's log): client address, method, the request
    target with its caps censored, protocol, status and bytes sent.  Neither
    ``Referer`` (it may be a URL holding a cap) nor ``User-Agent`` is shown."""
    address = request.getClientAddress()
    return "web: %s \"%s %s %s\" %s %s" % (
        getattr(address, "host", "-"),
        censor_text(request.method.decode("latin-1")),
        censor_request_target(request.uri),
        censor_text(request.clientproto.decode("latin-1")),
        request.code, request.sentLength or "-")


def make_site(resource, timeout=IDLE_TIMEOUT, headers_timeout=HEADERS_TIMEOUT,
              reactor=None) -> server.Site:
    """The Site serving ``resource``; ``timeout`` and ``headers_timeout``
    are the idle timeout and the headers deadline of its connections (see
    :mod:`allmydata.web.channel`), ``reactor`` the clock they run on."""
    site = server.Site(resource, logFormatter=access_log_line, timeout=timeout, reactor=reactor)
    use_timed_channels(site, headers_timeout)
    site.requestFactory = TahoeRequest
    site.displayTracebacks = False
    return site


_TRUE = {"true", "t", "1", "on"}
_FALSE = {"false", "f", "0", "off"}


def get_arg(request, name, default=None):
    """The first value of query/form argument ``name`` as text, or default.
    A value that is not UTF-8 is the client's mistake: a 400."""
    values = request.args.get(name.encode("ascii"))
    if not values:
        return default
    return decode_arg(name + "=", values[0])


def decode_arg(name, value: bytes) -> str:
    """``value`` (bytes of argument or path segment ``name``) as text; a
    :class:`WebError` (400) when it is not UTF-8."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WebError("%s is not UTF-8 text (byte 0x%02x at position %d, after URL-decoding)"
                       % (name, value[e.start], e.start)) from None


def get_bool_arg(request, name, default=False):
    value = get_arg(request, name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise WebError("%s=%s is not a boolean (use true or false)" % (name, value))


FORMATS = ("CHK", "SDMF", "MDMF")


def get_format_arg(request, default="CHK") -> str:
    """``format=`` (case-insensitive) or the older ``mutable=true`` -> one of
    CHK, SDMF, MDMF.  ``mutable=true`` alone means SDMF."""
    fmt = get_arg(request, "format")
    if fmt is not None and fmt.strip():
        fmt = fmt.strip().upper()
        if fmt not in FORMATS:
            raise WebError("unknown format=%s: use CHK, SDMF or MDMF" % fmt)
        return fmt
    if get_bool_arg(request, "mutable", False):
        return "SDMF"
    return default


def get_replace_arg(request, default=True):
    """``replace=``: True, False or ``"only-files"`` (replace files, never
    directories)."""
    value = get_arg(request, "replace")
    if value is None:
        return default
    if value.strip().lower() == "only-files":
        return "only-files"
    return get_bool_arg(request, "replace", default)


def get_offset_arg(request):
    """``offset=`` as a non-negative int, or None when absent."""
    value = get_arg(request, "offset")
    if value is None or value == "":
        return None
    offset = ascii_decimal(value.strip())
    if offset is None:
        raise WebError("offset=%s is not a number of bytes (ASCII digits 0-9)" % value[:40])
    if offset > MAX_BYTE_COUNT:
        raise WebError("offset=%s is larger than any file (at most %d)"
                       % (value[:40], MAX_BYTE_COUNT))
    return offset


#: the largest file size or offset taken from a client (a file's size is a
#: 64-bit number in its cap and its shares)
MAX_BYTE_COUNT = 2 ** 64 - 1
_ASCII_DIGITS = frozenset("0123456789")


def ascii_decimal(text: str):
    """The value of ``text`` if it is only ASCII digits, else None.  Numbers
    beyond :data:`MAX_BYTE_COUNT` come back as ``MAX_BYTE_COUNT + 1`` without
    being converted (so no length of digits can make ``int()`` slow or hit
    Python's limit on digits)."""
    if not text or not _ASCII_DIGITS.issuperset(text):
        return None
    significant = text.lstrip("0")
    if len(significant) > 20:
        return MAX_BYTE_COUNT + 1
    return min(int(significant or "0"), MAX_BYTE_COUNT + 1)


def mutable_version_of(fmt: str) -> str:
    """The ``version`` argument of the client's create calls for a format
    (None: the node's default, ``[client] mutable.format``)."""
    return {"SDMF": "sdmf", "MDMF": "mdmf", None: None}[fmt]


def text_of(value) -> str:
    if value is None:
        return None
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def render_json(request, data) -> bytes:
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    # Indented when small, for people reading it; compact when large, because
    # only the compact form uses json's C encoder, which is what keeps the
    # listing of a directory of thousands of entries quick.
    text = json.dumps(data, sort_keys=True)
    if len(text) < 64 * 1024:
        text = json.dumps(data, indent=1, sort_keys=True)
    return (text + "\n").encode("utf-8")
