"""``tahoe debug dump-share``, ``find-shares``, ``catalog-shares`` and
``corrupt-share`` on share files our storage nodes wrote, and on files
that are not shares or are damaged."""

import os
import random
import time

import pytest
import pytest_twisted

from allmydata import uri
from allmydata.mutable.layout import unpack_header
from allmydata.scripts.debug import corrupt_share
from allmydata.storage.immutable import ImmutableShareFile
from allmydata.storage.mutable import DATA_OFFSET, MutableShareFile
from allmydata.testing.storagegrid import CONTAINER_HEADER, share_layout
from allmydata.util import base32, hashutil
from allmydata.util.idlib import nodeid_b2a

from .debug_grid import CHK_DATA, MDMF_DATA, SDMF_DATA, start_debug_grid, v1_copy
from .debug_helpers import fields, lease_lines, run_debug

MONTH = 31 * 24 * 3600


@pytest_twisted.async_yield_fixture(scope="module")
async def dgrid(tmp_path_factory):
    g = await start_debug_grid(tmp_path_factory.mktemp("debug-grid"))
    try:
        yield g
    finally:
        await g.grid.stop()


def _seconds(expire_text) -> int:
    """``2678399s (30 days)`` -> 2678399"""
    return int(expire_text.split("s", 1)[0])


# ---- dump-share: immutable -------------------------------------------------------------------
def test_dump_immutable_share(dgrid):
    cap = uri.from_string(dgrid.chk_cap)
    path = dgrid.share_files(dgrid.chk_cap)[0]
    rc, out, err = run_debug("dump-share", path)
    assert (rc, err) == (0, "")
    f = fields(out)
    assert f["share filename"] == "'%s'" % path
    assert f["version"] == "1"
    assert f["container version"] == "2"
    assert int(f["file_size"]) == len(CHK_DATA) == cap.size
    assert int(f["needed_shares"]) == cap.needed_shares == 2
    assert int(f["total_shares"]) == cap.total_shares == 4
    assert int(f["num_segments"]) == 3
    assert f["codec_name"] == "crs"
    assert f["UEB_hash"] == base32.b2a_str(cap.uri_extension_hash)
    assert f["verify-cap"] == cap.get_verifier().to_string().decode()
    lay = share_layout(path)
    assert int(f["data"]) == lay.plaintext_hash_tree - lay.data
    assert int(f["validation"]) == lay.uri_extension - lay.plaintext_hash_tree
    # three segments: trees of 4 leaves (7 nodes); 4 shares: a chain of the share's own leaf,
    # its sibling and the other half's root
    assert f["block_hashes"] == f["crypttext_hash_tree"] == f["plaintext_hash_tree"] == "7"
    assert f["share_hashes"] == "3"
    assert "Section Offsets" not in out
    (lease,) = lease_lines(out)
    assert lease.startswith(" Lease #0: owner=0, expire in ")
    assert MONTH - 600 < _seconds(lease.split("expire in ")[1]) <= MONTH


def test_dump_immutable_share_offsets(dgrid):
    path = dgrid.share_files(dgrid.chk_cap)[1]
    rc, out, _ = run_debug("dump-share", "--offsets", path)
    assert rc == 0
    f = fields(out)
    lay = share_layout(path)
    assert f["share data"] == str(CONTAINER_HEADER)
    for label, name in (("block data", "data"), ("crypttext_hash_tree", "crypttext_hash_tree"),
                        ("block_hashes", "block_hashes"), ("share_hashes", "share_hashes"),
                        ("uri_extension", "uri_extension")):
        where = CONTAINER_HEADER + getattr(lay, name)
        assert f[label] == "%d   (0x%x)" % (where, where)
    assert int(f["leases"]) == os.path.getsize(path) - 72


def test_dump_immutable_leases_only(dgrid):
    path = dgrid.share_files(dgrid.chk_cap)[0]
    rc, out, _ = run_debug("dump-share", "--leases-only", path)
    assert rc == 0
    assert "file_size" not in out and "verify-cap" not in out
    assert len(lease_lines(out)) == 1


def test_dump_share_shows_every_lease(dgrid, tmp_path):
    """A second lease (add_lease with other secrets) is listed with its owner."""
    path = dgrid.copy_share(dgrid.chk_cap, tmp_path)
    ImmutableShareFile(path).add_lease(7, b"r" * 32, b"c" * 32, int(time.time()) + 3 * 3600)
    rc, out, _ = run_debug("dump-share", path)
    assert rc == 0
    first, second = lease_lines(out)
    assert first.startswith(" Lease #0: owner=0")
    assert second.startswith(" Lease #1: owner=7, expire in ")
    assert second.endswith("hours)")


# ---- dump-share: mutable ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["SDMF", "MDMF"])
def test_dump_mutable_share(dgrid, kind):
    cap = dgrid.sdmf_cap if kind == "SDMF" else dgrid.mdmf_cap
    data = SDMF_DATA if kind == "SDMF" else MDMF_DATA
    u = uri.from_string(cap)
    path = dgrid.share_files(cap)[0]
    rc, out, err = run_debug("dump-share", path)
    assert (rc, err) == (0, "")
    assert "Mutable slot found:" in out
    f = fields(out)
    assert f["share_type"] == kind
    assert f["container version"] == "2"
    storage_node = next(n for n, d in zip(dgrid.grid.storage_nodes, dgrid.grid.storage_dirs)
                        if path.startswith(d + os.sep))
    assert f["WE for nodeid"] == nodeid_b2a(storage_node.nodeid)
    assert f["write_enabler"] == base32.b2a_str(
        hashutil.ssk_write_enabler_hash(u.writekey, storage_node.nodeid))
    assert f["num_extra_leases"] == "0"
    assert int(f["data_length"]) == MutableShareFile(path).data_length
    assert f["seqnum"] == "1"
    assert (f["required_shares"], f["total_shares"]) == ("2", "4")
    assert int(f["datalen"]) == len(data)
    assert f["verify-cap"] == u.get_verifier().to_string().decode()
    assert f["secrets are for nodeid"] == nodeid_b2a(storage_node.nodeid)
    assert f["renew_secret"].startswith("hash:")
    assert f["cancel_secret"].startswith("hash:")
    assert out.count(" Lease #") == 1 and f["ownerid"] == "1"
    (expires,) = [line for line in out.splitlines() if line.startswith("  expires in ")]
    assert MONTH - 600 < _seconds(expires.split("expires in ")[1]) <= MONTH
    with open(path, "rb") as fh:
        fh.seek(DATA_OFFSET)
        _prefix, offsets = unpack_header(fh.read(123))
    rc, out, _ = run_debug("dump-share", "--offsets", path)
    f = fields(out)
    assert f["share data"] == "%d   (0x%x)" % (DATA_OFFSET, DATA_OFFSET)
    assert f["block data"] == "%d   (0x%x)" % (DATA_OFFSET + offsets["share_data"],
                                               DATA_OFFSET + offsets["share_data"])
    assert f["end of share data"].startswith(str(DATA_OFFSET + offsets["EOF"]) + " ")


def test_dump_mutable_leases_only(dgrid):
    path = dgrid.share_files(dgrid.sdmf_cap)[0]
    rc, out, _ = run_debug("dump-share", "--leases-only", path)
    assert rc == 0
    assert "Lease #0:" in out
    assert "SDMF contents" not in out and "verify-cap" not in out


@pytest.mark.parametrize("kind", ["chk", "sdmf", "mdmf"])
def test_dump_version_1_containers(dgrid, tmp_path, kind):
    """Containers of version 1 keep lease secrets in clear: the same share
    reads the same, and a mutable lease shows its secrets as they are."""
    cap = getattr(dgrid, kind + "_cap")
    src = dgrid.share_files(cap)[0]
    path = v1_copy(src, tmp_path)
    rc, out, err = run_debug("dump-share", path)
    assert (rc, err) == (0, "")
    f = fields(out)
    assert f["container version"] == "1"
    assert f["verify-cap"] == uri.from_string(cap).get_verifier().to_string().decode()
    _rc, out_v2, _ = run_debug("dump-share", src)
    same = ("file_size", "UEB_hash", "seqnum", "root_hash", "datalen", "block_hash_tree")
    assert {k: f[k] for k in same if k in f} == {k: fields(out_v2)[k] for k in same if k in f}
    if kind == "chk":
        (lease,) = lease_lines(out)
        assert lease.startswith(" Lease #0: owner=0, expire in ") and lease.endswith("(6 days)")
    else:
        assert f["renew_secret"] == base32.b2a_str(b"R" * 32)
        assert f["cancel_secret"] == base32.b2a_str(b"K" * 32)


# ---- find-shares and catalog-shares ----------------------------------------------------------
def test_find_shares(dgrid):
    for cap in (dgrid.chk_cap, dgrid.sdmf_cap, dgrid.mdmf_cap):
        rc, out, _ = run_debug("find-shares", dgrid.si_s(cap), *dgrid.nodedirs)
        assert rc == 0
        assert sorted(out.splitlines()) == sorted(dgrid.share_files(cap))


def test_find_shares_nothing_found(dgrid, tmp_path):
    rc, out, err = run_debug("find-shares", "a" * 26, *dgrid.nodedirs, tmp_path)
    assert (rc, out, err) == (0, "", "")


@pytest.mark.parametrize("si", ["not-base32!", "abc", "a" * 27])
def test_find_shares_bad_storage_index(dgrid, si):
    rc, out, err = run_debug("find-shares", si, *dgrid.nodedirs)
    assert rc == 1 and out == ""
    assert "tahoe debug find-shares: error:" in err and "storage index" in err


def test_catalog_shares(dgrid):
    rc, out, err = run_debug("catalog-shares", *dgrid.nodedirs)
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    chk = uri.from_string(dgrid.chk_cap)
    want = {}
    for cap in (dgrid.chk_cap, dgrid.sdmf_cap, dgrid.mdmf_cap):
        for path in dgrid.share_files(cap):
            want[path] = cap
    assert len(lines) == len(want)
    for line in lines:
        words = line.split(" ")
        path = words[-1].strip("'")
        cap = want.pop(path)
        assert words[1] == dgrid.si_s(cap)
        assert words[2] == "2/4"
        assert 0 < int(words[-2]) <= MONTH
        if cap == dgrid.chk_cap:
            assert words[0] == "CHK"
            assert int(words[3]) == len(CHK_DATA)
            assert words[4] == base32.b2a_str(chk.uri_extension_hash)
        else:
            assert words[0] == ("SDMF" if cap == dgrid.sdmf_cap else "MDMF")
            data = SDMF_DATA if cap == dgrid.sdmf_cap else MDMF_DATA
            assert int(words[3]) == len(data)
            assert words[4].startswith("#1:")
    assert want == {}


def test_catalog_shares_reports_damaged_shares_and_lists_the_rest(dgrid, tmp_path):
    node = tmp_path / "node"
    shares = node / "storage" / "shares"
    good = dgrid.copy_share(dgrid.chk_cap, shares)
    si_dir = os.path.dirname(good)
    garbage = os.path.join(si_dir, "7")
    with open(garbage, "wb") as f:
        f.write(b"\x00\x00\x00\x09 this is not a share" * 3)
    truncated = dgrid.copy_share(dgrid.sdmf_cap, shares)
    with open(truncated, "r+b") as f:
        f.truncate(DATA_OFFSET + 60)
    os.makedirs(shares / "incoming" / "ab", exist_ok=True)
    rc, out, err = run_debug("catalog-shares", node, tmp_path / "no-such-node")
    assert rc == 1
    lines = out.splitlines()
    assert any(line.startswith("CHK ") and line.endswith("'%s'" % good) for line in lines)
    assert "UNKNOWN really-unknown '%s'" % garbage in lines
    assert "Error processing '%s'" % truncated in err


def test_catalog_shares_reports_unreadable_directories_and_lists_the_rest(dgrid, tmp_path):
    shares = tmp_path / "node" / "storage" / "shares"
    good = dgrid.copy_share(dgrid.chk_cap, shares)
    not_a_prefix = shares / "not-a-prefix"  # a file where a prefix directory should be
    not_a_prefix.write_bytes(b"x")
    not_an_si = os.path.join(os.path.dirname(os.path.dirname(good)), "a" * 26)
    with open(not_an_si, "wb") as f:  # a file where a storage index directory should be
        f.write(b"x")
    rc, out, err = run_debug("catalog-shares", tmp_path / "node")
    assert rc == 1
    assert [line.split(" ")[-1] for line in out.splitlines()] == ["'%s'" % good]
    assert sorted(err.splitlines()) == sorted(
        "Error processing '%s': Not a directory" % path for path in (not_an_si, not_a_prefix))


def test_catalog_shares_needs_a_node_directory():
    rc, out, err = run_debug("catalog-shares")
    assert rc == 2 and "NODEDIRS" in err


# ---- corrupt-share ---------------------------------------------------------------------------
def _differing_bits(before: bytes, after: bytes) -> list:
    assert len(before) == len(after)
    return [(i, bit) for i, (a, b) in enumerate(zip(before, after)) if a != b
            for bit in range(8) if (a ^ b) >> bit & 1]


@pytest.mark.parametrize("kind", ["chk", "sdmf", "mdmf"])
def test_corrupt_share_flips_one_bit_of_the_block_data(dgrid, tmp_path, kind):
    cap = getattr(dgrid, kind + "_cap")
    path = dgrid.copy_share(cap, tmp_path)
    before = open(path, "rb").read()
    rc, out, err = run_debug("corrupt-share", path)
    assert (rc, err) == (0, "")
    after = open(path, "rb").read()
    ((where, bit),) = _differing_bits(before, after)
    rng, flipped = out.split()
    start, end = (int(x) for x in rng.strip("[):").split(".."))
    assert flipped == "%d.b%d" % (where, bit)
    assert start <= where < end
    if kind == "chk":
        lay = share_layout(path)
        assert (start, end) == (CONTAINER_HEADER + lay.data,
                                CONTAINER_HEADER + lay.plaintext_hash_tree)
    else:
        _prefix, offsets = unpack_header(before[DATA_OFFSET:DATA_OFFSET + 123])
        last = "enc_privkey" if kind == "sdmf" else "block_hash_tree"
        assert (start, end) == (DATA_OFFSET + offsets["share_data"], DATA_OFFSET + offsets[last])


def test_corrupt_share_at_an_offset(dgrid, tmp_path):
    path = dgrid.copy_share(dgrid.chk_cap, tmp_path)
    before = open(path, "rb").read()
    rc, out, _ = run_debug("corrupt-share", "--offset", "100", path)
    assert rc == 0
    ((where, bit),) = _differing_bits(before, open(path, "rb").read())
    assert where == 100 and out.split()[1] == "100.b%d" % bit


def test_corrupt_share_refuses_offsets_outside_the_share_data(dgrid, tmp_path):
    path = dgrid.copy_share(dgrid.chk_cap, tmp_path)
    before = open(path, "rb").read()
    for offset in ("4", str(len(before) - 10), str(len(before) + 5), "nowhere"):
        rc, out, err = run_debug("corrupt-share", "--offset", offset, path)
        assert rc == 1 and "tahoe debug corrupt-share: error: --offset" in err
    assert open(path, "rb").read() == before


def test_corrupt_share_random_choice_is_the_callers(dgrid, tmp_path):
    path = dgrid.copy_share(dgrid.sdmf_cap, tmp_path)
    before = open(path, "rb").read()
    with open(os.devnull, "w") as out:
        first = corrupt_share(path, "block-random", out, random.Random(5))
        assert open(path, "rb").read() != before
        second = corrupt_share(path, "block-random", out, random.Random(5))
    assert first == second
    assert open(path, "rb").read() == before  # the same bit flipped back


# ---- malformed input -------------------------------------------------------------------------
def test_not_a_share_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is a text file and not a share\n")
    for tool in ("dump-share", "corrupt-share"):
        rc, out, err = run_debug(tool, path)
        assert rc == 1
        assert "tahoe debug %s: error: %s: not a share file" % (tool, path) in err
    assert path.read_text() == "hello, this is a text file and not a share\n"


@pytest.mark.parametrize("make", ["empty", "missing", "directory"])
def test_unreadable_share_file(tmp_path, make):
    path = tmp_path / "x"
    if make == "empty":
        path.write_bytes(b"")
    elif make == "directory":
        path.mkdir()
    rc, _, err = run_debug("dump-share", path)
    assert rc == 1 and "tahoe debug dump-share: error: %s: " % path in err
    assert "Traceback" not in err


@pytest.mark.parametrize("kind", ["chk", "sdmf", "mdmf"])
@pytest.mark.parametrize("keep", [20, 300, 2000, -200])
def test_truncated_share(dgrid, tmp_path, kind, keep):
    path = dgrid.copy_share(getattr(dgrid, kind + "_cap"), tmp_path)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(keep if keep > 0 else size + keep)
    rc, out, err = run_debug("dump-share", path)
    assert rc == 1, out
    assert "tahoe debug dump-share: error: %s: " % path in err
    assert "Traceback" not in err


def test_mutable_share_with_garbage_in_its_slot(dgrid, tmp_path):
    path = dgrid.copy_share(dgrid.sdmf_cap, tmp_path)
    with open(path, "r+b") as f:
        f.seek(DATA_OFFSET)
        f.write(b"\x07" + b"\xff" * 200)
    rc, out, err = run_debug("dump-share", path)
    # version byte 7: the slot holds neither format; the container is still shown
    assert rc == 0 and "share_type: unknown" in out and "Lease #0:" in out
    with open(path, "r+b") as f:
        f.seek(DATA_OFFSET)
        f.write(b"\x00" + b"\xff" * 200)
    rc, out, err = run_debug("dump-share", path)
    assert rc == 1 and "damaged SDMF share header" in err
