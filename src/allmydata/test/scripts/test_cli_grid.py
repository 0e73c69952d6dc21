"""The file-store commands (mkdir, ls, put, get, cp, mv, ln, unlink, the alias
commands) against a client node's web API, on a grid of real node
processes.

Every test runs twice, against the ``web`` fixture:

* ``tahoe-1.20``: a Tahoe-LAFS 1.20 client on three Tahoe-LAFS 1.20 storage
  nodes -- the reference web API, which shows that the CLI speaks it right;
* ``ours``: our client node on three of our storage nodes.

The CLI runs in-process (``runner.main`` with its standard streams
replaced): it only makes blocking HTTP requests to another process.  Each
test has a node directory of its own (``node.url`` and ``private/aliases``)
and makes its own ``tahoe:`` directory, so the tests do not see each other's
files.  Some tests also run the real ``tahoe`` 1.20 CLI on the same node
directory and compare its output with ours.
"""

import json
import os
import re

import pytest

from allmydata.test.scripts.cli_runner import CLI, NEEDED, TOTAL, WEB_KINDS, web_node


@pytest.fixture(scope="module", params=WEB_KINDS)
def web(request, tmp_path_factory):
    with web_node(request.param, str(tmp_path_factory.mktemp("cli-" + request.param))) as w:
        yield w


@pytest.fixture
def cli(web, tmp_path):
    c = CLI(web, tmp_path / "node")
    assert c.ok("create-alias", "tahoe").out == "Alias 'tahoe' created\n"
    return c


def make_tree(root):
    """A local tree: binary, empty, non-ASCII names, nesting."""
    (root / "d1" / "d2").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "one.txt").write_bytes(b"one\n")
    (root / "blob.bin").write_bytes(os.urandom(150_000))
    (root / "nothing.txt").write_bytes(b"")
    (root / "d1" / "two.txt").write_bytes(b"two\n" * 30)
    (root / "d1" / "d2" / "caf\u00e9 \u2603.txt").write_bytes(b"snow" * 100)
    return root


def tree_of(root):
    """``{relative path: bytes or None for a directory}``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            out[os.path.normpath(os.path.join(rel, d))] = None
        for f in filenames:
            with open(os.path.join(dirpath, f), "rb") as fh:
                out[os.path.normpath(os.path.join(rel, f))] = fh.read()
    return out


def children(cli, path):
    kind, data = json.loads(cli.ok("ls", "--json", path).out)
    assert kind == "dirnode", (path, kind)
    return data["children"]


LONG_LINE = re.compile(r"^(d|-|\?)(r|-)(w|-)(x|-) +(\d+|-|\?) ([A-Z][a-z]{2} \d\d (\d\d:\d\d| \d{4})|-) +(.+)$")


# --- aliases, mkdir, ls --------------------------------------------------------

def test_aliases(cli):
    rootcap = (cli.nodedir / "private" / "aliases").read_text().split("tahoe: ")[1].strip()
    assert rootcap.startswith("URI:DIR2:")
    r = cli.fails("create-alias", "tahoe:")
    assert "Alias 'tahoe' already exists!" in r.err
    other = cli.cap("mkdir")
    assert other.startswith("URI:DIR2:")
    assert cli.ok("add-alias", "other", other).out == "Alias 'other' added\n"
    assert cli.ok("list-aliases").out == "  other: %s\n  tahoe: %s\n" % (other, rootcap)
    listed = json.loads(cli.ok("list-aliases", "--json").out)
    assert listed["tahoe"]["readwrite"] == rootcap
    assert listed["tahoe"]["readonly"].startswith("URI:DIR2-RO:")
    # the same table, printed by Tahoe-LAFS 1.20 from the same files
    for args in (["list-aliases"], ["list-aliases", "--readonly-uri"]):
        ref = cli.reference(*args)
        assert ref.rc == 0 and ref.out == cli.ok(*args).out, (args, ref)
    cli.ok("put", "-", "other:f.txt", stdin=b"in the other directory")
    assert cli.ok("ls", "other:").out == "f.txt\n"
    assert cli.ok("ls").out == ""


def test_mkdir_and_ls(cli):
    assert cli.cap("mkdir").startswith("URI:DIR2:")
    assert cli.cap("mkdir", "--format=mdmf").startswith("URI:DIR2-MDMF:")
    sub = cli.cap("mkdir", "--format", "MDMF", "tahoe:sub")
    assert sub.startswith("URI:DIR2-MDMF:")
    deep = cli.cap("mkdir", "tahoe:a/b/c")  # parents are made
    assert deep.startswith("URI:DIR2:")
    assert cli.cap("mkdir", "tahoe:sub") == sub  # already there: the same directory
    cli.ok("put", "-", "tahoe:a/file.txt", stdin=b"x" * 100)
    cli.ok("put", "-m", "-", "tahoe:a/mut.txt", stdin=b"mutable")
    assert cli.ok("ls").out == "a\nsub\n"
    assert cli.ok("ls", "tahoe:").out == "a\nsub\n"
    assert cli.ok("ls", "-F", "a").out == "b/\nfile.txt\nmut.txt*\n"
    assert cli.ok("ls", "tahoe:a/b").out == "c\n"
    assert cli.ok("ls", "tahoe:a/b/c").out == ""
    lines = cli.ok("ls", "-l", "tahoe:a").out.splitlines()
    parsed = [LONG_LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m.group(1) + m.group(2) + m.group(3) + m.group(4), m.group(5), m.group(8).strip())
            for m in parsed] == [("drwx", "-", "b"), ("-r--", "100", "file.txt"),
                                 ("-rw-", "?", "mut.txt")]
    assert cli.ok("ls", "-l", "tahoe:a/file.txt").out.startswith("-r-- 100 ")
    uris = dict(line.split() for line in cli.ok("ls", "--uri", "a").out.splitlines())
    assert uris["b"].startswith("URI:DIR2:") and uris["mut.txt"].startswith("URI:SSK:")
    ro = dict(line.split() for line in cli.ok("ls", "--readonly-uri", "a").out.splitlines())
    assert ro["b"].startswith("URI:DIR2-RO:") and ro["mut.txt"].startswith("URI:SSK-RO:")
    assert ro["file.txt"] == uris["file.txt"] and ro["file.txt"].startswith("URI:CHK:")
    assert cli.ok("ls", uris["b"]).out == "c\n"  # a bare cap
    assert cli.ok("ls", uris["b"] + "/c").out == ""
    kind, data = json.loads(cli.ok("ls", "--json", "tahoe:a/file.txt").out)
    assert (kind, data["size"], data["mutable"]) == ("filenode", 100, False)
    # the same listings by Tahoe-LAFS 1.20's CLI, character for character
    for args in (["ls"], ["ls", "-l", "a"], ["ls", "-lF", "--uri", "tahoe:a"],
                 ["ls", "--readonly-uri", "a"], ["ls", "-F", "a"], ["ls", "-l", "a/file.txt"]):
        ref = cli.reference(*args)
        assert ref.rc == 0 and ref.out == cli.ok(*args).out, (args, ref)
    # read-only views
    rootro = json.loads(cli.ok("list-aliases", "--json").out)["tahoe"]["readonly"]
    lines = cli.ok("ls", "-l", rootro + "/a").out.splitlines()
    assert [line[:4] for line in lines] == ["dr-x", "-r--", "-r--"]


def test_ls_errors(cli):
    r = cli.fails("ls", "tahoe:missing", rc=2)
    assert r.err == "No such file or directory\n"
    assert cli.fails("ls", "nope:").err.endswith(
        "Unknown alias 'nope', please create it with 'tahoe add-alias' or 'tahoe create-alias'.\n")
    cli.ok("put", "-", "tahoe:f", stdin=b"file")
    r = cli.fails("ls", "tahoe:f/child")
    assert "400 Bad Request" in r.err and "no children" in r.err.lower()
    r = cli.fails("ls", "-u", "http://127.0.0.1:1/", "tahoe:")
    assert "cannot talk to the node's web API at http://127.0.0.1:1" in r.err


# --- put and get ------------------------------------------------------------------

def test_put_and_get_with_paths(cli, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(80_000))
    r = cli.ok("put", src, "tahoe:dir/sub/file.bin")  # parents are made
    cap = r.out.strip()
    assert cap.startswith("URI:CHK:") and cap.endswith(":%d:%d:80000" % (NEEDED, TOTAL))
    assert r.err == "201 Created\n"
    assert cli.ok("get", "tahoe:dir/sub/file.bin").stdout == src.read_bytes()
    assert cli.ok("get", "dir/sub/file.bin", "-").stdout == src.read_bytes()
    out = tmp_path / "out.bin"
    r = cli.ok("get", "tahoe:dir/sub/file.bin", out)
    assert out.read_bytes() == src.read_bytes()
    assert "retrieved and written to" in r.err
    dircap = cli.ok("ls", "--uri", "tahoe:").out.split()[1]
    assert cli.ok("get", dircap + "/sub/file.bin").stdout == src.read_bytes()
    r = cli.ok("put", "-", "plain.txt", stdin=b"no alias: under tahoe:")
    assert r.err == "201 Created\n"
    r = cli.ok("put", "-", "tahoe:plain.txt", stdin=b"replaced")
    assert r.err == "200 OK\n"
    assert cli.ok("get", "plain.txt").stdout == b"replaced"
    r = cli.fails("get", "tahoe:dir/none")
    assert "404 Not Found" in r.err and "No such child" in r.err and "none" in r.err
    r = cli.fails("put", src, "tahoe:dir")  # a directory is not a file
    assert "PUT" in r.err and ("400" in r.err or "409" in r.err)


@pytest.mark.parametrize("args, prefix", [(["-m"], "URI:SSK:"), (["--mutable"], "URI:SSK:"),
                                           (["--format=SDMF"], "URI:SSK:"),
                                           (["--format", "mdmf"], "URI:MDMF:"),
                                           (["--format=chk"], "URI:CHK:")])
def test_put_formats(cli, args, prefix):
    data = os.urandom(1000)
    cap = cli.cap("put", *args, "-", stdin=data)
    assert cap.startswith(prefix), cap
    assert cli.ok("get", cap).stdout == data
    cap = cli.cap("put", *args, "-", "tahoe:f", stdin=data)
    assert cap.startswith(prefix), cap
    _, info = json.loads(cli.ok("ls", "--json", "f").out)
    assert info["format"] == prefix[4:-1].replace("SSK", "SDMF")
    assert info["mutable"] == (prefix != "URI:CHK:")


def test_put_into_mutable_files_changes_them_in_place(cli):
    cap = cli.cap("put", "-m", "-", "tahoe:m.txt", stdin=b"version 1")
    assert cli.cap("put", "-", "tahoe:m.txt", stdin=b"version 2") == cap  # same file, changed
    assert cli.ok("get", "tahoe:m.txt").stdout == b"version 2"
    assert cli.cap("put", "-", cap, stdin=b"version 3 through its write cap") == cap
    assert cli.ok("get", "m.txt").stdout == b"version 3 through its write cap"
    readcap = cli.ok("ls", "--readonly-uri", "m.txt").out.split()[1]
    assert readcap.startswith("URI:SSK-RO:")
    assert cli.ok("get", readcap).stdout == b"version 3 through its write cap"
    assert cli.run("put", "-", readcap, stdin=b"refused").rc == 1
    assert cli.ok("get", cap).stdout == b"version 3 through its write cap"


def test_put_with_private_key(cli, tmp_path):
    from allmydata.crypto import rsa
    from allmydata.mutable.common import MutableKeys
    priv, _ = rsa.generate_keypair()
    pem = tmp_path / "key.pem"
    from cryptography.hazmat.primitives import serialization
    pem.write_bytes(priv.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    cap = cli.cap("put", "--mutable", "--private-key-path", pem, "-", stdin=b"keyed")
    assert cap == MutableKeys.from_privkey(priv).writecap().to_string().decode("ascii")
    assert cli.ok("get", cap).stdout == b"keyed"
    r = cli.fails("put", "--private-key-path", pem, "-", stdin=b"x")
    assert "only for mutable files" in r.err


# --- cp ---------------------------------------------------------------------------

def test_cp_local_tree_to_grid_and_back(cli, tmp_path):
    local = make_tree(tmp_path / "loc")
    r = cli.ok("cp", "-r", local, "tahoe:")
    assert r.out == "Success: files copied\n"
    assert cli.ok("ls", "-F", "loc").out == "blob.bin\nd1/\nempty/\nnothing.txt\none.txt\n"
    assert cli.ok("get", "tahoe:loc/d1/d2/caf\u00e9 \u2603.txt").stdout == b"snow" * 100
    out = tmp_path / "out"
    out.mkdir()
    assert cli.ok("cp", "-r", "tahoe:loc", out).out == "Success: files copied\n"
    assert tree_of(out / "loc") == tree_of(local)
    # a directory given by its cap has no name: its contents are copied
    dcap = cli.ok("ls", "--uri", "tahoe:loc").out.split("d1 ")[1].split()[0]
    assert cli.ok("cp", "-r", dcap, out / "contents").out == "Success: files copied\n"
    assert tree_of(out / "contents") == tree_of(local / "d1")
    # a missing local target with several sources is a new directory
    cli.ok("cp", local / "one.txt", "tahoe:loc/d1/two.txt", out / "two")
    assert sorted(os.listdir(out / "two")) == ["one.txt", "two.txt"]


def test_cp_files(cli, tmp_path):
    src = tmp_path / "one.txt"
    src.write_bytes(b"one\n")
    assert cli.ok("cp", src, "tahoe:").out == "Success: files copied\n"
    assert cli.ok("cp", src, "tahoe:copy.txt").out == "Success: file copied\n"
    cli.ok("mkdir", "tahoe:dir")
    cli.ok("cp", src, tmp_path / "one.txt", "tahoe:dir")  # into an existing directory
    cli.ok("cp", src, "tahoe:new/")  # a missing grid path ending in / is a directory
    assert cli.ok("ls", "tahoe:").out == "copy.txt\ndir\nnew\none.txt\n"
    assert cli.ok("ls", "new").out == "one.txt\n"
    assert cli.ok("get", "dir/one.txt").stdout == b"one\n"
    out = tmp_path / "out"
    out.mkdir()
    assert cli.ok("cp", "tahoe:copy.txt", out).out == "Success: files copied\n"
    assert cli.ok("cp", "tahoe:copy.txt", out / "renamed.txt").out == "Success: file copied\n"
    assert (out / "copy.txt").read_bytes() == (out / "renamed.txt").read_bytes() == b"one\n"
    cap = cli.ok("ls", "--uri", "copy.txt").out.split()[1]
    cli.ok("cp", "--caps-only", "tahoe:copy.txt", out / "cap.txt")
    assert (out / "cap.txt").read_text() == cap
    cli.ok("cp", cap, out / "bycap.txt")  # a file cap as the source
    assert (out / "bycap.txt").read_bytes() == b"one\n"
    (out / "renamed.txt").write_bytes(b"local")  # local to local also works
    cli.ok("cp", out / "renamed.txt", out / "again.txt")
    assert (out / "again.txt").read_bytes() == b"local"
    src.write_bytes(b"changed\n")  # an existing grid file is replaced
    cli.ok("cp", src, "tahoe:copy.txt")
    assert cli.ok("get", "copy.txt").stdout == b"changed\n"


def test_cp_errors(cli, tmp_path):
    local = make_tree(tmp_path / "loc")
    r = cli.fails("cp", local, "tahoe:")
    assert "cannot copy directories without --recursive" in r.err
    r = cli.fails("cp", "tahoe:nothing", tmp_path)
    assert "No such file or directory 'tahoe:nothing'" in r.err
    r = cli.fails("cp", tmp_path / "nothing", "tahoe:")
    assert "No such file or directory" in r.err
    r = cli.fails("cp", local / "one.txt", local / "blob.bin", local / "one.txt")
    assert "copying multiple things requires target be a directory" in r.err
    cli.ok("put", "-", "tahoe:f", stdin=b"f")
    r = cli.fails("cp", "-r", local / "d1", "tahoe:f")
    assert "cannot copy directory into a file" in r.err
    r = cli.fails("cp", "tahoe:f", str(tmp_path / "nodir") + "/")
    assert "ends with a slash" in r.err
    r = cli.fails("cp", "nope:f", tmp_path)
    assert "Unknown alias 'nope'" in r.err
    rootro = json.loads(cli.ok("list-aliases", "--json").out)["tahoe"]["readonly"]
    r = cli.fails("cp", local / "one.txt", rootro)
    assert "read-only" in r.err


def test_cp_within_the_grid(cli, tmp_path):
    local = make_tree(tmp_path / "loc")
    cli.ok("cp", "-r", local, "tahoe:")
    cli.ok("put", "-m", "-", "tahoe:loc/mut.txt", stdin=b"mutable contents")
    assert cli.ok("cp", "tahoe:loc/one.txt", "tahoe:one-copy.txt").out == "Success: file copied\n"
    caps = dict(line.split() for line in cli.ok("ls", "--uri", "tahoe:").out.splitlines())
    assert caps["one-copy.txt"] == cli.ok("ls", "--uri", "loc/one.txt").out.split()[1]
    cli.ok("cp", "tahoe:loc/mut.txt", "tahoe:mut-copy.txt")  # a mutable file: new bytes
    _, info = json.loads(cli.ok("ls", "--json", "mut-copy.txt").out)
    assert info["mutable"] is False and cli.ok("get", "mut-copy.txt").stdout == b"mutable contents"
    cli.ok("cp", "-r", "tahoe:loc", "tahoe:backup")
    assert cli.ok("ls", "backup").out == "loc\n"
    out = tmp_path / "out"
    cli.ok("cp", "-r", "tahoe:backup/loc", out)
    expected = tree_of(local)
    expected["mut.txt"] = b"mutable contents"
    assert tree_of(out / "loc") == expected
    original = dict(line.split() for line in cli.ok("ls", "--uri", "loc").out.splitlines())
    copied = dict(line.split() for line in cli.ok("ls", "--uri", "backup/loc").out.splitlines())
    assert copied["d1"] != original["d1"]  # a new directory, not a second link
    assert copied["one.txt"] == original["one.txt"]  # an immutable file is linked
    cli.ok("put", "-", "tahoe:backup/loc/d1/two.txt", stdin=b"only in the copy")
    assert cli.ok("get", "loc/d1/two.txt").stdout == b"two\n" * 30


def test_cp_merges_into_existing_directories(cli, tmp_path):
    local = make_tree(tmp_path / "loc")
    cli.ok("mkdir", "tahoe:loc/d1/keep")
    cap = cli.cap("put", "-m", "-", "tahoe:loc/one.txt", stdin=b"old mutable")
    cli.ok("cp", "-r", local, "tahoe:")
    assert cli.ok("ls", "-F", "loc/d1").out == "d2/\nkeep/\ntwo.txt\n"
    assert cli.ok("ls", "--uri", "loc/one.txt").out.split()[1] == cap  # written in place
    assert cli.ok("get", "loc/one.txt").stdout == b"one\n"


# --- mv, ln, unlink ---------------------------------------------------------------

def test_mv_ln_unlink(cli):
    cli.ok("put", "-", "tahoe:a.txt", stdin=b"A")
    cli.ok("mkdir", "tahoe:dir")
    cap = cli.ok("ls", "--uri", "a.txt").out.split()[1]
    assert cli.ok("mv", "tahoe:a.txt", "tahoe:b.txt").out == "OK\n"
    assert cli.ok("ls").out == "b.txt\ndir\n"
    r = cli.fails("mv", "tahoe:b.txt", "tahoe:dir")
    assert r.err == "Error: You can't overwrite a directory with a file\n"
    assert cli.ok("ls").out == "b.txt\ndir\n"
    cli.ok("mv", "tahoe:b.txt", "tahoe:dir/")  # into the directory, same name
    assert cli.ok("ls", "-F").out == "dir/\n"
    assert cli.ok("ls", "--uri", "dir").out == "b.txt %s\n" % cap
    cli.ok("ln", "tahoe:dir/b.txt", "tahoe:c.txt")
    cli.ok("ln", "dir/b.txt", "tahoe:deep/er/")  # parents are made
    assert cli.ok("ls", "--uri", "deep/er/b.txt").out == "b.txt %s\n" % cap
    assert cli.ok("get", "c.txt").stdout == b"A"
    assert cli.ok("ls", "dir").out == "b.txt\n"  # ln leaves the original
    cli.ok("mv", "tahoe:deep", "tahoe:dir/deep")  # directories move too
    assert cli.ok("ls", "-F").out == "c.txt\ndir/\n"
    assert cli.ok("ls", "dir/deep/er").out == "b.txt\n"
    cli.ok("put", "-", "tahoe:d.txt", stdin=b"D")
    cli.ok("mv", "tahoe:d.txt", "tahoe:c.txt")  # a file may replace a file
    assert cli.ok("get", "c.txt").stdout == b"D"
    cli.ok("mv", "tahoe:c.txt", "tahoe:c.txt")  # onto itself: still there
    assert cli.ok("get", "c.txt").stdout == b"D"
    r = cli.fails("mv", "tahoe:nothing", "tahoe:x")
    assert r.err.startswith("Error: ") and "No such child" in r.err and "nothing" in r.err
    assert cli.ok("unlink", "tahoe:c.txt").out == "200 OK\n"
    assert cli.ok("rm", "dir/b.txt").out == "200 OK\n"
    assert cli.ok("ls", "-F").out == "dir/\n"
    assert cli.ok("ls", "dir").out == "deep\n"
    r = cli.fails("unlink", "tahoe:c.txt")
    assert "404 Not Found" in r.err and "No such child" in r.err and "c.txt" in r.err
    assert cli.fails("unlink", "tahoe:").err.endswith(
        "'tahoe unlink' can only unlink directory entries, so a path must be given.\n")
