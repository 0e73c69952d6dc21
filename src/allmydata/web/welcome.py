"""The welcome page of a client node: ``GET /`` (HTML) and ``GET /?t=json``.

The HTML page shows this node (nickname, node ID, version), its services
(the storage server, with a link to ``/storage``; the upload helper it runs,
with a link to ``/helper_status``; its connections to the upload helper its
uploads go through and to the stats gatherer), links to ``/status`` and
``/statistics``, the introducer's connection, and every storage server it
knows: connection state, since when, when data last arrived, version and
available space.  Times are UTC.

The JSON has the shape of Tahoe-LAFS 1.20's::

    {"introducers": {"statuses": [str, ...]},
     "servers": [{"nodeid", "connection_status", "available_space",
                  "nickname", "version", "last_received_data"}, ...]}

A connected server's ``connection_status`` begins with "Connected";
``last_received_data`` is None while a server is not connected, or when
Foolscap does not track it.

FURLs (the introducer's, the upload helper's, the stats gatherer's) are
shown without their secret last part.
"""

import os

from twisted.python.filepath import FilePath
from twisted.web.template import Element, XMLFile, renderer, tags

from ..introducer.common import format_time
from ..util.abbreviate import abbreviate_space
from ..util.censor import censor_text
from .storage_status import abbreviate_time

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")
V1_KEY = b"http://allmydata.org/tahoe/protocols/storage/v1"

#: what the page says about a connection to the upload helper or the stats gatherer
NOT_CONFIGURED = "not configured"
CONNECTED = "connected"
NOT_CONNECTED = "not connected"


def _text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


def server_rows(node) -> list:
    """One dict per storage server this client knows of, sorted by nodeid:
    the JSON's keys plus ``connected`` and ``connected_since``."""
    broker = node.storage_broker
    if broker is None:
        return []
    rows = []
    for server in broker.get_known_servers():
        c = server.get_connector()
        version_dict = server.get_version()
        app_version = (version_dict.get(b"application-version")
                       if isinstance(version_dict, dict) else None)
        connected = server.is_connected()
        rows.append({
            "nodeid": server.get_longname(),
            "connection_status": server.connection_status(),
            "available_space": server.get_available_space(),
            "nickname": _text(server.get_nickname()),
            "version": _text(app_version or (c.version if c is not None else None)),
            "last_received_data": c.last_received_data if c is not None else None,
            "connected": connected,
            "connected_since": c.last_connect_time if c is not None and connected else None,
        })
    rows.sort(key=lambda r: r["nodeid"])
    return rows


def introducer_statuses(node) -> list:
    ic = node.introducer_client
    if ic is None:
        return []
    return [ic.get_introducer_status()]


def welcome_json(node) -> dict:
    keys = ("nodeid", "connection_status", "available_space", "nickname", "version",
            "last_received_data")
    servers = [{k: row[k] for k in keys} for row in server_rows(node)]
    return {"introducers": {"statuses": introducer_statuses(node)}, "servers": servers}


def helper_connection(node) -> tuple:
    """``(state, censored FURL or None)`` of the upload helper this node's
    uploads go through; the state is one of the three above."""
    furl, connected = node.client.uploader.get_helper_info()
    if furl is None:
        return NOT_CONFIGURED, None
    return (CONNECTED if connected else NOT_CONNECTED), censor_text(furl)


def gatherer_connection(node) -> tuple:
    """``(state, censored FURL or None)`` of the stats gatherer this node
    offers its stats to (``[client] stats_gatherer.furl``)."""
    gatherer = node.stats_gatherer_client
    if gatherer is None:
        return NOT_CONFIGURED, None
    return (CONNECTED if gatherer.connected else NOT_CONNECTED), censor_text(gatherer.furl)


class WelcomeElement(Element):
    loader = XMLFile(FilePath(os.path.join(TEMPLATES, "welcome.xhtml")))

    def __init__(self, node, now):
        """``now()``: the current time in seconds, for the "ago" texts."""
        Element.__init__(self)
        self._node = node
        self._now = now

    def _when(self, t):
        """An absolute time and how long ago it was, or "N/A"."""
        if t is None:
            return "N/A"
        age = self._now() - t
        return "%s (%s)" % (format_time(t), "just now" if age < 1 else
                            "%s ago" % abbreviate_time(age))

    @renderer
    def title(self, request, tag):
        return tag("Tahoe node: ", self._node.nickname)

    @renderer
    def node_info(self, request, tag):
        n = self._node
        return tag(tags.li("Nickname: ", n.nickname),
                   tags.li("Node ID: ", tags.code(n.nodeid_s)),
                   tags.li("Version: ", n.version),
                   tags.li("Page rendered at ", format_time(self._now())))

    @renderer
    def services(self, request, tag):
        items = []
        ss = self._node.storage_server
        if ss is not None:
            stats = ss.get_stats()
            if stats.get("storage_server.accepting_immutable_shares"):
                msg = "accepting new shares"
            else:
                msg = "not accepting new shares (read-only)"
            available = stats.get("storage_server.disk_avail")
            if available is not None:
                msg += ", %s available" % abbreviate_space(available)
            items.append(tags.li(tags.a("Storage server", href="storage"), ": ", msg))
        else:
            items.append(tags.li("Storage server: not running"))
        helper = self._node.helper
        if helper is not None:
            active = helper.get_stats().get("chk_upload_helper.active_uploads", 0)
            items.append(tags.li(tags.a("Upload helper", href="helper_status"),
                                 ": running, %d active upload%s"
                                 % (active, "" if active == 1 else "s")))
        else:
            items.append(tags.li("Upload helper: not running on this node"))
        items.append(self._connection_line("Uploads through a helper",
                                           *helper_connection(self._node)))
        items.append(self._connection_line("Stats gatherer", *gatherer_connection(self._node)))
        return tag(*items)

    @staticmethod
    def _connection_line(what, state, furl):
        line = tags.li(what, ": ", tags.span(state, class_="state-" + state.replace(" ", "-")))
        if furl is not None:
            line(" (", tags.code(furl), ")")
        return line

    @renderer
    def pages(self, request, tag):
        return tag(tags.li(tags.a("Recent and active operations", href="status")),
                   tags.li(tags.a("Operational statistics", href="statistics")))

    @renderer
    def introducers(self, request, tag):
        ic = self._node.introducer_client
        if ic is None:
            return tag(tags.tr(tags.td("No introducer configured", colspan="4")))
        since, received = ic.get_introducer_times()
        return tag(tags.tr(tags.td(tags.code(censor_text(ic.get_introducer_furl()))),
                           tags.td(ic.get_introducer_status()),
                           tags.td(self._when(since)), tags.td(self._when(received))))

    @renderer
    def server_summary(self, request, tag):
        rows = server_rows(self._node)
        connected = sum(1 for r in rows if r["connected"])
        return tag("Connected to %d of %d known storage servers" % (connected, len(rows)))

    @renderer
    def servers(self, request, tag):
        out = []
        for r in server_rows(self._node):
            out.append(tags.tr(
                tags.td(r["nickname"] or ""), tags.td(tags.code(r["nodeid"])),
                tags.td(r["connection_status"]),
                tags.td(self._when(r["connected_since"])),
                tags.td(self._when(r["last_received_data"])),
                tags.td(r["version"] or "unknown"),
                tags.td("N/A" if r["available_space"] is None
                        else abbreviate_space(r["available_space"]))))
        return tag(*out) if out else tag(tags.tr(tags.td("no servers known yet", colspan="7")))
