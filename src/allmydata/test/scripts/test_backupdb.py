"""The backup database of ``tahoe backup``: file and directory reuse, the
check schedule, upgrade from version 1, and the exclude options."""

import argparse
import os
import sqlite3
import subprocess

import pytest

from allmydata.scripts import backupdb
from allmydata.scripts.backupdb import DAY, BackupDB, BackupDBError, check_probability
from allmydata.scripts.tahoe_backup import exclude_patterns, name_filter
from allmydata.testing import refvenv


class FakeTime:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def clock():
    return FakeTime()


@pytest.fixture
def db(tmp_path, clock):
    d = BackupDB.open(str(tmp_path / "backupdb.sqlite"), now=clock, chance=lambda: 0.5)
    yield d
    d.close()


def test_unknown_file_must_upload(db):
    assert db.lookup_file("/a", 3, 10, 11) == (None, False)


def test_unchanged_file_reused(db):
    db.did_upload_file(b"URI:CHK:aa:bb:2:5:3", "/a", 3, 10, 11)
    assert db.lookup_file("/a", 3, 10, 11) == (b"URI:CHK:aa:bb:2:5:3", False)


@pytest.mark.parametrize("change", [(4, 10, 11), (3, 12, 11), (3, 10, 12)])
def test_changed_file_forgotten(db, change):
    db.did_upload_file(b"URI:CHK:aa:bb:2:5:3", "/a", 3, 10, 11)
    assert db.lookup_file("/a", *change) == (None, False)
    # the entry is gone, so even the old stat no longer matches
    assert db.lookup_file("/a", 3, 10, 11) == (None, False)


def test_ignore_timestamps_uploads_again(db):
    db.did_upload_file(b"URI:CHK:aa:bb:2:5:3", "/a", 3, 10, 11)
    assert db.lookup_file("/a", 3, 10, 11, use_timestamps=False) == (None, False)


def test_check_schedule(db, clock):
    assert check_probability(10 * DAY) == 0.0
    assert check_probability(45 * DAY) == pytest.approx(0.5)
    assert check_probability(90 * DAY) == 1.0
    db.did_upload_file(b"URI:CHK:c", "/a", 1, 1, 1)
    clock.t += 40 * DAY   # probability 1/3 < chance 0.5: no check
    assert db.lookup_file("/a", 1, 1, 1) == (b"URI:CHK:c", False)
    clock.t += 10 * DAY   # probability 2/3 > 0.5: check
    assert db.lookup_file("/a", 1, 1, 1) == (b"URI:CHK:c", True)
    db.did_check_file_healthy(b"URI:CHK:c")
    assert db.lookup_file("/a", 1, 1, 1) == (b"URI:CHK:c", False)


def test_directory_reuse_and_check(db, clock):
    contents = {"a": b"URI:CHK:1", "caf\u00e9": b"URI:DIR2-CHK:2"}
    h = db.dirhash(contents)
    assert h == db.dirhash(dict(reversed(list(contents.items()))))
    assert h != db.dirhash({"a": b"URI:CHK:1"})
    assert db.lookup_directory(h) == (None, False)
    db.did_create_directory(b"URI:DIR2-CHK:x", h)
    assert db.lookup_directory(h) == (b"URI:DIR2-CHK:x", False)
    clock.t += 70 * DAY
    assert db.lookup_directory(h) == (b"URI:DIR2-CHK:x", True)
    db.did_check_directory_healthy(b"URI:DIR2-CHK:x")
    assert db.lookup_directory(h) == (b"URI:DIR2-CHK:x", False)


def test_reopen_keeps_records(tmp_path):
    path = str(tmp_path / "b.sqlite")
    d = BackupDB.open(path)
    d.did_upload_file(b"URI:CHK:q", "/x", 1, 2, 3)
    d.close()
    d = BackupDB.open(path)
    assert d.lookup_file("/x", 1, 2, 3) == (b"URI:CHK:q", False)
    d.close()


def test_version1_upgraded(tmp_path):
    path = str(tmp_path / "v1.sqlite")
    con = sqlite3.connect(path)
    con.executescript(backupdb._V1_TABLES)
    con.execute("INSERT INTO version VALUES (1)")
    con.commit()
    con.close()
    d = BackupDB.open(path)
    d.did_create_directory(b"URI:DIR2-CHK:y", b"hash")
    d.close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT version FROM version").fetchone() == (2,)
    con.close()


@pytest.mark.parametrize("content", [b"not a database at all" * 100])
def test_unusable_file_refused(tmp_path, content):
    path = tmp_path / "bad.sqlite"
    path.write_bytes(content)
    with pytest.raises(BackupDBError, match="unusable"):
        BackupDB.open(str(path))
    assert path.read_bytes() == content


def test_future_version_refused(tmp_path):
    path = str(tmp_path / "v9.sqlite")
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE version (version INTEGER); INSERT INTO version VALUES (9);")
    con.commit()
    con.close()
    with pytest.raises(BackupDBError, match="version 9"):
        BackupDB.open(path)


def _opts(**kw):
    base = dict(exclude=[], exclude_from=[], exclude_vcs=False)
    base.update(kw)
    return argparse.Namespace(**base)


def test_exclude_patterns(tmp_path):
    f = tmp_path / "ex.txt"
    f.write_text("*.tmp\n\n  build  \nn\u00e9*\n", encoding="utf-8")
    pats = exclude_patterns(_opts(exclude=["*.o", " "], exclude_from=[str(f)]))
    assert pats == sorted(["*.o", "*.tmp", "build", "n\u00e9*"])
    keep = name_filter(pats)
    assert keep(["a.o", "a.c", "x.tmp", "build", "builder", "n\u00e9e", "ne"]) == \
        ["a.c", "builder", "ne"]


def test_exclude_vcs():
    keep = name_filter(exclude_patterns(_opts(exclude_vcs=True)))
    assert keep([".git", ".hg", "CVS", "_darcs", "src", ".gitx"]) == ["src", ".gitx"]


def test_exclude_from_missing_file(tmp_path):
    with pytest.raises(Exception, match="Error opening exclude file"):
        exclude_patterns(_opts(exclude_from=[str(tmp_path / "nope")]))


@pytest.mark.interop
def test_reference_reads_our_database(tmp_path):
    """Tahoe-LAFS 1.20's backupdb module finds the records we wrote, and we
    find the ones it writes."""
    ref = os.path.join(refvenv.ensure_ref_venv(), "bin", "python")
    path = str(tmp_path / "b.sqlite")
    local = tmp_path / "f.txt"
    local.write_bytes(b"hello")
    st = os.stat(local)
    d = BackupDB.open(path)
    d.did_upload_file(b"URI:CHK:ours", str(local), st.st_size, int(st.st_mtime),
                      int(st.st_ctime))
    h = d.dirhash({"f.txt": b"URI:CHK:ours"})
    d.did_create_directory(b"URI:DIR2-CHK:ours", h)
    d.close()
    script = (
        "import sys\n"
        "from allmydata.scripts import backupdb\n"
        "db = backupdb.get_backupdb(sys.argv[1])\n"
        "r = db.check_file(sys.argv[2])\n"
        "print(r.was_uploaded())\n"
        "print(db.check_directory({'f.txt': b'URI:CHK:ours'}).was_created())\n"
        # its argument order: filecap, path, mtime, ctime, size
        "db.did_upload_file(b'URI:CHK:theirs', '/their/file', 2, 3, 1)\n")
    out = subprocess.run([ref, "-c", script, path, str(local)], capture_output=True,
                         check=True, text=True, env=refvenv.clean_env()).stdout
    assert out.splitlines() == ["b'URI:CHK:ours'", "b'URI:DIR2-CHK:ours'"]
    d = BackupDB.open(path)
    assert d.lookup_file("/their/file", 1, 2, 3) == (b"URI:CHK:theirs", False)
    d.close()
