"""Share files written straight into a storage directory, with the leases
a test asks for: what a server holds after months of uploads and renewals,
made in a moment.  Lease expiration times are Unix seconds."""

import hashlib
import os

from allmydata.storage.common import storage_index_to_dir
from allmydata.storage.immutable import ImmutableShareFile
from allmydata.storage.lease import OWNER_ALLOCATE, OWNER_CLIENT
from allmydata.storage.mutable import MutableShareFile

NODEID = b"\x05" * 20
WRITE_ENABLER = b"\x06" * 32


def si_of(name: str) -> bytes:
    return hashlib.sha256(b"planted " + name.encode()).digest()[:16]


def lease_secret(kind: str, n: int) -> bytes:
    return hashlib.sha256(b"%s %d" % (kind.encode(), n)).digest()


def share_file(storedir: str, si: bytes, shnum: int) -> str:
    return os.path.join(storedir, "shares", storage_index_to_dir(si), str(shnum))


def plant_immutable(storedir: str, si: bytes, shnum: int, expirations, data=b"i" * 300) -> str:
    """An immutable share holding ``data`` and one lease per expiration time."""
    path = share_file(storedir, si, shnum)
    share = ImmutableShareFile.create(path, len(data))
    share.write_share_data(0, data)
    for i, expiration in enumerate(expirations):
        share.add_lease(OWNER_ALLOCATE, lease_secret("renew", i), lease_secret("cancel", i),
                        expiration)
    return path


def plant_mutable(storedir: str, si: bytes, shnum: int, expirations, data=b"m" * 300) -> str:
    """A mutable share holding ``data`` and one lease per expiration time."""
    path = share_file(storedir, si, shnum)
    share = MutableShareFile.create(path, NODEID, WRITE_ENABLER)
    share.writev([(0, data)], None)
    for i, expiration in enumerate(expirations):
        share.add_lease(OWNER_CLIENT, lease_secret("renew", i), lease_secret("cancel", i),
                        expiration, NODEID)
    return path
