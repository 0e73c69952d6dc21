"""``tahoe.cfg`` parsed into validated, frozen configuration objects.

The node never writes ``tahoe.cfg``; it reads it once at start.  Every
section and key is checked in three steps, each of which raises
:class:`ConfigError` naming the file, the section, the key and why:

1. shape: an unknown section or key, a duplicate, or a value that does not
   parse (:data:`SCHEMA`);
2. support: a setting this version would have to ignore is refused
   (:func:`check_supported`): Tor, I2P, SFTP,
   plugins and grid managers.  Only their harmless
   "off" values may stay (``[sftpd] enabled = false``);
3. consistency and privacy (:func:`check_listening`, :func:`check_privacy`,
   :func:`check_expiry`): ``tub.port`` and ``tub.location`` must be both
   given or both ``disabled``; with ``[node] reveal-IP-address = false``
   nothing may make or accept a connection that reveals the machine's
   address; the lease expiry keys must fit together (a mode when expiry is
   enabled, the cutoff date of that mode and only of that mode, the lease
   duration of age mode only).

So the node stops before doing anything with a setting it would not honour.
``tahoe create-*`` run the same checks on the text they are about to write.
"""

import configparser
import os
import re

import attrs
import yaml

from .static_servers import StaticServersError, parse_static_servers
from .util.abbreviate import parse_abbreviated_size
from .util.time_format import parse_date, parse_duration


class ConfigError(Exception):
    """``tahoe.cfg`` (or another node file) is missing, malformed or wrong."""

    def __init__(self, path, section, key, message):
        where = "%s: [%s]" % (path, section) if section else str(path)
        if key:
            where += " %s" % key
        Exception.__init__(self, "%s: %s" % (where, message))
        self.path, self.section, self.key, self.problem = path, section, key, message


# ---- value parsers: each takes the raw string, returns a value or raises ValueError
_TRUE = {"true", "yes", "on", "1", "t", "y"}
_FALSE = {"false", "no", "off", "0", "f", "n"}


def _bool(s):
    v = s.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError("%r is not a boolean (use true or false)" % s)


def _int(minimum=None, maximum=None):
    def parse(s):
        try:
            v = int(s.strip())
        except ValueError:
            raise ValueError("%r is not an integer" % s)
        if minimum is not None and v < minimum:
            raise ValueError("%d is less than the minimum %d" % (v, minimum))
        if maximum is not None and v > maximum:
            raise ValueError("%d is more than the maximum %d" % (v, maximum))
        return v
    return parse


def _str(s):
    return s.strip()


def _choice(*choices):
    def parse(s):
        v = s.strip().lower()
        if v not in choices:
            raise ValueError("%r is not one of %s" % (s, ", ".join(choices)))
        return v
    return parse


def _size(s):
    return parse_abbreviated_size(s.strip())


# ---- endpoints and connection hints

# endpoint types the node can listen on, and those it recognises only to refuse
_LISTEN_TYPES = ("tcp", "tcp6", "ssl", "unix", "systemd")
_TOR_I2P_LISTENERS = ("tor", "onion", "i2p", "listen:tor", "listen:i2p")
_NETWORK_TYPES = ("tcp", "tcp6", "ssl")
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def split_endpoint(desc):
    """``(type, args, kwargs)`` of a Twisted server endpoint description
    such as ``tcp:3456:interface=127.0.0.1``; a bare number is a TCP port.
    A colon escaped with a backslash stays inside its field."""
    desc = desc.strip()
    if desc.isdigit():
        return "tcp", [desc], {}
    if desc.startswith("listen:"):
        return desc, [], {}
    fields = [f.replace("\\:", ":") for f in re.split(r"(?<!\\):", desc)]
    args, kwargs = [], {}
    for f in fields[1:]:
        name, eq, value = f.partition("=")
        if eq:
            kwargs[name] = value
        else:
            args.append(f)
    return fields[0].lower(), args, kwargs


def endpoint_port(desc):
    """The port number a tcp/tcp6/ssl endpoint description listens on, or None."""
    kind, args, kwargs = split_endpoint(desc)
    if kind not in _NETWORK_TYPES:
        return None
    value = kwargs.get("port", args[0] if args else None)
    return int(value) if value is not None and value.isdigit() else None


def _listener(desc):
    kind, args, kwargs = split_endpoint(desc)
    if kind in _TOR_I2P_LISTENERS:
        return desc.strip()
    if kind not in _LISTEN_TYPES:
        raise ValueError("%r is not an endpoint description such as tcp:3456:interface=127.0.0.1"
                         % desc)
    if kind in _NETWORK_TYPES and endpoint_port(desc) is None:
        raise ValueError("%r has no port number" % desc)
    if desc.strip().isdigit():
        return "tcp:%s" % desc.strip()
    return desc.strip()


def _listeners(s):
    return ",".join(_listener(part) for part in s.split(","))


def _web_port(s):
    """The web server's endpoint(s); empty (or ``none``/``disabled``) for none."""
    v = s.strip()
    if v.lower() in ("", "none", "disabled"):
        return None
    return _listeners(v)


def _tub_port(s):
    """Foolscap listener endpoint(s), or ``disabled``; never empty, never port 0."""
    v = s.strip()
    if not v:
        raise ValueError("empty; write 'disabled' for a node that does not listen")
    if v.lower() == "disabled":
        return "disabled"
    v = _listeners(v)
    for part in v.split(","):
        if endpoint_port(part) == 0:
            raise ValueError("%r asks for any free port, but the advertised tub.location "
                             "must name the port: give a fixed port number" % part)
    return v


_HINT = re.compile(r"^(tcp:)?[^:,\s]+:[0-9]+$|^(tor|i2p):\S+$", re.IGNORECASE)


def _tub_location(s):
    """Connection hints (``tcp:HOST:PORT``, ``HOST:PORT``, ``tor:``/``i2p:``
    hints, ``AUTO``), or ``disabled``; never empty."""
    v = s.strip()
    if not v:
        raise ValueError("empty; write 'disabled' for a node that does not listen")
    if v.lower() == "disabled":
        return "disabled"
    hints = [h.strip() for h in v.split(",")]
    for hint in hints:
        if hint != "AUTO" and not _HINT.match(hint):
            raise ValueError("%r is not a connection hint such as tcp:example.org:1234 or AUTO"
                             % hint)
    return ",".join(hints)


def is_tcp_hint(hint) -> bool:
    """A ``tcp:HOST:PORT`` hint, or a legacy ``HOST:PORT`` one (also TCP)."""
    return hint.lower().startswith("tcp:") or hint.count(":") == 1


def _furl(s):
    v = s.strip()
    if not v:
        return None
    if not v.startswith("pb://") or "@" not in v or "/" not in v[5:]:
        raise ValueError("%r is not a FURL (pb://TUBID@HINTS/NAME)" % v)
    return v


def _furl_or_empty(s):
    """A FURL, or the empty string that means "none" (the feature is off)."""
    return _furl(s) or ""


def _names(s):
    """A comma-separated list (node ids, plugin names)."""
    return tuple(p.strip() for p in s.split(",") if p.strip())


# section -> key -> parser: the keys Tahoe-LAFS 1.20 reads.  Being listed
# here only means the key has the right shape; check_supported() then refuses
# the values this version cannot honour.
SCHEMA = {
    "node": {
        "nickname": _str,
        "web.port": _web_port,
        "web.static": _str,
        "tub.port": _tub_port,
        "tub.location": _tub_location,
        "log_gatherer.furl": _furl_or_empty,
        "timeout.keepalive": _int(minimum=1),
        "timeout.disconnect": _int(minimum=1),
        "tempdir": _str,
        "reveal-IP-address": _bool,
    },
    "client": {
        "shares.needed": _int(1, 256),
        "shares.happy": _int(1, 256),
        "shares.total": _int(1, 256),
        "mutable.format": _choice("sdmf", "mdmf"),
        "helper.furl": _furl_or_empty,
        # ours (the 2008 interfaces' stats gatherer): where to offer this node's stats
        "stats_gatherer.furl": _furl_or_empty,
        "peers.preferred": _names,
        "introducer.furl": _furl,
        "storage.plugins": _names,
        "force_foolscap": _bool,
        "shares._max_immutable_segment_size_for_testing": _int(minimum=1),
    },
    "storage": {
        "enabled": _bool,
        "anonymous": _bool,
        "readonly": _bool,
        "reserved_space": _size,
        "storage_dir": _str,
        "expire.enabled": _bool,
        "expire.mode": _choice("age", "cutoff-date"),
        "expire.override_lease_duration": parse_duration,
        "expire.cutoff_date": parse_date,
        "expire.immutable": _bool,
        "expire.mutable": _bool,
        # ours: the pace of the share crawlers (docs/configuration.md)
        "crawler.slow_start": _int(minimum=0),
        "crawler.minimum_cycle_time": _int(minimum=0),
        "plugins": _names,
        "grid_management": _bool,
        "force_foolscap": _bool,
    },
    "helper": {"enabled": _bool},
    "sftpd": {"enabled": _bool, "port": _str, "host_pubkey_file": _str,
              "host_privkey_file": _str, "accounts.file": _str, "accounts.url": _str},
    "connections": {"tcp": _choice("tcp", "tor", "i2p", "disabled")},
    "tor": {"enabled": _bool, **{k: _str for k in (
        "launch", "socks.port", "control.port", "tor.executable", "onion", "onion.local_port",
        "onion.external_port", "onion.private_key_file")}},
    "i2p": {"enabled": _bool, **{k: _str for k in (
        "launch", "sam.port", "i2p.configdir", "i2p.executable", "dest", "dest.port",
        "dest.private_key_file")}},
    "grid_managers": None,               # any keys (check_supported refuses them)
    "grid_manager_certificates": None,   # any keys (check_supported refuses them)
}
_PLUGIN_SECTION_PREFIXES = ("storageserver.plugins.", "storageclient.plugins.")

#: the sections an introducer reads; Tahoe-LAFS refuses the others there too
INTRODUCER_SECTIONS = ("node", "connections", "tor", "i2p")


@attrs.frozen
class NodeSection:
    nickname: str = "<unspecified>"
    web_port: str | None = None
    web_static: str = "public_html"  # made absolute (relative to the node directory) by load_config
    tub_port: str | None = None      # None: the node does not listen
    tub_location: str | None = None
    timeout_keepalive: int | None = None
    timeout_disconnect: int | None = None
    tempdir: str = "tmp"             # made absolute by load_config
    reveal_ip: bool = True
    tcp_connections: bool = True     # [connections] tcp: tcp (True) or disabled (False)
    log_gatherer_furl: str | None = None


@attrs.frozen
class ClientSection:
    shares_needed: int = 3
    shares_happy: int = 7
    shares_total: int = 10
    mutable_format: str = "sdmf"
    peers_preferred: tuple = ()
    max_segment_size: int = 1024 * 1024
    helper_furl: str | None = None
    stats_gatherer_furl: str | None = None


@attrs.frozen
class HelperSection:
    enabled: bool = False


@attrs.frozen
class StorageSection:
    enabled: bool = True
    anonymous: bool = True
    readonly: bool = False
    reserved_space: int = 0
    storage_dir: str = "storage"
    expire_enabled: bool = False
    expire_mode: str = "age"
    expire_override_lease_duration: int | None = None  # seconds
    expire_cutoff_date: int | None = None  # Unix seconds, midnight UTC
    expire_immutable: bool = True
    expire_mutable: bool = True
    crawler_slow_start: int | None = None  # seconds; None: each crawler's default
    crawler_minimum_cycle_time: int | None = None  # seconds; likewise


@attrs.frozen
class TahoeConfig:
    """Everything a node needs from its directory, validated."""

    basedir: str
    node_type: str  # "client", "introducer" or "stats-gatherer"
    node: NodeSection
    client: ClientSection
    storage: StorageSection
    helper: HelperSection
    introducer_furls: dict  # petname -> FURL
    static_servers: dict  # server id -> {"furl", "nickname", "seed"} from private/servers.yaml
    raw: dict  # section -> {key: parsed value}

    def path(self, *parts) -> str:
        return os.path.join(self.basedir, *parts)

    def private_path(self, *parts) -> str:
        return os.path.join(self.basedir, "private", *parts)


NODE_TYPE_MARKERS = {"client": "tahoe-client.tac", "introducer": "tahoe-introducer.tac",
                     "stats-gatherer": "tahoe-stats-gatherer.tac"}


def identify_node_type(basedir):
    """'client', 'introducer', 'stats-gatherer', or None, from the marker
    file create-* wrote."""
    try:
        names = os.listdir(basedir)
    except OSError:
        return None
    for node_type, marker in NODE_TYPE_MARKERS.items():
        if marker in names:
            return node_type
    return None


def _new_parser():
    parser = configparser.ConfigParser(interpolation=None, strict=True,
                                       delimiters=("=",), comment_prefixes=("#", ";"),
                                       inline_comment_prefixes=None, empty_lines_in_values=False)
    parser.optionxform = str  # keys are case-sensitive in tahoe.cfg
    return parser


def _read_into(parser, path, read):
    try:
        read()
    except configparser.DuplicateSectionError as e:
        raise ConfigError(path, e.section, None, "section appears twice (line %s)" % e.lineno)
    except configparser.DuplicateOptionError as e:
        raise ConfigError(path, e.section, e.option, "key appears twice (line %s)" % e.lineno)
    except configparser.MissingSectionHeaderError as e:
        raise ConfigError(path, None, None, "line %d is outside any [section]: %r" % (e.lineno, e.line.strip()))
    except configparser.ParsingError as e:
        lines = ", ".join("line %d: %r" % (n, l.strip()) for n, l in e.errors)
        raise ConfigError(path, None, None, "cannot parse %s" % lines)
    return parser


def _parse_file(path):
    parser = _new_parser()

    def read():
        with open(path, encoding="utf-8-sig") as f:
            parser.read_file(f, source=path)
    try:
        return _read_into(parser, path, read)
    except FileNotFoundError:
        raise ConfigError(path, None, None, "no such file: this is not a node directory "
                          "(create one with 'tahoe create-node', 'create-client' or 'create-introducer')")
    except UnicodeDecodeError as e:
        raise ConfigError(path, None, None, "not UTF-8 text (%s)" % e)


def validate(parser, path):
    """Check the shape of every section and key; return {section: {key: parsed value}}."""
    out = {}
    for section in parser.sections():
        if section.startswith(_PLUGIN_SECTION_PREFIXES):
            out[section] = dict(parser.items(section))
            continue
        if section not in SCHEMA:
            raise ConfigError(path, section, None, "unknown section (known: %s)"
                              % ", ".join(sorted(SCHEMA)))
        keys = SCHEMA[section]
        values = {}
        for key, raw in parser.items(section):
            if keys is None:
                values[key] = raw
                continue
            if key not in keys:
                raise ConfigError(path, section, key, "unknown key in this section")
            try:
                values[key] = keys[key](raw)
            except ValueError as e:
                raise ConfigError(path, section, key, "bad value: %s" % e)
        out[section] = values
    return out


# ---- settings this version cannot honour

NO_TOR = ("Tor is not supported by this version; refusing rather than connecting "
          "over plain TCP")
NO_I2P = ("I2P is not supported by this version; refusing rather than connecting "
          "over plain TCP")
_OFF_ONLY = "only 'enabled = false' may stay in this section"


def check_supported(raw, path, node_type="client"):
    """Refuse every setting this version would otherwise have to ignore."""
    def refuse(section, key, why):
        raise ConfigError(path, section, key, why)

    for section, values in raw.items():
        if node_type == "introducer" and section not in INTRODUCER_SECTIONS:
            refuse(section, None, "an introducer reads only the [%s] sections; this one would "
                   "be ignored" % "], [".join(INTRODUCER_SECTIONS))
        if node_type == "stats-gatherer" and section not in INTRODUCER_SECTIONS:
            refuse(section, None, "a stats gatherer reads only the [%s] sections; this one "
                   "would be ignored" % "], [".join(INTRODUCER_SECTIONS))
        if section.startswith("storageserver.plugins."):
            refuse(section, None, "this version loads no storage server plugins")
        if section.startswith("storageclient.plugins."):
            refuse(section, None, "this version loads no storage client plugins")
        if section in ("grid_managers", "grid_manager_certificates"):
            for key in values:
                refuse(section, key, "this version does not support grid managers")
        for name, why in (("tor", NO_TOR), ("i2p", NO_I2P),
                          ("sftpd", "this version has no SFTP server")):
            if section != name:
                continue
            for key, value in values.items():
                if key == "enabled" and value is False:
                    continue
                refuse(section, key, why if key == "enabled" else "%s; %s" % (why, _OFF_ONLY))

    node = raw.get("node", {})
    if node_type == "stats-gatherer" and node.get("web.port"):
        refuse("node", "web.port", "a stats gatherer has no web server (its stats are in "
               "stats.json); leave the value empty")
    for key in ("tub.port", "web.port"):
        for part in (node.get(key) or "").split(","):
            kind = split_endpoint(part)[0] if part else None
            if kind in ("tor", "onion", "listen:tor"):
                refuse("node", key, "%r: %s" % (part, NO_TOR))
            if kind in ("i2p", "listen:i2p"):
                refuse("node", key, "%r: %s" % (part, NO_I2P))
    tcp = raw.get("connections", {}).get("tcp")
    if tcp == "tor":
        refuse("connections", "tcp", NO_TOR)
    if tcp == "i2p":
        refuse("connections", "tcp", "I2P is not supported by this version (and I2P cannot "
               "carry connections to TCP hints); refusing rather than connecting over plain TCP")

    client = raw.get("client", {})
    if client.get("storage.plugins"):
        refuse("client", "storage.plugins", "this version loads no storage client plugins")

    storage = raw.get("storage", {})
    if storage.get("plugins"):
        refuse("storage", "plugins", "this version loads no storage server plugins")
    if storage.get("grid_management"):
        refuse("storage", "grid_management", "this version does not support grid managers")


def check_listening(raw, path):
    """``tub.port`` and ``tub.location`` agree: both ``disabled``, or a
    listener and the hints that advertise it (absent hints mean ``AUTO``)."""
    node = raw.get("node", {})
    port, location = node.get("tub.port"), node.get("tub.location")
    if port == "disabled" and location not in (None, "disabled"):
        raise ConfigError(path, "node", "tub.location", "tub.port is disabled, so this node "
                          "does not listen: tub.location must be disabled too")
    if port is None and location not in (None, "disabled"):
        raise ConfigError(path, "node", "tub.location", "tub.port is not set, so this node "
                          "does not listen: set tub.port, or tub.location = disabled")
    if location == "disabled" and port not in (None, "disabled"):
        raise ConfigError(path, "node", "tub.port", "tub.location is disabled, so no other "
                          "node could reach this listener: tub.port must be disabled too")
    hints = (location or "AUTO").split(",")
    if port not in (None, "disabled") and "AUTO" in hints:
        if not any(endpoint_port(p) for p in port.split(",")):
            raise ConfigError(path, "node", "tub.location", "AUTO advertises this machine's "
                              "addresses with the TCP port of tub.port, which has none")


def check_expiry(raw, path):
    """The ``[storage] expire.*`` keys fit together, as Tahoe-LAFS's
    garbage-collection documentation says: enabled expiry needs a mode;
    cutoff-date mode needs a cutoff date; a cutoff date belongs to
    cutoff-date mode and a lease duration to age mode (the mode is ``age``
    when not given), where each would otherwise be ignored."""
    storage = raw.get("storage", {})
    mode = storage.get("expire.mode")
    if storage.get("expire.enabled") and mode is None:
        raise ConfigError(path, "storage", "expire.mode", "expire.enabled = true needs an "
                          "expiration mode: age or cutoff-date")
    mode = mode or "age"
    if mode == "cutoff-date" and "expire.cutoff_date" not in storage:
        raise ConfigError(path, "storage", "expire.cutoff_date", "expire.mode = cutoff-date "
                          "needs a cutoff date (YYYY-MM-DD)")
    if mode == "age" and "expire.cutoff_date" in storage:
        raise ConfigError(path, "storage", "expire.cutoff_date", "a cutoff date applies to "
                          "expire.mode = cutoff-date only; with mode age it would be ignored")
    if mode == "cutoff-date" and "expire.override_lease_duration" in storage:
        raise ConfigError(path, "storage", "expire.override_lease_duration", "a lease "
                          "duration applies to expire.mode = age only; with mode cutoff-date "
                          "it would be ignored")


def _is_loopback(host) -> bool:
    host = host.strip("[]").lower()
    return host in _LOOPBACK_NAMES or host.startswith("127.")


def listener_reveals_address(desc) -> str | None:
    """Why a listener would reveal this machine's address, or None."""
    kind, args, kwargs = split_endpoint(desc)
    if kind in _NETWORK_TYPES:
        interface = kwargs.get("interface")
        if interface is None or not _is_loopback(interface):
            return "%r accepts connections from other machines (listen on interface=127.0.0.1)" % desc
    if kind == "systemd":
        return "%r is a socket from systemd, whose address cannot be checked" % desc
    return None


def check_privacy(raw, path):
    """With ``[node] reveal-IP-address = false``, refuse whatever would
    reveal this machine's address: outgoing TCP connections (``[connections]
    tcp = tcp``, the default), ``tcp:`` or ``HOST:PORT`` hints and ``AUTO``
    (or no hints) in ``tub.location``, and listeners that accept connections
    from other machines."""
    node = raw.get("node", {})
    if node.get("reveal-IP-address", True):
        return
    why = "[node] reveal-IP-address = false, but "
    if raw.get("connections", {}).get("tcp", "tcp") == "tcp":
        raise ConfigError(path, "connections", "tcp", why + "tcp = tcp (the default) connects "
                          "to other nodes directly, from this machine's address; set tcp = "
                          "disabled (Tor is not supported by this version)")
    port, location = node.get("tub.port"), node.get("tub.location")
    if port not in (None, "disabled"):
        for hint in (location or "AUTO").split(","):
            if hint == "AUTO":
                raise ConfigError(path, "node", "tub.location", why + "tub.location is AUTO "
                                  "(or not set), which advertises this machine's addresses")
            if is_tcp_hint(hint):
                raise ConfigError(path, "node", "tub.location", why + "the hint %r advertises "
                                  "a TCP address" % hint)
    for key in ("tub.port", "web.port"):
        value = node.get(key)
        for part in (value.split(",") if value and value != "disabled" else ()):
            reason = listener_reveals_address(part)
            if reason:
                raise ConfigError(path, "node", key, why + reason)


def check_config_text(text, path, node_type="client"):
    """Every check :func:`load_config` makes on ``tahoe.cfg``, on ``text``
    (used by ``tahoe create-*`` before writing it)."""
    parser = _new_parser()
    raw = validate(_read_into(parser, path, lambda: parser.read_string(text, source=path)), path)
    _check(raw, path, node_type)
    return raw


def _check(raw, path, node_type):
    check_supported(raw, path, node_type)
    check_listening(raw, path)
    check_privacy(raw, path)
    check_expiry(raw, path)


def _read_introducers(basedir, raw, path):
    furls = {}
    deprecated = raw.get("client", {}).get("introducer.furl")
    if deprecated:
        furls["default"] = deprecated
    ypath = os.path.join(basedir, "private", "introducers.yaml")
    if os.path.exists(ypath):
        try:
            with open(ypath) as f:
                data = yaml.safe_load(f) or {}
            entries = data.get("introducers") or {}
            if not isinstance(entries, dict):
                raise ValueError("'introducers' must be a mapping of petname to {furl: ...}")
            for petname, entry in entries.items():
                furl = _furl(str((entry or {}).get("furl", "")))
                if not furl:
                    raise ValueError("introducer %r has no furl" % petname)
                if petname in furls and furls[petname] != furl:
                    raise ValueError("petname %r is also set by [client] introducer.furl in tahoe.cfg"
                                     % petname)
                furls[str(petname)] = furl
        except (yaml.YAMLError, ValueError, AttributeError) as e:
            raise ConfigError(ypath, None, None, "bad introducers file: %s" % e)
    return furls


def _read_static_servers(basedir) -> dict:
    path = os.path.join(basedir, "private", "servers.yaml")
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            return parse_static_servers(yaml.safe_load(f))
    except (yaml.YAMLError, StaticServersError) as e:
        raise ConfigError(path, None, None, "bad servers file: %s" % e)


def _node_path(basedir, value) -> str:
    """A path from tahoe.cfg: ``~`` expanded, relative to the node directory."""
    return os.path.join(basedir, os.path.expanduser(value))


def load_config(basedir) -> TahoeConfig:
    """Read and check ``BASEDIR/tahoe.cfg`` and the node files it needs."""
    basedir = os.path.abspath(os.path.expanduser(basedir))
    if not os.path.isdir(basedir):
        raise ConfigError(basedir, None, None, "no such node directory")
    path = os.path.join(basedir, "tahoe.cfg")
    raw = validate(_parse_file(path), path)
    node_type = identify_node_type(basedir) or "client"
    _check(raw, path, node_type)

    def section(name, fields, cls):
        values = raw.get(name, {})
        kwargs = {attr: values[key] for key, attr in fields.items()
                  if key in values and values[key] is not None and values[key] != ""}
        return cls(**kwargs)

    node = section("node", {
        "nickname": "nickname", "web.port": "web_port", "web.static": "web_static",
        "tub.port": "tub_port", "tub.location": "tub_location",
        "timeout.keepalive": "timeout_keepalive", "timeout.disconnect": "timeout_disconnect",
        "tempdir": "tempdir", "reveal-IP-address": "reveal_ip",
        "log_gatherer.furl": "log_gatherer_furl"}, NodeSection)
    listening = node.tub_port not in (None, "disabled")
    node = attrs.evolve(
        node,
        tub_port=node.tub_port if listening else None,
        tub_location=(node.tub_location or "AUTO") if listening else None,
        web_static=_node_path(basedir, node.web_static),
        tempdir=_node_path(basedir, node.tempdir),
        tcp_connections=raw.get("connections", {}).get("tcp", "tcp") == "tcp")
    client = section("client", {
        "shares.needed": "shares_needed", "shares.happy": "shares_happy",
        "shares.total": "shares_total", "mutable.format": "mutable_format",
        "peers.preferred": "peers_preferred", "helper.furl": "helper_furl",
        "stats_gatherer.furl": "stats_gatherer_furl",
        "shares._max_immutable_segment_size_for_testing": "max_segment_size"}, ClientSection)
    storage = section("storage", {
        "enabled": "enabled", "anonymous": "anonymous", "readonly": "readonly",
        "reserved_space": "reserved_space", "storage_dir": "storage_dir",
        "expire.enabled": "expire_enabled", "expire.mode": "expire_mode",
        "expire.override_lease_duration": "expire_override_lease_duration",
        "expire.cutoff_date": "expire_cutoff_date", "expire.immutable": "expire_immutable",
        "expire.mutable": "expire_mutable", "crawler.slow_start": "crawler_slow_start",
        "crawler.minimum_cycle_time": "crawler_minimum_cycle_time"}, StorageSection)
    helper = section("helper", {"enabled": "enabled"}, HelperSection)
    if node_type in ("introducer", "stats-gatherer"):
        storage = attrs.evolve(storage, enabled=False)
    k, happy, n = client.shares_needed, client.shares_happy, client.shares_total
    if not k <= n:
        raise ConfigError(path, "client", "shares.needed",
                          "shares.needed (%d) must not exceed shares.total (%d)" % (k, n))
    if not happy <= n:
        raise ConfigError(path, "client", "shares.happy",
                          "shares.happy (%d) must not exceed shares.total (%d)" % (happy, n))
    storage = attrs.evolve(storage, storage_dir=_node_path(basedir, storage.storage_dir))
    return TahoeConfig(
        basedir=basedir, node_type=node_type, node=node, client=client, storage=storage, helper=helper,
        introducer_furls=_read_introducers(basedir, raw, path),
        static_servers=_read_static_servers(basedir), raw=raw)
