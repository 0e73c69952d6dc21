"""Tests for allmydata.util.base32: Tahoe's strict, unpadded, lower-case base32."""

import base64

import pytest
from hypothesis import given, strategies as st

from allmydata.util import base32
from allmydata.util.base32 import Base32Error, a2b, b2a, b2a_l, b2a_str, could_be_base32_encoded

ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


@given(st.binary(min_size=0, max_size=100))
def test_round_trip(data):
    encoded = b2a(data)
    assert a2b(encoded) == data
    assert a2b(encoded.decode("ascii")) == data
    assert b2a_str(data) == encoded.decode("ascii")
    # The encoding is the standard one, lower-cased, with '=' removed.
    assert encoded == base64.b32encode(data).rstrip(b"=").lower()
    assert len(encoded) == -(-8 * len(data) // 5)
    assert could_be_base32_encoded(encoded)


@pytest.mark.parametrize("nbytes, nchars", [(0, 0), (1, 2), (2, 4), (3, 5), (4, 7), (5, 8),
                                            (16, 26), (20, 32), (32, 52)])
def test_lengths(nbytes, nchars):
    assert len(b2a(b"\xff" * nbytes)) == nchars


def test_known_values():
    assert b2a(b"") == b""
    assert b2a(b"hello") == b"nbswy3dp"  # the LIT example of docs/specifications/caps.md §2.2
    assert a2b("nbswy3dp") == b"hello"
    assert b2a(b"\x00" * 16) == b"a" * 26
    assert a2b(b"a" * 52) == b"\x00" * 32


def test_alphabet_order():
    assert base32.ALPHABET == ALPHABET.encode("ascii")
    # Five bits per char, so 5 bytes = 8 chars; 0x00..0x1f in each 5-bit slot.
    for value, char in enumerate(ALPHABET):
        # 8 chars all equal to `char` encode 5 bytes with every 5-bit group == value
        bits = format(value, "05b") * 8
        raw = int(bits, 2).to_bytes(5, "big")
        assert b2a(raw) == (char * 8).encode("ascii")


def test_b2a_l():
    assert b2a_l(b"\xff" * 16, 128) == b2a(b"\xff" * 16)
    assert b2a_l(b"\xff" * 16, 10) == b"77"
    assert b2a_l(b"\xff" * 16, 11) == b"777"


@pytest.mark.parametrize("bad", [
    "NBSWY3DP",          # upper case
    "nbswY3dp",          # one upper-case letter
    "nbswy3dp========",  # padding
    "nbswy3d=",
    "nbswy3d1",          # '1' is not in the alphabet
    "nbswy3d0",
    "nbswy3d8",
    "nbs wy3d",
    "nbswy3dp\n",
    "nbswy-dp",
])
def test_refuses_bad_characters(bad):
    with pytest.raises(Base32Error):
        a2b(bad)
    with pytest.raises(Base32Error):
        a2b(bad.encode("ascii"))
    assert not could_be_base32_encoded(bad)


@pytest.mark.parametrize("length", [1, 3, 6, 9, 11, 14, 25, 27])
def test_refuses_impossible_lengths(length):
    s = "a" * length
    assert length % 8 in (1, 3, 6)
    with pytest.raises(Base32Error):
        a2b(s)


@pytest.mark.parametrize("length", [0, 2, 4, 5, 7, 8, 10, 26, 32, 52])
def test_accepts_possible_lengths(length):
    assert a2b("a" * length) == b"\x00" * (length * 5 // 8)


def test_16_byte_last_chars():
    prefix = "a" * 25
    allowed = set("aeimquy4")
    for c in ALPHABET:
        s = prefix + c
        if c in allowed:
            out = a2b(s)
            assert len(out) == 16
            assert b2a_str(out) == s
        else:
            with pytest.raises(Base32Error):
                a2b(s)
    # the example of the brief: a 16-byte value ending in 'b'
    with pytest.raises(Base32Error):
        a2b(b2a_str(b"\x01" * 16)[:-1] + "b")


def test_32_byte_last_chars():
    prefix = "a" * 51
    for c in ALPHABET:
        s = prefix + c
        if c in "aq":
            assert len(a2b(s)) == 32
            assert b2a_str(a2b(s)) == s
        else:
            with pytest.raises(Base32Error):
                a2b(s)


def test_20_byte_values_use_every_bit():
    # 20 bytes = 160 bits = 32 chars exactly: every last char is allowed.
    for c in ALPHABET:
        assert len(a2b("a" * 31 + c)) == 20


@given(st.binary(min_size=1, max_size=40))
def test_every_decodable_string_is_canonical(data):
    # Flipping the last character to any other allowed char changes the bytes,
    # or is refused: two strings never decode to the same bytes.
    s = b2a_str(data)
    for c in ALPHABET:
        other = s[:-1] + c
        if other == s:
            continue
        try:
            out = a2b(other)
        except Base32Error:
            continue
        assert out != data


def test_refuses_non_ascii_text():
    with pytest.raises(Base32Error):
        a2b("nbswy3d\u00e9")
    with pytest.raises(Base32Error):
        a2b("nbswy3d\u00e9".encode("utf-8"))
    assert not could_be_base32_encoded("\u2603")


def test_refuses_other_types():
    with pytest.raises(Base32Error):
        a2b(12345)
    with pytest.raises(Base32Error):
        a2b(None)
    assert not could_be_base32_encoded(None)


def test_error_is_a_value_error_with_a_message():
    assert issubclass(Base32Error, ValueError)
    with pytest.raises(ValueError) as info:
        a2b("ABC")
    assert "base32" in str(info.value)
