"""The HTML page of a directory (``GET /uri/$DIRCAP/``) and its rename form.

One page per directory, rendered with ``twisted.web.template`` from
``templates/directory.xhtml``: a row per child with its type, a link
(subdirectories to their own listing, files to ``/file/$CAP/@@named=/NAME``
so that the browser sees the name), the size when it is known without asking
the grid, and the link times.  Every link carries ``rel="noreferrer"``
(caps in URLs must not leak through the Referer header).  Through a write
cap, each row has unlink and rename forms, and the page ends with forms to
create a subdirectory, upload a file and link an existing cap -- all posting
back to this directory with ``when_done`` pointing here.
"""

import html
import os
import time
import urllib.parse

from twisted.python.filepath import FilePath
from twisted.web.template import Element, XMLFile, flattenString, renderer, tags

from ..util import base32
from .common import text_of
from .nodehelpers import TEMPLATES, is_dirnode, write_uri_of


def _q(text) -> str:
    return urllib.parse.quote(text_of(text), safe="")


def dir_url(cap) -> str:
    return "/uri/%s/" % _q(cap)


def child_kind(node) -> str:
    """DIR, DIR-RO, DIR-IMM, FILE, SSK, SSK-RO, MDMF, MDMF-RO or ?."""
    if getattr(node, "is_unknown", lambda: False)():
        return "?" if write_uri_of(node) else "?-RO"
    if is_dirnode(node):
        if not node.is_mutable():
            return "DIR-IMM"
        return "DIR-RO" if node.is_readonly() else "DIR"
    if not node.is_mutable():
        return "FILE"
    kind = "MDMF" if (node.get_readonly_uri() or b"").startswith(b"URI:MDMF") else "SSK"
    return kind + ("-RO" if node.is_readonly() else "")


def _times(metadata) -> str:
    t = (metadata or {}).get("tahoe") or {}
    out = []
    for key, label in (("linkcrtime", "created"), ("linkmotime", "modified")):
        value = t.get(key)
        if isinstance(value, (int, float)):
            out.append("%s %s" % (label, time.strftime("%Y-%m-%d %H:%M:%S",
                                                       time.localtime(value))))
    return "; ".join(out)


def _hidden(name, value):
    return tags.input(type="hidden", name=name, value=value)


def _post_form(action, fields, submit, multipart=False, cls="inline"):
    attrs = {"action": action, "method": "post"}
    if multipart:
        attrs["enctype"] = "multipart/form-data"
    return tags.form(*([_hidden(k, v) for k, v in fields] +
                       [tags.input(type="submit", value=submit)]), class_=cls, **attrs)


class DirectoryElement(Element):
    loader = XMLFile(FilePath(os.path.join(TEMPLATES, "directory.xhtml")))

    def __init__(self, node, children: dict):
        Element.__init__(self)
        self._node = node
        self._children = children
        self._writeable = write_uri_of(node) is not None
        self._here = dir_url(node.get_uri())

    @renderer
    def title(self, request, tag):
        si = self._node.get_storage_index()
        si_text = base32.b2a(si).decode("ascii")[:6] if si else "(literal)"
        kind = "modifiable" if self._writeable else "read-only"
        return tag("Directory SI=%s (%s)" % (si_text, kind))

    @renderer
    def links(self, request, tag):
        ro = dir_url(self._node.get_readonly_uri())
        return tag(tags.li(tags.a("JSON", href=self._here + "?t=json", rel="noreferrer")),
                   tags.li(tags.a("More info on this directory", href=self._here + "?t=info",
                                  rel="noreferrer")),
                   tags.li(tags.a("Read-only version", href=ro, rel="noreferrer")))

    @renderer
    def action_headers(self, request, tag):
        return tag("Actions", colspan="3") if self._writeable else tag("")

    @renderer
    def rows(self, request, tag):
        # The rows are written as text by rows_html() and put in place of this
        # marker afterwards: flattening 10,000 rows of tags takes many seconds.
        return ROWS_MARKER

    def rows_html(self) -> bytes:
        rows = [self._row(name, *self._children[name]) for name in sorted(self._children)]
        if not rows:
            rows.append('<tr><td colspan="7">This directory is empty.</td></tr>')
        return "\n".join(rows).encode("utf-8")

    def _row(self, name, node, metadata) -> str:
        kind = child_kind(node)
        cap = node.get_uri()
        e = html.escape
        if kind.startswith("?"):
            link, info = e(name), None
        elif is_dirnode(node):
            link = '<a href="%s" rel="noreferrer">%s</a>' % (e(dir_url(cap)), e(name))
            info = dir_url(cap) + "?t=info"
        else:
            link = '<a href="/file/%s/@@named=/%s" rel="noreferrer">%s</a>' % (
                e(_q(cap)), e(_q(name)), e(name))
            info = "/uri/%s?t=info" % _q(cap)
        if is_dirnode(node):
            size = "-"
        else:
            size = node.get_size()
            size = "?" if size is None else str(size)
        cells = [e(kind), link, size, e(_times(metadata))]
        cells = ["<td>%s</td>" % c for c in cells]
        cells[2] = '<td class="size">%s</td>' % size
        if self._writeable:
            here, n = e(self._here), e(name)
            cells.append(
                '<td><form class="inline" action="%s" method="post">'
                '<input type="hidden" name="t" value="unlink" />'
                '<input type="hidden" name="name" value="%s" />'
                '<input type="hidden" name="when_done" value="%s" />'
                '<input type="submit" value="unlink" /></form></td>' % (here, n, here))
            cells.append(
                '<td><form class="inline" action="%s" method="get">'
                '<input type="hidden" name="t" value="rename-form" />'
                '<input type="hidden" name="name" value="%s" />'
                '<input type="submit" value="rename/relink" /></form></td>' % (here, n))
        cells.append('<td>%s</td>' % ('<a href="%s" rel="noreferrer">More info</a>' % e(info)
                                      if info else ""))
        return "<tr>%s</tr>" % "".join(cells)

    @renderer
    def forms(self, request, tag):
        if not self._writeable:
            return tag(tags.p("This is a read-only view: no upload or mkdir forms."))
        here = self._here

        def formats(prefix, choices):
            out = []
            for i, (value, label) in enumerate(choices):
                radio = tags.input(type="radio", name="format", value=value,
                                   id="%s-%s" % (prefix, value))
                if i == 0:
                    radio.attributes["checked"] = "checked"
                out += [radio, tags.label(" " + label + " ", for_="%s-%s" % (prefix, value))]
            return tags.div(*out)

        mkdir = tags.form(tags.fieldset(
            tags.legend("Create a new directory in this directory"),
            _hidden("t", "mkdir"), _hidden("when_done", here),
            "New directory name: ", tags.input(type="text", name="name"),
            formats("mkdir", [("sdmf", "SDMF"), ("mdmf", "MDMF")]),
            tags.input(type="submit", value="Create")),
            action=here, method="post", enctype="multipart/form-data")
        upload = tags.form(tags.fieldset(
            tags.legend("Upload a file to this directory"),
            _hidden("t", "upload"), _hidden("when_done", here),
            "Choose a file: ", tags.input(type="file", name="file"),
            formats("upload", [("chk", "Immutable"), ("sdmf", "SDMF"), ("mdmf", "MDMF")]),
            tags.input(type="submit", value="Upload")),
            action=here, method="post", enctype="multipart/form-data")
        attach = tags.form(tags.fieldset(
            tags.legend("Add a link to a file or directory already in the grid"),
            _hidden("t", "uri"), _hidden("when_done", here),
            "New child name: ", tags.input(type="text", name="name"), tags.br(),
            "Cap of the new child: ", tags.input(type="text", name="uri"),
            tags.input(type="submit", value="Attach")),
            action=here, method="post", enctype="multipart/form-data")
        return tag(mkdir, upload, attach)


ROWS_MARKER = "@@tahoe-directory-rows@@"


async def render_listing(request, client, node) -> bytes:
    children = await node.list()
    request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
    element = DirectoryElement(node, children)
    page = await flattenString(request, element)
    before, marker, after = page.partition(ROWS_MARKER.encode("ascii"))
    return b"".join([b"<!DOCTYPE html>\n", before, element.rows_html(), after])


async def render_rename_form(request, node, name) -> bytes:
    """A small page with the rename (same directory) and relink (another
    directory, by cap) forms for one child."""
    here = dir_url(node.get_uri())
    page = tags.html(
        tags.head(tags.meta(charset="utf-8"), tags.title("Rename or relink %s" % name)),
        tags.body(
            tags.h1("Rename or relink ", tags.code(name)),
            tags.form(tags.fieldset(
                tags.legend("Rename within this directory"),
                _hidden("t", "rename"), _hidden("from_name", name), _hidden("when_done", here),
                "New name: ", tags.input(type="text", name="to_name", value=name),
                tags.input(type="submit", value="rename")),
                action=here, method="post", enctype="multipart/form-data"),
            tags.form(tags.fieldset(
                tags.legend("Relink into another directory"),
                _hidden("t", "relink"), _hidden("from_name", name), _hidden("when_done", here),
                "Directory cap (optionally followed by /path): ",
                tags.input(type="text", name="to_dir"), tags.br(),
                "New name: ", tags.input(type="text", name="to_name", value=name),
                tags.input(type="submit", value="relink")),
                action=here, method="post", enctype="multipart/form-data"),
            tags.p(tags.a("Back to the directory", href=here, rel="noreferrer"))))
    request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
    return b"<!DOCTYPE html>\n" + await flattenString(request, page)
