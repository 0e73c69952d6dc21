"""``tahoe status``: the text it prints for the node's status and statistics
JSON, its errors, and -- against the real Tahoe-LAFS 1.20 CLI -- the same
bytes for the same JSON, from a JSON fixture server and from real nodes
(ours read by Tahoe-LAFS's ``tahoe status`` too)."""

import io
import json
import os
import pathlib
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from twisted.internet import reactor

from allmydata import uri
from allmydata.node import create_node
from allmydata.scripts import tahoe_status
from allmydata.scripts.runner import main
from allmydata.scripts.tahoe_status import duration_text, progress_bar, size_text, status_lines
from allmydata.test.scripts.cli_runner import WEB_KINDS, reference_tahoe, web_node
from allmydata.testing.refvenv import ensure_ref_venv
from allmydata.util import base32

MINUTE, HOUR, DAY = 60, 3600, 86400
MONTH, YEAR = 30 * DAY, 365 * DAY

SI1 = "cldiajf4254jvgj2lwd5e3aqo4"
SI2 = "cxxxanokfr5hrl6kph7wm6voey"


def upload(si, size, status="Finished", progress=(1.0, 1.0, 1.0)):
    return {"type": "upload", "storage-index-string": si, "total-size": size, "status": status,
            "progress-hash": progress[0], "progress-ciphertext": progress[1],
            "progress-encode-push": progress[2]}


def download(si, size, status="idle", progress=1.0):
    return {"type": "download", "storage-index-string": si, "total-size": size,
            "status": status, "progress": progress}


def mutable(kind, si, size, status="Finished"):
    op = {"type": kind, "storage-index-string": si, "total-size": size, "status": status}
    if kind == "mapupdate":
        op["total-size"] = "-NA-"
        op["mode"] = "MODE_READ"
    return op


def statistics(uptime, up=(0, 0), down=(0, 0)):
    return {"counters": {"uploader.bytes_uploaded": up[0], "uploader.files_uploaded": up[1],
                         "downloader.bytes_downloaded": down[0],
                         "downloader.files_downloaded": down[1]},
            "stats": {"node.uptime": uptime}}


# A node's recent operations, in the order its /status?t=json lists them.
RECENT = [mutable("retrieve", SI2, 5000), mutable("mapupdate", SI2, None),
          mutable("publish", SI2, 5000), download(SI1, 100000), upload(SI1, 100000)]


# --- the formatting of sizes, durations and progress --------------------------

@pytest.mark.parametrize("n, text", [
    (None, "unknown"), (0, "0 B"), (999, "999 B"), (1000, "1000 B"), (1023, "1023 B"),
    (1024, "1.02 kB"), (100000, "100.00 kB"), (999_999, "1000.00 kB"), (10**6, "1.00 MB"),
    (123_456_789, "123.46 MB"), (10**9, "1.00 GB"), (10**12, "1.00 TB"), (10**15, "1.00 PB"),
    (10**18, "1.00 EB"), (5 * 10**21, "5000.00 EB"), (1500.5, "1.50 kB"),
])
def test_size_text(n, text):
    assert size_text(n) == text


@pytest.mark.parametrize("seconds, text", [
    (None, "unknown"), (0, "0 seconds"), (1, "1 second"), (1.9, "1 second"),
    (119.9, "119 seconds"), (120, "2 minutes"), (3 * HOUR - 1, "179 minutes"),
    (3 * HOUR, "3 hours"), (2 * DAY - 1, "47 hours"), (2 * DAY, "2 days"),
    (2 * MONTH - 1, "59 days"), (2 * MONTH, "2 months"), (4 * YEAR - 1, "48 months"),
    (4 * YEAR, "4 years"),
])
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text


def test_progress_bar():
    assert progress_bar(0) == "\u258f" + " " * 14
    assert progress_bar(50) == "\u2588" * 7 + "\u258b" + " " * 7
    assert progress_bar(58.4) == "\u2588" * 8 + "\u2589" + " " * 6
    assert progress_bar(99.9) == "\u2588" * 15
    assert progress_bar(100) == "\u2588" * 15
    assert progress_bar(150) == "\u2588" * 22
    assert all(len(progress_bar(p)) == 15 for p in range(100))


# --- the lines for given JSON ---------------------------------------------------

# What Tahoe-LAFS 1.20's ``tahoe status`` printed for a node with one upload,
# one download and a mutable file written and read (RECENT).
RECENT_TEXT = """\
Statistics (for last 58 seconds):
    uploaded 100.00 kB in 1 files
  downloaded 100.00 kB in 1 files

No active operations.

Recent operations:
\u2553 type  \u2565 storage index              \u2565 size       \u2565 status message
\u2551  get  \u2551 cldiajf4254jvgj2lwd5e3aqo4 \u2551 100.00 kB  \u2551 idle
\u2551  put  \u2551 cldiajf4254jvgj2lwd5e3aqo4 \u2551 100.00 kB  \u2551 Finished
\u2559\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2568\u2500\
\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\
\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2568\u2500\u2500\u2500\u2500\
\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2568\u2500\u2500\u2500\u2500\u2500\u2500\u2500\
\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500
   Skipped 3 non-upload/download operations; use --verbose to see
"""


def text_of(status_data, statistics_data, verbose=False):
    return "".join(line + "\n" for line in status_lines(status_data, statistics_data, verbose))


def test_recent_operations_as_tahoe_prints_them():
    stats = statistics(58.7, up=(100000, 1), down=(100000, 1))
    text = text_of({"active": [], "recent": RECENT}, stats)
    assert text == RECENT_TEXT
    verbose = text_of({"active": [], "recent": RECENT}, stats, verbose=True).splitlines()
    assert verbose[:8] == RECENT_TEXT.splitlines()[:8]
    assert verbose[8:12] == [
        "\u2551 retr  \u2551 %s \u2551 5.00 kB    \u2551 Finished" % SI2,
        "\u2551 mapup \u2551 %s \u2551 MODE_READ  \u2551 Finished" % SI2,
        "\u2551  pub  \u2551 %s \u2551 5.00 kB    \u2551 Finished" % SI2,
        "\u2551  get  \u2551 %s \u2551 100.00 kB  \u2551 idle" % SI1]
    assert verbose[-1] == RECENT_TEXT.splitlines()[-2]  # the footer, and no "Skipped" line


def test_nothing_yet():
    text = text_of({"active": [], "recent": []}, statistics(3))
    assert text == ("Statistics (for last 3 seconds):\n    uploaded 0 B in 0 files\n"
                    "  downloaded 0 B in 0 files\n\nNo active operations.\n"
                    "No recent operations.\n\nRecent operations:\n")
    # with --verbose the empty table still has its header and footer
    lines = text_of({"active": [], "recent": []}, statistics(3), verbose=True).splitlines()
    assert lines[-2].startswith("\u2553 type ") and lines[-1].startswith("\u2559\u2500")
    # only mutable operations: the table is left out, the skipped ones counted
    lines = text_of({"active": [], "recent": RECENT[:3]}, statistics(3)).splitlines()
    assert lines[-2:] == ["Recent operations:", "   Skipped 3 non-upload/download operations; "
                                                "use --verbose to see"]


def test_active_operations():
    active = [upload(SI1, 2000000, "encoding", (1.0, 0.5, 0.25)),
              download(SI2, 300, "fetching segment 0", 0.5),
              mutable("publish", SI2, None, "Pushing shares")]
    lines = text_of({"active": active, "recent": []}, statistics(7200)).splitlines()
    assert lines[0] == "Statistics (for last 120 minutes):"
    assert lines[4:8] == [
        "Active operations:",
        "\u2553 type  \u2565 storage index              \u2565 progress               "
        "\u2565 status message",
        "\u255f\u2500" + "\u2500" * 5 + "\u2500\u256b\u2500" + "\u2500" * 26 + "\u2500\u256b\u2500"
        + "\u2500" * 22 + "\u2500\u256b\u2500" + "\u2500" * 20,
        "\u2551  put  \u2551 %s \u2551 %s ( 58%%) \u2551 encoding"
        % (SI1, "\u2588" * 8 + "\u2589" + " " * 6)]
    assert lines[8] == ("\u2551  get  \u2551 %s \u2551 %s (0.5%%) \u2551 fetching segment 0"
                        % (SI2, "\u2588" * 7 + "\u258b" + " " * 7))
    assert lines[9] == ("\u2551  pub  \u2551 %s \u2551 %s (???%%) \u2551 Pushing shares"
                        % (SI2, " " * 15))
    assert lines[10] == ("\u2559\u2500" + "\u2500" * 5 + "\u2500\u2568\u2500" + "\u2500" * 26
                         + "\u2500\u2568\u2500" + "\u2500" * 22 + "\u2500\u2568\u2500"
                         + "\u2500" * 20)


def test_json_that_is_not_a_status():
    for status_data, statistics_data, what in [
            ([], statistics(1), "not an object"),
            ({"active": "x", "recent": []}, statistics(1), "'active' is not a list"),
            ({"active": [], "recent": [{"type": "upload"}]}, statistics(1), "has no"),
            ({"active": [upload(SI1, 1, progress=(None, 1, 1))], "recent": []}, statistics(1),
             "wrong type"),
            ({"active": [], "recent": []}, {"counters": [], "stats": {}}, "'counters' is not"),
    ]:
        with pytest.raises(tahoe_status.StatusDataError, match=what):
            status_lines(status_data, statistics_data)


def test_unencodable_output_is_replaced():
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    tahoe_status.write_lines(["\u2551 put \u2551"], out)
    out.flush()
    assert out.buffer.getvalue() == b"? put ?\n"


# --- the command, against a server of fixed JSON ----------------------------------

class FixtureServer:
    """An HTTP server on 127.0.0.1 answering GET and POST of
    ``/status?t=json`` and ``/statistics?t=json`` with the documents it is
    given (``answers[path] = (code, body bytes)``), to run both CLIs on JSON
    a real node seldom shows (operations half done, sizes at unit bounds)."""

    def __init__(self):
        self.answers = {}
        self.requests = []
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                fixture.requests.append((self.command, self.path))
                code, body = fixture.answers.get(self.path, (404, b"not here\n"))
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def serve(self, status_data, statistics_data):
        self.answers["/status?t=json"] = (200, json.dumps(status_data).encode())
        self.answers["/statistics?t=json"] = (200, json.dumps(statistics_data).encode())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fixture_server():
    with FixtureServer() as server:
        yield server


@pytest.fixture
def nodedir(tmp_path, fixture_server):
    """A node directory pointing at the fixture server, with the token file
    Tahoe-LAFS's CLI reads."""
    d = tmp_path / "node"
    (d / "private").mkdir(parents=True)
    (d / "node.url").write_text(fixture_server.url + "\n")
    (d / "private" / "api_auth_token").write_text("fixture-token\n")
    return d


def ours(nodedir, *args):
    """Our ``tahoe -d NODEDIR status ARGS`` in-process, its stdout UTF-8:
    (exit code, stdout bytes, stderr text)."""
    out, err = io.BytesIO(), io.StringIO()
    wrapper = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = wrapper, err
    try:
        rc = main(["-d", str(nodedir), "status"] + list(args))
    finally:
        sys.stdout, sys.stderr = old
        wrapper.flush()
        wrapper.detach()
    return rc, out.getvalue(), err.getvalue()


def test_command_prints_the_node_json(fixture_server, nodedir):
    fixture_server.serve({"active": [], "recent": RECENT},
                         statistics(58.2, up=(100000, 1), down=(100000, 1)))
    rc, out, err = ours(nodedir)
    assert (rc, err) == (0, "")
    assert out == RECENT_TEXT.encode("utf-8")
    assert sorted(fixture_server.requests) == [("GET", "/statistics?t=json"),
                                               ("GET", "/status?t=json")]
    rc, out, err = ours(nodedir, "--verbose")
    assert rc == 0 and b"MODE_READ" in out


def test_command_errors(fixture_server, nodedir, tmp_path):
    fixture_server.answers["/status?t=json"] = (200, b"<html>not json</html>")
    rc, out, err = ours(nodedir)
    assert (rc, out) == (2, b"")
    assert err.startswith("failed to retrieve data: ") and "not JSON" in err

    fixture_server.serve({"active": [], "recent": []}, {})
    fixture_server.answers["/statistics?t=json"] = (500, b"statistics broke\n")
    rc, out, err = ours(nodedir)
    assert (rc, out) == (2, b"")
    assert "500" in err and "statistics broke" in err

    fixture_server.serve({"active": [], "recent": [{"type": "download"}]}, statistics(1))
    rc, out, err = ours(nodedir)
    assert (rc, out) == (2, b"")
    assert "an operation in the status JSON has no 'storage-index-string'" in err

    missing = tmp_path / "elsewhere"
    missing.mkdir()
    rc, out, err = ours(missing)
    assert rc == 2 and "node.url" in err and "does not exist" in err
    # -u/--node-url instead of NODEDIR/node.url
    fixture_server.serve({"active": [], "recent": RECENT}, statistics(58, (100000, 1), (100000, 1)))
    rc, out, err = ours(missing, "-u", fixture_server.url)
    assert (rc, out, err) == (0, RECENT_TEXT.encode("utf-8"), "")


def test_node_not_running(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = tmp_path / "node"
    d.mkdir()
    (d / "node.url").write_text("http://127.0.0.1:%d/\n" % port)
    rc, out, err = ours(d)
    assert (rc, out) == (2, b"")
    assert err.startswith("failed to retrieve data: cannot talk to the node's web API")



def test_a_client_node_writes_the_token_tahoe_lafs_cli_reads(tmp_path):
    """Tahoe-LAFS's ``tahoe status`` reads ``private/api_auth_token`` before
    anything else: a client node with a web server writes a fresh one
    (owner-only) each time it is built; one without a web server does not."""
    d = str(tmp_path / "client")
    assert main(["create-client", "--listen", "none", "--webport",
                 "tcp:0:interface=127.0.0.1", d]) == 0
    path = os.path.join(d, "private", "api_auth_token")
    create_node(d, reactor)
    first = pathlib.Path(path).read_bytes()
    assert len(first.strip()) >= 32 and os.stat(path).st_mode & 0o777 == 0o600
    create_node(d, reactor)
    assert pathlib.Path(path).read_bytes() != first
    quiet = str(tmp_path / "no-web")
    assert main(["create-client", "--listen", "none", "--webport", "none", quiet]) == 0
    create_node(quiet, reactor)
    assert not os.path.exists(os.path.join(quiet, "private", "api_auth_token"))

# --- against the real Tahoe-LAFS 1.20 CLI -------------------------------------------

# (status JSON, statistics JSON): what both CLIs must print the same way
SAME_JSON_CASES = {
    "recent": ({"active": [], "recent": RECENT},
               statistics(58.2, up=(100000, 1), down=(100000, 1))),
    "nothing": ({"active": [], "recent": []}, statistics(0)),
    "only-mutable": ({"active": [], "recent": RECENT[:3]}, statistics(2 * DAY + 5)),
    "active": ({"active": [upload(SI1, 2 * 10**6, "encoding", (1.0, 0.5, 0.25)),
                           upload(SI2, 10, "hashing", (0.0, 0.0, 0.0)),
                           download(SI2, 300, "fetching segment 3", 1 / 3),
                           download(SI1, 300, "starting", 0),
                           mutable("publish", SI2, None, "Pushing shares"),
                           mutable("retrieve", SI1, 7, "Fetching"),
                           mutable("mapupdate", SI1, None, "Querying")],
                "recent": [download(SI1, 999_999), upload(SI2, 1023)]},
               statistics(3 * HOUR, up=(10**12 + 5, 12345), down=(1024, 2))),
    "sizes": ({"active": [],
               "recent": [upload(SI1, n) for n in (0, 1000, 1024, 999_999, 10**6, 10**9 - 1,
                                                   10**15, 10**18 + 1)]
               + [mutable("publish", SI2, None)]},
              statistics(5 * YEAR, up=(999, 1), down=(10**18, 3))),
}


@pytest.mark.interop
def test_same_bytes_as_tahoe_for_the_same_json(fixture_server, nodedir):
    venv = ensure_ref_venv()
    for name, (status_data, statistics_data) in SAME_JSON_CASES.items():
        fixture_server.serve(status_data, statistics_data)
        for args in ([], ["--verbose"]):
            theirs = reference_tahoe(venv, nodedir, "status", *args)
            assert theirs.rc == 0, (name, args, theirs.err)
            rc, out, err = ours(nodedir, *args)
            assert (rc, err) == (0, ""), (name, args)
            assert out == theirs.stdout, "case %s %s:\nours:\n%s\ntheirs:\n%s" % (
                name, args, out.decode("utf-8"), theirs.out)


@pytest.fixture(scope="module", params=WEB_KINDS)
def web(request, tmp_path_factory):
    with web_node(request.param, str(tmp_path_factory.mktemp("status-" + request.param))) as w:
        yield w


UPTIME_LINE = re.compile(r"Statistics \(for last \d+ (second|minute)s?\):")


def si_of(cap) -> str:
    return base32.b2a(uri.from_string(cap).get_storage_index()).decode("ascii")


@pytest.mark.interop
def test_both_clis_on_a_node_that_worked(web):
    """After an upload, a download and a mutable file written and read, the
    real Tahoe-LAFS 1.20 ``tahoe status`` run on the node's own directory
    (Tahoe-LAFS's node, or ours) lists them, and ours prints the same bytes
    (but for the uptime, which moves on between the two runs)."""
    data = os.urandom(100_000)
    cap = web.client.upload(data)
    assert web.client.download(cap) == data
    ssk = web.client.upload(b"mutable " * 100, format="SDMF")
    assert web.client.download(ssk) == b"mutable " * 100
    nodedir = web.client.basedir
    for args in ([], ["--verbose"]):
        theirs = reference_tahoe(web.ref_venv, nodedir, "status", *args)
        assert theirs.rc == 0, theirs.err
        rc, out, err = ours(nodedir, *args)
        assert (rc, err) == (0, "")
        ours_lines, their_lines = out.decode("utf-8").splitlines(), theirs.out.splitlines()
        assert UPTIME_LINE.fullmatch(their_lines[0]), their_lines[0]
        assert UPTIME_LINE.fullmatch(ours_lines[0]), ours_lines[0]
        assert ours_lines[1:] == their_lines[1:], "ours:\n%s\ntheirs:\n%s" % (
            out.decode("utf-8"), theirs.out)
        text = theirs.out
        assert "    uploaded 100.00 kB in 1 files\n" in text
        assert "  downloaded 100.00 kB in 1 files\n" in text
        assert "No active operations.\n" in text
        assert re.search(r"\u2551  put  \u2551 %s \u2551 100.00 kB  \u2551 " % si_of(cap), text)
        assert re.search(r"\u2551  get  \u2551 %s \u2551 100.00 kB  \u2551 " % si_of(cap), text)
        mutable_rows = re.findall(r"\u2551 (retr |mapup| pub ) \u2551 %s " % si_of(ssk), text)
        if args:
            assert {"retr ", "mapup", " pub "} <= set(mutable_rows), text
        else:
            assert mutable_rows == [] and "non-upload/download operations" in text
