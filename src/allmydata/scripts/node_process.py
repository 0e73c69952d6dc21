"""The process of ``tahoe run``: one node on the global reactor until it stops.

:func:`run_node` builds the node from its directory, starts it once the
reactor runs, claims ``running.process`` once every listener is up, and
stops the node cleanly on SIGTERM, SIGINT or (if asked) when standard input
closes.  This module is the command line's only user of the global reactor;
:mod:`allmydata.scripts.tahoe_run` imports it when ``run`` is chosen.
"""

import gc
import os
import sys

from twisted.internet import protocol, reactor, stdio

from ..config import ConfigError
from ..node import create_node
from ..util.censor import censor_text
from ..util.malloc import keep_big_buffers
from . import pidfile
from .logging import start_logging


def run_node(basedir, stop_when_stdin_closes: bool = True) -> int:
    """Run the node of ``basedir`` until it stops; the process's exit code."""
    observer = start_logging(basedir)
    keep_big_buffers()
    try:
        node = create_node(basedir, reactor)
    except ConfigError as e:
        # standard error is a log file under 'tahoe start' (logs/tahoe-start.log)
        print("tahoe run: configuration error: %s" % censor_text(str(e)), file=sys.stderr)
        return 1
    outcome = {"code": 0}

    def startup():
        try:
            node.privilegedStartService()
            node.startService()
            pidfile.claim(basedir)
        except Exception as e:
            print("tahoe run: the node in %s could not start: %s"
                  % (basedir, censor_text(str(e))), file=sys.stderr)
            outcome["code"] = 1
            reactor.stop()
            return
        print("node running in %s (PID %d)" % (basedir, os.getpid()), flush=True)
        # What the node made to start (modules, services, connections) lives
        # as long as the process: out of the garbage collector's way, so a
        # full collection walks only what came later (a client listing a
        # 10,000-entry directory would otherwise walk everything on every
        # full collection).
        gc.collect()
        gc.freeze()
        if stop_when_stdin_closes:
            _stop_when_stdin_closes()

    def shutdown():
        d = node.stopService() if node.running else None
        return d

    reactor.addSystemEventTrigger("before", "shutdown", shutdown)
    reactor.callWhenRunning(startup)
    reactor.run(installSignalHandlers=True)
    pidfile.release(basedir)
    observer.stop()
    return outcome["code"]


class _StdinWatcher(protocol.Protocol):
    """Stops the reactor when standard input closes."""

    def dataReceived(self, data):
        pass

    def connectionLost(self, reason):
        if reactor.running:
            print("standard input closed: stopping (use --allow-stdin-close to keep running)",
                  file=sys.stderr, flush=True)
            reactor.stop()


def _stop_when_stdin_closes():
    stdio.StandardIO(_StdinWatcher(), stdout=os.open(os.devnull, os.O_WRONLY))
