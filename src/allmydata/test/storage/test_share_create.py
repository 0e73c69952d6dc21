"""A new immutable container written in one go (header, room, first lease)
is byte for byte what creating it and then adding the lease gives; closing
the shares of one storage index leaves no storage index directory in incoming/ behind."""

import os

import pytest

from allmydata.stats import StatsProvider
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
    # the prefix directory stays, empty, for the next upload
    assert os.listdir(ss.incomingdir) == [os.path.basename(os.path.dirname(incoming_si))]
    assert os.listdir(os.path.dirname(incoming_si)) == []
    buckets = ss.remote_get_buckets(si)
    assert sorted(buckets) == [1, 2]
    assert buckets[2].remote_read(0, 100) == b"2" * 100
    ss.stopService()


def test_a_created_share_knows_its_size_without_reading_it(tmp_path):
    """create() does not read back what it wrote: the share object it returns
    has the header's fields and the file's size (counted as bytes added when
    the upload closes)."""
    lease = (0, b"r" * 32, b"c" * 32, 1_700_000_000)
    for lease_arg in (None, lease):
        path = str(tmp_path / ("share-%s" % bool(lease_arg)))
        made = ImmutableShareFile.create(path, 1000, lease=lease_arg)
        opened = ImmutableShareFile(path)
        assert made.created_size() == os.path.getsize(path)
        assert opened.created_size() is None
        assert (made.version, made.secret_storage, made.data_length) == (
            opened.version, opened.secret_storage, opened.data_length)
        assert made.get_leases() == opened.get_leases()
        made.write_share_data(0, b"x" * 1000)
        assert opened.read_share_data(990, 20) == b"x" * 10
        assert made.created_size() == os.path.getsize(path)
        made.add_lease(1, b"R" * 32, b"C" * 32, 1_700_000_001)
        assert made.created_size() == os.path.getsize(path)


def test_bytes_added_counts_the_share_files(tmp_path):
    stats = StatsProvider()
    ss = StorageServer(str(tmp_path / "storage"), b"\x01" * 20, stats_provider=stats)
    _already, writers = ss.remote_allocate_buckets(b"\x03" * 16, b"r" * 32, b"c" * 32, {0, 1}, 50,
                                                   object())
    for w in writers.values():
        w.remote_write(0, b"y" * 50)
        w.remote_close()
    final = [os.path.join(ss._bucket_dir(b"\x03" * 16), str(n)) for n in (0, 1)]
    assert stats.get_stats()["counters"]["storage_server.bytes_added"] == sum(
        os.path.getsize(p) for p in final)
    ss.stopService()
