"""A grid of real ``tahoe`` processes, driven as a user would drive it.

:class:`ProcessGrid` builds an introducer, some storage nodes and one client
node in a directory and drives them only as a user could: the ``tahoe``
command line (create-*, start, stop, restart, put, get), the files of the
node directories (tahoe.cfg, node.url, running.process, the share files
under ``storage/``) and the client's web API over HTTP on 127.0.0.1.

Node processes are started in parallel where that is easy (the machine
running the tests may have only two cores, and every ``tahoe`` command pays
a Python start-up).  :meth:`ProcessGrid.cleanup` kills every process the grid
ever started, whatever state the tests left it in.
"""

import glob
import http.client
import json
import os
import re
import signal
import subprocess
import urllib.parse

from allmydata import uri as urimod
from allmydata.scripts import pidfile
from allmydata.util import base32

from .ports import free_port
from .processes import TAHOE, NodeProcesses, pid_alive, read_text, run_all, terminate
from .waiting import wait_for

#: the client's ``[client] shares._max_immutable_segment_size_for_testing``
SEGMENT_SIZE = 65536

# container header (docs/specifications/containers.md §2): share data starts at 0x0c
CONTAINER_HEADER = 0x0C


class Response:
    """What an HTTP request got: ``status``, ``headers`` (a dict with
    lower-case names), ``body`` (every byte received) and ``complete``
    (False when the connection ended before the announced length)."""

    def __init__(self, status, headers, body, complete):
        self.status = status
        self.headers = headers
        self.body = body
        self.complete = complete

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %d, %d bytes%s: %r>" % (self.status, len(self.body),
                                                  "" if self.complete else " (cut short)",
                                                  self.body[:300])


def http_request(url, method="GET", path="/", body=None, headers=None, timeout=300) -> Response:
    """One request to the node at ``url``; never raises for HTTP errors, and
    keeps whatever part of the body arrived if the connection drops."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        hdrs = {"Accept": "text/plain"}
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        received = []
        complete = True
        while True:
            try:
                chunk = resp.read(65536)
            except http.client.IncompleteRead as e:
                received.append(e.partial)
                complete = False
                break
            except (ConnectionError, http.client.HTTPException):
                complete = False
                break
            if not chunk:
                break
            received.append(chunk)
        headers = {k.lower(): v for k, v in resp.getheaders()}
        body = b"".join(received)
        # http.client's read(amt) answers b"" at an early EOF instead of raising
        if "content-length" in headers and len(body) != int(headers["content-length"]):
            complete = False
        return Response(resp.status, headers, body, complete)
    finally:
        conn.close()


def connected_count(url):
    """How many storage servers the client node at ``url`` says it is
    connected to (its welcome page as JSON); None while it does not answer."""
    try:
        r = http_request(url, path="/?t=json", timeout=10)
        if r.status != 200:
            return None
        servers = json.loads(r.body)["servers"]
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        return None
    return sum(1 for s in servers if s["connection_status"].lower().startswith("connected"))


def cap_path(cap, query="") -> str:
    if isinstance(cap, bytes):
        cap = cap.decode("ascii")
    return "/uri/" + urllib.parse.quote(cap, safe="") + query


def storage_index_of(cap) -> bytes:
    return urimod.from_string(cap).get_storage_index()


class ProcessGrid:
    """An introducer, ``num_storage`` storage nodes and a client, in ``root``.

    The client starts with encoding ``(k, happy, n)`` and the small test
    segment size; :meth:`set_encoding` changes it (tahoe.cfg + restart)."""

    def __init__(self, root, num_storage=5, encoding=(3, 5, 10)):
        self.root = str(root)
        self.num_storage = num_storage
        self.procs = NodeProcesses()
        self.introducer = os.path.join(self.root, "introducer")
        self.storage = [os.path.join(self.root, "storage%d" % i) for i in range(num_storage)]
        self.client = os.path.join(self.root, "client")
        self.encoding = tuple(encoding)
        self.url = None
        self.nodeids = []

    # ---- building and tearing down --------------------------------------------------
    def build(self):
        run_all([("create-introducer", "--hostname", "127.0.0.1", "--webport", "none",
                  self.introducer)])
        self.procs.basedirs.append(self.introducer)
        run_all([("start", self.introducer)])
        furl = wait_for(lambda: self._read_if_exists(self.introducer, "private/introducer.furl"),
                        60, what="the introducer's furl")
        k, happy, n = self.encoding
        webport = free_port()
        creates = [("create-node", "--nickname", "storage%d" % i, "--hostname", "127.0.0.1",
                    "--introducer", furl, "--webport", "none", d)
                   for i, d in enumerate(self.storage)]
        creates.append(("create-client", "--nickname", "client", "--hostname", "127.0.0.1",
                        "--introducer", furl,
                        "--webport", "tcp:%d:interface=127.0.0.1" % webport,
                        "--shares-needed", k, "--shares-happy", happy, "--shares-total", n,
                        self.client))
        run_all(creates)
        self._edit_client_config(k, happy, n)
        self.procs.basedirs.extend(self.storage + [self.client])
        for d in self.storage + [self.client]:
            self._run_in_background(d)
        self.url = wait_for(lambda: self._read_if_exists(self.client, "node.url"), 60,
                            what="the client's node.url")
        self.wait_connected(self.num_storage)
        self.nodeids = [wait_for(lambda d=d: self._read_if_exists(d, "my_nodeid"), 30,
                                 what="my_nodeid in %s" % d) for d in self.storage]

    def _run_in_background(self, basedir):
        """``tahoe run BASEDIR`` as our child: what ``tahoe start`` does, minus
        one Python start-up per node (they add up on a two-core machine)."""
        os.makedirs(os.path.join(basedir, "logs"), exist_ok=True)
        with open(os.path.join(basedir, "logs", "test-run.log"), "wb") as out:
            p = subprocess.Popen(TAHOE + ["run", "--allow-stdin-close", basedir],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.procs.popens.append(p)

    @staticmethod
    def _read_if_exists(basedir, name):
        path = os.path.join(basedir, name)
        return read_text(path) if os.path.exists(path) else None

    def lifetime(self):
        """A module fixture's body: ``yield from grid.lifetime()`` builds the
        grid, hands it to the tests, and cleans it up even when building
        failed half-way."""
        try:
            self.build()
            yield self
        finally:
            self.cleanup()

    def cleanup(self):
        """SIGTERM every node (as ``tahoe stop`` does, without its start-up
        cost), give them 10 seconds, then kill whatever is left."""
        pids = [pid for pid in map(pidfile.running_pid, self.procs.basedirs) if pid]
        terminate(pids, self.procs.popens, timeout=10)
        self.procs.cleanup()

    # ---- the client's configuration ---------------------------------------------------
    def _edit_client_config(self, k, happy, n):
        path = os.path.join(self.client, "tahoe.cfg")
        with open(path) as f:
            cfg = f.read()
        for key, value in (("shares.needed", k), ("shares.happy", happy), ("shares.total", n)):
            cfg, count = re.subn(r"(?m)^%s\s*=.*$" % re.escape(key), "%s = %d" % (key, value), cfg)
            assert count == 1, "%s not found once in %s" % (key, path)
        key = "shares._max_immutable_segment_size_for_testing"
        if key not in cfg:
            cfg = cfg.replace("[client]\n", "[client]\n%s = %d\n" % (key, SEGMENT_SIZE), 1)
        with open(path, "w") as f:
            f.write(cfg)

    def set_encoding(self, k, happy, n):
        """Make the client upload with ``k``-of-``n``, ``happy``: edit its
        tahoe.cfg and ``tahoe restart`` it (only if they differ)."""
        if (k, happy, n) == self.encoding:
            return
        self._edit_client_config(k, happy, n)
        self.encoding = (k, happy, n)
        run_all([("restart", self.client)])
        self.wait_connected(self.num_storage)

    # ---- the client's view -------------------------------------------------------------
    def welcome(self):
        r = http_request(self.url, path="/?t=json", timeout=10)
        assert r.status == 200, r
        return json.loads(r.body)

    def connected_nodeids(self):
        try:
            servers = self.welcome()["servers"]
        except (OSError, http.client.HTTPException):
            return None  # the client is (re)starting
        return {s["nodeid"] for s in servers
                if s["connection_status"].lower().startswith("connected")}

    def wait_connected(self, count, timeout=60):
        """Wait until the client is connected to exactly ``count`` storage servers."""
        def ok():
            ids = self.connected_nodeids()
            return ids is not None and len(ids) == count

        try:
            wait_for(ok, timeout, what="the client connected to %d storage servers" % count)
        except AssertionError as e:
            try:
                servers = [(s["nodeid"], s["nickname"], s["connection_status"])
                           for s in self.welcome()["servers"]]
            except Exception as e2:  # noqa: BLE001 -- only for the message
                servers = "(the welcome page failed: %r)" % (e2,)
            running = {i: self.pid(i) for i in range(self.num_storage)}
            raise AssertionError("%s; the client's servers: %s; storage pids: %s"
                                 % (e, servers, running)) from None

    # ---- nodes ------------------------------------------------------------------------
    def stop(self, *indexes):
        run_all([("stop", self.storage[i]) for i in indexes])

    def start(self, *indexes):
        run_all([("start", self.storage[i]) for i in indexes])

    def pid(self, i):
        return pidfile.running_pid(self.storage[i])

    def kill(self, i):
        """SIGKILL storage node ``i`` (its pid from running.process)."""
        pid = self.pid(i)
        assert pid is not None, "storage node %d is not running" % i
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pid), 10, what="pid %d gone" % pid)

    def heal(self):
        """Start any storage node a failed test left stopped or killed, and
        wait until the client is connected to all of them."""
        stopped = [i for i in range(self.num_storage) if self.pid(i) is None]
        if stopped:
            self.start(*stopped)
        ids = self.connected_nodeids()
        if ids is None or len(ids) != self.num_storage:
            self.wait_connected(self.num_storage)

    def running(self):
        return [i for i in range(self.num_storage) if self.pid(i) is not None]

    # ---- web API ----------------------------------------------------------------------
    def put(self, data: bytes, timeout=300) -> Response:
        return http_request(self.url, "PUT", "/uri", body=data, timeout=timeout)

    def upload(self, data: bytes) -> str:
        r = self.put(data)
        assert r.status == 200, r
        return r.text.strip()

    def get(self, cap, query="", headers=None, method="GET", timeout=300) -> Response:
        return http_request(self.url, method, cap_path(cap, query), headers=headers,
                            timeout=timeout)

    def tahoe(self, *args, input=None, timeout=120):
        """``tahoe -d CLIENT ARGS``; the CompletedProcess (binary output)."""
        return subprocess.run(TAHOE + ["-d", self.client] + [str(a) for a in args],
                              input=input, capture_output=True, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              check=False)

    # ---- share files on disk ---------------------------------------------------------
    def share_dir(self, i, storage_index) -> str:
        si = base32.b2a(storage_index).decode("ascii")
        return os.path.join(self.storage[i], "storage", "shares", si[:2], si)

    def shares(self, cap) -> dict:
        """``{storage node index: {shnum: path}}`` of the complete shares of ``cap``."""
        si = storage_index_of(cap)
        found = {}
        for i in range(self.num_storage):
            d = self.share_dir(i, si)
            if os.path.isdir(d):
                found[i] = {int(name): os.path.join(d, name) for name in os.listdir(d)}
        return found

    def incoming(self, i, min_written=0) -> list:
        """Share files (partial uploads) under node ``i``'s shares/incoming/;
        only those with at least ``min_written`` bytes on disk, if given (the
        server creates them sparse, at their full size)."""
        base = os.path.join(self.storage[i], "storage", "shares", "incoming")
        found = []
        for p in glob.glob(os.path.join(base, "*", "*", "*")):
            try:
                st = os.stat(p)
            except FileNotFoundError:
                continue  # closed or aborted meanwhile
            if st.st_blocks * 512 >= min_written:
                found.append(p)
        return found

    def advisories(self, i, cap) -> list:
        """Corruption advisory files about ``cap`` on storage node ``i``."""
        si = base32.b2a(storage_index_of(cap)).decode("ascii")
        d = os.path.join(self.storage[i], "storage", "corruption-advisories")
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, n) for n in os.listdir(d) if si in n)
