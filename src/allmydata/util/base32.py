"""Tahoe's base32: RFC 3548 alphabet in lower case, no ``=`` padding.

Decoding is strict, as Tahoe-LAFS's is (docs/specifications/encodings.md §1): only lower-case
letters and digits 2-7, a length whose value mod 8 is one of {0, 2, 4, 5, 7},
and the unused low bits of the last character must be zero.  Anything else
raises :class:`Base32Error`, so two different strings never decode to the
same bytes.
"""

import re

ALPHABET = b"abcdefghijklmnopqrstuvwxyz234567"

# base32 length mod 8 -> number of trailing '=' that standard base32 wants
_PADDING = {0: 0, 2: 6, 4: 4, 5: 3, 7: 1}
# base32 length mod 8 -> number of unused low bits in the last character
_UNUSED_BITS = {0: 0, 2: 2, 4: 4, 5: 1, 7: 3}
_CHARS = re.compile(rb"^[a-z2-7]*\Z")
# our alphabet -> the digits int(x, 32) reads
_TO_INT_DIGITS = bytes.maketrans(ALPHABET, b"0123456789abcdefghijklmnopqrstuv")


class Base32Error(ValueError):
    """A string is not valid Tahoe base32."""


# Encoding spreads the 5-bit groups of the input, read as one integer, out to
# one byte each with a few whole-integer mask-and-shift steps, then maps the
# bytes 0-31 to the alphabet (the standard library's b32encode is a Python loop,
# several times slower on a 16- or 32-byte key or hash, and a directory
# listing encodes thousands).  Step k moves every group whose index has bit k set left by 3*k
# bits, so group i ends 3*i bits further left: at bit 8*i.
_GROUPS = 64  # groups handled at once: 40 bytes, whose 64 characters need no padding


def _spread_steps():
    steps = []
    k = _GROUPS // 2
    while k:
        mask = 0
        for i in range(_GROUPS):
            if i & k:
                mask |= 31 << (5 * i + 3 * (i & ~(2 * k - 1)))
        steps.append((mask, 3 * k))
        k //= 2
    return tuple(steps)


_SPREAD_STEPS = _spread_steps()
_TO_ALPHABET = bytes.maketrans(bytes(range(32)), ALPHABET)


def b2a(data: bytes) -> bytes:
    """Encode bytes as lower-case unpadded base32 bytes."""
    n = len(data)
    if n > 40:
        return b"".join([b2a(data[i:i + 40]) for i in range(0, n, 40)])
    nchars = (n * 8 + 4) // 5
    v = int.from_bytes(data, "big") << (nchars * 5 - n * 8)
    for mask, shift in _SPREAD_STEPS:
        moving = v & mask
        v = (v ^ moving) | (moving << shift)
    return v.to_bytes(nchars, "big").translate(_TO_ALPHABET)


def b2a_str(data: bytes) -> str:
    """Like :func:`b2a` but returns text."""
    return b2a(data).decode("ascii")


def b2a_l(data: bytes, lengthinbits: int) -> bytes:
    """Encode the first ``lengthinbits`` bits of ``data``."""
    return b2a(data)[: (lengthinbits + 4) // 5]


def could_be_base32_encoded(s) -> bool:
    """True if ``s`` is a string that :func:`a2b` would accept."""
    try:
        a2b(s)
    except Base32Error:
        return False
    return True


def a2b(s) -> bytes:
    """Decode Tahoe base32 (text or bytes) strictly; raise Base32Error."""
    if isinstance(s, str):
        try:
            s = s.encode("ascii")
        except UnicodeEncodeError:
            raise Base32Error("base32 string contains non-ASCII characters")
    if not isinstance(s, bytes):
        raise Base32Error("base32 input must be str or bytes, not %s" % type(s).__name__)
    if not _CHARS.match(s):
        raise Base32Error("%r is not lower-case base32 (allowed: a-z, 2-7)" % (s[:60],))
    rem = len(s) % 8
    if rem not in _PADDING:
        raise Base32Error("a base32 string of length %d cannot encode whole bytes" % len(s))
    if not s:
        return b""
    # Read the characters as one base-32 number (int() does it in C; the
    # standard library's b32decode is pure Python and far slower, which
    # shows when a directory of 10,000 children is parsed).
    value = int(s.translate(_TO_INT_DIGITS), 32)
    unused = _UNUSED_BITS[rem]
    if value & ((1 << unused) - 1):
        raise Base32Error("%r has non-zero padding bits in its last character" % (s[-8:],))
    return (value >> unused).to_bytes((len(s) * 5 - unused) // 8, "big")
