"""``tahoe check``, ``deep-check``, ``manifest`` and ``stats`` against a
client node's web API, on a grid of real node processes, compared with the
real Tahoe-LAFS 1.20 ``tahoe`` command run on the same node directory.

Every test runs twice, against the ``web`` fixture:

* ``tahoe-1.20``: a Tahoe-LAFS 1.20 client on three Tahoe-LAFS 1.20 storage
  nodes -- the reference web API, which shows that our commands read it
  right and print what Tahoe-LAFS prints;
* ``ours``: our client node on three of our storage nodes.

Our CLI runs in-process (``runner.main`` with its standard streams
replaced); the reference CLI runs as a process.  Both read the same node
directory (``node.url``, ``private/aliases``).  Where the node visits a
tree in an order that may change from one traversal to the next, lines are
compared as multisets.  Share files are deleted from the storage nodes'
directories to make files unhealthy.
"""

import json
import os

import pytest

from allmydata import uri
from allmydata.test.scripts.cli_output import json_documents, normalized
from allmydata.test.scripts.cli_runner import CLI, TOTAL, WEB_KINDS, web_node
from allmydata.util import base32


@pytest.fixture(scope="module", params=WEB_KINDS)
def web(request, tmp_path_factory):
    with web_node(request.param, str(tmp_path_factory.mktemp("check-cli-" + request.param))) as w:
        yield w


@pytest.fixture
def cli(web, tmp_path):
    c = CLI(web, tmp_path / "node")
    c.ok("create-alias", "tahoe")
    return c


ODD_NAME = "it's caf\u00e9"
FILES = {  # path: (put options, contents)
    "lit.txt": ((), b"tiny"),
    "dir/chk.bin": ((), bytes(range(256)) * 20),
    "dir/" + ODD_NAME: ((), b"odd name\n" * 100),
    "dir/sdmf.txt": (("--format=SDMF",), b"sdmf contents\n" * 40),
    "mdmf.txt": (("--format=MDMF",), b"mdmf contents\n" * 300),
}
PATHS = ["", "dir", "dir/empty", *sorted(FILES)]


def quoted(name):
    """How the commands show a name: double-quoted when it holds a ``'``."""
    return '"%s"' % name if "'" in name else name


def make_tree(cli, root="tahoe:"):
    cli.ok("mkdir", root + "dir")
    cli.ok("mkdir", root + "dir/empty")
    for path, (options, data) in FILES.items():
        cli.ok("put", *options, "-", root + path, stdin=data)


def assert_same(ours, ref, what, sort=False):
    """Our result equals the reference's (exit code and stdout)."""
    a, b = ours.out, ref.out
    if sort:
        a, b = sorted(a.splitlines()), sorted(b.splitlines())
    assert (ours.rc, a) == (ref.rc, b), (
        "%s: ours (exit %s) and Tahoe-LAFS 1.20's (exit %s) differ\n--- ours:\n%s%s\n"
        "--- Tahoe-LAFS 1.20:\n%s%s" % (what, ours.rc, ref.rc, ours.out, ours.err, ref.out,
                                        ref.err))


# --- check -------------------------------------------------------------------

@pytest.mark.parametrize("options", [(), ("--verify",), ("--raw",), ("--add-lease",),
                                     ("--verify", "--repair", "--add-lease")])
def test_check_every_kind(cli, options):
    make_tree(cli)
    paths = ["tahoe:" + p for p in PATHS]
    if "--repair" in options:
        # Tahoe-LAFS 1.20's CLI fails on a LIT file with --repair (see below)
        paths.remove("tahoe:lit.txt")
    ours, ref = cli.both("check", *options, *paths)
    assert ours.rc == 0
    if "--raw" in options:
        # the node's JSON, one document per path; the node lists servers in
        # no fixed order
        answers = json_documents(ours.out)
        assert len(answers) == len(paths)
        assert normalized(answers) == normalized(json_documents(ref.out))
    else:
        assert_same(ours, ref, "check %s" % " ".join(options))
        assert ours.out.count("Summary: ") == len(paths)
        if "--repair" not in options:
            assert "Summary: Healthy (LIT)\n storage index: \n" in ours.out


def test_check_lit_with_repair(cli):
    make_tree(cli)
    ours = cli.ok("check", "--repair", "lit.txt")
    assert ours.out == "Summary: healthy\n storage index: \n"


def test_check_defaults_to_the_root_and_takes_caps(cli):
    make_tree(cli)
    root = cli.ok("check").out
    assert_same(cli.run("check"), cli.reference("check"), "check")
    dircap = json.loads(cli.ok("ls", "--json", "tahoe:").out)[1]["rw_uri"]
    assert cli.ok("check", dircap).out == root
    assert cli.ok("check", "-u", cli.web.url, dircap + "/dir/chk.bin").out == \
        cli.ok("check", "dir/chk.bin").out


def test_check_errors(cli):
    make_tree(cli)
    for args in (("check", "nosuch:x"), ("check", "tahoe:missing"),
                 ("check", "lit.txt", "tahoe:missing", "dir"),
                 ("deep-check", "tahoe:missing"), ("manifest", "nosuch:"),
                 ("stats", "tahoe:missing")):
        ours, ref = cli.both(*args)
        assert ours.rc == ref.rc == 1, (args, ours, ref)
        assert ours.out == ref.out, (args, ours, ref)
        assert ours.err


# --- deep-check ----------------------------------------------------------------

def done_block(out):
    return out[out.index("done: "):]


@pytest.mark.parametrize("options", [(), ("-v",), ("--verify", "-v"), ("--add-lease",),
                                     ("--raw",), ("--repair", "-v"),
                                     ("--repair", "--verify", "--add-lease", "--verbose")])
def test_deep_check(cli, options):
    make_tree(cli)
    ours, ref = cli.both("deep-check", *options)
    assert ours.rc == 0
    objects = len(PATHS)
    if "--raw" in options:
        # the node's lines: one per object, then the stats
        lines = [json.loads(line) for line in ours.out.splitlines()]
        assert len(lines) == objects + 1 and lines[-1]["type"] == "stats"
        assert normalized(lines) == normalized([json.loads(line)
                                                for line in ref.out.splitlines()])
        return
    assert_same(ours, ref, "deep-check %s" % " ".join(options), sort=True)
    assert done_block(ours.out) == done_block(ref.out)
    if "--repair" in options:
        assert done_block(ours.out) == ("done: %d objects checked\n"
                                        " pre-repair: %d healthy, 0 unhealthy\n"
                                        " 0 repairs attempted, 0 successful, 0 failed\n"
                                        " post-repair: %d healthy, 0 unhealthy\n"
                                        % (objects, objects, objects))
    else:
        assert done_block(ours.out) == ("done: %d objects checked, %d healthy, 0 unhealthy\n"
                                        % (objects, objects))
    if "-v" in options or "--verbose" in options:
        assert "'<root>': " in ours.out
        assert '"dir/%s": ' % ODD_NAME in ours.out  # a name with ' is double-quoted


def test_deep_check_several_locations(cli):
    make_tree(cli)
    ours, ref = cli.both("deep-check", "-v", "tahoe:dir", "tahoe:dir/empty")
    assert_same(ours, ref, "deep-check of two directories", sort=True)
    assert ours.out.count("done: ") == 2


# --- manifest and stats ----------------------------------------------------------

@pytest.mark.parametrize("options", [(), ("--storage-index",), ("--verify-cap",),
                                     ("--repair-cap",), ("--raw",), ("-s", "-r")])
def test_manifest(cli, options):
    make_tree(cli)
    ours, ref = cli.both("manifest", *options)
    assert_same(ours, ref, "manifest %s" % " ".join(options), sort=True)
    lines = ours.out.splitlines()
    if "--raw" in options or "-r" in options:
        assert [json.loads(line)["type"] for line in lines].count("stats") == 1
    elif options:
        # the LIT file and the empty LIT directory have no storage index
        # (Tahoe-LAFS 1.20's mkdir makes a mutable directory: it has one)
        assert len(lines) in (len(PATHS) - 1, len(PATHS) - 2)
    else:
        caps = {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in lines}
        assert set(caps) == {quoted(p) for p in PATHS}
        assert caps["lit.txt"].startswith("URI:LIT:")


def test_manifest_of_a_subdirectory_by_cap(cli):
    make_tree(cli)
    dircap = json.loads(cli.ok("ls", "--json", "dir").out)[1]["rw_uri"]
    ours, ref = cli.both("manifest", dircap)
    assert_same(ours, ref, "manifest DIRCAP", sort=True)
    assert sorted(line.split(" ", 1)[1] for line in ours.out.splitlines()) == \
        sorted(["", "empty", quoted(ODD_NAME), "chk.bin", "sdmf.txt"])


def test_stats(cli):
    make_tree(cli)
    ours, ref = cli.both("stats")
    assert_same(ours, ref, "stats")
    assert "count-files: 5\n" in ours.out and "Size Histogram:\n" in ours.out
    ours, ref = cli.both("stats", "--raw")
    assert_same(ours, ref, "stats --raw")
    assert ours.out.endswith("}\n")
    data = json.loads(ours.out)
    assert data["finished"] is True
    assert (data["count-files"], data["count-directories"]) == (5, 3)


# --- unhealthy files: check says so, repair heals --------------------------------

def storage_index(cli, path):
    kind, details = json.loads(cli.ok("ls", "--json", path).out)
    return base32.b2a(uri.from_string(details["ro_uri"]).get_storage_index()).decode()


def delete_shares(web, si, shnums):
    """Delete these share numbers of ``si`` from every storage node; how many went."""
    return sum(len(node.delete_shares(si, shnums)) for node in web.nodes)


def without_sis(text, *sis):
    for si in sis:
        text = text.replace(si, "<SI>")
    return text


def test_unhealthy_files_checked_and_repaired(cli):
    """Two trees of the same shape lose the same shares; ours checks and
    repairs one, Tahoe-LAFS 1.20's CLI the other: the same output apart from
    the storage indexes, and both trees are healthy afterwards."""
    sis = {}
    for tree in ("a", "b"):
        cli.ok("mkdir", "tahoe:%s" % tree)
        cli.ok("put", "-", "tahoe:%s/chk" % tree, stdin=os.urandom(5000))
        cli.ok("put", "--format=SDMF", "-", "tahoe:%s/sdmf" % tree, stdin=os.urandom(3000))
        for name in ("chk", "sdmf"):
            si = sis[tree, name] = storage_index(cli, "tahoe:%s/%s" % (tree, name))
            assert delete_shares(cli.web, si, {0, 1}) == 2
    everything = list(sis.values())

    ours, ref = cli.run("check", "a/chk", "a/sdmf"), cli.reference("check", "b/chk", "b/sdmf")
    assert ours.rc == ref.rc == 0
    assert without_sis(ours.out, *everything) == without_sis(ref.out, *everything)
    assert ours.out.count("good-shares: 3 (encoding is 2-of-5)") == 2
    assert "Summary: Healthy" not in ours.out

    ours = cli.run("deep-check", "-v", "a")
    ref = cli.reference("deep-check", "-v", "b")
    assert sorted(without_sis(ours.out, *everything).splitlines()) == \
        sorted(without_sis(ref.out, *everything).splitlines())
    assert done_block(ours.out) == "done: 3 objects checked, 1 healthy, 2 unhealthy\n"

    ours = cli.run("check", "--repair", "a/chk")
    ref = cli.reference("check", "--repair", "b/chk")
    assert without_sis(ours.out, *everything) == without_sis(ref.out, *everything)
    assert ours.out.endswith(" good-shares: 3 (encoding is 2-of-5)\n wrong-shares: 0\n"
                             " repair successful\n"), ours.out

    ours = cli.run("deep-check", "--repair", "--add-lease", "-v", "a")
    ref = cli.reference("deep-check", "--repair", "--add-lease", "-v", "b")
    assert sorted(without_sis(ours.out, *everything).splitlines()) == \
        sorted(without_sis(ref.out, *everything).splitlines())
    assert done_block(ours.out) == ("done: 3 objects checked\n"
                                    " pre-repair: 2 healthy, 1 unhealthy\n"
                                    " 1 repairs attempted, 1 successful, 0 failed\n"
                                    " post-repair: 3 healthy, 0 unhealthy\n")

    for tree in ("a", "b"):
        out = cli.ok("deep-check", tree).out
        assert out == "done: 3 objects checked, 3 healthy, 0 unhealthy\n", (tree, out)
        out = cli.ok("check", "%s/chk" % tree, "%s/sdmf" % tree).out
        assert out.count(" good-shares: 5 (encoding is 2-of-5)\n") == 2, (tree, out)


def test_deep_operations_stop_at_an_unrecoverable_directory(cli):
    """A directory whose shares are all gone cannot be listed: the node
    ends the stream with an ``ERROR:`` line, which goes to stderr, and the
    commands exit with 1 without totals."""
    cli.ok("mkdir", "tahoe:broken")
    cli.ok("mkdir", "tahoe:broken/lost")
    cli.ok("put", "-", "tahoe:broken/lost/file", stdin=os.urandom(3000))
    cli.ok("put", "-", "tahoe:broken/fine", stdin=os.urandom(3000))
    delete_shares(cli.web, storage_index(cli, "tahoe:broken/lost"), set(range(TOTAL)))
    for args in (("deep-check", "-v", "tahoe:broken"), ("manifest", "tahoe:broken")):
        ours, ref = cli.both(*args)
        assert_same(ours, ref, " ".join(args), sort=True)
        assert ours.rc == 1
        assert ours.err.startswith("ERROR: "), ours.err
        assert "done:" not in ours.out
