"""Serving one immutable file node: ``GET /uri/$FILECAP`` and friends.

* ``t=`` (empty): the bytes, streamed by ``node.read(request, offset, size)``
  with the request as the consumer, so only the segments needed are fetched
  and memory does not grow with the file.  A single ``Range: bytes=`` range
  gives a 206 with ``Content-Range``; a range starting at or past the end is
  a 416; a malformed or multi-range header is ignored (the whole file, 200).
  ``filename=`` picks the Content-Type, ``save=true`` adds an attachment
  Content-Disposition.  HEAD answers the same headers and fetches nothing.
* ``t=json``, ``t=info``, ``t=uri``, ``t=readonly-uri``.

:class:`UnknownNodeHandler` answers for caps this version cannot use
(``t=json`` and ``t=info`` only), as Tahoe-LAFS does.
"""

import mimetypes
import urllib.parse

from twisted.web import http, resource

from ..util import base32
from .common import (
    ErrorResource,
    RangeNotSatisfiable,
    WebError,
    async_render,
    get_arg,
    get_bool_arg,
    render_json,
    render_text,
)

DEFAULT_CONTENT_TYPE = "text/plain"
_ENCODING_TYPES = {"gzip": "application/gzip", "bzip2": "application/x-bzip2",
                   "xz": "application/x-xz", "compress": "application/x-compress",
                   "br": "application/x-brotli"}


def parse_range(header, size: int):
    """``(offset, length)`` for a single ``Range: bytes=`` range of a file
    of ``size`` bytes, or None to send the whole file (no header, another
    unit, several ranges, or a malformed one).  Raises
    :class:`RangeNotSatisfiable` when the range starts at or past the end."""
    if not header:
        return None
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        suffix = min(suffix, size)
        return size - suffix, suffix
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(size)
    end = min(int(last), size - 1) if last else size - 1
    return start, end - start + 1


def content_type_for(filename) -> str:
    if not filename:
        return DEFAULT_CONTENT_TYPE
    ctype, encoding = mimetypes.guess_type(filename, strict=False)
    if encoding:
        return _ENCODING_TYPES.get(encoding, "application/octet-stream")
    return ctype or DEFAULT_CONTENT_TYPE


def content_disposition(filename) -> bytes:
    """``attachment; filename="..."`` with an RFC 6266 ``filename*`` for
    names that are not plain ASCII."""
    filename = filename or "download"
    ascii_name = "".join(c if 0x20 <= ord(c) < 0x7f and c not in '"\\' else "_" for c in filename)
    value = 'attachment; filename="%s"' % ascii_name
    if ascii_name != filename:
        value += "; filename*=utf-8''%s" % urllib.parse.quote(filename, safe="")
    return value.encode("ascii")


def file_format(node) -> str:
    """The ``format`` of ``t=json``: CHK for every immutable file (LIT too)."""
    return "CHK"


def _text(cap):
    if cap is None:
        return None
    return cap.decode("ascii") if isinstance(cap, bytes) else cap


def filenode_json(node) -> list:
    """``["filenode", {...}]`` as ``t=json`` shows an immutable file."""
    info = {"mutable": bool(node.is_mutable()), "format": file_format(node),
            "ro_uri": _text(node.get_readonly_uri())}
    size = node.get_size()
    if size is not None:
        info["size"] = size
    verifier = node.get_verify_cap()
    if verifier is not None:
        info["verify_uri"] = _text(verifier.to_string())
    if node.is_mutable() and not node.is_readonly():
        info["rw_uri"] = _text(node.get_uri())
    return ["filenode", info]


def unknown_json(node) -> list:
    info = {}
    ro = node.get_readonly_uri()
    if ro is not None:
        info["ro_uri"] = _text(ro)
    return ["unknown", info]


def etag_for(node):
    si = node.get_storage_index()
    if si is None or node.is_mutable():
        return None
    return b'"%s"' % base32.b2a(si)


class FileNodeHandler(resource.Resource):
    """One immutable file node.  ``filename`` (from ``/named/`` paths) sets
    the Content-Type; ``named`` makes further path segments rename the file
    instead of being refused as children."""

    def __init__(self, client, node, filename=None, named=False):
        resource.Resource.__init__(self)
        self._client = client
        self._node = node
        self._filename = filename
        self._named = named

    def getChild(self, name, request):
        if self._named:
            if not name:
                return self
            return FileNodeHandler(self._client, self._node, name.decode("utf-8", "replace"), True)
        if name == b"" and not request.postpath:
            return self
        return ErrorResource(WebError("Files have no children (asked for %r)"
                                      % name.decode("utf-8", "replace")))

    @async_render
    def render_GET(self, request):
        return self._render(request, head=False)

    @async_render
    def render_HEAD(self, request):
        return self._render(request, head=True)

    @async_render
    def render_PUT(self, request):
        raise WebError("this file is immutable: it cannot be overwritten (upload a new one "
                       "with PUT /uri)")

    @async_render
    def render_POST(self, request):
        t = get_arg(request, "t", "")
        raise WebError("POST to a file: t=%s is not supported" % t)

    def _render(self, request, head):
        t = get_arg(request, "t", "")
        if t == "":
            return self._download(request, head)
        if t == "json":
            return render_json(request, filenode_json(self._node))
        if t == "info":
            from .info import render_info
            return render_info(request, self._client, self._node)
        if t == "uri":
            return render_text(request, self._node.get_uri())
        if t == "readonly-uri":
            return render_text(request, self._node.get_readonly_uri())
        raise WebError("GET file: bad t=%s" % t)

    def _download(self, request, head):
        node = self._node
        size = node.get_size()
        filename = get_arg(request, "filename") or self._filename
        request.setHeader(b"Content-Type", content_type_for(filename).encode("ascii"))
        request.setHeader(b"Accept-Ranges", b"bytes")
        if get_bool_arg(request, "save", False):
            request.setHeader(b"Content-Disposition", content_disposition(filename))
        etag = etag_for(node)
        if etag is not None and request.setETag(etag) == http.CACHED:
            return b""
        wanted = parse_range(request.getHeader(b"range"), size)
        if wanted is None:
            offset, length = 0, size
        else:
            offset, length = wanted
            request.setResponseCode(http.PARTIAL_CONTENT)
            request.setHeader(b"Content-Range",
                              b"bytes %d-%d/%d" % (offset, offset + length - 1, size))
        request.setHeader(b"Content-Length", b"%d" % length)
        if head or length == 0:
            return b""
        d = node.read(request, offset, length)
        d.addCallback(lambda _: None)
        return d


class UnknownNodeHandler(resource.Resource):
    """A cap this version cannot use: only ``t=json`` and ``t=info``."""

    isLeaf = True

    def __init__(self, client, node):
        resource.Resource.__init__(self)
        self._client = client
        self._node = node

    @async_render
    def render_GET(self, request):
        t = get_arg(request, "t", "")
        if t == "json":
            return render_json(request, unknown_json(self._node))
        if t == "info":
            from .info import render_info
            return render_info(request, self._client, self._node)
        raise WebError("GET unknown URI type: can only do t=info and t=json, not t=%s.\n"
                       "This node cannot use this cap (%s)." % (t, self._node.reason))

    render_HEAD = render_GET

    @async_render
    def render_PUT(self, request):
        raise WebError("PUT to an unknown URI type: this node cannot use this cap (%s)"
                       % self._node.reason)

    render_POST = render_PUT
