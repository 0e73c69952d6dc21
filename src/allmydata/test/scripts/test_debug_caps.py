"""``tahoe debug dump-cap``: every kind of cap, the secrets derived for a
storage server, and bad caps, nodeids and secrets refused."""

import os
import urllib.parse

import pytest

from allmydata import uri
from allmydata.util import base32, hashutil

from .debug_helpers import fields, run_debug

NODEID = bytes(range(20))
SECRET = b"\x11" * 32


def b32(data) -> str:
    return base32.b2a_str(data)


def every_cap() -> dict:
    """{heading: cap} for one cap of each kind."""
    chk = uri.CHKFileURI(b"k" * 16, b"u" * 32, 3, 10, 123456)
    sdmf = uri.WriteableSSKFileURI(b"w" * 16, b"f" * 32)
    mdmf = uri.WriteableMDMFFileURI(b"W" * 16, b"F" * 32)
    lit = uri.LiteralFileURI(b"small file")
    return {
        "CHK File:": chk,
        "CHK Verifier URI:": chk.get_verifier(),
        "Literal File URI:": lit,
        "SDMF Writeable URI:": sdmf,
        "SDMF Read-only URI:": sdmf.get_readonly(),
        "SDMF Verifier URI:": sdmf.get_verifier(),
        "MDMF Writeable URI:": mdmf,
        "MDMF Read-only URI:": mdmf.get_readonly(),
        "MDMF Verifier URI:": mdmf.get_verifier(),
        "CHK Directory URI:": uri.ImmutableDirectoryURI(chk),
        "CHK Directory Verifier URI:": uri.ImmutableDirectoryURI(chk).get_verifier(),
        "Literal Directory URI:": uri.LiteralDirectoryURI(lit),
        "Directory Writeable URI:": uri.DirectoryURI(sdmf),
        "Directory Read-only URI:": uri.DirectoryURI(sdmf).get_readonly(),
        "Directory Verifier URI:": uri.DirectoryURI(sdmf).get_verifier(),
        "Directory Writeable URI: (MDMF)": uri.MDMFDirectoryURI(mdmf),
        "Directory Read-only URI: (MDMF)": uri.MDMFDirectoryURI(mdmf).get_readonly(),
        "Directory Verifier URI: (MDMF)": uri.MDMFDirectoryURI(mdmf).get_verifier(),
    }


CAPS = every_cap()


@pytest.mark.parametrize("heading", sorted(CAPS))
def test_dump_every_kind_of_cap(heading):
    cap = CAPS[heading]
    rc, out, err = run_debug("dump-cap", cap.to_string().decode())
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "" and lines[1] == heading.split(" (")[0]
    f = fields(out)
    file_cap = cap.get_filenode_cap() if hasattr(cap, "get_filenode_cap") else cap
    if isinstance(file_cap, uri.LiteralFileURI):
        assert f["data"] == "'small file'"
        assert "storage index" not in f
        return
    assert f["storage index"] == b32(cap.get_storage_index())
    if hasattr(file_cap, "fingerprint"):
        assert f["fingerprint"] == b32(file_cap.fingerprint)
    else:
        assert f["UEB hash"] == b32(file_cap.uri_extension_hash)
        assert (f["size"], f["k/N"]) == ("123456", "3/10")
    if hasattr(file_cap, "writekey"):
        assert f["writekey"] == b32(file_cap.writekey)
    if hasattr(file_cap, "readkey"):
        assert f["readkey"] == b32(file_cap.readkey)
    if hasattr(file_cap, "key"):
        assert f["key"] == b32(file_cap.key)


def _expected_secrets(storage_index) -> dict:
    crs = hashutil.my_renewal_secret_hash(SECRET)
    ccs = hashutil.my_cancel_secret_hash(SECRET)
    frs = hashutil.file_renewal_secret_hash(crs, storage_index)
    fcs = hashutil.file_cancel_secret_hash(ccs, storage_index)
    return {"client renewal secret": b32(crs), "file renewal secret": b32(frs),
            "lease renewal secret": b32(hashutil.bucket_renewal_secret_hash(frs, NODEID)),
            "client cancel secret": b32(ccs), "file cancel secret": b32(fcs),
            "lease cancel secret": b32(hashutil.bucket_cancel_secret_hash(fcs, NODEID))}


@pytest.mark.parametrize("heading", ["CHK File:", "SDMF Writeable URI:", "MDMF Writeable URI:",
                                     "Directory Writeable URI:"])
def test_secrets_for_a_server(heading):
    cap = CAPS[heading]
    rc, out, _ = run_debug("dump-cap", "--nodeid", b32(NODEID), "--client-secret", b32(SECRET),
                           cap.to_string().decode())
    assert rc == 0
    f = fields(out)
    for key, value in _expected_secrets(cap.get_storage_index()).items():
        assert f[key] == value
    writekey = getattr(getattr(cap, "filenode_uri", cap), "writekey", None)
    if writekey is not None:
        assert f["write_enabler"] == b32(hashutil.ssk_write_enabler_hash(writekey, NODEID))


def test_secrets_without_a_nodeid_stop_at_the_file():
    cap = CAPS["CHK File:"]
    rc, out, _ = run_debug("dump-cap", "-c", b32(SECRET), cap.to_string().decode())
    f = fields(out)
    assert rc == 0 and "file cancel secret" in f
    assert "lease renewal secret" not in f and "lease cancel secret" not in f


def test_client_dir_secret(tmp_path):
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "secret").write_text(b32(SECRET) + "\n")
    cap = CAPS["SDMF Writeable URI:"]
    rc, out, _ = run_debug("dump-cap", "-n", b32(NODEID), "-d", tmp_path, cap.to_string().decode())
    assert rc == 0
    assert fields(out)["lease cancel secret"] == \
        _expected_secrets(cap.get_storage_index())["lease cancel secret"]


def test_web_url_of_a_cap():
    cap = CAPS["MDMF Read-only URI:"].to_string().decode()
    url = "http://127.0.0.1:3456/uri/%s/child?t=info" % urllib.parse.quote(cap, safe="")
    rc, out, _ = run_debug("dump-cap", url)
    assert rc == 0 and out.splitlines()[1] == "MDMF Read-only URI:"


@pytest.mark.parametrize("args, words", [
    (["URI:CHK:nonsense"], "not a valid cap"),
    (["URI:SSK:aaaa:bbbb"], "not a valid cap"),
    (["hello"], "not a cap this version knows"),
    (["http://127.0.0.1:3456/file/x"], "does not name a cap"),
    (["--nodeid", "xyz", CAPS["CHK File:"].to_string().decode()], "--nodeid"),
    (["--client-secret", "NOT BASE32!", CAPS["CHK File:"].to_string().decode()],
     "--client-secret"),
])
def test_bad_arguments(args, words):
    rc, out, err = run_debug("dump-cap", *args)
    assert rc == 1 and out == ""
    assert err.startswith("tahoe debug dump-cap: error: ") and words in err


def test_unreadable_client_dir(tmp_path):
    rc, out, err = run_debug("dump-cap", "-d", tmp_path / "nowhere",
                             CAPS["CHK File:"].to_string().decode())
    assert rc == 1 and out == ""
    assert os.path.join(str(tmp_path / "nowhere"), "private", "secret") in err
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "secret").write_text("!!!\n")
    rc, _, err = run_debug("dump-cap", "-d", tmp_path, CAPS["CHK File:"].to_string().decode())
    assert rc == 1 and "does not hold a base32 lease secret" in err
