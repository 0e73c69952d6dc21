"""Byte compatibility with the real Tahoe-LAFS 1.20 mutable shares.

A Tahoe-LAFS 1.20 client creates SDMF and MDMF files (``PUT /uri?format=``)
on three of *our* storage nodes.  The share files are read from the nodes'
disks (mutable container, docs/specifications/containers.md §3: the share starts at byte 468) and:

* parse with our layout and pack back to the very same bytes;
* pass our verifier (fingerprint, signature, share hash chain, block hash
  trees) and decode to the uploaded plaintext with the keys of the cap;
* are reproduced byte for byte by our encoder given the same private key,
  seqnum, encoding, plaintext and salts -- all but the 256-byte signature,
  which RSA-PSS randomizes (ours must verify instead);
* and the other way: a next version encoded by us, written into the share
  files, is what the Tahoe-LAFS client then downloads, and its verifier
  (``check --verify``) finds every share healthy.
"""

import json
import os
import struct

import pytest

from allmydata import uri
from allmydata.crypto import rsa
from allmydata.mutable import layout
from allmydata.mutable.common import MDMF_VERSION, SDMF_VERSION, MutableKeys
from allmydata.mutable.shares import VersionEncoder, encode_version, verify_and_decode
from allmydata.test.interop import diskshares
from allmydata.testing import refvenv
from allmydata.testing.reference import OurStorageGrid, TahoeClient, running

pytestmark = pytest.mark.interop

NEEDED, HAPPY, TOTAL = 2, 3, 5
CONTAINER_HEADER = 468


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    try:
        venv = refvenv.ensure_ref_venv()
    except refvenv.RefVenvError as e:
        pytest.fail("the reference tahoe-lafs virtualenv is not usable: %s" % e, pytrace=False)
    workdir = str(tmp_path_factory.mktemp("mutable-interop"))
    storage = OurStorageGrid(workdir, 3)
    client = TahoeClient(venv, os.path.join(workdir, "client"), NEEDED, HAPPY, TOTAL)
    client.extra_logs = storage.logs
    with running(storage, client) as nodes:
        yield client, nodes


def read_container(path):
    """``(container bytes, share bytes)`` of a mutable share file."""
    with open(path, "rb") as f:
        raw = f.read()
    assert raw[:32] in diskshares.MUTABLE_MAGICS, path
    (datalen,) = struct.unpack(">Q", raw[84:92])
    return raw, raw[CONTAINER_HEADER:CONTAINER_HEADER + datalen]


def write_container(path, old_raw, share):
    """Replace the share data of a container file, keeping its write enabler
    and leases (no extra leases)."""
    new = (old_raw[:84] + struct.pack(">QQ", len(share), CONTAINER_HEADER + len(share))
           + old_raw[100:CONTAINER_HEADER] + share + b"\x00\x00\x00\x00")
    with open(path, "wb") as f:
        f.write(new)


def tahoe_file(grid, fmt, size):
    client, nodes = grid
    data = os.urandom(size)
    cap = client.upload(data, format=fmt)
    assert cap.startswith({"SDMF": "URI:SSK:", "MDMF": "URI:MDMF:"}[fmt]), cap
    si = client.storage_index(cap)
    found = diskshares.collect_shares(nodes, si)
    assert sorted(sh for _, sh, _ in found) == list(range(TOTAL)), found
    files = {sh: path for _, sh, path in found}
    return data, uri.from_string(cap), files


CASES = [("SDMF", 0), ("SDMF", 56), ("SDMF", 200_000),
         ("MDMF", 0), ("MDMF", 56), ("MDMF", 400_001)]


@pytest.mark.parametrize("fmt,size", CASES)
def test_tahoe_shares_parse_verify_decode_and_reencode(grid, fmt, size):
    data, cap, files = tahoe_file(grid, fmt, size)
    version = SDMF_VERSION if fmt == "SDMF" else MDMF_VERSION
    raw = {sh: read_container(path)[1] for sh, path in files.items()}
    parsed = {sh: layout.parse_share(b) for sh, b in raw.items()}
    for sh, share in parsed.items():
        assert layout.pack_share(share) == raw[sh], "share %d does not repack identically" % sh
    p = parsed[0].prefix
    assert (p.version, p.seqnum, p.k, p.n, p.datalen) == (version, 1, NEEDED, TOTAL, size)
    if version == MDMF_VERSION:
        assert p.segsize == 131072 and parsed[0].offsets["share_data"] == 2167
    else:
        assert p.segsize == -(-size // NEEDED) * NEEDED
    assert len({s.verinfo() for s in parsed.values()}) == 1

    reader = MutableKeys.from_cap(cap.get_readonly())
    plaintext, bad = verify_and_decode(reader, parsed)
    assert bad == {} and plaintext == data

    # the write cap's key decrypts every stored private key
    writer = MutableKeys.from_cap(cap)
    priv = writer.privkey_from_encrypted(parsed[0].enc_privkey)
    keys = MutableKeys.from_privkey(priv)
    assert keys.writecap(version) == cap
    assert {s.enc_privkey for s in parsed.values()} == {keys.encrypted_privkey()}

    # our encoder, fed the same inputs and salts, gives the same bytes but the signature
    enc = VersionEncoder(keys, version, p.seqnum, p.k, p.n, size, salt=p.salt)
    records = {sh: [] for sh in range(TOTAL)}
    for segnum in range(enc.geometry.num_segments):
        start, end = enc.segment_range(segnum)
        salt = parsed[0].mdmf_block(segnum)[0] if version == MDMF_VERSION else None
        seg = enc.encode_segment(segnum, data[start:end], salt=salt)
        for sh in range(TOTAL):
            records[sh].append(seg.share_record(sh))
    ev = enc.finish()
    assert ev.prefix == p
    rsa.verify(rsa.public_key_from_der(parsed[0].verification_key), ev.signature,
               p.signed_bytes())
    for sh in range(TOTAL):
        mine = layout.parse_share(ev.pack_share(sh, b"".join(records[sh])))
        mine.signature = parsed[sh].signature
        assert layout.pack_share(mine) == raw[sh], "share %d differs from Tahoe's" % sh


@pytest.mark.parametrize("fmt,size,new_size", [("SDMF", 1000, 150_001),
                                               ("MDMF", 300_000, 270_000)])
def test_tahoe_reads_our_next_version(grid, fmt, size, new_size):
    client, _ = grid
    _, cap, files = tahoe_file(grid, fmt, size)
    version = SDMF_VERSION if fmt == "SDMF" else MDMF_VERSION
    containers = {sh: read_container(path) for sh, path in files.items()}
    first = layout.parse_share(containers[0][1])
    keys = MutableKeys.from_privkey(MutableKeys.from_cap(cap).privkey_from_encrypted(
        first.enc_privkey))
    new = os.urandom(new_size)
    ev, shares = encode_version(new, keys, version, first.prefix.seqnum + 1, NEEDED, TOTAL)
    for sh, path in files.items():
        write_container(path, containers[sh][0], shares[sh])
    got = client.download(cap.to_string().decode("ascii"))
    assert got == new, "Tahoe read %d bytes, not our %d-byte version 2" % (len(got), new_size)
    kind, details = client.info(cap.to_string().decode("ascii"))
    assert (details["size"], details["format"]) == (new_size, fmt), json.dumps(details)
    results = client.check(cap.to_string().decode("ascii"), verify=True)
    assert (results["healthy"], results["count-shares-good"],
            results["count-corrupt-shares"]) == (True, TOTAL, 0), results
