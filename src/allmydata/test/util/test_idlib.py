"""Tests for allmydata.util.idlib: node ids and FURL tubids."""

import hashlib

import pytest
from hypothesis import given, strategies as st

from allmydata.util import idlib
from allmydata.util.base32 import Base32Error

TUBID_B32 = "v67jiisoty6ooyxlql5fuucitqiok2ic"  # from docs/specifications/encodings.md §4.3


@given(st.binary(min_size=20, max_size=20))
def test_round_trip(nodeid):
    s = idlib.nodeid_b2a(nodeid)
    assert isinstance(s, str)
    assert len(s) == 32
    assert idlib.nodeid_a2b(s) == nodeid
    assert idlib.nodeid_a2b(s.encode("ascii")) == nodeid
    assert idlib.shortnodeid_b2a(nodeid) == s[:8]


def test_known_value():
    binary = idlib.nodeid_a2b(TUBID_B32)
    assert len(binary) == 20
    assert idlib.nodeid_b2a(binary) == TUBID_B32
    assert idlib.nodeid_b2a(b"\x00" * 20) == "a" * 32


@pytest.mark.parametrize("n", [0, 16, 19, 21, 32])
def test_b2a_refuses_wrong_length(n):
    with pytest.raises(ValueError):
        idlib.nodeid_b2a(b"\x01" * n)


@pytest.mark.parametrize("s", [
    "",
    TUBID_B32[:-1],               # 31 chars: impossible base32 length
    TUBID_B32[:26],               # 16 bytes worth
    TUBID_B32 + "aaaa",           # 34 chars, 21 bytes... (34 % 8 == 2)
    "a" * 52,                     # 32 bytes
    TUBID_B32.upper(),            # not lower case
    TUBID_B32[:-1] + "1",         # outside the alphabet
])
def test_a2b_refuses(s):
    with pytest.raises(ValueError):
        idlib.nodeid_a2b(s)


def test_a2b_base32_errors_are_base32error():
    with pytest.raises(Base32Error):
        idlib.nodeid_a2b(TUBID_B32.upper())


@pytest.mark.parametrize("furl", [
    "pb://%s@tcp:127.0.0.1:4567/swissnum" % TUBID_B32,
    "pb://%s@tcp:example.org:4567,tcp:127.0.0.1:1/storage" % TUBID_B32,
    "pb://%s@/unreachable" % TUBID_B32,
    ("pb://%s@tcp:127.0.0.1:4567/swissnum" % TUBID_B32).encode("ascii"),
])
def test_tubid_from_furl(furl):
    assert idlib.tubid_from_furl(furl) == idlib.nodeid_a2b(TUBID_B32)


@pytest.mark.parametrize("furl", [
    "",
    "garbage",
    "http://%s@127.0.0.1/" % TUBID_B32,
    "pb://%s/swissnum" % TUBID_B32,           # no '@'
    "pb://@tcp:127.0.0.1:1/swissnum",         # empty tubid
    "pb://NOTBASE32@tcp:127.0.0.1:1/x",
    "pb://%s@tcp:127.0.0.1:1/x" % TUBID_B32[:26],  # a 16-byte id
    b"pb://\xff\xfe@tcp:1/x",
])
def test_tubid_from_furl_refuses(furl):
    with pytest.raises(ValueError):
        idlib.tubid_from_furl(furl)


def test_tubid_from_certificate_der():
    der = b"0\x82\x01fake certificate bytes"
    assert idlib.tubid_from_certificate_der(der) == hashlib.sha1(der).digest()
