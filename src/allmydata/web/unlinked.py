"""Uploads of files that are not linked into any directory ("unlinked"):
``PUT /uri`` (the body is the file) and ``POST /uri?t=upload`` (an HTML form
with a ``file`` field).

Neither reads the file into memory: Twisted has spooled the request body to
``request.content`` (a temporary file when large); the uploader reads it
from there through a ``FileHandle`` -- the whole body for PUT, the region of
the ``file`` part for a form (see :mod:`allmydata.web.forms`).

Only immutable (CHK, or LIT for tiny files) uploads exist so far:
``format=SDMF|MDMF`` and ``mutable=true`` are refused with a 400.
"""

import os
import urllib.parse

from twisted.python.filepath import FilePath
from twisted.web.template import Element, XMLFile, flattenString, renderer, tags

from .common import (
    WebError,
    get_arg,
    get_bool_arg,
    get_format_arg,
    redirect,
    render_text,
    wants_plain_text,
)
from .forms import get_form, open_part
from .info import TEMPLATES, cap_url


def _check_format(request):
    fmt = get_format_arg(request)
    if fmt != "CHK":
        raise WebError("format=%s is not supported yet: this node can only upload immutable "
                       "(CHK) files so far" % fmt)


def _cap_text(cap) -> str:
    return cap.decode("ascii") if isinstance(cap, bytes) else cap


async def upload_fileobj(client, fileobj):
    """Upload from a seekable file object; the UploadResults."""
    from ..immutable.upload import FileHandle
    fileobj.seek(0)
    return await client.upload(FileHandle(fileobj, client.get_convergence_secret()))


async def put_unlinked(client, request) -> bytes:
    """``PUT /uri``: the body is the file; answers its cap as text/plain."""
    _check_format(request)
    results = await upload_fileobj(client, request.content)
    return render_text(request, results.uri)


class UploadResultsElement(Element):
    loader = XMLFile(FilePath(os.path.join(TEMPLATES, "upload-results.xhtml")))

    def __init__(self, cap: str, size, filename):
        Element.__init__(self)
        self._cap = cap
        self._size = size
        self._filename = filename

    @renderer
    def results(self, request, tag):
        url = cap_url(self._cap)
        items = [tags.li("Cap: ", tags.code(self._cap)),
                 tags.li("Download link: ", tags.a(url, href=url, rel="noreferrer"))]
        if self._filename:
            named = "/named/%s/%s" % (urllib.parse.quote(self._cap, safe=""),
                                      urllib.parse.quote(self._filename, safe=""))
            items.append(tags.li("Link with its name: ", tags.a(named, href=named, rel="noreferrer")))
        if self._size is not None:
            items.append(tags.li("Size: %d bytes" % self._size))
        return tag(*items)


async def post_upload(client, request) -> bytes:
    """``POST /uri?t=upload``: the form's ``file`` field.  Answers a redirect
    (``when_done=``, with ``%(uri)s`` replaced by the escaped cap, or
    ``redirect_to_result=true``), the cap as text/plain (``Accept:
    text/plain``), or an HTML results page."""
    form = await get_form(request)
    _check_format(request)
    part = form.get_part("file")
    if part is None:
        raise WebError("POST /uri?t=upload needs a multipart/form-data body with a 'file' field")
    results = await upload_fileobj(client, open_part(request, part))
    cap = _cap_text(results.uri)
    when_done = get_arg(request, "when_done")
    if when_done:
        return redirect(request, when_done.replace("%(uri)s", urllib.parse.quote(cap, safe="")))
    if get_bool_arg(request, "redirect_to_result", False):
        return redirect(request, cap_url(cap))
    if wants_plain_text(request):
        return render_text(request, cap)
    size = getattr(results, "file_size", None)
    if size is None:
        size = part.size
    request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
    html = await flattenString(request, UploadResultsElement(cap, size, part.filename))
    return b"<!DOCTYPE html>\n" + html
