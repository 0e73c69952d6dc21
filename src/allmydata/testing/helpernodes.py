"""Helper nodes as real processes: a Tahoe-LAFS 1.20 one and one of ours.

Each is a client harness of :mod:`allmydata.testing.reference` that is
created with ``tahoe create-node``: it listens on 127.0.0.1, stores nothing
and runs the upload helper (``[helper] enabled = true``).  Both answer
:meth:`furl` (the helper's FURL, once the node has written it) and
:meth:`stats` (``/helper_status?t=json``).  :func:`data_of` and
:func:`our_log_text` serve the tests that upload through them.
"""

import glob
import json
import os

from .nodeconfig import edit_config
from .ports import free_port
from .processes import run_tahoe
from .reference import OurClient, TahoeClient
from .waiting import wait_for

__all__ = ["OurHelperNode", "TahoeHelperNode", "data_of", "our_log_text", "wait_helper_furl"]

#: ``tahoe.cfg`` settings that make a node a helper that stores nothing
HELPER_SETTINGS = {"storage": {"enabled": "false"}, "helper": {"enabled": "true"}}


def data_of(n: int, seed: bytes) -> bytes:
    """``n`` bytes of ``seed`` repeated."""
    return (seed * (n // len(seed) + 1))[:n]


def our_log_text(basedir) -> str:
    """All the log files of our node in ``basedir``, concatenated."""
    text = []
    for path in glob.glob(os.path.join(basedir, "logs", "*")):
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                text.append(f.read())
    return "\n".join(text)


def wait_helper_furl(basedir, timeout=60, what=None) -> str:
    """The FURL in ``basedir/private/helper.furl``, once the node has written it;
    ``what`` names it in the timeout's error (by default: by its path)."""
    path = os.path.join(basedir, "private", "helper.furl")

    def furl():
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return None
    return wait_for(furl, timeout, what=what or "the helper's FURL in " + path)


class _HelperNode:
    """What both helper nodes share: the ``create-node`` options, the FURL
    and the statistics.  Mixed in before a client harness that has
    ``basedir``, ``nickname``, ``needed``/``happy``/``total`` and ``request``."""

    def _create_node_options(self) -> list:
        self.web_port = free_port()
        port = free_port()
        return ["create-node", "--nickname", self.nickname, "--listen", "tcp",
                "--port", "tcp:%d:interface=127.0.0.1" % port,
                "--location", "tcp:127.0.0.1:%d" % port,
                "--webport", "tcp:%d:interface=127.0.0.1" % self.web_port,
                "--shares-needed", self.needed, "--shares-happy", self.happy,
                "--shares-total", self.total]

    def furl(self) -> str:
        return wait_helper_furl(self.basedir, 60, what="the FURL of the %s" % self.what)

    def stats(self) -> dict:
        """The helper's ``/helper_status?t=json``."""
        return json.loads(self.request("GET", "/helper_status?t=json", timeout=30))


class TahoeHelperNode(_HelperNode, TahoeClient):
    """A Tahoe-LAFS 1.20 node that listens and runs the upload helper."""

    what = "Tahoe-LAFS helper node"
    nickname = "interop-helper"

    def create(self):
        self.node.create(*self._create_node_options())
        edit_config(self.basedir, dict(HELPER_SETTINGS, client={"force_foolscap": "true"}))


class OurHelperNode(_HelperNode, OurClient):
    """One of our nodes that listens and runs the upload helper."""

    what = "our helper node"

    def create(self):
        run_tahoe(*self._create_node_options(), self.basedir)
        edit_config(self.basedir, HELPER_SETTINGS)
