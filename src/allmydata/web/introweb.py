"""The web page of an introducer node: who announced what, who subscribed.

``IntroducerRoot(introducer_service, nickname, nodeid_s, version)`` is the
root resource of an introducer node's web server (or
``IntroducerRoot.from_node(introducer_service, node)`` for a node object
with ``nickname``, ``nodeid`` (base32 text) and ``version`` attributes).

``GET /`` renders ``templates/introducer.xhtml``.  ``GET /?t=json`` returns::

    {
     "subscription_summary": {service_name: number of subscribers},
     "announcement_summary": {service_name: number of announcements},
     "announcement_distinct_hosts": {service_name: number of distinct hosts},
     "announcements": [
       {"nodeid": base32 tubid, "service_name", "remoteinterface_name",
        "nickname", "version", "oldest_supported",
        "announced": seconds since the epoch,
        "location_hints": ["tcp:HOST:PORT", ...]}       # never the swissnum
     ],
     "subscribers": [
       {"nodeid": base32 tubid, "service_name", "remote_address": "HOST:PORT",
        "since": seconds since the epoch,
        "nickname": the nickname the node announced, or null}
     ],
     "encoding_parameters": [k, happy, n] or null
    }

Every response carries ``X-Frame-Options: DENY`` and ``Referrer-Policy:
no-referrer``.  An unknown ``t=`` answers 400, any other path 404, any
method but GET/HEAD 405, each with a plain-text message.
"""

from __future__ import annotations

import json
import os

from twisted.python.filepath import FilePath
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.template import Element, XMLFile, renderElement, renderer, tags

from allmydata.introducer.common import format_time
from allmydata.util import idlib

TEMPLATE = FilePath(os.path.join(os.path.dirname(__file__), "templates", "introducer.xhtml"))


def _summary_text(summary: dict) -> str:
    if not summary:
        return "none"
    return ", ".join("%d %s" % (count, name) for name, count in summary.items())


def introducer_json(introducer_service) -> dict:
    """The ``?t=json`` document (see the module docstring)."""
    announcements = [
        {
            "nodeid": rec.announcement.nodeid_s,
            "service_name": rec.service_name,
            "remoteinterface_name": rec.announcement.remoteinterface_name,
            "nickname": rec.announcement.nickname,
            "version": rec.announcement.my_version,
            "oldest_supported": rec.announcement.oldest_supported,
            "announced": rec.announced_at,
            "location_hints": list(rec.announcement.location_hints),
        }
        for rec in introducer_service.get_announcements()
    ]
    subscribers = [
        {
            "nodeid": idlib.nodeid_b2a(sub.nodeid),
            "service_name": sub.service_name,
            "remote_address": sub.remote_address,
            "since": sub.since,
            "nickname": sub.nickname,
        }
        for sub in introducer_service.get_subscribers()
    ]
    params = introducer_service.encoding_parameters
    return {
        "subscription_summary": introducer_service.subscription_summary(),
        "announcement_summary": introducer_service.announcement_summary(),
        "announcement_distinct_hosts": introducer_service.announcement_distinct_hosts(),
        "announcements": announcements,
        "subscribers": subscribers,
        "encoding_parameters": list(params) if params is not None else None,
    }


class IntroducerElement(Element):
    """The HTML page, filled from an :class:`IntroducerService`."""

    loader = XMLFile(TEMPLATE)

    def __init__(self, introducer_service, nickname: str, nodeid_s: str, version: str):
        Element.__init__(self)
        self._service = introducer_service
        self._nickname = nickname
        self._nodeid_s = nodeid_s
        self._version = version

    @renderer
    def node_info(self, request, tag):
        params = self._service.encoding_parameters
        return tag.fillSlots(
            nickname=self._nickname,
            nodeid=self._nodeid_s,
            version=self._version,
            encoding_parameters="%d, %d, %d" % params if params else "not set",
        )

    @renderer
    def announcement_summary(self, request, tag):
        return _summary_text(self._service.announcement_summary())

    @renderer
    def subscription_summary(self, request, tag):
        return _summary_text(self._service.subscription_summary())

    @renderer
    def announcements(self, request, tag):
        records = self._service.get_announcements()
        if not records:
            return tags.tr(tags.td("No announcements yet.", colspan="8"))
        return [
            tag.clone().fillSlots(
                nickname=rec.announcement.nickname,
                nodeid=rec.announcement.nodeid_s,
                service_name=rec.service_name,
                remoteinterface_name=rec.announcement.remoteinterface_name,
                version=rec.announcement.my_version,
                oldest_supported=rec.announcement.oldest_supported,
                announced=format_time(rec.announced_at),
                location_hints=", ".join(rec.announcement.location_hints),
            )
            for rec in records
        ]

    @renderer
    def subscribers(self, request, tag):
        subs = self._service.get_subscribers()
        if not subs:
            return tags.tr(tags.td("No subscribers yet.", colspan="5"))
        return [
            tag.clone().fillSlots(
                nickname=sub.nickname if sub.nickname is not None else "?",
                nodeid=idlib.nodeid_b2a(sub.nodeid),
                service_name=sub.service_name,
                remote_address=sub.remote_address,
                since=format_time(sub.since),
            )
            for sub in subs
        ]


def _plain(request, code: int, message: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return (message + "\n").encode("utf-8")


class IntroducerRoot(Resource):
    """The root resource of an introducer node's web server."""

    isLeaf = True

    def __init__(self, introducer_service, nickname: str, nodeid_s: str, version: str):
        Resource.__init__(self)
        self._service = introducer_service
        self._nickname = nickname
        self._nodeid_s = nodeid_s
        self._version = version

    @classmethod
    def from_node(cls, introducer_service, node) -> "IntroducerRoot":
        return cls(introducer_service, node.nickname, node.nodeid, node.version)

    def render(self, request):
        request.setHeader(b"X-Frame-Options", b"DENY")
        request.setHeader(b"Referrer-Policy", b"no-referrer")
        if request.postpath not in ([], [b""]):
            return _plain(request, http.NOT_FOUND, "No such page: the introducer serves only /")
        if request.method not in (b"GET", b"HEAD"):
            request.setHeader(b"Allow", b"GET, HEAD")
            return _plain(request, http.NOT_ALLOWED,
                          "%s is not allowed here: use GET" % request.method.decode("ascii", "replace"))
        t = request.args.get(b"t", [b""])[0].decode("utf-8", "replace")
        if t == "json":
            request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
            body = json.dumps(introducer_json(self._service), indent=1, sort_keys=True) + "\n"
            return body.encode("utf-8")
        if t == "":
            element = IntroducerElement(self._service, self._nickname, self._nodeid_s, self._version)
            return renderElement(request, element)
        return _plain(request, http.BAD_REQUEST,
                      "Unknown t=%s: the introducer page offers only t=json" % t)


__all__ = ["IntroducerRoot", "IntroducerElement", "introducer_json"]
