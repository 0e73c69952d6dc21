"""Find or create the reference virtualenv holding the real ``tahoe-lafs`` 1.20.0.

The interoperability tests run the real Tahoe-LAFS package as a black box next
to our own nodes.  It lives in its own virtualenv, by default
``<repo root>/.tahoe-ref/venv`` (git-ignored), or wherever the environment
variable ``TAHOE_REF_VENV`` points.

This module uses only the standard library so that it can also be run as a
plain script (``misc/ensure-tahoe-ref.sh`` does that, before the package is
even installed)::

    python3 src/allmydata/testing/refvenv.py [VENV_DIR]

Creation is guarded by an exclusive ``flock`` on ``<venv>.lock`` so that
parallel test runs (or CI jobs sharing a checkout) build it only once.
"""

import fcntl
import os
import shutil
import subprocess
import sys

TAHOE_REF_VERSION = "1.20.0"
ENV_VAR = "TAHOE_REF_VENV"


class RefVenvError(Exception):
    """The reference Tahoe-LAFS virtualenv is missing and could not be made."""


def repo_root(start=None):
    """The nearest directory above ``start`` (default: this file) holding pyproject.toml."""
    d = os.path.abspath(start or os.path.dirname(__file__))
    while True:
        if os.path.exists(os.path.join(d, "pyproject.toml")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            raise RefVenvError("no pyproject.toml above %s: cannot locate the repository root"
                               % (start or __file__))
        d = parent


def default_venv_path():
    """``$TAHOE_REF_VENV``, else ``<repo root>/.tahoe-ref/venv``."""
    path = os.environ.get(ENV_VAR)
    if path:
        return os.path.abspath(path)
    return os.path.join(repo_root(), ".tahoe-ref", "venv")


def clean_env(extra=None):
    """The environment for running the reference ``tahoe``: ours without
    ``PYTHONPATH``/``PYTHONHOME``, which would make it import our
    ``allmydata`` package instead of its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(extra or {})
    return env


def tahoe_version(venv):
    """The first line of ``<venv>/bin/tahoe --version``, or None if it does not run.

    A ``--version`` that takes longer than two minutes (a very busy machine)
    raises :class:`RefVenvError` rather than condemning the virtualenv."""
    exe = os.path.join(venv, "bin", "tahoe")
    if not os.access(exe, os.X_OK):
        return None
    try:
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL, env=clean_env())
    except OSError:
        return None
    except subprocess.TimeoutExpired:
        raise RefVenvError("%s --version did not answer in 120 s; the machine is too busy "
                           "to tell whether the reference virtualenv works" % exe)
    if proc.returncode != 0:
        return None
    return (proc.stdout.strip().splitlines() or [""])[0]


def is_usable(venv):
    return tahoe_version(venv) == "tahoe-lafs/%s" % TAHOE_REF_VERSION


def _run(cmd, log):
    log("+ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RefVenvError("command failed (exit %d): %s\n--- stdout ---\n%s\n--- stderr ---\n%s"
                           % (proc.returncode, " ".join(cmd), proc.stdout[-4000:], proc.stderr[-4000:]))


def ensure_ref_venv(venv=None, python=None, log=None):
    """Return the path of a virtualenv whose ``bin/tahoe`` is tahoe-lafs 1.20.0.

    Creates it (``python -m venv`` + ``pip install tahoe-lafs==1.20.0``, about a
    minute) if it is missing or broken.  A broken directory is only removed if it
    looks like a virtualenv (has ``pyvenv.cfg``); anything else is an error.
    """
    venv = os.path.abspath(venv or default_venv_path())
    python = python or sys.executable
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if is_usable(venv):
        return venv
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    with open(venv + ".lock", "a") as lockfile:
        fcntl.flock(lockfile, fcntl.LOCK_EX)
        try:
            if is_usable(venv):  # someone else built it while we waited
                return venv
            if os.path.exists(venv):
                if not os.path.exists(os.path.join(venv, "pyvenv.cfg")):
                    raise RefVenvError("%s exists but is not a virtualenv; refusing to replace it"
                                       % venv)
                log("removing unusable reference virtualenv %s" % venv)
                shutil.rmtree(venv)
            log("creating reference virtualenv %s with tahoe-lafs==%s" % (venv, TAHOE_REF_VERSION))
            _run([python, "-m", "venv", venv], log)
            pip = os.path.join(venv, "bin", "pip")
            _run([pip, "install", "--disable-pip-version-check", "--quiet",
                  "tahoe-lafs==%s" % TAHOE_REF_VERSION], log)
            version = tahoe_version(venv)
            if version != "tahoe-lafs/%s" % TAHOE_REF_VERSION:
                raise RefVenvError("after installation %s/bin/tahoe --version says %r"
                                   % (venv, version))
            return venv
        finally:
            fcntl.flock(lockfile, fcntl.LOCK_UN)


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print("usage: %s [VENV_DIR]   (default: $%s or <repo>/.tahoe-ref/venv)"
              % (argv[0], ENV_VAR), file=sys.stderr)
        return 2
    try:
        venv = ensure_ref_venv(argv[1] if len(argv) == 2 else None)
    except RefVenvError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    print(venv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
