"""A grid of real nodes in this process, and a small HTTP client for
talking to it on the same reactor.

:func:`start_grid` builds node directories with ``tahoe create-node`` /
``create-client`` (run in-process), points the client at the storage nodes
through ``private/servers.yaml``, builds every node with
:func:`allmydata.node.create_node`, starts them on this reactor and waits
until the client is connected to all the storage servers.  Everything
listens on 127.0.0.1 only.

:func:`http_request` is a Twisted ``Agent`` request (never a blocking call:
the node answers in this same reactor thread).
"""

import io
import os

import attrs
from foolscap.api import fireEventually
from twisted.internet import reactor
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers

from allmydata.node import create_node
from allmydata.scripts.runner import main
from allmydata.util import base32

from .nodeconfig import StorageNode, edit_config, write_servers_yaml
from .waiting import eventually


@attrs.define
class Grid:
    root: str
    storage_nodes: list
    storage_dirs: list
    client_node: object
    client_dir: str
    url: str  # ends with "/"

    @property
    def client(self):
        return self.client_node.client

    def share_files(self, storage_index: bytes) -> list[str]:
        """Paths of every share of one storage index, on every storage node."""
        si = base32.b2a(storage_index).decode("ascii")
        out = []
        for d in self.storage_dirs:
            sdir = os.path.join(d, "storage", "shares", si[:2], si)
            if os.path.isdir(sdir):
                out.extend(os.path.join(sdir, name) for name in sorted(os.listdir(sdir)))
        return out

    async def stop(self):
        for node in [self.client_node] + self.storage_nodes:
            if node.running:
                await node.stopService()
        await fireEventually()


async def start_grid(root, storage_count=4, needed=2, happy=3, total=4,
                     max_segment_size=None) -> Grid:
    root = str(root)
    storage_nodes, storage_dirs, servers = [], [], []
    started = []
    try:
        for i in range(storage_count):
            d = os.path.join(root, "storage%d" % i)
            assert main(["create-node", "--hostname", "127.0.0.1", "--webport", "none",
                         "--nickname", "storage%d" % i, d]) == 0
            edit_config(d, {"storage": {"reserved_space": "0"}})
            node = create_node(d, reactor)
            node.startService()
            started.append(node)
            storage_nodes.append(node)
            storage_dirs.append(d)
            servers.append(StorageNode("storage%d" % i, d, node.storage_server.furl))
        cdir = os.path.join(root, "client")
        assert main(["create-client", "--listen", "none", "--nickname", "client",
                     "--webport", "tcp:0:interface=127.0.0.1",
                     "--shares-needed", str(needed), "--shares-happy", str(happy),
                     "--shares-total", str(total), cdir]) == 0
        if max_segment_size:
            edit_config(cdir, {"client": {"shares._max_immutable_segment_size_for_testing":
                                          max_segment_size}})
        write_servers_yaml(cdir, servers)
        client = create_node(cdir, reactor)
        client.startService()
        started.append(client)
        broker = client.storage_broker
        await eventually(lambda: len(broker.get_connected_servers()) == storage_count, 30,
                         what="the client connected to %d storage servers" % storage_count)
        return Grid(root, storage_nodes, storage_dirs, client, cdir, client.web.url)
    except BaseException:
        for node in started:
            await node.stopService()
        raise


@attrs.frozen
class Response:
    code: int
    headers: Headers
    body: bytes
    length: int | None  # from Content-Length (Twisted's Agent keeps that header to itself)

    def header(self, name):
        values = self.headers.getRawHeaders(name.encode("latin-1") if isinstance(name, str) else name)
        return values[0].decode("latin-1") if values else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


async def http_request(method, url, body=None, headers=None) -> Response:
    """One request with Twisted's Agent; redirects are not followed."""
    h = Headers()
    for name, value in (headers or {}).items():
        h.addRawHeader(name.encode("latin-1") if isinstance(name, str) else name,
                       value.encode("latin-1") if isinstance(value, str) else value)
    producer = FileBodyProducer(io.BytesIO(body)) if body is not None else None
    if isinstance(url, str):
        url = url.encode("ascii")
    resp = await Agent(reactor).request(method.encode("ascii"), url, h, producer)
    data = await readBody(resp)
    length = resp.length if isinstance(resp.length, int) else None
    return Response(resp.code, resp.headers, data, length)


def multipart_body(fields, boundary="----tahoe-test-boundary-7MA4YWxkTrZu0gW"):
    """``(body, content_type)`` of a multipart/form-data body; ``fields`` is
    a list of ``(name, value)`` or ``(name, filename, value)``."""
    out = io.BytesIO()
    for field in fields:
        out.write(b"--" + boundary.encode("ascii") + b"\r\n")
        if len(field) == 2:
            name, value = field
            out.write(b'Content-Disposition: form-data; name="%s"\r\n\r\n' % name.encode())
        else:
            name, filename, value = field
            out.write(b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n'
                      b"Content-Type: application/octet-stream\r\n\r\n"
                      % (name.encode(), filename.encode("utf-8")))
        out.write(value if isinstance(value, bytes) else value.encode("utf-8"))
        out.write(b"\r\n")
    out.write(b"--" + boundary.encode("ascii") + b"--\r\n")
    return out.getvalue(), "multipart/form-data; boundary=" + boundary
