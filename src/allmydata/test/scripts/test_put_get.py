"""``tahoe put`` and ``tahoe get`` against a grid of real node processes
(an introducer, 3 storage nodes, a client with k=2, happy=3, n=4), through
the client's web API -- plus the parts of the CLI that need no node."""

import io
import os
import subprocess

import pytest

from allmydata.scripts.common import UsageError
from allmydata.scripts.common_http import _NoProgress, cap_url_path, progress_bar
from allmydata.scripts.runner import main
from allmydata.scripts.tahoe_get import split_remote
from allmydata.testing.ports import free_port
from allmydata.testing.procgrid import connected_count
from allmydata.testing.processes import NodeProcesses, TAHOE, start_process_grid, stop_process_grid
from allmydata.testing.waiting import wait_for
from allmydata.util import base32


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("putget")
    procs = NodeProcesses()
    try:
        g = start_process_grid(procs, root, client_args=("--shares-needed", "2", "--shares-happy", "3",
                                                         "--shares-total", "4"))
        client, url, storage = g["client"], g["client_url"], g["storage"]
        wait_for(lambda: connected_count(url) == 3, 60,
                 what="the client connected to 3 storage servers")
        yield {"client": client, "url": url, "storage": storage, "root": root}
    finally:
        stop_process_grid(procs)


def tahoe(grid, *args, input=None, check=True):
    """``tahoe -d CLIENT ARGS`` as a process; binary stdin/stdout."""
    proc = subprocess.run(TAHOE + ["-d", grid["client"]] + [str(a) for a in args],
                          input=input, capture_output=True, timeout=120,
                          stdin=None if input is not None else subprocess.DEVNULL, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("tahoe %s failed (%d): %s" % (args, proc.returncode,
                                                          proc.stderr.decode()))
    return proc


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "big.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    return path


@pytest.mark.integration
def test_put_file_then_get_to_file_and_stdout(grid, big_file, tmp_path):
    proc = tahoe(grid, "put", big_file)
    cap = proc.stdout.decode().strip()
    assert cap.startswith("URI:CHK:") and cap.endswith(":2:4:%d" % big_file.stat().st_size)
    assert proc.stderr == b""  # no progress bar when stderr is not a terminal
    out = tmp_path / "out.bin"
    proc = tahoe(grid, "get", cap, out)
    assert out.read_bytes() == big_file.read_bytes()
    assert "retrieved and written to" in proc.stderr.decode()
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # no temporary left over
    proc = tahoe(grid, "get", cap)
    assert proc.stdout == big_file.read_bytes() and proc.stderr == b""
    proc = tahoe(grid, "get", cap, "-")
    assert proc.stdout == big_file.read_bytes()


@pytest.mark.integration
def test_put_from_stdin(grid, big_file):
    data = b"from a pipe\n" * 50000
    for args in (("put",), ("put", "-")):
        proc = tahoe(grid, *args, input=data)
        cap = proc.stdout.decode().strip()
        assert cap.startswith("URI:CHK:") and cap.endswith(":%d" % len(data))
        assert tahoe(grid, "get", cap).stdout == data
    # stdin redirected from a regular file (sent with its Content-Length)
    with open(big_file, "rb") as f:
        proc = subprocess.run(TAHOE + ["-d", grid["client"], "put"], stdin=f,
                              capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0
    assert tahoe(grid, "get", proc.stdout.decode().strip()).stdout == big_file.read_bytes()


@pytest.mark.integration
def test_small_files_are_literal(grid):
    cap = tahoe(grid, "put", input=b"hello").stdout.decode().strip()
    assert cap == "URI:LIT:nbswy3dp"
    assert tahoe(grid, "get", cap).stdout == b"hello"
    assert tahoe(grid, "put", input=b"").stdout.decode().strip() == "URI:LIT:"


@pytest.mark.integration
def test_node_url_option(grid, tmp_path):
    src = tmp_path / "a.txt"
    src.write_bytes(b"via --node-url " * 10)
    proc = subprocess.run(TAHOE + ["-d", str(tmp_path / "nowhere"), "put", "-u", grid["url"],
                                   str(src)], capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0
    cap = proc.stdout.decode().strip()
    proc = subprocess.run(TAHOE + ["-d", str(tmp_path / "nowhere"), "get", "--node-url",
                                   grid["url"].rstrip("/"), cap], capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout == src.read_bytes()


@pytest.mark.integration
@pytest.mark.parametrize("args,prefix", [(("--format=SDMF",), "URI:SSK:"),
                                         (("--format", "mdmf"), "URI:MDMF:"),
                                         (("-m",), "URI:SSK:"), (("--mutable",), "URI:SSK:")])
def test_mutable_put_then_get(grid, args, prefix, tmp_path):
    src = tmp_path / "m.txt"
    src.write_bytes(b"mutable please")
    proc = tahoe(grid, "put", *args, src)
    cap = proc.stdout.decode().strip()
    assert cap.startswith(prefix)
    assert tahoe(grid, "get", cap).stdout == b"mutable please"


@pytest.mark.integration
def test_usage_errors(grid, tmp_path):
    proc = tahoe(grid, "put", tmp_path / "missing.txt", check=False)
    assert proc.returncode == 1 and "cannot read" in proc.stderr.decode()
    src = tmp_path / "x.txt"
    src.write_bytes(b"x")
    proc = tahoe(grid, "put", src, "tahoe:dir/x.txt", check=False)  # no tahoe: alias here
    assert proc.returncode == 1 and "Unknown alias" in proc.stderr.decode()
    proc = tahoe(grid, "put", "--format=FOO", src, check=False)
    assert proc.returncode == 1 and "--format must be CHK, SDMF or MDMF" in proc.stderr.decode()
    proc = tahoe(grid, "get", "tahoe:some/file", check=False)
    assert proc.returncode == 1 and "Unknown alias 'tahoe'" in proc.stderr.decode()


@pytest.mark.integration
def test_get_errors_show_the_nodes_message(grid, tmp_path):
    proc = tahoe(grid, "get", "URI:CHK:abc", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "400 Bad Request" in err and "Invalid cap" in err
    cap = tahoe(grid, "put", input=b"present " * 1000).stdout.decode().strip()
    parts = cap.split(":")
    parts[2] = base32.b2a(os.urandom(16)).decode()
    out = tmp_path / "never.bin"
    proc = tahoe(grid, "get", ":".join(parts), out, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "410 Gone" in err and "NoSharesError" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    # a failed download leaves an existing file alone
    out.write_bytes(b"old")
    assert tahoe(grid, "get", ":".join(parts), out, check=False).returncode == 1
    assert out.read_bytes() == b"old"
    proc = tahoe(grid, "get", cap + "/child", check=False)
    assert proc.returncode == 1 and "Files have no children" in proc.stderr.decode()


def test_no_node(tmp_path, capsys):
    nodedir = tmp_path / "node"
    nodedir.mkdir()
    assert main(["-d", str(nodedir), "put", "-"]) == 1
    err = capsys.readouterr().err
    assert "node.url does not exist" in err and "--node-url" in err
    port = free_port()  # nothing listens there
    (nodedir / "node.url").write_text("http://127.0.0.1:%d/\n" % port)
    assert main(["-d", str(nodedir), "get", "URI:LIT:nbswy3dp"]) == 1
    err = capsys.readouterr().err
    assert "cannot talk to the node's web API at http://127.0.0.1:%d" % port in err
    assert "Is the node running?" in err
    assert main(["-d", str(nodedir), "get", "-u", "ftp://x/", "URI:LIT:"]) == 1
    assert "not an http:// URL" in capsys.readouterr().err


def test_cap_paths():
    assert cap_url_path("URI:CHK:a:b:2:4:10") == "uri/URI%3ACHK%3Aa%3Ab%3A2%3A4%3A10"
    assert cap_url_path("URI:DIR2:a:b", "sub dir/f#1") == "uri/URI%3ADIR2%3Aa%3Ab/sub%20dir/f%231"
    assert split_remote("URI:DIR2:a:b/x/y") == ("URI:DIR2:a:b", "x/y")
    assert split_remote("imm.URI:CHK:a") == ("imm.URI:CHK:a", "")
    with pytest.raises(UsageError):
        split_remote("alias:path")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal_for_big_transfers():
    assert isinstance(progress_bar(10 * 2**20, "x", io.StringIO()), _NoProgress)
    assert isinstance(progress_bar(2**20, "x", Terminal()), _NoProgress)
    term = Terminal()
    bar = progress_bar(10 * 2**20, "uploading", term)
    assert not isinstance(bar, _NoProgress)
    bar.delay = 0  # draw now rather than after a second
    bar.update(5 * 2**20)
    bar.refresh()
    bar.close()
    assert "uploading" in term.getvalue() and "5.00M" in term.getvalue()
    unknown = progress_bar(None, "downloading", Terminal())
    assert not isinstance(unknown, _NoProgress)
    unknown.close()


def run_with_terminal_stderr(args):
    """Run a command whose stderr is a pseudo-terminal (100 columns);
    ``(returncode, stdout, what the terminal received)``."""
    import fcntl
    import pty
    import struct
    import termios
    import threading
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    received = []

    def read_terminal():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            received.append(data)

    reader = threading.Thread(target=read_terminal)
    reader.start()
    try:
        proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                              timeout=120, check=False)
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    return proc.returncode, proc.stdout, b"".join(received).decode("utf-8", "replace")


@pytest.mark.integration
def test_progress_bar_on_a_terminal(grid, big_file):
    code, out, terminal = run_with_terminal_stderr(TAHOE + ["-d", grid["client"], "put",
                                                            str(big_file)])
    assert code == 0 and out.decode().startswith("URI:CHK:")
    assert "uploading" in terminal and "the node is storing the shares" in terminal
    assert "3.00M/3.00M" in terminal
