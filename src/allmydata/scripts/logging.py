"""Where a running node's log goes: ``NODEDIR/logs/twistd.log``.

One logging system, ``twisted.logger``; Foolscap's own log messages are
bridged into it so they land in the same file.
"""

import os

from twisted.logger import (
    FilteringLogObserver, LogLevel, LogLevelFilterPredicate, globalLogBeginner,
    textFileLogObserver,
)
from twisted.python.logfile import LogFile


class _Observer:
    def __init__(self, logfile):
        self._logfile = logfile

    def stop(self):
        self._logfile.close()


def start_logging(basedir):
    logdir = os.path.join(basedir, "logs")
    os.makedirs(logdir, exist_ok=True)
    logfile = LogFile("twistd.log", logdir, rotateLength=10_000_000, maxRotatedFiles=10)
    observer = FilteringLogObserver(textFileLogObserver(logfile),
                                    [LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    try:
        from foolscap.logging import log as flog
        flog.bridgeLogsToTwisted()
    except Exception:  # pragma: no cover - foolscap without the bridge
        pass
    return _Observer(logfile)
