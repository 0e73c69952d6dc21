"""Process-level harness for running the real Tahoe-LAFS 1.20 against storage nodes.

What it holds:

* :class:`ReferenceNode` -- one ``tahoe run`` of the reference package
  (``<venv>/bin/tahoe``) as a child process, stopped with SIGTERM and, if need
  be, SIGKILL.
* :class:`StorageNode` plus two launchers with the same shape,
  :class:`OurStorageGrid` (our ``python -m allmydata.scripts.runner``) and
  :class:`ReferenceStorageGrid` (Tahoe-LAFS 1.20 storage nodes, the control).
  Both start N nodes listening on 127.0.0.1 and return their storage FURLs.
* :class:`TahoeClient` -- a Tahoe-LAFS 1.20 *client* node pointed at a list
  of storage FURLs through ``private/servers.yaml`` (Foolscap only, no
  introducer), with small blocking wrappers around its web API.

Everything here is blocking (``subprocess``, ``urllib``): the tests that use
it are about whole processes talking to each other, so no reactor is needed
in the test process itself.
"""

import glob
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass


from .nodeconfig import StorageNode, edit_config, write_convergence_secret, write_servers_yaml
from .ports import free_port
from .processes import NodeProcesses, pid_alive, read_pid, run_tahoe, terminate
from .refvenv import clean_env
from .waiting import wait_for


class HarnessError(AssertionError):
    """A node of the interop grid did not start, stop or answer as expected."""


class WebAPIError(HarnessError):
    """The Tahoe client's web API answered with an HTTP error."""

    def __init__(self, method, url, status, body, diagnostics=""):
        self.status = status
        self.body = body
        text = body.decode("utf-8", "replace")
        super().__init__("%s %s -> HTTP %d\n%s\n%s" % (method, url, status, text[-6000:], diagnostics))


def tail(path, max_chars=6000):
    """The last ``max_chars`` of a text file, or a note saying it is missing."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_chars))
            return f.read().decode("utf-8", "replace")
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)


def tubid_of(furl):
    """The base32 tubid of a ``pb://TUBID@hints/name`` FURL."""
    return furl[len("pb://"):].split("@", 1)[0]


class ReferenceNode:
    """One ``tahoe run --allow-stdin-close BASEDIR`` of the reference package."""

    def __init__(self, venv, basedir):
        self.venv = venv
        self.basedir = basedir
        self.tahoe = os.path.join(venv, "bin", "tahoe")
        self.popen = None
        self.output_path = os.path.join(basedir, "tahoe-run.out")
        self.flog_path = os.path.join(basedir, "tahoe-run.flog")

    def create(self, *args):
        """Run ``tahoe CREATE-COMMAND ... BASEDIR`` (e.g. ``create-client``)."""
        proc = subprocess.run([self.tahoe] + [str(a) for a in args] + [self.basedir],
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=clean_env())
        if proc.returncode != 0:
            raise HarnessError("reference %s failed (exit %d):\n%s\n%s"
                               % (" ".join(map(str, args)), proc.returncode, proc.stdout, proc.stderr))

    def start(self):
        # FLOGFILE: Foolscap records the node's own log events (where Tahoe puts the
        # details of remote failures) in a file that ``flogtool dump`` can read.
        env = clean_env({"FLOGFILE": self.flog_path})
        with open(self.output_path, "ab") as out:
            self.popen = subprocess.Popen([self.tahoe, "run", "--allow-stdin-close", self.basedir],
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                          env=env, start_new_session=True)

    def check_running(self):
        """Raise if the process has exited (with its output, which says why)."""
        if self.popen is not None and self.popen.poll() is not None:
            raise HarnessError("reference node %s exited with %s:\n%s"
                               % (self.basedir, self.popen.returncode, tail(self.output_path)))

    def _pids(self):
        pids = set()
        if self.popen is not None and self.popen.poll() is None:
            pids.add(self.popen.pid)
        pid = read_pid(self.basedir)
        if pid and pid_alive(pid):
            pids.add(pid)
        return pids

    def stop(self, timeout=15):
        """SIGTERM, wait, then SIGKILL whatever is left. Never raises for a dead process."""
        terminate(self._pids(), [self.popen] if self.popen is not None else [], timeout)
        if self.popen is not None:
            self.popen.wait(timeout=10)

    def _flogtool_dump(self, path, max_chars):
        flogtool = os.path.join(self.venv, "bin", "flogtool")
        try:
            proc = subprocess.run([flogtool, "dump", path], capture_output=True, text=True,
                                  timeout=60, stdin=subprocess.DEVNULL, env=clean_env())
            text = proc.stdout + proc.stderr
        except (OSError, subprocess.TimeoutExpired) as e:
            text = "(flogtool dump failed: %s)" % e
        return "--- flogtool dump %s ---\n%s" % (path, text[-max_chars:])

    def logs(self):
        """Its captured output, the tail of its Foolscap log and any incident logs."""
        parts = ["--- %s ---\n%s" % (self.output_path, tail(self.output_path, 3000))]
        if os.path.exists(self.flog_path):
            parts.append(self._flogtool_dump(self.flog_path, 8000))
        incidents = sorted(glob.glob(os.path.join(self.basedir, "logs", "incidents", "*.flog*")))
        for path in incidents[-2:]:
            parts.append(self._flogtool_dump(path, 6000))
        return "\n".join(parts)


def _read_furl(basedir):
    try:
        with open(os.path.join(basedir, "private", "storage.furl")) as f:
            furl = f.read().strip()
    except OSError:
        return None
    return furl or None


class ReferenceStorageGrid:
    """N Tahoe-LAFS 1.20 storage nodes (Foolscap forced): the control group."""

    kind = "tahoe-1.20"

    def __init__(self, venv, workdir, count=3):
        self.venv = venv
        self.workdir = workdir
        self.count = count
        self.nodes = []
        self.procs = []

    def _create_one(self, i):
        nick = "ref-storage-%d" % i
        basedir = os.path.join(self.workdir, nick)
        port = free_port()
        proc = ReferenceNode(self.venv, basedir)
        proc.create("create-node", "--nickname", nick, "--listen", "tcp",
                    "--port", "tcp:%d:interface=127.0.0.1" % port,
                    "--location", "tcp:127.0.0.1:%d" % port, "--webport", "none")
        edit_config(basedir, {"storage": {"force_foolscap": "true", "reserved_space": "0"}})
        return proc

    def start(self, timeout=60):
        with ThreadPoolExecutor(self.count) as pool:
            self.procs = list(pool.map(self._create_one, range(self.count)))
        for proc in self.procs:
            proc.start()
        for proc in self.procs:
            def ready(proc=proc):
                proc.check_running()
                return _read_furl(proc.basedir)
            furl = wait_for(ready, timeout, what="storage.furl of " + proc.basedir)
            self.nodes.append(StorageNode(os.path.basename(proc.basedir), proc.basedir, furl))
        return self.nodes

    def stop(self):
        for proc in self.procs:
            proc.stop()

    def logs(self):
        return "\n".join(p.logs() for p in self.procs)


class OurStorageGrid:
    """N storage nodes of this project, driven through our ``tahoe`` CLI."""

    kind = "ours"

    def __init__(self, workdir, count=3):
        self.workdir = workdir
        self.count = count
        self.nodes = []
        self.procs = NodeProcesses()

    @staticmethod
    def check_cli():
        """Fail with a clear message if our CLI cannot even print its version."""
        proc = run_tahoe("--version", check=False, timeout=60)
        if proc.returncode != 0:
            raise HarnessError("our tahoe CLI (python -m allmydata.scripts.runner) is not usable "
                               "yet: --version exited %d\n%s\n%s"
                               % (proc.returncode, proc.stdout, proc.stderr[-3000:]))

    def _start_one(self, i, timeout):
        nick = "our-storage-%d" % i
        basedir = os.path.join(self.workdir, nick)
        port = free_port()
        run_tahoe("create-node", "--nickname", nick, "--listen", "tcp",
                            "--port", "tcp:%d:interface=127.0.0.1" % port,
                            "--location", "tcp:127.0.0.1:%d" % port, "--webport", "none", basedir)
        self.procs.start(basedir, wait_file="private/storage.furl", timeout=timeout)
        return StorageNode(nick, basedir, wait_for(lambda: _read_furl(basedir), 10,
                                                             what="storage.furl in " + basedir))

    def start(self, timeout=60):
        self.check_cli()
        with ThreadPoolExecutor(self.count) as pool:
            futures = [pool.submit(self._start_one, i, timeout) for i in range(self.count)]
            self.nodes = [f.result() for f in futures]
        return self.nodes

    @staticmethod
    def _stop_one(basedir):
        try:
            run_tahoe("stop", basedir, check=False, timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def stop(self):
        """``tahoe stop`` every node (in parallel), then SIGKILL any survivor."""
        try:
            if self.procs.basedirs:
                with ThreadPoolExecutor(len(self.procs.basedirs)) as pool:
                    list(pool.map(self._stop_one, self.procs.basedirs))
        finally:
            self.procs.cleanup()

    def logs(self):
        parts = []
        for basedir in self.procs.basedirs:
            for path in sorted(glob.glob(os.path.join(basedir, "logs", "*")) +
                               glob.glob(os.path.join(basedir, "*.log"))):
                if os.path.isfile(path):
                    parts.append("--- %s ---\n%s" % (path, tail(path, 4000)))
        return "\n".join(parts) or "(our storage nodes wrote no log files)"


@dataclass
class HTTPResponse:
    status: int
    headers: dict  # lower-cased names
    body: bytes


class WebClient:
    """Blocking wrappers around a client node's web API, shared by both clients.

    Subclasses provide ``web_port``, ``server_ids`` (``{server id: node}``),
    ``check_running()`` and ``logs()``.
    """

    what = "client"
    web_port = None

    def __init__(self):
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.server_ids = {}
        self.extra_logs = lambda: ""

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.web_port

    def check_running(self):
        pass

    def logs(self):
        return self.extra_logs()

    def fetch(self, method, path, body=None, headers=None, timeout=120):
        """One HTTP request: an :class:`HTTPResponse`, or WebAPIError (with the logs) for 4xx/5xx."""
        url = self.url + path
        all_headers = {"Accept": "text/plain"}
        all_headers.update(headers or {})
        req = urllib.request.Request(url, data=body, method=method, headers=all_headers)
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                return HTTPResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()},
                                    resp.read())
        except urllib.error.HTTPError as e:
            raise WebAPIError(method, url, e.code, e.read(), self.logs()) from None

    def request(self, method, path, body=None, timeout=120):
        """One HTTP request; return the body, or raise WebAPIError with the logs."""
        return self.fetch(method, path, body, timeout=timeout).body

    def status(self):
        return json.loads(self.request("GET", "/?t=json", timeout=10))

    def connected_servers(self):
        """The server ids of ours that /?t=json reports as connected.

        A server appears there under its servers.yaml id (Tahoe-LAFS) or
        under the tubid of its FURL (our client): both are recognised.
        """
        names = {}
        for sid, node in self.server_ids.items():
            names[sid] = sid
            names[tubid_of(node.furl)] = sid
        connected = set()
        for server in self.status().get("servers", []):
            up = str(server.get("connection_status", "")).lower().startswith("connected")
            if up and server.get("nodeid") in names:
                connected.add(names[server.get("nodeid")])
        return connected

    def wait_connected(self, timeout=60):
        last = ["(no answer yet)"]

        def all_connected():
            self.check_running()
            try:
                status = self.status()
            except (OSError, WebAPIError) as e:
                last[0] = repr(e)
                return False
            last[0] = json.dumps(status.get("servers"), indent=1)
            return self.connected_servers() == set(self.server_ids)

        deadline = time.monotonic() + timeout
        while not all_connected():
            if time.monotonic() > deadline:
                raise HarnessError("after %ds the %s is not connected to all %d storage "
                                   "servers; last /?t=json servers:\n%s\n%s"
                                   % (timeout, self.what, len(self.server_ids), last[0], self.logs()))
            time.sleep(0.2)

    @staticmethod
    def _cap_path(cap):
        return "/uri/" + urllib.parse.quote(cap, safe="")

    def upload(self, data, format=None):
        """``PUT /uri[?format=F]``: the new (unlinked) file's cap."""
        path = "/uri" + ("?format=%s" % format if format else "")
        return self.request("PUT", path, data).decode("ascii").strip()

    def download(self, cap):
        return self.request("GET", self._cap_path(cap))

    def download_range(self, cap, range_spec):
        """``GET /uri/$CAP`` with ``Range: bytes=RANGE_SPEC``: the whole :class:`HTTPResponse`."""
        return self.fetch("GET", self._cap_path(cap), headers={"Range": "bytes=" + range_spec})

    def overwrite(self, writecap, data, offset=None):
        """``PUT /uri/$WRITECAP[?offset=N]``: replace (or patch) a mutable file."""
        path = self._cap_path(writecap) + ("?offset=%d" % offset if offset is not None else "")
        self.request("PUT", path, data)

    def info(self, cap):
        """``GET /uri/$CAP?t=json``: ``(node type, details dict)``."""
        kind, details = json.loads(self.request("GET", self._cap_path(cap) + "?t=json"))
        return kind, details


class TahoeClient(WebClient):
    """A Tahoe-LAFS 1.20 client node using the given storage nodes, and its web API."""

    what = "Tahoe-LAFS client"

    def __init__(self, venv, basedir, needed=2, happy=3, total=5):
        WebClient.__init__(self)
        self.node = ReferenceNode(venv, basedir)
        self.basedir = basedir
        self.needed, self.happy, self.total = needed, happy, total

    def create(self):
        """``tahoe create-client`` with our encoding parameters, Foolscap only."""
        self.web_port = free_port()
        self.node.create("create-client", "--nickname", "interop-client",
                         "--webport", "tcp:%d:interface=127.0.0.1" % self.web_port,
                         "--shares-needed", self.needed, "--shares-happy", self.happy,
                         "--shares-total", self.total)
        edit_config(self.basedir, {"client": {"force_foolscap": "true"}})

    def set_servers(self, storage_nodes):
        """Write ``private/servers.yaml`` listing these storage nodes (before start)."""
        self.server_ids = write_servers_yaml(self.basedir, storage_nodes)

    def set_convergence_secret(self, secret):
        """Use this convergence secret (bytes) from the next start on."""
        write_convergence_secret(self.basedir, secret)

    def start(self):
        self.node.start()

    def stop(self):
        self.node.stop()

    def check_running(self):
        self.node.check_running()

    def logs(self):
        return self.node.logs() + "\n" + self.extra_logs()

    def check(self, cap, verify=True):
        """``POST /uri/$CAP?t=check&verify=..&output=JSON``: the ``results`` dict.

        With ``verify`` every share is read in full and its hashes checked,
        not just the k shares a download needs.
        """
        path = self._cap_path(cap) + "?t=check&output=JSON&verify=%s" % ("true" if verify else "false")
        return json.loads(self.request("POST", path, b""))["results"]

    def storage_index(self, cap):
        """Base32 storage index, read from the verify cap Tahoe reports."""
        _, details = self.info(cap)
        return details["verify_uri"].split(":")[2]


class OurClient(WebClient):
    """A client node of this project (``python -m allmydata.scripts.runner``).

    It does not listen (``--listen none``) and finds its storage servers in
    ``private/servers.yaml``; it is started with ``tahoe start`` and stopped
    with ``tahoe stop`` (SIGKILL for whatever survives).
    """

    what = "our client"

    def __init__(self, basedir, needed=2, happy=3, total=5, nickname="our-client"):
        WebClient.__init__(self)
        self.basedir = basedir
        self.needed, self.happy, self.total = needed, happy, total
        self.nickname = nickname
        self.procs = NodeProcesses()

    def create(self):
        self.web_port = free_port()
        run_tahoe("create-client", "--nickname", self.nickname, "--listen", "none",
                            "--webport", "tcp:%d:interface=127.0.0.1" % self.web_port,
                            "--shares-needed", self.needed, "--shares-happy", self.happy,
                            "--shares-total", self.total, self.basedir)

    def set_servers(self, storage_nodes):
        """Write ``private/servers.yaml`` listing these storage nodes (before start)."""
        self.server_ids = write_servers_yaml(self.basedir, storage_nodes)

    def set_convergence_secret(self, secret):
        """Use this convergence secret (bytes) from the next start on."""
        write_convergence_secret(self.basedir, secret)

    def start(self, timeout=60):
        """``tahoe start``; return once the node has written ``node.url``."""
        self.procs.start(self.basedir, wait_file="node.url", timeout=timeout)

    def pid(self):
        return read_pid(self.basedir)

    def check_running(self):
        pid = self.pid()
        if pid is not None and not pid_alive(pid):
            raise HarnessError("our client node %s (pid %d) has exited:\n%s"
                               % (self.basedir, pid, self.logs()))

    def stop(self):
        """``tahoe stop``, then SIGKILL if it is still there. Never raises for a dead node."""
        try:
            run_tahoe("stop", self.basedir, check=False, timeout=30)
        except subprocess.TimeoutExpired:
            pass
        finally:
            self.procs.cleanup()

    def logs(self):
        parts = []
        for path in sorted(glob.glob(os.path.join(self.basedir, "logs", "*")) +
                           glob.glob(os.path.join(self.basedir, "*.log"))):
            if os.path.isfile(path):
                parts.append("--- %s ---\n%s" % (path, tail(path, 6000)))
        return ("\n".join(parts) or "(our client wrote no log files)") + "\n" + self.extra_logs()


@contextmanager
def running(storage, client, timeout=60):
    """Start the storage grid ``storage`` and the ``client`` node using its
    nodes, wait until the client is connected to all of them, and yield the
    nodes; both are stopped afterwards, and when starting fails half-way."""
    with ExitStack() as stack:
        stack.callback(storage.stop)
        client.create()
        nodes = storage.start()
        client.set_servers(nodes)
        stack.callback(client.stop)
        client.start()
        client.wait_connected(timeout=timeout)
        yield nodes
