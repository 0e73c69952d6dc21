"""``/`` of a client node: the welcome page (:mod:`.welcome`) and the
children under it (``uri``, ``named``, ``operations``, the status pages ...).
"""

import time

from twisted.web import resource
from twisted.web.server import NOT_DONE_YET
from twisted.web.template import flattenString

from .common import WebError, get_arg, render_error, render_json
from .helper_status import HelperStatus
from .named import NamedHandler
from .status import Status
from .statistics import Statistics
from .storage_status import StorageStatus
from .operations import OperationsTable
from .uri import URIHandler
from .welcome import WelcomeElement, welcome_json


class Root(resource.Resource):
    """``/`` of a client node.  Later subsystems add children (``uri`` ...).

    ``operations`` keeps the handles of long operations (deep-check,
    manifest ...); its timers run on ``clock`` (the reactor by default)."""

    def __init__(self, node, clock=None):
        resource.Resource.__init__(self)
        self._node = node
        self._now = clock.seconds if clock is not None else time.time
        self.operations = OperationsTable(clock)
        self.putChild(b"operations", self.operations)
        self.putChild(b"uri", URIHandler(node))
        self.putChild(b"cap", URIHandler(node))
        self.putChild(b"named", NamedHandler(node))
        self.putChild(b"file", NamedHandler(node))
        self.putChild(b"storage", StorageStatus(node.storage_server, node.nickname))
        self.putChild(b"status", Status(node.history, node.storage_broker))
        self.putChild(b"statistics", Statistics(node.stats_provider))
        self.putChild(b"helper_status", HelperStatus(getattr(node, "helper", None)))

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
        d = flattenString(request, WelcomeElement(self._node, self._now))

        def done(html):
            request.write(b"<!DOCTYPE html>\n" + html)
            request.finish()

        def failed(f):
            request.setResponseCode(500)
            request.write(b"error rendering the welcome page\n")
            request.finish()

        d.addCallbacks(done, failed)
        return NOT_DONE_YET
