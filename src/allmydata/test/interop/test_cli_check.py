"""The real Tahoe-LAFS 1.20 ``tahoe`` command drives the maintenance
operations of our client node: ``check`` (``--verify``, ``--raw``,
``--repair``, ``--add-lease``), ``deep-check`` (every option), ``manifest``
(every option) and ``stats``.

Two grids run side by side: our client on three of our storage nodes, and a
Tahoe-LAFS 1.20 client on three Tahoe-LAFS 1.20 storage nodes, both with
2-of-5 encoding.  The reference CLI, given each client's node directory,
builds the same tree on both, and every command must print the same thing
for both, once caps, storage indexes, server ids and the sizes of
directories (their entries hold link times) are blanked.  Where the order
in which a node visits a tree may differ, lines are compared as multisets.

The quoting rules our CLI uses for names are checked here too, against
Tahoe-LAFS 1.20's own function.
"""

import json
import os
import random
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from allmydata import uri
from allmydata.scripts.quoting import quote_output, quote_path
from allmydata.test.scripts.cli_output import json_documents, normalized
from allmydata.test.scripts.cli_runner import reference_tahoe
from allmydata.testing import refvenv
from allmydata.testing.reference import (
    OurClient,
    OurStorageGrid,
    ReferenceStorageGrid,
    TahoeClient,
    running,
)
from allmydata.util import base32

pytestmark = pytest.mark.interop

NEEDED, HAPPY, TOTAL = 2, 3, 5


@dataclass
class Side:
    """One client node, its storage nodes, and the reference CLI pointed at it."""

    kind: str
    client: object
    nodes: list
    venv: str

    def ok(self, *args, stdin=None) -> str:
        r = reference_tahoe(self.venv, self.client.basedir, *args, stdin=stdin)
        assert r.rc == 0, "tahoe %s against the %s client: exit %d\n%s\n%s\n%s" % (
            " ".join(map(str, args)), self.kind, r.rc, r.out, r.err, self.client.logs()[-6000:])
        return r.out


@pytest.fixture(scope="module")
def sides(tahoe_ref_venv, tmp_path_factory):
    """Both grids, started in parallel, stopped at the end whatever happens."""
    workdir = str(tmp_path_factory.mktemp("cli-check"))
    ours_dir, ref_dir = os.path.join(workdir, "ours"), os.path.join(workdir, "ref")
    os.makedirs(ours_dir)
    os.makedirs(ref_dir)
    ours = OurClient(os.path.join(ours_dir, "client"), NEEDED, HAPPY, TOTAL)
    ours_storage = OurStorageGrid(ours_dir, 3)
    ref = TahoeClient(tahoe_ref_venv, os.path.join(ref_dir, "client"), NEEDED, HAPPY, TOTAL)
    ref_storage = ReferenceStorageGrid(tahoe_ref_venv, ref_dir, 3)
    ours.extra_logs = ours_storage.logs
    with ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        started = [pool.submit(stack.enter_context, running(ours_storage, ours)),
                   pool.submit(stack.enter_context, running(ref_storage, ref))]
        ours_nodes, ref_nodes = [f.result() for f in started]
        both = (Side("our", ours, ours_nodes, tahoe_ref_venv),
                Side("Tahoe-LAFS 1.20", ref, ref_nodes, tahoe_ref_venv))
        for side in both:
            build_tree(side)
        yield both


TREE = {  # path: (put options, contents)
    "tree/lit.txt": ((), b"tiny"),
    "tree/chk.bin": ((), bytes(range(256)) * 20),
    "tree/sub/it's caf\u00e9": ((), b"odd name\n" * 100),
    "tree/sub/sdmf.txt": (("--format=SDMF",), b"sdmf contents\n" * 40),
    "tree/mdmf.txt": (("--format=MDMF",), b"mdmf contents\n" * 300),
    "damaged/chk": ((), b"to be damaged\n" * 300),
    "damaged/sdmf": (("--format=SDMF",), b"to be damaged too\n" * 100),
}
DIRS = ["tree", "tree/sub", "tree/sub/empty", "damaged"]
CHECKED = ["tree", "tree/sub/empty", "tree/lit.txt", "tree/chk.bin", "tree/sub/it's caf\u00e9",
           "tree/sub/sdmf.txt", "tree/mdmf.txt"]


def build_tree(side):
    side.ok("create-alias", "tahoe")
    for d in DIRS:
        side.ok("mkdir", "tahoe:" + d)
    for path, (options, data) in TREE.items():
        side.ok("put", *options, "-", "tahoe:" + path, stdin=data)


BLANKS = [
    (re.compile(r"(?:URI|ro\.URI|imm\.URI):[A-Za-z0-9:_-]+"), "<CAP>"),
    (re.compile(r"v0-[a-z2-7]{52}"), "<SERVER>"),
    (re.compile(r"\b[a-z2-7]{26}\b"), "<SI>"),
    (re.compile(r"\bseq(\d+)-[a-z2-7]{4}-sh"), r"seq\1-<ROOTHASH>-sh"),
    (re.compile(r"(?m)^( *(?:size-directories|largest-directory): )\d+.*$"), r"\1<SIZE>"),
    (re.compile(r'"(size-directories|largest-directory)": \d+'), r'"\1": 0'),
]


def blank(text):
    for pattern, replacement in BLANKS:
        text = pattern.sub(replacement, text)
    return text


def same_output(sides, *args, sort=False):
    """Run ``tahoe ARGS`` against both clients; assert that both succeed and
    print the same (blanked) output; return ours."""
    outputs = [side.ok(*args) for side in sides]
    blanked = [blank(out) for out in outputs]
    if sort:
        blanked = [sorted(b.splitlines()) for b in blanked]
    assert blanked[0] == blanked[1], (
        "tahoe %s: our client and Tahoe-LAFS 1.20's answer differently\n--- ours:\n%s\n"
        "--- Tahoe-LAFS 1.20:\n%s" % (" ".join(args), outputs[0], outputs[1]))
    return outputs[0]


def same_json_lines(sides, *args):
    """The same for ``--raw`` streams: one JSON object per line, lists in no
    particular order."""
    answers = []
    for side in sides:
        out = side.ok(*args)
        answers.append(normalized([json.loads(blank(line)) for line in out.splitlines()]))
    assert answers[0] == answers[1], "tahoe %s:\n%s\n%s" % (" ".join(args), *answers)
    return answers[0]


# --- check -------------------------------------------------------------------

@pytest.mark.parametrize("options", [(), ("--verify",), ("--add-lease",),
                                     ("--verify", "--repair", "--add-lease")])
def test_check(sides, options):
    paths = list(CHECKED)
    if "--repair" in options:
        # Tahoe-LAFS 1.20's CLI fails on a LIT file with --repair, whatever the node
        paths.remove("tree/lit.txt")
    out = same_output(sides, "check", *options, *["tahoe:" + p for p in paths])
    assert out.count("Summary: ") == len(paths)
    assert out.count(" good-shares: 5 (encoding is 2-of-5)\n") == len(CHECKED) - 1


def test_check_raw(sides):
    answers = []
    for side in sides:
        text = blank(side.ok("check", "--raw", "--verify", "tahoe:tree/chk.bin",
                             "tahoe:tree/sub/sdmf.txt"))
        answers.append(normalized(json_documents(text)))
    assert answers[0] == answers[1]
    assert [d["results"]["count-shares-good"] for d in answers[0]] == [5, 5]


# --- deep-check ----------------------------------------------------------------

@pytest.mark.parametrize("options", [(), ("-v",), ("--verify", "--verbose"), ("--add-lease",),
                                     ("--repair", "--add-lease", "-v"),
                                     ("--repair", "--verify", "--add-lease", "-v")])
def test_deep_check(sides, options):
    out = same_output(sides, "deep-check", *options, "tahoe:tree", sort=True)
    objects = len(TREE) - 2 + len(DIRS) - 1
    if "--repair" in options:
        assert out.endswith("done: %d objects checked\n pre-repair: %d healthy, 0 unhealthy\n"
                            " 0 repairs attempted, 0 successful, 0 failed\n"
                            " post-repair: %d healthy, 0 unhealthy\n"
                            % (objects, objects, objects)), out
    else:
        assert out.endswith("done: %d objects checked, %d healthy, 0 unhealthy\n"
                            % (objects, objects)), out


def test_deep_check_raw(sides):
    lines = same_json_lines(sides, "deep-check", "--raw", "--verify", "tahoe:tree")
    assert sum(1 for d in lines if d["type"] == "stats") == 1


# --- manifest and stats ----------------------------------------------------------

@pytest.mark.parametrize("options", [(), ("--storage-index",), ("-s",), ("--verify-cap",),
                                     ("--repair-cap",)])
def test_manifest(sides, options):
    out = same_output(sides, "manifest", *options, "tahoe:tree", sort=True)
    if not options:
        assert len(out.splitlines()) == len(TREE) - 2 + len(DIRS) - 1


def test_manifest_raw(sides):
    same_json_lines(sides, "manifest", "--raw", "tahoe:tree")


def test_stats(sides):
    out = same_output(sides, "stats", "tahoe:tree")
    assert "count-files: 5\n" in out and "Size Histogram:\n" in out
    answers = []
    for side in sides:
        data = json.loads(side.ok("stats", "--raw", "tahoe:tree"))
        for key in ("size-directories", "largest-directory"):
            assert data.pop(key) > 0
        answers.append(data)
    assert answers[0] == answers[1]
    assert answers[0]["finished"] is True


# --- a damaged tree: deep-check --repair --add-lease ------------------------------

def delete_shares(side, path, shnums):
    kind, details = json.loads(side.ok("ls", "--json", "tahoe:" + path))
    si = base32.b2a(uri.from_string(details["ro_uri"]).get_storage_index()).decode()
    gone = sum(len(node.delete_shares(si, shnums)) for node in side.nodes)
    assert gone == len(shnums), (side.kind, path, gone)


def test_deep_check_repairs_a_damaged_tree(sides):
    for side in sides:
        for path in ("damaged/chk", "damaged/sdmf"):
            delete_shares(side, path, {0, 1})
    out = same_output(sides, "check", "--verify", "tahoe:damaged/chk", "tahoe:damaged/sdmf")
    assert out.count(" good-shares: 3 (encoding is 2-of-5)\n") == 2
    out = same_output(sides, "deep-check", "--verify", "-v", "tahoe:damaged", sort=True)
    assert out.endswith("done: 3 objects checked, 1 healthy, 2 unhealthy\n")
    out = same_output(sides, "deep-check", "--repair", "--add-lease", "-v", "tahoe:damaged",
                      sort=True)
    assert out.count(" repair successful\n") == 2
    assert out.endswith("done: 3 objects checked\n pre-repair: 1 healthy, 2 unhealthy\n"
                        " 2 repairs attempted, 2 successful, 0 failed\n"
                        " post-repair: 3 healthy, 0 unhealthy\n"), out
    out = same_output(sides, "deep-check", "--verify", "tahoe:damaged")
    assert out == "done: 3 objects checked, 3 healthy, 0 unhealthy\n"


# --- quoting of names --------------------------------------------------------------

def test_quoting_matches_tahoe(tahoe_ref_venv):
    """Our quote_output/quote_path give what Tahoe-LAFS 1.20's give, for
    names with every kind of awkward character."""
    rng = random.Random(1)
    alphabet = ("abc ' \" $ ` \\ \n \t \x00 \x7f \u00a0 \u00e9 \u2603 \ud7ff \ue000 \ufdd0 "
                "\ufdf0 \ufffc \ufffd \U0001f600").split(" ") + [" "]
    texts = ["", "plain", '"starts with a quote', "it's", "a\nb"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(300)]
    script = (
        "import json, sys\n"
        "from allmydata.util.encodingutil import quote_output, quote_path\n"
        "texts = json.load(sys.stdin)\n"
        "out = [[quote_output(t, quotemarks=q, encoding='utf-8') for q in (False, True)]"
        " + [quote_path(t.split('/'), quotemarks=q) for q in (False, True)] for t in texts]\n"
        "json.dump(out, sys.stdout)\n")
    proc = subprocess.run([os.path.join(tahoe_ref_venv, "bin", "python"), "-c", script],
                          input=json.dumps(texts), capture_output=True, text=True, timeout=120,
                          check=True, env=refvenv.clean_env({"PYTHONIOENCODING": "utf-8"}))
    expected = json.loads(proc.stdout)
    for text, want in zip(texts, expected, strict=True):
        got = [quote_output(text, quotemarks=q, encoding="utf-8") for q in (False, True)]
        got += [quote_path(text.split("/"), quotemarks=q, encoding="utf-8") for q in (False, True)]
        assert got == want, repr(text)
