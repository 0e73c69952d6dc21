"""Plaintext sources and their encryption: sizes, effective segment sizes,
convergent and random keys, reading from offset 0, the single AES-CTR
keystream, and the status they report."""

import io

import pytest
import pytest_twisted
from twisted.internet import defer

from allmydata.crypto.aes import ctr_encrypt
from allmydata.immutable.upload import UploadStatus
from allmydata.immutable.uploadable import Data, EncryptAnUploadable, FileHandle, FileName
from allmydata.util import hashutil

SECRET = b"convergence secret"


def data_of(n):
    return bytes((i * 7 + i // 251) % 256 for i in range(n))


@pytest.mark.parametrize("size,params,expected", [
    (1000, {}, (3, 7, 10, 1002)),
    (5_000_000, {}, (3, 7, 10, 1_048_578)),
    (5_000_000, {"k": 4, "n": 8, "happy": 5, "max_segment_size": 131072}, (4, 5, 8, 131072)),
    (100, {"k": 7, "n": 9, "happy": 2, "max_segment_size": 50}, (7, 2, 9, 56)),
])
@pytest_twisted.ensureDeferred
async def test_encoding_parameters(size, params, expected):
    u = Data(bytes(size), None)
    u.set_default_encoding_parameters(params)
    assert await u.get_size() == size
    assert await u.get_all_encoding_parameters() == expected


@pytest.mark.parametrize("params", [{"k": 11, "n": 10}, {"happy": 11}, {"k": 0}])
def test_bad_parameters(params):
    u = Data(bytes(100), None)
    u.set_default_encoding_parameters(params)
    with pytest.raises(ValueError):
        u.get_all_encoding_parameters()


def test_bad_arguments():
    with pytest.raises(TypeError, match="convergence secret is bytes"):
        Data(b"x", "text")
    with pytest.raises(TypeError, match="uploads bytes"):
        Data("text", None)


@pytest.mark.parametrize("size", [56, 100_000, 3 * 1024 * 1024 + 5])
@pytest_twisted.ensureDeferred
async def test_convergent_key_is_the_same_from_every_source(size, tmp_path):
    data = data_of(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    fh = io.BytesIO(data)
    fh.seek(1234)  # the upload starts at offset 0 whatever the position
    sources = [Data(data, SECRET), Data(bytearray(data), SECRET), FileHandle(fh, SECRET),
               FileName(str(path), SECRET)]
    segsize = -(-min(size, 1_048_576) // 3) * 3
    expected = hashutil.convergence_key(SECRET, 3, 10, segsize, data)
    for u in sources:
        status = UploadStatus()
        u.set_upload_status(status)
        assert await u.get_encryption_key() == expected
        assert await u.get_encryption_key() == expected  # asked twice, computed once
        assert status.get_progress()[0] == 1.0
        chunks = await u.read(size + 10)
        assert b"".join(bytes(c) for c in chunks) == data
        assert b"".join(bytes(c) for c in await u.read(10)) == b""  # at EOF
        u.close()
    assert sources[3]._fh.closed


@pytest_twisted.ensureDeferred
async def test_key_depends_on_parameters_and_secret():
    data = data_of(10_000)
    keys = set()
    for secret, params in [(SECRET, {}), (SECRET, {"k": 2}), (SECRET, {"n": 11}),
                           (SECRET, {"max_segment_size": 4096}), (b"", {})]:
        u = Data(data, secret)
        u.set_default_encoding_parameters(params)
        keys.add(await u.get_encryption_key())
    assert len(keys) == 5


@pytest_twisted.ensureDeferred
async def test_random_keys():
    a, b = Data(b"x" * 100, None), Data(b"x" * 100, None)
    ka = await a.get_encryption_key()
    assert len(ka) == 16 and ka == await a.get_encryption_key()
    assert ka != await b.get_encryption_key()


class ReadOnlyThroughDeferreds(Data):
    """An IUploadable offering only the 2008 read() (no read_sync)."""

    read_sync = None

    def read(self, length):
        start = self._pos
        self._pos = min(self.size, start + length)
        # hand the bytes back in small pieces, as some sources do
        piece = bytes(self._view[start:self._pos])
        return defer.succeed([piece[i:i + 1000] for i in range(0, len(piece), 1000)])


@pytest.mark.parametrize("source_class", [Data, ReadOnlyThroughDeferreds])
@pytest_twisted.ensureDeferred
async def test_one_keystream_over_the_whole_file(source_class):
    data = data_of(200_000)
    status = UploadStatus()
    eu = EncryptAnUploadable(source_class(data, SECRET), status)
    key = await eu.get_encryption_key()
    assert await eu.get_storage_index() == hashutil.storage_index_hash(key)
    assert await eu.get_size() == 200_000
    assert status.get_size() == 200_000 and status.get_storage_index() == \
        hashutil.storage_index_hash(key)
    out = []
    for length in (1, 15, 16, 17, 50_000, 65_536, 200_000):
        out += [bytes(c) for c in await eu.read_encrypted(length, False)]
    assert b"".join(out) == ctr_encrypt(key, data)
    assert status.get_progress()[1] == 1.0
    assert await eu.read_encrypted(100, False) == []
    assert await eu.get_all_encoding_parameters() == (3, 7, 10, 200_001)
