"""``tahoe admin generate-keypair`` / ``derive-pubkey`` and the Ed25519 key
text form, checked against each other and against Tahoe-LAFS 1.20's CLI."""

import os
import subprocess

import pytest

from allmydata.crypto import ed25519
from allmydata.scripts.runner import main
from allmydata.testing import refvenv


def tahoe(capsys, *args):
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def pair_of(output: str):
    lines = output.splitlines()
    assert len(lines) == 2, output
    assert lines[0].startswith("private: priv-v0-"), output
    assert lines[1].startswith("public: pub-v0-"), output
    return lines[0].split(" ", 1)[1], lines[1].split(" ", 1)[1]


def reference_tahoe(*args):
    venv = refvenv.ensure_ref_venv()
    return subprocess.run([os.path.join(venv, "bin", "tahoe")] + list(args),
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False,
                          env=refvenv.clean_env())


def test_generate_then_derive(capsys):
    rc, out, _ = tahoe(capsys, "admin", "generate-keypair")
    assert rc == 0
    priv, pub = pair_of(out)
    assert len(priv) == len("priv-v0-") + 52
    assert len(pub) == len("pub-v0-") + 52
    rc, out, _ = tahoe(capsys, "admin", "derive-pubkey", priv)
    assert rc == 0
    assert pair_of(out) == (priv, pub)


def test_generated_keys_differ(capsys):
    _, out1, _ = tahoe(capsys, "admin", "generate-keypair")
    _, out2, _ = tahoe(capsys, "admin", "generate-keypair")
    assert pair_of(out1)[0] != pair_of(out2)[0]


def test_key_strings_round_trip_and_sign():
    priv, pub = ed25519.generate_keypair()
    text = ed25519.private_key_to_string(priv)
    priv2, pub2 = ed25519.private_key_from_string(text + b"\n")
    assert ed25519.private_key_to_string(priv2) == text
    assert ed25519.public_key_to_string(pub2) == ed25519.public_key_to_string(pub)
    pub3 = ed25519.public_key_from_string(ed25519.public_key_to_string(pub).decode("ascii"))
    sig = ed25519.sign(priv, b"announcement")
    assert len(sig) == ed25519.SIGNATURE_SIZE
    ed25519.verify(pub3, sig, b"announcement")
    with pytest.raises(ed25519.BadSignatureError):
        ed25519.verify(pub3, sig, b"announcement!")
    with pytest.raises(ed25519.BadSignatureError):
        ed25519.verify(pub3, sig[:-1] + bytes([sig[-1] ^ 1]), b"announcement")


@pytest.mark.parametrize("text, message", [
    ("pub-v0-msy7yoz3uf6o62eexiamtiveiqkpbgtcg2n5a4wyjwzlvhxct2va", "must start with 'priv-v0-'"),
    ("priv-v0-abc", "not valid base32"),
    ("priv-v0-FZRCNU4ZYMKOYGLM33TEGPWMEVLR2NMDLYBFHGMM35AZMWWOGCJQ", "not valid base32"),
    ("priv-v0-fzrcnu4zymkoyglm33tegpwmevlr2nmdlybfhgmm35azmwwo", "encodes 30 bytes"),
    ("priv-v0-", "encodes 0 bytes"),
    ("priv-v0-fzrcnu4zymkoyglm33tegpwmevlr2nmdlybfhgmm35azmwwogcjqé", "non-ASCII"),
])
def test_derive_pubkey_refuses_bad_keys(capsys, text, message):
    rc, out, err = tahoe(capsys, "admin", "derive-pubkey", text)
    assert rc == 1
    assert out == ""
    assert "tahoe admin: error:" in err
    assert message in err


def test_public_key_parse_refuses_private_prefix():
    priv, _ = ed25519.generate_keypair()
    with pytest.raises(ed25519.BadKeyError, match="must start with 'pub-v0-'"):
        ed25519.public_key_from_string(ed25519.private_key_to_string(priv))


def test_admin_without_subcommand_fails(capsys):
    rc, _, err = tahoe(capsys, "admin")
    assert rc == 1
    assert "generate-keypair" in err


@pytest.mark.interop
def test_reference_derives_our_public_key(capsys):
    _, out, _ = tahoe(capsys, "admin", "generate-keypair")
    priv, pub = pair_of(out)
    proc = reference_tahoe("admin", "derive-pubkey", priv)
    assert proc.returncode == 0, proc.stderr
    assert pair_of(proc.stdout) == (priv, pub)


@pytest.mark.interop
def test_we_derive_the_references_public_key(capsys):
    proc = reference_tahoe("admin", "generate-keypair")
    assert proc.returncode == 0, proc.stderr
    priv, pub = pair_of(proc.stdout)
    rc, out, _ = tahoe(capsys, "admin", "derive-pubkey", priv)
    assert rc == 0
    assert pair_of(out) == (priv, pub)
