"""The node's log file: censored lines, owner-only files and directory."""

import os
import stat

import pytest
from twisted.logger import FileLogObserver, Logger
from twisted.python.failure import Failure

from allmydata import uri
from allmydata.scripts.logging import OwnerOnlyLogFile, censored_line
from allmydata.util import base32
from allmydata.util.logdir import ensure_log_dir, open_log_file

WRITEKEY = bytes(range(16))
CAP = uri.DirectoryURI(uri.WriteableSSKFileURI(WRITEKEY, bytes(32))).to_string().decode()
SWISSNUM = "k4hgvdxqsvrb5eydwyzgl7kijvqwlxzi"
FURL = "pb://sjtmwpzxqmwjbjjdv5tsmhdyg7zmhv5u@tcp:127.0.0.1:34567/" + SWISSNUM


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def read(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_lines_reach_the_file_censored(tmp_path, umask_022):
    logfile = OwnerOnlyLogFile("twistd.log", str(tmp_path))
    log = Logger(namespace="test", observer=FileLogObserver(logfile, censored_line))
    log.info("listing {cap} for {furl}", cap=CAP, furl=FURL)
    try:
        raise RuntimeError("could not read %r" % CAP.encode())
    except RuntimeError:
        log.failure("the listing failed", Failure())
    logfile.close()
    text = read(tmp_path / "twistd.log")
    assert "listing URI:DIR2:[CENSORED] for pb://sjtmwpzxqmwjbjjdv5tsmhdyg7zmhv5u@tcp:" \
           "127.0.0.1:34567/[CENSORED]" in text
    # the traceback is still there, without the cap its message quoted
    assert "the listing failed" in text and "Traceback" in text
    assert "RuntimeError: could not read b'URI:DIR2:[CENSORED]'" in text
    assert base32.b2a(WRITEKEY).decode() not in text and SWISSNUM not in text


def test_log_file_is_owner_only_from_the_start_and_after_rotation(tmp_path, umask_022):
    logfile = OwnerOnlyLogFile("twistd.log", str(tmp_path), rotateLength=100, maxRotatedFiles=3)
    path = tmp_path / "twistd.log"
    assert mode(path) == 0o600
    for i in range(20):
        logfile.write("line %d of the log, long enough to rotate soon\n" % i)
    logfile.close()
    names = sorted(os.listdir(tmp_path))
    assert names == ["twistd.log", "twistd.log.1", "twistd.log.2", "twistd.log.3"]
    for name in names:
        assert mode(tmp_path / name) == 0o600, name


def test_an_existing_log_file_is_appended_and_closed_to_others(tmp_path, umask_022):
    path = tmp_path / "twistd.log"
    path.write_text("earlier\n")
    os.chmod(path, 0o644)
    logfile = OwnerOnlyLogFile("twistd.log", str(tmp_path))
    assert mode(path) == 0o600
    logfile.write("later\n")
    logfile.close()
    assert read(path) == "earlier\nlater\n"


def test_log_dir_is_created_and_repaired_owner_only(tmp_path, umask_022):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert ensure_log_dir(str(fresh)) == str(fresh / "logs")
    assert mode(fresh / "logs") == 0o700

    old = tmp_path / "old"
    (old / "logs").mkdir(parents=True)
    os.chmod(old / "logs", 0o755)
    for name in ("twistd.log", "twistd.log.1", "tahoe-start.log"):
        (old / "logs" / name).write_text("x\n")
        os.chmod(old / "logs" / name, 0o644)
    (old / "logs" / "executable").write_text("x\n")
    os.chmod(old / "logs" / "executable", 0o755)
    ensure_log_dir(str(old))
    assert mode(old / "logs") == 0o700
    for name in ("twistd.log", "twistd.log.1", "tahoe-start.log"):
        assert mode(old / "logs" / name) == 0o600
    assert mode(old / "logs" / "executable") == 0o700


def test_open_log_file_truncates_or_appends_owner_only(tmp_path, umask_022):
    path = tmp_path / "out.log"
    with open_log_file(str(path)) as f:
        f.write(b"one\n")
    assert mode(path) == 0o600
    with open_log_file(str(path), append=True) as f:
        f.write(b"two\n")
    assert path.read_bytes() == b"one\ntwo\n"
    os.chmod(path, 0o666)
    with open_log_file(str(path)) as f:
        f.write(b"three\n")
    assert path.read_bytes() == b"three\n" and mode(path) == 0o600
