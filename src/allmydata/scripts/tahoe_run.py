"""``tahoe run`` (foreground) and ``tahoe start`` / ``stop`` / ``restart``.

``run`` builds the node from its directory, starts it on the reactor, writes
``running.process`` once every listener is up, and stops cleanly on SIGTERM,
SIGINT, or (unless ``--allow-stdin-close``) when its standard input closes.
``start`` launches ``run`` as a detached process and returns once the node
is up; ``stop`` sends SIGTERM and waits until the process is gone.
"""

import os
import signal
import subprocess
import sys
import time

import psutil

from ..util.logdir import ensure_log_dir, open_log_file
from .common import UsageError, node_directory
from . import pidfile

START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


def register(sub):
    p = sub.add_parser("run", help="Run a node in the foreground.",
                       description="Run a node in the foreground until it is stopped.")
    p.add_argument("basedir_pos", nargs="?", metavar="NODEDIR")
    p.add_argument("-C", "--basedir", dest="basedir")
    p.add_argument("--allow-stdin-close", action="store_true",
                   help="keep running when standard input closes")
    # Tahoe-LAFS passes options after NODEDIR to twistd, always with
    # --nodaemon; this one twistd option asks for what ``run`` always does
    # (stay in the foreground), so it is accepted. Other twistd options are
    # refused by argparse, naming them.
    p.add_argument("-n", "--nodaemon", action="store_true",
                   help="stay in the foreground (the twistd option; 'run' always does)")
    p.set_defaults(func=run)
    for name, func, helptext in (("start", start, "Start a node in the background."),
                                 ("stop", stop, "Stop a node started in the background."),
                                 ("restart", restart, "Stop (if running) and start a node.")):
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.add_argument("basedir_pos", nargs="?", metavar="NODEDIR")
        p.add_argument("-C", "--basedir", dest="basedir")
        p.set_defaults(func=func)


def _check_node_dir(basedir):
    if not os.path.isdir(basedir):
        raise UsageError("%s does not exist (create a node with 'tahoe create-node %s')"
                         % (basedir, basedir))
    if not os.path.exists(os.path.join(basedir, "tahoe.cfg")):
        raise UsageError("%s is not a node directory: it has no tahoe.cfg" % basedir)


# ---- run --------------------------------------------------------------------

def run(options) -> int:
    basedir = node_directory(options, options.basedir_pos)
    _check_node_dir(basedir)
    if pidfile.running_pid(basedir) is not None:
        raise UsageError("a node is already running in %s as PID %d"
                         % (basedir, pidfile.running_pid(basedir)))
    # Imported here rather than at the top: the runner imports every
    # sub-command's module to build its parser, and only ``run`` needs the
    # node, hence Twisted's reactor and Foolscap; the other commands start
    # without them.
    from .node_process import run_node
    return run_node(basedir, stop_when_stdin_closes=not options.allow_stdin_close)


# ---- start / stop / restart ---------------------------------------------------

def start(options) -> int:
    basedir = node_directory(options, options.basedir_pos)
    _check_node_dir(basedir)
    pid = pidfile.running_pid(basedir)
    if pid is not None:
        raise UsageError("a node is already running in %s as PID %d" % (basedir, pid))
    out_path = os.path.join(ensure_log_dir(basedir), "tahoe-start.log")
    with open_log_file(out_path) as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "allmydata.scripts.runner", "run", "--allow-stdin-close", basedir],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            with open(out_path, "rb") as f:
                print(f.read().decode("utf-8", "replace"), end="", file=sys.stderr)
            raise UsageError("the node in %s exited during start-up (code %d); see %s"
                             % (basedir, child.returncode, out_path))
        if pidfile.running_pid(basedir) == child.pid:
            if not options.quiet:
                print("STARTING %s" % basedir)
                print("node started (PID %d)" % child.pid)
            return 0
        time.sleep(0.05)
    child.terminate()
    raise UsageError("the node in %s did not start within %d seconds; see %s"
                     % (basedir, START_TIMEOUT, out_path))


def stop(options) -> int:
    basedir = node_directory(options, options.basedir_pos)
    _check_node_dir(basedir)
    return _stop(basedir, quiet=options.quiet)


def _stop(basedir, quiet=False) -> int:
    pid = pidfile.running_pid(basedir)
    if pid is None:
        if os.path.exists(pidfile.pidfile_path(basedir)):
            os.unlink(pidfile.pidfile_path(basedir))
        print("%s does not look like a running node directory (no running.process)" % basedir,
              file=sys.stderr)
        return 2
    if not quiet:
        print("STOPPING %s" % basedir)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if not _alive(pid):
            if not quiet:
                print("process %d is dead" % pid)
            return 0
        time.sleep(0.05)
    print("process %d did not stop within %d seconds: killing it" % (pid, STOP_TIMEOUT),
          file=sys.stderr)
    os.kill(pid, signal.SIGKILL)
    while _alive(pid):
        time.sleep(0.05)
    if os.path.exists(pidfile.pidfile_path(basedir)):
        os.unlink(pidfile.pidfile_path(basedir))
    return 1


def _alive(pid) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def restart(options) -> int:
    basedir = node_directory(options, options.basedir_pos)
    _check_node_dir(basedir)
    if pidfile.running_pid(basedir) is not None:
        code = _stop(basedir, quiet=options.quiet)
        if code not in (0,):
            return code
    return start(options)
