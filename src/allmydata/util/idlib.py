"""Node ids: Foolscap tubids in binary (20 bytes) and in base32 (32 chars)."""

import hashlib

from . import base32


def nodeid_b2a(nodeid: bytes) -> str:
    """Printable form of a 20-byte nodeid, as Foolscap and Tahoe print it."""
    if len(nodeid) != 20:
        raise ValueError("a nodeid is 20 bytes, got %d" % len(nodeid))
    return base32.b2a(nodeid).decode("ascii")


def nodeid_a2b(s) -> bytes:
    """Parse a printable nodeid (32 base32 chars) back to 20 bytes."""
    out = base32.a2b(s)
    if len(out) != 20:
        raise ValueError("a nodeid is 20 bytes, %r decodes to %d" % (s, len(out)))
    return out


def shortnodeid_b2a(nodeid: bytes) -> str:
    """The first 8 characters of :func:`nodeid_b2a`, for display."""
    return nodeid_b2a(nodeid)[:8]


def tubid_from_furl(furl) -> bytes:
    """The binary tubid named by a ``pb://TUBID@hints/swissnum`` FURL."""
    if isinstance(furl, bytes):
        furl = furl.decode("ascii")
    if not furl.startswith("pb://") or "@" not in furl:
        raise ValueError("%r is not a FURL (pb://TUBID@HINTS/NAME)" % (furl[:80],))
    return nodeid_a2b(furl[len("pb://"):furl.index("@")])


def tubid_from_certificate_der(der: bytes) -> bytes:
    """A tubid is the SHA-1 of the node certificate's DER encoding."""
    return hashlib.sha1(der).digest()
