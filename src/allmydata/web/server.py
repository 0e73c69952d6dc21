"""The node's web server: a Twisted service listening on ``[node] web.port``.

When it is listening it writes ``NODEDIR/node.url`` so that the CLI can find
it.  Which root resource it serves depends on the kind of node.
"""

import os

from twisted.application import service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.static import File

from ..util import fileutil
from .common import make_site
from .introweb import IntroducerRoot
from .root import Root

log = Logger()


class WebServerError(Exception):
    """The web server could not start listening."""


class WebServer(service.Service):
    def __init__(self, reactor, port_desc, root, node_url_file=None, static_dir=None):
        self._reactor = reactor
        self._port_desc = port_desc
        self.root = root
        self._node_url_file = node_url_file
        self._static_dir = static_dir
        self._listener = None
        self.url = None
        if static_dir and os.path.isdir(static_dir):
            root.putChild(b"static", File(static_dir))

    def privilegedStartService(self):
        # listen before the other services start, so node.url is there early
        if self._listener is not None:
            return
        d = serverFromString(self._reactor, self._port_desc).listen(make_site(self.root))
        outcome = []
        d.addBoth(outcome.append)
        if not outcome:
            raise WebServerError("listening on %r did not complete at once" % self._port_desc)
        if isinstance(outcome[0], Failure):
            raise WebServerError("cannot listen on web.port %r: %s"
                                 % (self._port_desc, outcome[0].getErrorMessage()))
        self._listening(outcome[0])

    def startService(self):
        service.Service.startService(self)
        self.privilegedStartService()

    def _listening(self, port):
        self._listener = port
        host = port.getHost()
        address = host.host if host.host not in ("0.0.0.0", "::") else "127.0.0.1"
        self.url = "http://%s:%d/" % (address, host.port)
        if self._node_url_file:
            fileutil.write_atomically(self._node_url_file, (self.url + "\n").encode("ascii"))
        log.info("web server listening at {url}", url=self.url)

    def stopService(self):
        service.Service.stopService(self)
        stop_root = getattr(self.root, "stop", None)
        if stop_root is not None:
            stop_root()
        if self._listener is not None:
            listener, self._listener = self._listener, None
            return defer.maybeDeferred(listener.stopListening)


def make_client_root(node):
    return Root(node)


def make_introducer_root(node):
    return IntroducerRoot(node.introducer_service, node.nickname, node.nodeid_s, node.version)
