"""A node's side of the stats gatherer: ``[client] stats_gatherer.furl``.

:class:`StatsGathererClient` keeps a reconnecting Foolscap connection to the
gatherer and, on each connect, calls ``provide(provider, nickname)`` with the
node's :class:`~allmydata.stats.StatsProvider`, which the gatherer then polls
over that same connection (so a node that does not listen can offer its
stats).  The gatherer's FURL is a capability: it is never logged.
"""

from twisted.application import service
from twisted.logger import Logger

from .stats_interfaces import MAX_NICKNAME
from .util.rrefutil import call_remote

log = Logger()


def nickname_bytes(nickname: str) -> bytes:
    """The nickname as UTF-8, cut (at a character boundary) to the
    :data:`MAX_NICKNAME` bytes the gatherer accepts."""
    data = nickname.encode("utf-8")
    if len(data) <= MAX_NICKNAME:
        return data
    return data[:MAX_NICKNAME].decode("utf-8", "ignore").encode("utf-8")


class StatsGathererClient(service.Service):
    """Offers ``provider`` to the gatherer at ``furl`` through ``tub``
    (started before this service), again after every reconnection.

    ``provided`` counts the gatherer's acknowledgements, ``failures`` the
    refusals; ``connected`` says whether the gatherer is connected now."""

    def __init__(self, tub, furl: str, provider, nickname: str):
        self.tub = tub
        self.furl = furl
        self.provider = provider
        self.nickname = nickname_bytes(nickname)
        self.provided = 0
        self.failures = 0
        self.connected = False
        self._reconnector = None

    def startService(self):
        service.Service.startService(self)
        self._reconnector = self.tub.connectTo(self.furl, self._connected)

    def stopService(self):
        if self._reconnector is not None:
            self._reconnector.stopConnecting()
            self._reconnector = None
        return service.Service.stopService(self)

    def _connected(self, rref):
        self.connected = True
        rref.notifyOnDisconnect(self._disconnected)
        d = call_remote(rref, "provide", self.provider, self.nickname)
        d.addCallbacks(self._provided, self._refused)

    def _disconnected(self):
        self.connected = False

    def _provided(self, _):
        self.provided += 1
        log.info("stats gatherer: this node's stats are offered to it")

    def _refused(self, f):
        self.failures += 1
        log.warn("stats gatherer: offering this node's stats failed: {error}",
                 error="%s: %s" % (type(f.value).__name__, f.value))
