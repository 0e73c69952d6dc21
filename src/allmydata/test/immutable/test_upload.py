"""The Uploader end to end: LIT caps, and CHK uploads to five real
StorageServers on their own Tubs, reached over Foolscap on 127.0.0.1.  The
share files the servers keep are then read back by an independent parser
(sharecheck.py) that checks every hash and decodes the file."""

import hashlib
import io
import os
import struct

import pytest
import pytest_twisted

from allmydata.client import SecretHolder
from allmydata.immutable.selector import UploadUnhappinessError
from allmydata.immutable.upload import (
    Data, FileHandle, FileName, Uploader, UploadResults, UploadStatus,
)
from allmydata.storage_client import StorageFarmBroker
from allmydata.testing.plaintext import plaintext
from allmydata.testing.storagegrid import StorageGrid
from allmydata.util import hashutil
from .sharecheck import check_and_decode, parse_cap

CONVERGENCE = b"\x42" * 32
SECRETS = SecretHolder(b"\x13" * 32, CONVERGENCE)
PARAMS = {"k": 3, "happy": 5, "n": 10, "max_segment_size": 128 * 1024}


@pytest_twisted.async_yield_fixture(scope="module")
async def grid(tmp_path_factory):
    g = await StorageGrid(tmp_path_factory.mktemp("grid")).start(5)
    try:
        yield g
    finally:
        await g.close()


def uploader(grid, **params):
    return Uploader(grid.broker, SECRETS, {**PARAMS, **params})


# ---- LIT ------------------------------------------------------------------------------
@pytest.mark.parametrize("data,cap", [(b"", b"URI:LIT:"), (b"hello", b"URI:LIT:nbswy3dp")])
@pytest_twisted.ensureDeferred
async def test_literal_caps(data, cap):
    up = Uploader(StorageFarmBroker.from_rrefs([]), SECRETS, PARAMS)
    results = await up.upload(Data(data, CONVERGENCE))
    assert results.uri == cap and results.file_size == len(data)
    assert results.storage_index is None and results.sharemap == {}


@pytest_twisted.ensureDeferred
async def test_55_bytes_is_literal_56_is_not():
    up = Uploader(StorageFarmBroker.from_rrefs([]), SECRETS, PARAMS)
    results = await up.upload(Data(b"x" * 55, None))
    assert results.uri.startswith(b"URI:LIT:")
    with pytest.raises(UploadUnhappinessError):  # no servers at all
        await up.upload(Data(b"x" * 56, None))
    statuses = up.list_recent_uploads()
    assert [s.get_status()[:6] for s in statuses] == ["Finish", "Failed"]
    assert not up.list_active_uploads()


# ---- CHK to a real grid -------------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_upload_to_grid_and_check_every_share(grid):
    data = plaintext(1_000_000, b"grid")
    up = uploader(grid)
    results = await up.upload(Data(data, CONVERGENCE))
    assert isinstance(results, UploadResults)
    key, ueb_hash, k, n, size = parse_cap(results.uri)
    assert (k, n, size) == (3, 10, 1_000_000)
    assert hashutil.convergence_key(CONVERGENCE, 3, 10, 131_073, data) == key
    assert results.storage_index == hashutil.storage_index_hash(key)
    assert results.file_size == size and results.uri_extension_hash == ueb_hash
    # its repr (what a log or a traceback may show) holds no part of the cap
    assert results.uri.split(b":")[2].decode() not in repr(results)
    assert results.pushed_shares == 10 and results.preexisting_shares == 0
    # 10 shares over 5 servers, 2 each
    assert set(results.sharemap) == set(range(10))
    assert len(results.servermap) == 5
    assert all(len(s) == 2 for s in results.servermap.values())
    for key_name in ("total", "storage_index", "peer_selection", "encode_and_push",
                     "cumulative_encoding", "cumulative_sending", "hashes_and_close"):
        assert results.timings[key_name] >= 0
    # the servers hold exactly that, and every byte checks out
    files = grid.shares_by_shnum(results.storage_index)
    assert {shnum: {sid for sid, _ in where} for shnum, where in files.items()} \
        == results.sharemap
    paths = {shnum: where[0][1] for shnum, where in files.items()}
    assert check_and_decode(results.uri, paths) == data
    assert check_and_decode(results.uri, paths, use_shares=[9, 4, 7]) == data
    # each share's lease carries this client's secrets for that server (docs/specifications/encodings.md §4.3),
    # stored hashed (container v2: BLAKE2b-256)
    file_renew = hashutil.file_renewal_secret_hash(SECRETS.get_renewal_secret(),
                                                   results.storage_index)
    file_cancel = hashutil.file_cancel_secret_hash(SECRETS.get_cancel_secret(),
                                                   results.storage_index)
    for shnum, [(serverid, path)] in files.items():
        with open(path, "rb") as f:
            raw = f.read()
        assert struct.unpack(">LLL", raw[:12])[2] == 1
        lease = raw[-72:]
        assert lease[4:36] == hashlib.blake2b(
            hashutil.bucket_renewal_secret_hash(file_renew, serverid), digest_size=32).digest()
        assert lease[36:68] == hashlib.blake2b(
            hashutil.bucket_cancel_secret_hash(file_cancel, serverid), digest_size=32).digest()
    # the status says it all
    status = up.list_recent_uploads()[-1]
    assert isinstance(status, UploadStatus)
    assert status.get_progress() == (1.0, 1.0, 1.0)
    assert not status.get_active() and status.get_results() is results
    assert status.get_size() == size and status.get_storage_index() == results.storage_index
    assert up.get_upload_status(status.get_counter()) is status


@pytest_twisted.ensureDeferred
async def test_sources_agree_and_reupload_finds_shares(grid, tmp_path):
    data = plaintext(300_001, b"sources")
    up = uploader(grid)
    first = await up.upload(Data(data, CONVERGENCE))
    path = tmp_path / "f"
    path.write_bytes(data)
    by_name = await up.upload(FileName(str(path), CONVERGENCE))
    by_handle = await up.upload(FileHandle(io.BytesIO(data), CONVERGENCE))
    assert first.uri == by_name.uri == by_handle.uri
    # the second time, every share is already there: nothing is pushed
    assert by_name.pushed_shares == 0 and by_name.preexisting_shares == 10
    assert set(by_name.sharemap) == set(range(10))


@pytest_twisted.ensureDeferred
async def test_random_keys_differ(grid):
    data = plaintext(100_000, b"random")
    up = uploader(grid)
    a = await up.upload(Data(data, None))
    b = await up.upload(Data(data, None))
    assert a.uri != b.uri
    assert parse_cap(a.uri)[2:] == parse_cap(b.uri)[2:] == (3, 10, 100_000)
    files = grid.shares_by_shnum(a.storage_index)
    assert check_and_decode(a.uri, {s: w[0][1] for s, w in files.items()}) == data


@pytest_twisted.ensureDeferred
async def test_not_enough_servers_for_happiness(grid):
    up = uploader(grid, happy=7)
    with pytest.raises(UploadUnhappinessError) as info:
        await up.upload(Data(plaintext(5000, b"unhappy"), CONVERGENCE))
    assert "happiness" in str(info.value)
    assert info.value.happiness == 5 and info.value.wanted == 7


@pytest_twisted.ensureDeferred
async def test_multi_segment_v1_odd_sizes(grid):
    # 7 segments of 24 KiB + a short tail, 2-of-4
    data = plaintext(7 * 24 * 1024 + 5, b"odd")
    up = uploader(grid, k=2, happy=2, n=4, max_segment_size=24 * 1024)
    results = await up.upload(FileHandle(io.BytesIO(data), CONVERGENCE))
    files = grid.shares_by_shnum(results.storage_index)
    assert set(files) == {0, 1, 2, 3}
    assert check_and_decode(results.uri, {s: w[0][1] for s, w in files.items()},
                            use_shares=[2, 3]) == data
    assert results.uri_extension_data["num_segments"] == 8
    assert os.path.getsize(files[0][0][1]) > 0


class _ShortReads(io.RawIOBase):
    """A file that hands out at most 100_000 bytes per read (like a pipe)."""

    def __init__(self, data):
        self._f = io.BytesIO(data)

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, pos, whence=0):
        return self._f.seek(pos, whence)

    def tell(self):
        return self._f.tell()

    def readinto(self, b):
        chunk = self._f.read(min(len(b), 100_000))
        b[:len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("make", [io.BytesIO, _ShortReads])
@pytest_twisted.ensureDeferred
async def test_convergent_key_of_a_file_read_in_pieces(make):
    """The key hashed from a file (read into one reused buffer, whatever
    sizes its reads come back in) is the key hashed from the same bytes."""
    data = plaintext(2_500_000, b"pieces")
    params = {**PARAMS, "max_segment_size": 1024 * 1024}
    a, b = Data(data, CONVERGENCE), FileHandle(make(data), CONVERGENCE)
    for u in (a, b):
        u.set_default_encoding_parameters(params)
    assert await b.get_encryption_key() == await a.get_encryption_key()
    assert b.read_sync(10) == [data[:10]]  # the position is back at the start
    assert b.read_sync(1_000_000) == [data[10:1_000_010]]  # short reads are joined


@pytest.mark.parametrize("make", [io.BytesIO, _ShortReads])
@pytest_twisted.ensureDeferred
async def test_upload_of_a_file_read_in_pieces(grid, make):
    data = plaintext(700_001, b"short")
    up = uploader(grid, max_segment_size=256 * 1024)
    assert (await up.upload(FileHandle(make(data), CONVERGENCE))).uri == \
        (await up.upload(Data(data, CONVERGENCE))).uri


def test_upload_status_shares_the_operation_counter():
    from allmydata.immutable.download.status import DownloadStatus
    from allmydata.immutable.interfaces import IUploadStatus
    up = UploadStatus()
    down = DownloadStatus(None, None)
    up2 = UploadStatus()
    assert IUploadStatus.providedBy(up)
    assert up.get_counter() < down.get_counter() < up2.get_counter()   # one numbering
    assert up.get_progress() == (0.0, 0.0, 0.0) and up.using_helper() is False
    up.set_progress(2, 0.5)
    up.set_helper(True)
    up.set_size(10)
    assert (up.get_progress(), up.using_helper(), up.get_size()) == ((0.0, 0.0, 0.5), True, 10)
    assert up.get_active() is True and up.get_status() == "Not started"
