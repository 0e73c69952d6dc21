"""``tahoe backup`` against a client node's web API on a grid of real node
processes (ours, and Tahoe-LAFS 1.20's as the reference web API): the
snapshot in ``Archives/`` and ``Latest``, the summary lines, reuse through
the backup database, the exclude options, and a backup database shared with
Tahoe-LAFS 1.20's ``tahoe backup``."""

import json
import os
import re
import sqlite3
import urllib.parse
import urllib.request

import pytest

from allmydata.test.scripts.cli_runner import CLI, WEB_KINDS, web_node

SUMMARY = re.compile(r"^ (\d+) files uploaded \((\d+) reused\), (\d+) files skipped, "
                     r"(\d+) directories created \((\d+) reused\), (\d+) directories skipped$")
PROGRESS = re.compile(r"^Backing up (\d+)/(\d+)\.\.\. \d+h \d+m \d+s elapsed\.\.\.$")


@pytest.fixture(scope="module", params=WEB_KINDS)
def web(request, tmp_path_factory):
    with web_node(request.param, str(tmp_path_factory.mktemp("backup-" + request.param))) as w:
        yield w


@pytest.fixture
def cli(web, tmp_path):
    c = CLI(web, tmp_path / "node")
    c.ok("create-alias", "tahoe")
    return c


def make_tree(root):
    """Twelve files in three directories, one of them nested, one empty."""
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    for i in range(6):
        (root / ("f%d.txt" % i)).write_bytes(b"file %d\n" % i * (i + 1))
    for i in range(4):
        (root / "sub" / ("s%d.bin" % i)).write_bytes(os.urandom(100 + i))
    (root / "sub" / "deep" / "caf\u00e9.txt").write_bytes(b"deep\n")
    (root / "sub" / "deep" / "big.bin").write_bytes(os.urandom(70_000))
    return root


def local_tree(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            out[os.path.normpath(os.path.join(rel, d))] = None
        for f in filenames:
            with open(os.path.join(dirpath, f), "rb") as fh:
                out[os.path.normpath(os.path.join(rel, f))] = fh.read()
    return out


def _get(url):
    with urllib.request.urlopen(url) as r:
        return r.read()


def grid_tree(node_url, cap, prefix=""):
    """``{relative path: bytes or None}`` of the directory ``cap``, read
    through the web API."""
    listing = json.loads(_get(node_url + "uri/%s?t=json" % urllib.parse.quote(cap, safe="")))
    out = {}
    for name, (kind, info) in listing[1]["children"].items():
        path = os.path.join(prefix, name)
        child = info.get("ro_uri") or info["rw_uri"]
        if kind == "dirnode":
            out[path] = None
            out.update(grid_tree(node_url, child, path))
        else:
            out[path] = _get(node_url + "uri/%s" % urllib.parse.quote(child, safe=""))
    return out


def summary(out):
    lines = out.splitlines()
    for line in lines[:-2]:
        assert PROGRESS.match(line), line
    m = SUMMARY.match(lines[-2])
    assert m, out
    assert re.match(r"^ backup done, elapsed time: \d+:\d\d:\d\d$", lines[-1]), out
    return tuple(int(g) for g in m.groups())


def child_cap(cli, path):
    listing = json.loads(cli.ok("ls", "--json", path).out)
    return listing[1].get("ro_uri") or listing[1]["rw_uri"]


def archives(cli, target):
    listing = json.loads(cli.ok("ls", "--json", target + "/Archives").out)
    return listing[1]["children"]


def test_backup_then_unchanged_rerun(cli, tmp_path):
    tree = make_tree(tmp_path / "tree")
    r = cli.ok("backup", tree, "tahoe:bk")
    # 12 files; directories: tree, sub, deep, empty
    assert summary(r.out) == (12, 0, 0, 4, 0, 0)
    progress = [PROGRESS.match(x).groups() for x in r.out.splitlines()[:-2]]
    assert progress[-1] == ("16", "16") and len(progress) == 16
    latest = child_cap(cli, "tahoe:bk/Latest")
    assert latest.startswith("URI:DIR2-CHK:")
    assert grid_tree(cli.web.url, latest) == local_tree(tree)
    names = list(archives(cli, "tahoe:bk"))
    assert len(names) == 1 and re.match(r"^\d{4}-\d\d-\d\d_\d\d:\d\d:\d\dZ$", names[0])
    assert child_cap(cli, "tahoe:bk/Archives/" + names[0]) == latest
    assert os.path.exists(cli.nodedir / "private" / "backupdb.sqlite")

    r2 = cli.ok("backup", tree, "tahoe:bk")
    assert summary(r2.out) == (0, 12, 0, 0, 4, 0)
    assert child_cap(cli, "tahoe:bk/Latest") == latest
    assert 1 <= len(archives(cli, "tahoe:bk")) <= 2  # two runs in one second share a name

    # --ignore-timestamps uploads every file again (an immutable upload of the
    # same bytes gives the same caps, so every directory is reused)
    r3 = cli.ok("backup", "--ignore-timestamps", tree, "tahoe:bk")
    assert summary(r3.out) == (12, 0, 0, 0, 4, 0)

    # -q leaves out the counts line, keeping the progress and the last line
    lines = cli.ok("-q", "backup", tree, "tahoe:bk").out.splitlines()
    assert [PROGRESS.match(x) is not None for x in lines[:-1]] == [True] * 16
    assert lines[-1].startswith(" backup done, elapsed time: ")


def test_changed_file_uploaded_alone(cli, tmp_path):
    tree = make_tree(tmp_path / "tree")
    cli.ok("backup", tree, "tahoe:bk")
    (tree / "sub" / "deep" / "caf\u00e9.txt").write_bytes(b"changed, and longer\n")
    (tree / "sub" / "new.txt").write_bytes(b"new\n")
    r = cli.ok("backup", "-v", tree, "tahoe:bk")
    out = r.out.splitlines()
    # verbose: one line per upload and per reuse, then the checked counts
    assert out[-2] == " 0 files checked, 0 directories checked"
    counts = SUMMARY.match(out[-3]).groups()
    # 2 uploaded; deep, sub and the root made again, empty reused
    assert tuple(map(int, counts)) == (2, 11, 0, 3, 1, 0)
    assert sum(1 for x in out if x.startswith("uploading ")) == 2
    assert sum(1 for x in out if x.startswith("skipping ")) == 11
    assert sum(1 for x in out if x.startswith(" re-using old directory for ")) == 1
    assert grid_tree(cli.web.url, child_cap(cli, "tahoe:bk/Latest")) == local_tree(tree)


def test_excludes_and_skips(cli, tmp_path):
    tree = make_tree(tmp_path / "tree")
    (tree / ".git").mkdir()
    (tree / ".git" / "HEAD").write_bytes(b"ref\n")
    (tree / "junk.tmp").write_bytes(b"x")
    (tree / "sub" / "build").mkdir()
    (tree / "sub" / "build" / "out.o").write_bytes(b"o")
    patterns = tmp_path / "patterns.txt"
    patterns.write_text("build\n*.bin\n", encoding="utf-8")
    os.symlink("f0.txt", tree / "link")
    r = cli.run("backup", "--exclude-vcs", "--exclude", "*.tmp", "--exclude-from-utf-8",
                patterns, tree, "tahoe:bk")
    assert r.rc == 2, r.err
    assert "WARNING: cannot backup symlink " in r.err and "link" in r.err
    # files: f0-f5 and café.txt; the .bin files, build/, .git and junk.tmp are out
    assert summary(r.out) == (7, 0, 1, 4, 0, 0)
    got = grid_tree(cli.web.url, child_cap(cli, "tahoe:bk/Latest"))
    assert sorted(got) == sorted(["empty", "sub", os.path.join("sub", "deep"),
                                  os.path.join("sub", "deep", "caf\u00e9.txt")]
                                 + ["f%d.txt" % i for i in range(6)])


def test_missing_source_refused(cli, tmp_path):
    r = cli.fails("backup", tmp_path / "nope", "tahoe:bk")
    assert "is not a directory" in r.err
    r = cli.fails("backup", tmp_path, "nosuch:bk")
    assert "Unknown alias" in r.err
    r = cli.fails("backup", "--exclude-from-utf-8", tmp_path / "none.txt", tmp_path, "tahoe:bk")
    assert "Error opening exclude file" in r.err
    assert not (cli.nodedir / "private" / "backupdb.sqlite").exists()
    assert "bk" not in json.loads(cli.ok("ls", "--json", "tahoe:").out)[1]["children"]


def test_reference_reuses_our_backupdb(cli, tmp_path):
    """Tahoe-LAFS 1.20's ``tahoe backup``, on the node directory we backed up
    from, reuses every file and directory our run recorded, and its summary
    lines have the same shape as ours."""
    tree = make_tree(tmp_path / "tree")
    ours = cli.ok("backup", tree, "tahoe:bk")
    latest = child_cap(cli, "tahoe:bk/Latest")
    theirs = cli.reference("backup", tree, "tahoe:bk")
    assert theirs.rc == 0, theirs.err
    assert summary(theirs.out) == (0, 12, 0, 0, 4, 0)
    assert len(theirs.out.splitlines()) == len(ours.out.splitlines())
    assert child_cap(cli, "tahoe:bk/Latest") == latest
    # and ours reuses what theirs recorded after a change
    (tree / "f0.txt").write_bytes(b"changed by a test, longer\n")
    theirs = cli.reference("backup", tree, "tahoe:bk")
    assert summary(theirs.out) == (1, 11, 0, 1, 3, 0)
    assert summary(cli.ok("backup", tree, "tahoe:bk").out) == (0, 12, 0, 0, 4, 0)


def test_undecodable_name_skipped(cli, tmp_path):
    tree = make_tree(tmp_path / "tree")
    bad = os.path.join(os.fsencode(tree), b"bad\xff.txt")
    with open(bad, "wb") as f:
        f.write(b"x")
    r = cli.run("backup", tree, "tahoe:bk")
    assert r.rc == 2, r.err
    assert 'WARNING: cannot backup file b"' in r.err and "not valid UTF-8" in r.err
    assert summary(r.out) == (12, 0, 1, 4, 0, 0)


def _backupdb(cli):
    return sqlite3.connect(str(cli.nodedir / "private" / "backupdb.sqlite"))


def test_old_records_checked_then_reused_or_uploaded(cli, tmp_path):
    """Records older than two months are checked before reuse: healthy caps
    are reused, a cap whose file is not on the grid is uploaded again."""
    tree = make_tree(tmp_path / "tree")
    cli.ok("backup", tree, "tahoe:bk")
    latest = child_cap(cli, "tahoe:bk/Latest")
    db = _backupdb(cli)
    db.execute("UPDATE last_upload SET last_checked=0")
    db.execute("UPDATE directories SET last_checked=0")
    db.commit()
    r = cli.ok("backup", "-v", tree, "tahoe:bk")
    lines = r.out.splitlines()
    assert lines[-2] == " 12 files checked, 4 directories checked"
    assert tuple(map(int, SUMMARY.match(lines[-3]).groups())) == (0, 12, 0, 0, 4, 0)
    assert child_cap(cli, "tahoe:bk/Latest") == latest
    # the checks renewed the records: the next run checks nothing
    r = cli.ok("backup", "-v", tree, "tahoe:bk")
    assert r.out.splitlines()[-2] == " 0 files checked, 0 directories checked"

    # a record pointing at a file that is not on the grid (another key, so
    # another storage index) fails its check and the file is uploaded again
    path = str(tree / "sub" / "deep" / "big.bin")  # a CHK file (small ones are LIT)
    (fileid,) = db.execute("SELECT fileid FROM local_files WHERE path=?", (path,)).fetchone()
    (cap,) = db.execute("SELECT filecap FROM caps WHERE fileid=?", (fileid,)).fetchone()
    parts = bytes(cap).split(b":")
    assert parts[1] == b"CHK"
    parts[2] = (b"a" if parts[2][:1] != b"a" else b"b") + parts[2][1:]
    db.execute("UPDATE caps SET filecap=? WHERE fileid=?", (b":".join(parts), fileid))
    db.execute("UPDATE last_upload SET last_checked=0 WHERE fileid=?", (fileid,))
    db.commit()
    db.close()
    r = cli.ok("backup", "-v", tree, "tahoe:bk")
    lines = r.out.splitlines()
    assert lines[-2] == " 1 files checked, 0 directories checked"
    assert tuple(map(int, SUMMARY.match(lines[-3]).groups())) == (1, 11, 0, 0, 4, 0)
    assert child_cap(cli, "tahoe:bk/Latest") == latest


def _normalized(out):
    """The lines of a ``backup -v`` output with elapsed times blanked, sorted
    (the two tools may list a directory in different orders)."""
    out = re.sub(r"\d+h \d+m \d+s elapsed", "T elapsed", out)
    out = re.sub(r"elapsed time: \d+:\d\d:\d\d", "elapsed time: T", out)
    return sorted(out.splitlines())


def test_verbose_output_matches_reference(web, tmp_path):
    """Our ``backup -v`` and Tahoe-LAFS 1.20's, each with a node directory
    (and backup database) of its own, print the same lines -- first run
    and re-run (the caps match too: both upload through the same node)."""
    tree = make_tree(tmp_path / "tree")
    ours = CLI(web, tmp_path / "ours")
    ours.ok("create-alias", "tahoe")
    theirs = CLI(web, tmp_path / "theirs")
    (theirs.nodedir / "private" / "aliases").write_text(
        (ours.nodedir / "private" / "aliases").read_text())
    for _ in range(2):
        a = ours.ok("backup", "-v", tree, "tahoe:a")
        b = theirs.reference("backup", "-v", tree, "tahoe:b")
        assert b.rc == 0, b.err
        assert _normalized(a.out) == _normalized(b.out)
