"""Announcements (parsing and validation) and the introducer's bookkeeping,
without a network."""

import pytest
from twisted.internet import task

from allmydata.introducer.common import (
    Announcement,
    BadAnnouncementError,
    format_time,
    host_of_hint,
)
from allmydata.introducer.server import IntroducerService
from allmydata.util import idlib

TUB_A = idlib.nodeid_b2a(b"\xaa" * 20)
TUB_B = idlib.nodeid_b2a(b"\xbb" * 20)
RI = b"RIStorageServer.tahoe.allmydata.com"


def wire(tub=TUB_A, hints="tcp:127.0.0.1:1234", name="swiss", service=b"storage", nick=b"nick", version=b"v1"):
    furl = ("pb://%s@%s/%s" % (tub, hints, name)).encode("ascii")
    return (furl, service, RI, nick, version, b"v0")


def test_parse_good_announcement():
    ann = Announcement.from_wire(wire(hints="tcp:example.org:1,tcp:10.0.0.1:2"))
    assert ann.nodeid == b"\xaa" * 20
    assert ann.nodeid_s == TUB_A
    assert ann.key == (b"\xaa" * 20, "storage")
    assert ann.service_name == "storage"
    assert ann.remoteinterface_name == "RIStorageServer.tahoe.allmydata.com"
    assert (ann.nickname, ann.my_version, ann.oldest_supported) == ("nick", "v1", "v0")
    assert ann.location_hints == ("tcp:example.org:1", "tcp:10.0.0.1:2")
    assert ann.hosts == frozenset({"example.org", "10.0.0.1"})
    assert ann.wire == wire(hints="tcp:example.org:1,tcp:10.0.0.1:2")
    assert Announcement.from_wire(list(ann.wire)) == ann


def test_build_encodes_text():
    ann = Announcement.build("pb://%s@tcp:h:1/x" % TUB_B, "storage", "RI", "nïck", "v", "o")
    assert ann.wire[3] == "nïck".encode("utf-8")
    assert all(isinstance(f, bytes) for f in ann.wire)


@pytest.mark.parametrize("bad, message", [
    (wire()[:5], "6-tuple"),
    (wire() + (b"x",), "6-tuple"),
    (42, "6-tuple"),
    ((b"http://example.org/",) + wire()[1:], "bad FURL"),
    ((b"pb://short@tcp:h:1/x",) + wire()[1:], "bad FURL"),
    ((("pb://%s@tcp:h:1" % TUB_A).encode(),) + wire()[1:], "no object name"),
    ((("pb://%s@tcp:h:1/" % TUB_A).encode(),) + wire()[1:], "empty object name"),
    ((b"pb://\xff@x/y",) + wire()[1:], "not ASCII"),
    (wire(service=b""), "non-empty service name"),
    (wire(service=b"\xff"), "not UTF-8"),
    (wire()[:2] + (7,) + wire()[3:], "byte string"),
])
def test_bad_announcements(bad, message):
    with pytest.raises(BadAnnouncementError, match=message):
        Announcement.from_wire(bad)


def test_host_of_hint():
    assert host_of_hint("tcp:example.org:3456") == "example.org"
    assert host_of_hint("tcp:[::1]:3456") == "[::1]"
    assert host_of_hint("example.org:3456") == "example.org"
    assert host_of_hint("tor:abc.onion:80") == "tor:abc.onion:80"


def test_format_time():
    assert format_time(None) == "never"
    assert format_time(0) == "1970-01-01 00:00:00 UTC"


def test_introducer_keeps_one_announcement_per_node_and_service():
    clock = task.Clock()
    intro = IntroducerService(clock=clock)
    clock.advance(10)
    assert intro.publish(Announcement.from_wire(wire()))
    clock.advance(10)
    # identical: not passed on, time kept
    assert not intro.publish(Announcement.from_wire(wire()))
    [rec] = intro.get_announcements()
    assert rec.announced_at == 10
    # changed (new FURL, same tub and service): replaces
    assert intro.publish(Announcement.from_wire(wire(name="other", version=b"v2")))
    [rec] = intro.get_announcements()
    assert (rec.announced_at, rec.announcement.my_version) == (20, "v2")
    # another service of the same node, and the same service of another node
    assert intro.publish(Announcement.from_wire(wire(service=b"stub_client")))
    assert intro.publish(Announcement.from_wire(wire(tub=TUB_B, hints="tcp:10.0.0.2:1")))
    assert intro.announcement_summary() == {"storage": 2, "stub_client": 1}
    assert intro.announcement_distinct_hosts() == {"storage": 2, "stub_client": 1}
    assert intro.subscription_summary() == {}
    assert intro.get_subscribers() == []


def test_remote_publish_rejects_and_stores_nothing():
    intro = IntroducerService(clock=task.Clock())
    with pytest.raises(BadAnnouncementError, match="bad FURL"):
        intro.remote_publish((b"nope",) + wire()[1:])
    assert intro.get_announcements() == []


@pytest.mark.parametrize("params", [(0, 1, 1), (3, 2, 10), (3, 7, 5), (1, 1, 257), (1, 2), "abc", (1.0, 2, 3)])
def test_bad_encoding_parameters(params):
    with pytest.raises(ValueError, match="encoding parameters"):
        IntroducerService(clock=task.Clock(), encoding_parameters=params)
