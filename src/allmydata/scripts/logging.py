"""Where a running node's log goes: ``NODEDIR/logs/twistd.log``.

One logging system, ``twisted.logger``; Foolscap's own log messages are
bridged into it so they land in the same file.

No capability goes into the file: every line, tracebacks included, passes
through :func:`allmydata.util.censor.censor_text` on its way (caps become
``URI:KIND:[CENSORED]``, FURLs lose their swissnums), whatever logged it --
our code, Twisted, or Foolscap.  The directory is 0700 and the file and its
rotated predecessors 0600 (:mod:`allmydata.util.logdir`).
"""

import os

from foolscap.logging import log as flog
from twisted.logger import (
    FileLogObserver, FilteringLogObserver, LogLevel, LogLevelFilterPredicate,
    formatEventAsClassicLogText, formatTime, globalLogBeginner, timeFormatRFC3339,
)
from twisted.python.logfile import LogFile

from ..util.censor import censor_text
from ..util.logdir import ensure_log_dir, open_log_fd


class OwnerOnlyLogFile(LogFile):
    """A rotating log file whose every file (the current one, and each new
    one after a rotation) is created with mode 0600 at ``open``: Twisted's
    own ``defaultMode`` does it by changing the process-wide umask, which
    other threads would see."""

    def _openFile(self):
        self.closed = False
        self._file = os.fdopen(open_log_fd(self.path, os.O_RDWR), "rb+", 0)
        self._file.seek(0, 2)
        self.size = self._file.tell()


def censored_line(event):
    """An event as one line of ``twistd.log`` (Twisted's classic text form),
    with no cap and no swissnum in it."""
    text = formatEventAsClassicLogText(event,
                                       formatTime=lambda t: formatTime(t, timeFormatRFC3339))
    return None if text is None else censor_text(text)


class _Observer:
    def __init__(self, logfile):
        self._logfile = logfile

    def stop(self):
        self._logfile.close()


def start_logging(basedir):
    logdir = ensure_log_dir(basedir)
    logfile = OwnerOnlyLogFile("twistd.log", logdir, rotateLength=10_000_000, maxRotatedFiles=10)
    observer = FilteringLogObserver(FileLogObserver(logfile, censored_line),
                                    [LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    try:
        flog.bridgeLogsToTwisted()
    except Exception:  # pragma: no cover - foolscap without the bridge
        pass
    return _Observer(logfile)
