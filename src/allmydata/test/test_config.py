"""tahoe.cfg parsing and validation."""

import os

import pytest

from allmydata.config import ConfigError, check_config_text, identify_node_type, load_config


def write_node(tmp_path, cfg, marker="tahoe-client.tac"):
    basedir = tmp_path / "node"
    basedir.mkdir()
    (basedir / "tahoe.cfg").write_text(cfg)
    if marker:
        (basedir / marker).write_text("#\n")
    return str(basedir)


GOOD = """
[node]
nickname = alice
web.port = tcp:3456:interface=127.0.0.1
tub.port = tcp:1234:interface=127.0.0.1
tub.location = tcp:127.0.0.1:1234

[client]
shares.needed = 2
shares.happy = 3
shares.total = 4
shares._max_immutable_segment_size_for_testing = 4096

[storage]
enabled = true
readonly = false
reserved_space = 10MiB
"""


def test_good_config(tmp_path):
    c = load_config(write_node(tmp_path, GOOD))
    assert c.node_type == "client"
    assert c.node.nickname == "alice"
    assert c.node.tub_port == "tcp:1234:interface=127.0.0.1"
    assert (c.client.shares_needed, c.client.shares_happy, c.client.shares_total) == (2, 3, 4)
    assert c.client.max_segment_size == 4096
    assert c.storage.reserved_space == 10 * 1024 * 1024
    assert c.storage.storage_dir == os.path.join(c.basedir, "storage")
    assert c.introducer_furls == {}


def test_defaults(tmp_path):
    c = load_config(write_node(tmp_path, "[node]\n"))
    assert (c.client.shares_needed, c.client.shares_happy, c.client.shares_total) == (3, 7, 10)
    assert c.client.max_segment_size == 1024 * 1024
    assert c.client.mutable_format == "sdmf"
    assert c.storage.enabled is True
    assert c.node.nickname == "<unspecified>"
    assert c.node.web_port is None


@pytest.mark.parametrize("cfg, section, key", [
    ("[bogus]\nx = 1\n", "bogus", None),
    ("[node]\nnickname = a\nfrobnicate = 1\n", "node", "frobnicate"),
    ("[client]\nshares.needed = three\n", "client", "shares.needed"),
    ("[client]\nshares.total = 300\n", "client", "shares.total"),
    ("[client]\nshares.needed = 5\nshares.total = 4\n", "client", "shares.needed"),
    ("[client]\nshares.happy = 11\n", "client", "shares.happy"),
    ("[storage]\nreserved_space = lots\n", "storage", "reserved_space"),
    ("[storage]\nenabled = perhaps\n", "storage", "enabled"),
    ("[node]\nweb.port = http://x\n", "node", "web.port"),
    ("[node]\ntub.location = not a hint\n", "node", "tub.location"),
    ("[client]\nintroducer.furl = http://not-a-furl\n", "client", "introducer.furl"),
    ("[node]\nnickname = a\nnickname = b\n", "node", "nickname"),
    ("[node]\ntub.location = tcp:127.0.0.1:1\n", "node", "tub.location"),
    ("[node]\ntub.port = disabled\ntub.location = tcp:h:1\n", "node", "tub.location"),
    ("[node]\ntub.port = \n", "node", "tub.port"),
    ("[node]\nssh.port = 8022\n", "node", "ssh.port"),
    ("[client]\nmutable.format = xdmf\n", "client", "mutable.format"),
])
def test_bad_config_names_file_section_key(tmp_path, cfg, section, key):
    basedir = write_node(tmp_path, cfg)
    with pytest.raises(ConfigError) as e:
        load_config(basedir)
    msg = str(e.value)
    assert os.path.join(basedir, "tahoe.cfg") in msg
    assert "[%s]" % section in msg
    if key:
        assert key in msg
    assert e.value.section == section and e.value.key == key


def test_line_outside_section(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write_node(tmp_path, "nickname = x\n[node]\n"))
    assert "outside any [section]" in str(e.value)


def test_missing_directory(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(str(tmp_path / "nope"))
    assert "no such node directory" in str(e.value)


def test_missing_tahoe_cfg(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(str(tmp_path))
    assert "tahoe.cfg" in str(e.value) and "not a node directory" in str(e.value)


def test_plugin_sections_are_refused(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write_node(tmp_path, "[storageserver.plugins.foo]\nanything = goes\n"))
    assert (e.value.section, e.value.key) == ("storageserver.plugins.foo", None)
    assert "no storage server plugins" in str(e.value)


def test_listening_node_without_location_advertises_auto(tmp_path):
    c = load_config(write_node(tmp_path, "[node]\ntub.port = 1234\n"))
    assert (c.node.tub_port, c.node.tub_location) == ("tcp:1234", "AUTO")


def test_disabled_tub_means_not_listening(tmp_path):
    c = load_config(write_node(tmp_path, "[node]\ntub.port = disabled\ntub.location = disabled\n"))
    assert (c.node.tub_port, c.node.tub_location) == (None, None)


def test_paths_are_relative_to_the_node_directory(tmp_path):
    c = load_config(write_node(tmp_path, "[node]\ntempdir = spool\nweb.static = ~/site\n"))
    assert c.node.tempdir == os.path.join(c.basedir, "spool")
    assert c.node.web_static == os.path.expanduser("~/site")
    assert load_config(c.basedir).node.tempdir == os.path.join(c.basedir, "spool")


def test_check_config_text_is_load_configs_check(tmp_path):
    path = str(tmp_path / "tahoe.cfg")
    check_config_text("[node]\nnickname = x\n", path)
    with pytest.raises(ConfigError) as e:
        check_config_text("[connections]\ntcp = tor\n", path)
    assert (e.value.path, e.value.section, e.value.key) == (path, "connections", "tcp")
    with pytest.raises(ConfigError) as e:
        check_config_text("[client]\nshares.needed = 2\n", path, "introducer")
    assert e.value.section == "client"


def test_introducers_yaml_and_deprecated_key(tmp_path):
    furl = "pb://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@tcp:127.0.0.1:1/intro"
    basedir = write_node(tmp_path, "[client]\nintroducer.furl = %s\n" % furl)
    assert load_config(basedir).introducer_furls == {"default": furl}
    os.makedirs(os.path.join(basedir, "private"))
    with open(os.path.join(basedir, "private", "introducers.yaml"), "w") as f:
        f.write("introducers:\n  other:\n    furl: %s\n" % furl.replace("intro", "other"))
    assert set(load_config(basedir).introducer_furls) == {"default", "other"}


def test_bad_introducers_yaml(tmp_path):
    basedir = write_node(tmp_path, "[node]\n")
    os.makedirs(os.path.join(basedir, "private"))
    with open(os.path.join(basedir, "private", "introducers.yaml"), "w") as f:
        f.write("introducers:\n  x:\n    furl: nonsense\n")
    with pytest.raises(ConfigError) as e:
        load_config(basedir)
    assert "introducers.yaml" in str(e.value) and "nonsense" in str(e.value)


def test_node_type(tmp_path):
    assert identify_node_type(write_node(tmp_path, "[node]\n", marker="tahoe-introducer.tac")) == "introducer"
    c = load_config(str(tmp_path / "node"))
    assert c.node_type == "introducer" and c.storage.enabled is False
