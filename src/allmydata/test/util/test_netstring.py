"""Tests for allmydata.util.netstring."""

import pytest
from hypothesis import given, strategies as st

from allmydata.util.netstring import NetstringError, netstring, parse_netstrings, split_netstring


def test_encode():
    assert netstring(b"abc") == b"3:abc,"
    assert netstring(b"") == b"0:,"
    assert netstring(b"x" * 10) == b"10:" + b"x" * 10 + b","
    assert netstring(b"1:a,") == b"4:1:a,,"


def test_encode_refuses_text():
    with pytest.raises(TypeError):
        netstring("abc")


def test_split_one():
    assert split_netstring(b"3:abc,", 1) == ([b"abc"], 6)
    assert split_netstring(b"0:,", 1) == ([b""], 3)


def test_split_concatenated():
    data = b"3:abc,0:,5:he,lo,"
    assert split_netstring(data, 3) == ([b"abc", b"", b"he,lo"], len(data))
    # Fewer than available: the position points at the next one.
    strings, pos = split_netstring(data, 1)
    assert strings == [b"abc"] and pos == 6
    assert split_netstring(data, 2, pos) == ([b"", b"he,lo"], len(data))
    assert parse_netstrings(data) == [b"abc", b"", b"he,lo"]
    assert parse_netstrings(b"") == []


def test_nested():
    inner = netstring(b"a") + netstring(b"bc")
    outer = netstring(inner)
    (got,), _ = split_netstring(outer, 1)
    assert split_netstring(got, 2) == ([b"a", b"bc"], len(inner))


@given(st.lists(st.binary(max_size=30), max_size=8))
def test_round_trip(pieces):
    data = b"".join(netstring(p) for p in pieces)
    assert parse_netstrings(data) == pieces
    assert split_netstring(data, len(pieces)) == (pieces, len(data))
    assert split_netstring(data, len(pieces), required_trailer=b"") == (pieces, len(data))


@pytest.mark.parametrize("bad", [
    b"3:ab",        # truncated
    b"3:abc",       # missing comma at the very end
    b"3:abcd",      # wrong terminator
    b"3:abc;",
    b"2:abc,",      # length too short: byte after 2 bytes is 'c'
    b"4:abc,",      # length too long
    b"abc",         # no colon
    b"",
    b"x:abc,",      # length not decimal
    b":abc,",       # empty length
    b"-3:abc,",
    b"+3:abc,",
    b" 3:abc,",
    b"3 :abc,",
    b"0x3:abc,",
    b"99999999999:abc,",
])
def test_refuses_malformed(bad):
    with pytest.raises(NetstringError):
        split_netstring(bad, 1)


def test_refuses_too_few():
    with pytest.raises(NetstringError):
        split_netstring(b"3:abc,", 2)
    with pytest.raises(NetstringError):
        parse_netstrings(b"3:abc,3:de")


def test_required_trailer():
    data = b"3:abc,1:d,TRAILER"
    assert split_netstring(data, 2, required_trailer=b"TRAILER") == ([b"abc", b"d"], len(data))
    with pytest.raises(NetstringError):
        split_netstring(data, 2, required_trailer=b"TRAIL")
    with pytest.raises(NetstringError):
        split_netstring(data, 2, required_trailer=b"")
    with pytest.raises(NetstringError):
        split_netstring(data + b"X", 2, required_trailer=b"TRAILER")
    with pytest.raises(NetstringError):
        split_netstring(b"3:abc,", 1, required_trailer=b"x")
    assert split_netstring(b"3:abc,", 1, required_trailer=b"") == ([b"abc"], 6)


def test_position():
    data = b"HEAD3:abc,"
    assert split_netstring(data, 1, position=4) == ([b"abc"], len(data))


def test_error_is_value_error():
    assert issubclass(NetstringError, ValueError)
