"""``tahoe debug`` against Tahoe-LAFS 1.20's own: its ``dump-share`` reads
the share files our storage nodes wrote (after ``add_lease``) and shows
every lease; ours reads the share files its nodes wrote; both print the
same lines where the formats say the same thing."""

import os
import re
import subprocess

import pytest
import pytest_twisted

from allmydata import uri
from allmydata.client import SecretHolder
from allmydata.immutable.checker import check_immutable
from allmydata.mutable.checker import check_mutable
from allmydata.testing import refvenv
from allmydata.testing.reference import ReferenceStorageGrid, TahoeClient, running

from .debug_grid import start_debug_grid, v1_copy
from .debug_helpers import lease_lines, run_debug
from .test_debug_caps import CAPS, NODEID, SECRET, b32

pytestmark = pytest.mark.interop

_EXPIRY = re.compile(r"(expires? in )(-?\d+)s( \(\d+ (days|hours)\))?")
#: tolerated difference of two "expire in" figures printed a moment apart
_SECONDS_APART = 120


@pytest.fixture(scope="module")
def tahoe_exe():
    return os.path.join(refvenv.ensure_ref_venv(), "bin", "tahoe")


def run_tahoe_debug(tahoe_exe, *args) -> str:
    proc = subprocess.run([tahoe_exe, "debug"] + [str(a) for a in args], capture_output=True,
                          text=True, env=refvenv.clean_env(), stdin=subprocess.DEVNULL,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _normalized(text, ours):
    """The output's lines, stripped, with the lease expiration figures taken
    out (returned apart), and without the lines only our tool prints (the
    container version and the hash-tree sizes)."""
    lines, expirations = [], []
    skipping = False
    for line in text.splitlines():
        if ours and line.startswith(" Hash trees ("):
            skipping = True
            continue
        if skipping:  # up to and including the blank line that ends the section
            skipping = bool(line.strip())
            continue
        if ours and line.strip().startswith("container version:"):
            continue
        m = _EXPIRY.search(line)
        if m:
            expirations.append(int(m.group(2)))
            line = _EXPIRY.sub(r"\1(when)", line)
        lines.append(line.strip())
    return lines, expirations


def assert_same_dump(ours_text, tahoe_text):
    ours, ours_exp = _normalized(ours_text, ours=True)
    theirs, their_exp = _normalized(tahoe_text, ours=False)
    assert ours == theirs
    assert len(ours_exp) == len(their_exp)
    for a, b in zip(ours_exp, their_exp):
        assert abs(a - b) <= _SECONDS_APART


# ---- Tahoe-LAFS reads our share files ----------------------------------------------------------
@pytest_twisted.async_yield_fixture(scope="module")
async def dgrid(tmp_path_factory):
    g = await start_debug_grid(tmp_path_factory.mktemp("debug-interop-grid"))
    try:
        yield g
    finally:
        await g.grid.stop()


async def _add_lease_as_another_client(dgrid, cap):
    """A check with add-lease by a client with other lease secrets than the
    uploader's: every share gets a second lease."""
    vcap = uri.from_string(cap).get_verifier()
    checker = check_immutable if isinstance(vcap, uri.CHKFileVerifierURI) else check_mutable
    r = await checker(vcap, dgrid.grid.client_node.storage_broker, add_lease=True,
                      secret_holder=SecretHolder(b"another client's lease secret...",
                                                 b"C" * 32))
    assert r.healthy


@pytest.mark.parametrize("kind", ["chk", "sdmf", "mdmf"])
@pytest_twisted.ensureDeferred
async def test_tahoe_dump_share_reads_our_shares_and_their_leases(dgrid, tahoe_exe, kind):
    cap = getattr(dgrid, kind + "_cap")
    await _add_lease_as_another_client(dgrid, cap)
    for path in dgrid.share_files(cap):
        theirs = run_tahoe_debug(tahoe_exe, "dump-share", "--offsets", path)
        rc, ours, err = run_debug("dump-share", "--offsets", path)
        assert (rc, err) == (0, "")
        if kind == "chk":
            leases = lease_lines(theirs)
            assert [line.split(",")[0] for line in leases] == [" Lease #0: owner=0",
                                                               " Lease #1: owner=1"]
        else:
            assert theirs.count(" Lease #") == 2
            assert " Lease #0:" in theirs and " Lease #1:" in theirs
        assert_same_dump(ours, theirs)


@pytest.mark.parametrize("kind", ["chk", "sdmf", "mdmf"])
def test_tahoe_dump_share_reads_version_1_containers(dgrid, tahoe_exe, tmp_path, kind):
    path = v1_copy(dgrid.share_files(getattr(dgrid, kind + "_cap"))[0], tmp_path)
    theirs = run_tahoe_debug(tahoe_exe, "dump-share", "--offsets", path)
    rc, ours, err = run_debug("dump-share", "--offsets", path)
    assert (rc, err) == (0, "")
    assert_same_dump(ours, theirs)


# ---- we read Tahoe-LAFS's share files ----------------------------------------------------------
@pytest.fixture(scope="module")
def tahoe_shares(tmp_path_factory, tahoe_exe):
    """A Tahoe-LAFS 1.20 grid holding a CHK, an SDMF and an MDMF file:
    (storage node directories, {kind: cap}).  Its nodes are stopped before
    the tests read the share files."""
    workdir = str(tmp_path_factory.mktemp("debug-tahoe-grid"))
    venv = refvenv.ensure_ref_venv()
    storage = ReferenceStorageGrid(venv, workdir, 3)
    client = TahoeClient(venv, os.path.join(workdir, "client"), 2, 3, 4)
    with running(storage, client) as nodes:
        caps = {"chk": client.upload(bytes(range(256)) * 2000),
                "sdmf": client.upload(b"tahoe sdmf " * 40, format="SDMF"),
                "mdmf": client.upload(b"tahoe mdmf " * 30000, format="MDMF")}
        nodedirs = [n.basedir for n in nodes]
    return nodedirs, caps


def _share_files(nodedirs):
    out = []
    for d in nodedirs:
        for root, dirs, files in os.walk(os.path.join(d, "storage", "shares")):
            dirs[:] = [x for x in dirs if x != "incoming"]
            out += [os.path.join(root, f) for f in files]
    return sorted(out)


def test_we_dump_tahoe_shares(tahoe_shares, tahoe_exe):
    nodedirs, caps = tahoe_shares
    files = _share_files(nodedirs)
    assert len(files) >= 3 * 4
    kinds = set()
    for path in files:
        theirs = run_tahoe_debug(tahoe_exe, "dump-share", "--offsets", path)
        rc, ours, err = run_debug("dump-share", "--offsets", path)
        assert (rc, err) == (0, "")
        kinds.add("mutable" if "Mutable slot found:" in ours else "immutable")
        assert_same_dump(ours, theirs)
    assert kinds == {"mutable", "immutable"}


def test_we_catalog_tahoe_shares(tahoe_shares, tahoe_exe):
    nodedirs, caps = tahoe_shares
    theirs = run_tahoe_debug(tahoe_exe, "catalog-shares", *nodedirs).splitlines()
    rc, ours, err = run_debug("catalog-shares", *nodedirs)
    assert (rc, err) == (0, "")
    ours = ours.splitlines()
    assert len(ours) == len(theirs) == len(_share_files(nodedirs))
    for a, b in zip(ours, theirs):
        wa, wb = a.split(" "), b.split(" ")
        assert wa[:-2] + wa[-1:] == wb[:-2] + wb[-1:]  # all but the seconds to expiry
        assert abs(int(wa[-2]) - int(wb[-2])) <= _SECONDS_APART
    for kind, cap in caps.items():
        si = b32(uri.from_string(cap).get_storage_index())
        rc, found, _ = run_debug("find-shares", si, *nodedirs)
        assert sorted(found.splitlines()) == sorted(
            run_tahoe_debug(tahoe_exe, "find-shares", si, *nodedirs).splitlines())
        assert found


# ---- dump-cap ----------------------------------------------------------------------------------
@pytest.mark.parametrize("heading", sorted(h for h in CAPS if h != "Literal Directory URI:"))
def test_dump_cap_as_tahoe(tahoe_exe, heading):
    # (Tahoe-LAFS 1.20 prints "unknown cap type" for a DIR2-LIT cap; ours shows its data)
    cap = CAPS[heading].to_string().decode()
    for extra in ([], ["--nodeid", b32(NODEID), "--client-secret", b32(SECRET)]):
        rc, ours, _ = run_debug("dump-cap", *extra, cap)
        assert rc == 0
        assert ours == run_tahoe_debug(tahoe_exe, "dump-cap", *extra, cap)
