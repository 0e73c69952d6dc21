"""``NODEDIR/logs``: the node's log directory, for its owner's eyes only.

Even censored, a log tells who talked to the node, what it stored and where
(file names, server ids), so the directory is mode 0700 and every file the
node writes in it is created with mode 0600: given at ``open``, so that there
is no moment at which another user could open it.  A directory or files left
readable by an earlier run (or by a tool that made ``logs/`` first) are
closed to others whenever the directory is opened for logging.
"""

import os
import stat

LOG_DIR_MODE = 0o700
LOG_FILE_MODE = 0o600


def ensure_log_dir(basedir) -> str:
    """Create (or close to others) ``BASEDIR/logs`` and the files in it that
    this user owns; return the directory's path."""
    logdir = os.path.join(basedir, "logs")
    os.makedirs(logdir, mode=LOG_DIR_MODE, exist_ok=True)
    os.chmod(logdir, LOG_DIR_MODE)
    uid = os.getuid()
    for name in os.listdir(logdir):
        path = os.path.join(logdir, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue  # removed meanwhile (a rotation)
        if stat.S_ISREG(st.st_mode) and st.st_uid == uid and st.st_mode & 0o077:
            os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
    return logdir


def open_log_fd(path, flags) -> int:
    """``os.open`` of a log file with ``flags`` (plus ``O_CREAT``), created
    with mode 0600 and set to 0600 if it existed with another mode."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, LOG_FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != LOG_FILE_MODE:
            os.fchmod(fd, LOG_FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_log_file(path, append=False):
    """A binary file object writing the log file ``path`` (mode 0600):
    truncated first, or appended to when ``append``."""
    flags = os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC)
    return os.fdopen(open_log_fd(path, flags), "ab" if append else "wb")
