"""Tests for allmydata.util.abbreviate."""

import pytest
from hypothesis import given, strategies as st

from allmydata.util.abbreviate import abbreviate_space, parse_abbreviated_size


@pytest.mark.parametrize("text, value", [
    ("0", 0),
    ("100", 100),
    ("007", 7),
    ("5B", 5),
    ("5b", 5),
    ("1K", 1000),
    ("1k", 1000),
    ("1kB", 1000),
    ("1KB", 1000),
    ("1kb", 1000),
    ("1Ki", 1024),
    ("1KiB", 1024),
    ("1kib", 1024),
    ("1KIB", 1024),
    ("10M", 10 * 10**6),
    ("10MiB", 10 * 2**20),
    ("1G", 10**9),
    ("1GB", 10**9),
    ("1GiB", 2**30),
    ("1Gi", 2**30),
    ("3T", 3 * 10**12),
    ("3TiB", 3 * 2**40),
    ("2P", 2 * 10**15),
    ("2PiB", 2 * 2**50),
    ("1E", 10**18),
    ("1EiB", 2**60),
    ("0G", 0),
    ("12345678901234567890", 12345678901234567890),
])
def test_parse(text, value):
    assert parse_abbreviated_size(text) == value
    assert type(parse_abbreviated_size(text)) is int


def test_parse_bytes_input():
    assert parse_abbreviated_size(b"2GiB") == 2 * 2**30


@pytest.mark.parametrize("text", [
    "", " ", "-1", "+1", "-1G", "1.5G", "1,5G", ".5G", "1e9",
    "1X", "1Z", "1Y", "G", "GB", "KiB", "1 G", " 1G", "1G ", "1G\n",
    "1GiBB", "1BiG", "1iG", "1i", "1iB", "1KBi", "1KK", "0x10", "ten",
    "\u0661",  # ARABIC-INDIC DIGIT ONE
])
def test_parse_refuses(text):
    with pytest.raises(ValueError) as info:
        parse_abbreviated_size(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("value", [None, 5, 1.5, ["1G"]])
def test_parse_refuses_non_text(value):
    with pytest.raises(ValueError):
        parse_abbreviated_size(value)


def test_parse_error_message_says_what_is_accepted():
    with pytest.raises(ValueError) as info:
        parse_abbreviated_size("1.5G")
    message = str(info.value)
    assert "'1.5G'" in message and "whole number" in message and "GiB" in message


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from("KMGTPE"),
       st.booleans(), st.booleans(), st.booleans())
def test_parse_property(number, letter, binary, with_b, lower):
    text = "%d%s%s%s" % (number, letter, "i" if binary else "", "B" if with_b else "")
    if lower:
        text = text.lower()
    power = "KMGTPE".index(letter) + 1
    assert parse_abbreviated_size(text) == number * (1024 if binary else 1000) ** power


@pytest.mark.parametrize("n, text", [
    (0, "0 B"),
    (1, "1 B"),
    (999, "999 B"),
    (1000, "1.00 kB"),
    (1001, "1.00 kB"),
    (1234, "1.23 kB"),
    (999_994, "999.99 kB"),
    (999_995, "1.00 MB"),    # would round to "1000.00 kB"
    (999_999, "1.00 MB"),
    (10**6, "1.00 MB"),
    (1_500_000, "1.50 MB"),
    (10**9, "1.00 GB"),
    (2**30, "1.07 GB"),
    (10**12, "1.00 TB"),
    (10**15, "1.00 PB"),
    (10**18, "1.00 EB"),
    (10**21, "1000.00 EB"),  # exabytes are the largest unit
    (None, "unknown"),
])
def test_abbreviate_space(n, text):
    assert abbreviate_space(n) == text


@pytest.mark.parametrize("n, text", [
    (1000, "1000 B"),
    (1023, "1023 B"),
    (1024, "1.00 KiB"),
    (1536, "1.50 KiB"),
    (2**20, "1.00 MiB"),
    (2**20 - 1, "1.00 MiB"),
    (2**30, "1.00 GiB"),
    (5 * 2**40, "5.00 TiB"),
    (2**60, "1.00 EiB"),
])
def test_abbreviate_space_binary(n, text):
    assert abbreviate_space(n, binary=True) == text


@pytest.mark.parametrize("n", [-1, 1.5, "100", True])
def test_abbreviate_space_refuses(n):
    with pytest.raises(ValueError):
        abbreviate_space(n)


@given(st.integers(min_value=0, max_value=10**20))
def test_abbreviate_then_parse_is_close(n):
    # The display form, with its space and decimals removed, parses back to
    # within the rounding of two decimals.
    text = abbreviate_space(n)
    number, unit = text.split(" ")
    whole = parse_abbreviated_size(number.split(".")[0] + unit)
    assert whole <= n * 1.001 + 1
    if unit != "B":
        assert float(number) < 1000 or unit == "EB"
        assert parse_abbreviated_size("1" + unit) * float(number) == pytest.approx(n, rel=0.006)
    else:
        assert whole == n
