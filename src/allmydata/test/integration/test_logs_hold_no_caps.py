"""No capability in any log of a grid of real node processes.

One module-scoped grid (introducer, three storage nodes, a client at
2-of-3, happy 3) runs a workload through the web API and the ``tahoe``
command line that touches every kind of cap: CHK and LIT files, SDMF and
MDMF files (write, read and verify caps), SDMF and MDMF directories,
immutable and literal directories; caps in paths (``/uri/``, ``/cap/``,
``/named/``, ``/file/``, percent-encoded character by character), in
``t=uri&uri=`` queries, in ``when_done=`` URLs, in ``t=set_children`` and
``t=mkdir-immutable`` bodies; a mutable file made with ``private-key=``;
malformed caps (400s), writes through read caps, and an upload that fails
with a 500 once a storage node is gone.  Then the grid stops and every file
under every node's ``logs/`` is read:

* no cap (``URI:`` + kind + ``:`` + body, plain or percent-encoded), no
  secret field of the caps made (keys, literal data), no private key, no
  FURL swissnum (other than the introducer's public ``introducer``) and no
  node secret appears in any of them;
* the client's access log still has a line for every web request, with its
  caps replaced by ``[CENSORED]``;
* ``logs/`` is mode 0700 and every file in it 0600.
"""

import base64
import json
import os
import re
import stat
import subprocess
import sys
import urllib.parse

import pytest
from cryptography.hazmat.primitives import serialization

from allmydata import uri
from allmydata.crypto import rsa
from allmydata.testing.nodegrid import multipart_body
from allmydata.testing.processes import TAHOE
from allmydata.testing.procweb import MultiClientGrid, WebClient
from allmydata.util import base32
from allmydata.util.censor import censor_request_target

pytestmark = pytest.mark.integration

_TAHOE_SCRIPT = os.path.join(os.path.dirname(sys.executable), "tahoe")
TAHOE_CLI = [_TAHOE_SCRIPT] if os.path.exists(_TAHOE_SCRIPT) else TAHOE

#: a cap in any spelling a log could hold it: "URI", a kind and a body, with
#: ":" or its percent-encoding between them
CAP_PATTERN = re.compile(r"URI(?::|%3A)[A-Za-z0-9-]+(?::|%3A)[A-Za-z0-9]", re.IGNORECASE)
FURL_PATTERN = re.compile(r"pbu?://[^\s/'\"]+/([A-Za-z0-9_-]+)")
#: the introducer's FURL names its object "introducer", as Tahoe-LAFS's does: not a secret
PUBLIC_FURL_NAMES = {"introducer"}


class RecordingClient(WebClient):
    """A :class:`WebClient` that remembers every request and its status."""

    def __init__(self, url):
        WebClient.__init__(self, url)
        self.requests = []

    def request(self, method, path, body=None, headers=None, timeout=120):
        r = WebClient.request(self, method, path, body=body, headers=headers, timeout=timeout)
        self.requests.append((method, path, r.status))
        return r


def q(cap) -> str:
    return urllib.parse.quote(cap, safe="")


def caps_in(value) -> set:
    """Every cap string anywhere in a decoded JSON value."""
    if isinstance(value, dict):
        return set().union(*map(caps_in, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(caps_in, value)) if value else set()
    if isinstance(value, str) and uri.has_uri_prefix(value):
        return {value}
    return set()


def secret_fields(cap: str) -> set:
    """The base32 texts of what makes ``cap`` a cap to read or write: keys,
    a literal file's data (verify caps carry a storage index, which logs
    may name, and hashes)."""
    parsed = uri.from_string(cap)
    parsed = getattr(parsed, "filenode_uri", parsed)
    out = set()
    for name in ("key", "writekey", "readkey", "data"):
        value = getattr(parsed, name, None)
        if isinstance(value, bytes) and len(value) >= 8:
            out.add(base32.b2a(value).decode("ascii"))
    return out


class Workload:
    def __init__(self, grid, tmp_path):
        self.grid = grid
        self.tmp = tmp_path
        self.web = RecordingClient(grid.url)
        self.caps = set()
        self.other_secrets = set()

    def keep(self, *caps):
        for cap in caps:
            assert uri.has_uri_prefix(cap), cap
            self.caps.add(cap)
        return caps[0] if len(caps) == 1 else caps

    def json_of(self, cap, sub=""):
        info = self.web.json(cap, sub)
        self.caps |= caps_in(info)
        return info

    def expect(self, status, method, path, body=None, headers=None):
        """A request whose answer is of the class of ``status`` (2xx, 3xx,
        4xx): the statuses themselves are other tests' business."""
        r = self.web.request(method, path, body=body, headers=headers)
        assert r.status // 100 == status // 100, "%s %s: expected %d, got %r" % (
            method, path, status, r)
        return r

    # ---- the web API ----------------------------------------------------------------
    def files(self):
        w = self.web
        chk = self.keep(w.upload(b"an immutable file, stored as shares " * 100))
        lit = self.keep(w.upload(b"a literal file: its data is its cap"))
        assert chk.startswith("URI:CHK:") and lit.startswith("URI:LIT:"), (chk, lit)
        sdmf = self.keep(w.create_mutable(b"an SDMF file " * 40, "SDMF"))
        mdmf = self.keep(w.create_mutable(b"an MDMF file " * 40, "MDMF"))
        assert sdmf.startswith("URI:SSK:") and mdmf.startswith("URI:MDMF:")
        files = {"chk": chk, "lit": lit, "sdmf": sdmf, "mdmf": mdmf}
        for name, cap in list(files.items()):
            info = self.json_of(cap)[1]
            files[name + "-ro"] = info["ro_uri"]
            if "verify_uri" in info:
                files[name + "-verify"] = info["verify_uri"]
        for name, cap in files.items():
            verify = name.endswith("-verify")
            self.expect(200, "GET", w.path(cap, query="t=json"))
            self.expect(200, "GET", w.path(cap, query="t=info"))
            if verify:
                self.expect(400, "GET", w.path(cap))  # nothing to read through a verify cap
                continue
            self.expect(200, "GET", w.path(cap))
            self.expect(200, "HEAD", w.path(cap))
            self.expect(200, "GET", "/cap/%s?t=uri" % q(cap))
            self.expect(200, "GET", "/named/%s/report.txt" % q(cap))
            self.expect(200, "GET", "/file/%s/report.txt?save=true" % q(cap))
            self.expect(302, "GET", "/uri?uri=%s&t=json" % q(cap))
            self.expect(200, "GET", w.path(cap, query="filename=%s" % q(cap)))
        # every character of the cap percent-encoded: still routed, still censored
        self.expect(200, "GET", "/uri/%s?t=json" % "".join("%%%02X" % ord(c) for c in chk))
        # writes: through write caps, and refused through read caps
        self.expect(200, "PUT", w.path(sdmf), body=b"SDMF, second version")
        self.expect(200, "PUT", w.path(mdmf, query="offset=3"), body=b"MDMF patch")
        self.expect(400, "PUT", w.path(files["sdmf-ro"]), body=b"no")
        self.expect(400, "PUT", w.path(files["mdmf-ro"], query="offset=1"), body=b"no")
        return files

    def directories(self, files):
        w = self.web
        dirs = {"sdmf": self.keep(w.mkdir("SDMF")), "mdmf": self.keep(w.mkdir("MDMF"))}
        assert dirs["sdmf"].startswith("URI:DIR2:") and dirs["mdmf"].startswith("URI:DIR2-MDMF:")
        children = {"f": ["filenode", {"ro_uri": files["chk"]}],
                    "l": ["filenode", {"ro_uri": files["lit"]}]}
        r = self.expect(200, "POST", "/uri?t=mkdir-immutable", body=json.dumps(children).encode())
        dirs["imm"] = self.keep(r.text.strip())
        assert dirs["imm"].startswith("URI:DIR2-CHK:"), dirs["imm"]
        r = self.expect(200, "POST", "/uri?t=mkdir-immutable", body=b"{}")
        dirs["lit"] = self.keep(r.text.strip())
        assert dirs["lit"].startswith("URI:DIR2-LIT:"), dirs["lit"]
        for name, cap in list(dirs.items()):
            info = self.json_of(cap)[1]
            dirs[name + "-ro"] = info["ro_uri"]
            if "verify_uri" in info:
                dirs[name + "-verify"] = info["verify_uri"]

        root = dirs["sdmf"]
        # links: t=uri by PUT (making the intermediate directory) and by POST, with when_done
        self.expect(201, "PUT", w.path(root, "sub/chk", "t=uri"), body=files["chk"].encode())
        self.expect(200, "POST", w.path(root, query={"t": "uri", "name": "sdmf",
                                                     "uri": files["sdmf"]}))
        self.expect(302, "POST", w.path(root, query={"t": "uri", "name": "mdmf-ro",
                                                     "uri": files["mdmf-ro"],
                                                     "when_done": "/uri/%s/" % q(root)}))
        self.expect(200, "POST", w.path(root, query="t=set_children"), body=json.dumps({
            "lit": ["filenode", {"ro_uri": files["lit"]}],
            "mdmf": ["filenode", {"rw_uri": files["mdmf"], "ro_uri": files["mdmf-ro"]}],
            "dir-mdmf": ["dirnode", {"rw_uri": dirs["mdmf"], "ro_uri": dirs["mdmf-ro"]}],
            "imm": ["dirnode", {"ro_uri": dirs["imm"]}],
            "litdir": ["dirnode", {"ro_uri": dirs["lit"]}],
        }).encode())
        self.expect(302, "POST", w.path(root, query={"t": "mkdir", "name": "made",
                                                     "when_done": "/uri/%s/made" % q(root)}))
        self.expect(201, "PUT", w.path(root, "made/new.txt"), body=b"uploaded into a directory")
        body, ctype = multipart_body([("t", "upload"), ("when_done", "/uri/%s/" % q(root)),
                                      ("file", "form.txt", b"uploaded by a form")])
        self.expect(302, "POST", w.path(root, "made"), body=body,
                    headers={"Content-Type": ctype})
        # read everything back through write, read-only and verify caps, by path
        for name, cap in dirs.items():
            self.expect(200, "GET", w.path(cap, query="t=json"))
            self.expect(200, "GET", w.path(cap, query="t=info"))
            if not name.endswith("-verify"):
                self.expect(200, "GET", w.path(cap), headers={"Accept": "text/html"})
                self.expect(200, "GET", w.path(cap, query="t=readonly-uri"))
        for sub in ("sub/chk", "sdmf", "mdmf-ro", "lit", "mdmf", "made/new.txt", "made/form.txt",
                    "imm/f", "dir-mdmf", "litdir"):
            self.json_of(root, sub)
            self.expect(200, "GET", w.path(dirs["sdmf-ro"], sub, "t=json"))
        self.expect(200, "GET", w.path(dirs["imm"], "f"))
        self.expect(404, "GET", w.path(root, "no such child"))
        # changes through read caps and immutable directories are refused
        self.expect(400, "POST", w.path(dirs["sdmf-ro"], query={"t": "uri", "name": "x",
                                                               "uri": files["lit"]}))
        self.expect(400, "POST", w.path(dirs["imm"], query="t=mkdir&name=x"))
        self.expect(200, "DELETE", w.path(root, "made/new.txt"))
        self.expect(200, "POST", w.path(root, query="t=rename&from_name=lit&to_name=lit2"))
        return dirs

    def malformed(self, files, dirs):
        sdmf = uri.from_string(files["sdmf"])
        key = base32.b2a(sdmf.writekey).decode()
        # a real write key in a cap whose fingerprint is not base32
        self.expect(400, "GET", "/uri/%s?t=json" % q("URI:SSK:%s:NOT-BASE32!" % key))
        self.expect(400, "GET", "/uri/%s" % q(files["chk"][:-6]))
        # HEAD of an error page: Twisted logs a warning about the body it
        # drops, naming the request -- target and all
        self.expect(400, "HEAD", "/uri/%s?t=json" % q("URI:SSK:%s:NOT-BASE32!" % key))
        self.expect(400, "HEAD", "/named/%s/x.txt" % q(files["chk"][:-6]))
        self.expect(400, "POST", self.web.path(dirs["sdmf"], query={
            "t": "uri", "name": "bad", "uri": "URI:MDMF:%s:not-base32" % key}))
        self.expect(400, "PUT", self.web.path(dirs["sdmf"], "bad2", "t=uri"),
                    body=("URI:DIR2:%s" % key).encode())

    # ---- the command line ----------------------------------------------------------------
    def cli(self, *args, input=None) -> str:
        p = subprocess.run(TAHOE_CLI + ["-d", self.grid.client] + [str(a) for a in args],
                           input=input, capture_output=True, timeout=120,
                           stdin=None if input is not None else subprocess.DEVNULL, check=False)
        assert p.returncode == 0, "tahoe %s failed (%d):\n%s\n%s" % (
            " ".join(map(str, args)), p.returncode, p.stdout[-2000:], p.stderr[-2000:])
        out = p.stdout.decode("utf-8")
        self.caps |= {word for word in re.split(r"[\s\"',]+", out) if uri.has_uri_prefix(word)}
        return out

    def command_line(self, files):
        self.cli("create-alias", "work")
        self.keep(*self.grid.aliases().values())
        self.cli("mkdir", "work:docs")
        self.cli("mkdir", "--format=MDMF", "work:mdir")
        local = self.tmp / "local.txt"
        local.write_bytes(b"a file from the command line " * 200)
        self.cli("put", local, "work:docs/a.txt")
        self.cli("put", "--format=SDMF", "-", "work:docs/s.txt", input=b"sdmf from the CLI")
        self.cli("put", "--format=MDMF", "-", "work:mdir/m.txt", input=b"mdmf from the CLI")
        # a mutable file of a given key: the key goes in the query as private-key=
        priv, _pub = rsa.generate_keypair()
        keyfile = self.tmp / "key.pem"
        keyfile.write_bytes(priv.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        self.other_secrets.add(rsa.private_key_to_urlsafe_b64(priv)[100:140])
        self.other_secrets.add(base64.b64encode(rsa.private_key_to_der(priv)).decode()[100:140])
        self.cli("put", "--format=SDMF", "--private-key-path", keyfile, "-", input=b"keyed")
        self.cli("ls", "-l", "--uri", "work:docs")
        self.cli("ls", "--json", "work:mdir")
        self.cli("ls", files["chk"])
        self.cli("ls", self.grid.aliases()["work"] + "/docs")
        self.cli("get", files["chk"], self.tmp / "got.txt")
        self.cli("get", "work:docs/a.txt", self.tmp / "got-a.txt")
        tree = self.tmp / "tree"
        (tree / "d").mkdir(parents=True)
        (tree / "d" / "x.txt").write_bytes(b"x" * 5000)
        (tree / "y.txt").write_bytes(b"y")
        self.cli("cp", "-r", tree, "work:tree")
        self.cli("cp", "-r", "work:tree", self.tmp / "back")
        self.cli("mv", "work:docs/a.txt", "work:docs/b.txt")
        self.cli("ln", "work:docs/b.txt", "work:c.txt")
        self.cli("unlink", "work:c.txt")
        self.cli("put", "-", files["sdmf"], input=b"SDMF, third version, by cap")

    def unhappy_upload(self):
        """A 500: with one of the three storage nodes gone, an upload cannot
        reach servers-of-happiness 3."""
        self.grid.stop(2)
        self.grid.wait_connected(2)
        r = self.expect(500, "PUT", "/uri", body=b"this upload cannot be placed " * 100)
        assert "UploadUnhappinessError" in r.text, r


def read_logs(basedir) -> dict:
    """``{relative path: text}`` of every log file of a node: everything under
    ``logs/`` and any other file whose name says it is a log."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(basedir):
        rel_dir = os.path.relpath(dirpath, basedir)
        if rel_dir.split(os.sep)[0] == "storage":
            dirnames[:] = []  # shares, not logs
            continue
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel.split(os.sep)[0] == "logs" or ".log" in name or name.endswith("log"):
                with open(os.path.join(basedir, rel), "rb") as f:
                    out[rel] = f.read().decode("utf-8", "replace")
    return out


def node_secrets(basedir) -> set:
    """FURL swissnums (except the public ones) and node secrets found in a
    node's files outside ``logs/`` and ``storage/``."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(basedir):
        rel_dir = os.path.relpath(dirpath, basedir).split(os.sep)[0]
        if rel_dir in ("logs", "storage"):
            dirnames[:] = []
            continue
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            found |= {m for m in FURL_PATTERN.findall(text) if m not in PUBLIC_FURL_NAMES}
            if name in ("secret", "convergence") and os.path.basename(dirpath) == "private":
                found.add(text.strip())
    return found


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    root = tmp_path_factory.mktemp("nocaps")
    grid = MultiClientGrid(root / "grid", num_storage=3, encoding=(2, 3, 3), extra_clients=0)
    try:
        grid.build()
        work = Workload(grid, root)
        files = work.files()
        dirs = work.directories(files)
        work.malformed(files, dirs)
        work.command_line(files)
        work.unhappy_upload()
        grid.cleanup()  # every node stops, and writes its last lines
        yield work
    finally:
        grid.cleanup()


@pytest.fixture(scope="module")
def logs(ran):
    grid = ran.grid
    nodes = [grid.introducer] + grid.storage + [grid.client]
    found = {os.path.basename(d): read_logs(d) for d in nodes}
    for name, files in found.items():
        assert "logs/twistd.log" in files, (name, sorted(files))
    return found


def test_no_cap_or_secret_in_any_log(ran, logs):
    grid = ran.grid
    secrets = set()
    for cap in ran.caps:
        secrets |= {cap, q(cap)} | secret_fields(cap)
    secrets |= ran.other_secrets
    for d in [grid.introducer] + grid.storage + [grid.client]:
        secrets |= node_secrets(d)
    # what was made covers every kind of cap (write, read, verify)
    kinds = {cap.split(":")[1] for cap in ran.caps}
    assert {"CHK", "CHK-Verifier", "LIT", "SSK", "SSK-RO", "SSK-Verifier", "MDMF", "MDMF-RO",
            "MDMF-Verifier", "DIR2", "DIR2-RO", "DIR2-Verifier", "DIR2-MDMF", "DIR2-MDMF-RO",
            "DIR2-MDMF-Verifier", "DIR2-CHK", "DIR2-CHK-Verifier", "DIR2-LIT"} <= kinds, kinds
    assert len([s for s in secrets if len(s) == 32 and s.isalnum()]) >= 3  # storage swissnums
    leaks = []
    for node, files in logs.items():
        for rel, text in files.items():
            for m in CAP_PATTERN.finditer(text):
                leaks.append("%s/%s: a cap: %r" % (node, rel, text[m.start():m.start() + 60]))
            for s in secrets:
                if s and s in text:
                    leaks.append("%s/%s: %r" % (node, rel, s[:20] + "..."))
    assert not leaks, "\n".join(leaks[:40])


def test_access_log_still_records_every_request_censored(ran, logs):
    text = logs["client"]["logs/twistd.log"]
    lines = [line.split("web: ", 1)[1] for line in text.splitlines() if "web: " in line]
    assert len(ran.web.requests) > 150
    missing = []
    for method, path, status in ran.web.requests:
        expected = '127.0.0.1 "%s %s HTTP/1.1" %d' % (method, censor_request_target(path), status)
        matching = [line for line in lines if line.startswith(expected + " ")]
        if not matching:
            missing.append(expected)
        if uri.has_uri_prefix(urllib.parse.unquote(path.split("/")[2] if path.count("/") > 1
                                                   else "")):
            assert "[CENSORED]" in expected, expected
    assert not missing, "\n".join(missing[:20])
    # some requests spelled out: the route and the rest of the query stay readable
    for expected in ('"PUT /uri/[CENSORED]/sub/chk?t=uri HTTP/1.1" 2',
                     '"POST /uri/[CENSORED]?t=uri&name=sdmf&uri=[CENSORED] HTTP/1.1" 2',
                     '&when_done=[CENSORED] HTTP/1.1" 3',
                     '"POST /uri/[CENSORED]?t=set_children HTTP/1.1" 2',
                     '"GET /named/[CENSORED]/report.txt HTTP/1.1" 2',
                     '"GET /file/[CENSORED]/report.txt?save=true HTTP/1.1" 2',
                     '"GET /cap/[CENSORED]?t=uri HTTP/1.1" 2',
                     '"GET /uri?uri=[CENSORED]&t=json HTTP/1.1" 3',
                     '"PUT /uri?format=SDMF&private-key=[CENSORED] HTTP/1.1" 2',
                     '"PUT /uri HTTP/1.1" 500'):
        assert any(expected in line for line in lines), expected


def test_log_directories_and_files_are_owner_only(ran, logs):
    grid = ran.grid
    for d in [grid.introducer] + grid.storage + [grid.client]:
        logdir = os.path.join(d, "logs")
        assert stat.S_IMODE(os.stat(logdir).st_mode) == 0o700, logdir
        names = os.listdir(logdir)
        assert "twistd.log" in names
        for name in names:
            mode = stat.S_IMODE(os.stat(os.path.join(logdir, name)).st_mode)
            assert mode == 0o600, (logdir, name, oct(mode))
