"""Every SSK/MDMF case of Tahoe-LAFS's published test vectors
(test/data/tahoe-test-vectors.yaml): the PEM private key of the case gives
exactly the expected write cap (``URI:SSK:`` for sdmf, ``URI:MDMF:`` for
mdmf).  The small cases are also encoded into all N shares with the case's
k/N and plaintext, and decoded back through the verifying decoder.
"""

import base64

import pytest
import yaml

from allmydata import uri
from allmydata.crypto import rsa
from allmydata.mutable import layout
from allmydata.mutable.common import MDMF_VERSION, SDMF_VERSION, MutableKeys
from allmydata.mutable.shares import encode_version, verify_and_decode
from allmydata.test.vectors import VECTORS_PATH

FORMATS = {"sdmf": SDMF_VERSION, "mdmf": MDMF_VERSION}


def _ssk_cases():
    with open(VECTORS_PATH) as f:
        doc = yaml.safe_load(f)
    cases = []
    for i, v in enumerate(doc["vector"]):
        if v["format"]["kind"] != "ssk":
            continue
        z = v["zfec"]
        cases.append(pytest.param(v, id="%d-%s-%d-%d-of-%d" % (
            i, v["format"]["params"]["format"], v["sample"]["length"], z["required"],
            z["total"])))
    return cases


CASES = _ssk_cases()


def sample(seed_b64, length):
    seed = base64.b64decode(seed_b64)
    return (seed * (length // len(seed) + 1))[:length]


def test_all_240_ssk_cases_are_here():
    assert len(CASES) == 240
    formats = [c.values[0]["format"]["params"]["format"] for c in CASES]
    assert formats.count("sdmf") == formats.count("mdmf") == 120


@pytest.mark.parametrize("case", CASES)
def test_write_cap_from_key(case):
    params = case["format"]["params"]
    version = FORMATS[params["format"]]
    priv = rsa.private_key_from_pem(params["key"].encode("ascii"))
    keys = MutableKeys.from_privkey(priv)
    cap = keys.writecap(version)
    assert cap.to_string().decode("ascii") == case["expected"]
    # and the cap string parses back to the same keys
    parsed = uri.from_string(case["expected"])
    assert type(parsed) is type(cap)
    assert MutableKeys.from_cap(parsed) == MutableKeys.from_writekey(keys.writekey,
                                                                     keys.fingerprint)


SMALL = [c for c in CASES if c.values[0]["sample"]["length"] <= 4096]


@pytest.mark.parametrize("case", SMALL)
def test_small_cases_encode_and_decode(case):
    params = case["format"]["params"]
    version = FORMATS[params["format"]]
    keys = MutableKeys.from_privkey(rsa.private_key_from_pem(params["key"]))
    data = sample(case["sample"]["seed"], case["sample"]["length"])
    k, n = case["zfec"]["required"], case["zfec"]["total"]
    ev, shares = encode_version(data, keys, version, 1, k, n)
    assert sorted(shares) == list(range(n))
    parsed = {sh: layout.parse_share(b) for sh, b in shares.items()}
    assert {p.prefix.version for p in parsed.values()} == {version}
    # any k shares will do: take the last k
    some = {sh: parsed[sh] for sh in range(n - k, n)}
    reader = MutableKeys.from_cap(uri.from_string(case["expected"]).get_readonly())
    plaintext, bad = verify_and_decode(reader, some)
    assert (plaintext, bad) == (data, {})
