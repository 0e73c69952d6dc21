"""The ``tahoe`` command line against a grid of real node processes.

One module-scoped :class:`~allmydata.testing.procweb.MultiClientGrid` (introducer, three storage
nodes, a client at 2-of-3).  Every command is the installed ``tahoe``
program run as a subprocess with ``-d CLIENTDIR``: it finds the web API in
the client's ``node.url`` and the aliases in its ``private/aliases``, as
it would for a person.  The tests go round trips -- create-alias, mkdir,
put (CHK, SDMF, MDMF, stdin), ls (plain, ``-l``, ``--json``, ``--uri``,
``-F``), cp -r of a small tree to the grid and back, mv, ln, unlink, get --
and check what the commands did through the web API as well.
"""

import json
import os
import subprocess
import sys

import pytest

from allmydata.testing.processes import TAHOE
from allmydata.testing.procweb import MultiClientGrid

pytestmark = pytest.mark.integration

_TAHOE_SCRIPT = os.path.join(os.path.dirname(sys.executable), "tahoe")
TAHOE_CLI = [_TAHOE_SCRIPT] if os.path.exists(_TAHOE_SCRIPT) else TAHOE


@pytest.fixture(scope="module")
def module_grid(tmp_path_factory):
    yield from MultiClientGrid(tmp_path_factory.mktemp("cligrid"), num_storage=3, encoding=(2, 3, 3),
                           extra_clients=0).lifetime()


class CLI:
    def __init__(self, grid):
        self.grid = grid
        self.web = grid.clients[0]

    def run(self, *args, input=None):
        return subprocess.run(TAHOE_CLI + ["-d", self.grid.client] + [str(a) for a in args],
                              input=input, capture_output=True, timeout=120,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              check=False)

    def ok(self, *args, input=None) -> str:
        p = self.run(*args, input=input)
        assert p.returncode == 0, "tahoe %s failed (%d):\nstdout: %s\nstderr: %s" % (
            " ".join(map(str, args)), p.returncode, p.stdout[-2000:], p.stderr[-2000:])
        return p.stdout.decode("utf-8")

    def fails(self, *args) -> str:
        p = self.run(*args)
        assert p.returncode != 0, "tahoe %s should have failed:\n%s" % (" ".join(map(str, args)),
                                                                        p.stdout[-2000:])
        return p.stderr.decode("utf-8") + p.stdout.decode("utf-8")


@pytest.fixture
def cli(module_grid):
    module_grid.heal()
    return CLI(module_grid)


def write_tree(root, files):
    for rel, data in files.items():
        path = os.path.join(root, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def read_tree(root) -> dict:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root).replace(os.sep, "/")] = f.read()
    return out


def test_aliases_mkdir_put_ls_get(cli, tmp_path):
    out = cli.ok("create-alias", "work")
    assert "work" in out
    aliases = cli.grid.aliases()
    assert aliases["work"].startswith("URI:DIR2:"), aliases
    listed = cli.ok("list-aliases")
    assert "work:" in listed and aliases["work"] in listed
    js = json.loads(cli.ok("list-aliases", "--json"))
    assert js["work"]["readwrite"] == aliases["work"]
    assert js["work"]["readonly"].startswith("URI:DIR2-RO:")
    cli.fails("create-alias", "work")  # exists already

    # mkdir: unlinked (prints a cap), at paths, MDMF
    cap = cli.ok("mkdir").strip()
    assert cap.startswith("URI:DIR2"), cap
    cli.ok("mkdir", "work:docs")
    cli.ok("mkdir", "work:docs/deep")
    out = cli.ok("mkdir", "--format=MDMF", "work:mdir").strip()
    assert out.startswith("URI:DIR2-MDMF:"), out
    root = aliases["work"]
    assert sorted(cli.web.children(root)) == ["docs", "mdir"]

    # put: CHK from a file, from stdin, mutable SDMF and MDMF
    local = tmp_path / "a.txt"
    data = os.urandom(30000)
    local.write_bytes(data)
    chk = cli.ok("put", local, "work:docs/a.txt").strip()
    assert chk.startswith("URI:CHK:"), chk
    cli.ok("put", "-", "work:docs/deep/stdin.txt", input=b"from stdin")
    sdmf = cli.ok("put", "--mutable", local, "work:docs/m.txt").strip()
    assert sdmf.startswith("URI:SSK:"), sdmf
    mdmf = cli.ok("put", "--format=MDMF", "-", "work:docs/md.txt", input=b"mdmf one").strip()
    assert mdmf.startswith("URI:MDMF:"), mdmf
    unlinked = cli.ok("put", "--mutable", "-", input=b"unlinked").strip()
    assert unlinked.startswith("URI:SSK:") and cli.web.read(unlinked) == b"unlinked"
    # put onto a mutable file changes it in place
    again = cli.ok("put", "-", "work:docs/md.txt", input=b"mdmf two").strip()
    assert again == mdmf, (again, mdmf)
    assert cli.web.read(mdmf) == b"mdmf two"

    # ls in its forms
    assert cli.ok("ls", "work:docs").split() == ["a.txt", "deep", "m.txt", "md.txt"]
    classified = cli.ok("ls", "-F", "work:docs").split()
    assert "deep/" in classified and "a.txt" in classified
    long_lines = {line.split()[-1]: line for line in cli.ok("ls", "-l", "work:docs").splitlines()
                  if line.strip()}
    assert str(len(data)) in long_lines["a.txt"].split(), long_lines
    assert long_lines["deep"].startswith("d"), long_lines
    kind, info = json.loads(cli.ok("ls", "--json", "work:docs"))
    assert kind == "dirnode" and sorted(info["children"]) == ["a.txt", "deep", "m.txt", "md.txt"]
    assert info["children"]["a.txt"][1]["ro_uri"] == chk
    assert info["children"]["md.txt"][1]["rw_uri"] == mdmf
    uris = cli.ok("ls", "--uri", "work:docs")
    assert chk in uris and sdmf in uris
    assert cli.ok("ls", "work:").split() == ["docs", "mdir"]

    # get: to a file and to stdout, by path and by cap
    out_path = tmp_path / "got.txt"
    cli.ok("get", "work:docs/a.txt", out_path)
    assert out_path.read_bytes() == data
    p = cli.run("get", "work:docs/deep/stdin.txt")
    assert p.returncode == 0 and p.stdout == b"from stdin", p
    p = cli.run("get", sdmf)
    assert p.returncode == 0 and p.stdout == data, p.stderr
    err = cli.fails("get", "work:docs/nothing.txt")
    assert "nothing.txt" in err or "No such child" in err or "404" in err, err
    cli.fails("ls", "nosuchalias:")

    # add-alias of a read-only cap: it lists, but refuses changes
    ro = js["work"]["readonly"]
    cli.ok("add-alias", "ro", ro)
    assert cli.ok("ls", "ro:docs").split() == ["a.txt", "deep", "m.txt", "md.txt"]
    cli.fails("mkdir", "ro:newdir")
    cli.fails("put", "-", "ro:docs/x.txt")
    assert sorted(cli.web.children(root, "docs")) == ["a.txt", "deep", "m.txt", "md.txt"]


def test_cp_tree_both_ways_mv_ln_unlink(cli, tmp_path):
    cli.ok("create-alias", "cpw")
    root = cli.grid.aliases()["cpw"]
    tree = {"top.txt": os.urandom(1000),
            "empty.bin": b"",
            "sub/mid.bin": os.urandom(70000),
            "sub/lit.txt": b"small",
            "sub/deeper/leaf.dat": os.urandom(5000)}
    src = tmp_path / "src" / "tree"
    write_tree(str(src), tree)
    os.makedirs(src / "emptydir")

    # a directory is copied into the target directory under its own name
    cli.ok("cp", "-r", src, "cpw:")
    assert sorted(cli.web.children(root, "tree")) == ["empty.bin", "emptydir", "sub", "top.txt"]
    assert cli.web.read(root, "tree/sub/deeper/leaf.dat") == tree["sub/deeper/leaf.dat"]
    assert cli.web.children(root, "tree/emptydir") == {}

    dst = tmp_path / "back"
    dst.mkdir()
    cli.ok("cp", "-r", "cpw:tree", dst)
    assert read_tree(str(dst / "tree")) == tree
    assert os.path.isdir(dst / "tree" / "emptydir")

    # single files: local -> grid, grid -> local, grid -> grid
    one = tmp_path / "one.txt"
    one.write_bytes(b"one file")
    cli.ok("cp", one, "cpw:tree/one.txt")
    cli.ok("cp", "cpw:tree/one.txt", tmp_path / "one-back.txt")
    assert (tmp_path / "one-back.txt").read_bytes() == b"one file"
    cli.ok("cp", "cpw:tree/top.txt", "cpw:copy.txt")
    assert cli.web.read(root, "copy.txt") == tree["top.txt"]

    # mv within a directory and between directories
    cli.ok("mv", "cpw:tree/one.txt", "cpw:tree/renamed.txt")
    names = sorted(cli.web.children(root, "tree"))
    assert "one.txt" not in names and "renamed.txt" in names
    cli.ok("mv", "cpw:tree/renamed.txt", "cpw:tree/sub/deeper/moved.txt")
    assert cli.web.read(root, "tree/sub/deeper/moved.txt") == b"one file"
    assert "renamed.txt" not in cli.web.children(root, "tree")

    # ln: a second name for the same cap (file and directory)
    cli.ok("ln", "cpw:tree/top.txt", "cpw:linked.txt")
    top_cap = cli.web.children(root, "tree")["top.txt"][1]["ro_uri"]
    assert cli.web.children(root)["linked.txt"][1]["ro_uri"] == top_cap
    cli.ok("ln", "cpw:tree/sub", "cpw:sublink")
    cli.ok("put", "-", "cpw:sublink/via-link.txt", input=b"via link")
    assert cli.web.read(root, "tree/sub/via-link.txt") == b"via link"

    # unlink (and rm): the names go, the other links stay
    cli.ok("unlink", "cpw:tree/top.txt")
    assert "top.txt" not in cli.web.children(root, "tree")
    assert cli.web.read(root, "linked.txt") == tree["top.txt"]
    cli.ok("rm", "cpw:sublink")
    assert "sublink" not in cli.web.children(root)
    assert "via-link.txt" in cli.web.children(root, "tree/sub")
    cli.fails("unlink", "cpw:tree/top.txt")
    p = cli.run("get", "cpw:linked.txt")
    assert p.returncode == 0 and p.stdout == tree["top.txt"]
