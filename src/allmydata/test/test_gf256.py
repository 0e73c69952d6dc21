"""The GF(2^8) multiplier behind the codec (``allmydata._gf256``): the same
blocks as zfec, from every multiplying loop, and clear errors."""

import os
import random

import pytest
import zfec

from allmydata import codec
from allmydata.codec import CRSDecoder, CRSEncoder

# setup.py builds the extension when a C compiler is there; without it the
# codec uses zfec alone and these tests have nothing to test.
_gf256 = pytest.importorskip(
    "allmydata._gf256",
    reason="the optional C extension allmydata._gf256 was not built (no C compiler at install)")

KERNELS = ["avx2", "ssse3", "scalar"]


def reference_mul(a, b):
    """Carry-less multiply modulo x^8 + x^4 + x^3 + x^2 + 1 (0x11D), bit by bit."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
    return product


@pytest.fixture(params=KERNELS)
def kernel(request):
    before = _gf256.kernel()
    try:
        _gf256.use_kernel(request.param)
    except ValueError:
        pytest.skip("this processor has no %s" % request.param)
    yield request.param
    _gf256.use_kernel(before)


def test_multiplication_table():
    for a in range(256):
        for b in range(256):
            assert _gf256.mul(a, b) == reference_mul(a, b), (a, b)


def test_combine_is_the_field_sum(kernel):
    rng = random.Random(7)
    # lengths around the vector widths (16, 32) and the 4096-byte chunk
    for length in [1, 15, 16, 17, 31, 32, 33, 4095, 4096, 4097, 3 * 4096 + 45]:
        k = rng.randrange(1, 6)
        rows = rng.randrange(0, 4)
        blocks = [rng.randbytes(length) for _ in range(k)]
        coefficients = bytes(rng.choice([0, 1, rng.randrange(256)]) for _ in range(rows * k))
        out = _gf256.combine(coefficients, rows, blocks)
        assert len(out) == rows
        for r in range(rows):
            expected = bytearray(length)
            for j in range(k):
                c = coefficients[r * k + j]
                for i in range(length):
                    expected[i] ^= reference_mul(c, blocks[j][i])
            assert out[r] == bytes(expected), (length, k, r)


@pytest.mark.parametrize("k,n", [(1, 1), (1, 3), (2, 2), (3, 10), (7, 13), (25, 100),
                                 (100, 256), (255, 256), (1, 256)])
def test_same_blocks_as_zfec(kernel, k, n):
    rng = random.Random(k * 1000 + n)
    for block_size in [1, 31, 33, 5000]:
        data = rng.randbytes(k * block_size)
        pieces = [data[i * block_size:(i + 1) * block_size] for i in range(k)]
        enc = CRSEncoder()
        enc.set_params(len(data), k, n)
        ids = list(range(n))
        rng.shuffle(ids)
        ours, got_ids = enc.encode_sync(pieces, ids)
        assert got_ids == ids
        assert ours == list(zfec.Encoder(k, n).encode(pieces, ids))
        dec = CRSDecoder()
        dec.set_params(len(data), k, n)
        for _ in range(3):
            held = sorted(rng.sample(range(n), k))
            blocks = [ours[ids.index(s)] for s in held]
            assert b"".join(dec.decode_sync(blocks, held)) == data
            assert dec.decode_sync(blocks, held) == list(zfec.Decoder(k, n).decode(blocks, held))


def test_without_the_extension_zfec_does_it(monkeypatch):
    data = os.urandom(3 * 1000)
    pieces = [data[i * 1000:(i + 1) * 1000] for i in range(3)]
    enc = CRSEncoder()
    enc.set_params(len(data), 3, 10)
    native, _ = enc.encode_sync(pieces)
    monkeypatch.setattr(codec, "_gf256", None)
    plain, _ = enc.encode_sync(pieces)
    assert plain == native
    dec = CRSDecoder()
    dec.set_params(len(data), 3, 10)
    assert b"".join(dec.decode_sync([plain[9], plain[4], plain[1]], [9, 4, 1])) == data


def test_decode_keeps_the_pieces_it_holds():
    data = os.urandom(4 * 64)
    pieces = [data[i * 64:(i + 1) * 64] for i in range(4)]
    enc = CRSEncoder()
    enc.set_params(len(data), 4, 8)
    blocks, _ = enc.encode_sync(pieces)
    dec = CRSDecoder()
    dec.set_params(len(data), 4, 8)
    # pieces 0 and 2 held, 1 and 3 rebuilt from check blocks 5 and 7
    out = dec.decode_sync([blocks[0], blocks[2], blocks[5], blocks[7]], [0, 2, 5, 7])
    assert out == pieces


def test_combine_errors():
    with pytest.raises(ValueError, match="need 1 to 256 blocks, got 0"):
        _gf256.combine(b"", 0, [])
    with pytest.raises(ValueError, match="block 1 is 3 bytes, block 0 is 2"):
        _gf256.combine(b"\x01\x01", 1, [b"ab", b"abc"])
    with pytest.raises(ValueError, match="2 rows of 2 blocks need 4 coefficients, got 3"):
        _gf256.combine(b"\x01\x01\x01", 2, [b"ab", b"cd"])
    with pytest.raises(ValueError, match="rows must be 0 to 256"):
        _gf256.combine(b"", -1, [b"ab"])
    with pytest.raises(TypeError):
        _gf256.combine(b"\x01", 1, [12])
    with pytest.raises(TypeError, match="blocks must be a sequence"):
        _gf256.combine(b"\x01", 1, 12)
    with pytest.raises(ValueError, match="kernel nonesuch is not available"):
        _gf256.use_kernel("nonesuch")
    with pytest.raises(ValueError, match="field elements"):
        _gf256.mul(256, 1)
    assert _gf256.combine(b"", 0, [b"ab"]) == []
