"""Serving one file node (immutable or mutable): ``GET /uri/$FILECAP`` and friends.

* ``t=`` (empty): the bytes, streamed by ``node.read(request, offset, size)``
  with the request as the consumer, so only the segments needed are fetched
  and memory does not grow with the file.  A single ``Range: bytes=`` range
  gives a 206 with ``Content-Range``; a range starting at or past the end is
  a 416; a malformed or multi-range header is ignored (the whole file, 200),
  one with characters outside ASCII is a 400.
  ``filename=`` picks the Content-Type, ``save=true`` adds an attachment
  Content-Disposition.  HEAD answers the same headers and fetches nothing.
* ``t=json``, ``t=info``, ``t=uri``, ``t=readonly-uri``.
* ``POST ?t=check`` (``verify=``, ``repair=``, ``add-lease=``,
  ``output=JSON``): :func:`allmydata.web.check_results.post_check`.
* Mutable files: the size is asked of the grid first (the newest version);
  ``PUT`` to a write cap overwrites the file (the spooled body is handed to
  the node as a file, never read whole here), ``PUT ?offset=N`` writes in
  place (MDMF touches only the segments concerned); ``POST ?t=upload``
  replaces the contents with the form's ``file``.  A read cap refuses
  writes with a 400.

:class:`UnknownNodeHandler` answers for caps this version cannot use
(``t=json`` and ``t=info`` only), as Tahoe-LAFS does.
"""

import mimetypes
import urllib.parse

from twisted.web import http, resource

from ..dirnode_format import new_name
from ..util import base32
from .check_results import post_check
from .common import (
    ErrorResource,
    NodeHandler,
    RangeNotSatisfiable,
    WebError,
    ascii_decimal,
    check_when_done,
    get_arg,
    get_bool_arg,
    get_offset_arg,
    redirect_when_done,
    render_json,
    render_text,
)
from .forms import get_form, open_part
from .info import render_info
from .nodehelpers import upload_fileobj, write_uri_of

DEFAULT_CONTENT_TYPE = "text/plain"
_ENCODING_TYPES = {"gzip": "application/gzip", "bzip2": "application/x-bzip2",
                   "xz": "application/x-xz", "compress": "application/x-compress",
                   "br": "application/x-brotli"}


def parse_range(header, size: int):
    """``(offset, length)`` for a single ``Range: bytes=`` range of a file
    of ``size`` bytes, or None to send the whole file (no header, another
    unit, several ranges, or a malformed one).  Raises
    :class:`RangeNotSatisfiable` when the range starts at or past the end,
    and :class:`WebError` (400) for a header that is not ASCII."""
    if not header:
        return None
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    if not header.isascii():
        # Not a range a client could mean: refused rather than ignored, so
        # that the client learns its header is broken.
        raise WebError("the Range header is not ASCII (a byte range is written with the "
                       "digits 0-9): %r" % header[:60])
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or (not first and not last):
        return None
    # ASCII digits only (str.isdigit() and int() also take other scripts'
    # digits and superscripts); huge numbers come back as "past any file"
    start = ascii_decimal(first) if first else None
    end = ascii_decimal(last) if last else None
    if (first and start is None) or (last and end is None):
        return None
    if start is None:
        if end == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        suffix = min(end, size)
        return size - suffix, suffix
    if end is not None and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(size)
    end = min(end, size - 1) if end is not None else size - 1
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
    """The ``format`` of ``t=json``: CHK for every immutable file (LIT too),
    SDMF or MDMF for a mutable one (from its cap)."""
    if not node.is_mutable():
        return "CHK"
    cap = node.get_readonly_uri() or node.get_uri() or b""
    return "MDMF" if cap.startswith(b"URI:MDMF") else "SDMF"


def _text(cap):
    if cap is None:
        return None
    return cap.decode("ascii") if isinstance(cap, bytes) else cap


def filenode_info(node, size=None) -> dict:
    """The dict of ``["filenode", {...}]``: mutable, format, size (when
    known), ro_uri, rw_uri (mutable and writeable only), verify_uri (not for
    LIT files)."""
    info = {"mutable": bool(node.is_mutable()), "format": file_format(node),
            "ro_uri": _text(node.get_readonly_uri())}
    if size is None:
        size = node.get_size()
    if size is not None:
        info["size"] = size
    verifier = node.get_verify_cap()
    if verifier is not None:
        info["verify_uri"] = _text(verifier.to_string())
    if node.is_mutable():
        rw = write_uri_of(node)
        if rw:
            info["rw_uri"] = _text(rw)
    return info


def filenode_json(node, size=None, metadata=None) -> list:
    """``["filenode", {...}]`` as ``t=json`` shows a file (``metadata`` only
    when the file was reached through a directory)."""
    info = filenode_info(node, size)
    if metadata is not None:
        info["metadata"] = metadata
    return ["filenode", info]


def unknown_json(node, metadata=None) -> list:
    info = {}
    rw = write_uri_of(node)
    if rw:
        info["rw_uri"] = _text(rw)
    ro = node.get_readonly_uri()
    if ro is not None:
        info["ro_uri"] = _text(ro)
    if metadata is not None:
        info["metadata"] = metadata
    return ["unknown", info]


def etag_for(node):
    si = node.get_storage_index()
    if si is None or node.is_mutable():
        return None
    return b'"%s"' % base32.b2a(si)


async def current_size(node):
    """The size of a file: known at once for immutable files, asked of the
    grid (the newest version) for mutable ones."""
    size = node.get_size()
    if node.is_mutable():
        size = await node.get_current_size()
    return size


class FileNodeHandler(NodeHandler):
    """One file node, immutable or mutable.

    ``filename`` (from ``/named/`` paths or the child's name in a directory)
    sets the Content-Type; ``named`` makes further path segments rename the
    file instead of being refused as children.  ``parent`` and ``metadata``
    are set when the file was reached through a directory: ``t=json`` then
    shows the link's metadata, and ``POST t=upload`` to an immutable file
    replaces the link with a new file."""

    def __init__(self, client, node, filename=None, named=False, parent=None, metadata=None):
        resource.Resource.__init__(self)
        self._client = client
        self._node = node
        self._filename = filename
        self._named = named
        self._parent = parent
        self._metadata = metadata

    def getChild(self, name, request):
        if self._named:
            if not name:
                return self
            return FileNodeHandler(self._client, self._node, name.decode("utf-8", "replace"), True)
        if name == b"" and not request.postpath:
            return self
        return ErrorResource(WebError("Files have no children (asked for %r)"
                                      % name.decode("utf-8", "replace")))

    def handle(self, request, method):
        """bytes, a Deferred or a coroutine answering ``method``."""
        if method in (b"GET", b"HEAD"):
            return self._render(request, head=(method == b"HEAD"))
        if method == b"PUT":
            return self._put(request)
        if method == b"POST":
            return self._post(request)
        raise WebError("%s is not allowed on a file" % method.decode("ascii", "replace"), 405)

    def _render(self, request, head):
        t = get_arg(request, "t", "")
        if t == "":
            if self._node.is_mutable():
                return self._download_mutable(request, head)
            return self._download(request, head, self._node.get_size())
        if t == "json":
            return self._json(request)
        if t == "info":
            return render_info(request, self._client, self._node)
        if t == "uri":
            return render_text(request, self._node.get_uri())
        if t == "readonly-uri":
            return render_text(request, self._node.get_readonly_uri())
        raise WebError("GET file: bad t=%s" % t)

    async def _json(self, request):
        size = None
        if self._node.is_mutable():
            # the size now on the grid: a size this node remembers may be old
            try:
                size = await self._node.get_current_size()
            except Exception:  # noqa: BLE001 -- an unreadable file has no size to show
                size = None
        return render_json(request, filenode_json(self._node, size, self._metadata))

    async def _download_mutable(self, request, head):
        size = await self._node.get_current_size()
        body = self._download(request, head, size)
        if isinstance(body, bytes):  # HEAD, or nothing to send
            return body
        return await body

    def _download(self, request, head, size):
        """The answer's headers, then bytes (nothing to stream: HEAD, an
        empty range, a cache hit) or a Deferred that streams the range."""
        node = self._node
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

    def _writeable(self, what):
        if not self._node.is_mutable():
            raise WebError("this file is immutable: it cannot be changed (%s); upload a new "
                           "one with PUT /uri, or PUT to its name in a directory" % what)
        if write_uri_of(self._node) is None:
            raise WebError("this is a read-only cap of a mutable file: %s needs its write cap"
                           % what)

    async def _put(self, request):
        t = get_arg(request, "t", "")
        if t:
            raise WebError("PUT to a file: bad t=%s" % t)
        offset = get_offset_arg(request)
        self._writeable("PUT")
        await replace_contents(self._node, request.content, offset)
        return render_text(request, self._node.get_uri())

    async def _post(self, request):
        form = await get_form(request)
        check_when_done(request)
        t = get_arg(request, "t", "")
        if t == "check":
            return await post_check(request, self._client, self._node)
        if t != "upload":
            raise WebError("POST to a file: bad t=%s" % t)
        part = form.get_part("file")
        if part is None:
            raise WebError("POST t=upload needs a multipart/form-data body with a 'file' field")
        body = open_part(request, part)
        if self._node.is_mutable():
            self._writeable("t=upload")
            await replace_contents(self._node, body, None)
            cap = self._node.get_uri()
        elif self._parent is not None:
            new_name(self._filename)    # a link of a name no new link may have: not replaced
            results = await upload_fileobj(self._client, body)
            cap = results.get_uri() if hasattr(results, "get_uri") else results.uri
            await self._parent.set_uri(self._filename, cap, cap, overwrite=True)
        else:
            self._writeable("t=upload")
        return finish_post(request, cap)


async def replace_contents(node, fileobj, offset):
    """Overwrite a mutable file with ``fileobj`` (a seekable file, handed to
    the node as it is: an MDMF node streams it segment by segment), or write
    it in place at ``offset``."""
    fileobj.seek(0)
    if offset is None:
        await node.overwrite(fileobj)
    else:
        await node.write_at(offset, fileobj.read())


def finish_post(request, cap, default=None) -> bytes:
    """The answer of a POST that changed something: a redirect to
    ``when_done=`` (``%(uri)s`` replaced by the escaped cap; only to a path
    on this node), else the cap (or ``default``) as text."""
    when_done = get_arg(request, "when_done")
    if when_done:
        return redirect_when_done(request, when_done, cap)
    return render_text(request, cap if default is None else default)


class UnknownNodeHandler(NodeHandler):
    """A cap this version cannot use: only ``t=json`` and ``t=info``."""

    isLeaf = True

    def __init__(self, client, node, metadata=None):
        resource.Resource.__init__(self)
        self._client = client
        self._node = node
        self._metadata = metadata

    def handle(self, request, method):
        reason = getattr(self._node, "reason", "unknown cap format")
        if method not in (b"GET", b"HEAD"):
            # 405, as Tahoe-LAFS answers: nothing but reading is possible here
            raise WebError("%s to an unknown URI type: this node cannot use this cap (%s)"
                           % (method.decode("ascii", "replace"), reason), 405)
        t = get_arg(request, "t", "")
        if t == "json":
            return render_json(request, unknown_json(self._node, self._metadata))
        if t == "info":
            return render_info(request, self._client, self._node)
        raise WebError("GET unknown URI type: can only do t=info and t=json, not t=%s.\n"
                       "This node cannot use this cap (%s)." % (t, reason))
