"""Ed25519 node keys and their text form, as Tahoe-LAFS 1.20 writes them.

A node signs its introducer announcements with an Ed25519 key kept in
``private/node.privkey``; ``tahoe admin generate-keypair`` prints a fresh
pair.  The text form of a key is a prefix followed by the Tahoe base32
(lower case, no padding) of the 32 raw key bytes:

- private (signing) key: ``priv-v0-`` + 52 base32 characters
- public (verifying) key: ``pub-v0-`` + 52 base32 characters

Parsing is strict: a wrong prefix, characters outside the base32 alphabet,
or a length that is not 32 bytes raises :class:`BadKeyError` naming the
problem.

API::

    generate_keypair() -> (Ed25519PrivateKey, Ed25519PublicKey)
    private_key_to_string(priv) -> bytes
    private_key_from_string(text) -> (Ed25519PrivateKey, Ed25519PublicKey)
    public_key_to_string(pub) -> bytes
    public_key_from_string(text) -> Ed25519PublicKey
    sign(priv, data) -> bytes                      # 64-byte signature
    verify(pub, signature, data) -> None           # BadSignatureError
"""

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from ..util import base32

PRIVATE_KEY_PREFIX = b"priv-v0-"
PUBLIC_KEY_PREFIX = b"pub-v0-"
RAW_KEY_SIZE = 32
SIGNATURE_SIZE = 64


class BadKeyError(ValueError):
    """A string is not a key in the text form above."""


class BadSignatureError(Exception):
    """A signature does not verify with the given public key and data."""


def generate_keypair():
    """A new random signing key and its verifying key."""
    priv = Ed25519PrivateKey.generate()
    return priv, priv.public_key()


def _as_bytes(text, what):
    if isinstance(text, str):
        try:
            return text.encode("ascii")
        except UnicodeEncodeError:
            raise BadKeyError("%s has non-ASCII characters" % what) from None
    if isinstance(text, bytes):
        return text
    raise BadKeyError("%s must be bytes or str, not %s" % (what, type(text).__name__))


def _raw_from_string(text, prefix, what) -> bytes:
    data = _as_bytes(text, what).strip()
    if not data.startswith(prefix):
        raise BadKeyError("%s must start with %r" % (what, prefix.decode("ascii")))
    body = data[len(prefix):]
    try:
        raw = base32.a2b(body)
    except base32.Base32Error as e:
        raise BadKeyError("%s is not valid base32 after %r: %s"
                          % (what, prefix.decode("ascii"), e)) from None
    if len(raw) != RAW_KEY_SIZE:
        raise BadKeyError("%s encodes %d bytes, an Ed25519 key has %d"
                          % (what, len(raw), RAW_KEY_SIZE))
    return raw


def private_key_to_string(priv: Ed25519PrivateKey) -> bytes:
    """``priv-v0-`` + base32 of the 32 raw private key bytes."""
    if not isinstance(priv, Ed25519PrivateKey):
        raise TypeError("an Ed25519 private key is needed, not %s" % type(priv).__name__)
    raw = priv.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return PRIVATE_KEY_PREFIX + base32.b2a(raw)


def private_key_from_string(text):
    """The signing key written as ``priv-v0-...`` and its verifying key.

    Surrounding whitespace (a file's trailing newline) is ignored.
    """
    raw = _raw_from_string(text, PRIVATE_KEY_PREFIX, "private key")
    priv = Ed25519PrivateKey.from_private_bytes(raw)
    return priv, priv.public_key()


def public_key_to_string(pub: Ed25519PublicKey) -> bytes:
    """``pub-v0-`` + base32 of the 32 raw public key bytes."""
    if not isinstance(pub, Ed25519PublicKey):
        raise TypeError("an Ed25519 public key is needed, not %s" % type(pub).__name__)
    return PUBLIC_KEY_PREFIX + base32.b2a(pub.public_bytes(Encoding.Raw, PublicFormat.Raw))


def public_key_from_string(text) -> Ed25519PublicKey:
    """The verifying key written as ``pub-v0-...``."""
    raw = _raw_from_string(text, PUBLIC_KEY_PREFIX, "public key")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as e:
        raise BadKeyError("public key is not a valid Ed25519 point: %s" % e) from None


def sign(priv: Ed25519PrivateKey, data: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``data``."""
    if not isinstance(data, bytes):
        raise TypeError("data to sign must be bytes")
    return priv.sign(data)


def verify(pub: Ed25519PublicKey, signature: bytes, data: bytes) -> None:
    """Return if ``signature`` is ``pub``'s signature of ``data``, else raise
    :class:`BadSignatureError`."""
    if not isinstance(signature, bytes) or not isinstance(data, bytes):
        raise TypeError("signature and data must be bytes")
    try:
        pub.verify(signature, data)
    except InvalidSignature:
        raise BadSignatureError("bad Ed25519 signature") from None
