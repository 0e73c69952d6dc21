"""``NODEDIR/running.process``: ``PID START_TIME`` of a running node.

Written as Tahoe-LAFS 1.20 writes it (the pid and the process's creation
time from psutil, separated by a space), under a ``running.process.lock``
file lock, so tools written for one work with the other.
"""

import fcntl
import os

import psutil

PIDFILE = "running.process"


class ProcessInTheWay(Exception):
    """Another live process owns this node directory."""


class InvalidPidFile(Exception):
    """running.process does not hold 'PID START_TIME'."""


def pidfile_path(basedir) -> str:
    return os.path.join(basedir, PIDFILE)


class _Lock:
    def __init__(self, basedir):
        self._path = pidfile_path(basedir) + ".lock"

    def __enter__(self):
        self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def parse_pidfile(path):
    """(pid, start_time) from a pid file; raise InvalidPidFile."""
    with open(path) as f:
        content = f.read().strip()
    try:
        pid, start = content.split()
        return int(pid), float(start)
    except ValueError:
        raise InvalidPidFile("%s does not hold 'PID START_TIME': %r" % (path, content[:80]))


def running_pid(basedir):
    """The pid of the live process named by running.process, or None.

    A pid whose process is gone, or whose start time differs (a recycled
    pid), does not count.
    """
    path = pidfile_path(basedir)
    try:
        pid, start = parse_pidfile(path)
    except (FileNotFoundError, InvalidPidFile):
        return None
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - start) > 1.0 or proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.NoSuchProcess:
        return None
    return pid


def claim(basedir) -> None:
    """Write our pid to running.process, or raise ProcessInTheWay."""
    with _Lock(basedir):
        other = running_pid(basedir)
        if other is not None and other != os.getpid():
            raise ProcessInTheWay("a node is already running in %s as PID %d" % (basedir, other))
        me = psutil.Process()
        with open(pidfile_path(basedir), "w") as f:
            f.write("%d %s\n" % (me.pid, me.create_time()))


def release(basedir) -> None:
    """Remove running.process if it names us."""
    with _Lock(basedir):
        path = pidfile_path(basedir)
        try:
            pid, _ = parse_pidfile(path)
        except (FileNotFoundError, InvalidPidFile):
            return
        if pid == os.getpid():
            os.unlink(path)
