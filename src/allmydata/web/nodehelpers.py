"""Small helpers shared by the web pages of nodes (files, directories,
unlinked uploads, info pages and listings).

They sit below every page module, which may all import them: whether a node
is a directory (asked of :class:`~allmydata.dirnode_interfaces.IDirectoryNode`,
so the web layer needs no directory class for it), a node's write cap, the
URL of a cap, where the page templates are, reading a request's body, the
children JSON of ``mkdir-with-children`` and ``set_children``, and an
immutable upload from a file.
"""

import os
import urllib.parse

from ..dirnode_format import new_name
from ..dirnode_interfaces import IDirectoryNode
from ..immutable.upload import FileHandle
from .common import WebError, text_of
from .jsonbody import parse_json_body

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


def is_dirnode(node) -> bool:
    """Whether ``node`` is a directory."""
    return IDirectoryNode.providedBy(node)


def write_uri_of(node):
    """The write cap of a node (bytes), or None for a read-only one."""
    get_write_uri = getattr(node, "get_write_uri", None)
    if get_write_uri is not None:
        return get_write_uri() or None
    if node.is_readonly():
        return None
    return node.get_uri()


def cap_url(cap) -> str:
    """``/uri/<escaped cap>``."""
    text = cap.decode("utf-8", "replace") if isinstance(cap, bytes) else text_of(cap)
    return "/uri/" + urllib.parse.quote(text, safe="")


def read_body(request) -> bytes:
    """The whole (spooled) body of a request."""
    request.content.seek(0)
    return request.content.read()


def parse_children_json(client, body: bytes, deep_immutable=False) -> dict:
    """``{name: (node, metadata)}`` from the ``{name: [type, {rw_uri, ro_uri,
    metadata}]}`` JSON of mkdir-with-children and set_children."""
    data = parse_json_body(body or b"{}", "the JSON of a set of children")
    if not isinstance(data, dict):
        raise WebError("the children JSON must be an object {name: [type, {...}]}")
    out = {}
    for name, value in data.items():
        new_name(name)      # BadChildNameError (400) before any node is made
        if (not isinstance(value, list) or len(value) != 2 or not isinstance(value[1], dict)):
            raise WebError("child %r: expected [type, {rw_uri, ro_uri, metadata}]" % name)
        info = value[1]
        rw, ro = info.get("rw_uri"), info.get("ro_uri")
        metadata = info.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise WebError("child %r: metadata must be an object" % name)
        node = client.create_node_from_uri(_caparg(rw), _caparg(ro),
                                           deep_immutable=deep_immutable, name=name)
        # a cap that may not go where it is asked to go (a mutable one in an
        # immutable directory ...) is refused now, before anything is made
        getattr(node, "raise_error", lambda: None)()
        out[name] = (node, metadata)
    return out


def _caparg(cap):
    if cap is None or cap == "":
        return None
    if not isinstance(cap, str):
        raise WebError("caps in the children JSON must be strings, not %r" % (cap,))
    return cap.encode("utf-8")


async def upload_fileobj(client, fileobj):
    """Upload an immutable file from a seekable file object; the UploadResults."""
    fileobj.seek(0)
    return await client.upload(FileHandle(fileobj, client.get_convergence_secret()))
