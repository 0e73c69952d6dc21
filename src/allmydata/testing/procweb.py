"""A process grid with several clients, and their web API, for the
mutable-file, directory and CLI integration tests.

:class:`MultiClientGrid` is a :class:`~.procgrid.ProcessGrid` (introducer, storage
nodes, one client) with any number of further client nodes, so that two
clients can write the same mutable file at the same time.  Every client has
the same encoding (``k``, ``happy``, ``N``) and is reached through a
:class:`WebClient`: a few lines of ``http.client`` per web-API operation
(mutable files, directory paths, the ``POST`` operations of a directory).

Share files of mutable files sit in a mutable container on the storage
servers (docs/specifications/containers.md §3); :func:`mutable_share_data_offset` says where the
share inside it starts, so that a test can damage a chosen field of it.
"""

import json
import os
import re
import signal
import struct
import subprocess
import urllib.parse

from .ports import free_port
from .processes import TAHOE, pid_alive, read_text
from .procgrid import ProcessGrid, Response, cap_path, connected_count, http_request
from .waiting import wait_for

#: where the share starts inside a mutable container (docs/specifications/containers.md §3)
MUTABLE_CONTAINER_HEADER = 468


def quote_path(path: str) -> str:
    """``a/b c/d`` -> ``a/b%20c/d``: each segment percent-encoded (UTF-8)."""
    return "/".join(urllib.parse.quote(seg, safe="") for seg in path.split("/"))


class WebClient:
    """The web API of one client node at ``url``; every method answers a
    :class:`~.procgrid.Response` (never raises for HTTP errors) unless its
    name says it returns something else."""

    def __init__(self, url):
        self.url = url

    def request(self, method, path, body=None, headers=None, timeout=120) -> Response:
        return http_request(self.url, method, path, body=body, headers=headers, timeout=timeout)

    @staticmethod
    def path(cap, sub="", query="") -> str:
        """``/uri/$CAP[/sub][?query]``."""
        p = cap_path(cap)
        if sub:
            p += "/" + quote_path(sub)
        if query:
            p += "?" + (query if isinstance(query, str) else urllib.parse.urlencode(query))
        return p

    # ---- files --------------------------------------------------------------------------------
    def create_mutable(self, data: bytes, fmt="SDMF") -> str:
        """``PUT /uri?format=FMT``: the new mutable file's write cap."""
        r = self.request("PUT", "/uri?format=%s" % fmt, body=data)
        assert r.status == 200, "PUT /uri?format=%s answered %r" % (fmt, r)
        return r.text.strip()

    def upload(self, data: bytes) -> str:
        r = self.request("PUT", "/uri", body=data)
        assert r.status == 200, "PUT /uri answered %r" % (r,)
        return r.text.strip()

    def get(self, cap, sub="", query="", headers=None, method="GET", timeout=120) -> Response:
        return self.request(method, self.path(cap, sub, query), headers=headers, timeout=timeout)

    def read(self, cap, sub="") -> bytes:
        """The whole file (asserting a complete 200)."""
        r = self.get(cap, sub)
        assert r.status == 200 and r.complete, "GET %s %s answered %r" % (cap, sub, r)
        return r.body

    def put(self, cap, data: bytes, sub="", query="") -> Response:
        return self.request("PUT", self.path(cap, sub, query), body=data)

    def post(self, cap, sub="", query="", body=None, headers=None) -> Response:
        return self.request("POST", self.path(cap, sub, query), body=body, headers=headers)

    def delete(self, cap, sub="") -> Response:
        return self.request("DELETE", self.path(cap, sub))

    def json(self, cap, sub=""):
        """``GET ...?t=json`` decoded (asserting a 200)."""
        r = self.get(cap, sub, "t=json")
        assert r.status == 200, "t=json of %s %s answered %r" % (cap, sub, r)
        return json.loads(r.body)

    # ---- directories --------------------------------------------------------------------------
    def mkdir(self, fmt=None) -> str:
        """``POST /uri?t=mkdir``: a new unlinked directory's write cap."""
        query = "t=mkdir" + ("&format=%s" % fmt if fmt else "")
        r = self.request("POST", "/uri?" + query)
        assert r.status == 200, "POST /uri?%s answered %r" % (query, r)
        return r.text.strip()

    def children(self, dircap, sub="") -> dict:
        """``{name: [type, info]}`` of the directory at ``dircap/sub``."""
        kind, info = self.json(dircap, sub)
        assert kind == "dirnode", (kind, info)
        return info["children"]


def flip_byte(path, offset):
    """Invert every bit of the byte at ``offset`` of the file ``path``."""
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        assert len(b) == 1, "%s has no byte at %d" % (path, offset)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def mutable_share_fields(path) -> dict:
    """``{version, seqnum, k, n, datalen, offsets}`` of the share inside the
    mutable container ``path``; offsets are absolute positions in the file."""
    with open(path, "rb") as f:
        blob = f.read(MUTABLE_CONTAINER_HEADER + 123)
    share = blob[MUTABLE_CONTAINER_HEADER:]
    version = share[0]
    seqnum = struct.unpack(">Q", share[1:9])[0]
    base = MUTABLE_CONTAINER_HEADER
    if version == 0:
        k, n = share[57], share[58]
        datalen = struct.unpack(">Q", share[67:75])[0]
        sig, shc, bht, sd = struct.unpack(">LLLL", share[75:91])
        epk, eof = struct.unpack(">QQ", share[91:107])
        offsets = {"signature": sig, "share_hash_chain": shc, "block_hash_tree": bht,
                   "share_data": sd, "enc_privkey": epk, "EOF": eof}
    else:
        k, n = share[41], share[42]
        datalen = struct.unpack(">Q", share[51:59])[0]
        names = ("enc_privkey", "share_hash_chain", "signature", "verification_key",
                 "verification_key_end", "share_data", "block_hash_tree", "EOF")
        offsets = dict(zip(names, struct.unpack(">8Q", share[59:123]), strict=True))
    return {"version": version, "seqnum": seqnum, "k": k, "n": n, "datalen": datalen,
            "offsets": {name: base + off for name, off in offsets.items()}}


class MultiClientGrid(ProcessGrid):
    """A :class:`ProcessGrid` with ``extra_clients`` more client nodes
    (``client1``, ``client2`` ...) of the same encoding.  ``clients`` are
    their :class:`WebClient` s, the first being the grid's own client."""

    def __init__(self, root, num_storage=5, encoding=(3, 4, 5), extra_clients=1):
        ProcessGrid.__init__(self, root, num_storage=num_storage, encoding=encoding)
        self.extra_client_dirs = [os.path.join(self.root, "client%d" % i)
                                  for i in range(1, extra_clients + 1)]
        self.clients = []

    def build(self):
        ProcessGrid.build(self)
        self.clients = [WebClient(self.url)]
        if not self.extra_client_dirs:
            return
        furl = read_text(os.path.join(self.introducer, "private", "introducer.furl"))
        k, happy, n = self.encoding
        procs = []
        for i, d in enumerate(self.extra_client_dirs, start=1):
            args = ["create-client", "--nickname", "client%d" % i, "--hostname", "127.0.0.1",
                    "--introducer", furl,
                    "--webport", "tcp:%d:interface=127.0.0.1" % free_port(),
                    "--shares-needed", k, "--shares-happy", happy, "--shares-total", n, d]
            procs.append(subprocess.Popen(TAHOE + [str(a) for a in args],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT))
        for p in procs:
            out, _ = p.communicate(timeout=120)
            assert p.returncode == 0, out
        self.procs.basedirs.extend(self.extra_client_dirs)
        for d in self.extra_client_dirs:
            self._run_in_background(d)
        for d in self.extra_client_dirs:
            url = wait_for(lambda d=d: self._read_if_exists(d, "node.url"), 60,
                           what="node.url of %s" % d)
            self.clients.append(WebClient(url))
        for c in self.clients[1:]:
            wait_for(lambda c=c: connected_count(c.url) == self.num_storage, 60,
                     what="%s connected to %d servers" % (c.url, self.num_storage))

    def stop(self, *indexes):
        """SIGTERM storage nodes (what ``tahoe stop`` does, without a
        Python start-up per node) and wait until they are gone."""
        pids = []
        for i in indexes:
            pid = self.pid(i)
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
                pids.append(pid)
        for pid in pids:
            wait_for(lambda pid=pid: not pid_alive(pid), 30, what="pid %d gone" % pid)
        for p in self.procs.popens:
            p.poll()  # reaps the ones that were our children and have ended

    def start(self, *indexes):
        """``tahoe run`` storage nodes again, as children of the tests."""
        for i in indexes:
            self._run_in_background(self.storage[i])
        for i in indexes:
            wait_for(lambda i=i: self.pid(i), 60, what="storage node %d running" % i)

    def heal(self):
        ProcessGrid.heal(self)
        for c in self.clients[1:]:
            if connected_count(c.url) != self.num_storage:
                wait_for(lambda c=c: connected_count(c.url) == self.num_storage, 60,
                         what="%s connected to %d servers" % (c.url, self.num_storage))

    def wait_all_connected(self, count):
        """Every client connected to exactly ``count`` storage servers."""
        self.wait_connected(count)
        for c in self.clients[1:]:
            wait_for(lambda c=c: connected_count(c.url) == count, 60,
                     what="%s connected to %d servers" % (c.url, count))

    def mutable_shares(self, cap) -> dict:
        """``{(node index, shnum): path}`` of every share of ``cap`` on disk."""
        return {(i, shnum): path for i, held in self.shares(cap).items()
                for shnum, path in held.items()}

    def aliases(self, client_dir=None) -> dict:
        """``{alias: cap}`` from a client's private/aliases."""
        path = os.path.join(client_dir or self.client, "private", "aliases")
        if not os.path.exists(path):
            return {}
        out = {}
        for line in read_text(path).splitlines():
            m = re.match(r"^\s*([^:\s]+)\s*:\s*(\S+)\s*$", line)
            if m:
                out[m.group(1)] = m.group(2)
        return out
