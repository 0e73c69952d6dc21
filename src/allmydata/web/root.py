"""The welcome page of a client node: ``GET /`` (HTML) and ``GET /?t=json``.

The JSON has the shape of Tahoe-LAFS's (Tahoe-LAFS 1.20)::

    {"introducers": {"statuses": [str, ...]},
     "servers": [{"nodeid", "connection_status", "available_space",
                  "nickname", "version", "last_received_data"}, ...]}

A connected server's ``connection_status`` begins with "Connected".
"""

import os
import time

from twisted.python.filepath import FilePath
from twisted.web import resource
from twisted.web.server import NOT_DONE_YET
from twisted.web.template import Element, XMLFile, flattenString, renderer, tags

from ..util.abbreviate import abbreviate_space
from .common import WebError, get_arg, render_error, render_json
from .named import NamedHandler
from .status import Status
from .storage_status import StorageStatus
from .operations import OperationsTable
from .uri import URIHandler

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")
V1_KEY = b"http://allmydata.org/tahoe/protocols/storage/v1"


def _text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


def server_rows(node):
    """One dict per storage server this client knows of, sorted by nodeid."""
    broker = node.storage_broker
    if broker is None:
        return []
    rows = []
    for server in broker.get_known_servers():
        c = server.get_connector()
        version_dict = server.get_version() or {}
        v1 = version_dict.get(V1_KEY, {}) if isinstance(version_dict, dict) else {}
        available = v1.get(b"available-space") if isinstance(v1, dict) else None
        app_version = version_dict.get(b"application-version") if isinstance(version_dict, dict) else None
        rows.append({
            "nodeid": server.get_longname(),
            "connection_status": server.connection_status(),
            "available_space": available,
            "nickname": _text(server.get_nickname()),
            "version": _text(app_version or getattr(c, "version", None)),
            "last_received_data": (getattr(c, "last_received_data", None)
                                   or getattr(c, "last_connect_time", None)),
            "connected": server.is_connected(),
        })
    rows.sort(key=lambda r: r["nodeid"])
    return rows


def introducer_statuses(node):
    ic = node.introducer_client
    if ic is None:
        return []
    return [ic.get_introducer_status()]


def welcome_json(node):
    servers = []
    for row in server_rows(node):
        row = dict(row)
        del row["connected"]
        servers.append(row)
    return {"introducers": {"statuses": introducer_statuses(node)}, "servers": servers}


class WelcomeElement(Element):
    loader = XMLFile(FilePath(os.path.join(TEMPLATES, "welcome.xhtml")))

    def __init__(self, node):
        Element.__init__(self)
        self._node = node

    @renderer
    def title(self, request, tag):
        return tag("Tahoe node: ", self._node.nickname)

    @renderer
    def node_info(self, request, tag):
        n = self._node
        return tag(tags.li("Nickname: ", n.nickname),
                   tags.li("Node ID: ", n.nodeid_s),
                   tags.li("Version: ", n.version),
                   tags.li("Storage server: ", "enabled" if n.storage_server else "disabled"))

    @renderer
    def introducers(self, request, tag):
        statuses = introducer_statuses(self._node) or ["No introducer configured"]
        return tag(*[tags.li(s) for s in statuses])

    @renderer
    def server_summary(self, request, tag):
        rows = server_rows(self._node)
        connected = sum(1 for r in rows if r["connected"])
        return tag("Connected to %d of %d known storage servers" % (connected, len(rows)))

    @renderer
    def servers(self, request, tag):
        out = []
        for r in server_rows(self._node):
            since = r["last_received_data"]
            out.append(tags.tr(
                tags.td(r["nickname"] or ""), tags.td(tags.code(r["nodeid"])),
                tags.td(r["connection_status"]),
                tags.td("" if r["available_space"] is None else abbreviate_space(r["available_space"])),
                tags.td(r["version"] or ""),
                tags.td(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if since else "")))
        return tag(*out) if out else tag(tags.tr(tags.td("no servers known yet", colspan="6")))


class Root(resource.Resource):
    """``/`` of a client node.  Later subsystems add children (``uri`` ...).

    ``operations`` keeps the handles of long operations (deep-check,
    manifest ...); its timers run on ``clock`` (the reactor by default)."""

    def __init__(self, node, clock=None):
        resource.Resource.__init__(self)
        self._node = node
        self.operations = OperationsTable(clock)
        self.putChild(b"operations", self.operations)
        self.putChild(b"uri", URIHandler(node))
        self.putChild(b"cap", URIHandler(node))
        self.putChild(b"named", NamedHandler(node))
        self.putChild(b"file", NamedHandler(node))
        self.putChild(b"storage", StorageStatus(node.storage_server, node.nickname))
        self.putChild(b"status", Status(node.history))

    def getChild(self, name, request):
        if name == b"":
            return self
        return resource.Resource.getChild(self, name, request)

    def stop(self):
        """The web server stops: long operations are cancelled and forgotten."""
        self.operations.stop()

    def render_GET(self, request):
        t = get_arg(request, "t", "")
        if t == "json":
            return render_json(request, welcome_json(self._node))
        if t:
            return render_error(request, WebError("unknown t=%s for the welcome page" % t))
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        d = flattenString(request, WelcomeElement(self._node))

        def done(html):
            request.write(b"<!DOCTYPE html>\n" + html)
            request.finish()

        def failed(f):
            request.setResponseCode(500)
            request.write(b"error rendering the welcome page\n")
            request.finish()

        d.addCallbacks(done, failed)
        return NOT_DONE_YET
