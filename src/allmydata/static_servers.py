"""``private/servers.yaml``: storage servers a client knows without an
introducer, read into ``{server id: {"furl", "nickname", "seed"}}``.

Kept apart from :mod:`allmydata.storage_client` (which connects to them) so
that the config layer can check the file without importing Foolscap.
"""

import hashlib

from .util import base32


class StaticServersError(ValueError):
    """``private/servers.yaml`` is malformed."""


def permutation_seed_for(server_id: str, ann: dict) -> bytes:
    """The permutation seed of a servers.yaml entry (docs/specifications/servers.md §3)."""
    seed = ann.get("permutation-seed-base32")
    if seed:
        return base32.a2b(seed)
    if server_id.startswith("v0-"):
        try:
            return base32.a2b(server_id[3:])
        except ValueError:
            pass
    return hashlib.sha256(server_id.encode("utf-8")).digest()


def parse_static_servers(data) -> dict:
    """servers.yaml contents -> {server_id: {"furl", "nickname", "seed"}}."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StaticServersError("the top level must be a mapping with a 'storage' key")
    storage = data.get("storage")
    if storage is None:
        return {}
    if not isinstance(storage, dict):
        raise StaticServersError("'storage' must map server ids to {ann: {...}}")
    out = {}
    for server_id, entry in storage.items():
        server_id = str(server_id)
        if not isinstance(entry, dict) or not isinstance(entry.get("ann"), dict):
            raise StaticServersError("server %r needs an 'ann' mapping" % server_id)
        ann = entry["ann"]
        furl = ann.get("anonymous-storage-FURL")
        if not isinstance(furl, str) or not furl.startswith("pb://"):
            raise StaticServersError("server %r has no anonymous-storage-FURL (pb://...)" % server_id)
        try:
            seed = permutation_seed_for(server_id, ann)
        except ValueError as e:
            raise StaticServersError("server %r: bad permutation-seed-base32: %s" % (server_id, e))
        out[server_id] = {"furl": furl, "nickname": ann.get("nickname"), "seed": seed}
    return out
