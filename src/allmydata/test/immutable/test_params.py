"""Segment parameters (docs/specifications/immutable-shares.md §1) and
the URI extension block (§5)."""

import pytest

from allmydata.immutable.params import (
    ParamsError, SegmentParams, hash_tree_size, next_power_of_two, num_share_hashes,
)
from allmydata.immutable.uri_extension import (
    BadURIExtensionError, CURRENT_KEYS, make_uri_extension, pack_uri_extension,
    unpack_uri_extension, uri_extension_hash, uri_extension_size,
)
from allmydata.util import hashutil


def test_worked_example_1_19():
    p = SegmentParams.for_file(1_000_000, 3, 10, 1_048_576)
    assert (p.segment_size, p.num_segments, p.tail_size, p.padded_tail_size, p.block_size,
            p.tail_block_size, p.share_data_size) == \
        (1_000_002, 1, 1_000_000, 1_000_002, 333_334, 333_334, 333_334)
    assert uri_extension_size(p) == 330


def test_worked_example_1_18():
    p = SegmentParams.for_file(1_000_000, 3, 10, 131_072)
    assert (p.segment_size, p.num_segments, p.tail_size, p.padded_tail_size, p.block_size,
            p.tail_block_size, p.share_data_size) == \
        (131_073, 8, 82_489, 82_491, 43_691, 27_497, 333_334)
    assert uri_extension_size(p) == 326


@pytest.mark.parametrize("size,k,maxseg", [
    (56, 1, 131072), (56, 3, 131072), (131072, 3, 131072), (131073, 3, 131072),
    (2 * 131073, 3, 131072), (8388609, 101, 131072), (100, 7, 10), (1, 1, 1), (17, 4, 4),
])
def test_invariants(size, k, maxseg):
    p = SegmentParams.for_file(size, k, k + 2, maxseg)
    assert p.segment_size % k == 0 and p.padded_tail_size % k == 0
    assert p.segment_size >= min(size, maxseg)
    assert (p.num_segments - 1) * p.segment_size + p.tail_size == size
    assert 0 < p.tail_size <= p.segment_size
    assert p.share_data_size == -(-size // k)
    assert sum(p.block_length(s) for s in range(p.num_segments)) == p.share_data_size
    assert p.segment_range(p.num_segments - 1) == ((p.num_segments - 1) * p.segment_size,
                                                   p.tail_size)


def test_exact_multiple_has_full_tail():
    p = SegmentParams.for_file(300, 3, 10, 150)
    assert (p.num_segments, p.tail_size, p.padded_tail_size) == (2, 150, 150)


def test_from_ueb_matches_for_file():
    for size in (56, 1000, 131073, 5_000_000):
        up = SegmentParams.for_file(size, 3, 10, 131072)
        assert SegmentParams.from_ueb(size, 3, 10, up.segment_size) == up


@pytest.mark.parametrize("args", [(0, 3, 10, 100), (10, 0, 10, 100), (10, 4, 3, 100),
                                  (10, 3, 257, 100), (10, 3, 10, 0), (-1, 1, 1, 10)])
def test_bad_params(args):
    with pytest.raises(ParamsError):
        SegmentParams.for_file(*args)


def test_segment_range_out_of_bounds():
    p = SegmentParams.for_file(1000, 3, 10, 300)
    with pytest.raises(ParamsError, match="segment 4 does not exist"):
        p.segment_range(4)


def test_tree_sizes():
    assert [next_power_of_two(n) for n in (0, 1, 2, 3, 8, 9)] == [1, 1, 2, 4, 8, 16]
    assert hash_tree_size(1) == 32 and hash_tree_size(3) == 7 * 32
    assert [num_share_hashes(n) for n in (1, 2, 3, 10, 16, 17, 256)] == [1, 2, 3, 5, 5, 6, 9]


# ---- URI extension block -------------------------------------------------------------
H1, H2, H3 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
EXPECTED_1M = (
    b"codec_name:3:crs,"
    b"codec_params:12:1000002-3-10,"
    b"crypttext_hash:32:" + H1 + b","
    b"crypttext_root_hash:32:" + H2 + b","
    b"needed_shares:1:3,"
    b"num_segments:1:1,"
    b"segment_size:7:1000002,"
    b"share_root_hash:32:" + H3 + b","
    b"size:7:1000000,"
    b"tail_codec_params:12:1000002-3-10,"
    b"total_shares:2:10,"
)


def test_ueb_byte_exact():
    p = SegmentParams.for_file(1_000_000, 3, 10, 1_048_576)
    d = make_uri_extension(p, H1, H2, H3)
    assert set(d) == CURRENT_KEYS and len(d) == 11
    data = pack_uri_extension(d)
    assert data == EXPECTED_1M
    assert len(data) == 330
    assert uri_extension_hash(data) == hashutil.sha256d(b"26:allmydata_uri_extension_v1," + data)


def test_ueb_roundtrip_and_ints():
    p = SegmentParams.for_file(1_000_000, 3, 10, 1_048_576)
    d = unpack_uri_extension(EXPECTED_1M)
    assert d == {**make_uri_extension(p, H1, H2, H3), "size": 1_000_000,
                 "codec_name": b"crs"}
    assert d["size"] == 1_000_000 and d["needed_shares"] == 3 and d["total_shares"] == 10
    assert pack_uri_extension(d) == EXPECTED_1M


def test_ueb_keeps_unknown_keys_and_sorts_bytes():
    data = pack_uri_extension({"size": 5, "plaintext_hash": b"x" * 32, b"Zeta": "\u00e9"})
    assert data.startswith(b"Zeta:2:\xc3\xa9,plaintext_hash:32:")
    d = unpack_uri_extension(data)
    assert d == {"Zeta": "\u00e9".encode(), "plaintext_hash": b"x" * 32, "size": 5}


def test_ueb_value_with_colons_and_commas():
    d = {"codec_name": b"a:b,c:", "size": 1}
    assert unpack_uri_extension(pack_uri_extension(d)) == d


@pytest.mark.parametrize("data,match", [
    (b"size", "no ':'"),
    (b"size:7:1000000", "truncated"),
    (b"size:9:1000000,", "truncated"),
    (b"size:7:1000000;", "truncated"),
    (b"si ze:1:1,", "bad key"),
    (b"size:x:1,", "netstring length"),
    (b"size:3:1e5,", "not a decimal"),
    (b"size:1:1,size:1:2,", "twice"),
])
def test_ueb_parse_errors(data, match):
    with pytest.raises(BadURIExtensionError, match=match):
        unpack_uri_extension(data)


@pytest.mark.parametrize("d", [{"bad key": b"x"}, {"": b"x"}, {"size": 1.5}, {"size": True},
                               {"size": 1, b"size": 2}])
def test_ueb_pack_errors(d):
    with pytest.raises(BadURIExtensionError):
        pack_uri_extension(d)
