"""Long operations and their handles: ``/operations/$HANDLE`` (Tahoe-LAFS 1.20's web API).

A deep-check, manifest, deep-size or deep-stats is started by a ``POST``
with an ``ophandle=`` the client chose; the answer is a redirect to
``/operations/$HANDLE`` (``?output=`` kept), or to ``when_done=``.  The
operation runs on; its handle's page shows its status so far, then its
results.

:class:`OperationsTable` keeps the handles:

* ``GET /operations/$HANDLE`` (``t=status`` or no ``t=``): the operation's
  page, in the ``output=`` format (HTML by default).  ``retain-for=N``
  keeps the handle N seconds from now; ``release-after-complete=true``
  forgets it once the page of the finished operation is served.
* ``POST /operations/$HANDLE?t=cancel``: cancel the operation, answer its
  page, forget the handle.
* A handle nobody asked to keep (no ``retain-for=``) lives until its
  operation ends, then four days or as long as the operation took, whichever
  is longer; once its finished page has been fetched, one day.  Timers run
  on the table's clock (a ``twisted.internet.task.Clock`` in tests).
* An unknown or expired handle is a 404.
* Paths below a handle go to the operation's page: a deep-check serves
  the results of one object at ``/operations/$HANDLE/$STORAGE_INDEX``.

The pages of manifests, deep-size and deep-stats are here too
(:class:`ManifestPage`, :class:`DeepSizePage`, :class:`DeepStatsPage`).
"""

import string
import urllib.parse

from twisted.internet import reactor as default_reactor
from twisted.web import http, resource
from twisted.web.template import tags

from ..deep_results import (deep_size_json, deep_size_text, deep_stats_json, manifest_json,
                            manifest_text)
from ..util import base32
from .check_results import output_format, render_json_text, render_page
from .common import (
    ErrorResource,
    WebError,
    ascii_decimal,
    async_render,
    get_arg,
    get_bool_arg,
    redirect,
    redirect_when_done,
    text_of,
)

DAY = 24 * 60 * 60

#: longest ``ophandle=`` taken, and its characters (those a URL path
#: segment carries unescaped; the CLI's handles are base32)
MAX_OPHANDLE_LENGTH = 200
_OPHANDLE_CHARS = frozenset(string.ascii_letters + string.digits + "-._~")
#: how many handles are kept at once; more is refused (503) until some are released
MAX_HANDLES = 10000
#: the refresh interval of a running operation's HTML page, in seconds
REFRESH_SECONDS = 60


def ophandle_arg(request) -> str:
    """The request's ``ophandle=``; a 400 when it is missing, empty, too long
    or has characters other than letters, digits and ``-._~``."""
    handle = get_arg(request, "ophandle")
    if not handle:
        raise WebError("this is a slow operation: it needs ophandle= (a name you choose, "
                       "to follow the operation at /operations/$HANDLE)")
    if len(handle) > MAX_OPHANDLE_LENGTH or not _OPHANDLE_CHARS.issuperset(handle):
        raise WebError("ophandle= must be 1 to %d letters, digits or any of - . _ ~"
                       % MAX_OPHANDLE_LENGTH)
    return handle


def retain_for_arg(request):
    """``retain-for=`` as a number of seconds, or None when absent."""
    value = get_arg(request, "retain-for")
    if value is None:
        return None
    seconds = ascii_decimal(value.strip())
    if seconds is None:
        raise WebError("retain-for=%s is not a number of seconds (ASCII digits 0-9)"
                       % value[:40])
    return seconds


def find_operations(request) -> "OperationsTable":
    """The operations table of the web server serving ``request``."""
    table = getattr(request.site.resource, "operations", None)
    if table is None:
        raise WebError("this web server runs no long operations", http.INTERNAL_SERVER_ERROR)
    return table


class _Handle:
    __slots__ = ("monitor", "page", "added", "timer")

    def __init__(self, monitor, page, added):
        self.monitor = monitor
        self.page = page
        self.added = added
        self.timer = None


class OperationsTable(resource.Resource):
    """``/operations``: the handles of the long operations of this node."""

    UNCOLLECTED_HANDLE_LIFETIME = 4 * DAY
    COLLECTED_HANDLE_LIFETIME = 1 * DAY

    def __init__(self, clock=None):
        resource.Resource.__init__(self)
        self.clock = clock if clock is not None else default_reactor
        self._handles = {}
        self._stopped = False

    # ---- starting -------------------------------------------------------------------------
    def check_can_add(self, request) -> str:
        """The request's ``ophandle=``, once it and ``retain-for=`` are
        found good and there is room for one more handle; else a
        :class:`WebError`.  Called before the operation starts, so that
        nothing runs that could not be followed."""
        handle = ophandle_arg(request)
        retain_for_arg(request)
        if self._stopped:
            raise WebError("this node is shutting down", http.SERVICE_UNAVAILABLE)
        if handle not in self._handles and len(self._handles) >= MAX_HANDLES:
            raise WebError("too many operations are kept (%d): release some (t=cancel, or "
                           "release-after-complete=true when reading a finished one)"
                           % MAX_HANDLES, http.SERVICE_UNAVAILABLE)
        return handle

    def add(self, handle, monitor, page, retain_for=None) -> None:
        """Keep ``monitor`` (with ``page``, the resource showing it) under
        ``handle``, for ``retain_for`` seconds if given (else by the default
        rules).  A handle in use is taken over: its operation, which nobody
        could follow any more, is cancelled."""
        old = self._handles.get(handle)
        if old is not None:
            self._release(handle)
            if not old.monitor.is_finished():
                old.monitor.cancel()
        entry = _Handle(monitor, page, self.clock.seconds())
        self._handles[handle] = entry
        if retain_for is not None:
            self._set_timer(handle, retain_for)
        d = monitor.when_done()
        d.addBoth(self._operation_done, handle, entry)

    def _operation_done(self, _result, handle, entry):
        if self._handles.get(handle) is not entry or entry.timer is not None:
            return None     # released, taken over, or kept for a time the client chose
        took = self.clock.seconds() - entry.added
        self._set_timer(handle, max(self.UNCOLLECTED_HANDLE_LIFETIME, took))
        return None

    def start(self, request, monitor, page) -> bytes:
        """Keep the operation under its handle and answer the POST that
        started it: a redirect to ``when_done=``, else to its page."""
        handle = self.check_can_add(request)
        self.add(handle, monitor, page, retain_for_arg(request))
        when_done = get_arg(request, "when_done")
        if when_done:
            return redirect_when_done(request, when_done)
        return redirect(request, operation_path(handle, get_arg(request, "output")))

    # ---- the pages ------------------------------------------------------------------------
    def getChild(self, name, request):
        try:
            return self._child(name, request)
        except WebError as e:
            return ErrorResource(e)

    def render(self, request):
        return ErrorResource(WebError("no operation handle given: use /operations/$HANDLE",
                                      http.NOT_FOUND)).render(request)

    def _child(self, name, request):
        handle = name.decode("utf-8", "replace")
        entry = self._handles.get(handle)
        if entry is None:
            raise WebError("unknown or expired operation handle %r" % handle[:80], http.NOT_FOUND)
        t = get_arg(request, "t", "status")
        if t == "cancel" and request.method == b"POST":
            entry.monitor.cancel()
            self._release(handle)
        else:
            retain_for = retain_for_arg(request)
            release = get_bool_arg(request, "release-after-complete", False)
            if retain_for is not None:
                self._set_timer(handle, retain_for)
            if entry.monitor.is_finished():
                if release:
                    self._release(handle)
                elif retain_for is None:
                    # the finished page has been collected
                    self._set_timer(handle, self.COLLECTED_HANDLE_LIFETIME)
        failure = entry.monitor.get_failure()
        if failure is not None:
            return ErrorResource(failure.value, failure)
        return entry.page

    def _set_timer(self, handle, seconds):
        entry = self._handles.get(handle)
        if entry is None:
            return
        if entry.timer is not None and entry.timer.active():
            entry.timer.cancel()
        entry.timer = self.clock.callLater(seconds, self._release, handle)

    def _release(self, handle):
        entry = self._handles.pop(handle, None)
        if entry is not None and entry.timer is not None and entry.timer.active():
            entry.timer.cancel()

    def handles(self) -> list:
        """The handles kept now."""
        return list(self._handles)

    def stop(self):
        """Cancel every timer and every running operation (the web server stops)."""
        self._stopped = True
        for handle in list(self._handles):
            entry = self._handles[handle]
            if not entry.monitor.is_finished():
                entry.monitor.cancel()
            self._release(handle)


def operation_path(handle, output=None) -> str:
    path = "/operations/" + urllib.parse.quote(handle, safe="")
    if output:
        path += "?output=" + urllib.parse.quote(output, safe="")
    return path


# ---- what every operation page shares ---------------------------------------------------------
def refresh_head(monitor):
    """The ``<meta>`` that reloads a running operation's page."""
    if monitor.is_finished():
        return ()
    return (tags.meta(**{"http-equiv": "refresh", "content": str(REFRESH_SECONDS)}),)


def still_running(request, monitor):
    """A reload link and a cancel button while the operation runs (forms
    that work without JavaScript)."""
    if monitor.is_finished():
        return ""
    here = request.path.decode("utf-8", "replace").rsplit("/", 1)[-1]
    return tags.div(
        tags.h2("Operation still running: ", tags.a("Reload", href=here + "?output=HTML")),
        tags.form(tags.input(type="submit", value="Cancel"), action=here + "?t=cancel",
                  method="post", enctype="multipart/form-data"),
        class_="still-running")


class OperationPage(resource.Resource):
    """The page of one operation, in the formats of ``FORMATS``
    (``output=``, default ``DEFAULT``)."""

    FORMATS = ("HTML", "JSON")
    DEFAULT = "HTML"

    def __init__(self, client, monitor, origin_si=None):
        resource.Resource.__init__(self)
        self._client = client
        self.monitor = monitor
        self.origin_si = origin_si

    def getChild(self, name, request):
        if name == b"" and not request.postpath:
            return self
        return ErrorResource(WebError("this operation has no page %r"
                                      % name.decode("utf-8", "replace")[:80], http.NOT_FOUND))

    def render(self, request):
        if request.method not in (b"GET", b"HEAD", b"POST"):
            raise WebError("%s is not allowed on an operation"
                           % request.method.decode("ascii", "replace"), http.NOT_ALLOWED)
        return self._render(request)

    @async_render
    def _render(self, request):
        fmt = output_format(request, self.FORMATS, self.DEFAULT)
        return getattr(self, "render_" + fmt)(request)

    def status(self, default=None):
        status = self.monitor.get_status()
        return default if status is None else status


def _cap_text(cap) -> str:
    return text_of(cap) if cap is not None else ""


# ---- manifest --------------------------------------------------------------------------------
class ManifestPage(OperationPage):
    """``t=start-manifest``: every object reachable, as HTML, text or JSON.
    The JSON holds the manifest only once the operation has finished."""

    FORMATS = ("HTML", "TEXT", "JSON")

    def _si_abbrev(self) -> str:
        if not self.origin_si:
            return "<LIT>"
        return base32.b2a(self.origin_si)[:6].decode("ascii")

    def _manifest(self):
        return self.status({}).get("manifest", [])

    def render_TEXT(self, request):
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return manifest_text(self.monitor).encode("utf-8")

    def render_JSON(self, request):
        return render_json_text(request, manifest_json(self.monitor, self.origin_si),
                                newline=False)

    async def render_HTML(self, request):
        rows = [tags.tr(tags.th("Path"), tags.th("Cap"))]
        for path, cap in self._manifest():
            text = _cap_text(cap)
            link = tags.a(text, href="/uri/" + urllib.parse.quote(text, safe=""),
                          rel="noreferrer") if text else ""
            rows.append(tags.tr(tags.td("/".join(path)), tags.td(link)))
        if len(rows) == 1:
            rows.append(tags.tr(tags.td("the manifest is empty so far", colspan="2")))
        return await render_page(request, "Manifest of SI=%s" % self._si_abbrev(),
                                 still_running(request, self.monitor),
                                 tags.table(*rows, class_="manifest"),
                                 head=refresh_head(self.monitor))


# ---- deep-size and deep-stats --------------------------------------------------------------
class DeepSizePage(OperationPage):
    """``t=start-deep-size``: ``finished: yes|no`` and ``size: N`` lines.
    Its JSON holds the deep-stats dict under "size", as Tahoe-LAFS's does."""

    FORMATS = ("HTML", "TEXT", "JSON")

    def render_TEXT(self, request):
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return deep_size_text(self.monitor).encode("utf-8")

    render_HTML = render_TEXT

    def render_JSON(self, request):
        return render_json_text(request, deep_size_json(self.monitor), indent=None,
                                newline=False)


class DeepStatsPage(OperationPage):
    """``t=start-deep-stats``: the stats dict and ``finished``, as JSON in
    every ``output=`` format."""

    def _render(self, request):
        return self.render_JSON(request)

    def render_JSON(self, request):
        return render_json_text(request, deep_stats_json(self.monitor), newline=False)
