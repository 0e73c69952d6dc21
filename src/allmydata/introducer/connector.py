"""A client's connection to one announced service: :class:`RemoteServiceConnector`.

For each announcement it subscribed to, an :class:`IntroducerClient` keeps
one connector, which keeps a Foolscap Reconnector pointed at the announced
FURL: it connects, notices the loss, and tries again with exponential backoff
for as long as the announcement stands.  The public attributes are those
``IIntroducerClient.get_all_connectors`` promises, plus what a status page
wants (nickname, furl, nodeid, storage_version, :meth:`connection_status`).
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.logger import Logger

from allmydata.util.rrefutil import call_remote

from .common import STORAGE_REMOTEINTERFACE_NAME, Announcement, format_time

log = Logger()


def tune_reconnector(reconnector, max_retry_delay: float | None) -> None:
    """Cap a Foolscap Reconnector's backoff at ``max_retry_delay`` seconds.

    Foolscap keeps the backoff knobs (``initialDelay``, ``maxDelay``) as class
    attributes of ``Reconnector``; setting them on the one instance changes
    only that instance.  Both are read when an attempt fails or a connection
    drops, so setting them right after ``Tub.connectTo`` takes effect."""
    if max_retry_delay is None:
        return
    reconnector.maxDelay = max_retry_delay
    reconnector.initialDelay = min(reconnector.initialDelay, max_retry_delay)


class RemoteServiceConnector:
    """Keeps a connection to the service of one announcement.

    Public attributes (None until known):

    ``announcement`` the :class:`Announcement`; ``service_name``,
    ``remoteinterface_name``, ``nickname``, ``furl``, ``nodeid`` (20 bytes),
    ``version`` and ``oldest_supported`` come from it;
    ``announcement_time`` when we heard it; ``last_connect_time``,
    ``last_loss_time``; ``rref`` and ``remote_host`` (an IAddress) while
    connected; ``storage_version``, the version dict a storage server sent
    (bytes keys) when it is one.
    """

    def __init__(self, announcement: Announcement, announcement_time: float, tub, clock,
                 max_retry_delay: float | None = None):
        self.announcement = announcement
        self.service_name = announcement.service_name
        self.remoteinterface_name = announcement.remoteinterface_name
        self.nickname = announcement.nickname
        self.furl = announcement.furl
        self.nodeid = announcement.nodeid
        self.version = announcement.my_version
        self.oldest_supported = announcement.oldest_supported
        self.announcement_time = announcement_time
        self.last_connect_time = None
        self.last_loss_time = None
        self.rref = None
        self.remote_host = None
        self.storage_version = None
        self._tub = tub
        self._clock = clock
        self._max_retry_delay = max_retry_delay
        self._reconnector = None
        self._started_at = None

    def __repr__(self):
        return "<RemoteServiceConnector %s %s %s>" % (
            self.service_name, self.announcement.nodeid_s[:8],
            "connected" if self.rref else "not connected")

    def start_connecting(self) -> None:
        self._started_at = self._clock.seconds()
        self._reconnector = self._tub.connectTo(self.furl, self._got_service)
        tune_reconnector(self._reconnector, self._max_retry_delay)

    def stop_connecting(self) -> None:
        """Stop trying to (re)connect.  A live connection stays up until it
        drops on its own, but this connector no longer reports it."""
        if self._reconnector is not None:
            self._reconnector.stopConnecting()
            self._reconnector = None
        self.rref = None
        self.remote_host = None

    def _got_service(self, rref) -> None:
        if self._reconnector is None:
            return
        self.rref = rref
        self.remote_host = _peer_of(rref)
        self.last_connect_time = self._clock.seconds()
        self.storage_version = None
        rref.notifyOnDisconnect(self._lost, rref)
        log.info("connected to {service} on {nodeid} ({nickname})",
                 service=self.service_name, nodeid=self.announcement.nodeid_s,
                 nickname=self.nickname)
        if self.remoteinterface_name == STORAGE_REMOTEINTERFACE_NAME:
            self._ask_storage_version(rref)

    def _ask_storage_version(self, rref) -> None:
        def _got(version):
            if self.rref is rref:
                self.storage_version = version

        def _failed(f):
            log.warn("get_version on storage server {nodeid} failed: {error}",
                     nodeid=self.announcement.nodeid_s, error=f.getErrorMessage())

        d = defer.maybeDeferred(call_remote, rref, "get_version")
        d.addCallbacks(_got, _failed)

    def _lost(self, rref) -> None:
        if self.rref is not rref:
            return
        self.rref = None
        self.remote_host = None
        self.last_loss_time = self._clock.seconds()
        log.info("lost connection to {service} on {nodeid}",
                 service=self.service_name, nodeid=self.announcement.nodeid_s)

    # ---- status ------------------------------------------------------------------
    def is_connected(self) -> bool:
        return self.rref is not None

    @property
    def last_received_data(self) -> float | None:
        """When data last arrived on the connection (Foolscap knows only
        when keepalives are on), else None."""
        if self.rref is None:
            return None
        try:
            return self.rref.getDataLastReceivedAt()
        except Exception:  # a RemoteReference without a broker
            return None

    def connection_status(self) -> str:
        """One line for people: ``Connected to tcp:HOST:PORT`` (or ``Connected
        to loopback`` for our own services), ``Disconnected since TIME``, or
        ``Trying to connect``; the last failure is added when there is one."""
        if self.rref is not None:
            return "Connected to %s" % (_winning_hint(self.rref) or self.furl.split("@")[1].split("/")[0])
        failure = self._last_failure()
        reason = "; last attempt failed: %s" % failure if failure else ""
        if self.last_loss_time is not None:
            return "Disconnected since %s%s" % (format_time(self.last_loss_time), reason)
        if self._reconnector is None:
            return "Not connecting"
        return "Trying to connect since %s%s" % (format_time(self._started_at), reason)

    def _last_failure(self) -> str | None:
        if self._reconnector is None:
            return None
        f = self._reconnector.getLastFailure()
        if f is None:
            return None
        return f.getErrorMessage()


def _winning_hint(rref) -> str | None:
    try:
        return rref.getConnectionInfo().winningHint
    except Exception:  # not a Foolscap RemoteReference over a broker
        return None


def _peer_of(rref):
    try:
        return rref.getPeer()
    except Exception:
        return None


__all__ = ["RemoteServiceConnector", "tune_reconnector"]
