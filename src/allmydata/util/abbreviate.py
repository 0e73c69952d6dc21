"""Sizes written the way people write them: ``"10GB"`` in, ``"1.50 MB"`` out.

:func:`parse_abbreviated_size` reads the size values of ``tahoe.cfg`` (for
example ``[storage] reserved_space``).  It accepts what Tahoe-LAFS accepts:

* a whole number of bytes: ``"100"``;
* a whole number followed by a unit letter ``K M G T P E`` (any case), which
  is a power of 1000 (``"1G"`` = 10**9), or a power of 1024 with an ``i``
  after the letter (``"1Gi"``/``"1GiB"`` = 2**30);
* an optional final ``B``: ``"1GB"`` = ``"1G"``, ``"1kB"`` = 1000, ``"5B"`` = 5.

Fractions (``"1.5G"``), signs, inner or surrounding spaces and unknown
units are refused with a :class:`ValueError` that quotes the value and says
what would be accepted.  Tahoe-LAFS also refuses fractions and spaces; it
additionally takes a bare ``"i"``/``"iB"`` suffix as bytes, which we refuse,
and it maps an empty string to "no value", which we refuse too (an absent
option is the caller's business, not this parser's).

:func:`abbreviate_space` formats a byte count for display, with SI units by
default (``"999 B"``, ``"1.00 kB"``, ``"1.50 MB"``) or binary ones
(``"1.00 KiB"``).
"""

import re

_UNIT_LETTERS = "KMGTPE"
_SIZE = re.compile(r"(?P<number>[0-9]+)(?P<unit>[KMGTPE](?P<binary>I)?)?(?P<bytes>B)?\Z")


def parse_abbreviated_size(s) -> int:
    """Parse a size such as ``"100"``, ``"1G"``, ``"1GiB"`` or ``"1kB"`` into bytes."""
    if isinstance(s, bytes):
        s = s.decode("ascii", "replace")
    if not isinstance(s, str):
        raise ValueError("a size must be text such as '10G', not %r" % (s,))
    m = _SIZE.match(s.upper())
    if m is None:
        raise ValueError(
            "%r is not a size: write a whole number of bytes, optionally followed by "
            "K, M, G, T, P or E (powers of 1000) or Ki, Mi, Gi, Ti, Pi or Ei "
            "(powers of 1024), optionally followed by B, e.g. '500M' or '2GiB'" % (s,))
    number = int(m.group("number"))
    unit = m.group("unit")
    if not unit:
        return number
    base = 1024 if m.group("binary") else 1000
    return number * base ** (_UNIT_LETTERS.index(unit[0]) + 1)


_SI_UNITS = ("kB", "MB", "GB", "TB", "PB", "EB")
_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def abbreviate_space(n, binary: bool = False) -> str:
    """A byte count for display: ``"n B"`` below one kilobyte, otherwise two
    decimals and the largest unit that keeps the number below 1000 (1024 for
    ``binary=True``); exabytes are the largest unit.  ``None`` (a size not
    known) gives ``"unknown"``."""
    if n is None:
        return "unknown"
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError("abbreviate_space wants a whole number of bytes, not %r" % (n,))
    if n < 0:
        raise ValueError("a size cannot be negative: %d" % n)
    base = 1024 if binary else 1000
    units = _BINARY_UNITS if binary else _SI_UNITS
    if n < base:
        return "%d B" % n
    value = n / base
    index = 0
    # Move up a unit when the rounded value would print as 1000.00 (or 1024.00).
    while round(value, 2) >= base and index < len(units) - 1:
        value /= base
        index += 1
    return "%.2f %s" % (value, units[index])
