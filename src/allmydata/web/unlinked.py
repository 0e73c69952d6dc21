"""Uploads of files that are not linked into any directory ("unlinked"):
``PUT /uri`` (the body is the file) and ``POST /uri?t=upload`` (an HTML form
with a ``file`` field).

Neither reads the file into memory: Twisted has spooled the request body to
``request.content`` (a temporary file when large); the uploader reads it
from there through a ``FileHandle`` -- the whole body for PUT, the region of
the ``file`` part for a form (see :mod:`allmydata.web.forms`).

``format=SDMF|MDMF`` (or ``mutable=true``) makes a mutable file instead; the
spooled body is handed to the client's ``create_mutable_file`` as a file, so
an MDMF upload is read segment by segment, never whole.

``PUT /uri?t=mkdir`` and ``POST /uri?t=mkdir`` (``mkdir-with-children``,
``mkdir-immutable``) make unlinked directories: :func:`make_unlinked_directory`.
"""

import os
import urllib.parse

from twisted.python.filepath import FilePath
from twisted.web.template import Element, XMLFile, flattenString, renderer, tags

from .common import (
    WebError,
    check_when_done,
    get_arg,
    get_bool_arg,
    get_format_arg,
    mutable_version_of,
    redirect,
    redirect_when_done,
    render_text,
    wants_plain_text,
)
from ..crypto import rsa
from .forms import get_form, open_part
from .nodehelpers import TEMPLATES, cap_url, parse_children_json, read_body, upload_fileobj


def _cap_text(cap) -> str:
    return cap.decode("ascii") if isinstance(cap, bytes) else cap


async def upload_as(client, fileobj, fmt, keypair=None) -> str:
    """Store ``fileobj`` as a new file of format ``fmt``; its cap (text).
    ``keypair`` (mutable formats only) is the RSA key pair of the new file."""
    if fmt == "CHK":
        if keypair is not None:
            raise WebError("private-key= is only for mutable files (format=SDMF or MDMF)")
        results = await upload_fileobj(client, fileobj)
        return _cap_text(results.uri)
    fileobj.seek(0)
    node = await client.create_mutable_file(fileobj, version=mutable_version_of(fmt),
                                            keypair=keypair)
    return _cap_text(node.get_uri())


async def put_unlinked(client, request) -> bytes:
    """``PUT /uri``: the body is the file; answers its cap as text/plain.
    ``private-key=`` gives a new mutable file its key (as Tahoe-LAFS 1.20)."""
    cap = await upload_as(client, request.content, get_format_arg(request),
                          keypair=_keypair_arg(request))
    return render_text(request, cap)


def _keypair_arg(request):
    text = get_arg(request, "private-key")
    if not text:
        return None
    try:
        priv = rsa.private_key_from_urlsafe_b64(text.strip())
    except Exception as e:  # noqa: BLE001 -- any unusable key is the caller's mistake
        raise WebError("private-key= is not a usable RSA-2048 private key (urlsafe-base64 "
                       "of its DER): %s" % e) from None
    return priv, rsa.public_of(priv)


async def make_unlinked_directory(client, request, t) -> bytes:
    """``t=mkdir`` (``format=SDMF|MDMF``, ``private-key=``),
    ``t=mkdir-with-children`` (JSON body) or ``t=mkdir-immutable`` (JSON
    body, immutable children only): the new directory's cap, or a redirect
    to it with ``redirect_to_result=true``."""
    if t == "mkdir-immutable":
        kids = parse_children_json(client, read_body(request), deep_immutable=True)
        node = await client.create_immutable_dirnode(kids)
    else:
        fmt = get_format_arg(request, default=None)  # None: the node's mutable.format
        if fmt == "CHK":
            raise WebError("format=CHK is not accepted for t=%s: use SDMF or MDMF" % t)
        kids = None
        if t == "mkdir-with-children":
            kids = parse_children_json(client, read_body(request))
        node = await client.create_dirnode(kids, version=mutable_version_of(fmt),
                                           keypair=_keypair_arg(request))
    cap = _cap_text(node.get_uri())
    if get_bool_arg(request, "redirect_to_result", False):
        request.setResponseCode(303)
        request.setHeader(b"Location", cap_url(cap).encode("ascii"))
        return b""
    return render_text(request, cap)


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
    (``when_done=``, a path on this node with ``%(uri)s`` replaced by the
    escaped cap, or ``redirect_to_result=true``), the cap as text/plain (``Accept:
    text/plain``), or an HTML results page."""
    form = await get_form(request)
    check_when_done(request)
    fmt = get_format_arg(request)
    part = form.get_part("file")
    if part is None:
        raise WebError("POST /uri?t=upload needs a multipart/form-data body with a 'file' field")
    cap = await upload_as(client, open_part(request, part), fmt)
    when_done = get_arg(request, "when_done")
    if when_done:
        return redirect_when_done(request, when_done, cap)
    if get_bool_arg(request, "redirect_to_result", False):
        return redirect(request, cap_url(cap))
    if wants_plain_text(request):
        return render_text(request, cap)
    size = part.size
    request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
    html = await flattenString(request, UploadResultsElement(cap, size, part.filename))
    return b"<!DOCTYPE html>\n" + html
