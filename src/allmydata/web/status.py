"""``/status``: the node's running and recent operations, and a page for each.

``GET /status`` lists them in two HTML tables (running, then recent; newest
first): type, storage index, whether a helper is used, size, progress and
state text, which links to the operation's own page.  ``GET /status?t=json``
(also as a ``POST``, which is how Tahoe-LAFS 1.20's ``tahoe status`` asks)
gives the same lists in the shape of Tahoe-LAFS 1.20's::

    {"active": [item, ...], "recent": [item, ...]}
    item: {"type": "upload" | "download" | "publish" | "retrieve" | "mapupdate",
           "storage-index-string": base32 or null,
           "total-size": int or null ("-NA-" for a mapupdate),
           "status": str,
           upload: "progress-hash", "progress-ciphertext", "progress-encode-push",
           download: "progress", mapupdate: "mode"}

The page of one operation is ``/status/up-N``, ``down-N``, ``mapupdate-N``,
``publish-N`` or ``retrieve-N`` (N: its counter; an upload this node's
helper made for a client is an ``up-N`` too): its timings and what each
server did.
``/status/down-N/event_json`` gives a download's requests as Tahoe-LAFS
1.20's timeline data.  An unknown or malformed name is a 404 that says which
names exist.  No page shows a capability: operations are named by storage
index only.
"""

import re
import time

from twisted.web import http, resource
from twisted.web.template import tags

from ..immutable.interfaces import IDownloadStatus, IUploadStatus
from ..mutable.status import IPublishStatus, IRetrieveStatus, IServermapUpdaterStatus
from ..util import base32
from ..util.idlib import nodeid_b2a, shortnodeid_b2a
from .common import (
    ErrorResource, WebError, get_arg, render_error, render_html_document, render_json,
)
from .status_events import download_events_json


#: the page-name prefix of each kind of operation
PREFIX = {"upload": "up", "download": "down", "mapupdate": "mapupdate",
          "publish": "publish", "retrieve": "retrieve"}
_NAME = re.compile(r"\A(up|down|mapupdate|publish|retrieve)-([0-9]{1,18})\Z")


# ---- what an operation is, in words ------------------------------------------------------
def kind_of(status) -> str:
    if IUploadStatus.providedBy(status):
        return "upload"
    if IDownloadStatus.providedBy(status):
        return "download"
    if IPublishStatus.providedBy(status):
        return "publish"
    if IRetrieveStatus.providedBy(status):
        return "retrieve"
    if IServermapUpdaterStatus.providedBy(status):
        return "mapupdate"
    raise TypeError("not the status of an operation: %r" % (status,))


def si_text(storage_index) -> str | None:
    return None if storage_index is None else base32.b2a(storage_index).decode("ascii")


class ServerNames:
    """Names of servers for people, as the welcome page gives them: a binary
    server id the broker knows gets the server's short name (and long name),
    an unknown one the short form of its base32; a name the mutable-file
    code already gave stays as it is."""

    def __init__(self, storage_broker=None):
        self._broker = storage_broker

    def _server(self, serverid: bytes):
        return self._broker.get_server(serverid) if self._broker is not None else None

    def short(self, server) -> str:
        if not isinstance(server, bytes):
            return str(server)
        known = self._server(server)
        return known.get_name() if known is not None else shortnodeid_b2a(server)

    def long(self, serverid: bytes) -> str:
        known = self._server(serverid)
        return known.get_longname() if known is not None else nodeid_b2a(serverid)


def abbreviate_time(seconds) -> str:
    """``"1.23s"``, ``"790ms"``, ``"132us"``; ``""`` when unknown."""
    if seconds is None:
        return ""
    s = float(seconds)
    if s >= 1.0:
        return "%.2fs" % s
    if s >= 0.01:
        return "%.0fms" % (1000 * s)
    if s >= 0.001:
        return "%.1fms" % (1000 * s)
    return "%.0fus" % (1000000 * s)


def abbreviate_size(size) -> str:
    if size is None:
        return "(unknown)"
    r = float(size)
    if r > 1e9:
        return "%1.2fGB" % (r / 1e9)
    if r > 1e6:
        return "%1.2fMB" % (r / 1e6)
    if r > 1e3:
        return "%.1fkB" % (r / 1e3)
    return "%.0fB" % r


def abbreviate_rate(nbytes, seconds) -> str:
    if nbytes is None or not seconds:
        return ""
    r = nbytes / seconds
    if r > 1e6:
        return "%1.2fMBps" % (r / 1e6)
    if r > 1e3:
        return "%.1fkBps" % (r / 1e3)
    return "%.0fBps" % r


def render_time(t) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def progress_text(status) -> str:
    progress = status.get_progress()
    if kind_of(status) == "upload":
        return "hash: %.1f%%, ciphertext: %.1f%%, encode: %.1f%%" % tuple(
            100.0 * p for p in progress)
    return "%.1f%%" % (100.0 * progress)


def type_text(status) -> str:
    kind = kind_of(status)
    if kind == "mapupdate":
        return "mapupdate %s" % status.get_mode()
    return kind


def link_of(status) -> str:
    return "%s-%d" % (PREFIX[kind_of(status)], status.get_counter())


# ---- the lists ---------------------------------------------------------------------------
def all_statuses(history) -> list:
    """Every recorded operation of every kind (an object listed under two
    kinds appears once)."""
    seen, out = set(), []
    for statuses in (history.list_all_upload_statuses(), history.list_all_helper_statuses(),
                     history.list_all_download_statuses(),
                     history.list_all_mapupdate_statuses(),
                     history.list_all_publish_statuses(),
                     history.list_all_retrieve_statuses()):
        for s in statuses:
            if id(s) not in seen:
                seen.add(id(s))
                out.append(s)
    return out


def active_and_recent(history) -> tuple[list, list]:
    """(running, finished), each newest first."""
    statuses = sorted(all_statuses(history),
                      key=lambda s: (s.get_started(), s.get_counter()), reverse=True)
    return ([s for s in statuses if s.get_active()],
            [s for s in statuses if not s.get_active()])


def item_json(status) -> dict:
    """One operation in Tahoe-LAFS 1.20's ``/status?t=json`` shape."""
    kind = kind_of(status)
    item = {"storage-index-string": si_text(status.get_storage_index()),
            # a map update has no size: Tahoe-LAFS 1.20 says "-NA-"
            "total-size": "-NA-" if kind == "mapupdate" else status.get_size(),
            "status": status.get_status(),
            "type": kind}
    if kind == "upload":
        h, c, e = status.get_progress()
        item["progress-hash"] = h
        item["progress-ciphertext"] = c
        item["progress-encode-push"] = e
    elif kind == "download":
        item["progress"] = status.get_progress()
    elif kind == "mapupdate":
        item["mode"] = status.get_mode()
    return item


def status_json(history) -> dict:
    active, recent = active_and_recent(history)
    return {"active": [item_json(s) for s in active], "recent": [item_json(s) for s in recent]}


def find_status(history, name: bytes):
    """The status object ``/status/<name>`` names; WebError (404) if none."""
    try:
        text = name.decode("ascii")
    except UnicodeDecodeError:
        text = None
    m = _NAME.match(text) if text is not None else None
    if m is None:
        raise WebError("no such operation %r: an operation's page is /status/up-N, down-N, "
                       "mapupdate-N, publish-N or retrieve-N (N: its number on /status)"
                       % (text if text is not None else name,), http.NOT_FOUND)
    prefix, counter = m.group(1), int(m.group(2))
    lists = {"up": (history.list_all_upload_statuses, history.list_all_helper_statuses),
             "down": (history.list_all_download_statuses,),
             "mapupdate": (history.list_all_mapupdate_statuses,),
             "publish": (history.list_all_publish_statuses,),
             "retrieve": (history.list_all_retrieve_statuses,)}[prefix]
    for listing in lists:
        for s in listing():
            if s.get_counter() == counter:
                return s
    raise WebError("no operation %s: this node keeps only the running and the most recent "
                   "operations (see /status)" % text, http.NOT_FOUND)


def _table(statuses, with_started: bool, empty: str):
    head = (["Started"] if with_started else []) + [
        "Type", "Storage Index", "Helper?", "Total Size", "Progress", "Status"]
    rows = [tags.tr(*[tags.th(h) for h in head])]
    for s in statuses:
        si = si_text(s.get_storage_index()) or "(None)"
        cells = ([render_time(s.get_started())] if with_started else []) + [
            type_text(s), si, "Yes" if s.using_helper() else "No",
            abbreviate_size(s.get_size()), progress_text(s),
            tags.a(s.get_status(), href="/status/" + link_of(s))]
        rows.append(tags.tr(*[tags.td(c) for c in cells], class_="operation"))
    if not statuses:
        rows.append(tags.tr(tags.td(empty)))
    return tags.table(*rows, class_="table-headings-top")


def list_page(history):
    active, recent = active_and_recent(history)
    return ("Recent and Active Operations",
            [tags.h1("Recent and Active Operations"),
             tags.h2("Active Operations:"),
             _table(active, False, "No active operations!"),
             tags.h2("Recent Operations:"),
             _table(recent, True, "No recent operations!"),
             tags.p("See this page ", tags.a("in JSON", href="/status?t=json"))])


# ---- one operation's page ----------------------------------------------------------------
def _common_items(status, size_label="Total Size"):
    return [tags.li("Started: ", render_time(status.get_started())),
            tags.li("Storage Index: ", si_text(status.get_storage_index()) or "(None)"),
            tags.li("Helper?: ", "Yes" if status.using_helper() else "No"),
            tags.li(size_label + ": ", abbreviate_size(status.get_size())
                    if status.get_size() is not None else "(unknown)")]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _timed(label, timings, name, nbytes=None):
    """One timing, and the rate over ``nbytes``; what is not a number (a
    helper's results come from another node) counts as not measured."""
    seconds = timings.get(name)
    if not _number(seconds) or seconds < 0:
        return tags.li("%s: (not measured)" % label)
    rate = abbreviate_rate(nbytes, seconds) if _number(nbytes) else ""
    return tags.li("%s: %s%s" % (label, abbreviate_time(seconds), " (%s)" % rate if rate else ""))


def _by_name(names, mapping: dict) -> list:
    """[(name, value)] of {server: value}, sorted by name."""
    return sorted(((names.short(server), value) for server, value in mapping.items()),
                  key=lambda kv: kv[0])


def _problems(names, problems: dict):
    if not problems:
        return tags.li("Server Problems: none")
    return tags.li("Server Problems:", tags.ul(*[
        tags.li("[%s]: %s" % (name, text)) for name, text in _by_name(names, problems)]))


def _shares(names, label, holdings: dict, verb: str):
    """``holdings``: {server: set(shnum)}."""
    if not holdings:
        return tags.li("%s: none" % label)
    return tags.li(label + ":", tags.ul(*[
        tags.li("[%s] %s share%s: %s" % (name, verb, "" if len(shnums) == 1 else "s",
                                         ",".join("#%d" % n for n in sorted(shnums))))
        for name, shnums in _by_name(names, holdings)]))


def _server_times(names, label, per_server: dict):
    """``per_server``: {server: [seconds] or [(what, seconds)]}."""
    if not per_server:
        return tags.li("%s: none" % label)
    items = []
    for name, times in _by_name(names, per_server):
        parts = [("%s %s" % (t[0], abbreviate_time(t[1]))) if isinstance(t, tuple)
                 else abbreviate_time(t) for t in times]
        items.append(tags.li("[%s]: %s" % (name, ", ".join(parts))))
    return tags.li(label + ":", tags.ul(*items))


def upload_page(s, names):
    items = _common_items(s)
    h, c, e = s.get_progress()
    items += [tags.li("Progress (Hash): %.1f%%" % (100.0 * h)),
              tags.li("Progress (Ciphertext): %.1f%%" % (100.0 * c)),
              tags.li("Progress (Encode+Push): %.1f%%" % (100.0 * e)),
              tags.li("Status: ", s.get_status())]
    body = [tags.h1("File Upload Status"), tags.ul(*items)]
    r = s.get_results()
    if r is not None:
        # the uploader's UploadResults, or (on a helper's node) the results
        # the helper sends its client, whose fields a peer may leave out
        t = getattr(r, "timings", None) or {}
        size = getattr(r, "file_size", None)
        if size is None:
            size = s.get_size()
        fetched = getattr(r, "ciphertext_fetched", None)
        summary = getattr(r, "placement_summary", "")

        def count(name):
            value = getattr(r, name, None)
            return "?" if value is None else str(value)
        body += [tags.h2("Upload Results"), tags.ul(
            tags.li("Shares Pushed: " + count("pushed_shares")),
            tags.li("Shares Already Present: " + count("preexisting_shares")),
            tags.li("Placement: " + summary) if summary else "",
            tags.li("Ciphertext Fetched By The Helper: %s bytes" % count("ciphertext_fetched"))
            if s.using_helper() else "",
            _shares(names, "Sharemap", _invert(getattr(r, "sharemap", None)), "has"),
            tags.li("Timings:", tags.ul(
                tags.li("File Size: %s bytes" % ("?" if size is None else size)),
                _timed("Total", t, "total", size),
                _timed("Storage Index", t, "storage_index", size),
                _timed("[Contacting Helper]", t, "contacting_helper"),
                _timed("[Upload Ciphertext To Helper]", t, "cumulative_fetch", fetched),
                _timed("Peer Selection", t, "peer_selection"),
                _timed("Encode And Push", t, "total_encode_and_push", size),
                _timed("Cumulative Encoding", t, "cumulative_encoding", size),
                _timed("Cumulative Pushing", t, "cumulative_sending", size),
                _timed("Send Hashes And Close", t, "hashes_and_close"),
                _timed("[Helper Total]", t, "helper_total"))))]
    return "File Upload Status", body


def _invert(sharemap: dict) -> dict:
    """{shnum: set(server)} -> {server: set(shnum)}."""
    out: dict = {}
    for shnum, servers in (sharemap or {}).items():
        for server in servers:
            out.setdefault(server, set()).add(shnum)
    return out


def download_page(s, names):
    items = _common_items(s) + [tags.li("Progress: %.1f%%" % (100.0 * s.get_progress())),
                                tags.li("Status: ", s.get_status())]
    body = [tags.h1("File Download Status"), tags.ul(*items),
            tags.p(tags.a("Timeline data (JSON)", href="%s/event_json" % link_of(s)))]
    r = s.get_results()
    if r is not None:
        t = r.timings
        size = r.file_size
        used = sorted(names.short(sid) for sid in r.servers_used)
        body += [tags.h2("Download Results"), tags.ul(
            tags.li("Servers Used: ", ", ".join("[%s]" % u for u in used) or "none"),
            _shares(names, "Servermap", r.servermap, "has"),
            _problems(names, r.server_problems),
            tags.li("Blocks Fetched: %d (%d bytes), Segments Delivered: %d"
                    % (r.blocks_fetched, r.bytes_fetched, r.segments_delivered)),
            tags.li("Timings:", tags.ul(
                tags.li("File Size: %s bytes" % size),
                _timed("Total", t, "total", s.get_size()),
                _timed("Peer Selection", t, "peer_selection"),
                _timed("UEB Fetch", t, "uri_extension"),
                _timed("Hashtree Fetch", t, "hashtrees"),
                _timed("Segment Fetch", t, "segments", s.get_size()),
                _timed("Cumulative Fetching", t, "cumulative_fetch", r.bytes_fetched),
                _timed("Cumulative Decoding", t, "cumulative_decode", s.get_size()),
                _timed("Cumulative Decrypting", t, "cumulative_decrypt", s.get_size()))),
            _server_times(names, "Per-Server Share Query Times",
                          {sid: [sec] for sid, sec in t["servers_peer_selection"].items()}),
            _server_times(names, "Per-Server Segment Fetch Response Times (the latest of each)",
                          t["fetch_per_server"]))]
    return "File Download Status", body


def _mutable_common(s, size_label):
    items = _common_items(s, size_label)
    enc = s.get_encoding()
    items += [tags.li("Progress: %.1f%%" % (100.0 * s.get_progress())),
              tags.li("Status: ", s.get_status())]
    seq = s.get_seqnum()
    extra = [tags.li("Encoding: %s" % ("%d of %d" % enc if enc else "(unknown)")),
             tags.li("Sequence Number: %s" % ("(unknown)" if seq is None else seq))]
    return items, extra


def mapupdate_page(s, names):
    items, _extra = _mutable_common(s, "Total Size")
    items.insert(1, tags.li("Finished: ", render_time(s.get_finished()) or "(running)"))
    items.append(tags.li("Mode: %s" % s.get_mode()))
    t = s.get_timings()
    privkey = s.get_privkey_from()
    body = [tags.h1("Mutable File Servermap Update Status"), tags.ul(*items),
            tags.h2("Update Results"), tags.ul(
                _problems(names, s.get_problems()),
                _timed("Total", t, "total"),
                tags.li("Got privkey from: [%s]" % privkey) if privkey else
                tags.li("Got privkey from: (not needed or not found)"),
                tags.li("Servers Queried: %d" % len(s.get_servers())),
                _shares(names, "Shares Found", s.get_sharemap(), "has"),
                _server_times(names, "Per-Server Response Times", s.get_server_times()))]
    return "Mutable File Servermap Update Status", body


def _transfer_page(s, names, what: str, timings: tuple, sharemap: bool, per_server: str):
    """The page of a publish or a retrieve: ``timings`` are the (label,
    name) of its steps; ``sharemap`` whether it lists the shares written."""
    items, extra = _mutable_common(s, "Current Size")
    t = s.get_timings()
    size = s.get_size()
    title = "Mutable File %s Status" % what
    body = [tags.h1(title), tags.ul(*items),
            tags.h2("%s Results" % what), tags.ul(
                *extra,
                _problems(names, s.get_problems()),
                _shares(names, "Sharemap", s.get_sharemap(), "has") if sharemap else "",
                tags.li("Timings:", tags.ul(*[_timed(label, t, name, size)
                                              for label, name in timings])),
                _server_times(names, per_server, s.get_server_times()))]
    return title, body


def publish_page(s, names):
    return _transfer_page(s, names, "Publish",
                          (("Total", "total"), ("Encoding", "encode"), ("Pushing", "push")),
                          True, "Per-Server Response Times")


def retrieve_page(s, names):
    return _transfer_page(s, names, "Retrieve",
                          (("Total", "total"), ("Fetching", "fetch"), ("Decoding", "decode")),
                          False, "Per-Server Fetch Response Times")


PAGES = {"upload": upload_page, "download": download_page, "mapupdate": mapupdate_page,
         "publish": publish_page, "retrieve": retrieve_page}


# ---- resources ---------------------------------------------------------------------------
def _render_html(request, title: str, body: list):
    return render_html_document(request, tags.html(
        tags.head(tags.meta(charset="utf-8"), tags.title("Tahoe-LAFS - " + title)),
        tags.body(*body, tags.div("Return to the ", tags.a("Welcome Page", href="/")))))


class DownloadEvents(resource.Resource):
    """``/status/down-N/event_json``."""

    isLeaf = True

    def __init__(self, status, names: ServerNames):
        resource.Resource.__init__(self)
        self._status = status
        self._names = names

    def render_GET(self, request):
        return render_json(request, download_events_json(self._status, self._names))


class OperationStatusPage(resource.Resource):
    """``/status/<kind>-N``: the page of one operation."""

    def __init__(self, status, names: ServerNames):
        resource.Resource.__init__(self)
        self._status = status
        self._names = names

    def getChild(self, name, request):
        if name == b"" and not request.postpath:
            return self
        if name == b"event_json" and kind_of(self._status) == "download":
            return DownloadEvents(self._status, self._names)
        return ErrorResource(WebError("no such page under /status/%s" % link_of(self._status),
                                      http.NOT_FOUND))

    def render_GET(self, request):
        t = get_arg(request, "t", "")
        if t:
            return render_error(request, WebError(
                "unknown t=%s for an operation's status page (it has only HTML%s)"
                % (t, "; the timeline is at event_json"
                   if kind_of(self._status) == "download" else "")))
        title, body = PAGES[kind_of(self._status)](self._status, self._names)
        return _render_html(request, title, body)


class Status(resource.Resource):
    """``/status`` of a node; ``history`` is its History, ``storage_broker``
    (optional) names the servers."""

    def __init__(self, history, storage_broker=None):
        resource.Resource.__init__(self)
        self._history = history
        self._names = ServerNames(storage_broker)

    def getChild(self, name, request):
        if name == b"" and not request.postpath:
            return self
        try:
            return OperationStatusPage(find_status(self._history, name), self._names)
        except WebError as e:
            return ErrorResource(e)

    def render_GET(self, request):
        t = get_arg(request, "t", "")
        if t == "json":
            return render_json(request, status_json(self._history))
        if t:
            return render_error(request, WebError("unknown t=%s for the status page" % t))
        title, body = list_page(self._history)
        return _render_html(request, title, body)

    # Tahoe-LAFS's ``tahoe status`` asks with a POST (t=json and its API token in the body)
    render_POST = render_GET
