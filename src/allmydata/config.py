"""``tahoe.cfg`` parsed into validated, frozen configuration objects.

The node never writes ``tahoe.cfg``; it reads it once at start.  Every
section and key is checked against the table below (FORMATS.md §13): an
unknown section or key, a duplicate, or a bad value raises
:class:`ConfigError`, whose message names the file, the section and the key,
so that the node stops before doing anything with a config it does not
understand.
"""

import configparser
import os
import re

import attrs

from .util.abbreviate import parse_abbreviated_size


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


_STRPORT = re.compile(r"^(tcp|ssl|unix|systemd|tor|i2p)(:.*)?$|^[0-9]+$")


def _endpoint(s):
    """A Twisted endpoint string, or empty/"none" for 'off'."""
    v = s.strip()
    if v.lower() in ("", "none", "disabled"):
        return None
    for part in v.split(","):
        if not _STRPORT.match(part.strip()):
            raise ValueError("%r is not an endpoint description such as tcp:3456:interface=127.0.0.1" % part)
    return v


def _location(s):
    v = s.strip()
    if v.lower() in ("", "disabled"):
        return None
    for hint in v.split(","):
        hint = hint.strip()
        if hint.upper() == "AUTO":
            continue
        if not re.match(r"^(tcp:)?[^:,\s]+:[0-9]+$|^(tor|i2p):\S+$", hint):
            raise ValueError("%r is not a connection hint such as tcp:example.org:1234 or AUTO" % hint)
    return v


def _furl(s):
    v = s.strip()
    if not v:
        return None
    if not v.startswith("pb://") or "@" not in v or "/" not in v[5:]:
        raise ValueError("%r is not a FURL (pb://TUBID@HINTS/NAME)" % v)
    return v


def _nodeids(s):
    return tuple(p.strip() for p in s.split(",") if p.strip())


def _segsize(s):
    v = _int(minimum=1)(s)
    return v


# section -> key -> parser.  Keys Tahoe-LAFS 1.20 knows but we do not act on
# (tor, i2p, sftpd, plugins, expiry) are accepted and validated for shape so
# that a tahoe.cfg written for one works with the other.
SCHEMA = {
    "node": {
        "nickname": _str,
        "web.port": _endpoint,
        "web.static": _str,
        "tub.port": _endpoint,
        "tub.location": _location,
        "log_gatherer.furl": _str,
        "timeout.keepalive": _int(minimum=1),
        "timeout.disconnect": _int(minimum=1),
        "tempdir": _str,
        "reveal-IP-address": _bool,
        "ssh.port": _str,
        "ssh.authorized_keys_file": _str,
    },
    "client": {
        "shares.needed": _int(1, 256),
        "shares.happy": _int(1, 256),
        "shares.total": _int(1, 256),
        "mutable.format": _choice("sdmf", "mdmf"),
        "helper.furl": _furl,
        "peers.preferred": _nodeids,
        "introducer.furl": _furl,
        "storage.plugins": _str,
        "force_foolscap": _bool,
        "shares._max_immutable_segment_size_for_testing": _segsize,
    },
    "storage": {
        "enabled": _bool,
        "anonymous": _bool,
        "readonly": _bool,
        "reserved_space": _size,
        "storage_dir": _str,
        "expire.enabled": _bool,
        "expire.mode": _choice("age", "cutoff-date"),
        "expire.override_lease_duration": _str,
        "expire.cutoff_date": _str,
        "expire.immutable": _bool,
        "expire.mutable": _bool,
        "plugins": _str,
        "grid_management": _bool,
        "force_foolscap": _bool,
    },
    "helper": {"enabled": _bool},
    "sftpd": {"enabled": _bool, "port": _str, "host_pubkey_file": _str,
              "host_privkey_file": _str, "accounts.file": _str},
    "connections": {"tcp": _choice("tcp", "tor", "i2p", "disabled")},
    "tor": {k: _str for k in ("enabled", "launch", "socks.port", "control.port", "tor.executable",
                              "onion", "onion.local_port", "onion.external_port",
                              "onion.private_key_file")},
    "i2p": {k: _str for k in ("enabled", "launch", "sam.port", "i2p.configdir", "i2p.executable",
                              "dest", "dest.port", "dest.private_key_file")},
    "grid_managers": None,               # any keys
    "grid_manager_certificates": None,   # any keys
}
_FREE_FORM_PREFIXES = ("storageserver.plugins.", "storageclient.plugins.")


@attrs.frozen
class NodeSection:
    nickname: str = "<unspecified>"
    web_port: str | None = None
    web_static: str = "public_html"
    tub_port: str | None = None
    tub_location: str | None = None
    timeout_keepalive: int | None = None
    timeout_disconnect: int | None = None
    tempdir: str | None = None
    reveal_ip: bool = True


@attrs.frozen
class ClientSection:
    shares_needed: int = 3
    shares_happy: int = 7
    shares_total: int = 10
    mutable_format: str = "sdmf"
    helper_furl: str | None = None
    peers_preferred: tuple = ()
    force_foolscap: bool = False
    max_segment_size: int = 1024 * 1024


@attrs.frozen
class StorageSection:
    enabled: bool = True
    anonymous: bool = True
    readonly: bool = False
    reserved_space: int = 0
    storage_dir: str = "storage"


@attrs.frozen
class TahoeConfig:
    """Everything a node needs from its directory, validated."""

    basedir: str
    node_type: str  # "client" or "introducer"
    node: NodeSection
    client: ClientSection
    storage: StorageSection
    helper_enabled: bool
    introducer_furls: dict  # petname -> FURL
    static_servers: dict  # server id -> {"furl", "nickname", "seed"} from private/servers.yaml
    raw: dict  # section -> {key: parsed value}, for keys without a field

    def path(self, *parts) -> str:
        return os.path.join(self.basedir, *parts)

    def private_path(self, *parts) -> str:
        return os.path.join(self.basedir, "private", *parts)


NODE_TYPE_MARKERS = {"client": "tahoe-client.tac", "introducer": "tahoe-introducer.tac"}


def identify_node_type(basedir):
    """'client', 'introducer', or None, from the marker file create-* wrote."""
    try:
        names = os.listdir(basedir)
    except OSError:
        return None
    for node_type, marker in NODE_TYPE_MARKERS.items():
        if marker in names:
            return node_type
    return None


def _parse_file(path):
    parser = configparser.ConfigParser(interpolation=None, strict=True,
                                       delimiters=("=",), comment_prefixes=("#", ";"),
                                       inline_comment_prefixes=None, empty_lines_in_values=False)
    parser.optionxform = str  # keys are case-sensitive in tahoe.cfg
    try:
        with open(path, encoding="utf-8-sig") as f:
            parser.read_file(f, source=path)
    except FileNotFoundError:
        raise ConfigError(path, None, None, "no such file: this is not a node directory "
                          "(create one with 'tahoe create-node', 'create-client' or 'create-introducer')")
    except configparser.DuplicateSectionError as e:
        raise ConfigError(path, e.section, None, "section appears twice (line %s)" % e.lineno)
    except configparser.DuplicateOptionError as e:
        raise ConfigError(path, e.section, e.option, "key appears twice (line %s)" % e.lineno)
    except configparser.MissingSectionHeaderError as e:
        raise ConfigError(path, None, None, "line %d is outside any [section]: %r" % (e.lineno, e.line.strip()))
    except configparser.ParsingError as e:
        lines = ", ".join("line %d: %r" % (n, l.strip()) for n, l in e.errors)
        raise ConfigError(path, None, None, "cannot parse %s" % lines)
    except UnicodeDecodeError as e:
        raise ConfigError(path, None, None, "not UTF-8 text (%s)" % e)
    return parser


def validate(parser, path):
    """Check every section and key; return {section: {key: parsed value}}."""
    out = {}
    for section in parser.sections():
        if section.startswith(_FREE_FORM_PREFIXES):
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


def _read_introducers(basedir, raw, path):
    furls = {}
    deprecated = raw.get("client", {}).get("introducer.furl")
    if deprecated:
        furls["default"] = deprecated
    ypath = os.path.join(basedir, "private", "introducers.yaml")
    if os.path.exists(ypath):
        import yaml
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
    import yaml
    from .storage_client import StaticServersError, parse_static_servers
    try:
        with open(path) as f:
            return parse_static_servers(yaml.safe_load(f))
    except (yaml.YAMLError, StaticServersError) as e:
        raise ConfigError(path, None, None, "bad servers file: %s" % e)


def load_config(basedir) -> TahoeConfig:
    """Read and validate ``BASEDIR/tahoe.cfg`` and the node files it needs."""
    basedir = os.path.abspath(os.path.expanduser(basedir))
    if not os.path.isdir(basedir):
        raise ConfigError(basedir, None, None, "no such node directory")
    path = os.path.join(basedir, "tahoe.cfg")
    raw = validate(_parse_file(path), path)
    node_type = identify_node_type(basedir) or "client"

    def section(name, fields, cls):
        values = raw.get(name, {})
        kwargs = {attr: values[key] for key, attr in fields.items()
                  if key in values and values[key] is not None and values[key] != ""}
        return cls(**kwargs)

    node = section("node", {
        "nickname": "nickname", "web.port": "web_port", "web.static": "web_static",
        "tub.port": "tub_port", "tub.location": "tub_location",
        "timeout.keepalive": "timeout_keepalive", "timeout.disconnect": "timeout_disconnect",
        "tempdir": "tempdir", "reveal-IP-address": "reveal_ip"}, NodeSection)
    client = section("client", {
        "shares.needed": "shares_needed", "shares.happy": "shares_happy",
        "shares.total": "shares_total", "mutable.format": "mutable_format",
        "helper.furl": "helper_furl", "peers.preferred": "peers_preferred",
        "force_foolscap": "force_foolscap",
        "shares._max_immutable_segment_size_for_testing": "max_segment_size"}, ClientSection)
    storage = section("storage", {
        "enabled": "enabled", "anonymous": "anonymous", "readonly": "readonly",
        "reserved_space": "reserved_space", "storage_dir": "storage_dir"}, StorageSection)
    if node_type == "introducer":
        storage = attrs.evolve(storage, enabled=False)
    k, happy, n = client.shares_needed, client.shares_happy, client.shares_total
    if not k <= n:
        raise ConfigError(path, "client", "shares.needed",
                          "shares.needed (%d) must not exceed shares.total (%d)" % (k, n))
    if not happy <= n:
        raise ConfigError(path, "client", "shares.happy",
                          "shares.happy (%d) must not exceed shares.total (%d)" % (happy, n))
    if node.tub_port and not node.tub_location:
        raise ConfigError(path, "node", "tub.location",
                          "tub.port is set but tub.location is not: other nodes could not reach this one")
    storage_dir = os.path.join(basedir, os.path.expanduser(storage.storage_dir))
    storage = attrs.evolve(storage, storage_dir=storage_dir)
    return TahoeConfig(
        basedir=basedir, node_type=node_type, node=node, client=client, storage=storage,
        helper_enabled=raw.get("helper", {}).get("enabled", False) or False,
        introducer_furls=_read_introducers(basedir, raw, path),
        static_servers=_read_static_servers(basedir), raw=raw)
