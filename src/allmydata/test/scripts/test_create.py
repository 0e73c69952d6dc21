"""tahoe create-node / create-client / create-introducer, run in-process."""

import os
import stat

import pytest

from twisted.internet import reactor

from allmydata.config import load_config
from allmydata.node import create_node
from allmydata.scripts.runner import main
from allmydata.util import base32


def tahoe(*args):
    return main([str(a) for a in args])


def test_create_node(tmp_path, capsys):
    d = tmp_path / "n"
    furl = "pb://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@tcp:127.0.0.1:9/intro"
    assert tahoe("create-node", "--nickname", "bob", "--introducer", furl, "--hostname", "127.0.0.1",
                 "--webport", "tcp:0:interface=127.0.0.1", "--shares-needed", "2",
                 "--shares-happy", "3", "--shares-total", "5", d) == 0
    assert "Node created" in capsys.readouterr().out
    c = load_config(str(d))
    assert c.node_type == "client" and c.storage.enabled
    assert c.node.nickname == "bob"
    assert (c.client.shares_needed, c.client.shares_happy, c.client.shares_total) == (2, 3, 5)
    assert c.introducer_furls == {"default": furl}
    assert c.node.tub_port.endswith(":interface=127.0.0.1")
    assert c.node.tub_location.startswith("tcp:127.0.0.1:")
    assert stat.S_IMODE(os.stat(d / "private").st_mode) == 0o700
    for name in ("secret", "convergence"):
        assert len(base32.a2b((d / "private" / name).read_text().strip())) == 32


def test_create_client_and_introducer(tmp_path):
    assert tahoe("create-client", "--listen", "none", "--webport", "none", tmp_path / "c") == 0
    c = load_config(str(tmp_path / "c"))
    assert not c.storage.enabled and c.node.tub_port is None and c.node.web_port is None
    assert tahoe("create-introducer", "--port", "tcp:5555:interface=127.0.0.1",
                 "--location", "tcp:127.0.0.1:5555", tmp_path / "i") == 0
    c = load_config(str(tmp_path / "i"))
    assert c.node_type == "introducer" and c.node.tub_port == "tcp:5555:interface=127.0.0.1"


def test_create_client_without_hostname_listens_nowhere(tmp_path, capsys):
    """As Tahoe-LAFS 1.20 does: no listener, no location, no storage."""
    furl = "pb://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@tcp:127.0.0.1:9/intro"
    d = tmp_path / "c"
    assert tahoe("create-client", "--introducer", furl, d) == 0
    assert "Client created" in capsys.readouterr().out
    cfg = (d / "tahoe.cfg").read_text()
    assert "\ntub.port = disabled\ntub.location = disabled\n" in cfg
    c = load_config(str(d))
    assert (c.node.tub_port, c.node.tub_location, c.storage.enabled) == (None, None, False)
    assert c.introducer_furls == {"default": furl}
    assert c.node.web_port == "tcp:3456:interface=127.0.0.1"
    node = create_node(str(d), reactor)
    assert not node.listening and node.storage_server is None
    assert node.introducer_client.get_introducer_furl() == furl


@pytest.mark.parametrize("kind, args", [
    ("create-client", ["--hide-ip"]),
    ("create-client", ["--listen", "tor"]),
    ("create-introducer", ["--hide-ip", "--hostname", "127.0.0.1"]),
    ("create-introducer", ["--listen", "i2p"]),
])
def test_client_and_introducer_refuse_what_the_node_would(tmp_path, capsys, kind, args):
    assert tahoe(kind, *args, tmp_path / "n") == 1
    assert "not support" in capsys.readouterr().err
    assert not (tmp_path / "n").exists()


@pytest.mark.parametrize("args", [
    ["create-node", "--hostname", "127.0.0.1"],
    ["create-node", "--listen", "none", "--no-storage"],
    ["create-node", "--port", "tcp:4567:interface=127.0.0.1", "--location", "tcp:127.0.0.1:4567"],
    ["create-client"],
    ["create-client", "--hostname", "127.0.0.1"],
    ["create-introducer", "--hostname", "127.0.0.1"],
])
def test_what_create_writes_the_node_accepts(tmp_path, args):
    assert tahoe(*args, tmp_path / "n") == 0
    config = load_config(str(tmp_path / "n"))
    assert config.node.reveal_ip is True
    assert config.raw["node"]["tub.port"] and config.raw["node"]["tub.location"]
    if "[helper]" in (tmp_path / "n" / "tahoe.cfg").read_text():
        assert config.raw["helper"] == {"enabled": False}
    create_node(str(tmp_path / "n"), reactor)


def test_no_storage(tmp_path):
    assert tahoe("create-node", "--no-storage", "--hostname", "127.0.0.1", tmp_path / "n") == 0
    assert not load_config(str(tmp_path / "n")).storage.enabled


@pytest.mark.parametrize("args, message", [
    (["--port", "tcp:1"], "--port must be used with --location"),
    (["--hostname", "h", "--port", "tcp:1", "--location", "tcp:h:1"], "--hostname cannot be used"),
    ([], "requires --hostname"),
    (["--hostname", "h", "--shares-needed", "5", "--shares-total", "4"], "must not exceed"),
    (["--hostname", "h", "--shares-needed", "x"], "--shares-needed must be an integer, not 'x'"),
    (["--hostname", "h", "--shares-total", "2.5"], "--shares-total must be an integer"),
    (["--port", "tcp:1", "--location", "tcp:h:1", "--listen", ""], "--listen needs a listener type"),
    (["--port", "tcp:1", "--location", "tcp:h:1", "--listen", " , "], "--listen needs a listener"),
    (["--hostname", "h", "--listen", "carrier-pigeon"], "unknown listener"),
    (["--listen", "none"], "storage node must listen"),
    (["--hostname", "h", "--introducer", "http://x"], "must be a FURL"),
    (["--hostname", "h", "--tor-launch"], "not supported"),
    (["--hostname", "h", "--hide-ip"], "--hide-ip: hiding this node's IP address needs Tor or I2P"),
    (["--listen", "none", "--no-storage", "--hide-ip"], "needs Tor or I2P"),
    (["--listen", "none", "--no-storage", "--helper"], "--helper: a helper must listen"),
    (["--listen", "tor"], "Tor and I2P are not supported"),
    (["--listen", "i2p"], "Tor and I2P are not supported"),
    (["--listen", "tcp,tor", "--hostname", "h"], "Tor and I2P are not supported"),
    (["--port", "tcp:0", "--location", "tcp:h:0"], "[node] tub.port: bad value"),
    (["--port", "tor:1234", "--location", "tcp:h:1"], "Tor is not supported"),
    (["--hostname", "h", "--webport", "onion:80"], "[node] web.port"),
])
def test_create_node_usage_errors(tmp_path, capsys, args, message):
    assert tahoe("create-node", *args, tmp_path / "n") == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "n" / "tahoe.cfg").exists()


def test_helper_option_turns_the_helper_on(tmp_path):
    assert tahoe("create-node", "--hostname", "127.0.0.1", "--helper", tmp_path / "h") == 0
    assert load_config(str(tmp_path / "h")).helper.enabled
    assert tahoe("create-node", "--hostname", "127.0.0.1", tmp_path / "n") == 0
    assert not load_config(str(tmp_path / "n")).helper.enabled


def test_refuses_nonempty_dir(tmp_path, capsys):
    (tmp_path / "n").mkdir()
    (tmp_path / "n" / "precious").write_text("keep me")
    assert tahoe("create-node", "--hostname", "127.0.0.1", tmp_path / "n") == 1
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "n" / "precious").read_text() == "keep me"


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        tahoe("--version")
    assert e.value.code == 0
    assert "allmydata-tahoe: " in capsys.readouterr().out


def test_run_missing_dir(tmp_path, capsys):
    assert tahoe("run", tmp_path / "nope") == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--nodaemon"], ["-n"]])
def test_run_accepts_twistd_nodaemon(tmp_path, capsys, extra):
    """``tahoe run NODEDIR --nodaemon``, as typed for Tahoe-LAFS, parses and
    reaches the node directory check."""
    assert tahoe("run", tmp_path / "nope", *extra) == 1
    assert "does not exist" in capsys.readouterr().err


def test_run_refuses_other_twistd_options(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        tahoe("run", tmp_path / "nope", "--logfile=x.log")
    assert e.value.code == 2
    assert "--logfile=x.log" in capsys.readouterr().err


def test_stop_not_running(tmp_path, capsys):
    assert tahoe("create-node", "--hostname", "127.0.0.1", tmp_path / "n") == 0
    assert tahoe("stop", tmp_path / "n") == 2
    assert "running" in capsys.readouterr().err


def test_create_client_shares_must_be_integers(tmp_path, capsys):
    assert tahoe("create-client", "--shares-happy", "many", tmp_path / "c") == 1
    assert "--shares-happy must be an integer" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
    assert tahoe("create-client", "--shares-needed", " 2", "--shares-happy", "3",
                 "--shares-total", "4", tmp_path / "d") == 0
    c = load_config(str(tmp_path / "d"))
    assert (c.client.shares_needed, c.client.shares_happy, c.client.shares_total) == (2, 3, 4)


def test_create_introducer_needs_a_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tahoe("create-introducer", "--hostname", "127.0.0.1") == 1
    assert "no default node directory" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()
    assert tahoe("-d", tmp_path / "i1", "create-introducer", "--hostname", "127.0.0.1") == 0
    assert tahoe("create-introducer", "-C", tmp_path / "i2", "--hostname", "127.0.0.1") == 0
    for d in ("i1", "i2"):
        assert load_config(str(tmp_path / d)).node_type == "introducer"


def test_create_client_refuses_storage_dir(tmp_path, capsys):
    """A client has no storage, so a storage directory would be written and never used."""
    assert tahoe("create-client", "--storage-dir", tmp_path / "s", tmp_path / "c") == 1
    assert "--storage-dir: create-client makes a node without storage" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
