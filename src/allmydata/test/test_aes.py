"""AES-128-CTR (crypto/aes.py) against an independent computation.

The reference keystream is built from AES-ECB of explicit counter blocks, so a
mistake in how we position the CTR counter (or skip into a block) shows up.
"""

import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings, strategies as st

from allmydata.crypto import aes


def reference_keystream(key: bytes, offset: int, length: int) -> bytes:
    first = offset // 16
    last = (offset + length + 15) // 16
    blocks = b"".join(((first + i) % (1 << 128)).to_bytes(16, "big") for i in range(last - first))
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    stream = ecb.update(blocks) + ecb.finalize()
    skip = offset % 16
    return stream[skip:skip + length]


def reference_ctr(key: bytes, data: bytes, offset: int = 0) -> bytes:
    ks = reference_keystream(key, offset, len(data))
    return bytes(a ^ b for a, b in zip(data, ks, strict=True))


KEY = bytes(range(16))


def test_nist_sp800_38a_f51_first_block():
    # NIST SP 800-38A F.5.1: initial counter f0f1..ff.  Our counter is
    # offset // 16, so that counter block is reached at offset = counter * 16.
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    counter = int.from_bytes(bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"), "big")
    pt = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    assert aes.ctr_encrypt(key, pt, counter * 16).hex() == "874d6191b620e3261bef6864990db6ce"


def test_zero_offset_matches_reference():
    data = os.urandom(1000)
    assert aes.ctr_encrypt(KEY, data) == reference_ctr(KEY, data, 0)


def test_keystream_starts_with_zero_counter():
    # Encrypting zeros at offset 0 yields AES_k(0^128) || AES_k(0..01) ...
    ecb = Cipher(algorithms.AES(KEY), modes.ECB()).encryptor()
    expected = ecb.update(b"\x00" * 16 + (1).to_bytes(16, "big"))
    assert aes.ctr_encrypt(KEY, b"\x00" * 32) == expected


@pytest.mark.parametrize("offset", [0, 1, 5, 15, 16, 17, 31, 32, 1000, 2**20 + 3, 2**40 + 9])
@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 100])
def test_offsets_match_reference(offset, length):
    data = os.urandom(length)
    assert aes.ctr_encrypt(KEY, data, offset) == reference_ctr(KEY, data, offset)


def test_slices_agree_with_whole():
    data = os.urandom(5000)
    whole = aes.ctr_encrypt(KEY, data)
    for start, end in [(0, 1), (3, 40), (16, 32), (17, 4999), (4000, 5000), (4999, 5000)]:
        assert aes.ctr_encrypt(KEY, data[start:end], start) == whole[start:end]


def test_decrypt_inverts_encrypt():
    data = os.urandom(777)
    ct = aes.ctr_encrypt(KEY, data, 33)
    assert ct != data
    assert aes.ctr_decrypt(KEY, ct, 33) == data


def test_counter_wraps_at_2_128():
    data = os.urandom(48)
    offset = ((1 << 128) - 1) * 16 + 5
    assert aes.ctr_encrypt(KEY, data, offset) == reference_ctr(KEY, data, offset)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=300),
       cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=6),
       offset=st.integers(min_value=0, max_value=10_000))
def test_stream_pieces_equal_one_shot(data, cuts, offset):
    points = sorted({0, len(data), *[c for c in cuts if c <= len(data)]})
    stream = aes.CTRStream(KEY, offset)
    out = b"".join(stream.update(data[a:b]) for a, b in zip(points, points[1:], strict=False))
    assert out == aes.ctr_encrypt(KEY, data, offset)
    assert stream.position == offset + len(data)


def test_accepts_memoryview_and_bytearray():
    data = os.urandom(40)
    assert aes.ctr_encrypt(KEY, memoryview(data), 3) == aes.ctr_encrypt(KEY, data, 3)
    assert aes.CTRStream(bytearray(KEY)).update(bytearray(data)) == aes.ctr_encrypt(KEY, data)


@pytest.mark.parametrize("key", [b"", b"x" * 15, b"x" * 17, b"x" * 32])
def test_wrong_key_length(key):
    with pytest.raises(aes.AESKeyError, match="16-byte key"):
        aes.ctr_encrypt(key, b"data")


def test_bad_offset():
    with pytest.raises(aes.AESKeyError, match=">= 0"):
        aes.ctr_encrypt(KEY, b"data", -1)
    with pytest.raises(aes.AESKeyError, match="int"):
        aes.CTRStream(KEY, 1.5)


def test_large_unaligned_is_one_call_into_the_cipher(monkeypatch):
    # 8 MiB at an unaligned offset is done by the C cipher in one update
    # (after one that burns the keystream bytes before the offset), not
    # block by block in Python.
    updates = []
    real_cipher = aes.Cipher

    class CountingEncryptor:
        def __init__(self, enc):
            self._enc = enc

        def update(self, data):
            updates.append(len(data))
            return self._enc.update(data)

    class CountingCipher:
        def __init__(self, *args, **kwargs):
            self._cipher = real_cipher(*args, **kwargs)

        def encryptor(self):
            return CountingEncryptor(self._cipher.encryptor())

    monkeypatch.setattr(aes, "Cipher", CountingCipher)
    data = b"\x00" * (8 << 20)
    out = aes.ctr_encrypt(KEY, data, 12345)
    assert updates == [12345 % 16, len(data)]
    assert out[:100] == reference_ctr(KEY, data[:100], 12345)
