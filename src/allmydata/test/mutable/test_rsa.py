"""RSA keys and PSS signatures of mutable files (crypto/rsa.py, docs/specifications/mutable-shares.md §1)."""

import math

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa as crsa

from allmydata.crypto import rsa


@pytest.fixture(scope="module")
def keypair():
    return rsa.generate_keypair()


def test_new_keys_are_2048_bit_e65537(keypair):
    priv, pub = keypair
    assert priv.key_size == 2048
    assert pub.public_numbers().e == 65537
    assert rsa.public_key_to_der(rsa.public_of(priv)) == rsa.public_key_to_der(pub)


def test_der_round_trips(keypair):
    priv, pub = keypair
    der = rsa.private_key_to_der(priv)
    assert der.startswith(b"\x30\x82")            # a DER SEQUENCE
    assert 1210 <= len(der) <= 1220               # PKCS#8 of RSA-2048
    assert rsa.private_key_to_der(rsa.private_key_from_der(der)) == der
    pub_der = rsa.public_key_to_der(pub)
    assert len(pub_der) == 294                     # SPKI, e=65537
    assert rsa.public_key_to_der(rsa.public_key_from_der(pub_der)) == pub_der


def test_pkcs1_and_pkcs8_pem(keypair):
    priv, _ = keypair
    der = rsa.private_key_to_der(priv)
    for fmt, head in ((serialization.PrivateFormat.TraditionalOpenSSL, b"BEGIN RSA PRIVATE KEY"),
                      (serialization.PrivateFormat.PKCS8, b"BEGIN PRIVATE KEY")):
        pem = priv.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        assert head in pem
        assert rsa.private_key_to_der(rsa.private_key_from_pem(pem)) == der
        assert rsa.private_key_to_der(rsa.private_key_from_pem(pem.decode())) == der


def test_urlsafe_b64(keypair):
    priv, _ = keypair
    text = rsa.private_key_to_urlsafe_b64(priv)
    assert "+" not in text and "/" not in text
    der = rsa.private_key_to_der(priv)
    assert rsa.private_key_to_der(rsa.private_key_from_urlsafe_b64(text)) == der
    assert rsa.private_key_to_der(rsa.private_key_from_urlsafe_b64(text.rstrip("="))) == der
    with pytest.raises(rsa.BadKeyError):
        rsa.private_key_from_urlsafe_b64("not a key!")


def test_other_key_sizes_are_refused():
    small, _ = rsa.generate_keypair(1024)
    der = small.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    with pytest.raises(rsa.BadKeyError, match="1024-bit"):
        rsa.private_key_from_der(der)
    pem = small.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption())
    with pytest.raises(rsa.BadKeyError, match="exactly 2048"):
        rsa.private_key_from_pem(pem)


def test_garbage_is_refused():
    with pytest.raises(rsa.BadKeyError):
        rsa.private_key_from_der(b"\x30\x03junk")
    with pytest.raises(rsa.BadKeyError):
        rsa.public_key_from_der(b"nope")
    with pytest.raises(rsa.BadKeyError):
        rsa.private_key_from_pem(b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")


def test_sign_verify(keypair):
    priv, pub = keypair
    sig = rsa.sign(priv, b"signed prefix")
    assert len(sig) == rsa.SIGNATURE_SIZE == 256
    rsa.verify(pub, sig, b"signed prefix")
    with pytest.raises(rsa.BadSignatureError):
        rsa.verify(pub, sig, b"signed prefiX")
    bad = bytes([sig[0] ^ 1]) + sig[1:]
    with pytest.raises(rsa.BadSignatureError):
        rsa.verify(pub, bad, b"signed prefix")
    with pytest.raises(rsa.BadSignatureError):
        rsa.verify(rsa.generate_keypair()[1], sig, b"signed prefix")


def test_signature_is_pss_sha256_salt32(keypair):
    """A signature made with exactly those parameters by cryptography verifies,
    and one with the maximum salt length (which breaks old shares) does not."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    priv, pub = keypair
    ok = priv.sign(b"x", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    rsa.verify(pub, ok, b"x")
    maxsalt = priv.sign(b"x", padding.PSS(padding.MGF1(hashes.SHA256()),
                                          padding.PSS.MAX_LENGTH), hashes.SHA256())
    with pytest.raises(rsa.BadSignatureError):
        rsa.verify(pub, maxsalt, b"x")


def _e17_key():
    """An RSA-2048 key with public exponent 17, as pycryptopp made them."""
    while True:
        base = crsa.generate_private_key(65537, 2048).private_numbers()
        p, q = base.p, base.q
        if math.gcd(17, (p - 1) * (q - 1)) != 1:
            continue
        lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
        d = pow(17, -1, lam)
        nums = crsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
                                      crsa.RSAPublicNumbers(17, p * q))
        return nums.private_key()


def test_e17_keys_verify():
    priv = _e17_key()
    der = rsa.private_key_to_der(priv)
    loaded = rsa.private_key_from_der(der)
    pub_der = rsa.public_key_to_der(loaded.public_key())
    assert len(pub_der) == 292
    pub = rsa.public_key_from_der(pub_der)
    assert pub.public_numbers().e == 17
    rsa.verify(pub, rsa.sign(loaded, b"old share"), b"old share")
