"""The page of a deep-check: ``/operations/$HANDLE`` of ``t=start-deep-check``.

While the deep-check runs, the page shows the counters so far (and reloads
itself every minute); once it is done, every object's results.  Its JSON
(``output=JSON``) is Tahoe-LAFS 1.20's, made by
:mod:`allmydata.deep_results`.  ``/operations/$HANDLE/$STORAGE_INDEX`` is
the check (or check-and-repair) page of one object of the walk.
"""

from twisted.web import http
from twisted.web.template import tags

from ..deep_results import deep_check_and_repair_json, deep_check_json
from ..util import base32
from .check_results import render_json_text, render_page, results_page, return_link, server_cell
from .common import ErrorResource, WebError
from .operations import OperationPage, refresh_head, still_running


def _path_text(path) -> str:
    return "/".join(path) if path else "<root>"


class DeepCheckPage(OperationPage):
    """A deep-check's page (``repair``: a deep-check-and-repair's)."""

    def __init__(self, client, monitor, repair, origin_si=None):
        OperationPage.__init__(self, client, monitor, origin_si)
        self._repair = repair

    def getChild(self, name, request):
        if name == b"" and not request.postpath:
            return self
        text = name.decode("utf-8", "replace")
        try:
            si = base32.a2b(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return ErrorResource(WebError("%r is not a storage index (base32)" % text[:80]))
        results = self.monitor.get_status()
        try:
            one = results.get_results_for_storage_index(si)
        except (KeyError, AttributeError):
            return ErrorResource(WebError("no results (yet) for the object of storage index %s"
                                          % text, http.NOT_FOUND))
        return results_page(self._client, one)

    def render_JSON(self, request):
        if self._repair:
            return render_json_text(request, deep_check_and_repair_json(self.monitor))
        return render_json_text(request, deep_check_json(self.monitor))

    async def render_HTML(self, request):
        results = self.monitor.get_status()
        counters = results.get_counters() if results is not None else {}
        root_si = results.get_root_storage_index_string() if results is not None else ""
        all_results = results.get_all_results() if results is not None else {}
        title = ("Deep-check-and-repair results for root SI=%s" if self._repair
                 else "Deep-check results for root SI=%s") % root_si
        body = [still_running(request, self.monitor), tags.p("Counters:"),
                self._counters(counters)]
        body += self._problems(all_results)
        body += self._unlisted(results)
        body += self._corrupt(request, results)
        body.append(return_link(request))
        body.append(tags.h2("All results"))
        body.append(self._all(request, all_results))
        return await render_page(request, title, *body, head=refresh_head(self.monitor))

    def _counters(self, c):
        def li(label, key):
            value = c.get(key)
            return tags.li(label, ": ", "" if value is None else str(value))
        if self._repair:
            return tags.ul(
                li("Objects Checked", "count-objects-checked"),
                li("Objects Healthy (before repair)", "count-objects-healthy-pre-repair"),
                li("Objects Unhealthy (before repair)", "count-objects-unhealthy-pre-repair"),
                li("Corrupt Shares (before repair)", "count-corrupt-shares-pre-repair"),
                li("Repairs Attempted", "count-repairs-attempted"),
                li("Repairs Successful", "count-repairs-successful"),
                li("Repairs Unsuccessful", "count-repairs-unsuccessful"),
                li("Objects Healthy (after repair)", "count-objects-healthy-post-repair"),
                li("Objects Unhealthy (after repair)", "count-objects-unhealthy-post-repair"),
                li("Corrupt Shares (after repair)", "count-corrupt-shares-post-repair"),
                class_="counters")
        return tags.ul(
            li("Objects Checked", "count-objects-checked"),
            li("Objects Healthy", "count-objects-healthy"),
            li("Objects Unhealthy", "count-objects-unhealthy"),
            li("Objects Unrecoverable", "count-objects-unrecoverable"),
            li("Corrupt Shares", "count-corrupt-shares"),
            class_="counters")

    def _problems(self, all_results):
        before, after = [], []
        for path in sorted(all_results):
            r = all_results[path]
            if r is None:
                continue
            pre = r.pre_repair_results if self._repair else r
            if not pre.is_healthy():
                before.append(tags.li(_path_text(path), ": ", pre.get_summary(),
                                      " [SI: %s]" % pre.get_storage_index_string()))
            if self._repair and not r.post_repair_results.is_healthy():
                post = r.post_repair_results
                after.append(tags.li(_path_text(path), ": ", post.get_summary()))
        out = []
        if before:
            out += [tags.h2("Files and directories that had problems"), tags.ul(*before)]
        if after:
            out += [tags.h2("Files and directories that still have problems"), tags.ul(*after)]
        return out

    def _unlisted(self, results):
        unlisted = results.get_unlisted_directories() if results is not None else []
        if not unlisted:
            return []
        items = [tags.li(_path_text(path), ": ", failure.getErrorMessage())
                 for path, failure in unlisted]
        return [tags.h2("Directories whose contents could not be read (not walked)"),
                tags.ul(*items)]

    def _corrupt(self, request, results):
        corrupt = results.get_corrupt_shares() if results is not None else []
        if not corrupt:
            return []
        rows = [tags.tr(tags.th("Server (nickname, id)"), tags.th("Storage Index"),
                        tags.th("Share Number"))]
        for server, si, shnum in corrupt:
            rows.append(tags.tr(server_cell(server), tags.td(self._si_link(request, si)),
                                tags.td(str(shnum))))
        return [tags.h2("Corrupt shares"),
                tags.p("If repair does not replace them, these shares need to be inspected "
                       "and removed by hand."),
                tags.table(*rows, class_="corrupt-shares")]

    def _si_link(self, request, si):
        if not si:
            return ""
        text = base32.b2a(si).decode("ascii")
        here = "/".join(p.decode("utf-8", "replace") for p in request.prepath[:2])
        return tags.a(text, href="/%s/%s" % (here, text))

    def _all(self, request, all_results):
        if self._repair:
            rows = [tags.tr(tags.th("Relative Path"), tags.th("Healthy Pre-Repair"),
                            tags.th("Recoverable Pre-Repair"), tags.th("Healthy Post-Repair"),
                            tags.th("Storage Index"), tags.th("Summary"))]
        else:
            rows = [tags.tr(tags.th("Relative Path"), tags.th("Healthy"), tags.th("Recoverable"),
                            tags.th("Storage Index"), tags.th("Summary"))]
        for path in sorted(all_results):
            r = all_results[path]
            if r is None:
                continue
            pre = r.pre_repair_results if self._repair else r
            cells = [tags.td(_path_text(path)), tags.td(str(pre.is_healthy())),
                     tags.td(str(pre.is_recoverable()))]
            if self._repair:
                cells.append(tags.td(str(r.post_repair_results.is_healthy())))
            cells += [tags.td(tags.code(self._si_link(request, pre.get_storage_index()))),
                      tags.td(pre.get_summary())]
            rows.append(tags.tr(*cells))
        if len(rows) == 1:
            rows.append(tags.tr(tags.td("Nothing to report yet.", colspan=str(len(rows[0].children)))))
        return tags.table(*rows, class_="all-results")
