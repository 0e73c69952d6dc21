"""An in-process grid for the mutable-file protocol tests.

:class:`MutableGrid` runs ``num_servers`` real :class:`StorageServer`\\ s, each
on its own real Foolscap Tub listening on 127.0.0.1, and one client Tub
connected to all of them; ``broker`` is a real StorageFarmBroker built from
those connections (``StorageFarmBroker.from_rrefs``), as the immutable grid
tests do.  Tests create and read mutable files through
:class:`~allmydata.mutable.filenode.MutableFileNode` on it, then look at or
damage the share files on disk (:meth:`share_files`, :meth:`corrupt_share`),
stop servers (:meth:`stop_server`), or make one server refuse writes
(:attr:`FaultyStorageServer.fail_writes`: a real server that raises on
``slot_testv_and_readv_and_writev`` while the flag is set, or after
:attr:`~FaultyStorageServer.fail_after_writes` calls).

A session-scoped fixture makes the Tub certificates once, and RSA keys are
pre-generated (:func:`keypairs`), so each test starts a grid in well under a
second.
"""

import os

import pytest
import pytest_twisted
from foolscap.api import Tub

from allmydata.client import SecretHolder
from allmydata.crypto import rsa
from allmydata.storage.mutable import DATA_OFFSET
from allmydata.storage.server import StorageServer
from allmydata.storage_client import StorageFarmBroker
from allmydata.testing.tubs import start_tub
from allmydata.util import base32
from allmydata.util.idlib import nodeid_a2b
from allmydata.util.rrefutil import call_remote


class FaultyStorageServer(StorageServer):
    """A real storage server whose writes can be made to fail on demand."""

    fail_writes = False
    #: when set, the number of write calls that succeed before every later one fails
    fail_after_writes = None

    def __init__(self, *args, **kwargs):
        StorageServer.__init__(self, *args, **kwargs)
        self.write_log = []   # (shnum, offset, length) of every data vector entry
        self.read_log = []    # (shnum list, offset, length) of every slot_readv entry
        self.read_calls = 0   # slot_readv calls

    def remote_slot_testv_and_readv_and_writev(self, storage_index, secrets, tw_vectors,
                                               r_vector):
        if self.fail_after_writes is not None:
            if self.fail_after_writes <= 0:
                self.fail_writes = True
            self.fail_after_writes -= 1
        if self.fail_writes:
            raise OSError("injected failure: this server's disk is broken")
        for shnum, (_testv, datav, _new_length) in tw_vectors.items():
            self.write_log += [(shnum, off, len(data)) for off, data in datav]
        return StorageServer.remote_slot_testv_and_readv_and_writev(
            self, storage_index, secrets, tw_vectors, r_vector)

    def remote_slot_readv(self, storage_index, shares, readv):
        self.read_calls += 1
        self.read_log += [(list(shares), off, length) for off, length in readv]
        return StorageServer.remote_slot_readv(self, storage_index, shares, readv)


class MutableGrid:
    def __init__(self, basedir, certs):
        self.basedir = str(basedir)
        self._certs = certs
        self.servers = []        # FaultyStorageServer
        self.server_tubs = []
        self.serverids = []
        self.client_tub = None
        self.broker = None
        self.stopped = set()
        self.secret_holder = SecretHolder(b"L" * 32, b"C" * 32)

    async def start(self, num_servers: int):
        self.client_tub = Tub(certData=self._certs[-1])
        self.client_tub.startService()
        entries = []
        for i in range(num_servers):
            tub = start_tub(cert=self._certs[i])
            serverid = nodeid_a2b(tub.getTubID())
            ss = FaultyStorageServer(os.path.join(self.basedir, "server%d" % i, "storage"),
                                     serverid)
            ss.startService()
            furl = tub.registerReference(ss)
            rref = await self.client_tub.getReference(furl)
            version = await call_remote(rref, "get_version")
            self.servers.append(ss)
            self.server_tubs.append(tub)
            self.serverids.append(serverid)
            entries.append((serverid, rref, version))
        self.broker = StorageFarmBroker.from_rrefs(entries)
        return self

    def params(self, k=3, n=10):
        return {"k": k, "happy": min(n, 7), "n": n}

    def clear_logs(self):
        for ss in self.servers:
            ss.write_log.clear()
            ss.read_log.clear()
            ss.read_calls = 0

    def written(self) -> list:
        return [e for ss in self.servers for e in ss.write_log]

    def read_calls(self) -> int:
        return sum(ss.read_calls for ss in self.servers)

    def reads(self) -> list:
        return [e for ss in self.servers for e in ss.read_log]

    def node(self, cap, k=3, n=10):
        from allmydata.mutable.filenode import MutableFileNode
        return MutableFileNode.from_cap(cap, self.broker, self.secret_holder, self.params(k, n))

    async def create(self, contents=b"", version=0, k=3, n=10):
        from allmydata.mutable.filenode import create_mutable_file
        return await create_mutable_file(self.broker, self.secret_holder, self.params(k, n),
                                         contents, version=version, keypair=fresh_keypair())

    def index_of(self, serverid: bytes) -> int:
        return self.serverids.index(serverid)

    async def stop_server(self, i: int):
        if i in self.stopped:
            return
        self.stopped.add(i)
        await self.server_tubs[i].stopService()
        await self.servers[i].stopService()

    async def close(self):
        for i in range(len(self.servers)):
            await self.stop_server(i)
        if self.client_tub is not None:
            await self.client_tub.stopService()

    # ---- shares on disk --------------------------------------------------------------
    def share_files(self, storage_index: bytes) -> list:
        """[(server index, shnum, path)] of every share of the file, by shnum."""
        si = base32.b2a(storage_index).decode("ascii")
        out = []
        for i, ss in enumerate(self.servers):
            d = os.path.join(ss.sharedir, si[:2], si)
            if os.path.isdir(d):
                out += [(i, int(name), os.path.join(d, name)) for name in os.listdir(d)]
        return sorted(out, key=lambda t: (t[1], t[0]))

    @staticmethod
    def read_share(path: str) -> bytes:
        """The share data (what the client wrote) of a mutable container."""
        with open(path, "rb") as f:
            header = f.read(DATA_OFFSET)
            datalen = int.from_bytes(header[84:92], "big")
            return f.read(datalen)

    @staticmethod
    def corrupt_share(path: str, share_offset: int) -> None:
        """Invert one byte of the share data at ``share_offset``."""
        with open(path, "r+b") as f:
            f.seek(DATA_OFFSET + share_offset)
            b = f.read(1)
            f.seek(DATA_OFFSET + share_offset)
            f.write(bytes([b[0] ^ 0xFF]))

    def save_shares(self, storage_index: bytes) -> dict:
        """{path: container bytes} of every share, for :meth:`restore_shares`."""
        out = {}
        for _i, _sh, path in self.share_files(storage_index):
            with open(path, "rb") as f:
                out[path] = f.read()
        return out

    @staticmethod
    def restore_shares(saved: dict, only=None) -> None:
        for path, data in saved.items():
            if only is None or path in only:
                with open(path, "wb") as f:
                    f.write(data)

    def advisories(self, i: int) -> list:
        d = self.servers[i].corruption_advisory_dir
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def all_advisories(self) -> dict:
        return {i: self.advisories(i) for i in range(len(self.servers)) if self.advisories(i)}


# ---- fixtures --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def grid_certs():
    return [Tub().getCertData() for _ in range(11)]


_KEYS = []


def keypairs(count: int):
    """``count`` RSA-2048 key pairs, made once per session and reused."""
    while len(_KEYS) < count:
        _KEYS.append(rsa.generate_keypair(2048))
    return _KEYS[:count]


_next_key = [0]


def fresh_keypair():
    """A key pair no other test of this session has used."""
    _next_key[0] += 1
    return keypairs(_next_key[0])[-1]


@pytest_twisted.async_yield_fixture
async def grid(tmp_path, grid_certs):
    g = MutableGrid(tmp_path, grid_certs)
    try:
        await g.start(5)
        yield g
    finally:
        await g.close()


@pytest_twisted.async_yield_fixture
async def grid10(tmp_path, grid_certs):
    g = MutableGrid(tmp_path, grid_certs)
    try:
        await g.start(10)
        yield g
    finally:
        await g.close()
