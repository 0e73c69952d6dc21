"""The parts of ``tahoe manifest`` / ``tahoe stats`` that need no node: the
options, the line printed for each streamed object, the stats table and its
size histogram, and the polling schedule."""

import io
import itertools
import json

import pytest

from allmydata.scripts import tahoe_manifest
from allmydata.scripts.progress import ObjectCounter
from allmydata.scripts.runner import build_parser
from allmydata.scripts.streaming import LineSplitter, StreamPrinter

DIRCAP = "URI:DIR2:k7q6l5fdkxc4gsr34b5xq4txai:k3rmoauvwyi4tj2lvv3rkkkpbboggbkk55y2poev2akq4pitluqa"
FILECAP = "URI:CHK:abc:def:2:5:1000"


def parse(*argv):
    return build_parser().parse_args(list(argv))


def entry(path, kind="file", cap=FILECAP, si="si", verifycap="vc", repaircap="rc"):
    return {"path": path, "cap": cap, "type": kind, "storage-index": si,
            "verifycap": verifycap, "repaircap": repaircap}


STREAM = [entry([], "directory", DIRCAP, "rootsi", "URI:DIR2-Verifier:r", "URI:DIR2:r"),
          entry(["sub", "caf\u00e9 \u2603"], si="s1", verifycap="URI:CHK-Verifier:1",
                repaircap="URI:CHK-Verifier:1"),
          entry(["lit"], cap="URI:LIT:nbswy3dp", si="", verifycap="", repaircap=""),
          entry(["it's"], si="s2", verifycap="v2", repaircap="r2"),
          {"type": "unknown", "path": ["u"], "cap": "x-tahoe-future:1"},
          {"type": "stats", "stats": {"count-files": 3}}]


def manifest_lines(*argv):
    options = parse("manifest", *argv)
    out, err = io.StringIO(), io.StringIO()
    printer = StreamPrinter(tahoe_manifest.ManifestReport(options),
                            ObjectCounter("manifest", stream=err, out=out), "the stream")
    splitter = LineSplitter()
    data = b"".join(json.dumps(o).encode("ascii") + b"\n" for o in STREAM)
    for line in splitter.feed(data):
        printer.line(line)
    printer.finish(splitter.rest())
    assert (printer.rc, err.getvalue()) == (0, "")
    return out.getvalue()


def test_manifest_options():
    o = parse("manifest", "-s", "-r", "alias:x")
    assert o.storage_index and o.raw and o.where == "alias:x"
    o = parse("manifest", "--storage-index", "--verify-cap", "--repair-cap", "--raw")
    assert (o.storage_index, o.verify_cap, o.repair_cap, o.raw, o.where) == (True,) * 4 + ("",)
    assert parse("stats", "-r").raw and parse("stats").where == ""


def test_manifest_caps_and_paths():
    # the root's path is empty: its line ends with a space
    assert manifest_lines() == ("%s \n%s sub/caf\u00e9 \u2603\nURI:LIT:nbswy3dp lit\n"
                                '%s "it\'s"\n' % (DIRCAP, FILECAP, FILECAP))


@pytest.mark.parametrize("option, expected", [
    ("--storage-index", "rootsi\ns1\ns2\n"),
    ("-s", "rootsi\ns1\ns2\n"),
    ("--verify-cap", "URI:DIR2-Verifier:r\nURI:CHK-Verifier:1\nv2\n"),
    ("--repair-cap", "URI:DIR2:r\nURI:CHK-Verifier:1\nr2\n"),
])
def test_manifest_one_column(option, expected):
    assert manifest_lines(option) == expected


def test_manifest_storage_index_wins_over_the_caps():
    assert manifest_lines("--verify-cap", "-s") == "rootsi\ns1\ns2\n"
    assert manifest_lines("--repair-cap", "--verify-cap") == \
        "URI:DIR2-Verifier:r\nURI:CHK-Verifier:1\nv2\n"


# --- stats --------------------------------------------------------------------

@pytest.mark.parametrize("n, si, binary", [
    (0, "0 B", "0 B"),
    (1000, "1000 B", "1000 B"),
    (1023, "1023 B", "1023 B"),
    (1024, "1.02 kB", "1.00 kiB"),
    (999_999, "1000.00 kB", "976.56 kiB"),
    (1_000_000, "1.00 MB", "976.56 kiB"),
    (1_048_576, "1.05 MB", "1.00 MiB"),
    (123_456_789_012, "123.46 GB", "114.98 GiB"),
    (10 ** 19, "10.00 EB", "8.67 EiB"),
])
def test_abbreviate_size(n, si, binary):
    assert tahoe_manifest.abbreviate_size(n, True) == si
    assert tahoe_manifest.abbreviate_size(n, False) == binary
    assert tahoe_manifest.abbreviate_size_both(n) == "(%s, %s)" % (si, binary)


def test_format_stats():
    data = {"count-immutable-files": 2, "count-mutable-files": 1, "count-literal-files": 1,
            "count-files": 4, "count-directories": 1500, "count-unknown": 1,
            "size-immutable-files": 150_000, "size-mutable-files": 1000,
            "size-literal-files": 12, "size-directories": 2048,
            "largest-directory": 1001, "largest-directory-children": 4,
            "largest-immutable-file": 100_000,
            "size-files-histogram": [[4, 10, 1], [11, 31, 1], [101, 316, 12],
                                     [31623, 100000, 2]],
            "finished": True}
    assert "".join(tahoe_manifest.format_stats(data)) == (
        "Counts and Total Sizes:\n"
        " count-immutable-files: 2\n"
        "   count-mutable-files: 1\n"
        "   count-literal-files: 1\n"
        "           count-files: 4\n"
        "     count-directories: 1500\n"
        "  size-immutable-files: 150000    (150.00 kB, 146.48 kiB)\n"
        "    size-mutable-files: 1000\n"
        "    size-literal-files: 12\n"
        "      size-directories: 2048    (2.05 kB, 2.00 kiB)\n"
        "     largest-directory: 1001    (1001 B, 1001 B)\n"
        "largest-immutable-file: 100000    (100.00 kB, 97.66 kiB)\n"
        "Size Histogram:\n"
        "     4-10     : 1     (10 B, 10 B)\n"
        "    11-31     : 1     (31 B, 31 B)\n"
        "     ...\n"
        "   101-316    : 12    (316 B, 316 B)\n"
        "     ...\n"
        " 31623-100000 : 2     (100.00 kB, 97.66 kiB)\n")


def test_format_stats_empty_tree():
    data = {k: 0 for k in tahoe_manifest.STATS_KEYS}
    data["count-directories"] = 1
    data["size-files-histogram"] = []
    lines = tahoe_manifest.format_stats(data)
    assert lines[0] == "Counts and Total Sizes:\n" and len(lines) == 12
    assert "Size Histogram:\n" not in lines


def test_format_stats_refuses_an_answer_without_histogram():
    with pytest.raises(KeyError):
        tahoe_manifest.format_stats({"count-files": 1})


def test_poll_delays_grow_to_a_bound():
    delays = list(itertools.islice(tahoe_manifest.poll_delays(), 30))
    assert delays[0] == tahoe_manifest.FIRST_POLL
    assert all(a <= b for a, b in zip(delays, delays[1:]))
    assert delays[-1] == tahoe_manifest.LONGEST_POLL
