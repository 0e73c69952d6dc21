"""The parts of ``tahoe check`` / ``tahoe deep-check`` that need no node:
the options, the query they send, the lines printed for the web API's JSON,
how a streamed answer is cut into lines and what an ``ERROR:`` line or a
garbled line does, the quoting of names, and the terminal counter."""

import io
import json

import pytest

from allmydata.scripts import tahoe_check
from allmydata.scripts.progress import ObjectCounter
from allmydata.scripts.quoting import quote_output, quote_path
from allmydata.scripts.runner import build_parser
from allmydata.scripts.streaming import LineSplitter, StreamPrinter

SI = "7nbjzmzzj4uqcnqg7fwbfbmrjm"
V0 = "v0-ixmpdpqqpl7vsvvbn6mnyrqvfddbqn7p6m7i4nbe5ipfnm7xgtla"
V1 = "v0-s2odbiagfzzhpxm3rfctkbzcipzkeycsmd2ekvexdp7qhgavwwsa"


def results(**extra):
    r = {"count-happiness": 3, "count-shares-good": 5, "count-shares-needed": 2,
         "count-shares-expected": 5, "count-good-share-hosts": 3, "count-corrupt-shares": 0,
         "list-corrupt-shares": [], "servers-responding": [V0, V1], "sharemap": {},
         "count-wrong-shares": 0, "count-recoverable-versions": 1,
         "count-unrecoverable-versions": 0, "healthy": True, "recoverable": True}
    r.update(extra)
    return r


def check_json(summary="Healthy", **extra):
    return {"storage-index": SI, "summary": summary, "results": results(**extra)}


LIT_CHECK = {"storage-index": "", "results": {"healthy": True}}
LIT_REPAIR = {"storage-index": "", "repair-attempted": False}
CORRUPT = [[V0, SI, 3], [V1, SI, 0]]


def parse(*argv):
    return build_parser().parse_args(list(argv))


# --- options ---------------------------------------------------------------

def test_check_options_and_query():
    o = parse("check", "--verify", "--repair", "--add-lease", "--raw", "-u",
              "http://127.0.0.1:1/", "a:b", "URI:DIR2:x:y/c")
    assert o.locations == ["a:b", "URI:DIR2:x:y/c"]
    assert (o.verify, o.repair, o.add_lease, o.raw) == (True, True, True, True)
    assert o.node_url == "http://127.0.0.1:1/"
    assert tahoe_check.check_query("t=check&output=JSON", o) == \
        "t=check&output=JSON&verify=true&repair=true&add-lease=true"
    o = parse("check")
    assert o.locations == [] and not (o.verify or o.repair or o.add_lease or o.raw)
    assert tahoe_check.check_query("t=check&output=JSON", o) == "t=check&output=JSON"


def test_deep_check_options():
    o = parse("deep-check", "-v", "--add-lease", "tahoe:")
    assert o.verbose and o.add_lease and o.locations == ["tahoe:"]
    assert tahoe_check.check_query("t=stream-deep-check", o) == \
        "t=stream-deep-check&add-lease=true"
    assert parse("deep-check", "--verbose").verbose
    with pytest.raises(SystemExit):
        parse("check", "-v")  # only deep-check has --verbose


# --- tahoe check -------------------------------------------------------------

def test_format_check_healthy():
    assert "".join(tahoe_check.format_check(check_json())) == (
        "Summary: Healthy\n"
        " storage index: %s\n"
        " good-shares: 5 (encoding is 2-of-5)\n"
        " wrong-shares: 0\n" % SI)


def test_format_check_corrupt_shares():
    data = check_json("Not Healthy: 3 shares (enc 2-of-5)", healthy=False,
                      **{"count-shares-good": 3, "list-corrupt-shares": CORRUPT,
                         "count-corrupt-shares": 2})
    assert "".join(tahoe_check.format_check(data)) == (
        "Summary: Not Healthy: 3 shares (enc 2-of-5)\n"
        " storage index: %s\n"
        " good-shares: 3 (encoding is 2-of-5)\n"
        " wrong-shares: 0\n"
        " corrupt shares:\n"
        "  server %s, SI %s, shnum 3\n"
        "  server %s, SI %s, shnum 0\n" % (SI, V0, SI, V1, SI))


def test_format_check_lit():
    assert "".join(tahoe_check.format_check(LIT_CHECK)) == \
        "Summary: Healthy (LIT)\n storage index: \n"


def test_format_check_and_repair():
    data = {"storage-index": SI, "repair-attempted": True, "repair-successful": True,
            "pre-repair-results": check_json("Not Healthy", healthy=False,
                                             **{"count-shares-good": 4,
                                                "list-corrupt-shares": CORRUPT[:1]}),
            "post-repair-results": check_json()}
    assert "".join(tahoe_check.format_check_and_repair(data)) == (
        "Summary: not healthy\n"
        " storage index: %s\n"
        " good-shares: 4 (encoding is 2-of-5)\n"
        " wrong-shares: 0\n"
        " corrupt shares:\n"
        "  server %s, SI %s, shnum 3\n"
        " repair successful\n" % (SI, V0, SI))
    data["repair-successful"] = False
    assert tahoe_check.format_check_and_repair(data)[-1] == " repair failed\n"
    data.update({"repair-attempted": False,
                 "pre-repair-results": check_json(), "post-repair-results": check_json()})
    lines = tahoe_check.format_check_and_repair(data)
    assert lines[0] == "Summary: healthy\n" and "repair" not in lines[-1]


def test_format_check_and_repair_lit():
    # Tahoe-LAFS 1.20's CLI fails with a KeyError here; a LIT object is healthy
    assert "".join(tahoe_check.format_check_and_repair(LIT_REPAIR)) == \
        "Summary: healthy\n storage index: \n"


def test_format_check_refuses_what_is_not_a_check_result():
    with pytest.raises(KeyError):
        tahoe_check.format_check({"summary": "x"})


# --- tahoe deep-check: the stream -------------------------------------------

def stream_object(path, kind="file", cr=None, si=SI):
    return {"path": path, "cap": "URI:x", "type": kind, "verifycap": "", "repaircap": "",
            "storage-index": si, "check-results": cr if cr is not None else check_json()}


def feed(report, lines, chunk_size=7, tty=False):
    """Run ``lines`` (bytes, each without its newline) through the printer
    in small chunks: (exit code, stdout, stderr)."""
    out, err = (Terminal(), Terminal()) if tty else (io.StringIO(), io.StringIO())
    counter = ObjectCounter("test", stream=err, out=out, delay=0, min_interval=0)
    printer = StreamPrinter(report, counter, "the stream")
    data = b"".join(line + b"\n" for line in lines)
    splitter = LineSplitter()
    for i in range(0, len(data), chunk_size):
        for line in splitter.feed(data[i:i + chunk_size]):
            printer.line(line)
    printer.finish(splitter.rest())
    return printer.rc, out.getvalue(), err.getvalue()


def encode(*objects):
    return [json.dumps(o).encode("ascii") for o in objects]


def test_deep_check_stream():
    bad = check_json("Not Healthy", healthy=False, **{"list-corrupt-shares": CORRUPT[:1]})
    lines = encode(stream_object([], "directory"), stream_object(["a"], cr=LIT_CHECK, si=""),
                   stream_object(["d", "f"], cr=bad),
                   {"type": "unknown", "path": ["u"]},
                   {"type": "stats", "stats": {"count-files": 2}})
    rc, out, err = feed(tahoe_check.DeepCheckReport(verbose=False), lines)
    assert (rc, err) == (0, "")
    assert out == (" corrupt: server %s, SI %s, shnum 3\n"
                   "done: 3 objects checked, 2 healthy, 1 unhealthy\n" % (V0, SI))
    rc, out, err = feed(tahoe_check.DeepCheckReport(verbose=True), lines)
    assert out == ("'<root>': Healthy\n"
                   "'a': Healthy (LIT)\n"
                   "'d/f': Not Healthy\n"
                   " corrupt: server %s, SI %s, shnum 3\n"
                   "done: 3 objects checked, 2 healthy, 1 unhealthy\n" % (V0, SI))


def test_deep_check_marks_every_hundred_objects():
    lines = encode(*[stream_object(["f%d" % i]) for i in range(250)])
    rc, out, err = feed(tahoe_check.DeepCheckReport(), lines, chunk_size=1000)
    assert out == ("100 objects checked..\n200 objects checked..\n"
                   "done: 250 objects checked, 250 healthy, 0 unhealthy\n")


def repair_object(path, pre_healthy, post_healthy, attempted, successful, si=SI, corrupt=()):
    pre = check_json(healthy=pre_healthy, **{"list-corrupt-shares": list(corrupt)})
    crr = {"storage-index": si, "repair-attempted": attempted, "repair-successful": successful,
           "pre-repair-results": pre, "post-repair-results": check_json(healthy=post_healthy)}
    return {"path": path, "type": "file", "storage-index": si, "check-and-repair-results": crr}


def test_deep_check_and_repair_stream():
    lit = {"path": ["lit"], "type": "file", "storage-index": "",
           "check-and-repair-results": LIT_REPAIR}
    lines = encode(repair_object([], True, True, False, False),
                   repair_object(["x"], False, True, True, True, corrupt=CORRUPT[1:]),
                   repair_object(["y"], False, False, True, False), lit)
    rc, out, err = feed(tahoe_check.DeepCheckAndRepairReport(verbose=True), lines)
    assert (rc, err) == (0, "")
    assert out == ("'<root>': healthy\n"
                   "'x': not healthy\n"
                   " corrupt: server %s, SI %s, shnum 0\n"
                   " repair successful\n"
                   "'y': not healthy\n"
                   " repair failed\n"
                   "'lit': healthy\n"
                   "done: 4 objects checked\n"
                   " pre-repair: 2 healthy, 2 unhealthy\n"
                   " 2 repairs attempted, 1 successful, 1 failed\n"
                   " post-repair: 3 healthy, 1 unhealthy\n" % (V1, SI))


def test_error_line_goes_to_stderr_and_stops_the_totals():
    lines = encode(stream_object(["a"])) + [b"ERROR: DeepCheckError(boom)",
                                            b"Traceback (most recent call last):",
                                            b'  File "x"']
    rc, out, err = feed(tahoe_check.DeepCheckReport(verbose=True), lines)
    assert rc == 1
    assert out == "'a': Healthy\n"
    assert err == 'ERROR: DeepCheckError(boom)\nTraceback (most recent call last):\n  File "x"\n'


def test_garbled_line_is_reported_and_fails():
    lines = encode(stream_object(["a"])) + [b"{not json", json.dumps({"no": "type"}).encode()]
    rc, out, err = feed(tahoe_check.DeepCheckReport(), lines)
    assert rc == 1
    assert out == "done: 1 objects checked, 1 healthy, 0 unhealthy\n"
    assert err.count("not what the web API sends") == 2 and "{not json" in err


def test_unfinished_last_line_is_read():
    # a stream cut short after its last newline: what came is still used
    data = json.dumps(stream_object(["a"])).encode()
    out, err = io.StringIO(), io.StringIO()
    printer = StreamPrinter(tahoe_check.DeepCheckReport(True), ObjectCounter("t", err, out), "s")
    splitter = LineSplitter()
    assert splitter.feed(data) == []
    printer.finish(splitter.rest())
    assert out.getvalue().startswith("'a': Healthy\n")


def test_line_splitter():
    s = LineSplitter()
    assert s.feed(b"ab") == []
    assert s.feed(b"c\nd\n\ne") == [b"abc", b"d", b""]
    assert s.rest() == b"e"
    assert s.rest() == b""


# --- quoting -------------------------------------------------------------------

@pytest.mark.parametrize("text, plain, quoted", [
    ("abc", "abc", "'abc'"),
    ("caf\u00e9 \u2603", "caf\u00e9 \u2603", "'caf\u00e9 \u2603'"),
    ("it's", '"it\'s"', '"it\'s"'),
    ('"x', "'\"x'", "'\"x'"),
    ("a$b`c\\d\"e'", '"a\\$b\\`c\\\\d\\"e\'"', '"a\\$b\\`c\\\\d\\"e\'"'),
    ("tab\there", '"tab\\x09here"', '"tab\\x09here"'),
    ("\U0001f600", '"\\U0001f600"', '"\\U0001f600"'),
    ("\ufdd0", '"\\ufdd0"', '"\\ufdd0"'),
])
def test_quote_output(text, plain, quoted):
    assert quote_output(text, quotemarks=False, encoding="utf-8") == plain
    assert quote_output(text, quotemarks=True, encoding="utf-8") == quoted


def test_quote_output_newlines_and_encodings():
    assert quote_output("a\nb", quotemarks=False, encoding="utf-8") == "a\nb"
    assert quote_output("a\nb", quotemarks=True, encoding="utf-8") == '"a\\x0ab"'
    # a character the output cannot hold is escaped
    assert quote_output("caf\u00e9", quotemarks=False, encoding="ascii") == '"caf\\xe9"'
    assert quote_output(b"ok\n", quotemarks=False) == "ok\n"
    assert quote_output(b"\xff$\n", quotemarks=False) == 'b"\\xff\\$\n"'
    assert quote_path(["a", "b\nc"], quotemarks=False, encoding="utf-8") == '"a/b\\x0ac"'
    assert quote_path(["<root>"], encoding="utf-8") == "'<root>'"


# --- the terminal counter --------------------------------------------------------

class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_counter_draws_nothing_off_a_terminal():
    err, out = io.StringIO(), io.StringIO()
    with ObjectCounter("deep-check", stream=err, out=out, delay=0, min_interval=0) as counter:
        assert not counter.active
        counter.update(5)
        counter.write("line\n")
    assert (err.getvalue(), out.getvalue(), counter.count) == ("", "line\n", 5)


def test_counter_on_a_terminal():
    err, out = Terminal(), io.StringIO()
    with ObjectCounter("deep-check", stream=err, out=out, delay=0, min_interval=0) as counter:
        assert counter.active
        counter.update(3)
        counter.set_count(7)
        counter.set_count(2)  # never goes back
        counter.write("line\n")
    assert counter.count == 7
    assert "deep-check: 7 objects" in err.getvalue()
    assert out.getvalue() == "line\n"  # the results stay clean


def test_stdout_on_the_same_terminal_gets_only_the_lines():
    lines = encode(stream_object(["a"]), stream_object(["b"]))
    rc, out, err = feed(tahoe_check.DeepCheckReport(verbose=True), lines, tty=True)
    assert "test: 2 objects" in err
    assert out == "'a': Healthy\n'b': Healthy\ndone: 2 objects checked, 2 healthy, 0 unhealthy\n"
