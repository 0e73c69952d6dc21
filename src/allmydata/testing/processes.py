"""Real ``tahoe`` commands and node processes.

Every node started here listens on 127.0.0.1 only and is tracked by a
:class:`NodeProcesses`, whose :meth:`~NodeProcesses.cleanup` kills it
whatever happened.  :func:`start_process_grid` builds the smallest whole
grid: an introducer, storage nodes and a client.
"""

import os
import signal
import subprocess
import sys
import time

from allmydata.scripts import pidfile

from .waiting import wait_for

TAHOE = [sys.executable, "-m", "allmydata.scripts.runner"]


def run_tahoe(*args, check=True, timeout=120, env=None, input=None):
    """Run one ``tahoe`` command to completion and return the CompletedProcess."""
    proc = subprocess.run(TAHOE + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=env, input=input, stdin=None if input else subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError("tahoe %s failed (%d):\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, args)), proc.returncode, proc.stdout, proc.stderr))
    return proc


def run_all(commands, timeout=120):
    """Run several ``tahoe`` commands at once; fail with their output if any fails."""
    procs = [subprocess.Popen(TAHOE + [str(a) for a in args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args in commands]
    failures = []
    for args, p in zip(commands, procs, strict=True):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        if p.returncode != 0:
            failures.append("tahoe %s failed (%s):\nstdout: %s\nstderr: %s"
                            % (" ".join(map(str, args)), p.returncode, out, err))
    if failures:
        raise AssertionError("\n".join(failures))


def read_text(path) -> str:
    """A node file's contents, stripped."""
    with open(path) as f:
        return f.read().strip()


def read_pid(basedir):
    """The pid in ``BASEDIR/running.process``, or None."""
    try:
        with open(os.path.join(basedir, "running.process")) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); treat it as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def terminate(pids, popens=(), timeout=10.0) -> None:
    """SIGTERM every pid (as ``tahoe stop`` does), reap ``popens`` (our
    children, so that they do not linger as zombies), give them all
    ``timeout`` seconds to end, then SIGKILL whatever is left."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for p in popens:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class NodeProcesses:
    """Tracks node directories started with ``tahoe start`` / ``tahoe run``."""

    def __init__(self):
        self.basedirs = []
        self.popens = []

    def start(self, basedir, wait_file=None, timeout=60):
        """``tahoe start BASEDIR``; wait until ``wait_file`` (relative) exists."""
        self.basedirs.append(basedir)
        run_tahoe("start", basedir)
        if wait_file:
            wait_for(lambda: os.path.exists(os.path.join(basedir, wait_file)), timeout,
                     what="%s in %s" % (wait_file, basedir))

    def run_foreground(self, basedir, *extra):
        """``tahoe run BASEDIR`` as a child process we own."""
        self.basedirs.append(basedir)
        p = subprocess.Popen(TAHOE + ["run", basedir] + list(extra), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.popens.append(p)
        return p

    def cleanup(self):
        for basedir in self.basedirs:
            pid = read_pid(basedir)
            if pid and pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        for p in self.popens:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
            if p.stdout:
                p.stdout.close()
            if p.stdin:
                p.stdin.close()


def start_process_grid(procs, root, storage_nodes=3, introducer_webport="none", client_args=()):
    """Create and start an introducer, ``storage_nodes`` storage nodes and a
    client under ``root`` (all on 127.0.0.1), tracked by ``procs``.

    Returns a dict: root, introducer, introducer_furl, storage (dirs),
    client, client_url."""
    intro = os.path.join(str(root), "introducer")
    run_tahoe("create-introducer", "--hostname", "127.0.0.1", "--webport", introducer_webport, intro)
    procs.start(intro, wait_file="private/introducer.furl")
    furl = read_text(os.path.join(intro, "private", "introducer.furl"))
    storage = []
    for i in range(storage_nodes):
        d = os.path.join(str(root), "storage%d" % i)
        run_tahoe("create-node", "--nickname", "storage%d" % i, "--hostname", "127.0.0.1",
                  "--introducer", furl, "--webport", "none", d)
        storage.append(d)
    for d in storage:
        procs.start(d, wait_file="private/storage.furl")
    client = os.path.join(str(root), "client")
    run_tahoe("create-client", "--nickname", "client", "--hostname", "127.0.0.1",
              "--introducer", furl, "--webport", "tcp:0:interface=127.0.0.1", *client_args, client)
    procs.start(client, wait_file="node.url")
    return {"root": root, "introducer": intro, "introducer_furl": furl, "storage": storage,
            "client": client, "client_url": read_text(os.path.join(client, "node.url"))}


def stop_process_grid(procs):
    """``tahoe stop`` every node still running, then kill whatever is left."""
    try:
        for d in procs.basedirs:
            if pidfile.running_pid(d):
                run_tahoe("stop", d, check=False)
    finally:
        procs.cleanup()
