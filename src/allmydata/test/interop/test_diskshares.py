"""The on-disk share checkers of the interop tests notice bad containers.

The interop tests trust ``diskshares`` to say whether a storage server wrote
real Tahoe-LAFS containers; these cases show that it rejects wrong ones
instead of passing everything.
"""

import struct

from allmydata.test.interop import diskshares


def _immutable(path, version=2, nleases=1, layout_version=1, data_len=100):
    data = struct.pack(">L", layout_version) + b"\x00" * (data_len - 4)
    path.write_bytes(struct.pack(">LLL", version, data_len, nleases) + data + b"\x01" * 72 * nleases)
    return str(path)


def _mutable(path, magic=diskshares.MUTABLE_MAGICS[1], version=0, seqnum=1, datalen=500):
    head = magic + b"\x00" * 20 + b"\x00" * 32 + struct.pack(">QQ", datalen, 468 + datalen)
    head += b"\x00" * (468 - len(head))
    data = bytes([version]) + struct.pack(">Q", seqnum) + b"\x00" * (datalen - 9)
    path.write_bytes(head + data + b"\x00" * 4)
    return str(path)


def test_good_immutable_share_passes(tmp_path):
    assert diskshares.check_immutable_share(_immutable(tmp_path / "0")) == []
    assert diskshares.check_immutable_share(_immutable(tmp_path / "1", version=1)) == []


def test_bad_immutable_shares_are_reported(tmp_path):
    assert "container version 3" in diskshares.check_immutable_share(
        _immutable(tmp_path / "0", version=3))[0]
    assert "0 leases" in diskshares.check_immutable_share(_immutable(tmp_path / "1", nleases=0))[0]
    assert "layout version 7" in diskshares.check_immutable_share(
        _immutable(tmp_path / "2", layout_version=7))[0]
    (tmp_path / "3").write_bytes(b"\x00\x00\x00\x02")
    assert "only 4 bytes" in diskshares.check_immutable_share(str(tmp_path / "3"))[0]


def test_good_mutable_share_passes(tmp_path):
    path = _mutable(tmp_path / "0", version=1, seqnum=3)
    assert diskshares.check_mutable_share(path, diskshares.MDMF_VERSION, 3) == []
    path = _mutable(tmp_path / "1", magic=diskshares.MUTABLE_MAGICS[0])
    assert diskshares.check_mutable_share(path, diskshares.SDMF_VERSION, 1) == []


def test_bad_mutable_shares_are_reported(tmp_path):
    path = _mutable(tmp_path / "0", magic=b"X" * 32)
    assert "not the mutable container magic" in diskshares.check_mutable_share(path, 0)[0]
    path = _mutable(tmp_path / "1", magic=b"Tahoe mutable container v3\n" + b"\x00" * 5)
    assert "neither the v1 nor the v2" in diskshares.check_mutable_share(path, 0)[0]
    path = _mutable(tmp_path / "2", version=1)
    assert "version byte 1, expected 0" in diskshares.check_mutable_share(path, 0)[0]
    path = _mutable(tmp_path / "3", seqnum=1)
    assert "seqnum 1, expected 2" in diskshares.check_mutable_share(path, 0, 2)[0]
