"""Node directories made by the real Tahoe-LAFS 1.20 ``create-*`` commands
load in this version with the same meaning (or, for ``--hide-ip``, are
refused), and ``create-client`` without ``--hostname`` writes the same
listening settings in both."""

import os

import pytest

from allmydata.config import ConfigError, load_config
from allmydata.testing.processes import run_tahoe
from allmydata.testing.reference import ReferenceNode

pytestmark = pytest.mark.interop

FURL = "pb://%s@tcp:127.0.0.1:9/introducer" % ("a" * 32)


def listening_lines(basedir):
    with open(os.path.join(basedir, "tahoe.cfg")) as f:
        return [line.strip() for line in f if line.startswith(("tub.port", "tub.location"))]


def test_reference_create_client_loads_as_a_client_that_listens_nowhere(tahoe_ref_venv, tmp_path):
    ref = str(tmp_path / "ref")
    ReferenceNode(tahoe_ref_venv, ref).create("create-client", "--introducer", FURL)
    ours = str(tmp_path / "ours")
    run_tahoe("create-client", "--introducer", FURL, ours)
    assert listening_lines(ref) == listening_lines(ours) == [
        "tub.port = disabled", "tub.location = disabled"]
    for basedir in (ref, ours):
        c = load_config(basedir)
        assert (c.node_type, c.node.tub_port, c.storage.enabled) == ("client", None, False)
        assert c.introducer_furls == {"default": FURL}
        assert c.node.web_port == "tcp:3456:interface=127.0.0.1"


@pytest.mark.parametrize("command, node_type, storage", [
    ("create-node", "client", True),
    ("create-introducer", "introducer", False),
])
def test_reference_node_and_introducer_load(tahoe_ref_venv, tmp_path, command, node_type,
                                            storage):
    ref = str(tmp_path / "ref")
    ReferenceNode(tahoe_ref_venv, ref).create(command, "--hostname", "127.0.0.1")
    c = load_config(ref)
    assert (c.node_type, c.storage.enabled) == (node_type, storage)
    port = c.node.tub_port.split(":")[1]
    assert (c.node.tub_port, c.node.tub_location) == ("tcp:" + port, "tcp:127.0.0.1:" + port)


def test_reference_hide_ip_client_is_refused(tahoe_ref_venv, tmp_path):
    """Tahoe-LAFS's ``create-client --hide-ip`` (with its Tor support
    installed) sends TCP connections through Tor; this version, which has no
    Tor, refuses that directory at load and refuses ``--hide-ip`` itself."""
    ref = str(tmp_path / "ref")
    ReferenceNode(tahoe_ref_venv, ref).create("create-client", "--hide-ip")
    with pytest.raises(ConfigError) as e:
        load_config(ref)
    assert (e.value.path, e.value.section) == (os.path.join(ref, "tahoe.cfg"), "connections")
    assert e.value.key == "tcp" and "Tor is not supported" in str(e.value)
    ours = run_tahoe("create-client", "--hide-ip", tmp_path / "ours", check=False)
    assert ours.returncode == 1 and "--hide-ip" in ours.stderr
    assert not os.path.exists(tmp_path / "ours" / "tahoe.cfg")
