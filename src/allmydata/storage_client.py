"""The client's view of the storage servers: :class:`StorageFarmBroker`.

Servers come from two places: the introducer client's connectors for
announced ``storage`` services, and ``private/servers.yaml`` (docs/specifications/servers.md §2)
for servers configured by hand, which this broker connects to itself with a
reconnecting Foolscap connector.  A static server whose FURL names the same
node as an announced one takes its place.

Upload, download and the web pages see every server through one small
object, :class:`StorageServer` here (what Tahoe-LAFS calls an ``IServer``), and ask
the broker for the connected servers of a storage index in permuted-ring
order (docs/specifications/servers.md §3): ``SHA1(SI + permutation seed)``, with the servers of
``[client] peers.preferred`` first.
"""

from __future__ import annotations

from twisted.application import service
from twisted.logger import Logger

from .introducer.common import Announcement
from .introducer.connector import RemoteServiceConnector
from .storage.interfaces import RIStorageServer
from .util.default_reactor import default_reactor
from .util.hashutil import permute_server_hash
from .util.idlib import nodeid_b2a

log = Logger()

STORAGE_SERVICE = "storage"
V1 = b"http://allmydata.org/tahoe/protocols/storage/v1"


class StorageServer:
    """One storage server as upload and download see it."""

    def __init__(self, serverid: bytes, permutation_seed: bytes, nickname: str | None,
                 connector=None, rref=None, version=None, source="introducer",
                 display_id: str | None = None):
        self._serverid = serverid
        self._display_id = display_id
        self._seed = permutation_seed
        self._nickname = nickname
        self._connector = connector
        self._rref = rref
        self._version = version
        self.source = source

    def __repr__(self):
        return "<StorageServer %s %s>" % (self.get_name(), "connected" if self.is_connected() else "-")

    def get_serverid(self) -> bytes:
        return self._serverid

    def get_name(self) -> str:
        """A short printable id: 8 characters of the longname."""
        longname = self.get_longname()
        return longname[3:11] if longname.startswith("v0-") else longname[:8]

    def get_longname(self) -> str:
        """The server id people see: the servers.yaml key for static servers
        (as Tahoe-LAFS shows it), otherwise the base32 tubid."""
        return self._display_id or nodeid_b2a(self._serverid)

    def get_nickname(self) -> str | None:
        return self._nickname

    def get_permutation_seed(self) -> bytes:
        return self._seed

    def get_rref(self):
        if self._connector is not None:
            return self._connector.rref
        return self._rref

    def is_connected(self) -> bool:
        return self.get_rref() is not None

    def get_version(self) -> dict | None:
        if self._connector is not None:
            return self._connector.storage_version
        return self._version

    def get_available_space(self) -> int | None:
        v1 = (self.get_version() or {}).get(V1) or {}
        space = v1.get(b"available-space")
        if space is None:
            space = v1.get(b"maximum-immutable-share-size")
        return space

    def get_connector(self):
        return self._connector

    def connection_status(self) -> str:
        if self._connector is not None:
            return self._connector.connection_status()
        return "Connected" if self._rref is not None else "Not connected"


class StorageFarmBroker(service.MultiService):
    """Knows every storage server and which of them are connected."""

    def __init__(self, tub=None, introducer_client=None, static_servers: dict | None = None,
                 preferred_peers=(), clock=None, max_retry_delay: float | None = None):
        service.MultiService.__init__(self)
        self._tub = tub
        self._introducer_client = introducer_client
        self._preferred = frozenset(preferred_peers)
        self._clock = clock
        self._max_retry_delay = max_retry_delay
        self._static: dict[bytes, StorageServer] = {}  # filled when the service starts
        self._fixed: list[StorageServer] = []
        self._static_entries = []
        for server_id, entry in (static_servers or {}).items():
            ann = Announcement.build(entry["furl"], STORAGE_SERVICE, RIStorageServer.__remote_name__,
                                     entry.get("nickname") or "", "", "")
            self._static_entries.append((server_id, ann, entry))

    @classmethod
    def from_rrefs(cls, servers, preferred_peers=()) -> "StorageFarmBroker":
        """A broker over already-connected servers: [(serverid, rref, version)]."""
        broker = cls(preferred_peers=preferred_peers)
        broker._fixed = [StorageServer(serverid, serverid, None, rref=rref, version=version,
                                       source="fixed")
                         for serverid, rref, version in servers]
        return broker

    def startService(self):
        service.MultiService.startService(self)
        if self._clock is None:
            self._clock = default_reactor()
        for server_id, ann, entry in self._static_entries:
            connector = RemoteServiceConnector(ann, self._clock.seconds(), self._tub, self._clock,
                                               max_retry_delay=self._max_retry_delay)
            connector.start_connecting()
            self._static[ann.nodeid] = StorageServer(ann.nodeid, entry["seed"], entry.get("nickname"),
                                                 connector=connector, source="servers.yaml",
                                                 display_id=server_id)

    def stopService(self):
        for s in self._static.values():
            s.get_connector().stop_connecting()
        self._static = {}
        return service.MultiService.stopService(self)

    # ---- the servers -------------------------------------------------------------
    def get_known_servers(self) -> list[StorageServer]:
        servers = {s.get_serverid(): s for s in self._fixed}
        if self._introducer_client is not None:
            for (nodeid, service_name), c in self._introducer_client.get_all_connectors().items():
                if service_name == STORAGE_SERVICE:
                    servers[nodeid] = StorageServer(nodeid, nodeid, c.nickname, connector=c)
        servers.update(self._static)
        return sorted(servers.values(), key=lambda s: s.get_serverid())

    def get_connected_servers(self) -> list[StorageServer]:
        return [s for s in self.get_known_servers() if s.is_connected()]

    def get_servers_for_psi(self, storage_index: bytes) -> list[StorageServer]:
        """Connected servers in permuted-ring order for this storage index."""
        def key(s):
            preferred = s.get_longname() in self._preferred or s.get_name() in self._preferred
            return (not preferred, permute_server_hash(storage_index, s.get_permutation_seed()))
        return sorted(self.get_connected_servers(), key=key)

    def get_server(self, serverid: bytes) -> StorageServer | None:
        for s in self.get_known_servers():
            if s.get_serverid() == serverid:
                return s
        return None
