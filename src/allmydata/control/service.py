"""The control port's service: a ``Referenceable`` on a Tub of its own.

As in Tahoe-LAFS, the control port does not use the node's Tub: it has an
ephemeral Tub (new key and FURL at each start) listening on 127.0.0.1 on a
port the system picks, so every client node has one, whether or not the node
itself listens.  At start the FURL is written to ``private/control.furl``
with mode 0600: whoever can read it can make the node read and write local
files, so it is private to the node's owner.

Each method checks its arguments before any side effect and answers a bad
one with :class:`ControlError` (a remote error naming the problem).  The
bounds on counts and sizes are not a defence against the owner; they keep a
typo (a size in bytes where MiB were meant) from filling the disk.
"""

import os
import shutil
import socket
import tempfile
import time

from foolscap.api import Referenceable, Tub
from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from ..immutable.interfaces import IDownloadTarget
from ..immutable.uploadable import FileName
from ..immutable.target import FileName as TargetFileName
from ..uri import BadURIError
from ..util import fileutil
from ..util.rrefutil import call_remote
from .interfaces import RIControlClient

MAX_WAIT_CLIENTS = 10000
MAX_SPEED_COUNT = 10000
MAX_SPEED_SIZE = 2**30
MAX_SPEED_TOTAL = 4 * 2**30
MAX_MUTABLE_SIZE = 64 * 2**20
POLL_INTERVAL = 0.1
PING_TIMEOUT = 60.0
MEMORY_KEYS = ("VmPeak", "VmSize", "VmData")

log = Logger()


class ControlError(Exception):
    """A control-port call refused, with the reason."""


def _check_int(name, value, low, high):
    if not isinstance(value, int) or isinstance(value, bool):
        raise ControlError("%s must be an integer, not %s" % (name, type(value).__name__))
    if not low <= value <= high:
        raise ControlError("%s must be between %d and %d, not %d" % (name, low, high, value))


def _check_absolute(filename):
    if not os.path.isabs(filename):
        raise ControlError("filename must be an absolute path: %r" % (filename,))


def read_memory_usage(status_path="/proc/self/status") -> dict:
    """``VmPeak``, ``VmSize`` and ``VmData`` in bytes, from the kernel's
    status file of this process (its figures are in kB)."""
    try:
        with open(status_path) as f:
            lines = f.readlines()
    except OSError as e:
        raise ControlError("memory usage needs %s: %s" % (status_path, e.strerror))
    usage = {}
    for line in lines:
        key, _, rest = line.partition(":")
        if key in MEMORY_KEYS:
            value, unit = rest.split()
            if unit != "kB":
                raise ControlError("unexpected unit %r for %s in %s" % (unit, key, status_path))
            usage[key] = int(value) * 1024
    missing = [k for k in MEMORY_KEYS if k not in usage]
    if missing:
        raise ControlError("%s has no %s" % (status_path, ", ".join(missing)))
    return usage


@implementer(IDownloadTarget)
class _Discard:
    """A download target that counts the bytes and keeps none (speed tests
    time the download, not the disk)."""

    def __init__(self):
        self.size = 0

    def open(self, size):
        pass

    def write(self, data):
        self.size += len(data)

    def close(self):
        pass

    def fail(self, why):
        pass

    def register_canceller(self, cb):
        pass

    def finish(self):
        return self.size


@implementer(RIControlClient)
class ControlServer(Referenceable):
    """The methods of ``RIControlClient`` for one client node.

    ``client`` uploads and makes nodes from caps, ``storage_broker`` knows
    the connected servers, ``tempdir`` (the node's ``[node] tempdir``) holds
    the speed test's files and downloads' partial files live next to their
    destination.
    """

    def __init__(self, client, storage_broker, tempdir, reactor, clock=time.perf_counter):
        self._client = client
        self._broker = storage_broker
        self._tempdir = tempdir
        self._reactor = reactor
        self._clock = clock
        self._waiting = {}  # Deferred of a pending wait -> (num_clients, its next poll)
        self.running = True

    # ---- connections ----
    def remote_wait_for_client_connections(self, num_clients):
        """Fires once ``num_clients`` storage servers are connected,
        checking every ``POLL_INTERVAL`` seconds.  A wait still pending when
        the node stops fails with a :class:`ControlError` at that moment,
        before the control port closes, so the caller learns why."""
        _check_int("num_clients", num_clients, 0, MAX_WAIT_CLIENTS)
        if not self.running:
            raise ControlError("the node is stopping")
        d = defer.Deferred()

        def poll():
            if len(self._broker.get_connected_servers()) >= num_clients:
                self._waiting.pop(d, None)
                d.callback(None)
            else:
                self._waiting[d] = (num_clients, self._reactor.callLater(POLL_INTERVAL, poll))
        poll()
        return d

    def stop(self):
        """Refuse new waits and fail the pending ones (the node is stopping)."""
        self.running = False
        waiting, self._waiting = self._waiting, {}
        for d, (num_clients, call) in waiting.items():
            call.cancel()
            connected = len(self._broker.get_connected_servers())
            d.errback(ControlError("the node is stopping: gave up waiting for %d storage "
                                   "servers (%d connected)" % (num_clients, connected)))

    # ---- files ----
    def remote_upload_from_file_to_uri(self, filename, convergence):
        _check_absolute(filename)
        if not os.path.isfile(filename):
            raise ControlError("not a regular file: %r" % (filename,))
        d = self._client.upload(FileName(filename, convergence, reactor=self._reactor))
        d.addCallback(lambda results: results.get_uri())
        return d

    def _file_node(self, uri):
        try:
            node = self._client.create_node_from_uri(uri)
        except BadURIError as e:
            raise ControlError("bad cap: %s" % (e,))
        if not callable(getattr(node, "download", None)):
            raise ControlError("not a file cap (a directory or an unknown kind of cap)")
        return node

    def remote_download_from_uri_to_file(self, uri, filename):
        _check_absolute(filename)
        parent = os.path.dirname(filename)
        if not os.path.isdir(parent):
            raise ControlError("no such directory: %r" % (parent,))
        if os.path.isdir(filename):
            raise ControlError("a directory is in the way: %r" % (filename,))
        node = self._file_node(uri)
        # the download goes to a new file beside the destination, which it
        # replaces only once complete: a failed download leaves what was there
        fd, partial = tempfile.mkstemp(prefix=".control-", suffix=".partial", dir=parent)
        os.close(fd)
        d = node.download(TargetFileName(partial))

        def done(_):
            os.replace(partial, filename)
            return filename

        def failed(f):
            if os.path.exists(partial):
                os.unlink(partial)
            return f
        d.addCallbacks(done, failed)
        return d

    # ---- debugging ----
    def remote_get_memory_usage(self):
        return read_memory_usage()

    def remote_speed_test(self, count, size, mutable):
        _check_int("count", count, 1, MAX_SPEED_COUNT)
        if isinstance(mutable, bytes):
            mutable = mutable.decode("ascii", "replace")  # as a bytes-speaking client sends it
        if mutable not in (None, "create", "upload"):
            raise ControlError("mutable must be None, 'create' or 'upload', not %r" % (mutable,))
        _check_int("size", size, 0, MAX_MUTABLE_SIZE if mutable else MAX_SPEED_SIZE)
        if count * size > MAX_SPEED_TOTAL:
            raise ControlError("count * size must be at most %d bytes, not %d"
                               % (MAX_SPEED_TOTAL, count * size))
        return defer.ensureDeferred(self._speed_test(count, size, mutable))

    async def _speed_test(self, count, size, mutable):
        workdir = tempfile.mkdtemp(prefix="speedtest-", dir=self._tempdir)
        try:
            paths = []
            for i in range(count):
                path = os.path.join(workdir, "file%d" % i)
                _write_random(path, size)
                paths.append(path)
            caps = []
            mutable_node = None
            if mutable == "upload":
                mutable_node = await self._client.create_mutable_file(b"")
            started = self._clock()
            for path in paths:
                if mutable is None:
                    results = await self._client.upload(FileName(path, None,
                                                                 reactor=self._reactor))
                    caps.append(results.get_uri())
                else:
                    with open(path, "rb") as f:
                        data = f.read()
                    if mutable == "create":
                        node = await self._client.create_mutable_file(data)
                        caps.append(node.get_uri())
                    else:
                        await mutable_node.overwrite(data)
                        caps.append(mutable_node.get_uri())
            upload_time = self._clock() - started
            started = self._clock()
            for cap in caps:
                got = await self._client.create_node_from_uri(cap).download(_Discard())
                if got != size:
                    raise ControlError("downloaded %d bytes of a %d-byte file" % (got, size))
            download_time = self._clock() - started
            return (float(upload_time), float(download_time))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def remote_measure_peer_response_time(self):
        """One ``get_version`` call to every connected storage server at
        once, each timed from send to answer.  A server whose call fails
        (the connection was lost meanwhile, or it answered with an error),
        or that has not answered within ``PING_TIMEOUT`` seconds, is left out
        of the answer and logged: it has no response time to report, and one
        such server does not hide the others' times."""
        servers = [s for s in self._broker.get_connected_servers() if s.get_rref() is not None]

        async def ping(server):
            started = self._clock()
            d = call_remote(server.get_rref(), "get_version")
            d.addTimeout(PING_TIMEOUT, self._reactor)
            try:
                await d
            except defer.TimeoutError:
                reason = "no answer in %g s" % PING_TIMEOUT
            except Exception as e:
                reason = "%s: %s" % (type(e).__name__, e)
            else:
                return server.get_serverid(), float(self._clock() - started)
            log.info("control port: storage server {server} left out of the response times: "
                     "{reason}", server=server.get_name(), reason=reason)
            return None

        async def measure():
            results = await defer.gatherResults([defer.ensureDeferred(ping(s)) for s in servers])
            return dict(r for r in results if r is not None)
        return defer.ensureDeferred(measure())


def _write_random(path, size, chunk=2**20):
    """``size`` random bytes (incompressible, never deduplicated) to ``path``."""
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n


def _unused_port() -> int:
    """A TCP port on 127.0.0.1 that the system reports free (Foolscap can no
    longer tell which port a ``tcp:0`` listener got)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ControlService(service.MultiService):
    """The control port of a client node: its own Tub on 127.0.0.1, the
    :class:`ControlServer` registered on it, and the FURL in
    ``furl_path`` (mode 0600) while running."""

    def __init__(self, server: ControlServer, furl_path: str):
        service.MultiService.__init__(self)
        self.server = server
        self.furl_path = furl_path
        self.furl = None
        self.tub = Tub()
        self.tub.setServiceParent(self)

    def startService(self):
        service.MultiService.startService(self)
        self.server.running = True
        port = _unused_port()
        self.tub.listenOn("tcp:%d:interface=127.0.0.1" % port)
        self.tub.setLocation("tcp:127.0.0.1:%d" % port)
        self.furl = self.tub.registerReference(self.server)
        fileutil.write_atomically(self.furl_path, (self.furl + "\n").encode("ascii"), mode=0o600)

    def stopService(self):
        # the pending waits fail first: their answers go out on connections
        # that are still open, and the Tub's shutdown flushes them
        self.server.stop()
        if os.path.exists(self.furl_path):
            os.unlink(self.furl_path)
        return service.MultiService.stopService(self)
