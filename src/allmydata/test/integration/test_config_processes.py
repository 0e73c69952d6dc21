"""``tahoe.cfg`` settings as real ``tahoe`` processes see them: a refused
setting stops ``tahoe run`` with a message naming the file, section and key;
a client made by ``create-client`` without ``--hostname`` (it listens
nowhere) stores and fetches files; ``[node] tempdir`` holds the running
node's temporary files.  Everything listens on 127.0.0.1."""

import json
import os
import socket
import urllib.request

import pytest

from allmydata.scripts import pidfile
from allmydata.testing.nodeconfig import edit_config
from allmydata.testing.ports import free_port
from allmydata.testing.processes import NodeProcesses, read_text, run_tahoe, stop_process_grid
from allmydata.testing.waiting import wait_for

pytestmark = pytest.mark.integration


def append_config(basedir, text):
    with open(os.path.join(basedir, "tahoe.cfg"), "a") as f:
        f.write(text)


@pytest.mark.parametrize("section, key, value, why", [
    ("connections", "tcp", "tor",
     "Tor is not supported by this version; refusing rather than connecting over plain TCP"),
    ("tor", "enabled", "true", "Tor is not supported"),
    ("storage", "plugins", "acme-foo-v1", "this version loads no storage server plugins"),
    ("sftpd", "enabled", "true", "this version has no SFTP server"),
    ("storage", "expire.mode", "sometimes",
     "bad value: 'sometimes' is not one of age, cutoff-date"),
])
def test_run_refuses_a_setting_it_would_ignore(tmp_path, section, key, value, why):
    d = str(tmp_path / "n")
    run_tahoe("create-node", "--hostname", "127.0.0.1", "--webport", "none", d)
    edit_config(d, {section: {key: value}})
    proc = run_tahoe("run", d, check=False)
    assert proc.returncode == 1
    assert "%s: [%s] %s: %s" % (os.path.join(d, "tahoe.cfg"), section, key, why) in proc.stderr
    assert pidfile.running_pid(d) is None


def test_run_refuses_what_would_reveal_the_address(tmp_path):
    """reveal-IP-address = false with TCP connections on (the default)."""
    d = str(tmp_path / "c")
    run_tahoe("create-client", "--webport", "none", d)
    cfg = read_text(os.path.join(d, "tahoe.cfg")).replace(
        "reveal-IP-address = true", "reveal-IP-address = false")
    with open(os.path.join(d, "tahoe.cfg"), "w") as f:
        f.write(cfg + "\n")
    proc = run_tahoe("run", d, check=False)
    assert proc.returncode == 1
    assert "tahoe.cfg: [connections] tcp: [node] reveal-IP-address = false" in proc.stderr
    append_config(d, "[connections]\ntcp = disabled\n")
    p = NodeProcesses()
    try:
        p.start(d, wait_file="my_nodeid")  # nothing else reveals it: the node runs
        assert pidfile.running_pid(d)
    finally:
        stop_process_grid(p)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """An introducer, 3 storage nodes, a client that listens nowhere, and
    one that also makes no TCP connection (``[connections] tcp = disabled``,
    ``reveal-IP-address = false``)."""
    root = str(tmp_path_factory.mktemp("config-grid"))
    procs = NodeProcesses()
    try:
        intro = os.path.join(root, "introducer")
        run_tahoe("create-introducer", "--hostname", "127.0.0.1", "--webport", "none", intro)
        procs.start(intro, wait_file="private/introducer.furl")
        furl = read_text(os.path.join(intro, "private", "introducer.furl"))
        storage = [os.path.join(root, "storage%d" % i) for i in range(3)]
        for i, d in enumerate(storage):
            run_tahoe("create-node", "--nickname", "storage%d" % i, "--hostname", "127.0.0.1",
                      "--introducer", furl, "--webport", "none", d)
        for d in storage:
            procs.start(d, wait_file="private/storage.furl")
        client = os.path.join(root, "client")
        run_tahoe("create-client", "--introducer", furl,
                  "--webport", "tcp:%d:interface=127.0.0.1" % free_port(),
                  "--shares-needed", "2", "--shares-happy", "3", "--shares-total", "3", client)
        cfg = read_text(os.path.join(client, "tahoe.cfg"))
        with open(os.path.join(client, "tahoe.cfg"), "w") as f:
            f.write(cfg.replace("[node]\n", "[node]\ntempdir = spool\n", 1) + "\n")
        procs.start(client, wait_file="node.url")
        private = os.path.join(root, "private-client")
        run_tahoe("create-client", "--introducer", furl,
                  "--webport", "tcp:%d:interface=127.0.0.1" % free_port(), private)
        edit_config(private, {"node": {"reveal-IP-address": "false"},
                              "connections": {"tcp": "disabled"}})
        procs.start(private, wait_file="node.url")
        yield {"client": client, "url": read_text(os.path.join(client, "node.url")),
               "private_url": read_text(os.path.join(private, "node.url")), "storage": storage}
    finally:
        stop_process_grid(procs)


def welcome(url):
    with urllib.request.urlopen(url + "?t=json", timeout=10) as r:
        return json.load(r)


def connected(url):
    return [s for s in welcome(url)["servers"]
            if s["connection_status"].lower().startswith("connected")]


def test_client_that_listens_nowhere_stores_and_fetches(grid):
    client, url = grid["client"], grid["url"]
    cfg = read_text(os.path.join(client, "tahoe.cfg"))
    assert "tub.port = disabled\ntub.location = disabled" in cfg
    wait_for(lambda: len(connected(url)) == 3, 60, what="3 connected servers")
    assert welcome(url)["introducers"]["statuses"][0].startswith("Connected")
    assert not os.path.exists(os.path.join(client, "private", "storage.furl"))
    data = os.urandom(150_000)
    req = urllib.request.Request(url + "uri", data=data, method="PUT")
    with urllib.request.urlopen(req, timeout=60) as r:
        cap = r.read().decode("ascii").strip()
    assert cap.startswith("URI:CHK:")
    with urllib.request.urlopen(url + "uri/" + urllib.request.quote(cap, safe=""),
                                timeout=60) as r:
        assert r.read() == data


def test_tempdir_holds_the_running_nodes_temporary_files(grid):
    """A large request body is spooled to a temporary file as soon as its
    headers arrive; the node's open files show where it went."""
    client, url = grid["client"], grid["url"]
    spool = os.path.join(client, "spool")
    assert os.path.isdir(spool)
    pid = pidfile.running_pid(client)
    port = int(url.rstrip("/").rsplit(":", 1)[1])

    def open_files_in_spool():
        found = []
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue  # closed meanwhile
            if target.startswith(spool + os.sep):
                found.append(target)
        return found

    assert open_files_in_spool() == []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"PUT /uri HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 200000\r\n\r\n"
                  + b"x" * 1000)
        wait_for(open_files_in_spool, 30, what="a temporary file under %s" % spool)


def test_tcp_disabled_client_makes_no_tcp_connection(grid):
    """The introducer and the servers are up (the other client reaches them),
    but a client with ``tcp = disabled`` has no way to dial a TCP hint."""
    url = grid["private_url"]
    wait_for(lambda: len(connected(grid["url"])) == 3, 60, what="the other client connected")
    status = wait_for(lambda: "last attempt failed" in welcome(url)["introducers"]["statuses"][0]
                      and welcome(url)["introducers"]["statuses"][0], 60,
                      what="a failed attempt to reach the introducer")
    assert status.startswith("Not connected")
    assert welcome(url)["servers"] == []
