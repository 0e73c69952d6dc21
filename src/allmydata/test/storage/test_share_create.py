"""A new immutable container written in one go (header, room, first lease)
is byte for byte what creating it and then adding the lease gives; closing
the shares of one storage index leaves no incoming directories behind."""

import os

import pytest

from allmydata.storage.immutable import ImmutableShareFile
from allmydata.storage.lease import OWNER_ALLOCATE
from allmydata.storage.server import StorageServer


@pytest.mark.parametrize("version", [1, 2])
def test_create_with_lease_matches_create_then_add(tmp_path, version):
    lease = (OWNER_ALLOCATE, b"r" * 32, b"c" * 32, 1_700_000_000)
    a = ImmutableShareFile.create(str(tmp_path / "x" / "a"), 1234, version=version, lease=lease)
    b = ImmutableShareFile.create(str(tmp_path / "b"), 1234, version=version)
    b.add_lease(*lease)
    with open(a.path, "rb") as fa, open(b.path, "rb") as fb:
        assert fa.read() == fb.read()
    assert len(a.get_leases()) == 1 and a.data_length == 1234
    a.write_share_data(0, b"d" * 1234)
    assert a.read_share_data(0, 2000) == b"d" * 1234
    assert len(ImmutableShareFile(a.path).get_leases()) == 1


def test_incoming_dirs_removed_after_last_close(tmp_path):
    ss = StorageServer(str(tmp_path / "storage"), b"\x01" * 20)
    si = b"\x02" * 16
    _already, writers = ss.remote_allocate_buckets(si, b"r" * 32, b"c" * 32, {0, 1, 2}, 100,
                                                   object())
    incoming_si = os.path.dirname(writers[0].incoming_path)
    for shnum in (0, 1, 2):
        writers[shnum].remote_write(0, b"%d" % shnum * 100)
    writers[1].remote_close()
    assert os.path.isdir(incoming_si)  # shares 0 and 2 are still being written
    writers[0].remote_abort()
    writers[2].remote_close()
    assert not os.path.exists(incoming_si)
    assert os.listdir(ss.incomingdir) == []
    buckets = ss.remote_get_buckets(si)
    assert sorted(buckets) == [1, 2]
    assert buckets[2].remote_read(0, 100) == b"2" * 100
    ss.stopService()
