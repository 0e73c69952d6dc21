"""What the introducer's server and client share: announcements and errors.

An announcement of the v1 protocol of the 2008 interfaces is an unsigned 6-tuple of byte
strings ``(FURL, service_name, remoteinterface_name, nickname, my_version,
oldest_supported)`` (see ``interfaces.py`` and docs/specifications/servers.md §1).  The node that
offers the service is identified by the tubid inside the FURL, so one node
has at most one announcement per service name: the key of an announcement is
``(nodeid, service_name)``.

:class:`Announcement` is the parsed, validated form.  It keeps the exact wire
tuple (``wire``) so that what is passed on is byte-for-byte what was received,
and gives text views of the fields for display.  Nothing here does I/O.
"""

from __future__ import annotations

import time

import attrs

from allmydata.util import idlib

#: The remote interface name whose services get a ``get_version`` call on
#: connection, so that the web page can show their available space.
STORAGE_REMOTEINTERFACE_NAME = "RIStorageServer.tahoe.allmydata.com"


class IntroducerError(Exception):
    """Base class of the introducer's own errors."""


class BadAnnouncementError(IntroducerError):
    """An announcement does not have the shape of the v1 protocol."""


def _as_bytes(value, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise BadAnnouncementError(
        "the %s of an announcement must be a byte string, got %s" % (what, type(value).__name__)
    )


def _as_text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def as_service_name(service_name) -> str:
    """Service names are text in our API (``"storage"``), bytes on the wire;
    accept either and return text."""
    if isinstance(service_name, bytes):
        return service_name.decode("utf-8")
    if isinstance(service_name, str):
        return service_name
    raise TypeError("a service name is text, got %r" % (service_name,))


def parse_furl(furl: str) -> tuple[bytes, list[str], str]:
    """Split ``pb://TUBID@HINT,HINT/SWISSNUM`` into (binary tubid, location
    hints, swissnum).  Raises :class:`BadAnnouncementError` if it is not a
    FURL."""
    try:
        tubid = idlib.tubid_from_furl(furl)
    except ValueError as e:
        raise BadAnnouncementError("bad FURL in announcement: %s" % (e,)) from None
    rest = furl[furl.index("@") + 1:]
    if "/" not in rest:
        raise BadAnnouncementError(
            "bad FURL in announcement: %r has no object name after the location hints" % (furl[:80],)
        )
    hints_s, swissnum = rest.split("/", 1)
    if not swissnum:
        raise BadAnnouncementError("bad FURL in announcement: %r has an empty object name" % (furl[:80],))
    hints = [h for h in hints_s.split(",") if h]
    return tubid, hints, swissnum


def host_of_hint(hint: str) -> str:
    """The host part of a location hint (``tcp:HOST:PORT`` or ``HOST:PORT``);
    the hint itself when it has no recognisable host."""
    parts = hint.split(":")
    if parts[0] == "tcp" and len(parts) >= 3:
        return ":".join(parts[1:-1])
    if len(parts) == 2:
        return parts[0]
    for part in parts[1:]:
        if part.startswith("host="):
            return part[len("host="):]
    return hint


@attrs.frozen
class Announcement:
    """One validated v1 announcement.

    ``wire`` is the 6-tuple of bytes as sent and received; the other
    attributes are derived from it: text fields, the binary ``nodeid`` (the
    20-byte tubid of the FURL) and the FURL's ``location_hints``.
    """

    wire: tuple
    furl: str
    service_name: str
    remoteinterface_name: str
    nickname: str
    my_version: str
    oldest_supported: str
    nodeid: bytes
    location_hints: tuple

    @classmethod
    def from_wire(cls, announcement) -> "Announcement":
        """Validate a received announcement.  Raises
        :class:`BadAnnouncementError` with a message saying what is wrong."""
        try:
            fields = tuple(announcement)
        except TypeError:
            raise BadAnnouncementError(
                "an announcement is a 6-tuple, got %s" % type(announcement).__name__
            ) from None
        if len(fields) != 6:
            raise BadAnnouncementError(
                "an announcement is a 6-tuple (FURL, service_name, remoteinterface_name,"
                " nickname, my_version, oldest_supported), got %d elements" % len(fields)
            )
        names = ("FURL", "service name", "remote interface name", "nickname",
                 "version", "oldest supported version")
        wire = tuple(_as_bytes(v, n) for v, n in zip(fields, names))
        try:
            furl = wire[0].decode("ascii")
        except UnicodeDecodeError:
            raise BadAnnouncementError("bad FURL in announcement: it is not ASCII") from None
        nodeid, hints, _swissnum = parse_furl(furl)
        if not wire[1]:
            raise BadAnnouncementError("an announcement needs a non-empty service name")
        try:
            service_name = wire[1].decode("utf-8")
        except UnicodeDecodeError:
            raise BadAnnouncementError("the service name of an announcement is not UTF-8") from None
        return cls(
            wire=wire,
            furl=furl,
            service_name=service_name,
            remoteinterface_name=_as_text(wire[2]),
            nickname=_as_text(wire[3]),
            my_version=_as_text(wire[4]),
            oldest_supported=_as_text(wire[5]),
            nodeid=nodeid,
            location_hints=tuple(hints),
        )

    @classmethod
    def build(cls, furl: str, service_name: str, remoteinterface_name: str,
              nickname: str, my_version: str, oldest_supported: str) -> "Announcement":
        """Make (and validate) the announcement a node publishes."""
        return cls.from_wire((furl, service_name, remoteinterface_name,
                              nickname, my_version, oldest_supported))

    @property
    def key(self) -> tuple[bytes, str]:
        """``(nodeid, service_name)``: one announcement per node and service."""
        return (self.nodeid, self.service_name)

    @property
    def nodeid_s(self) -> str:
        """The base32 nodeid, as Foolscap prints tubids."""
        return idlib.nodeid_b2a(self.nodeid)

    @property
    def hosts(self) -> frozenset:
        """The host names of the FURL's location hints."""
        return frozenset(host_of_hint(h) for h in self.location_hints)


def format_time(when: float | None) -> str:
    """A timestamp for people (UTC), or ``"never"``."""
    if when is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))


def describe_address(address) -> str:
    """``host:port`` for an IPv4/IPv6 address, ``loopback`` for Foolscap's
    connection to itself, ``str()`` of anything else."""
    if address is None:
        return ""
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is not None and port is not None:
        return "%s:%d" % (host, port)
    if type(address).__name__ == "LoopbackAddress":
        return "loopback"
    return str(address)
