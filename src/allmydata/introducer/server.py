"""The introducer: the one service on a grid that tells nodes about each other.

:class:`IntroducerService` is the Foolscap object behind the introducer FURL
(``RIIntroducerPublisherAndSubscriberService``, the v1 protocol of the
2008 interfaces).
Nodes ``publish`` announcements of their services and ``subscribe`` to the
services they want to use; the introducer passes every new or changed
announcement on to the subscribers of its service name.  It keeps state in
memory only: after a restart it relearns everything as nodes reconnect,
republish and resubscribe (their :class:`IntroducerClient` does that).

Rules:

* one announcement per ``(tubid of the FURL, service_name)``; a different one
  from the same node and service replaces it and is passed on, an identical
  one is not passed on again (its announcement time is kept);
* one subscription per ``(subscriber tubid, service_name)``; a repeat over
  the same connection is ignored.  A repeat over a *new* connection (the
  subscriber reconnected before we noticed the old connection drop) takes the
  place of the old one and gets the current announcements;
* a subscriber is forgotten when its connection drops;
* every call to a subscriber goes through ``call_remote``; a failure is
  logged and never reaches the publisher.

The accessors (:meth:`get_announcements`, :meth:`get_subscribers` and the
summaries) feed the introducer's web page (``allmydata.web.introweb``).
"""

from __future__ import annotations

import attrs
from foolscap.api import Referenceable
from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from allmydata.util import idlib
from allmydata.util.default_reactor import default_reactor
from allmydata.util.rrefutil import call_remote

from .common import (
    Announcement,
    BadAnnouncementError,
    as_service_name,
    describe_address,
)
from .interfaces import RIIntroducerPublisherAndSubscriberService

log = Logger()


@attrs.frozen
class AnnouncementRecord:
    """An announcement the introducer holds, and when it was announced."""

    announcement: Announcement
    announced_at: float

    @property
    def nodeid(self) -> bytes:
        return self.announcement.nodeid

    @property
    def service_name(self) -> str:
        return self.announcement.service_name


@attrs.define
class _Subscription:
    rref: object
    tubid: bytes
    service_name: str
    since: float
    remote_address: str
    disconnect_marker: object = None


@attrs.frozen
class SubscriberRecord:
    """A subscription, as the web page shows it.  ``nickname`` is the one the
    subscriber's node announced (any service), or None if it announced
    nothing."""

    nodeid: bytes
    service_name: str
    remote_address: str
    since: float
    nickname: str | None


def _validate_encoding_parameters(params):
    if params is None:
        return None
    try:
        k, happy, n = params
    except (TypeError, ValueError):
        raise ValueError("encoding parameters are a (k, happy, n) tuple, got %r" % (params,)) from None
    if not all(isinstance(x, int) for x in (k, happy, n)) or not 1 <= k <= n <= 256 or not k <= happy <= n:
        raise ValueError("encoding parameters need 1 <= k <= happy <= n <= 256, got %r" % (params,))
    return (k, happy, n)


@implementer(RIIntroducerPublisherAndSubscriberService)
class IntroducerService(service.MultiService, Referenceable):
    """The introducer.  Register it on a Tub to get the introducer FURL.

    ``clock`` provides ``seconds()`` (the reactor by default);
    ``encoding_parameters`` is a ``(k, happy, n)`` tuple sent to every new
    subscriber, or None to send nothing.
    """

    def __init__(self, clock=None, encoding_parameters=None):
        service.MultiService.__init__(self)
        self._clock = clock if clock is not None else default_reactor()
        self.encoding_parameters = _validate_encoding_parameters(encoding_parameters)
        # (nodeid, service_name) -> AnnouncementRecord
        self._announcements: dict[tuple[bytes, str], AnnouncementRecord] = {}
        # service_name -> {subscriber tubid: _Subscription}
        self._subscribers: dict[str, dict[bytes, _Subscription]] = {}

    # ---- remote interface -------------------------------------------------------
    def remote_publish(self, announcement):
        try:
            ann = Announcement.from_wire(announcement)
        except BadAnnouncementError as e:
            log.warn("introducer rejected an announcement: {error}", error=str(e))
            raise
        self.publish(ann)
        return None

    def remote_subscribe(self, subscriber, service_name):
        self.subscribe(subscriber, as_service_name(service_name))
        return None

    # ---- the same, for local callers ------------------------------------------------
    def publish(self, ann: Announcement) -> bool:
        """Record ``ann``; pass it on if it is new or changed.  Returns True if
        it was passed on."""
        old = self._announcements.get(ann.key)
        if old is not None and old.announcement.wire == ann.wire:
            log.debug("introducer: repeat announcement of {service} from {nodeid}",
                      service=ann.service_name, nodeid=ann.nodeid_s)
            return False
        self._announcements[ann.key] = AnnouncementRecord(ann, self._clock.seconds())
        log.info("introducer: {what} announcement of {service} from {nodeid} ({nickname})",
                 what="replaced" if old else "new", service=ann.service_name,
                 nodeid=ann.nodeid_s, nickname=ann.nickname)
        for sub in list(self._subscribers.get(ann.service_name, {}).values()):
            self._send(sub, "announce", {ann.wire})
        return True

    def subscribe(self, subscriber, service_name: str) -> bool:
        """Add a subscription; returns False if it was a duplicate."""
        tubid = idlib.nodeid_a2b(subscriber.getRemoteTubID())
        subs = self._subscribers.setdefault(service_name, {})
        old = subs.get(tubid)
        if old is not None:
            if old.rref is subscriber:
                log.debug("introducer: ignoring duplicate subscription to {service} from {nodeid}",
                          service=service_name, nodeid=idlib.nodeid_b2a(tubid))
                return False
            # the same node over a new connection: the old one is stale
            self._forget(old)
        sub = _Subscription(
            rref=subscriber,
            tubid=tubid,
            service_name=service_name,
            since=self._clock.seconds(),
            remote_address=describe_address(_peer_of(subscriber)),
        )
        sub.disconnect_marker = subscriber.notifyOnDisconnect(self._subscriber_lost, sub)
        subs[tubid] = sub
        log.info("introducer: {nodeid} subscribed to {service}",
                 nodeid=idlib.nodeid_b2a(tubid), service=service_name)
        current = {rec.announcement.wire for rec in self._announcements.values()
                   if rec.service_name == service_name}
        if current:
            self._send(sub, "announce", current)
        if self.encoding_parameters is not None:
            self._send(sub, "set_encoding_parameters", self.encoding_parameters)
        return True

    # ---- subscribers ---------------------------------------------------------------
    def _send(self, sub: _Subscription, method: str, *args):
        def _failed(f):
            log.failure("introducer: {method} to subscriber {nodeid} failed", f,
                        method=method, nodeid=idlib.nodeid_b2a(sub.tubid))
        d = defer.maybeDeferred(call_remote, sub.rref, method, *args)
        d.addErrback(_failed)
        return d

    def _subscriber_lost(self, sub: _Subscription):
        sub.disconnect_marker = None
        subs = self._subscribers.get(sub.service_name, {})
        if subs.get(sub.tubid) is sub:
            del subs[sub.tubid]
            if not subs:
                del self._subscribers[sub.service_name]
            log.info("introducer: subscriber {nodeid} of {service} disconnected",
                     nodeid=idlib.nodeid_b2a(sub.tubid), service=sub.service_name)

    def _forget(self, sub: _Subscription):
        if sub.disconnect_marker is not None:
            try:
                sub.rref.dontNotifyOnDisconnect(sub.disconnect_marker)
            except Exception:  # the connection is already gone: nothing to undo
                pass
            sub.disconnect_marker = None
        subs = self._subscribers.get(sub.service_name, {})
        if subs.get(sub.tubid) is sub:
            del subs[sub.tubid]

    # ---- accessors for the web page ---------------------------------------------
    def get_announcements(self) -> list[AnnouncementRecord]:
        """Every announcement held, sorted by service name then nodeid."""
        return sorted(self._announcements.values(),
                      key=lambda r: (r.service_name, r.announcement.nickname, r.nodeid))

    def get_subscribers(self) -> list[SubscriberRecord]:
        """Every subscription, sorted by service name then nodeid."""
        nicknames = {}
        for rec in self._announcements.values():
            nicknames.setdefault(rec.nodeid, rec.announcement.nickname)
        out = []
        for service_name, subs in self._subscribers.items():
            for sub in subs.values():
                out.append(SubscriberRecord(
                    nodeid=sub.tubid,
                    service_name=service_name,
                    remote_address=sub.remote_address,
                    since=sub.since,
                    nickname=nicknames.get(sub.tubid),
                ))
        return sorted(out, key=lambda s: (s.service_name, s.nickname or "", s.nodeid))

    def subscription_summary(self) -> dict[str, int]:
        """service name -> number of subscribers."""
        return {name: len(subs) for name, subs in sorted(self._subscribers.items()) if subs}

    def announcement_summary(self) -> dict[str, int]:
        """service name -> number of announcements."""
        out: dict[str, int] = {}
        for rec in self._announcements.values():
            out[rec.service_name] = out.get(rec.service_name, 0) + 1
        return dict(sorted(out.items()))

    def announcement_distinct_hosts(self) -> dict[str, int]:
        """service name -> number of distinct hosts announcing it.  Two
        announcements come from the same host when their FURLs' location
        hints name the same set of host names."""
        hosts: dict[str, set] = {}
        for rec in self._announcements.values():
            hosts.setdefault(rec.service_name, set()).add(rec.announcement.hosts)
        return {name: len(h) for name, h in sorted(hosts.items())}


def _peer_of(rref):
    try:
        return rref.getPeer()
    except Exception:  # a local (loopback) object or a connection already lost
        return None


__all__ = [
    "IntroducerService",
    "AnnouncementRecord",
    "SubscriberRecord",
]
