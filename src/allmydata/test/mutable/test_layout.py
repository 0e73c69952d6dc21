"""SDMF and MDMF share bytes (mutable/layout.py, docs/specifications/mutable-shares.md §2, §3):
pack/parse round trips, partial parses of a share's start, checkstrings,
MDMF block placement, and refusal of malformed shares."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allmydata.mutable import layout
from allmydata.mutable.common import MDMF_VERSION, SDMF_VERSION, BadShareError, LayoutInvalid


def _bht_nodes(nseg):
    p = 1
    while p < nseg:
        p *= 2
    return 2 * p - 1


@st.composite
def shares(draw, version=None):
    version = draw(st.sampled_from([SDMF_VERSION, MDMF_VERSION])) if version is None else version
    n = draw(st.integers(1, 255))
    k = draw(st.integers(1, n))
    datalen = draw(st.integers(0, 3000))
    if version == SDMF_VERSION:
        segsize = -(-datalen // k) * k
        salt = draw(st.binary(min_size=16, max_size=16))
    else:
        segsize = draw(st.integers(1, 600)) * k
        salt = None
    prefix = layout.Prefix(version, draw(st.integers(0, 2**64 - 1)),
                           draw(st.binary(min_size=32, max_size=32)), salt, k, n, segsize,
                           datalen)
    g = prefix.geometry()
    nchain = draw(st.integers(0, 8))
    chain = {i: draw(st.binary(min_size=32, max_size=32))
             for i in draw(st.lists(st.integers(1, 510), min_size=nchain, max_size=nchain,
                                    unique=True))}
    bht = [draw(st.binary(min_size=32, max_size=32)) for _ in range(_bht_nodes(g.num_segments))]
    if version == SDMF_VERSION:
        sd_len = g.block_size
    else:
        sd_len = (g.num_segments * 16 + (g.num_segments - 1) * g.block_size + g.tail_block_size
                  if g.num_segments else 0)
    share_data = draw(st.binary(min_size=sd_len, max_size=sd_len))
    return layout.ParsedShare(prefix, None, draw(st.binary(min_size=292, max_size=294)),
                              draw(st.binary(min_size=256, max_size=256)), chain, bht,
                              share_data, draw(st.binary(min_size=1210, max_size=1220)))


def _same_fields(a, b):
    for name in ("prefix", "verification_key", "signature", "share_hash_chain",
                 "block_hash_tree", "share_data", "enc_privkey"):
        assert getattr(a, name) == getattr(b, name), name


@settings(max_examples=150, deadline=None)
@given(shares())
def test_pack_parse_round_trip(share):
    raw = layout.pack_share(share)
    parsed = layout.parse_share(raw)
    _same_fields(parsed, share)
    assert parsed.offsets["EOF"] == len(raw)
    assert layout.pack_share(parsed) == raw
    assert layout.unpack_prefix(raw) == share.prefix
    assert layout.unpack_offsets(raw) == parsed.offsets
    header = layout.HEADER_LENGTH_SDMF if share.version == SDMF_VERSION \
        else layout.HEADER_LENGTH_MDMF
    assert layout.unpack_header(raw[:header]) == (share.prefix, parsed.offsets)
    # the signed prefix and checkstring are the first bytes of the share
    assert raw.startswith(share.prefix.signed_bytes())
    assert raw.startswith(share.prefix.checkstring())
    # chain entries are sorted by index
    off, length = parsed.field_range("share_hash_chain")
    indices = [struct.unpack(">H", raw[i:i + 2])[0] for i in range(off, off + length, 34)]
    assert indices == sorted(share.share_hash_chain)


@settings(max_examples=100, deadline=None)
@given(shares(), st.data())
def test_partial_parse_then_fetch_the_rest(share, data):
    raw = layout.pack_share(share)
    header = layout.HEADER_LENGTH_SDMF if share.version == SDMF_VERSION \
        else layout.HEADER_LENGTH_MDMF
    cut = data.draw(st.integers(header, len(raw)))
    part = layout.parse_share(raw[:cut], partial=True)
    for name in layout.FIELDS:
        off, length = part.field_range(name)
        value = getattr(part, name)
        assert (value is not None) == (off + length <= cut), name
    for off, length in part.needed_ranges():
        assert off + length > cut
    for name in layout.FIELDS:
        for off, length in part.needed_ranges(name):
            part.set_field(name, raw[off:off + length])
    assert part.is_complete() and part.needed_ranges() == []
    _same_fields(part, share)


@settings(max_examples=60, deadline=None)
@given(shares(version=MDMF_VERSION))
def test_mdmf_blocks_and_final_writes(share):
    raw = layout.pack_share(share)
    parsed = layout.parse_share(raw)
    g = share.prefix.geometry()
    assert parsed.offsets["share_data"] == layout.MDMF_SHARE_DATA_OFFSET == 2167
    # blocks written one by one at their offsets, then the final writes, rebuild the share
    rebuilt = bytearray(len(raw))
    for segnum in range(g.num_segments):
        off, length = layout.mdmf_block_range(share.prefix, parsed.offsets, segnum)
        assert off == layout.mdmf_block_offset(segnum, g.block_size)
        salt, block = parsed.mdmf_block(segnum)
        assert raw[off:off + length] == salt + block
        size = g.tail_block_size if segnum == g.num_segments - 1 else g.block_size
        assert len(block) == size
        rebuilt[off:off + length] = salt + block
    for off, chunk in layout.mdmf_final_writes(share.prefix, share.enc_privkey,
                                               share.share_hash_chain, share.signature,
                                               share.verification_key, share.block_hash_tree):
        rebuilt[off:off + len(chunk)] = chunk
    assert bytes(rebuilt) == raw


def _prefix(version, datalen=100, k=3, n=10):
    salt = b"s" * 16 if version == SDMF_VERSION else None
    segsize = -(-datalen // k) * k if version == SDMF_VERSION else 131073 - 131073 % k + k
    return layout.Prefix(version, 7, b"R" * 32, salt, k, n, segsize if datalen else
                         (0 if version == SDMF_VERSION else segsize), datalen)


def test_checkstrings_and_prefix_lengths():
    sd, md = _prefix(SDMF_VERSION), _prefix(MDMF_VERSION)
    assert len(sd.signed_bytes()) == 75 and len(md.signed_bytes()) == 59
    assert len(sd.checkstring()) == 57 and len(md.checkstring()) == 41
    assert layout.unpack_checkstring(sd.checkstring()) == (0, 7, b"R" * 32, b"s" * 16)
    assert layout.unpack_checkstring(md.checkstring()) == (1, 7, b"R" * 32, None)
    assert layout.checkstring(1, 7, b"R" * 32) == md.checkstring()
    with pytest.raises(LayoutInvalid):
        layout.unpack_checkstring(b"\x00" * 41)
    with pytest.raises(LayoutInvalid):
        layout.checkstring(SDMF_VERSION, 1, b"R" * 32)
    assert layout.HEADER_LENGTH_SDMF == 107 and layout.HEADER_LENGTH_MDMF == 123


def test_verinfo_orders_by_seqnum_then_root():
    def vi(seq, root):
        return layout.VerInfo(seq, root, None, 131072, 10, 1, 1, b"\x01", ())
    assert sorted([vi(2, b"a"), vi(1, b"z"), vi(2, b"0")]) == [vi(1, b"z"), vi(2, b"0"),
                                                               vi(2, b"a")]
    assert len({vi(1, b"a"), vi(1, b"a")}) == 1
    assert vi(1, b"a").version == 1


def _sample_share(version):
    p = _prefix(version, datalen=1000)
    g = p.geometry()
    nseg = g.num_segments
    sd_len = g.block_size if version == SDMF_VERSION else \
        nseg * 16 + (nseg - 1) * g.block_size + g.tail_block_size
    return layout.ParsedShare(p, None, b"V" * 294, b"S" * 256, {2: b"a" * 32, 4: b"b" * 32},
                              [b"h" * 32] * _bht_nodes(nseg), b"D" * sd_len, b"P" * 1216)


@pytest.mark.parametrize("version", [SDMF_VERSION, MDMF_VERSION])
def test_malformed_shares_are_refused(version):
    raw = layout.pack_share(_sample_share(version))
    layout.parse_share(raw)
    header = 107 if version == SDMF_VERSION else 123
    cases = {
        "empty": b"",
        "unknown version": b"\x02" + raw[1:],
        "short header": raw[:header - 1],
        "k > n": raw[:57 if version == SDMF_VERSION else 41] + b"\x0b\x0a"
        + raw[59 if version == SDMF_VERSION else 43:],
        "truncated": raw[:-1],
    }
    # offsets out of order / not matching the geometry / odd chain length
    first_off = 75 if version == SDMF_VERSION else 59
    fmt = ">L" if version == SDMF_VERSION else ">Q"
    size = struct.calcsize(fmt)
    for i, delta in ((0, +10_000), (1, +1), (2, -1)):
        pos = first_off + i * size
        (val,) = struct.unpack(fmt, raw[pos:pos + size])
        cases["offset %d %+d" % (i, delta)] = raw[:pos] + struct.pack(fmt, val + delta) \
            + raw[pos + size:]
    for what, bad in cases.items():
        with pytest.raises(LayoutInvalid) as e:
            layout.parse_share(bad)
        assert isinstance(e.value, BadShareError), what
        assert str(e.value), what


def test_hash_list_codecs_refuse_garbage():
    with pytest.raises(LayoutInvalid, match="multiple of 34"):
        layout.unpack_share_hash_chain(b"x" * 35)
    with pytest.raises(LayoutInvalid, match="twice"):
        layout.unpack_share_hash_chain(struct.pack(">H32s", 1, b"a" * 32) * 2)
    with pytest.raises(LayoutInvalid, match="multiple of 32"):
        layout.unpack_block_hash_tree(b"x" * 33)
    with pytest.raises(LayoutInvalid):
        layout.pack_share_hash_chain({1: b"short"})


def test_pack_refuses_wrong_sizes():
    share = _sample_share(SDMF_VERSION)
    share.share_data = share.share_data + b"x"
    with pytest.raises(LayoutInvalid, match="share data"):
        layout.pack_share(share)
    share = _sample_share(MDMF_VERSION)
    share.block_hash_tree = share.block_hash_tree + [b"h" * 32] * 2
    with pytest.raises(LayoutInvalid, match="block hash tree"):
        layout.pack_share(share)
    share = _sample_share(MDMF_VERSION)
    share.enc_privkey = b"P" * 1500          # no longer fits before offset 2167
    with pytest.raises(LayoutInvalid, match="reserved"):
        layout.pack_share(share)
    with pytest.raises(LayoutInvalid, match="pack_mdmf_share"):
        s = _sample_share(SDMF_VERSION)
        layout.pack_mdmf_share(s.prefix, s.enc_privkey, s.share_hash_chain, s.signature,
                               s.verification_key, s.share_data, s.block_hash_tree)


def test_set_field_refuses_short_bytes():
    raw = layout.pack_share(_sample_share(MDMF_VERSION))
    part = layout.parse_share(raw[:200], partial=True)
    assert part.enc_privkey is None
    with pytest.raises(LayoutInvalid, match="truncated"):
        part.set_field("enc_privkey", b"P" * 10)
