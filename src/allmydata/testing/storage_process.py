"""A storage server in a process of its own, for the ``misc/`` benchmarks
that measure a client apart from its servers.

``python -m allmydata.testing.storage_process STOREDIR`` runs one
:class:`StorageServer` on a Tub on 127.0.0.1, prints its FURL on a line of
its own, and runs until its standard input closes.
:func:`start_storage_process` starts one and reads that FURL;
:func:`start_storage_processes` starts several and connects a broker to them.
"""

import os
import subprocess
import sys

from foolscap.api import Tub
from twisted.internet import reactor

from allmydata.storage.server import StorageServer
from allmydata.storage_client import StorageFarmBroker
from allmydata.util.idlib import nodeid_a2b
from allmydata.util.rrefutil import call_remote

from .tubs import start_tub

MODULE = "allmydata.testing.storage_process"
COMMAND = [sys.executable, "-m", MODULE]


def serve_storage(storedir: str) -> None:
    """Run one storage server until standard input closes; print its FURL first."""
    tub = start_tub()
    ss = StorageServer(storedir, nodeid_a2b(tub.getTubID()))
    ss.startService()
    print(tub.registerReference(ss), flush=True)

    def watch_stdin():
        try:
            sys.stdin.read()
        finally:
            reactor.callFromThread(reactor.stop)
    reactor.callInThread(watch_stdin)
    reactor.run()


def start_storage_process(storedir: str, command=COMMAND):
    """Start a storage server process on ``storedir`` (``command``, e.g. the
    module run under a profiler, is given the directory); return
    ``(Popen, FURL)``.  Closing the Popen's stdin stops it."""
    p = subprocess.Popen(list(command) + [storedir], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    furl = p.stdout.readline().strip()
    if not furl.startswith("pb://"):
        p.kill()
        p.wait()
        raise RuntimeError("the storage server on %s did not start (said %r)" % (storedir, furl))
    return p, furl


def stop_storage_process(p, timeout=30) -> None:
    """Close its standard input, wait for it to end (kill it after ``timeout``)."""
    p.stdin.close()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    p.stdout.close()


async def start_storage_processes(root: str, count: int, client_tub: Tub, procs: list):
    """``count`` storage server processes under ``root`` (each Popen is
    appended to ``procs``), and a StorageFarmBroker connected to them
    through ``client_tub``."""
    entries = []
    for i in range(count):
        p, furl = start_storage_process(os.path.join(root, "server%d" % i, "storage"))
        procs.append(p)
        rref = await client_tub.getReference(furl)
        version = await call_remote(rref, "get_version")
        tubid = furl[len("pb://"):].split("@")[0]
        entries.append((nodeid_a2b(tubid.encode("ascii")), rref, version))
    return StorageFarmBroker.from_rrefs(entries)


if __name__ == "__main__":
    serve_storage(sys.argv[1])
