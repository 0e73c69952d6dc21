"""HTML form bodies (``multipart/form-data``), read where Twisted spooled them.

A browser upload (``POST /uri?t=upload``) arrives as one multipart body,
which Twisted writes to ``request.content`` (a temporary file for anything
over 100 kB).  Rather than parse that into memory, :func:`scan_multipart`
finds the part boundaries in one streaming pass with bounded memory, and
returns each part as a region of that same file.  A :class:`FileRegion` is a
read-only, seekable file object over such a region: the uploader reads the
uploaded file from it without a copy.

:func:`get_form` does this once per request (in a thread: a large body takes
a while to scan), copies the small fields without a filename into
``request.args`` so that ``get_arg`` sees them, and keeps the parts.
"""

import codecs
import io
import re
import urllib.parse

import attrs
from twisted.internet import threads

from .common import WebError

CHUNK_SIZE = 256 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 1000


class MultipartError(WebError):
    """A multipart body that cannot be parsed (400)."""


@attrs.frozen
class Part:
    """One part of a multipart body: ``[start, end)`` of the body file."""

    name: str
    filename: str | None
    content_type: str | None
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


class FileRegion(io.RawIOBase):
    """A read-only file over ``[start, end)`` of a seekable file object.

    It seeks the underlying file before every read, so it does not matter
    who else moved its position in between (as long as nobody reads it
    concurrently from another thread)."""

    def __init__(self, fileobj, start: int, end: int):
        io.RawIOBase.__init__(self)
        if not 0 <= start <= end:
            raise ValueError("bad region [%d, %d)" % (start, end))
        self._f = fileobj
        self._start = start
        self._end = end
        self._pos = 0

    @property
    def size(self) -> int:
        return self._end - self._start

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError("bad whence %r" % (whence,))
        if pos < 0:
            raise ValueError("negative seek position %d" % pos)
        self._pos = pos
        return pos

    def read(self, size=-1):
        if self.closed:
            raise ValueError("read from a closed FileRegion")
        left = self.size - self._pos
        if size is None or size < 0 or size > left:
            size = left
        if size <= 0:
            return b""
        self._f.seek(self._start + self._pos)
        data = self._f.read(size)
        self._pos += len(data)
        return data

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readall(self):
        return self.read(-1)


def boundary_of(content_type) -> bytes:
    """The ``boundary=`` parameter of a multipart Content-Type header."""
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    params = _params(";" + content_type.split(";", 1)[1]) if ";" in content_type else {}
    boundary = params.get("boundary")
    if not boundary or len(boundary) > 200:
        raise MultipartError("the multipart Content-Type has no usable boundary= parameter")
    return boundary.encode("latin-1")


_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _params(text: str) -> dict:
    out = {}
    for m in _PARAM.finditer(text):
        key, value = m.group(1).lower(), m.group(2).strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out[key] = value
    return out


def _parse_part_headers(block: bytes) -> tuple[str, str | None, str | None]:
    headers = {}
    for line in block.decode("utf-8", "replace").split("\r\n"):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MultipartError("a multipart part has a malformed header line: %r" % line[:100])
        headers[name.strip().lower()] = value.strip()
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise MultipartError("a multipart part has no Content-Disposition header")
    params = _params(";" + disposition.split(";", 1)[1]) if ";" in disposition else {}
    name = params.get("name")
    if name is None:
        raise MultipartError("a multipart part has no name= in its Content-Disposition")
    filename = params.get("filename")
    star = params.get("filename*")
    if star and star.count("'") >= 2:
        charset, _language, encoded = star.split("'", 2)
        codec = _text_codec(charset or "utf-8")
        try:
            filename = urllib.parse.unquote(encoded, encoding=codec, errors="replace")
        except (UnicodeError, ValueError) as e:    # a codec without the "replace" handler
            raise MultipartError("a multipart part's filename* cannot be decoded as %s: %s"
                                 % (codec, e)) from None
    return name, filename, headers.get("content-type")


# the characters RFC 8187 allows in a charset name
_CHARSET_NAME = re.compile(r"[A-Za-z0-9!#$%&+^_`{}~-]+")


def _text_codec(charset: str) -> str:
    """The name of Python's codec for the charset of an RFC 8187 parameter
    (``filename*=charset'language'value``): only a text encoding is used,
    any other (unknown, or a bytes-to-bytes codec such as ``hex``) is a 400."""
    info = None
    if _CHARSET_NAME.fullmatch(charset):
        try:
            info = codecs.lookup(charset)
        except LookupError:
            pass
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise MultipartError("a multipart part's filename* names an unknown charset %r (use "
                             "UTF-8)" % charset[:40])
    return info.name


def find_delimiters(fileobj, boundary: bytes, chunk_size: int = CHUNK_SIZE) -> list[int]:
    """Offsets in the body where each ``CRLF--boundary`` begins, in one
    streaming pass.  The body is read as if preceded by CRLF, so a first
    delimiter at the very start of the body is reported at offset -2."""
    delim = b"\r\n--" + boundary
    fileobj.seek(0)
    buf = b"\r\n"
    buf_offset = -2  # body offset of buf[0]
    found = []
    while True:
        data = fileobj.read(chunk_size)
        buf += data
        i = buf.find(delim)
        next_search = 0
        while i != -1:
            found.append(buf_offset + i)
            if len(found) > MAX_PARTS + 1:
                raise MultipartError("the multipart body has more than %d parts" % MAX_PARTS)
            next_search = i + len(delim)
            i = buf.find(delim, next_search)
        if not data:
            return found
        keep = max(next_search, len(buf) - (len(delim) - 1))
        buf = buf[keep:]
        buf_offset += keep


def scan_multipart(fileobj, boundary: bytes, chunk_size: int = CHUNK_SIZE) -> list[Part]:
    """The parts of a multipart body held in a seekable file."""
    delim_len = len(boundary) + 4
    offsets = find_delimiters(fileobj, boundary, chunk_size)
    if not offsets:
        raise MultipartError("the multipart body does not contain its boundary")
    parts = []
    for k, offset in enumerate(offsets):
        after = offset + delim_len
        fileobj.seek(after)
        head = fileobj.read(MAX_HEADER_BYTES + 4)
        if head.startswith(b"--"):
            return parts  # the close delimiter; what follows is the epilogue
        line_end = head.find(b"\r\n")
        if line_end == -1 or head[:line_end].strip(b" \t"):
            raise MultipartError("a multipart boundary line is malformed")
        rest = head[line_end + 2:]
        if rest.startswith(b"\r\n"):
            block, content_start = b"", after + line_end + 4
        else:
            end = rest.find(b"\r\n\r\n")
            if end == -1:
                raise MultipartError("the headers of a multipart part are too long or truncated")
            block, content_start = rest[:end], after + line_end + 2 + end + 4
        if k + 1 >= len(offsets):
            raise MultipartError("the multipart body is truncated: its closing boundary is missing")
        content_end = offsets[k + 1]
        if content_end < content_start:
            raise MultipartError("a multipart part overlaps the next boundary")
        name, filename, ctype = _parse_part_headers(block)
        parts.append(Part(name, filename, ctype, content_start, content_end))
    raise MultipartError("the multipart body is truncated: its closing boundary is missing")


@attrs.define
class Form:
    """The parts of a posted form; small plain fields are also in request.args."""

    parts: list

    def get_part(self, name) -> Part | None:
        for p in self.parts:
            if p.name == name:
                return p
        return None


def _scan_and_read_fields(fileobj, content_type):
    parts = scan_multipart(fileobj, boundary_of(content_type))
    fields = []
    for p in parts:
        if p.filename is None and p.size <= MAX_FIELD_BYTES:
            fileobj.seek(p.start)
            fields.append((p.name, fileobj.read(p.size)))
    return parts, fields


async def get_form(request) -> Form:
    """The form of a POST, parsed once per request.  For a multipart body
    the small fields without a filename are added to ``request.args`` (after
    the query arguments)."""
    form = getattr(request, "_tahoe_form", None)
    if form is not None:
        return form
    ctype = request.getHeader(b"content-type") or b""
    if ctype.strip().lower().startswith(b"multipart/form-data"):
        parts, fields = await threads.deferToThread(_scan_and_read_fields, request.content, ctype)
        for name, value in fields:
            request.args.setdefault(name.encode("utf-8"), []).append(value)
        form = Form(parts)
    else:
        form = Form([])
    request._tahoe_form = form
    return form


def open_part(request, part: Part) -> FileRegion:
    """A file object reading one part of the request's body."""
    return FileRegion(request.content, part.start, part.end)
