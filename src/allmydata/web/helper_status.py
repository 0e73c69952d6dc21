"""``GET /helper_status``: the upload helper's page, HTML or ``?t=json``.

The JSON is the helper's statistics with Tahoe-LAFS 1.20's keys::

    {"chk_upload_helper.active_uploads": n,
     "chk_upload_helper.upload_requests": n, ...upload_already_present,
     ...upload_need_upload, ...resumes, ...fetched_bytes, ...encoded_bytes,
     ...incoming_count, ...incoming_size, ...incoming_size_old,
     ...encoding_count, ...encoding_size, ...encoding_size_old}

A node without a helper answers ``{}`` (as Tahoe-LAFS does) and an HTML
page that says no helper is running.  The HTML page shows the same numbers
as Tahoe-LAFS's, then the uploads in progress (storage index, size, state
and progress of fetching and of encoding and pushing).
"""

from twisted.logger import Logger
from twisted.web import resource
from twisted.web.server import NOT_DONE_YET
from twisted.web.template import flattenString, tags

from ..util import base32
from ..util.abbreviate import abbreviate_space
from .common import WebError, get_arg, render_error, render_json

__all__ = ["HelperStatus"]

P = "chk_upload_helper."


def _summary(stats: dict):
    def files(kind):
        return "%d bytes in %d files" % (stats[P + kind + "_size"], stats[P + kind + "_count"])
    return tags.ul(
        tags.li("Active: %d" % stats[P + "active_uploads"]),
        tags.li("--"),
        tags.li("Bytes Fetched: %d" % stats[P + "fetched_bytes"]),
        tags.li("Incoming: " + files("incoming")),
        tags.li("Encoding: " + files("encoding")),
        tags.li("Bytes Encoded: %d" % stats[P + "encoded_bytes"]),
        tags.li("--"),
        tags.li("Total Requests: %d" % stats[P + "upload_requests"]),
        tags.ul(tags.li("Already Present: %d" % stats[P + "upload_already_present"]),
                tags.li("Need Upload: %d" % stats[P + "upload_need_upload"]),
                tags.li("Resumed: %d" % stats[P + "resumes"])))


def _uploads(helper):
    rows = []
    for upload in helper.get_active_uploads():
        s = upload.status
        size = s.get_size()
        _chk, fetched, pushed = s.get_progress()
        rows.append(tags.tr(
            tags.td(base32.b2a(s.get_storage_index()).decode("ascii")),
            tags.td("?" if size is None else abbreviate_space(size)),
            tags.td(s.get_status()),
            tags.td("%.1f%%" % (100 * fetched)),
            tags.td("%.1f%%" % (100 * pushed))))
    if not rows:
        return tags.p("No uploads in progress.")
    head = tags.tr(*(tags.th(h) for h in ("Storage index", "Size", "Status", "Fetched",
                                           "Encoded and pushed")))
    return tags.table(head, *rows, border="1")


class HelperStatus(resource.Resource):
    """``/helper_status`` of a node; ``helper`` is its Helper or None."""

    isLeaf = True
    log = Logger()

    def __init__(self, helper):
        resource.Resource.__init__(self)
        self._helper = helper

    def render_GET(self, request):
        t = get_arg(request, "t", "")
        if t not in ("", "json"):
            return render_error(request, WebError("unknown t=%s for the helper status page" % t))
        if t == "json":
            return render_json(request, self._helper.get_stats() if self._helper else {})
        if self._helper is None:
            body = [tags.h1("No helper is running")]
        else:
            body = [tags.h1("Helper Status"), tags.h2("Immutable Uploads"),
                    _summary(self._helper.get_stats()), tags.h2("Uploads in progress"),
                    _uploads(self._helper)]
        body.append(tags.div("Return to the ", tags.a("Welcome Page", href="/")))
        page = tags.html(tags.head(tags.meta(charset="utf-8"),
                                   tags.title("Tahoe-LAFS - Helper Status")),
                         tags.body(*body))
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        d = flattenString(request, page)

        def done(html):
            request.write(b"<!DOCTYPE html>\n" + html)
            request.finish()

        def failed(f):
            self.log.failure("rendering the helper status page", f)
            request.setResponseCode(500)
            request.write(b"error rendering the helper status page\n")
            request.finish()
        d.addCallbacks(done, failed)
        return NOT_DONE_YET
