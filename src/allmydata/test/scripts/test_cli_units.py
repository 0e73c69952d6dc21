"""The parts of the file-store CLI that need no node: the alias table,
``alias:path`` resolution, the ``ls`` columns, the URL ``webopen`` opens, and
the errors given before any request is made."""

import io
import json
import os
import subprocess
import sys
import time

import pytest

from allmydata.scripts import cli_paths, tahoe_ls, tahoe_webopen
from allmydata.scripts.common import UsageError
from allmydata.scripts.common_http import error_text
from allmydata.scripts.runner import build_parser, main
from allmydata.testing.processes import TAHOE

DIRCAP = "URI:DIR2:k7q6l5fdkxc4gsr34b5xq4txai:k3rmoauvwyi4tj2lvv3rkkkpbboggbkk55y2poev2akq4pitluqa"
RO_DIRCAP = "URI:DIR2-RO:ljzhtvoz2kq4wpw22jwqn6bfbe:k3rmoauvwyi4tj2lvv3rkkkpbboggbkk55y2poev2akq4pitluqa"
DIRCAP2 = "URI:DIR2-MDMF:ggrwxatvewfzomohutt3l2oq4u:2w5czuic4wheilsorvnkhrxwrkn2rdhowd3ly3mlm3ylifdxjscq"
ESCAPED = DIRCAP.replace(":", "%3A")


@pytest.fixture
def nodedir(tmp_path):
    d = tmp_path / "node"
    (d / "private").mkdir(parents=True)
    (d / "node.url").write_text("http://127.0.0.1:3456/\n")
    return d


def run(nodedir, *args):
    """``tahoe -d NODEDIR ARGS`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        try:
            rc = main(["-d", str(nodedir)] + [str(a) for a in args])
        except SystemExit as e:
            rc = e.code
    finally:
        sys.stdout, sys.stderr = old
    return rc, out.getvalue(), err.getvalue()


def test_aliases_file_and_root_dir_cap(nodedir):
    assert cli_paths.read_aliases(str(nodedir)) == {}
    (nodedir / "private" / "root_dir.cap").write_text(RO_DIRCAP + "\n")
    assert cli_paths.read_aliases(str(nodedir)) == {"tahoe": RO_DIRCAP}
    (nodedir / "private" / "aliases").write_text("# mine\n\ntahoe: %s\nwork:%s" % (DIRCAP, DIRCAP2))
    assert cli_paths.read_aliases(str(nodedir)) == {"tahoe": DIRCAP, "work": DIRCAP2}
    cli_paths.add_alias(str(nodedir), "more:", DIRCAP)  # the file lacked its last newline
    assert (nodedir / "private" / "aliases").read_text().endswith(
        "work:%s\nmore: %s\n" % (DIRCAP2, DIRCAP))
    with pytest.raises(cli_paths.AliasError, match="Alias 'work' already exists!"):
        cli_paths.add_alias(str(nodedir), "work", DIRCAP)
    with pytest.raises(cli_paths.AliasError, match="cannot contain colons"):
        cli_paths.add_alias(str(nodedir), "a:b", DIRCAP)
    (nodedir / "private" / "aliases").write_text("no colon here\n")
    with pytest.raises(UsageError, match="line 1 is not 'name: cap'"):
        cli_paths.read_aliases(str(nodedir))


def test_resolve():
    aliases = {"tahoe": DIRCAP, "work": DIRCAP2}
    r = cli_paths.resolve("work:a/b c/d.txt", aliases)
    assert (r.root, r.segments, r.name, r.trailing_slash) == (DIRCAP2, ("a", "b c", "d.txt"),
                                                              "d.txt", False)
    assert r.url("http://n/", "t=json") == ("http://n/uri/%s/a/b%%20c/d.txt?t=json"
                                            % DIRCAP2.replace(":", "%3A"))
    r = cli_paths.resolve("sub/dir/", aliases)
    assert (r.root, r.segments, r.trailing_slash) == (DIRCAP, ("sub", "dir"), True)
    r = cli_paths.resolve("tahoe:", aliases)
    assert (r.root, r.segments, r.name) == (DIRCAP, (), None)
    r = cli_paths.resolve(DIRCAP + "/x/y#1", aliases)
    assert (r.root, r.segments) == (DIRCAP, ("x", "y#1"))
    assert r.url("http://n/") == "http://n/uri/%s/x/y%%231" % ESCAPED
    r = cli_paths.resolve("./a:b", aliases)  # a slash before the colon: a path, not an alias
    assert (r.root, r.segments) == (DIRCAP, (".", "a:b"))
    with pytest.raises(cli_paths.UnknownAliasError, match="Unknown alias 'nope'"):
        cli_paths.resolve("nope:x", aliases)
    with pytest.raises(cli_paths.UnknownAliasError, match="default 'tahoe' alias doesn't exist"):
        cli_paths.resolve("x", {"work": DIRCAP2})
    assert cli_paths.is_remote("work:x") and cli_paths.is_remote(DIRCAP)
    assert not cli_paths.is_remote("./work:x") and not cli_paths.is_remote("/tmp/a")
    assert not cli_paths.is_remote("plain.txt")


def test_dir_cap_option_is_the_tahoe_alias(nodedir):
    options = build_parser().parse_args(["-d", str(nodedir), "webopen", "--dir-cap", DIRCAP2,
                                         "x/y"])
    assert tahoe_webopen.webopen_url(options) == "http://127.0.0.1:3456/uri/%s/x/y" % (
        DIRCAP2.replace(":", "%3A"))


def test_webopen_urls(nodedir):
    (nodedir / "private" / "aliases").write_text("tahoe: %s\n" % DIRCAP)
    opened = []

    def open_with(*args):
        options = build_parser().parse_args(["-d", str(nodedir), "webopen"] + list(args))
        assert tahoe_webopen.webopen(options, opener=opened.append) == 0
        return opened.pop()

    base = "http://127.0.0.1:3456/"
    assert open_with() == base
    assert open_with("tahoe:") == base + "uri/" + ESCAPED
    assert open_with("tahoe:d1/two.txt") == base + "uri/" + ESCAPED + "/d1/two.txt"
    assert open_with("-i", "tahoe:d1") == base + "uri/" + ESCAPED + "/d1?t=info"
    assert open_with("--info", "tahoe:") == base + "uri/" + ESCAPED + "?t=info"
    assert open_with("d1") == base + "uri/" + ESCAPED + "/d1"
    assert open_with("URI:LIT:nbswy3dpbi") == base + "uri/URI%3ALIT%3Anbswy3dpbi"
    assert open_with("tahoe:a b/c#d") == base + "uri/" + ESCAPED + "/a%20b/c%23d"
    assert open_with("-u", "http://127.0.0.1:9/", "tahoe:x") == (
        "http://127.0.0.1:9/uri/" + ESCAPED + "/x")
    rc, out, err = run(nodedir, "webopen", "nope:x")
    assert rc == 1 and "Unknown alias 'nope'" in err


def test_webopen_starts_the_browser_named_by_BROWSER(nodedir, tmp_path):
    """The whole command in a process of its own, with $BROWSER a script
    that records the URL it is given."""
    (nodedir / "private" / "aliases").write_text("tahoe: %s\n" % DIRCAP)
    record = tmp_path / "opened.txt"
    browser = tmp_path / "browser.py"
    browser.write_text("import sys\nopen(%r, 'a').write(sys.argv[1] + '\\n')\n" % str(record))
    env = dict(os.environ, BROWSER="%s %s %%s" % (sys.executable, browser))
    env.pop("DISPLAY", None)
    proc = subprocess.run(TAHOE + ["-d", str(nodedir), "webopen", "-i", "tahoe:f.txt"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert record.read_text() == "http://127.0.0.1:3456/uri/%s/f.txt?t=info\n" % ESCAPED


def test_alias_commands_without_a_node(nodedir):
    rc, out, err = run(nodedir, "add-alias", "work:", DIRCAP2)
    assert (rc, out) == (0, "Alias 'work' added\n")
    rc, out, err = run(nodedir, "add-alias", "tahoe", DIRCAP)
    assert rc == 0
    rc, out, err = run(nodedir, "add-alias", "work", DIRCAP)
    assert rc == 1 and "Alias 'work' already exists!" in err
    rc, out, err = run(nodedir, "add-alias", "lit", "URI:LIT:nbswy3dpbi")
    assert rc == 1 and "is not a directory cap" in err
    rc, out, err = run(nodedir, "add-alias", "bad", "URI:DIR2:not-base32")
    assert rc == 1 and "is not a valid cap" in err
    rc, out, err = run(nodedir, "add-alias", "x:y", DIRCAP)
    assert rc == 1 and "Alias names cannot contain colons." in err
    rc, out, err = run(nodedir, "list-aliases")
    assert (rc, out) == (0, "  tahoe: %s\n   work: %s\n" % (DIRCAP, DIRCAP2))
    rc, out, err = run(nodedir, "list-aliases", "--readonly-uri")
    ro2 = "URI:DIR2-MDMF-RO:y2qb4tb5tl3ih736l2toxuq4we:2w5czuic4wheilsorvnkhrxwrkn2rdhowd3ly3mlm3ylifdxjscq"
    assert out == "  tahoe: %s\n   work: %s\n" % (RO_DIRCAP, ro2)
    rc, out, err = run(nodedir, "list-aliases", "--json")
    assert json.loads(out) == {"tahoe": {"readwrite": DIRCAP, "readonly": RO_DIRCAP},
                               "work": {"readwrite": DIRCAP2, "readonly": ro2}}
    assert (nodedir / "private" / "aliases").read_text() == "work: %s\ntahoe: %s\n" % (DIRCAP2,
                                                                                     DIRCAP)


def test_usage_errors_before_any_request(nodedir):
    # no tahoe: alias
    for args in (["ls"], ["get", "f.txt"], ["mkdir", "d"], ["unlink", "f"], ["mv", "a", "b"]):
        rc, out, err = run(nodedir, *args)
        assert rc == 1 and "the default 'tahoe' alias doesn't exist" in err, (args, err)
    rc, out, err = run(nodedir, "cp", "nope:x", "/tmp/")
    assert rc == 1 and "Unknown alias 'nope'" in err
    (nodedir / "private" / "aliases").write_text("tahoe: %s\n" % DIRCAP)
    rc, out, err = run(nodedir, "unlink", "tahoe:")
    assert rc == 1 and "a path must be given" in err
    rc, out, err = run(nodedir, "rm", DIRCAP)
    assert rc == 1 and "'tahoe rm' can only unlink directory entries" in err
    rc, out, err = run(nodedir, "mkdir", "--format=CHK", "tahoe:d")
    assert rc == 1 and "must be SDMF or MDMF" in err
    rc, out, err = run(nodedir, "mv", "tahoe:", "tahoe:x")
    assert rc == 1 and "not an entry of a directory" in err
    rc, out, err = run(nodedir, "put", "--private-key-path", str(nodedir / "none.pem"), "-m", "-")
    assert rc == 1 and "cannot read the private key" in err
    (nodedir / "bad.pem").write_text("not a key")
    rc, out, err = run(nodedir, "put", "--private-key-path", str(nodedir / "bad.pem"), "-m", "-")
    assert rc == 1 and "PEM" in err


def opts(*flags):
    return build_parser().parse_args(["ls"] + list(flags))


NOW = time.mktime((2026, 11, 25, 16, 30, 0, 0, 0, -1))
LISTING = ["dirnode", {"rw_uri": DIRCAP, "ro_uri": RO_DIRCAP, "mutable": True, "children": {
    "sub": ["dirnode", {"rw_uri": DIRCAP2, "ro_uri": "URI:DIR2-MDMF-RO:x", "mutable": True,
                        "metadata": {"tahoe": {"linkmotime": NOW - 60}}}],
    "big.bin": ["filenode", {"ro_uri": "URI:CHK:a", "size": 100000, "mutable": False,
                             "format": "CHK", "metadata": {"tahoe": {"linkmotime": NOW - 120}}}],
    "m.txt": ["filenode", {"rw_uri": "URI:SSK:w", "ro_uri": "URI:SSK-RO:r", "mutable": True,
                           "format": "SDMF", "metadata": {"mtime": NOW - 400 * 86400}}],
    "old": ["filenode", {"ro_uri": "URI:LIT:x", "size": 3, "mutable": False}],
    "future": ["unknown", {"ro_uri": "ro.URI:NEW:x"}],
}}]


def test_ls_columns():
    lines, unknown = tahoe_ls.listing(LISTING, "", opts(), NOW)
    assert lines == ["big.bin", "future", "m.txt", "old", "sub"] and unknown
    lines, _ = tahoe_ls.listing(LISTING, "", opts("-F"), NOW)
    assert lines == ["big.bin", "future", "m.txt*", "old", "sub/"]
    lines, _ = tahoe_ls.listing(LISTING, "", opts("-l"), NOW)
    assert lines == [
        "-r-- 100000 Nov 25 16:28 big.bin",
        "?---      ? -  future",
        "-rw-      ? Oct 21  2025   m.txt",
        "-r--      3 -     old",
        "drwx      - Nov 25 16:29     sub",
    ]
    lines, _ = tahoe_ls.listing(LISTING, "", opts("--uri", "-F"), NOW)
    assert lines[0] == "big.bin URI:CHK:a" and lines[2] == " m.txt* URI:SSK:w"
    lines, _ = tahoe_ls.listing(LISTING, "", opts("--readonly-uri"), NOW)
    assert lines[2] == "  m.txt URI:SSK-RO:r" and lines[4] == "    sub URI:DIR2-MDMF-RO:x"
    one = ["filenode", {"ro_uri": "URI:LIT:x", "size": 3, "mutable": False, "format": "CHK"}]
    assert tahoe_ls.listing(one, "", opts("-l"), NOW) == (["-r-- 3 -"], False)
    assert tahoe_ls.listing(one, "f.txt", opts(), NOW) == (["f.txt"], False)


def test_ls_time_format():
    assert tahoe_ls.format_time(None) == "-"
    assert tahoe_ls.format_time(NOW - 3600, NOW) == "Nov 25 15:30"
    assert tahoe_ls.format_time(NOW - 200 * 86400, NOW).endswith("  2026")
    assert tahoe_ls.format_time(NOW + 86400, NOW) == "Nov 26  2026"  # future: the year


def test_html_error_pages_become_text():
    page = (b"\n<html>\n  <head><title>404 - Error</title></head>\n  <body>\n    <h1>Error</h1>\n"
            b"    <p>No such child: moved.txt</p>\n  </body>\n</html>\n")
    assert error_text(page) == "Error\nNo such child: moved.txt"
    assert error_text(b"Invalid cap\n") == "Invalid cap"


def test_every_command_is_registered():
    parser = build_parser()
    for argv in (["ls"], ["mkdir"], ["cp", "a", "b"], ["mv", "a", "b"], ["ln", "a", "b"],
                 ["unlink", "a"], ["rm", "a"], ["put"], ["get", "a"], ["create-alias", "a"],
                 ["add-alias", "a", "b"], ["list-aliases"], ["webopen"]):
        assert callable(parser.parse_args(argv).func), argv
