"""Data and helpers used across the storage contract suite: storage
indexes, secrets, where a share lives on disk, and a whole upload."""

import hashlib
import os

from allmydata.util import base32


#: the test clock starts here (Unix seconds), so expirations are predictable
T0 = 1_700_000_000
LOCAL_NODEID = bytes(range(100, 120))


def make_si(n: int) -> bytes:
    return hashlib.sha256(b"si %d" % n).digest()[:16]


def secret(kind: str, n: int = 0) -> bytes:
    return hashlib.sha256(b"%s %d" % (kind.encode(), n)).digest()


def share_path(storedir: str, storage_index: bytes, shnum: int, incoming=False) -> str:
    sia = base32.b2a(storage_index).decode()
    parts = [storedir, "shares"] + (["incoming"] if incoming else []) + [sia[:2], sia, str(shnum)]
    return os.path.join(*parts)


def incoming_leftovers(storedir: str) -> list:
    """What a finished upload must not leave under ``shares/incoming/``: any
    file, any storage index directory.  (The ``<prefix>`` directories stay:
    the server keeps them for the next upload.)"""
    top = os.path.join(storedir, "shares", "incoming")
    out = []
    for prefix in sorted(os.listdir(top)):
        path = os.path.join(top, prefix)
        if os.path.isdir(path):
            out += [os.path.join(prefix, name) for name in sorted(os.listdir(path))]
        else:
            out.append(prefix)
    return out


def all_files(top: str) -> list:
    """Every file under ``top``, relative, sorted."""
    out = []
    for dirpath, _dirs, files in os.walk(top):
        out += [os.path.relpath(os.path.join(dirpath, f), top) for f in files]
    return sorted(out)


async def upload(t, storage_index: bytes, shares: dict, renew=None, cancel=None,
                 allocated_size=None):
    """Allocate, write and close immutable shares {shnum: data}."""
    renew = renew or secret("renew")
    cancel = cancel or secret("cancel")
    size = allocated_size if allocated_size is not None else max(len(d) for d in shares.values())
    already, writers = await t.server.call("allocate_buckets", storage_index, renew, cancel,
                                           set(shares), size, t.new_canary())
    assert set(writers) == set(shares) - already
    for shnum, writer in writers.items():
        await writer.call("write", 0, shares[shnum])
        await writer.call("close")
    return already
