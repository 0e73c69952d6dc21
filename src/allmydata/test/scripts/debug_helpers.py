"""Shared by the ``tahoe debug`` tests: running a tool in-process and
reading its ``key: value`` output."""

import contextlib
import io

from allmydata.scripts.runner import main


def run_debug(*args):
    """``tahoe debug ARGS`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(["debug"] + [str(a) for a in args])
        except SystemExit as e:
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def fields(text) -> dict:
    """``{key: value}`` of every ``key: value`` line (stripped); later lines
    with the same key win."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep:
            out[key] = value.strip()
    return out


def lease_lines(text) -> list:
    return [line for line in text.splitlines() if line.strip().startswith("Lease #")]
