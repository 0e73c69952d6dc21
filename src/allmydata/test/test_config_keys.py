"""Every ``tahoe.cfg`` key that Tahoe-LAFS 1.20 documents is either honoured
or refused when the node loads its configuration; none is read and ignored.

:data:`DOCUMENTED` lists the keys of Tahoe-LAFS 1.20's documentation
(``configuration.rst``, ``garbage-collection.rst``, ``managed-grid.rst`` and
``frontends/FTP-and-SFTP.rst``).  :data:`CASES` gives each key's verdict for
some values:

* :class:`Refused`: loading a node with that value fails with a
  :class:`ConfigError` that names ``tahoe.cfg``, the section and the key, and
  says why;
* :class:`Honoured`: the value loads, and the test named in the case (in
  this module) shows what it does in a node built from that directory;
* :class:`Off`: the feature's "off" value (``enabled = false``, an empty
  FURL), which is what this version does anyway.

``docs/configuration.md`` must say the same for every key (checked below).
"""

import calendar
import hashlib
import os
import re
import socket
import tempfile

import attrs
import pytest
import pytest_twisted
import yaml
from foolscap.api import Referenceable, Tub, fireEventually
from foolscap.tokens import NoLocationHintsError
from twisted.internet import reactor, task
from zope.interface import implementer

from allmydata.config import SCHEMA, ConfigError, load_config
from allmydata.helper.interfaces import HELPER_V1, RIHelper
from allmydata.node import create_node
from allmydata.scripts.runner import main
from allmydata.stats_gatherer import StatsGatherer, register_gatherer
from allmydata.testing.nodeconfig import edit_config
from allmydata.testing.nodegrid import http_request
from allmydata.testing.ports import free_port
from allmydata.testing.tubs import start_tub
from allmydata.testing.tubs import start_tub
from allmydata.testing.waiting import eventually
from allmydata.util import base32
from allmydata.util.hashutil import tagged_hash
from allmydata.util.rrefutil import call_remote

from .storage.planted import plant_immutable, plant_mutable, si_of
from .test_log_gatherer import Gatherer as LogGatherer
from .test_log_gatherer import probe_until_received, sighup  # noqa: F401 (a fixture)

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "configuration.md")

# (section, key) -> the Tahoe-LAFS 1.20 document that describes it.  "NAME"
# stands for any plugin name, "*" for any key of a free-form section.
DOCUMENTED = {
    **{("node", k): "configuration.rst" for k in (
        "nickname", "web.port", "web.static", "tub.port", "tub.location", "log_gatherer.furl",
        "timeout.keepalive", "timeout.disconnect", "tempdir", "reveal-IP-address")},
    ("connections", "tcp"): "configuration.rst",
    **{("tor", k): "configuration.rst" for k in (
        "enabled", "socks.port", "control.port", "launch", "tor.executable")},
    **{("i2p", k): "configuration.rst" for k in (
        "enabled", "sam.port", "launch", "i2p.configdir", "i2p.executable")},
    **{("client", k): "configuration.rst" for k in (
        "introducer.furl", "helper.furl", "shares.needed", "shares.total", "shares.happy",
        "mutable.format", "peers.preferred", "force_foolscap")},
    **{("storage", k): "configuration.rst" for k in (
        "enabled", "anonymous", "readonly", "reserved_space", "storage_dir", "force_foolscap",
        "plugins")},
    **{("storage", k): "garbage-collection.rst" for k in (
        "expire.enabled", "expire.mode", "expire.override_lease_duration", "expire.cutoff_date",
        "expire.immutable", "expire.mutable")},
    ("storageserver.plugins.NAME", "*"): "configuration.rst",
    ("helper", "enabled"): "configuration.rst",
    ("storage", "grid_management"): "managed-grid.rst",
    ("grid_managers", "*"): "managed-grid.rst",
    ("grid_manager_certificates", "*"): "managed-grid.rst",
    ("grid_management_certificates", "*"): "managed-grid.rst",  # its spelling in one example
    **{("sftpd", k): "frontends/FTP-and-SFTP.rst" for k in (
        "enabled", "port", "host_pubkey_file", "host_privkey_file", "accounts.file",
        "accounts.url")},
}

# keys Tahoe-LAFS 1.20 reads (and its create-node writes) without documenting
# them in those files; they are held to the same rule
UNDOCUMENTED = {
    ("client", "shares._max_immutable_segment_size_for_testing"),
    ("client", "storage.plugins"),
    ("storageclient.plugins.NAME", "*"),
    *(("tor", k) for k in ("onion", "onion.local_port", "onion.external_port",
                            "onion.private_key_file")),
    *(("i2p", k) for k in ("dest", "dest.port", "dest.private_key_file")),
}

# keys of this version that Tahoe-LAFS does not have: the pace of the share crawlers
OURS = {("storage", "crawler.slow_start"), ("storage", "crawler.minimum_cycle_time"),
        ("client", "stats_gatherer.furl")}

# a node that listens on 127.0.0.1, and the lines that put it there
LOOPBACK_TUB = "tub.port = tcp:{port}:interface=127.0.0.1\ntub.location = tcp:127.0.0.1:{port}\n"
PRIVATE = "[node]\nreveal-IP-address = false\n"
PRIVATE_NO_TCP = "[connections]\ntcp = disabled\n" + PRIVATE


@attrs.frozen
class Refused:
    section: str             # the section and key the error names
    key: str | None
    value: str | None        # None: the key is absent (its default is refused)
    why: str                 # a phrase of the error message
    context: str = ""        # other lines the case needs (they load on their own)
    introducer: bool = False


@attrs.frozen
class Honoured:
    section: str
    key: str
    value: str
    shown_by: str            # the test (in this module) that shows the effect
    context: str = ""


@attrs.frozen
class Off:
    section: str
    key: str
    value: str
    context: str = ""


NO_TOR = "Tor is not supported by this version; refusing rather than connecting over plain TCP"
NO_I2P = "I2P is not supported by this version"
OFF_ONLY = "only 'enabled = false' may stay"
CUTOFF = "[storage]\nexpire.mode = cutoff-date\n"

CASES = [
    # [node]
    Honoured("node", "nickname", "alice", "test_nickname_web_port_and_web_static"),
    Honoured("node", "web.port", "tcp:0:interface=127.0.0.1", "test_nickname_web_port_and_web_static"),
    Honoured("node", "web.static", "site", "test_nickname_web_port_and_web_static"),
    Honoured("node", "tub.port", "tcp:{port}:interface=127.0.0.1", "test_tub_port_and_location",
             context="[node]\ntub.location = tcp:127.0.0.1:{port}\n"),
    Honoured("node", "tub.port", "disabled", "test_tcp_disabled_and_private_node",
             context="[node]\ntub.location = disabled\n"),
    Honoured("node", "tub.location", "tcp:127.0.0.1:{port}", "test_tub_port_and_location",
             context="[node]\ntub.port = tcp:{port}:interface=127.0.0.1\n"),
    Honoured("node", "tub.location", "AUTO,tcp:example.invalid:{port}",
             "test_tub_location_auto", context="[node]\ntub.port = tcp:{port}\n"),
    Refused("node", "tub.location", "tcp:127.0.0.1:1", "tub.port is not set"),
    Refused("node", "tub.location", "tcp:127.0.0.1:1", "tub.port is disabled",
            context="[node]\ntub.port = disabled\n"),
    Refused("node", "tub.port", "tcp:1", "tub.location is disabled",
            context="[node]\ntub.location = disabled\n"),
    Refused("node", "tub.port", "tcp:0", "give a fixed port number",
            context="[node]\ntub.location = tcp:127.0.0.1:1\n"),
    Refused("node", "tub.port", "", "write 'disabled'"),
    Refused("node", "tub.port", "tor:1234", NO_TOR, context="[node]\ntub.location = tcp:x:1\n"),
    Refused("node", "tub.port", "listen:tor", NO_TOR, context="[node]\ntub.location = tcp:x:1\n"),
    Refused("node", "tub.port", "listen:i2p", NO_I2P, context="[node]\ntub.location = tcp:x:1\n"),
    Refused("node", "web.port", "onion:80", NO_TOR),
    Off("node", "log_gatherer.furl", ""),
    Honoured("node", "log_gatherer.furl", "pb://%s@tcp:127.0.0.1:1/gatherer" % ("a" * 32),
             "test_log_gatherer_furl"),
    Honoured("node", "timeout.keepalive", "17", "test_timeouts_reach_the_tub"),
    Honoured("node", "timeout.disconnect", "99", "test_timeouts_reach_the_tub"),
    Honoured("node", "tempdir", "spool", "test_tempdir_holds_temporary_files"),
    Honoured("node", "reveal-IP-address", "true", "test_tub_port_and_location"),
    Honoured("node", "reveal-IP-address", "false", "test_tcp_disabled_and_private_node",
             context="[connections]\ntcp = disabled\n"),
    # reveal-IP-address = false: what Tahoe-LAFS 1.20 refuses (PrivacyError) ...
    Refused("connections", "tcp", None, "tcp = tcp (the default)", context=PRIVATE),
    Refused("connections", "tcp", "tcp", "tcp = tcp (the default)", context=PRIVATE),
    Refused("node", "tub.location", "AUTO", "AUTO",
            context=PRIVATE_NO_TCP + "tub.port = tcp:1234:interface=127.0.0.1\n"),
    Refused("node", "tub.location", None, "AUTO",
            context=PRIVATE_NO_TCP + "tub.port = tcp:1234:interface=127.0.0.1\n"),
    Refused("node", "tub.location", "tcp:example.org:1234", "advertises a TCP address",
            context=PRIVATE_NO_TCP + "tub.port = tcp:1234:interface=127.0.0.1\n"),
    Refused("node", "tub.location", "example.org:1234", "advertises a TCP address",
            context=PRIVATE_NO_TCP + "tub.port = tcp:1234:interface=127.0.0.1\n"),
    # ... and listeners that accept connections from other machines
    Refused("node", "tub.port", "tcp:1234", "accepts connections from other machines",
            context=PRIVATE_NO_TCP + "tub.location = tor:abcdefghijklmnop.onion:1234\n"),
    Refused("node", "tub.port", "systemd:domain=INET:index=0", "cannot be checked",
            context=PRIVATE_NO_TCP + "tub.location = tor:abcdefghijklmnop.onion:1234\n"),
    Refused("node", "web.port", "tcp:3456", "accepts connections from other machines",
            context=PRIVATE_NO_TCP),
    # [connections]
    Honoured("connections", "tcp", "tcp", "test_tcp_disabled_and_private_node"),
    Honoured("connections", "tcp", "disabled", "test_tcp_disabled_and_private_node"),
    Refused("connections", "tcp", "tor", NO_TOR),
    Refused("connections", "tcp", "i2p", NO_I2P),
    # [tor], [i2p]
    Off("tor", "enabled", "false"),
    Refused("tor", "enabled", "true", NO_TOR),
    *(Refused("tor", k, v, OFF_ONLY, context="[tor]\nenabled = false\n") for k, v in (
        ("socks.port", "tcp:127.0.0.1:9050"), ("control.port", "tcp:127.0.0.1:9051"),
        ("launch", "true"), ("tor.executable", "/usr/bin/tor"), ("onion", "true"),
        ("onion.local_port", "1234"), ("onion.external_port", "3457"),
        ("onion.private_key_file", "private/tor_onion.privkey"))),
    Off("i2p", "enabled", "false"),
    Refused("i2p", "enabled", "true", NO_I2P),
    *(Refused("i2p", k, v, OFF_ONLY, context="[i2p]\nenabled = false\n") for k, v in (
        ("sam.port", "tcp:127.0.0.1:7656"), ("launch", "true"), ("i2p.configdir", "/var/i2p"),
        ("i2p.executable", "/usr/bin/i2p"), ("dest", "true"), ("dest.port", "3457"),
        ("dest.private_key_file", "private/i2p_dest.privkey"))),
    # [client]
    Honoured("client", "introducer.furl", "pb://%s@tcp:127.0.0.1:1/introducer" % ("b" * 32),
             "test_deprecated_introducer_furl"),
    Off("client", "helper.furl", ""),
    Honoured("client", "helper.furl", "pb://%s@tcp:127.0.0.1:1/helper" % ("c" * 32),
             "test_helper_furl_connects_the_uploader"),
    Off("client", "stats_gatherer.furl", ""),
    Honoured("client", "stats_gatherer.furl", "pb://%s@tcp:127.0.0.1:1/gatherer" % ("d" * 32),
             "test_stats_gatherer_furl"),
    Honoured("client", "shares.needed", "2", "test_encoding_reaches_the_client"),
    Honoured("client", "shares.happy", "3", "test_encoding_reaches_the_client"),
    Honoured("client", "shares.total", "4", "test_encoding_reaches_the_client",
             context="[client]\nshares.happy = 3\n"),
    Honoured("client", "shares._max_immutable_segment_size_for_testing", "4096",
             "test_encoding_reaches_the_client"),
    Honoured("client", "mutable.format", "mdmf", "test_encoding_reaches_the_client"),
    Honoured("client", "peers.preferred", "v0-%s" % ("a" * 52), "test_peers_preferred_come_first"),
    Honoured("client", "force_foolscap", "true", "test_force_foolscap"),
    Honoured("client", "force_foolscap", "false", "test_force_foolscap"),
    Off("client", "storage.plugins", ""),
    Refused("client", "storage.plugins", "acme-foo-v1", "no storage client plugins"),
    # [storage]
    Honoured("storage", "enabled", "true", "test_storage_settings_reach_the_server"),
    Honoured("storage", "enabled", "false", "test_anonymous_and_enabled"),
    Honoured("storage", "anonymous", "false", "test_anonymous_and_enabled"),
    Honoured("storage", "readonly", "true", "test_storage_settings_reach_the_server"),
    Honoured("storage", "reserved_space", "5MiB", "test_storage_settings_reach_the_server"),
    Honoured("storage", "storage_dir", "shares-here", "test_storage_settings_reach_the_server"),
    Honoured("storage", "force_foolscap", "true", "test_force_foolscap"),
    Honoured("storage", "force_foolscap", "false", "test_force_foolscap"),
    Honoured("storage", "expire.enabled", "false", "test_expiry_disabled_only_counts"),
    Honoured("storage", "expire.enabled", "true", "test_age_expiry_with_a_lease_duration",
             context="[storage]\nexpire.mode = age\n"),
    Honoured("storage", "expire.mode", "age", "test_age_expiry_with_a_lease_duration"),
    Honoured("storage", "expire.mode", "cutoff-date", "test_cutoff_date_expiry_and_share_kinds",
             context="[storage]\nexpire.cutoff_date = 2024-01-01\n"),
    Refused("storage", "expire.mode", None, "needs an expiration mode",
            context="[storage]\nexpire.enabled = true\n"),
    Refused("storage", "expire.mode", "sometimes", "is not one of age, cutoff-date"),
    Honoured("storage", "expire.override_lease_duration", "60 days",
             "test_age_expiry_with_a_lease_duration"),
    Honoured("storage", "expire.override_lease_duration", "2mo",
             "test_age_expiry_with_a_lease_duration"),
    Refused("storage", "expire.override_lease_duration", "60", "has no unit"),
    Refused("storage", "expire.override_lease_duration", "3 weeks", "has no unit"),
    Refused("storage", "expire.override_lease_duration", "0 days", "greater than 0"),
    Refused("storage", "expire.override_lease_duration", "60 days", "applies to expire.mode = "
            "age only", context=CUTOFF + "expire.cutoff_date = 2024-01-01\n"),
    Honoured("storage", "expire.cutoff_date", "2024-01-01",
             "test_cutoff_date_expiry_and_share_kinds", context=CUTOFF),
    Refused("storage", "expire.cutoff_date", "2024-02-30", "is not a date", context=CUTOFF),
    Refused("storage", "expire.cutoff_date", "1/1/2024", "is not a date", context=CUTOFF),
    Refused("storage", "expire.cutoff_date", None, "needs a cutoff date", context=CUTOFF),
    Refused("storage", "expire.cutoff_date", "2024-01-01", "applies to expire.mode = "
            "cutoff-date only"),
    Honoured("storage", "expire.immutable", "false", "test_cutoff_date_expiry_and_share_kinds"),
    Honoured("storage", "expire.mutable", "false", "test_cutoff_date_expiry_and_share_kinds"),
    Honoured("storage", "crawler.slow_start", "5", "test_crawler_pace"),
    Refused("storage", "crawler.slow_start", "-1", "less than the minimum"),
    Honoured("storage", "crawler.minimum_cycle_time", "100", "test_crawler_pace"),
    Refused("storage", "crawler.minimum_cycle_time", "soon", "is not an integer"),
    Off("storage", "plugins", ""),
    Refused("storage", "plugins", "acme-foo-v1", "no storage server plugins"),
    Off("storage", "grid_management", "false"),
    Refused("storage", "grid_management", "true", "grid managers"),
    Refused("storageserver.plugins.acme-foo-v1", None, None, "no storage server plugins",
            context="[storageserver.plugins.acme-foo-v1]\nsetting = 1\n"),
    Refused("storageclient.plugins.acme-foo-v1", None, None, "no storage client plugins",
            context="[storageclient.plugins.acme-foo-v1]\nsetting = 1\n"),
    Refused("grid_managers", "example_grid", "pub-v0-" + "a" * 52, "grid managers"),
    Refused("grid_manager_certificates", "default", "example_grid.cert", "grid managers"),
    Refused("grid_management_certificates", None, None, "unknown section",
            context="[grid_management_certificates]\ndefault = example_grid.cert\n"),
    # [helper]
    Off("helper", "enabled", "false"),
    Honoured("helper", "enabled", "true", "test_helper_enabled",
             context="[node]\n" + LOOPBACK_TUB),
    # [sftpd]
    Off("sftpd", "enabled", "false"),
    Refused("sftpd", "enabled", "true", "no SFTP server"),
    *(Refused("sftpd", k, v, OFF_ONLY, context="[sftpd]\nenabled = false\n") for k, v in (
        ("port", "tcp:8022:interface=127.0.0.1"), ("host_pubkey_file", "private/key.pub"),
        ("host_privkey_file", "private/key"), ("accounts.file", "private/accounts"),
        ("accounts.url", "https://example.com/login"))),
    # an introducer reads only [node], [connections], [tor] and [i2p]
    Refused("client", None, None, "an introducer reads only", introducer=True,
            context="[client]\nshares.needed = 2\n"),
    Refused("storage", None, None, "an introducer reads only", introducer=True,
            context="[storage]\nenabled = false\n"),
]


def _plugin_key(section, key):
    for prefix in ("storageserver.plugins.", "storageclient.plugins."):
        if section.startswith(prefix):
            return prefix + "NAME", "*"
    if section in ("grid_managers", "grid_manager_certificates", "grid_management_certificates"):
        return section, "*"
    return section, key


def cases_for(section, key):
    return [c for c in CASES if _plugin_key(c.section, c.key or "*") == (section, key)]


def node_dir(tmp_path, cfg, introducer=False):
    basedir = tmp_path / "node"
    basedir.mkdir()
    (basedir / "tahoe.cfg").write_text(cfg)
    (basedir / ("tahoe-introducer.tac" if introducer else "tahoe-client.tac")).write_text("#\n")
    return str(basedir)


def case_config(case, port=1234) -> str:
    """The tahoe.cfg of a case: its context, and its key's line (when it has
    a value) at the head of its section."""
    cfg = case.context
    if case.key is not None and case.value is not None:
        line = "%s = %s\n" % (case.key, case.value)
        header = "[%s]\n" % case.section
        cfg = cfg.replace(header, header + line, 1) if header in cfg else cfg + header + line
    return cfg.replace("{port}", str(port))


# ---- the walk over every key -----------------------------------------------------------

def test_every_documented_key_has_a_verdict():
    missing = [k for k in sorted(DOCUMENTED) + sorted(UNDOCUMENTED) + sorted(OURS)
               if not cases_for(*k)]
    assert not missing


def test_every_key_this_version_reads_is_in_the_walk():
    ours = {(s, k) for s, keys in SCHEMA.items() if keys for k in keys}
    ours |= {(s, "*") for s, keys in SCHEMA.items() if keys is None}
    assert ours - set(DOCUMENTED) - UNDOCUMENTED - OURS == set()


@pytest.mark.parametrize("case", [c for c in CASES if isinstance(c, Refused)],
                         ids=lambda c: "%s-%s-%s" % (c.section, c.key, c.value))
def test_refused(tmp_path, case):
    basedir = node_dir(tmp_path, case_config(case), introducer=case.introducer)
    with pytest.raises(ConfigError) as e:
        load_config(basedir)
    path = os.path.join(basedir, "tahoe.cfg")
    assert (e.value.path, e.value.section, e.value.key) == (path, case.section, case.key)
    message = str(e.value)
    where = "%s: [%s]" % (path, case.section) + (" %s" % case.key if case.key else "") + ": "
    assert message.startswith(where)
    assert case.why in message


@pytest.mark.parametrize("case", [c for c in CASES if not isinstance(c, Refused)],
                         ids=lambda c: "%s-%s-%s" % (c.section, c.key, c.value))
def test_accepted(tmp_path, case):
    config = load_config(node_dir(tmp_path, case_config(case, port=free_port())))
    assert config.raw[case.section][case.key] is not None
    if isinstance(case, Honoured):
        shown_by = globals().get(case.shown_by)
        assert callable(shown_by) and case.shown_by.startswith("test_")


def _docs_rows():
    """{(section, key): verdict text} from the table in docs/configuration.md."""
    with open(DOCS, encoding="utf-8") as f:
        text = f.read()
    rows, section = {}, None
    for line in text.splitlines():
        m = re.match(r"^\| *(`\[[^`]+\]`)? *\| *`([^`]+)`[^|]*\| *([^|]+)\|", line)
        if not m:
            continue
        if m.group(1):
            section = m.group(1).strip("`[]")
        rows[(section, m.group(2))] = m.group(3).strip()
    return rows


def test_the_docs_say_which_keys_are_honoured_and_which_refused():
    rows = _docs_rows()
    for key in sorted(DOCUMENTED) + sorted(UNDOCUMENTED) + sorted(OURS):
        assert key in rows, "docs/configuration.md has no row for [%s] %s" % key
        verdict = rows[key]
        kinds = {type(c) for c in cases_for(*key)}
        if Honoured in kinds:
            assert "honoured" in verdict, (key, verdict)
        if Off in kinds and Honoured not in kinds:
            assert verdict.startswith("off only"), (key, verdict)
        if kinds == {Refused}:
            assert verdict.startswith("refused"), (key, verdict)
        if Refused in kinds:
            assert "refused" in verdict or verdict.startswith("off only"), (key, verdict)
    assert "accepted for compatibility" not in open(DOCS, encoding="utf-8").read()


# ---- what the honoured keys do, in nodes built from their directories ------------------

def create(tmp_path, name, *args, settings=None):
    d = str(tmp_path / name)
    assert main([*args, d]) == 0
    if settings:
        edit_config(d, settings)
    return d


def storage_node_dir(tmp_path, name="storage", settings=None):
    return create(tmp_path, name, "create-node", "--hostname", "127.0.0.1", "--webport", "none",
                  settings=settings)


def client_dir(tmp_path, name="client", settings=None, servers=None):
    d = create(tmp_path, name, "create-client", "--webport", "none", settings=settings)
    if servers:
        with open(os.path.join(d, "private", "servers.yaml"), "w") as f:
            yaml.safe_dump({"storage": servers}, f)
    return d


def server_id(furl):
    return "v0-" + base32.b2a(hashlib.sha256(furl.encode("ascii")).digest()).decode("ascii")


async def stop(*nodes):
    for node in nodes:
        if node.running:
            await node.stopService()
    await fireEventually()


@pytest_twisted.ensureDeferred
async def test_nickname_web_port_and_web_static(tmp_path):
    d = client_dir(tmp_path, settings={"node": {"nickname": "alice",
                                                "web.port": "tcp:0:interface=127.0.0.1",
                                                "web.static": "site"}})
    os.makedirs(os.path.join(d, "site"))
    with open(os.path.join(d, "site", "hello.txt"), "w") as f:
        f.write("static hello\n")
    node = create_node(d, reactor)
    node.startService()
    try:
        with open(os.path.join(d, "node.url")) as f:
            url = f.read().strip()
        assert url == node.web.url and url.startswith("http://127.0.0.1:")
        welcome = await http_request("GET", url)
        assert welcome.code == 200 and "alice" in welcome.text
        static = await http_request("GET", url + "static/hello.txt")
        assert (static.code, static.body) == (200, b"static hello\n")
    finally:
        await stop(node)


@pytest_twisted.ensureDeferred
async def test_tub_port_and_location(tmp_path):
    port = free_port()
    d = storage_node_dir(tmp_path, settings={"node": {
        "tub.port": "tcp:%d:interface=127.0.0.1" % port, "tub.location": "127.0.0.1:%d" % port,
        "reveal-IP-address": "true"}})
    node = create_node(d, reactor)
    client = Tub()
    node.startService()
    client.startService()
    try:
        furl = node.storage_server.furl
        assert "@tcp:127.0.0.1:%d/" % port in furl  # the legacy HOST:PORT hint gets tcp:
        with open(os.path.join(d, "private", "storage.furl")) as f:
            assert f.read().strip() == furl
        ss = await client.getReference(furl)
        version = await call_remote(ss, "get_version")
        assert b"http://allmydata.org/tahoe/protocols/storage/v1" in version
    finally:
        await client.stopService()
        await stop(node)


def test_tub_location_auto(tmp_path):
    port = free_port()
    d = storage_node_dir(tmp_path, settings={"node": {
        "tub.port": "tcp:%d:interface=127.0.0.1" % port,
        "tub.location": "AUTO,tcp:example.invalid:%d" % port}})
    node = create_node(d, reactor)
    hints = node.storage_server.furl.split("@", 1)[1].split("/", 1)[0].split(",")
    assert "tcp:127.0.0.1:%d" % port in hints and hints[-1] == "tcp:example.invalid:%d" % port
    for hint in hints[:-1]:
        kind, address, hint_port = hint.split(":")
        assert (kind, hint_port) == ("tcp", str(port))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((address, 0))  # an address of this machine


def test_timeouts_reach_the_tub(tmp_path):
    d = storage_node_dir(tmp_path, settings={"node": {"timeout.keepalive": "17",
                                                     "timeout.disconnect": "99"}})
    tub = create_node(d, reactor).tub
    assert (tub.keepaliveTimeout, tub.disconnectTimeout) == (17, 99)
    default = create_node(storage_node_dir(tmp_path, "other"), reactor).tub
    assert (default.keepaliveTimeout, default.disconnectTimeout) == (240, None)


@pytest_twisted.ensureDeferred
async def test_tempdir_holds_temporary_files(tmp_path):
    before = tempfile.tempdir
    spool = str(tmp_path / "client" / "spool")
    node = create_node(client_dir(tmp_path, settings={"node": {"tempdir": "spool"}}), reactor)
    assert os.path.isdir(spool)
    node.startService()
    try:
        assert tempfile.gettempdir() == spool
        with tempfile.TemporaryFile() as f:  # what Twisted spools a large request body into
            assert os.readlink("/proc/self/fd/%d" % f.fileno()).startswith(spool + os.sep)
    finally:
        await stop(node)
    assert tempfile.tempdir == before
    other = create_node(client_dir(tmp_path, "other"), reactor)
    assert other.config.node.tempdir == str(tmp_path / "other" / "tmp")
    assert os.path.isdir(other.config.node.tempdir)


@pytest_twisted.ensureDeferred
async def test_tcp_disabled_and_private_node(tmp_path):
    server = create_node(storage_node_dir(tmp_path), reactor)
    private = create_node(client_dir(tmp_path, "private", settings={
        "node": {"reveal-IP-address": "false"}, "connections": {"tcp": "disabled"}}), reactor)
    plain = create_node(client_dir(tmp_path, "plain", settings={
        "connections": {"tcp": "tcp"}}), reactor)
    assert not private.listening and private.config.node.reveal_ip is False
    for node in (server, private, plain):
        node.startService()
    try:
        furl = server.storage_server.furl
        with pytest.raises(NoLocationHintsError):
            await private.tub.getReference(furl)
        ss = await plain.tub.getReference(furl)
        assert b"http://allmydata.org/tahoe/protocols/storage/v1" in await call_remote(
            ss, "get_version")
    finally:
        await stop(plain, private, server)


def test_deprecated_introducer_furl(tmp_path):
    furl = "pb://%s@tcp:127.0.0.1:1/introducer" % ("b" * 32)
    node = create_node(client_dir(tmp_path, settings={"client": {"introducer.furl": furl}}),
                       reactor)
    assert node.introducer_client.get_introducer_furl() == furl


def test_encoding_reaches_the_client(tmp_path):
    node = create_node(client_dir(tmp_path, settings={"client": {
        "shares.needed": "2", "shares.happy": "3", "shares.total": "4",
        "shares._max_immutable_segment_size_for_testing": "4096", "mutable.format": "mdmf"}}),
        reactor)
    assert node.client.encoding_params == {"k": 2, "happy": 3, "n": 4, "max_segment_size": 4096}
    assert node.client.nodemaker.mutable_format == "mdmf"


@pytest_twisted.ensureDeferred
async def test_peers_preferred_come_first(tmp_path):
    servers, entries = [], {}
    for i in range(3):
        node = create_node(storage_node_dir(tmp_path, "storage%d" % i), reactor)
        node.startService()
        servers.append(node)
        furl = node.storage_server.furl
        entries[server_id(furl)] = {"ann": {"anonymous-storage-FURL": furl}}
    clients = []
    try:
        si = tagged_hash(b"test", b"preferred", 16)
        plain = create_node(client_dir(tmp_path, "plain", servers=entries), reactor)
        plain.startService()
        clients.append(plain)
        await eventually(lambda: len(plain.storage_broker.get_connected_servers()) == 3, 30,
                         what="3 connected servers")
        order = [s.get_longname() for s in plain.storage_broker.get_servers_for_psi(si)]
        last = order[-1]
        preferring = create_node(client_dir(tmp_path, "preferring", servers=entries,
                                            settings={"client": {"peers.preferred": last}}),
                                 reactor)
        preferring.startService()
        clients.append(preferring)
        broker = preferring.storage_broker
        await eventually(lambda: len(broker.get_connected_servers()) == 3, 30,
                         what="3 connected servers")
        assert [s.get_longname() for s in broker.get_servers_for_psi(si)] == [last] + order[:-1]
    finally:
        await stop(*clients, *servers)


@pytest_twisted.ensureDeferred
async def test_storage_settings_reach_the_server(tmp_path):
    d = storage_node_dir(tmp_path, settings={"storage": {
        "enabled": "true", "readonly": "true", "reserved_space": "5MiB",
        "storage_dir": "shares-here"}})
    node = create_node(d, reactor)
    client = Tub()
    node.startService()
    client.startService()
    try:
        ss = node.storage_server
        assert ss.storedir == os.path.join(d, "shares-here")
        assert ss.reserved_space == 5 * 1024 * 1024 and ss.readonly_storage
        rref = await client.getReference(ss.furl)
        v1 = (await call_remote(rref, "get_version"))[
            b"http://allmydata.org/tahoe/protocols/storage/v1"]
        assert v1[b"available-space"] == 0  # read-only: nothing to offer
        already, writers = await call_remote(
            rref, "allocate_buckets", tagged_hash(b"test", b"si", 16), b"r" * 32, b"c" * 32,
            {0}, 100, Referenceable())
        assert writers == {}
    finally:
        await client.stopService()
        await stop(node)


def test_anonymous_and_enabled(tmp_path):
    furl = "pb://%s@tcp:127.0.0.1:1/introducer" % ("b" * 32)
    announced = create_node(storage_node_dir(tmp_path, "announced", settings={
        "client": {"introducer.furl": furl}}), reactor)
    hidden = create_node(storage_node_dir(tmp_path, "hidden", settings={
        "client": {"introducer.furl": furl}, "storage": {"anonymous": "false"}}), reactor)
    off = create_node(storage_node_dir(tmp_path, "off", settings={
        "client": {"introducer.furl": furl}, "storage": {"enabled": "false"}}), reactor)

    def published(node):
        return {a.service_name for a in node.introducer_client.get_published()}
    assert "storage" in published(announced)
    assert hidden.storage_server is not None and "storage" not in published(hidden)
    assert off.storage_server is None and "storage" not in published(off)


@implementer(RIHelper)
class _VersionedHelper(Referenceable):
    """A helper that answers ``get_version`` only (enough to be connected)."""

    def __init__(self, version):
        self.version = version

    def remote_get_version(self):
        return self.version

    def remote_upload_chk(self, si):
        raise RuntimeError("this test helper uploads nothing")


@pytest_twisted.ensureDeferred
async def test_helper_furl_connects_the_uploader(tmp_path):
    """The uploader connects to the helper of ``helper.furl`` and uses it when
    it speaks the helper protocol; a helper that does not is left unused."""
    tub = start_tub()
    good = tub.registerReference(_VersionedHelper({HELPER_V1: {}, b"application-version": b"x"}))
    bad = tub.registerReference(_VersionedHelper({b"application-version": b"old"}))
    nodes = [create_node(client_dir(tmp_path, name, settings={"client": {"helper.furl": furl}}),
                         reactor) for name, furl in (("good", good), ("bad", bad))]
    plain = create_node(client_dir(tmp_path, "plain"), reactor)
    try:
        for node in nodes + [plain]:
            node.startService()
        uploader = nodes[0].client.uploader
        await eventually(lambda: uploader.get_helper_info() == (good, True), 30,
                         what="the connection to the helper")
        other = nodes[1].client.uploader._helper
        await eventually(lambda: other.problem is not None, 30, what="the helper's version")
        assert nodes[1].client.uploader.get_helper_info() == (bad, False)
        assert "does not speak the helper protocol" in other.problem
        assert bad.rsplit("/", 1)[1] not in other.problem  # no swissnum in the text
        assert plain.client.uploader.get_helper_info() == (None, False)
    finally:
        await stop(plain, *nodes)
        await tub.stopService()


@pytest_twisted.ensureDeferred
async def test_helper_enabled(tmp_path):
    """``[helper] enabled = true`` runs an upload helper whose FURL, in
    ``private/helper.furl`` (mode 0600), answers the helper protocol; a
    node that does not listen cannot offer one."""
    d = storage_node_dir(tmp_path, settings={"helper": {"enabled": "true"}})
    node = create_node(d, reactor)
    client = Tub()
    node.startService()
    client.startService()
    try:
        path = os.path.join(d, "private", "helper.furl")
        assert os.stat(path).st_mode & 0o777 == 0o600
        with open(path) as f:
            furl = f.read().strip()
        assert furl == node.helper.furl
        assert os.path.isdir(os.path.join(d, "helper", "CHK_incoming"))
        rref = await client.getReference(furl)
        assert (await call_remote(rref, "get_version"))[HELPER_V1] == {}
        assert "chk_upload_helper.upload_requests" in node.stats_provider.get_stats()["stats"]
    finally:
        await client.stopService()
        await stop(node)
    plain = create_node(storage_node_dir(tmp_path, "plain"), reactor)
    assert plain.helper is None and not os.path.exists(
        os.path.join(str(tmp_path), "plain", "private", "helper.furl"))
    with pytest.raises(ConfigError) as e:
        create_node(client_dir(tmp_path, "quiet", settings={"helper": {"enabled": "true"}}),
                    reactor)
    assert (e.value.section, e.value.key) == ("helper", "enabled")
    assert "must listen" in str(e.value)


@pytest_twisted.ensureDeferred
async def test_force_foolscap(tmp_path):
    """This version's only storage protocol is Foolscap: ``true`` is what it
    does, and ``false`` (Tahoe-LAFS's default, "HTTPS as well, when both
    ends have it") comes to the same, as neither end here has HTTPS."""
    nodes = []
    try:
        for value in ("true", "false"):
            server = create_node(storage_node_dir(tmp_path, "storage-" + value, settings={
                "storage": {"force_foolscap": value}}), reactor)
            server.startService()
            nodes.append(server)
            furl = server.storage_server.furl
            client = create_node(client_dir(tmp_path, "client-" + value, settings={
                "client": {"force_foolscap": value}},
                servers={server_id(furl): {"ann": {"anonymous-storage-FURL": furl}}}), reactor)
            client.startService()
            nodes.append(client)
            broker = client.storage_broker
            await eventually(lambda: len(broker.get_connected_servers()) == 1, 30,
                             what="the client connected")
            assert broker.get_connected_servers()[0].connection_status().startswith(
                "Connected to tcp:127.0.0.1:")
    finally:
        await stop(*reversed(nodes))


@pytest_twisted.ensureDeferred
async def test_stats_gatherer_furl(tmp_path):
    """The node offers its stats to the gatherer, which polls them."""
    gatherer = StatsGatherer(str(tmp_path / "stats.json"), task.Clock())
    tub = start_tub()
    furl = register_gatherer(tub, gatherer, str(tmp_path / "stats_gatherer.furl"))
    node = create_node(client_dir(tmp_path, settings={
        "node": {"nickname": "offering"}, "client": {"stats_gatherer.furl": furl}}), reactor)
    assert create_node(client_dir(tmp_path, "plain"), reactor).stats_gatherer_client is None
    gatherer.startService()
    node.startService()
    try:
        tubid = node.tub.getTubID()
        await eventually(lambda: tubid in gatherer.nodes and gatherer.nodes[tubid].timestamp
                         is not None, 30, what="the node's stats at the gatherer")
        assert gatherer.nodes[tubid].nickname == "offering"
        assert gatherer.nodes[tubid].stats["stats"]
    finally:
        await stop(node)
        await gatherer.stopService()
        await tub.stopService()


@pytest_twisted.ensureDeferred
async def test_log_gatherer_furl(tmp_path, sighup):
    """The node's log events reach a Foolscap log gatherer (test_log_gatherer.py
    has more)."""
    gatherer = LogGatherer(str(tmp_path / "gatherer"))
    node = create_node(client_dir(tmp_path, settings={
        "node": {"log_gatherer.furl": gatherer.furl}}), reactor)
    assert node.log_publishing.furls == [gatherer.furl]
    node.startService()
    try:
        await probe_until_received([gatherer], node.log_publishing.tub.getTubID())
    finally:
        await stop(node)
        await gatherer.stop()


# ---- lease expiry and the crawlers' pace: the lease checker of a node built from its
# directory, run on a task.Clock over share files planted with chosen leases

DAY = 24 * 60 * 60
LEASE = 31 * DAY


def expiring_node(tmp_path, name, storage_settings, now):
    """(node, clock): a storage node built with ``storage_settings`` on a
    task.Clock at ``now``, with the crawlers starting at once."""
    settings = {"crawler.slow_start": "0", **storage_settings}
    clock = task.Clock()
    clock.advance(now)
    node = create_node(storage_node_dir(tmp_path, name, settings={"storage": settings}), clock)
    return node, clock


def one_checker_cycle(node, clock):
    """Start the storage server, let its lease checker walk once, stop it;
    return that cycle's history entry."""
    ss = node.storage_server
    ss.startService()
    try:
        clock.advance(0)
        checker = ss.lease_checker
        assert checker.state["last-cycle-finished"] == 0
        return checker.get_state()["history"]["0"]
    finally:
        ss.stopService()


def test_expiry_disabled_only_counts(tmp_path):
    now = calendar.timegm((2024, 3, 1, 0, 0, 0))
    node, clock = expiring_node(tmp_path, "off", {"expire.enabled": "false"}, now)
    storedir = node.storage_server.storedir
    old = plant_immutable(storedir, si_of("old"), 0, [now - DAY])
    mutable = plant_mutable(storedir, si_of("mutable"), 1, [now - DAY])
    fresh = plant_immutable(storedir, si_of("fresh"), 0, [now + DAY])
    cycle = one_checker_cycle(node, clock)
    assert all(os.path.exists(p) for p in (old, mutable, fresh))
    recovered = cycle["space-recovered"]
    assert cycle["expiration-enabled"] is False
    assert (recovered["examined-shares"], recovered["configured-shares"],
            recovered["configured-shares-immutable"], recovered["actual-shares"]) == (3, 2, 1, 0)


def test_age_expiry_with_a_lease_duration(tmp_path):
    now = calendar.timegm((2024, 3, 1, 0, 0, 0))
    age = {"expire.enabled": "true", "expire.mode": "age"}
    renewed = {days: now - days * DAY + LEASE for days in (30, 32, 61, 63)}
    outcome = {}
    for name, extra in (("own", {}), ("60days", {"expire.override_lease_duration": "60 days"}),
                        ("2mo", {"expire.override_lease_duration": "2mo"})):
        node, clock = expiring_node(tmp_path, name, {**age, **extra}, now)
        storedir = node.storage_server.storedir
        paths = {days: plant_immutable(storedir, si_of("renewed %d" % days), 0, [expiration])
                 for days, expiration in renewed.items()}
        one_checker_cycle(node, clock)
        outcome[name] = sorted(days for days, path in paths.items() if os.path.exists(path))
    # a lease's own duration is 31 days; 60 days; 2 months of 31 days
    assert outcome == {"own": [30], "60days": [30, 32], "2mo": [30, 32, 61]}


def test_cutoff_date_expiry_and_share_kinds(tmp_path):
    now = calendar.timegm((2024, 3, 1, 0, 0, 0))
    before = calendar.timegm((2023, 12, 31, 12, 0, 0)) + LEASE   # renewed before the cutoff
    after = calendar.timegm((2024, 1, 1, 0, 0, 1)) + LEASE       # renewed after it
    cutoff = {"expire.enabled": "true", "expire.mode": "cutoff-date",
              "expire.cutoff_date": "2024-01-01"}
    outcome = {}
    for name, extra in (("both", {}), ("no-immutable", {"expire.immutable": "false"}),
                        ("no-mutable", {"expire.mutable": "false"})):
        node, clock = expiring_node(tmp_path, name, {**cutoff, **extra}, now)
        storedir = node.storage_server.storedir
        paths = {("immutable", "before"): plant_immutable(storedir, si_of("ib"), 0, [before]),
                 ("immutable", "after"): plant_immutable(storedir, si_of("ia"), 0, [after]),
                 ("mutable", "before"): plant_mutable(storedir, si_of("mb"), 0, [before]),
                 ("mutable", "after"): plant_mutable(storedir, si_of("ma"), 0, [after])}
        one_checker_cycle(node, clock)
        outcome[name] = sorted(k for k, path in paths.items() if not os.path.exists(path))
    # the "after" leases expired a month ago by their own time, and stay
    assert outcome == {"both": [("immutable", "before"), ("mutable", "before")],
                       "no-immutable": [("mutable", "before")],
                       "no-mutable": [("immutable", "before")]}


def test_crawler_pace(tmp_path):
    clock = task.Clock()
    clock.advance(1_700_000_000)
    node = create_node(storage_node_dir(tmp_path, settings={"storage": {
        "crawler.slow_start": "5", "crawler.minimum_cycle_time": "100"}}), clock)
    ss = node.storage_server
    crawlers = (ss.lease_checker, ss.bucket_counter)

    def finished():
        return [c.state["last-cycle-finished"] for c in crawlers]
    ss.startService()
    try:
        clock.advance(4.9)
        assert finished() == [None, None] and [c.slices for c in crawlers] == [0, 0]
        clock.advance(0.1)
        assert finished() == [0, 0]
        clock.advance(99.9)  # the next cycles start 100 s after the first ones started
        assert finished() == [0, 0]
        clock.advance(0.1)
        assert finished() == [1, 1]
    finally:
        ss.stopService()
    default = create_node(storage_node_dir(tmp_path, "default"), clock).storage_server
    assert (default.lease_checker.pace.slow_start, default.bucket_counter.pace.slow_start,
            default.lease_checker.pace.minimum_cycle_time,
            default.bucket_counter.pace.minimum_cycle_time) == (360, 300, 43200, 3600)
