"""The compatibility proof: every CHK case of Tahoe-LAFS's test vectors
(test/data/tahoe-test-vectors.yaml) gives exactly the expected cap when
encoded by our real Encoder into real in-memory buckets.

Each case: plaintext = base64 ``seed`` repeated and cut to ``length``;
convergence secret = base64 ``convergence``; ``segmentSize`` is the
*maximum* segment size; k and N from ``zfec``.
"""

import base64

import pytest
import pytest_twisted
import yaml

from allmydata import uri
from allmydata.immutable.encode import Encoder
from allmydata.immutable.layout import allocated_size, make_write_bucket_proxy
from allmydata.immutable.uploadable import Data, EncryptAnUploadable

from allmydata.test.vectors import VECTORS_PATH
from allmydata.testing.buckets import MemoryBucket, NamedServer



VECTORS = VECTORS_PATH


def _chk_cases():
    with open(VECTORS) as f:
        doc = yaml.safe_load(f)
    cases = []
    for v in doc["vector"]:
        if v["format"]["kind"] != "chk":
            continue
        z = v["zfec"]
        cases.append(pytest.param(
            v, id="%d-%d-of-%d-%s" % (v["sample"]["length"], z["required"], z["total"],
                                      v["convergence"][:4])))
    return cases


CASES = _chk_cases()


def test_all_120_chk_cases_are_here():
    assert len(CASES) == 120


def sample(seed_b64: str, length: int) -> bytes:
    seed = base64.b64decode(seed_b64)
    return (seed * (length // len(seed) + 1))[:length]


async def encode_to_memory(plaintext: bytes, convergence: bytes | None, k: int, n: int,
                           max_segment_size: int, happy: int = 1):
    """Encode like the uploader does, into one MemoryBucket per share;
    returns (cap bytes, {shnum: MemoryBucket}, encoder)."""
    u = Data(plaintext, convergence)
    u.set_default_encoding_parameters({"k": k, "happy": happy, "n": n,
                                       "max_segment_size": max_segment_size})
    eu = EncryptAnUploadable(u)
    encoder = Encoder()
    await encoder.set_encrypted_uploadable(eu)
    p = encoder.get_segment_params()
    ueb_size = encoder.get_uri_extension_size()
    buckets, writers, servermap = {}, {}, {}
    for shnum in range(n):
        server = NamedServer(bytes([shnum % 256]) * 19 + b"s")
        buckets[shnum] = MemoryBucket(allocated_size(p.share_data_size, p.num_segments,
                                                     p.num_share_hashes, ueb_size))
        writers[shnum] = make_write_bucket_proxy(buckets[shnum], server, p.share_data_size,
                                                 p.block_size, p.num_segments,
                                                 p.num_share_hashes, ueb_size)
        servermap[shnum] = {server.get_serverid()}
    encoder.set_shareholders(writers, servermap)
    ueb_hash, k2, n2, size = await encoder.start()
    key = await eu.get_encryption_key()
    cap = uri.CHKFileURI(key, ueb_hash, k2, n2, size).to_string()
    return cap, buckets, encoder


@pytest.mark.parametrize("vector", CASES)
@pytest_twisted.ensureDeferred
async def test_chk_vector(vector):
    z = vector["zfec"]
    plaintext = sample(vector["sample"]["seed"], vector["sample"]["length"])
    convergence = base64.b64decode(vector["convergence"])
    cap, buckets, _encoder = await encode_to_memory(plaintext, convergence, z["required"],
                                                    z["total"], z["segmentSize"])
    assert cap.decode("ascii") == vector["expected"]
    for bucket in buckets.values():
        assert bucket.state == "closed"
        assert bucket.written == bucket.allocated_size
