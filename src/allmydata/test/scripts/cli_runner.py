"""Shared by the CLI tests that run on a grid of real node processes: the
client node they talk to (ours or Tahoe-LAFS 1.20's, each on three storage
nodes of its own kind), and a runner of ``tahoe -d NODEDIR ...`` -- ours
in-process (``runner.main`` with its standard streams replaced; it only makes
blocking HTTP requests to another process), or the real Tahoe-LAFS 1.20 CLI
as a process -- that captures exit code, stdout and stderr.
"""

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from allmydata.scripts.runner import main
from allmydata.testing import refvenv
from allmydata.testing.reference import (
    OurClient,
    OurStorageGrid,
    ReferenceStorageGrid,
    TahoeClient,
    running,
)

NEEDED, HAPPY, TOTAL = 2, 3, 5

# The parameters of a module-scoped ``web`` fixture: the Tahoe-LAFS 1.20 grid
# (interop) and ours (integration).
WEB_KINDS = [pytest.param("tahoe-1.20", marks=pytest.mark.interop),
             pytest.param("ours", marks=pytest.mark.integration)]

# How long the reference CLI may take for one command.
REFERENCE_TIMEOUT = 300


@dataclass
class WebNode:
    kind: str  # "tahoe-1.20" or "ours"
    url: str  # ends with "/"
    client: object
    storage: object
    nodes: list  # the running storage nodes
    _ref_venv: str = None

    @property
    def ref_venv(self):
        """Where the Tahoe-LAFS 1.20 CLI is; found (or built) on first use."""
        if self._ref_venv is None:
            self._ref_venv = refvenv.ensure_ref_venv()
        return self._ref_venv

    def logs(self):
        return self.client.logs()


@contextlib.contextmanager
def web_node(kind, workdir):
    """Run a ``kind`` client node (see :data:`WEB_KINDS`) under ``workdir``
    on three storage nodes of the same kind, connected to all of them; yield
    its :class:`WebNode`; stop every node afterwards."""
    venv = None
    if kind == "tahoe-1.20":
        venv = refvenv.ensure_ref_venv()
        storage = ReferenceStorageGrid(venv, workdir, 3)
        client = TahoeClient(venv, os.path.join(workdir, "client"), NEEDED, HAPPY, TOTAL)
    elif kind == "ours":
        storage = OurStorageGrid(workdir, 3)
        client = OurClient(os.path.join(workdir, "client"), NEEDED, HAPPY, TOTAL)
    else:
        raise ValueError("unknown web node kind %r" % (kind,))
    client.extra_logs = storage.logs
    with running(storage, client) as nodes:
        yield WebNode(kind, client.url + "/", client, storage, nodes, venv)


@dataclass
class Result:
    rc: int
    stdout: bytes  # as written, for commands that print file contents
    err: str

    @property
    def out(self):
        """stdout as text (UTF-8, strictly)."""
        return self.stdout.decode("utf-8")


def _argv(nodedir, args):
    return ["-d", str(nodedir)] + [str(a) for a in args]


def reference_tahoe(venv, nodedir, *args, stdin=None) -> Result:
    """``tahoe -d NODEDIR ARGS`` by the real Tahoe-LAFS 1.20 CLI of the
    virtualenv ``venv``, as a process; ``stdin``: bytes to send it, or None
    for an empty stdin."""
    proc = subprocess.run([os.path.join(venv, "bin", "tahoe")] + _argv(nodedir, args),
                          input=stdin, capture_output=True, timeout=REFERENCE_TIMEOUT,
                          stdin=None if stdin is not None else subprocess.DEVNULL, check=False,
                          env=refvenv.clean_env({"PYTHONIOENCODING": "utf-8"}))
    return Result(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))


class CLI:
    """Runs ``tahoe -d NODEDIR ...`` against one web node, in a node
    directory of its own (``node.url`` and ``private/``)."""

    def __init__(self, web, nodedir):
        self.web = web
        self.nodedir = nodedir
        (nodedir / "private").mkdir(parents=True)
        (nodedir / "node.url").write_text(web.url + "\n")

    def run(self, *args, stdin=b""):
        """Our ``tahoe``, in-process."""
        streams = (sys.stdin, sys.stdout, sys.stderr)
        out, err = io.BytesIO(), io.BytesIO()
        wrappers = (io.TextIOWrapper(io.BytesIO(stdin)),
                    io.TextIOWrapper(out, encoding="utf-8", write_through=True),
                    io.TextIOWrapper(err, encoding="utf-8", write_through=True))
        sys.stdin, sys.stdout, sys.stderr = wrappers
        try:
            try:
                rc = main(_argv(self.nodedir, args))
            except SystemExit as e:
                rc = e.code
            sys.stdout.flush()
            sys.stderr.flush()
            result = Result(rc, out.getvalue(), err.getvalue().decode("utf-8", "replace"))
        finally:
            sys.stdin, sys.stdout, sys.stderr = streams
        for wrapper in wrappers:
            wrapper.detach()  # leave the BytesIO objects open
        return result

    def reference(self, *args):
        """The same command by the real Tahoe-LAFS 1.20 CLI, as a process."""
        return reference_tahoe(self.web.ref_venv, self.nodedir, *args)

    def both(self, *args):
        """Ours and the reference's results for one command."""
        return self.run(*args), self.reference(*args)

    def ok(self, *args, stdin=b""):
        """Ours, which must succeed."""
        r = self.run(*args, stdin=stdin)
        if r.rc != 0:
            raise AssertionError("tahoe %s failed on %s (exit %s):\n%s\n%s"
                                 % (" ".join(map(str, args)), self.web.kind, r.rc, r.err,
                                    self.web.logs()[-8000:]))
        return r

    def fails(self, *args, stdin=b"", rc=1):
        """Ours, which must exit with ``rc``."""
        r = self.run(*args, stdin=stdin)
        assert r.rc == rc, "tahoe %s: expected exit %d, got %s\n%s" % (args, rc, r.rc, r.err)
        return r

    def cap(self, *args, stdin=b""):
        """The stripped output of a successful command (a cap, usually)."""
        return self.ok(*args, stdin=stdin).out.strip()
