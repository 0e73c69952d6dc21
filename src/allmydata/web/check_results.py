"""Pages of what a check found: ``POST /uri/$CAP?t=check`` (Tahoe-LAFS 1.20's web API).

* :func:`post_check` runs a check (``verify=``, ``repair=``, ``add-lease=``)
  of a file or directory and answers with its results: JSON for
  ``output=JSON`` (the shapes of :mod:`allmydata.check_results`, served as
  ``text/plain`` the way Tahoe-LAFS serves them), an HTML page otherwise,
  or a redirect to ``when_done=``.  A literal (LIT) file or directory has
  nothing on any server: its answer is the one Tahoe-LAFS gives for one, with
  or without ``repair=``.
* :class:`CheckResultsPage` / :class:`CheckAndRepairResultsPage` /
  :class:`LiteralCheckResultsPage` are those answers as resources, so that
  the per-object pages of a deep-check (``/operations/$HANDLE/$SI``) can
  serve them too.

An HTML page shows the summary, the share counts, the corrupt shares, which
server holds which share (by nickname and server id), the servers in
permuted order with their shares, the checker's report, and a link back
(``return_to=``, a path on this node).
"""

import json

from twisted.web import resource
from twisted.web.template import flattenString, tags

from ..check_results import check_and_repair_json, check_results_json
from ..monitor import Monitor
from .common import (
    WebError,
    async_render,
    get_arg,
    get_bool_arg,
    local_location,
    redirect_when_done,
)

STYLE = """
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
.nodeid { font-family: monospace; font-size: 90%; color: #555; }
fieldset { margin: 1em 0; max-width: 44em; }
"""


# ---- arguments --------------------------------------------------------------------------------
def output_format(request, allowed, default="HTML") -> str:
    """``output=`` upper-cased: one of ``allowed``, or ``default`` when absent
    or empty; anything else is a 400 (Tahoe-LAFS answers "Bad Format")."""
    value = get_arg(request, "output")
    if not value:
        return default
    fmt = value.strip().upper()
    if fmt not in allowed:
        raise WebError("Unknown output= value %r: this page can be rendered as %s"
                       % (value[:40], ", ".join(allowed)))
    return fmt


def return_to_arg(request):
    """The ``return_to=`` link (a path on this node), or None; a URL leading
    elsewhere is a 400, refused before anything is done."""
    value = get_arg(request, "return_to")
    if not value:
        return None
    return local_location(value, "return_to=")


def check_args(request) -> tuple[bool, bool, bool]:
    """``(verify, repair, add_lease)``; a value that is not a boolean is a 400."""
    return (get_bool_arg(request, "verify", False), get_bool_arg(request, "repair", False),
            get_bool_arg(request, "add-lease", False))


# ---- t=check ----------------------------------------------------------------------------------
async def post_check(request, client, node) -> bytes:
    """``POST ?t=check`` of ``node`` (a file or directory): run the check and
    answer with its results (or the ``when_done=`` redirect).  Every
    argument is read and checked before the check starts."""
    verify, repair, add_lease = check_args(request)
    fmt = output_format(request, ("HTML", "JSON"))
    return_to_arg(request)
    monitor = Monitor()
    try:
        if repair:
            results = await node.check_and_repair(monitor=monitor, verify=verify,
                                                  add_lease=add_lease)
        else:
            results = await node.check(monitor=monitor, verify=verify, add_lease=add_lease)
    except BaseException:
        monitor.cancel()    # the client went away, or the check failed: nothing more to do
        raise
    when_done = get_arg(request, "when_done")
    if when_done:
        return redirect_when_done(request, when_done)
    if results is None:
        page = LiteralCheckResultsPage()
    elif repair:
        page = CheckAndRepairResultsPage(client, results)
    else:
        page = CheckResultsPage(client, results)
    return await page.answer(request, fmt)


def render_json_text(request, data, indent=1, newline=True) -> bytes:
    """JSON as Tahoe-LAFS serves a check's or an operation's: ``text/plain``,
    indented by one space, with a final newline (some operation pages have
    none, or no indentation, in Tahoe-LAFS 1.20: they say so)."""
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return (json.dumps(data, indent=indent) + ("\n" if newline else "")).encode("utf-8")


async def render_page(request, title, *body, head=()) -> bytes:
    """An HTML page: ``title`` as its title and heading, then ``body``."""
    page = tags.html(
        tags.head(tags.meta(charset="utf-8"), tags.meta(name="referrer", content="no-referrer"),
                  tags.title(title), tags.style(STYLE), *head),
        tags.body(tags.h1(title), *body))
    html = await flattenString(request, page)
    request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
    return b"<!DOCTYPE html>\n" + html


def return_link(request, text="Return to the file or directory"):
    target = return_to_arg(request)
    if target is None:
        return ""
    return tags.div(tags.a(text, href=target, rel="noreferrer"), class_="return-to")


def health_word(cr) -> str:
    if cr.is_healthy():
        return "Healthy"
    if cr.is_recoverable():
        return "Not Healthy!"
    return "Not Recoverable!"


def server_cell(server):
    """A server's nickname above its short id."""
    return tags.td(tags.div(server.get_nickname() or "", class_="nickname"),
                   tags.div(tags.code(server.get_name()), class_="nodeid"))


def results_list(client, cr):
    """The body of a check's results: counts, corrupt shares, share map,
    servers in permuted order, and the checker's report."""
    items = []

    def item(label, value):
        items.append(tags.li(label + ": ", value))

    item("Share Counts", "need %d-of-%d, have %d" % (
        cr.count_shares_needed, cr.count_shares_expected, cr.count_shares_good))
    item("Happiness Level", str(cr.count_happiness))
    item("Hosts with good shares", str(cr.count_good_share_hosts))
    corrupt = cr.get_corrupt_shares()
    if corrupt:
        rows = [tags.tr(tags.td("sh#%d" % shnum), server_cell(server))
                for (server, _si, shnum) in corrupt]
        item("Corrupt shares", tags.table(
            tags.tr(tags.th("Share"), tags.th("Server (nickname, id)")), *rows,
            class_="corrupt-shares"))
    else:
        item("Corrupt shares", "none")
    item("Wrong Shares", str(cr.count_wrong_shares))
    sharemap = cr.get_sharemap()
    on_server = {}
    rows = []
    for shnum in sorted(sharemap):
        servers = sorted(sharemap[shnum], key=lambda s: s.get_longname())
        for i, server in enumerate(servers):
            on_server.setdefault(server.get_serverid(), set()).add(shnum)
            rows.append(tags.tr(tags.td(str(shnum) if i == 0 else ""), server_cell(server)))
    item("Good Shares (in share order)", tags.table(
        tags.tr(tags.th("Share"), tags.th("Server (nickname, id)")), *rows, class_="sharemap"))
    item("Recoverable Versions", str(cr.count_recoverable_versions))
    item("Unrecoverable Versions", str(cr.count_unrecoverable_versions))
    rows = []
    left = sum(len(s) for s in on_server.values())
    broker = getattr(client, "storage_broker", None)
    if broker is not None and left:
        for server in broker.get_servers_for_psi(cr.get_storage_index()):
            shnums = sorted(on_server.get(server.get_serverid(), ()))
            rows.append(tags.tr(server_cell(server),
                                tags.td(" ".join(str(n) for n in shnums))))
            left -= len(shnums)
            if not left:
                break
    item("Share Balancing (servers in permuted order)", tags.table(
        tags.tr(tags.th("Server (nickname, id)"), tags.th("Shares")), *rows,
        class_="share-balancing"))
    item("Report", tags.pre("\n".join(str(line) for line in cr.report)))
    return tags.ul(*items, class_="check-results")


class _ResultsResource(resource.Resource):
    """A check's results: ``output=JSON`` or HTML (the default), for GET
    (a deep-check's per-object page) and POST."""

    isLeaf = True
    FORMATS = ("HTML", "JSON")

    def render(self, request):
        return self._render(request)

    @async_render
    def _render(self, request):
        return self.answer(request, output_format(request, self.FORMATS))

    async def answer(self, request, fmt) -> bytes:
        if fmt == "JSON":
            return render_json_text(request, self.json())
        return await self.html(request)


class LiteralCheckResultsPage(_ResultsResource):
    """A literal file's (or literal directory's) check: always healthy."""

    def json(self):
        return check_results_json(None)

    async def html(self, request):
        return await render_page(
            request, "Check results for a literal (LIT) object",
            tags.div("A literal file or directory is always healthy: its contents are in its "
                     "cap, and nothing of it is stored on any server."),
            return_link(request))


class CheckResultsPage(_ResultsResource):
    def __init__(self, client, results):
        resource.Resource.__init__(self)
        self._client = client
        self._results = results

    def json(self):
        return check_results_json(self._results)

    async def html(self, request):
        cr = self._results
        return await render_page(
            request, "Check results for SI=%s" % cr.get_storage_index_string(),
            tags.div(health_word(cr), " : ", cr.get_summary(), class_="summary"),
            results_list(self._client, cr),
            return_link(request))


class CheckAndRepairResultsPage(_ResultsResource):
    def __init__(self, client, results):
        resource.Resource.__init__(self)
        self._client = client
        self._results = results

    def json(self):
        return check_and_repair_json(self._results)

    async def html(self, request):
        crr = self._results
        post = crr.post_repair_results
        if crr.repair_attempted:
            outcome = "Repair successful" if crr.repair_successful else "Repair unsuccessful"
        else:
            outcome = "No repair necessary"
        body = [tags.div(health_word(post), " : ", post.get_summary(), class_="summary"),
                tags.div(outcome, class_="repair-results")]
        if crr.repair_error:
            body.append(tags.div("Repair problem: ", str(crr.repair_error)))
        body += [tags.div(tags.h2("Post-repair check results"), results_list(self._client, post))]
        if crr.repair_attempted:
            body.append(tags.div(tags.h2("Pre-repair check results"),
                                 results_list(self._client, crr.pre_repair_results)))
        body.append(return_link(request))
        return await render_page(
            request, "Check-and-repair results for SI=%s" % crr.get_storage_index_string(),
            *body)


def results_page(client, results):
    """The page of one object's results in a deep-check: a check's, or a
    check-and-repair's."""
    if results is None:
        return LiteralCheckResultsPage()
    if hasattr(results, "post_repair_results"):
        return CheckAndRepairResultsPage(client, results)
    return CheckResultsPage(client, results)

