"""``[node] log_gatherer.furl``: the node's log events, served to a Foolscap
log gatherer.

As in Tahoe-LAFS, a node that has a log gatherer runs a second Tub, just for
its logs, with a new identity at each start and listening on 127.0.0.1 only.
Foolscap's own log-gatherer support does the rest: given the option
``log-gatherer-furl``, that Tub keeps a connection to each gatherer and hands
it the Tub's log port (a ``LogPublisher``), to which the gatherer subscribes.
The FURL comes from ``[node] log_gatherer.furl``.

What the log port publishes is a Foolscap logger of its own, not Foolscap's
global one: :class:`CensoredLogBridge` watches ``twisted.logger`` (where
our code, Twisted, and the Foolscap messages the node's log file gets all
go), and copies each event of level ``info`` or above into that logger as
text that went through :func:`~allmydata.util.censor.censor_text`: no cap
and no FURL swissnum reaches a gatherer, whoever logged it.  Foolscap's own
internal messages, which name FURLs, stay out.  The Foolscap logger keeps a
bounded number of recent events for a gatherer that connects later, and
its publisher a bounded queue for a slow one.

With ``[connections] tcp = disabled`` the log Tub, like the node's, makes no
TCP connection.
"""

import os

from foolscap.api import Tub
from foolscap.logging import log as flog
from twisted.application import service
from twisted.logger import LogLevel, eventAsText, globalLogPublisher

from .config import ConfigError
from .nodedir import pick_free_port
from .util.censor import censor_text

#: twisted.logger levels -> Foolscap levels (the ones Foolscap's own bridge uses)
LEVELS = {LogLevel.info: flog.OPERATIONAL, LogLevel.warn: flog.WEIRD,
          LogLevel.error: flog.BAD, LogLevel.critical: flog.BAD + 10}

FACILITY = "tahoe"


class CensoredLogBridge:
    """A ``twisted.logger`` observer that copies events of level ``info``
    and above, censored, into ``logger`` (a FoolscapLogger)."""

    def __init__(self, logger, tubid: str):
        self.logger = logger
        self.tubid = tubid

    def __call__(self, event):
        level = LEVELS.get(event.get("log_level"))
        if level is None:
            return
        text = eventAsText(event, includeTimestamp=False, includeSystem=False)
        kwargs = {"level": level, "facility": FACILITY, "tubID": self.tubid}
        if isinstance(event.get("log_time"), (int, float)):
            kwargs["time"] = event["log_time"]
        namespace = event.get("log_namespace")
        if isinstance(namespace, str):
            kwargs["log_namespace"] = namespace
        if "log_failure" in event or level >= flog.BAD:
            kwargs["isError"] = 1
        self.logger.msg(censor_text(text), **kwargs)


def gatherer_furls(config) -> list:
    """The log gatherers of a node: ``[node] log_gatherer.furl``.  A
    ``log_gatherer.furl`` file in the node directory (the form of older
    Tahoe-LAFS releases) is refused, as Tahoe-LAFS 1.20 refuses it."""
    path = config.path("log_gatherer.furl")
    if os.path.exists(path):
        raise ConfigError(path, None, None, "an old form of configuration, not read by this "
                          "version (nor by Tahoe-LAFS 1.20): put the FURL in tahoe.cfg, "
                          "[node] log_gatherer.furl, and remove this file")
    return [config.node.log_gatherer_furl] if config.node.log_gatherer_furl else []


class LogPublishing(service.MultiService):
    """The node's log Tub, serving its censored events to ``furls``."""

    def __init__(self, furls, tcp_connections: bool = True, log_publisher=globalLogPublisher):
        service.MultiService.__init__(self)
        self.furls = list(furls)
        self.logger = flog.FoolscapLogger()
        self.tub = Tub()
        self.tub.logger = self.logger
        if not tcp_connections:
            self.tub.removeAllConnectionHintHandlers()
        self.tub.setServiceParent(self)
        self.bridge = CensoredLogBridge(self.logger, self.tub.getTubID())
        self._log_publisher = log_publisher

    def startService(self):
        service.MultiService.startService(self)
        self._log_publisher.addObserver(self.bridge)
        port = pick_free_port()
        self.tub.listenOn("tcp:%d:interface=127.0.0.1" % port)
        self.tub.setLocation("tcp:127.0.0.1:%d" % port)
        self.tub.setOption("log-gatherer-furl", self.furls)

    def stopService(self):
        self._log_publisher.removeObserver(self.bridge)
        return service.MultiService.stopService(self)
