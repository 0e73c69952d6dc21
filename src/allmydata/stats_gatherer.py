"""The stats gatherer: ``RIStatsGatherer`` of the 2008 interfaces.

Nodes with ``[client] stats_gatherer.furl`` call :meth:`StatsGatherer.remote_provide`
with their ``RIStatsProvider`` and nickname.  The gatherer keeps one entry per
node, keyed by the tub id of the connection the provider came over, polls
``get_stats`` at once and then every :data:`POLL_INTERVAL` seconds, and keeps
the latest answer of each node in a JSON file (``stats.json`` in the
gatherer's directory), rewritten atomically::

    {TUBID: {"timestamp": seconds or null,   # when the stats were taken
             "nickname": str,
             "connected": bool,
             "error": str or null,            # why the last poll failed
             "stats": {"counters": {name: number}, "stats": {name: number}}}}

Providers are other people's nodes, so nothing they send is trusted:

* a provider that disconnects is marked ``"connected": false``; its last
  stats stay in the file (they are that node's latest), until it provides
  again or its entry is evicted to make room;
* an answer that breaks the schema (Foolscap checks the bounds of
  :mod:`allmydata.stats_interfaces` while it arrives), has the wrong shape,
  names that are not UTF-8 or numbers JSON cannot hold, is refused: the
  entry keeps its previous stats and says why in ``"error"``;
* a provider that never answers holds at most one call: the next polls skip
  it while its call is outstanding;
* at most :data:`MAX_NODES` entries are kept; a new node evicts the
  disconnected entry with the oldest stats, or is refused when every entry is
  connected;
* the gatherer's Tub takes no gifts (references to third parties), so a
  provider is always an object of the node that called.

The file is written at most once per :data:`WRITE_DELAY` seconds (all the
changes of that time at once) and when the gatherer stops.  An existing file
is read at start (its entries are marked disconnected until their nodes
provide again); one that is not a stats file stops the gatherer with an
error naming it, and is left as it is.
"""

import json
import math

import attrs
from foolscap.api import Referenceable
from foolscap.referenceable import SturdyRef
from twisted.application import service
from twisted.internet import task
from twisted.logger import Logger
from zope.interface import implementer

from .stats_interfaces import MAX_NICKNAME, MAX_STAT_NAME, MAX_STATS, RIStatsGatherer
from .util import fileutil
from .util.rrefutil import call_remote

log = Logger()

#: seconds between two polls of every provider
POLL_INTERVAL = 60.0
#: entries (connected or not) the gatherer keeps
MAX_NODES = 1000
#: seconds the file may lag behind the gatherer's entries
WRITE_DELAY = 2.0
#: the sections of a get_stats answer
SECTIONS = ("counters", "stats")
#: characters of a failure's description kept in an entry
MAX_ERROR = 200

STATS_FILE = "stats.json"
FURL_FILE = "stats_gatherer.furl"


class GathererFull(Exception):
    """A new node provided its stats while every entry is a connected node."""


class MalformedStats(Exception):
    """A get_stats answer (or an entry of the stats file) is not well-formed."""


class BadStatsFile(Exception):
    """The stats file the gatherer would continue is not a stats file."""


def _number(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedStats("%s: %r is not a number" % (where, type(value).__name__))
    if isinstance(value, float) and not math.isfinite(value):
        raise MalformedStats("%s: %r is not a finite number" % (where, value))
    return value


def _name(name, where):
    if isinstance(name, bytes):
        try:
            name = name.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedStats("%s: a name is not UTF-8" % where)
    if not isinstance(name, str):
        raise MalformedStats("%s: a name is a %s" % (where, type(name).__name__))
    if len(name.encode("utf-8")) > MAX_STAT_NAME:
        raise MalformedStats("%s: a name is longer than %d bytes" % (where, MAX_STAT_NAME))
    return name


def parse_stats(answer) -> dict:
    """``{"counters": {str: number}, "stats": {str: number}}`` from a
    get_stats answer (byte-string keys, as on the wire) or from the stats file
    (text keys); :class:`MalformedStats` says what is wrong."""
    if not isinstance(answer, dict):
        raise MalformedStats("the answer is a %s, not a dict" % type(answer).__name__)
    sections = {}
    for key, values in answer.items():
        section = _name(key, "the answer")
        if section not in SECTIONS:
            raise MalformedStats("unknown section %r (known: %s)"
                                 % (section[:40], ", ".join(SECTIONS)))
        if not isinstance(values, dict):
            raise MalformedStats("%s is a %s, not a dict" % (section, type(values).__name__))
        if len(values) > MAX_STATS:
            raise MalformedStats("%s has more than %d names" % (section, MAX_STATS))
        sections[section] = {_name(k, section): _number(v, section) for k, v in values.items()}
    missing = [s for s in SECTIONS if s not in sections]
    if missing:
        raise MalformedStats("no %s section" % " and no ".join(missing))
    return sections


@attrs.define
class NodeStats:
    """What the gatherer knows of one node."""

    tubid: str
    nickname: str = ""
    timestamp: float | None = None
    stats: dict = attrs.Factory(lambda: {s: {} for s in SECTIONS})
    error: str | None = None
    provider: object = None        # the RemoteReference while connected
    disconnect_marker: object = None
    polling: object = None         # the provider whose get_stats is outstanding

    @property
    def connected(self) -> bool:
        return self.provider is not None

    def to_json(self) -> dict:
        return {"timestamp": self.timestamp, "nickname": self.nickname,
                "connected": self.connected, "error": self.error, "stats": self.stats}

    @classmethod
    def from_json(cls, tubid, entry) -> "NodeStats":
        if not isinstance(entry, dict):
            raise MalformedStats("the entry of %s is not an object" % tubid)
        timestamp, nickname = entry.get("timestamp"), entry.get("nickname", "")
        if timestamp is not None:
            _number(timestamp, "the timestamp of %s" % tubid)
        if not isinstance(nickname, str):
            raise MalformedStats("the nickname of %s is not a string" % tubid)
        error = entry.get("error")
        if error is not None and not isinstance(error, str):
            raise MalformedStats("the error of %s is not a string" % tubid)
        return cls(tubid=tubid, nickname=nickname[:MAX_NICKNAME], timestamp=timestamp,
                   stats=parse_stats(entry.get("stats")), error=error)


def read_stats_file(path) -> dict:
    """``{tubid: NodeStats}`` from an existing stats file ({} when absent)."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise BadStatsFile("%s cannot be read as a stats file (%s); move it away to start "
                           "a new one" % (path, e))
    if not isinstance(data, dict):
        raise BadStatsFile("%s is not a stats file (not a JSON object); move it away to "
                           "start a new one" % path)
    try:
        return {tubid: NodeStats.from_json(tubid, entry) for tubid, entry in data.items()}
    except MalformedStats as e:
        raise BadStatsFile("%s is not a stats file: %s; move it away to start a new one"
                           % (path, e))


def describe_failure(f) -> str:
    """A failure of a poll, in a few words (never longer than MAX_ERROR)."""
    text = "%s: %s" % (type(f.value).__name__, f.value)
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR - 3] + "..."


@implementer(RIStatsGatherer)
class StatsGatherer(Referenceable, service.MultiService):
    """Polls the providers that offered their stats; keeps the latest in
    ``stats_path``.  ``clock`` schedules the polls and the writes."""

    def __init__(self, stats_path, clock, poll_interval: float = POLL_INTERVAL,
                 max_nodes: int = MAX_NODES, write_delay: float = WRITE_DELAY):
        service.MultiService.__init__(self)
        self.stats_path = stats_path
        self.clock = clock
        self.poll_interval = poll_interval
        self.max_nodes = max_nodes
        self.write_delay = write_delay
        self.nodes = read_stats_file(stats_path)
        self.polls = 0              # get_stats calls made
        self.skipped_polls = 0      # polls skipped while a call was outstanding
        self.writes = 0
        self._write_call = None
        self._loop = task.LoopingCall(self.poll_all)
        self._loop.clock = clock

    # ---- the service ----------------------------------------------------------------
    def startService(self):
        service.MultiService.startService(self)
        self._loop.start(self.poll_interval, now=False)

    def stopService(self):
        if self._loop.running:
            self._loop.stop()
        for node in self.nodes.values():
            if node.provider is not None:
                node.provider.dontNotifyOnDisconnect(node.disconnect_marker)
                node.provider = node.disconnect_marker = None  # no longer polled
        self.write_now()
        return service.MultiService.stopService(self)

    # ---- RIStatsGatherer --------------------------------------------------------------
    def remote_provide(self, provider, nickname):
        tubid = provider.getRemoteTubID()
        node = self.nodes.get(tubid)
        if node is None:
            if len(self.nodes) >= self.max_nodes and not self._evict_one():
                raise GathererFull("this gatherer already keeps the stats of %d connected "
                                   "nodes" % self.max_nodes)
            node = self.nodes[tubid] = NodeStats(tubid=tubid)
        elif node.provider is not None and node.provider is not provider:
            node.provider.dontNotifyOnDisconnect(node.disconnect_marker)
        node.nickname = nickname.decode("utf-8", "replace")
        if node.provider is not provider:
            node.provider = provider
            node.disconnect_marker = provider.notifyOnDisconnect(self._lost, node, provider)
        log.info("stats gatherer: node {tubid} ({nickname!r}) provides its stats",
                 tubid=tubid, nickname=node.nickname)
        self._changed()
        self.poll(node)

    def _evict_one(self) -> bool:
        gone = [n for n in self.nodes.values() if not n.connected]
        if not gone:
            return False
        oldest = min(gone, key=lambda n: (n.timestamp is not None, n.timestamp or 0.0))
        del self.nodes[oldest.tubid]
        return True

    def _lost(self, node, provider):
        if node.provider is provider and self.nodes.get(node.tubid) is node:
            node.provider = node.disconnect_marker = None
            log.info("stats gatherer: node {tubid} disconnected", tubid=node.tubid)
            self._changed()

    # ---- polling ------------------------------------------------------------------------
    def poll_all(self):
        for node in list(self.nodes.values()):
            if node.connected:
                self.poll(node)

    def poll(self, node):
        provider = node.provider
        if provider is None:
            return
        if node.polling is provider:
            self.skipped_polls += 1
            return
        node.polling = provider
        self.polls += 1
        d = call_remote(provider, "get_stats")
        d.addCallback(parse_stats)
        d.addCallbacks(self._got_stats, self._poll_failed,
                       callbackArgs=(node,), errbackArgs=(node,))
        d.addBoth(self._poll_done, node, provider)

    def _got_stats(self, stats, node):
        node.stats = stats
        node.timestamp = self.clock.seconds()
        node.error = None
        self._changed()

    def _poll_failed(self, f, node):
        node.error = describe_failure(f)
        log.info("stats gatherer: polling node {tubid} failed: {error}", tubid=node.tubid,
                 error=node.error)
        self._changed()

    def _poll_done(self, _, node, provider):
        if node.polling is provider:
            node.polling = None

    # ---- the file -----------------------------------------------------------------------
    def to_json(self) -> dict:
        return {tubid: node.to_json() for tubid, node in self.nodes.items()}

    def _changed(self):
        if not self.running:
            return  # the file was written when the gatherer stopped
        if self._write_call is None or not self._write_call.active():
            self._write_call = self.clock.callLater(self.write_delay, self.write_now)

    def write_now(self):
        if self._write_call is not None and self._write_call.active():
            self._write_call.cancel()
        self._write_call = None
        data = json.dumps(self.to_json(), sort_keys=True, indent=1).encode("utf-8")
        fileutil.write_atomically(self.stats_path, data + b"\n")
        self.writes += 1


def register_gatherer(tub, gatherer, furl_path) -> str:
    """Register ``gatherer`` on ``tub`` and write its FURL to ``furl_path``
    (mode 0600 from the start: whoever holds it can hand the gatherer
    providers).  The name in an existing file is kept, so the FURL stays the
    same from one start to the next (the Tub's identity is persistent)."""
    name = None
    try:
        with open(furl_path) as f:
            old = f.read().strip()
    except FileNotFoundError:
        old = ""
    if old:
        sturdy = SturdyRef(old)
        if sturdy.tubID != tub.getTubID():
            raise BadStatsFile("%s holds the FURL of another Tub (%s); move it away to get a "
                               "new one" % (furl_path, sturdy.tubID))
        name = sturdy.name
    furl = tub.registerReference(gatherer, name=name)
    fileutil.write_atomically(furl_path, (furl + "\n").encode("ascii"), mode=0o600)
    return furl
