"""What a node directory needs before its node runs: the owner-only
``private/`` directory, its secret files, and a free port for a new node.

``tahoe create-node`` makes these as well as the node itself, so they live
here rather than in :mod:`allmydata.node`: the command line can use them
without importing the node (Twisted, Foolscap).
"""

import os
import socket

from .config import ConfigError
from .util import base32, fileutil


def ensure_private_dir(basedir) -> str:
    """Create ``BASEDIR/private`` readable by the owner only, and return it."""
    private = os.path.join(basedir, "private")
    os.makedirs(private, mode=0o700, exist_ok=True)
    os.chmod(private, 0o700)
    return private


def ensure_secret_file(path, nbytes=32) -> bytes:
    """Read a base32 secret file, creating it with fresh random bytes if absent."""
    if not os.path.exists(path):
        fileutil.write_atomically(path, base32.b2a(os.urandom(nbytes)) + b"\n", mode=0o600)
    with open(path, "rb") as f:
        text = f.read().strip()
    try:
        return base32.a2b(text)
    except ValueError as e:
        raise ConfigError(path, None, None, "not a base32 secret: %s" % e)


def pick_free_port(interface="127.0.0.1") -> int:
    """A TCP port that is free now (used by create-* when no port is given)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((interface, 0))
        return s.getsockname()[1]
