"""Node directories: their ``tahoe.cfg``, the files under ``private/`` that
say which storage servers a client uses and its convergence secret, and
where a storage node keeps its shares."""

import configparser
import hashlib
import os
from dataclasses import dataclass

import yaml

from allmydata.util import base32


@dataclass
class StorageNode:
    """A running storage server: where it lives on disk and how to reach it."""

    nickname: str
    basedir: str
    furl: str

    @property
    def shares_dir(self):
        return os.path.join(self.basedir, "storage", "shares")

    def share_files(self, si_b32):
        """``{shnum: path}`` of the shares of one storage index on this node."""
        d = os.path.join(self.shares_dir, si_b32[:2], si_b32)
        if not os.path.isdir(d):
            return {}
        return {int(name): os.path.join(d, name) for name in os.listdir(d) if name.isdigit()}

    def delete_shares(self, si_b32, shnums=None) -> set:
        """Delete this node's shares of one storage index (only those numbered
        in ``shnums`` unless it is None); returns the numbers deleted."""
        gone = set()
        for shnum, path in self.share_files(si_b32).items():
            if shnums is None or shnum in shnums:
                os.unlink(path)
                gone.add(shnum)
        return gone


def edit_config(basedir, settings):
    """Set ``{section: {key: value}}`` in ``BASEDIR/tahoe.cfg`` (comments are dropped)."""
    path = os.path.join(basedir, "tahoe.cfg")
    cfg = configparser.RawConfigParser()
    cfg.optionxform = str
    with open(path, encoding="utf-8") as f:
        cfg.read_file(f)
    for section, values in settings.items():
        if not cfg.has_section(section):
            cfg.add_section(section)
        for key, value in values.items():
            cfg.set(section, key, str(value))
    with open(path, "w", encoding="utf-8") as f:
        cfg.write(f)


def server_id_for(furl):
    """A fixed ``v0-<52 base32>`` server id derived from a storage FURL."""
    return "v0-" + base32.b2a_str(hashlib.sha256(furl.encode("ascii")).digest())


def write_servers_yaml(basedir, storage_nodes):
    """Write ``BASEDIR/private/servers.yaml`` listing these storage nodes
    (each with a ``nickname`` and a ``furl``).

    Returns ``{server id: node}``; the ids are derived from the FURLs
    (:func:`server_id_for`) so that every client given the same nodes names
    them the same way.
    """
    servers, ids = {}, {}
    for node in storage_nodes:
        sid = server_id_for(node.furl)
        ids[sid] = node
        servers[sid] = {"ann": {"anonymous-storage-FURL": node.furl, "nickname": node.nickname}}
    with open(os.path.join(basedir, "private", "servers.yaml"), "w") as f:
        yaml.safe_dump({"storage": servers}, f)
    return ids


def write_convergence_secret(basedir, secret):
    """Write ``secret`` (bytes) as ``BASEDIR/private/convergence``, base32 plus a newline."""
    with open(os.path.join(basedir, "private", "convergence"), "wb") as f:
        f.write(base32.b2a(secret) + b"\n")
