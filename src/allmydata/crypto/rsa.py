"""RSA keys and signatures of mutable files (docs/specifications/mutable-shares.md §1).

A mutable file is owned by one RSA-2048 key pair.  The private key (as
PKCS#8 DER) hashes to the file's writekey, and the public key (as
SubjectPublicKeyInfo DER) hashes to the fingerprint in its caps, so the
serializations here must be exactly those bytes.  Signatures are
RSASSA-PSS with SHA-256, MGF1-SHA-256 and a fixed 32-byte salt (256 bytes
long for a 2048-bit key).

Loading a *private* key refuses any size but 2048 bits, as Tahoe-LAFS does;
*public* keys of any exponent are accepted (keys made by old pycryptopp-era
clients use e = 17).

API::

    generate_keypair(bits=2048) -> (PrivateKey, PublicKey)
    public_of(priv) -> PublicKey
    private_key_to_der(priv) -> bytes            # PKCS#8 DER, unencrypted
    private_key_from_der(der) -> PrivateKey      # BadKeyError unless RSA-2048
    private_key_from_pem(pem) -> PrivateKey      # PKCS#1 or PKCS#8 PEM
    private_key_from_urlsafe_b64(text) -> PrivateKey  # urlsafe base64 of the DER
    private_key_to_urlsafe_b64(priv) -> str
    public_key_to_der(pub) -> bytes              # SubjectPublicKeyInfo DER
    public_key_from_der(der) -> PublicKey        # BadKeyError if not an RSA key
    sign(priv, data) -> bytes
    verify(pub, signature, data) -> None         # BadSignatureError
"""

import base64
import binascii

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa as _rsa

KEY_SIZE = 2048
PUBLIC_EXPONENT = 65537
SIGNATURE_SIZE = KEY_SIZE // 8
PSS_SALT_LENGTH = 32

PrivateKey = _rsa.RSAPrivateKey
PublicKey = _rsa.RSAPublicKey

__all__ = ["KEY_SIZE", "SIGNATURE_SIZE", "PSS_SALT_LENGTH", "PrivateKey", "PublicKey",
           "RSAError", "BadKeyError", "BadSignatureError", "generate_keypair", "public_of",
           "private_key_to_der", "private_key_from_der", "private_key_from_pem",
           "private_key_from_urlsafe_b64", "private_key_to_urlsafe_b64", "public_key_to_der",
           "public_key_from_der", "sign", "verify"]


class RSAError(Exception):
    """Base class of the errors of this module."""


class BadKeyError(RSAError, ValueError):
    """Bytes that should hold an RSA key do not hold a usable one."""


class BadSignatureError(RSAError):
    """A signature does not match the data and the public key."""


def _pss():
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)


def generate_keypair(bits: int = KEY_SIZE):
    """A fresh key pair (e = 65537).  Only 2048 bits make usable mutable files;
    other sizes are allowed here for tests of the refusal."""
    priv = _rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits)
    return priv, priv.public_key()


def public_of(priv) -> PublicKey:
    return priv.public_key()


def _check_private(priv, what):
    if not isinstance(priv, _rsa.RSAPrivateKey):
        raise BadKeyError("%s holds a %s, not an RSA private key" % (what, type(priv).__name__))
    if priv.key_size != KEY_SIZE:
        raise BadKeyError("%s holds a %d-bit RSA key; mutable files need exactly %d bits"
                          % (what, priv.key_size, KEY_SIZE))
    return priv


def private_key_to_der(priv) -> bytes:
    """PKCS#8 DER, unencrypted: the bytes the writekey is hashed from."""
    return priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())


def private_key_from_der(der: bytes, validate: bool = True):
    """Load a PKCS#8 (or PKCS#1) DER private key; it must be RSA-2048.

    ``validate=False`` skips OpenSSL's consistency check of the key (a
    costly one): only for a key already known to be the right one, such as a
    mutable file's key whose hash matched the write key of its cap."""
    try:
        priv = serialization.load_der_private_key(
            bytes(der), password=None, unsafe_skip_rsa_key_validation=not validate)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise BadKeyError("these %d bytes are not a DER-encoded private key: %s"
                          % (len(der), e)) from None
    return _check_private(priv, "the DER private key")


def private_key_from_pem(pem) -> PrivateKey:
    """Load a PEM private key ("BEGIN RSA PRIVATE KEY" PKCS#1, or "BEGIN PRIVATE
    KEY" PKCS#8, as in the test vectors and ``--private-key-path`` files)."""
    if isinstance(pem, str):
        pem = pem.encode("ascii")
    try:
        priv = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise BadKeyError("this is not an unencrypted PEM private key: %s" % e) from None
    return _check_private(priv, "the PEM private key")


def private_key_to_urlsafe_b64(priv) -> str:
    """The form the web API's ``private-key=`` argument takes: urlsafe base64 of
    the PKCS#8 DER."""
    return base64.urlsafe_b64encode(private_key_to_der(priv)).decode("ascii")


def private_key_from_urlsafe_b64(text) -> PrivateKey:
    """Inverse of :func:`private_key_to_urlsafe_b64` (missing ``=`` padding is allowed)."""
    if isinstance(text, str):
        text = text.encode("ascii", "replace")
    text = text.strip()
    try:
        der = base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise BadKeyError("the private key is not urlsafe base64: %s" % e) from None
    return private_key_from_der(der)


def public_key_to_der(pub) -> bytes:
    """X.509 SubjectPublicKeyInfo DER: the bytes the fingerprint is hashed from
    and that a share stores as its verification key."""
    return pub.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_from_der(der: bytes) -> PublicKey:
    """Load a SubjectPublicKeyInfo DER RSA public key (any size or exponent)."""
    try:
        pub = serialization.load_der_public_key(bytes(der))
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise BadKeyError("these %d bytes are not a DER-encoded public key: %s"
                          % (len(der), e)) from None
    if not isinstance(pub, _rsa.RSAPublicKey):
        raise BadKeyError("the DER public key is a %s, not RSA" % type(pub).__name__)
    return pub


def sign(priv, data: bytes) -> bytes:
    """RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt) signature of ``data``."""
    return priv.sign(bytes(data), _pss(), hashes.SHA256())


def verify(pub, signature: bytes, data: bytes) -> None:
    """Check a PSS signature; raise :class:`BadSignatureError` if it does not match."""
    try:
        pub.verify(bytes(signature), bytes(data), _pss(), hashes.SHA256())
    except InvalidSignature:
        raise BadSignatureError("the RSA-PSS signature (%d bytes) does not match the signed "
                                "data (%d bytes) under this public key"
                                % (len(signature), len(data))) from None
