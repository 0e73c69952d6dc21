"""The zfec "crs" codec (codec.py): round trips, any-k-of-N recovery, errors."""

import itertools
import os
import random

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from allmydata import codec
from allmydata.codec import CodecError, CRSDecoder, CRSEncoder


def make(data_size, k, n):
    enc, dec = CRSEncoder(), CRSDecoder()
    enc.set_params(data_size, k, n)
    dec.set_params(data_size, k, n)
    return enc, dec


def pieces_of(data, k):
    size = len(data) // k
    return [data[i * size:(i + 1) * size] for i in range(k)]


def test_interfaces_and_params():
    enc, dec = make(300, 3, 10)
    assert verifyObject(codec.ICodecEncoder, enc)
    assert verifyObject(codec.ICodecDecoder, dec)
    assert enc.get_encoder_type() == b"crs"
    assert enc.get_serialized_params() == b"300-3-10"
    assert enc.get_block_size() == 100
    dec2 = CRSDecoder()
    dec2.set_serialized_params(enc.get_serialized_params())
    assert dec2.get_needed_shares() == 3
    assert dec2.get_block_size() == 100
    assert dec2.get_serialized_params() == b"300-3-10"


def test_systematic():
    enc, _ = make(12, 3, 10)
    pieces = [b"aaaa", b"bbbb", b"cccc"]
    shares, ids = enc.encode_sync(pieces)
    assert ids == list(range(10))
    assert shares[:3] == pieces
    assert all(len(s) == 4 for s in shares)


@pytest.mark.parametrize("k,n", [(1, 1), (1, 2), (2, 2), (2, 3), (3, 5), (3, 6), (4, 4), (4, 7)])
def test_every_k_subset_in_any_order(k, n):
    data = os.urandom(k * 13)
    enc, dec = make(len(data), k, n)
    pieces = pieces_of(data, k)
    shares, _ids = enc.encode_sync(pieces)
    rng = random.Random(k * 1000 + n)
    for subset in itertools.combinations(range(n), k):
        order = list(subset)
        rng.shuffle(order)
        out = dec.decode_sync([shares[i] for i in order], order)
        assert out == pieces, (subset, order)


def test_desired_share_ids_subset_and_order():
    data = os.urandom(30)
    enc, dec = make(30, 3, 10)
    all_shares, _ = enc.encode_sync(pieces_of(data, 3))
    some, ids = enc.encode_sync(pieces_of(data, 3), [9, 0, 5])
    assert ids == [9, 0, 5]
    assert some == [all_shares[9], all_shares[0], all_shares[5]]
    assert b"".join(dec.decode_sync(some, ids)) == data
    assert enc.encode_sync(pieces_of(data, 3), []) == ([], [])


def test_k_equals_n():
    data = os.urandom(50)
    enc, dec = make(50, 5, 5)
    shares, ids = enc.encode_sync(pieces_of(data, 5))
    assert b"".join(shares) == data
    assert b"".join(dec.decode_sync(shares[::-1], ids[::-1])) == data


def test_one_of_256():
    enc, dec = make(7, 1, 256)
    shares, _ids = enc.encode_sync([b"example"])
    assert len(shares) == 256 and set(shares) == {b"example"}
    assert dec.decode_sync([shares[255]], [255]) == [b"example"]


def test_large_k_n_random_subsets():
    data = os.urandom(101 * 40)
    enc, dec = make(len(data), 101, 256)
    shares, _ = enc.encode_sync(pieces_of(data, 101))
    rng = random.Random(5)
    for _ in range(3):
        ids = rng.sample(range(256), 101)
        assert b"".join(dec.decode_sync([shares[i] for i in ids], ids)) == data


def test_more_than_k_blocks_accepted():
    data = os.urandom(60)
    enc, dec = make(60, 3, 10)
    shares, _ = enc.encode_sync(pieces_of(data, 3))
    ids = [7, 2, 9, 4, 8]
    assert b"".join(dec.decode_sync([shares[i] for i in ids], ids)) == data


def test_empty_data():
    enc, dec = make(0, 3, 10)
    shares, ids = enc.encode_sync([b"", b"", b""])
    assert shares == [b""] * 10
    assert dec.decode_sync([b"", b"", b""], [4, 8, 9]) == [b"", b"", b""]


def test_buffer_types():
    enc, dec = make(6, 2, 4)
    shares, ids = enc.encode_sync([bytearray(b"abc"), memoryview(b"def")])
    assert shares[:2] == [b"abc", b"def"]
    out = dec.decode_sync([memoryview(shares[3]), bytearray(shares[2])], [3, 2])
    assert out == [b"abc", b"def"] and all(type(b) is bytes for b in out)


@pytest_twisted.ensureDeferred
async def test_deferred_api():
    data = os.urandom(90)
    enc, dec = make(90, 3, 7)
    shares, ids = await enc.encode(pieces_of(data, 3))
    out = await dec.decode(shares[4:], ids[4:])
    assert b"".join(out) == data
    with pytest.raises(CodecError, match="exactly 3"):
        await enc.encode([b"x" * 30])
    with pytest.raises(CodecError, match="needs 3 distinct"):
        await dec.decode(shares[:1], ids[:1])


@pytest.mark.parametrize("args,msg", [
    ((10, 0, 5), "1 <= required_shares"),
    ((10, 6, 5), "1 <= required_shares"),
    ((10, 1, 257), "1 <= required_shares"),
    ((10, 3, 10), "not a multiple"),
    ((-3, 3, 10), ">= 0"),
    ((9.0, 3, 10), "must be an int"),
])
def test_bad_params(args, msg):
    with pytest.raises(CodecError, match=msg):
        CRSEncoder().set_params(*args)
    with pytest.raises(CodecError, match=msg):
        CRSDecoder().set_params(*args)


@pytest.mark.parametrize("params,msg", [
    (b"9-3", "SIZE-K-N"), (b"9-3-x", "SIZE-K-N"), (b"-9-3-10", "SIZE-K-N"), ("9-3-10-1", "SIZE-K-N"),
    (b"10-3-10", "not a multiple"), (b"9-4-3", "1 <= required_shares"), (b"\xff", "not ASCII"),
    (9, "bytes or str"),
])
def test_bad_serialized_params(params, msg):
    with pytest.raises(CodecError, match=msg):
        CRSDecoder().set_serialized_params(params)


def test_params_required_first():
    with pytest.raises(CodecError, match="set_params"):
        CRSEncoder().encode_sync([b"a"])
    with pytest.raises(CodecError, match="set_params"):
        CRSDecoder().get_needed_shares()


def test_encode_input_errors():
    enc, _ = make(12, 3, 10)
    with pytest.raises(CodecError, match="exactly 3 input pieces"):
        enc.encode_sync([b"aaaa", b"bbbb"])
    with pytest.raises(CodecError, match="piece 1 is 3 bytes; every piece must be 4"):
        enc.encode_sync([b"aaaa", b"bbb", b"cccc"])
    with pytest.raises(CodecError, match="share id 10 is not an int in 0..9"):
        enc.encode_sync([b"aaaa"] * 3, [0, 10])
    with pytest.raises(CodecError, match="duplicate"):
        enc.encode_sync([b"aaaa"] * 3, [1, 1])


def test_decode_input_errors():
    enc, dec = make(12, 3, 10)
    shares, _ = enc.encode_sync([b"aaaa", b"bbbb", b"cccc"])
    with pytest.raises(CodecError, match="needs 3 distinct blocks"):
        dec.decode_sync(shares[:2], [0, 1])
    with pytest.raises(CodecError, match="3 blocks but 2 share ids"):
        dec.decode_sync(shares[:3], [0, 1])
    # duplicate ids would make zfec hang: they must be refused up front
    with pytest.raises(CodecError, match="duplicate"):
        dec.decode_sync([shares[4], shares[4], shares[5]], [4, 4, 5])
    with pytest.raises(CodecError, match="share id -1"):
        dec.decode_sync(shares[:3], [-1, 1, 2])
    with pytest.raises(CodecError, match="block for share 5 is 3 bytes; every block must be 4"):
        dec.decode_sync([shares[4], shares[5][:3], shares[6]], [4, 5, 6])


def test_wrong_block_gives_wrong_data_not_crash():
    # The codec has no integrity check of its own (hash trees do that): a
    # corrupted block decodes to different pieces.
    enc, dec = make(12, 3, 10)
    pieces = [b"aaaa", b"bbbb", b"cccc"]
    shares, _ = enc.encode_sync(pieces)
    bad = bytes([shares[7][0] ^ 1]) + shares[7][1:]
    assert dec.decode_sync([shares[3], bad, shares[9]], [3, 7, 9]) != pieces
