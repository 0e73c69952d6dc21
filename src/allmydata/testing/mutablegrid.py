"""An in-process grid for the mutable-file protocol tests.

:class:`MutableGrid` is a :class:`~.storagegrid.StorageGrid` (real storage
servers on real Tubs on 127.0.0.1, a real StorageFarmBroker) whose servers
can be made to fail.  Tests create and read mutable files through
:class:`~allmydata.mutable.filenode.MutableFileNode` on it, then look at or
damage the share files on disk (:meth:`share_files`, :meth:`corrupt_share`),
stop servers (:meth:`stop_server`), or make one server refuse writes
(:attr:`FaultyStorageServer.fail_writes`: a real server that raises on
``slot_testv_and_readv_and_writev`` while the flag is set, or after
:attr:`~FaultyStorageServer.fail_after_writes` calls).

RSA keys are made once per process (:func:`keypairs`) and Tub certificates
can be made once and passed in, so each grid starts in well under a second.
"""

import os

from allmydata.client import SecretHolder
from allmydata.crypto import rsa
from allmydata.mutable.filenode import MutableFileNode, create_mutable_file
from allmydata.storage.mutable import DATA_OFFSET
from allmydata.storage.server import StorageServer

from .storagegrid import StorageGrid


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


class MutableGrid(StorageGrid):
    server_class = FaultyStorageServer

    def __init__(self, basedir, certs=None):
        StorageGrid.__init__(self, basedir, certs)
        self.secret_holder = SecretHolder(b"L" * 32, b"C" * 32)

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
        return MutableFileNode.from_cap(cap, self.broker, self.secret_holder, self.params(k, n))

    async def create(self, contents=b"", version=0, k=3, n=10):
        return await create_mutable_file(self.broker, self.secret_holder, self.params(k, n),
                                         contents, version=version, keypair=fresh_keypair())

    def index_of(self, serverid: bytes) -> int:
        return self.serverids.index(serverid)

    # ---- shares on disk --------------------------------------------------------------
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


_KEYS = []


def keypairs(count: int):
    """``count`` RSA-2048 key pairs, made once per process and reused."""
    while len(_KEYS) < count:
        _KEYS.append(rsa.generate_keypair(2048))
    return _KEYS[:count]


_next_key = [0]


def fresh_keypair():
    """A key pair nothing else in this process has been given."""
    _next_key[0] += 1
    return keypairs(_next_key[0])[-1]
