"""A grid of real `tahoe` processes on 127.0.0.1: introducer, 3 storage
nodes and a client, driven only through the command line, node files and
the web API."""

import json
import os
import signal
import subprocess
import urllib.request

import pytest

from allmydata.scripts import pidfile
from allmydata.testing.processes import (
    NodeProcesses,
    TAHOE,
    pid_alive,
    read_text as read,
    run_tahoe,
    start_process_grid,
    stop_process_grid,
)
from allmydata.testing.waiting import wait_for
from allmydata.util import base32

pytestmark = pytest.mark.integration


def get_json(url):
    with urllib.request.urlopen(url + "?t=json", timeout=10) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    procs = NodeProcesses()
    try:
        g = start_process_grid(procs, root, introducer_webport="tcp:0:interface=127.0.0.1")
        g["procs"] = procs
        yield g
    finally:
        stop_process_grid(procs)


def connected_servers(url):
    return {s["nodeid"]: s for s in get_json(url)["servers"]
            if s["connection_status"].lower().startswith("connected")}


def test_client_sees_three_connected_servers(grid):
    url = grid["client_url"]
    servers = wait_for(lambda: len(connected_servers(url)) == 3 and connected_servers(url), 60,
                       what="3 connected servers")
    expected = {read(os.path.join(d, "my_nodeid")) for d in grid["storage"]}
    assert set(servers) == expected
    for s in servers.values():
        assert s["connection_status"].startswith("Connected to tcp:127.0.0.1:")
        assert s["nickname"].startswith("storage")
        assert isinstance(s["available_space"], int) and s["available_space"] > 0
        assert s["version"].startswith("allmydata-tahoe/")
    welcome = get_json(url)
    assert welcome["introducers"]["statuses"][0].startswith("Connected")
    with urllib.request.urlopen(url, timeout=10) as r:
        html = r.read().decode("utf-8")
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Referrer-Policy"] == "no-referrer"
    assert "storage0" in html and "Connected to 3 of 3" in html


def test_node_files(grid):
    for d in grid["storage"] + [grid["client"], grid["introducer"]]:
        nodeid = read(os.path.join(d, "my_nodeid"))
        assert len(base32.a2b(nodeid)) == 20
        assert oct(os.stat(os.path.join(d, "private")).st_mode & 0o777) == "0o700"
        assert os.path.exists(os.path.join(d, "private", "node.pem"))
        assert os.path.exists(os.path.join(d, "logs", "twistd.log"))
        pid, start = pidfile.parse_pidfile(os.path.join(d, "running.process"))
        assert pid_alive(pid) and start > 0
    for d in grid["storage"]:
        furl = read(os.path.join(d, "private", "storage.furl"))
        assert furl.startswith("pb://%s@tcp:127.0.0.1:" % read(os.path.join(d, "my_nodeid")))
        assert os.path.isdir(os.path.join(d, "storage"))
    assert not os.path.exists(os.path.join(grid["client"], "private", "storage.furl"))


def test_introducer_page(grid):
    url = read(os.path.join(grid["introducer"], "node.url"))
    data = wait_for(lambda: (lambda j: j if j["announcement_summary"].get("storage") == 3 else None)(
        get_json(url)), 30, what="3 storage announcements")
    assert data["announcement_summary"].get("stub_client") == 4
    assert data["subscription_summary"].get("storage") == 4
    with urllib.request.urlopen(url, timeout=10) as r:
        assert "storage1" in r.read().decode("utf-8")


def test_server_stop_and_restart(grid):
    url = grid["client_url"]
    wait_for(lambda: len(connected_servers(url)) == 3, 60, what="3 connected servers")
    victim = grid["storage"][1]
    nodeid = read(os.path.join(victim, "my_nodeid"))
    old_pid = pidfile.running_pid(victim)
    run_tahoe("stop", victim)
    assert not pid_alive(old_pid)
    assert not os.path.exists(os.path.join(victim, "running.process"))
    wait_for(lambda: nodeid not in connected_servers(url), 30, what="server shown disconnected")
    row = [s for s in get_json(url)["servers"] if s["nodeid"] == nodeid][0]
    assert not row["connection_status"].lower().startswith("connected")
    run_tahoe("start", victim)
    assert read(os.path.join(victim, "my_nodeid")) == nodeid  # identity survives restarts
    wait_for(lambda: nodeid in connected_servers(url), 60, what="server reconnected")


def test_introducer_restart(grid):
    url = grid["client_url"]
    run_tahoe("restart", grid["introducer"])
    wait_for(lambda: get_json(url)["introducers"]["statuses"][0].startswith("Connected"), 60,
             what="client reconnected to the introducer")
    iurl = read(os.path.join(grid["introducer"], "node.url"))
    wait_for(lambda: get_json(iurl)["announcement_summary"].get("storage") == 3, 60,
             what="announcements republished")


def test_stop_leaves_no_process(tmp_path):
    d = str(tmp_path / "n")
    run_tahoe("create-node", "--hostname", "127.0.0.1", "--webport", "none", d)
    run_tahoe("start", d)
    pid = pidfile.running_pid(d)
    assert pid and pid_alive(pid)
    proc = run_tahoe("start", d, check=False)
    assert proc.returncode == 1 and "already running" in proc.stderr
    run_tahoe("stop", d)
    assert not pid_alive(pid)
    assert not os.path.exists(os.path.join(d, "running.process"))


def test_run_stops_when_stdin_closes(tmp_path):
    d = str(tmp_path / "n")
    run_tahoe("create-node", "--hostname", "127.0.0.1", "--webport", "none", d)
    p = subprocess.Popen(TAHOE + ["run", d], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: pidfile.running_pid(d) == p.pid, 30, what="node running")
        p.stdin.close()
        assert p.wait(timeout=30) == 0
        assert "standard input closed" in p.stdout.read().decode()
        assert not os.path.exists(os.path.join(d, "running.process"))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()


def test_run_allow_stdin_close_and_sigterm(tmp_path):
    d = str(tmp_path / "n")
    run_tahoe("create-node", "--hostname", "127.0.0.1", "--webport", "tcp:0:interface=127.0.0.1", d)
    p = subprocess.Popen(TAHOE + ["run", "--allow-stdin-close", d], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: pidfile.running_pid(d) == p.pid, 30, what="node running")
        url = wait_for(lambda: os.path.exists(os.path.join(d, "node.url"))
                       and read(os.path.join(d, "node.url")), 30, what="node.url")
        # an answer from the web server comes from a later turn of the
        # reactor than the one that saw standard input (/dev/null) at its end
        assert get_json(url)
        assert p.poll() is None
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
        assert "standard input closed" not in p.stdout.read().decode()
        assert not os.path.exists(os.path.join(d, "running.process"))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()


def test_bad_config_stops_node_with_clear_error(tmp_path):
    d = str(tmp_path / "n")
    run_tahoe("create-node", "--hostname", "127.0.0.1", "--webport", "none", d)
    cfg = read(os.path.join(d, "tahoe.cfg")).replace("[storage]\n", "[storage]\nfrobnicate = yes\n")
    with open(os.path.join(d, "tahoe.cfg"), "w") as f:
        f.write(cfg)
    proc = run_tahoe("run", d, check=False)
    assert proc.returncode == 1
    assert "tahoe.cfg" in proc.stderr and "frobnicate" in proc.stderr
    proc = run_tahoe("start", d, check=False)
    assert proc.returncode == 1 and "frobnicate" in proc.stderr
    assert pidfile.running_pid(d) is None
