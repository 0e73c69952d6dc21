"""``GET /storage``: the storage server's status page, HTML or ``?t=json``.

The JSON has the shape of Tahoe-LAFS 1.20's::

    {"stats": {storage_server.*: number},          the server's get_stats()
     "bucket-counter": {...},                       the bucket counter's state
     "lease-checker": {..., "history": {...}},      the lease checker's state
     "lease-checker-progress": {...}}               where the lease checker is

The HTML page shows the disk space (total, used, free, reserved, available
to shares), whether new shares are accepted, the bucket count, both
crawlers' progress, the expiration settings, what the cycle under way has
found so far and what the last complete cycle removed.  A node without a
storage server answers both with a page that says so (JSON: 404).
"""

from twisted.web import http, resource
from twisted.web.template import tags

from ..util.abbreviate import abbreviate_space
from ..util.idlib import nodeid_b2a
from ..util.time_format import iso_utc_date
from .common import WebError, get_arg, render_error, render_html_document, render_json


def abbreviate_time(seconds) -> str:
    """A duration for a person: ``"4.9ms"``, ``"12 seconds"``, ``"5 minutes"``,
    ``"11 hours"``, ``"3 days"``; ``"?"`` when unknown."""
    if seconds is None:
        return "?"
    if seconds < 1:
        return "%.1fms" % (seconds * 1000)
    if seconds < 120:
        return "%d seconds" % seconds
    if seconds < 2 * 3600:
        return "%d minutes" % (seconds / 60)
    if seconds < 2 * 86400:
        return "%d hours" % (seconds / 3600)
    return "%d days" % (seconds / 86400)


def storage_status_json(server) -> dict:
    checker = server.lease_checker
    return {"stats": server.get_stats(),
            "bucket-counter": server.bucket_counter.get_state(),
            "lease-checker": checker.get_state(),
            "lease-checker-progress": checker.get_progress()}


def format_progress(progress: dict) -> str:
    per_cycle = progress["estimated-time-per-cycle"]
    cycle = "" if per_cycle is None else " (estimated cycle time %s)" % abbreviate_time(per_cycle)
    if progress["cycle-in-progress"]:
        eta = progress["estimated-cycle-complete-time-left"]
        return "Current crawl %.1f%% complete%s (next work in %s)%s" % (
            progress["cycle-complete-percentage"],
            "" if eta is None else " (ETA %s)" % abbreviate_time(eta),
            abbreviate_time(progress["remaining-sleep-time"]), cycle)
    return "Next crawl in %s%s" % (abbreviate_time(progress["remaining-wait-time"]), cycle)


def format_recovered(sr: dict, kind: str) -> str:
    def number(key):
        value = sr.get("%s-%s" % (kind, key))
        return "?" if value is None else "%d" % value

    def space(key):
        value = sr.get("%s-%s" % (kind, key))
        return "?" if value is None else abbreviate_space(int(value))
    return "%s shares, %s buckets (%s mutable / %s immutable), %s (%s / %s)" % (
        number("shares"), number("buckets"), number("buckets-mutable"),
        number("buckets-immutable"), space("diskbytes"), space("diskbytes-mutable"),
        space("diskbytes-immutable"))


def _expiration_mode(policy) -> str:
    if policy.mode == "age":
        if policy.override_lease_duration is None:
            text = ("Leases expire when their own expiration time (31 days after their "
                    "creation or last renewal) has passed.")
        else:
            text = ("Leases created or last renewed more than %s ago are considered "
                    "expired." % abbreviate_time(policy.override_lease_duration))
    else:
        text = ("Leases created or last renewed before %s (midnight UTC) are considered "
                "expired." % iso_utc_date(policy.cutoff_date))
    kinds = " ".join(sorted(policy.sharetypes)) or "none"
    return "%s Share types whose leases expire: %s." % (text, kinds)


def _corrupt(shares):
    return tags.ul(*[tags.li("SI %s shnum %d" % (si, shnum)) for si, shnum in shares])


def status_page(server, nickname: str, now: float):
    """The page's body, as twisted.web.template tags."""
    stats = server.get_stats()
    checker = server.lease_checker

    def row(label, key, sign=""):
        value = stats.get(key)
        return tags.tr(tags.td(label),
                       tags.td(sign + ("?" if value is None else abbreviate_space(value))),
                       tags.td("(%s)" % ("?" if value is None else value)))
    space = tags.table(
        row("Total disk space:", "storage_server.disk_total"),
        row("Disk space used:", "storage_server.disk_used", "- "),
        row("Disk space free (root):", "storage_server.disk_free_for_root"),
        row("Disk space free (non-root):", "storage_server.disk_free_for_nonroot"),
        row("Reserved space:", "storage_server.reserved_space", "- "),
        row("Space Available to Tahoe:", "storage_server.disk_avail"),
        class_="storage_status")
    count = server.bucket_counter.get_bucket_count()
    about = tags.ul(
        tags.li("Server Nickname: ", tags.span(nickname, class_="nickname mine")),
        tags.li("Server Nodeid: ", tags.span(nodeid_b2a(server.nodeid),
                                             class_="nodeid mine data-chars")),
        tags.li("Accepting new shares: ",
                "Yes" if stats.get("storage_server.accepting_immutable_shares") else "No"),
        tags.li("Total buckets: ", "Not computed yet" if count is None else str(count),
                " (the number of files and directories for which this server holds a share)",
                tags.ul(tags.li(format_progress(server.bucket_counter.get_progress())))))

    lease = tags.ul(
        tags.li("Expiration ", "Enabled: expired leases will be removed"
                if checker.policy.enabled else
                "Disabled: scan-only mode, no leases will be removed"),
        tags.li(_expiration_mode(checker.policy)),
        tags.li(format_progress(checker.get_progress())))
    state = checker.get_state()
    so_far = state.get("cycle-to-date")
    if so_far is not None:
        sr = so_far["space-recovered"]
        whole = state["estimated-current-cycle"]["space-recovered"]
        items = [tags.li("So far, this cycle has examined %d shares in %d buckets "
                         "(%d mutable / %d immutable)"
                         % (sr["examined-shares"], sr["examined-buckets"],
                            sr["examined-buckets-mutable"], sr["examined-buckets-immutable"])),
                 tags.li("and has removed: ", format_recovered(sr, "actual"))]
        if not so_far["expiration-enabled"]:
            items.append(tags.li("If expiration were enabled, it would have removed: ",
                                 format_recovered(sr, "configured"), " by now"))
        items.append(tags.li("The whole cycle is expected to remove: ",
                             format_recovered(whole, "actual" if so_far["expiration-enabled"]
                                              else "configured")))
        if so_far["corrupt-shares"]:
            items.append(tags.li("Corrupt shares:", _corrupt(so_far["corrupt-shares"])))
        lease(tags.li("Current cycle:", tags.ul(*items)))
    history = state["history"]
    if history:
        last = history[max(history, key=int)]
        start, end = last["cycle-start-finish-times"]
        sr = last["space-recovered"]
        items = [tags.li("and saw a total of ", format_recovered(sr, "examined"))]
        if not last["expiration-enabled"]:
            items.append(tags.li("but expiration was not enabled. If it had been, it would "
                                 "have removed: ", format_recovered(sr, "configured")))
        if last["corrupt-shares"]:
            items.append(tags.li("Corrupt shares:", _corrupt(last["corrupt-shares"])))
        lease(tags.li("Last complete cycle (which took %s and finished %s ago) removed: "
                      % (abbreviate_time(end - start), abbreviate_time(max(0, now - end))),
                      format_recovered(sr, "actual"), tags.ul(*items)))
    return [tags.h1("Storage Server Status"), space, about,
            tags.h2("Lease Expiration Crawler"), lease,
            tags.p("[1]: Some of this space may be reserved for the superuser."),
            tags.p("[2]: The space available to non-root users, including this node."),
            tags.p("See this page ", tags.a("in JSON", href="?t=json"))]


class StorageStatus(resource.Resource):
    """``/storage`` of a node; ``server`` is its StorageServer or None."""

    isLeaf = True

    def __init__(self, server, nickname: str):
        resource.Resource.__init__(self)
        self._server = server
        self._nickname = nickname

    def render_GET(self, request):
        t = get_arg(request, "t", "")
        if t not in ("", "json"):
            return render_error(request, WebError("unknown t=%s for the storage status page" % t))
        if self._server is None:
            if t == "json":
                return render_error(request, WebError("this node runs no storage server",
                                                      http.NOT_FOUND))
            body = [tags.h1("No Storage Server Running")]
        elif t == "json":
            return render_json(request, storage_status_json(self._server))
        else:
            now = self._server.lease_checker.clock.seconds()
            body = status_page(self._server, self._nickname, now)
        page = tags.html(tags.head(tags.meta(charset="utf-8"),
                                   tags.title("Tahoe-LAFS - Storage Server Status")),
                         tags.body(*body))
        return render_html_document(request, page)
