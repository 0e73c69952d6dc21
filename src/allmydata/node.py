"""The composition root: a node directory becomes a running ``MultiService``.

:func:`create_node` reads the validated config, builds the Foolscap ``Tub``
(the node's persistent identity, ``private/node.pem``), and then asks one
factory per service for the children that ``tahoe.cfg`` turns on: the stats
provider, the storage server, the introducer (on introducer nodes), the
introducer client, the control port (on client nodes) and the web server.
Each factory is handed exactly the collaborators it needs; no service looks
another up by name.
"""

import os
import socket
import tempfile

import psutil

from foolscap.api import Tub
from twisted.application import service
from twisted.logger import Logger

from . import __full_version__
from .checker_service import CheckerService, open_results_store
from .client import Client, SecretHolder
from .config import ConfigError, TahoeConfig, endpoint_port, load_config
from .control.service import ControlServer, ControlService
from .helper.client import HelperConnection
from .helper.server import Helper
from .history import History
from .introducer.client import IntroducerClient, StubClient
from .introducer.interfaces import RIStubClient
from .introducer.server import IntroducerService
from .log_publisher import LogPublishing, gatherer_furls
from .nodedir import ensure_private_dir, ensure_secret_file
from .stats import StatsProvider
from .stats_gatherer import FURL_FILE, STATS_FILE, BadStatsFile, StatsGatherer, register_gatherer
from .stats_gatherer_client import StatsGathererClient
from .storage.expirer import ExpirationPolicy
from .storage.interfaces import RIStorageServer
from .storage.limits import MAX_CALL_COST, TOKEN_COST
from .storage.server import StorageServer
from .storage_client import StorageFarmBroker
from .util import base32, fileutil
from .util.broker import choose_broker_class
from .util.idlib import nodeid_b2a
from .util.logdir import ensure_log_dir
from .web.server import WebServer, make_client_root, make_introducer_root

log = Logger()

MY_VERSION = __full_version__
OLDEST_SUPPORTED = "allmydata-tahoe/0.1.0"
STORAGE_SERVICE = "storage"
STUB_CLIENT_SERVICE = "stub_client"


def make_tub(config: TahoeConfig) -> Tub:
    """The node's Tub: persistent certificate, listener and location hints."""
    ensure_private_dir(config.basedir)
    tub = Tub(certFile=config.private_path("node.pem"))
    # see util/broker.py; an inbound call costs at most what a storage call may
    # (Foolscap's own broker, without that limit, if Foolscap lacks what it relies on)
    tub.brokerClass = choose_broker_class(MAX_CALL_COST, TOKEN_COST)
    os.chmod(config.private_path("node.pem"), 0o600)
    # the broker logs one line per failed inbound call: Foolscap's own log of
    # it keeps the call's arguments in memory
    tub.setOption("logLocalFailures", False)
    tub.setOption("logRemoteFailures", True)
    tub.setOption("expose-remote-exception-types", False)
    if config.node.timeout_keepalive:
        tub.setOption("keepaliveTimeout", config.node.timeout_keepalive)
    if config.node.timeout_disconnect:
        tub.setOption("disconnectTimeout", config.node.timeout_disconnect)
    if not config.node.tcp_connections:
        # [connections] tcp = disabled: no handler for tcp hints, so Foolscap
        # makes no TCP connection (and has no other handler)
        tub.removeAllConnectionHintHandlers()
    if config.node.tub_port:
        for desc in config.node.tub_port.split(","):
            tub.listenOn(desc.strip())
        tub.setLocation(tub_location_hints(config.node.tub_port, config.node.tub_location))
    return tub


def local_ipv4_addresses() -> list:
    """The IPv4 addresses of this machine's interfaces, loopback included."""
    return sorted({a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                   if a.family == socket.AF_INET})


def tub_location_hints(tub_port, tub_location, addresses=local_ipv4_addresses) -> str:
    """The location to advertise: ``AUTO`` becomes a ``tcp:ADDRESS:PORT``
    hint for each of this machine's IPv4 addresses, with the port of the
    first TCP listener in ``tub_port``; ``HOST:PORT`` hints get ``tcp:``."""
    hints = []
    for hint in tub_location.split(","):
        if hint == "AUTO":
            port = next(p for p in map(endpoint_port, tub_port.split(",")) if p)
            hints += ["tcp:%s:%d" % (address, port) for address in addresses()]
        else:
            hints.append("tcp:" + hint if hint.count(":") == 1 else hint)
    return ",".join(dict.fromkeys(hints))


class Node(service.MultiService):
    """One node process: a ``MultiService`` of the services its config enables.

    Attributes other code reads: ``config``, ``tub``, ``nodeid`` (20 bytes),
    ``nickname``, ``stats_provider``, ``history`` (the operations the
    status pages list), and the optional services
    ``storage_server``, ``introducer_service``, ``introducer_client``,
    ``checker`` (the IChecker service of client nodes), ``control`` (the
    control port of client nodes), ``helper`` (the upload helper, with
    ``[helper] enabled``), ``web`` (each None
    when off).
    """

    def __init__(self, config: TahoeConfig, tub: Tub, reactor):
        service.MultiService.__init__(self)
        self.config = config
        self.tub = tub
        self.reactor = reactor
        self.nodeid = base32.a2b(tub.getTubID())
        self.nickname = config.node.nickname
        self.version = MY_VERSION
        self.storage_server = None
        self.introducer_service = None
        self.introducer_client = None
        self.storage_broker = None
        self.client = None
        self.checker = None
        self.control = None
        self.helper = None
        self.web = None
        self.stats_gatherer = None          # on stats-gatherer nodes
        self.stats_gatherer_client = None   # [client] stats_gatherer.furl
        self.log_publishing = None          # [node] log_gatherer.furl
        self._previous_tempdir = None
        tub.setServiceParent(self)
        self.stats_provider = StatsProvider(clock=reactor)
        self.stats_provider.setServiceParent(self)
        self.history = History(stats_provider=self.stats_provider)

    @property
    def nodeid_s(self) -> str:
        return nodeid_b2a(self.nodeid)

    @property
    def listening(self) -> bool:
        return self.config.node.tub_port is not None

    def add(self, child, attr):
        setattr(self, attr, child)
        child.setServiceParent(self)
        return child

    def register(self, ref, furl_file=None, name=None) -> str:
        """Register a Referenceable on our Tub; return (and save) its FURL."""
        path = self.config.private_path(furl_file) if furl_file else None
        furl = self.tub.registerReference(ref, name=name, furlFile=path)
        if path:
            os.chmod(path, 0o600)
        return furl

    def startService(self):
        self._use_tempdir()
        service.MultiService.startService(self)
        fileutil.write_atomically(self.config.path("my_nodeid"), (self.nodeid_s + "\n").encode())
        log.info("node {nickname} ({nodeid}) started, version {version}",
                 nickname=self.nickname, nodeid=self.nodeid_s, version=self.version)

    def stopService(self):
        if tempfile.tempdir == self.config.node.tempdir:
            tempfile.tempdir = self._previous_tempdir
        return service.MultiService.stopService(self)

    def _use_tempdir(self):
        """``[node] tempdir``: the process's temporary files (the web
        server's spooled request bodies among them) go there while the node
        runs.  ``tempfile``'s directory is process-wide, as one node runs per
        process; stopping the node puts back the previous one unless someone
        else changed it since.  create_node() made the directory."""
        self._previous_tempdir = tempfile.tempdir
        tempfile.tempdir = self.config.node.tempdir


# ---- factories: each builds one service from the config and collaborators ----

def make_storage_server(config: TahoeConfig, nodeid: bytes, stats_provider, reactor):
    s = config.storage
    policy = ExpirationPolicy(
        enabled=s.expire_enabled, mode=s.expire_mode,
        override_lease_duration=s.expire_override_lease_duration,
        cutoff_date=s.expire_cutoff_date,
        sharetypes=[kind for kind, on in (("immutable", s.expire_immutable),
                                          ("mutable", s.expire_mutable)) if on])
    pace = {name: value for name, value in (("slow_start", s.crawler_slow_start),
                                            ("minimum_cycle_time", s.crawler_minimum_cycle_time))
            if value is not None}
    return StorageServer(s.storage_dir, nodeid, reserved_space=s.reserved_space,
                         readonly_storage=s.readonly, stats_provider=stats_provider,
                         clock=reactor, expiration_policy=policy, crawler_pace=pace)


def make_introducer_service(config: TahoeConfig, reactor):
    return IntroducerService(clock=reactor)


def make_introducer_client(config: TahoeConfig, tub, furl, reactor):
    return IntroducerClient(tub, furl, config.node.nickname, MY_VERSION, OLDEST_SUPPORTED,
                            clock=reactor)


def make_storage_broker(config: TahoeConfig, tub, introducer_client, reactor):
    return StorageFarmBroker(tub=tub, introducer_client=introducer_client,
                             static_servers=config.static_servers,
                             preferred_peers=config.client.peers_preferred, clock=reactor)


def make_helper_connection(config: TahoeConfig, tub, reactor):
    """The connection to the upload helper of ``[client] helper.furl``
    (through the node's Tub), or None when none is configured."""
    if not config.client.helper_furl:
        return None
    return HelperConnection(tub, config.client.helper_furl, clock=reactor)


def make_client(config: TahoeConfig, storage_broker, stats_provider, reactor, history=None,
                helper=None):
    secrets = SecretHolder(ensure_secret_file(config.private_path("secret")),
                           ensure_secret_file(config.private_path("convergence")))
    c = config.client
    return Client(storage_broker, secrets, {"k": c.shares_needed, "happy": c.shares_happy,
                                            "n": c.shares_total,
                                            "max_segment_size": c.max_segment_size},
                  stats_provider=stats_provider, reactor=reactor,
                  mutable_format=c.mutable_format, history=history, helper=helper)


def make_helper(config: TahoeConfig, storage_broker, secret_holder, stats_provider, history,
                reactor):
    """The upload helper of ``[helper] enabled``: its spool in ``helper/``;
    a file counts as already stored when its shares reach the node's
    ``shares.happy``."""
    return Helper(config.path("helper"), storage_broker, secret_holder,
                  happy=config.client.shares_happy, stats_provider=stats_provider,
                  history=history, reactor=reactor)


def make_checker_service(config: TahoeConfig, storage_broker, reactor):
    # checker_results.db in the node directory, if the user created it, keeps results
    return CheckerService(storage_broker, open_results_store(config.basedir), reactor=reactor)


def make_control_service(config: TahoeConfig, client, storage_broker, reactor):
    """The control port (``private/control.furl``, mode 0600) of a client
    node.  It listens on a Tub of its own, ephemeral and on 127.0.0.1 only,
    as Tahoe-LAFS's does, so a node that does not listen has one too."""
    server = ControlServer(client, storage_broker, config.node.tempdir, reactor)
    return ControlService(server, config.private_path("control.furl"))


def make_stats_gatherer(config: TahoeConfig, tub, reactor):
    """The stats gatherer of a stats-gatherer node, registered on the node's
    Tub (which takes no gifts: a provider is an object of its caller), its
    FURL in ``NODEDIR/stats_gatherer.furl`` and its stats in ``stats.json``."""
    tub.setOption("accept-gifts", False)
    try:
        gatherer = StatsGatherer(config.path(STATS_FILE), reactor)
        gatherer.furl = register_gatherer(tub, gatherer, config.path(FURL_FILE))
    except BadStatsFile as e:
        raise ConfigError(config.basedir, None, None, str(e))
    return gatherer


def make_stats_gatherer_client(config: TahoeConfig, tub, stats_provider):
    """``[client] stats_gatherer.furl``: offer the node's stats there."""
    return StatsGathererClient(tub, config.client.stats_gatherer_furl, stats_provider,
                               config.node.nickname)


def make_log_publishing(config: TahoeConfig):
    """``[node] log_gatherer.furl``: the node's censored log events served
    to that gatherer; None without one (a ``NODEDIR/log_gatherer.furl`` file
    is refused: :func:`~allmydata.log_publisher.gatherer_furls`)."""
    furls = gatherer_furls(config)
    if not furls:
        return None
    return LogPublishing(furls, tcp_connections=config.node.tcp_connections)


def write_api_auth_token(config: TahoeConfig) -> None:
    """A fresh ``private/api_auth_token`` (mode 0600), as Tahoe-LAFS writes
    one at each start: its CLI tools (``tahoe status``) read the file and
    send the token with their requests, so they run on this node's
    directory.  No page of our web API asks for the token."""
    fileutil.write_atomically(config.private_path("api_auth_token"),
                              base32.b2a(os.urandom(32)) + b"\n", mode=0o600)


def make_web_service(node: Node, reactor):
    if node.config.node_type == "introducer":
        root = make_introducer_root(node)
    else:
        write_api_auth_token(node.config)
        root = make_client_root(node)
    return WebServer(reactor, node.config.node.web_port, root,
                     node_url_file=node.config.path("node.url"),
                     static_dir=node.config.node.web_static)


def create_node(basedir, reactor) -> Node:
    """Build (but do not start) the node that lives in ``basedir``."""
    config = load_config(basedir)
    ensure_log_dir(config.basedir)
    ensure_private_dir(config.basedir)
    try:
        os.makedirs(config.node.tempdir, exist_ok=True)
    except OSError as e:
        raise ConfigError(config.path("tahoe.cfg"), "node", "tempdir",
                          "cannot create %s: %s" % (config.node.tempdir, e.strerror))
    tub = make_tub(config)
    node = Node(config, tub, reactor)
    if node.listening:
        node.register(node.stats_provider, furl_file="stats_provider.furl")

    publishing = make_log_publishing(config)
    if publishing is not None:
        node.add(publishing, "log_publishing")

    if config.node_type == "stats-gatherer":
        if not node.listening:
            raise ConfigError(config.path("tahoe.cfg"), "node", "tub.port",
                              "a stats gatherer must listen: set tub.port and tub.location")
        node.add(make_stats_gatherer(config, tub, reactor), "stats_gatherer")
    elif config.node_type == "introducer":
        intro = node.add(make_introducer_service(config, reactor), "introducer_service")
        if not node.listening:
            raise ConfigError(config.path("tahoe.cfg"), "node", "tub.port",
                              "an introducer must listen: set tub.port and tub.location")
        intro.furl = node.register(intro, furl_file="introducer.furl", name="introducer")
    else:
        if config.storage.enabled:
            if not node.listening:
                raise ConfigError(config.path("tahoe.cfg"), "storage", "enabled",
                                  "a storage server must listen: set [node] tub.port and "
                                  "tub.location, or [storage] enabled = false")
            ss = node.add(make_storage_server(config, node.nodeid, node.stats_provider, reactor),
                          "storage_server")
            ss.furl = node.register(ss, furl_file="storage.furl")
        furls = config.introducer_furls
        if len(furls) > 1:
            raise ConfigError(config.private_path("introducers.yaml"), None, None,
                              "this version connects to one introducer; %d are configured (%s)"
                              % (len(furls), ", ".join(sorted(furls))))
        if furls:
            (furl,) = furls.values()
            ic = node.add(make_introducer_client(config, tub, furl, reactor), "introducer_client")
            ic.subscribe_to(STORAGE_SERVICE)
            if node.storage_server is not None and config.storage.anonymous:
                ic.publish(node.storage_server.furl, STORAGE_SERVICE, RIStorageServer.__remote_name__)
            if node.listening:
                stub = StubClient()
                node.stub_client = stub
                ic.publish(node.register(stub), STUB_CLIENT_SERVICE, RIStubClient.__remote_name__)
        broker = node.add(make_storage_broker(config, tub, node.introducer_client, reactor),
                          "storage_broker")
        node.add(make_client(config, broker, node.stats_provider, reactor, node.history,
                             helper=make_helper_connection(config, tub, reactor)),
                 "client")
        if config.helper.enabled:
            if not node.listening:
                raise ConfigError(config.path("tahoe.cfg"), "helper", "enabled",
                                  "a helper must listen: set [node] tub.port and tub.location, "
                                  "or [helper] enabled = false")
            helper = node.add(make_helper(config, broker, node.client.secret_holder,
                                          node.stats_provider, node.history, reactor), "helper")
            helper.furl = node.register(helper, furl_file="helper.furl")
        node.add(make_checker_service(config, broker, reactor), "checker")
        node.add(make_control_service(config, node.client, broker, reactor), "control")
        if config.client.stats_gatherer_furl:
            node.add(make_stats_gatherer_client(config, tub, node.stats_provider),
                     "stats_gatherer_client")

    if config.node.web_port:
        node.add(make_web_service(node, reactor), "web")
    return node
