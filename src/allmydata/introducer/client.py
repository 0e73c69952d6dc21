"""The node's side of the introducer: :class:`IntroducerClient`.

An :class:`IntroducerClient` (``IIntroducerClient`` of the 2008 interfaces) keeps a
Foolscap Reconnector pointed at the introducer FURL.  On every connection --
the first one and each one after the introducer or the network came back --
it publishes all of the node's announcements again and subscribes again to
every service the node asked for, because the introducer keeps nothing
across restarts.

Announcements arrive at a local :class:`SubscriberClient` (the
``RIIntroducerSubscriberClient`` we hand to the introducer).  For each one
the client keeps a :class:`~allmydata.introducer.connector.RemoteServiceConnector`
keyed by ``(nodeid, service_name)``; a different announcement for the same
key replaces the connector, an identical one (as after an introducer restart)
changes nothing.  Our own services are connected to as well: a node that is
both client and storage server stores shares on itself too.

Identifiers: ``nodeid`` is the 20-byte binary tubid; service names are text
(``"storage"``) in this API and UTF-8 bytes on the wire (bytes are accepted
too).  :class:`StubClient` is the empty object every client node registers
and publishes as ``"stub_client"`` so the introducer can count clients.
"""

from __future__ import annotations

from foolscap.api import Referenceable
from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from allmydata.util.default_reactor import default_reactor
from allmydata.util.hashutil import permute_server_hash
from allmydata.util.rrefutil import call_remote

from .common import (
    Announcement,
    BadAnnouncementError,
    as_service_name,
    format_time,
)
from .connector import RemoteServiceConnector, tune_reconnector, _winning_hint
from .interfaces import IIntroducerClient, RIIntroducerSubscriberClient, RIStubClient

log = Logger()

STUB_CLIENT_SERVICE_NAME = "stub_client"
STUB_CLIENT_REMOTEINTERFACE_NAME = RIStubClient.__remote_name__


@implementer(RIStubClient)
class StubClient(Referenceable):
    """The object a client node registers and announces as ``stub_client``.
    It offers nothing; its announcement tells the introducer the node
    exists, with its nickname and version."""


@implementer(RIIntroducerSubscriberClient)
class SubscriberClient(Referenceable):
    """What the introducer calls back: hands announcements and encoding
    parameters to its :class:`IntroducerClient`."""

    def __init__(self, introducer_client: "IntroducerClient"):
        self._ic = introducer_client

    def remote_announce(self, announcements):
        self._ic._got_announcements(announcements)
        return None

    def remote_set_encoding_parameters(self, parameters):
        self._ic._got_encoding_parameters(parameters)
        return None


@implementer(IIntroducerClient)
class IntroducerClient(service.MultiService):
    """Publishes this node's services and connects to the grid's services.

    ``tub`` is the node's Tub (its identity); ``nickname``, ``my_version`` and
    ``oldest_supported`` (text) go into every announcement.  ``clock``
    provides ``seconds()`` (the reactor by default).  ``max_retry_delay``
    caps the reconnection backoff (Foolscap's default grows to an hour;
    tests use a fraction of a second).
    """

    def __init__(self, tub, introducer_furl: str, nickname: str, my_version: str,
                 oldest_supported: str, clock=None, max_retry_delay: float | None = None):
        service.MultiService.__init__(self)
        if isinstance(introducer_furl, bytes):
            introducer_furl = introducer_furl.decode("ascii")
        self._tub = tub
        self._introducer_furl = introducer_furl
        self._nickname = nickname
        self._my_version = my_version
        self._oldest_supported = oldest_supported
        self._clock = clock if clock is not None else default_reactor()
        self._max_retry_delay = max_retry_delay
        self._subscriber = SubscriberClient(self)
        self._published: dict[tuple[bytes, str], Announcement] = {}
        self._subscriptions: set[str] = set()
        self._connectors: dict[tuple[bytes, str], RemoteServiceConnector] = {}
        self._introducer = None  # RemoteReference while connected
        self._introducer_reconnector = None
        self._introducer_connected_at = None
        self._introducer_lost_at = None
        self._started_at = None
        #: the (k, happy, n) the introducer last advised, or None
        self.encoding_parameters = None

    # ---- lifecycle ------------------------------------------------------------------
    def startService(self):
        service.MultiService.startService(self)
        self._started_at = self._clock.seconds()
        self._introducer_reconnector = self._tub.connectTo(
            self._introducer_furl, self._got_introducer)
        tune_reconnector(self._introducer_reconnector, self._max_retry_delay)
        for c in self._connectors.values():
            c.start_connecting()

    def stopService(self):
        if self._introducer_reconnector is not None:
            self._introducer_reconnector.stopConnecting()
            self._introducer_reconnector = None
        self._introducer = None
        for c in self._connectors.values():
            c.stop_connecting()
        return service.MultiService.stopService(self)

    # ---- IIntroducerClient: publishing and subscribing ---------------------------------
    def publish(self, furl, service_name, remoteinterface_name) -> None:
        """Announce that the object at FURL provides SERVICE_NAME (now and
        after every reconnection to the introducer).  Raises
        :class:`BadAnnouncementError` for a FURL that does not parse."""
        if isinstance(furl, bytes):
            furl = furl.decode("ascii")
        if isinstance(remoteinterface_name, bytes):
            remoteinterface_name = remoteinterface_name.decode("utf-8")
        ann = Announcement.build(furl, as_service_name(service_name), remoteinterface_name,
                                 self._nickname, self._my_version, self._oldest_supported)
        self._published[ann.key] = ann
        if self._introducer is not None:
            self._send_publish(self._introducer, ann)

    def subscribe_to(self, service_name) -> None:
        """Learn about, and connect to, every announced SERVICE_NAME."""
        name = as_service_name(service_name)
        if name in self._subscriptions:
            return
        self._subscriptions.add(name)
        if self._introducer is not None:
            self._send_subscribe(self._introducer, name)

    # ---- the introducer connection ----------------------------------------------------
    def _got_introducer(self, rref) -> None:
        log.info("connected to the introducer at {hint}", hint=_winning_hint(rref))
        self._introducer = rref
        self._introducer_connected_at = self._clock.seconds()
        rref.notifyOnDisconnect(self._lost_introducer, rref)
        for ann in list(self._published.values()):
            self._send_publish(rref, ann)
        for name in sorted(self._subscriptions):
            self._send_subscribe(rref, name)

    def _lost_introducer(self, rref) -> None:
        if self._introducer is not rref:
            return
        log.info("lost the connection to the introducer")
        self._introducer = None
        self._introducer_lost_at = self._clock.seconds()

    def _send_publish(self, rref, ann: Announcement):
        def _failed(f):
            log.failure("publishing {service} to the introducer failed", f,
                        service=ann.service_name)
        d = defer.maybeDeferred(call_remote, rref, "publish", ann.wire)
        d.addErrback(_failed)
        return d

    def _send_subscribe(self, rref, name: str):
        def _failed(f):
            log.failure("subscribing to {service} failed", f, service=name)
        d = defer.maybeDeferred(call_remote, rref, "subscribe", self._subscriber,
                                name.encode("utf-8"))
        d.addErrback(_failed)
        return d

    # ---- what the introducer tells us -------------------------------------------------
    def _got_announcements(self, announcements) -> None:
        for wire in announcements:
            try:
                ann = Announcement.from_wire(wire)
            except BadAnnouncementError as e:
                log.warn("ignoring a bad announcement from the introducer: {error}", error=str(e))
                continue
            self._got_announcement(ann)

    def _got_announcement(self, ann: Announcement) -> None:
        if ann.service_name not in self._subscriptions:
            log.warn("ignoring an announcement of {service}, which we did not subscribe to",
                     service=ann.service_name)
            return
        old = self._connectors.get(ann.key)
        if old is not None:
            if old.announcement.wire == ann.wire:
                return
            log.info("replacing the announcement of {service} from {nodeid}",
                     service=ann.service_name, nodeid=ann.nodeid_s)
            old.stop_connecting()
        c = RemoteServiceConnector(ann, self._clock.seconds(), self._tub, self._clock,
                                   self._max_retry_delay)
        self._connectors[ann.key] = c
        if self.running:
            c.start_connecting()

    def _got_encoding_parameters(self, parameters) -> None:
        k, happy, n = parameters
        self.encoding_parameters = (k, happy, n)

    # ---- IIntroducerClient: queries -------------------------------------------------
    def get_all_connectors(self) -> dict:
        return dict(self._connectors)

    def get_all_connections(self) -> frozenset:
        return frozenset((c.nodeid, c.service_name, c.rref)
                         for c in self._connectors.values() if c.rref is not None)

    def get_all_connections_for(self, service_name) -> frozenset:
        name = as_service_name(service_name)
        return frozenset(t for t in self.get_all_connections() if t[1] == name)

    def get_all_peerids(self) -> frozenset:
        return frozenset(c.nodeid for c in self._connectors.values() if c.rref is not None)

    def get_permuted_peers(self, service_name, key: bytes) -> list:
        """``[(peerid, rref)]`` of the connected SERVICE_NAME servers, sorted
        by ``SHA1(key + permutation seed)``; for v1 announcements the seed is
        the server's 20-byte tubid."""
        peers = [(nodeid, rref) for nodeid, _, rref in self.get_all_connections_for(service_name)]
        return sorted(peers, key=lambda p: permute_server_hash(key, p[0]))

    def connected_to_introducer(self) -> bool:
        return self._introducer is not None

    # ---- status ---------------------------------------------------------------------
    def get_introducer_furl(self) -> str:
        return self._introducer_furl

    def get_introducer_status(self) -> str:
        """``Connected to tcp:HOST:PORT``, or ``Not connected; trying since
        TIME`` with the last failure, for the welcome page."""
        if self._introducer is not None:
            return "Connected to %s" % (_winning_hint(self._introducer) or "the introducer")
        if self._introducer_reconnector is None:
            return "Not connected; not started"
        since = self._introducer_lost_at or self._started_at
        out = "Not connected; trying since %s" % format_time(since)
        f = self._introducer_reconnector.getLastFailure()
        if f is not None:
            out += "; last attempt failed: %s" % f.getErrorMessage()
        return out

    def get_introducer_times(self) -> tuple:
        """``(connected since, data last received)`` in seconds while
        connected to the introducer, for the welcome page; ``(None, None)``
        otherwise.  The second is None when Foolscap does not track it (its
        keepalives are off)."""
        if self._introducer is None:
            return (None, None)
        try:
            received = self._introducer.getDataLastReceivedAt()
        except Exception:  # a RemoteReference without a broker
            received = None
        return (self._introducer_connected_at, received)

    def get_published(self) -> list[Announcement]:
        """The announcements this node publishes."""
        return list(self._published.values())

    def get_subscriptions(self) -> frozenset:
        """The service names this node subscribed to."""
        return frozenset(self._subscriptions)


__all__ = [
    "IntroducerClient",
    "StubClient",
    "SubscriberClient",
    "RemoteServiceConnector",
    "STUB_CLIENT_SERVICE_NAME",
    "STUB_CLIENT_REMOTEINTERFACE_NAME",
]
