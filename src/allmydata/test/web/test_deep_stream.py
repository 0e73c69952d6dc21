"""``POST ?t=stream-manifest`` and ``?t=stream-deep-check`` (as Tahoe-LAFS 1.20's web
API streams them), against our client and Tahoe-LAFS 1.20's (the ``webapi``
fixture): one JSON object per line, every object of the tree once (checked
against a walk computed in the test from t=json listings), the last line the
deep-stats, and the ERROR: line when the walk cannot go on.  On ours alone:
the lines leave as the walk goes, and a client that stops reading stops the
walk (the request is its producer)."""

import json
import os
import socket

import pytest_twisted
from twisted.internet import defer, protocol, reactor

from allmydata.testing.waiting import eventually
from allmydata.util import base32
from allmydata.web import deep_stream

from .deeptree import CHECKED, EXPECTED_PATHS, EXPECTED_STATS, make_tree

LINE_KEYS = {"path", "cap", "type", "verifycap", "repaircap", "storage-index"}


def parse(body: bytes):
    text = body.decode("ascii")     # every line is ASCII JSON
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def check_lines(tree, lines, extra_key=None):
    *units, last = lines
    assert last["type"] == "stats" and set(last) == {"type", "stats"}
    for key, value in EXPECTED_STATS.items():
        assert last["stats"][key] == value, (key, last["stats"])
    by_path = {}
    for unit in units:
        assert set(unit) == LINE_KEYS | ({extra_key} if extra_key else set()), unit
        by_path[tuple(unit["path"])] = unit
    assert len(by_path) == len(units)      # each object once
    assert set(by_path) == EXPECTED_PATHS == set(tree.objects)
    for path, (kind, cap, verifycap) in tree.objects.items():
        unit = by_path[path]
        assert unit["type"] == kind, (path, unit)
        if kind != "unknown":
            assert unit["cap"] == cap
        assert unit["verifycap"] == verifycap
        assert unit["storage-index"] == (verifycap.split(":")[2] if verifycap else "")
        if kind == "directory":
            # a mutable directory is repaired with its write cap; an immutable one has no
            # repair cap (nor a LIT one)
            writeable = cap.startswith(("URI:DIR2:", "URI:DIR2-MDMF:"))
            assert unit["repaircap"] == (cap if writeable else ""), unit
    return by_path


@pytest_twisted.ensureDeferred
async def test_stream_manifest(webapi):
    tree = await make_tree(webapi)
    r = await webapi.post(webapi.path(tree.root, query="t=stream-manifest"))
    assert r.code == 200, r.text
    check_lines(tree, parse(r.body))
    # by path below a directory
    r = await webapi.post(webapi.path(tree.root, "sub", query="t=stream-manifest"))
    assert r.code == 200
    units = parse(r.body)
    assert [u["path"] for u in units[:-1]] == [[], ["inner"], ["back"], ["back", "chk"]] or \
        {tuple(u["path"]) for u in units[:-1]} >= {(), ("inner",), ("back",)}


@pytest_twisted.ensureDeferred
async def test_stream_deep_check(webapi):
    tree = await make_tree(webapi)
    for query in ("t=stream-deep-check", "t=stream-deep-check&verify=true&add-lease=true"):
        r = await webapi.post(webapi.path(tree.root, query=query))
        assert r.code == 200, r.text
        by_path = check_lines(tree, parse(r.body), "check-results")
        checked = [u for u in by_path.values() if u["check-results"]["storage-index"]]
        assert len(checked) == CHECKED
        for unit in by_path.values():
            results = unit["check-results"]
            assert results["storage-index"] == unit["storage-index"]
            if results["storage-index"]:
                assert results["summary"] == "Healthy"
                assert results["results"]["healthy"] is True
                assert results["results"]["count-shares-good"] == 4
            else:       # LIT objects and the unknown cap
                assert results == {"storage-index": "", "results": {"healthy": True}}
    r = await webapi.post(webapi.path(tree.root, query="t=stream-deep-check&repair=true"))
    assert r.code == 200
    by_path = check_lines(tree, parse(r.body), "check-and-repair-results")
    for unit in by_path.values():
        crr = unit["check-and-repair-results"]
        assert crr["storage-index"] == unit["storage-index"]
        assert crr["repair-attempted"] is False
        if crr["storage-index"]:
            assert crr["post-repair-results"]["results"]["healthy"] is True


@pytest_twisted.ensureDeferred
async def test_stream_bad_input(webapi):
    tree = await make_tree(webapi)
    for query in ("t=stream-deep-check&verify=perhaps", "t=stream-deep-check&repair=2"):
        r = await webapi.post(webapi.path(tree.root, query=query))
        webapi.expect(r, 400)
    chk = tree.objects[("chk",)][1]
    for t in ("stream-manifest", "stream-deep-check"):
        r = await webapi.post(webapi.path(chk, query="t=" + t))
        webapi.expect(r, 400)


@pytest_twisted.ensureDeferred
async def test_stream_error_line_when_a_directory_is_lost(webapi):
    if not webapi.ours:
        return      # needs the shares of a directory removed from the servers' disks
    tree = await make_tree(webapi)
    sub_verify = tree.objects[("sub",)][2]
    si = base32.a2b(sub_verify.split(":")[2].encode("ascii"))
    for path in webapi.grid.share_files(si):
        os.unlink(path)
    r = await webapi.post(webapi.path(tree.root, query="t=stream-manifest"))
    assert r.code == 200
    text = r.body.decode("utf-8")
    good, _, error = text.partition("ERROR: ")
    assert error, text
    lines = [json.loads(line) for line in good.splitlines()]
    assert lines[-1]["path"] == ["sub"]     # the directory that could not be read, last
    assert "stats" not in [u["type"] for u in lines]
    assert "Unrecoverable" in error.splitlines()[0] or "NotEnoughShares" in error \
        or "NoShares" in error


class _SlowReader(protocol.Protocol):
    """A client that sends a request, then reads nothing until told to."""

    def __init__(self, request: bytes):
        self._request = request
        self.received = bytearray()
        self.done = defer.Deferred()

    def connectionMade(self):
        self.transport.write(self._request)
        self.transport.pauseProducing()

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.done.callback(bytes(self.received))


@pytest_twisted.ensureDeferred
async def test_stream_waits_for_a_slow_client(webapi, monkeypatch):
    """With many objects and a client that does not read, the walk is
    paused (the node's send buffer is full) before it has visited
    everything; it goes on to the end once the client reads."""
    if not webapi.ours:
        return      # looks inside our node
    root = await webapi.mkdir("t=mkdir&format=MDMF")
    count = 4000
    children = {"f%05d-%s" % (i, "x" * 150): ["filenode", {"ro_uri": "URI:LIT:" + "m" * 80}]
                for i in range(count)}
    r = await webapi.post(webapi.path(root, query="t=set_children"),
                          json.dumps(children).encode())
    assert r.code == 200, r.text
    paused = []
    pause = deep_stream.StreamWalker.pauseProducing

    def counting_pause(walker):
        paused.append(walker)
        return pause(walker)
    monkeypatch.setattr(deep_stream.StreamWalker, "pauseProducing", counting_pause)
    host, port = webapi.url.split("//")[1].rstrip("/").split(":")
    request = ("POST /uri/%s?t=stream-manifest HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\n"
               "Connection: close\r\n\r\n" % (root.replace(":", "%3A"), host)).encode("ascii")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)     # a small window
    sock.connect((host, int(port)))
    sock.setblocking(False)
    client = _SlowReader(request)
    reactor.adoptStreamConnection(sock.fileno(), socket.AF_INET,
                                  protocol.Factory.forProtocol(lambda: client))
    sock.close()        # the reactor has its own copy of the descriptor
    await eventually(lambda: paused, 30, what="the walk paused for the client")
    assert client.received.count(b'"type": "file"') < count
    client.transport.resumeProducing()
    body = await client.done
    head, _, chunked = body.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert chunked.count(b'"type": "file"') == count and b'"type": "stats"' in chunked
