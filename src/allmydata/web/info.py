"""``GET /uri/$CAP?t=info``: an HTML page about one node -- an immutable or
mutable file, a directory, or a cap this version cannot use: its kind, size,
storage index, caps and links.

For a file or directory the page has the form that checks it (``POST
t=check`` with verify, repair and add-lease checkboxes and a JSON choice);
for a directory, the forms that start a deep-check, a deep-size, a
deep-stats and a manifest (each with a new random ``ophandle=``).  They are
plain HTML forms: no JavaScript is needed.

Rendered with ``twisted.web.template`` from ``templates/info.xhtml``.
"""

import os

from twisted.python.filepath import FilePath
from twisted.web.template import Element, XMLFile, flattenString, renderer, tags

from .. import uri
from ..util import base32
from .nodehelpers import TEMPLATES, cap_url, is_dirnode, write_uri_of


def new_ophandle() -> str:
    """A fresh operation handle for a form (base32 of 16 random bytes)."""
    return base32.b2a(os.urandom(16)).decode("ascii")


def _hidden(name, value):
    return tags.input(type="hidden", name=name, value=value)


def _checkbox(label, name, value=None):
    attrs = {"type": "checkbox", "name": name}
    if value is not None:
        attrs["value"] = value
    return tags.div(tags.label(label, " ", tags.input(**attrs)))


def _form(action, legend, *fields):
    return tags.form(tags.fieldset(tags.legend(legend), *fields), action=action, method="post",
                     enctype="multipart/form-data")


def check_forms(node) -> list:
    """The forms of the checker operations on ``node`` (none for an unknown cap)."""
    if getattr(node, "is_unknown", lambda: False)():
        return []
    url = cap_url(node.get_uri())
    here = url + "?t=info"
    if is_dirnode(node):
        url += "/"
        here = url + "?t=info"
    forms = [tags.h2("Checker operations"), _form(
        url, "Check this object",
        _hidden("t", "check"), _hidden("return_to", here),
        _checkbox("Verify every bit? (expensive: downloads every share)", "verify"),
        _checkbox("Repair any problems?", "repair"),
        _checkbox("Add or renew a lease on every share?", "add-lease"),
        _checkbox("Results as JSON?", "output", "JSON"),
        tags.input(type="submit", value="Check"))]
    if not is_dirnode(node):
        return forms
    forms += [
        tags.h2("Directory operations"),
        _form(url, "Deep-check: check everything reachable from here (expensive)",
              _hidden("t", "start-deep-check"), _hidden("return_to", here),
              _hidden("ophandle", new_ophandle()),
              _checkbox("Verify every bit? (even more expensive)", "verify"),
              _checkbox("Repair any problems?", "repair"),
              _checkbox("Add or renew a lease on every share?", "add-lease"),
              _checkbox("Results as JSON?", "output", "JSON"),
              tags.input(type="submit", value="Deep-Check")),
        _form(url, "Deep-size: total size of everything reachable from here (expensive)",
              _hidden("t", "start-deep-size"), _hidden("ophandle", new_ophandle()),
              tags.input(type="submit", value="Deep-Size")),
        _form(url, "Deep-stats: counts and sizes of everything reachable from here (expensive)",
              _hidden("t", "start-deep-stats"), _hidden("ophandle", new_ophandle()),
              tags.input(type="submit", value="Deep-Stats")),
        _form(url, "Manifest: every object reachable from here (expensive)",
              _hidden("t", "start-manifest"), _hidden("ophandle", new_ophandle()),
              tags.div(tags.label("Output format: ", tags.select(
                  tags.option("HTML", value="html", selected="selected"),
                  tags.option("text", value="text"),
                  tags.option("JSON", value="json"), name="output"))),
              tags.input(type="submit", value="Manifest")),
    ]
    return forms


def _text(b):
    if b is None:
        return None
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def describe(node) -> list[tuple[str, object]]:
    """``(label, value)`` rows for the info page."""
    unknown = getattr(node, "is_unknown", lambda: False)()
    cap = node.get_uri()
    rows = []
    if unknown:
        rows.append(("Type", "a cap this node cannot use (%s)" % getattr(node, "reason", "unknown")))
        rows.append(("Cap", tags.code(_text(cap))))
        return rows
    rows.append(("Type", _kind(node, cap)))
    size = node.get_size()
    if not is_dirnode(node):
        rows.append(("Size", "%d bytes" % size if size is not None else "unknown"))
    si = node.get_storage_index()
    rows.append(("Storage index", tags.code(base32.b2a(si).decode("ascii")) if si else "none"))
    encoding = _encoding_of(cap)
    if encoding:
        rows.append(("Encoding", "%d of %d shares needed" % encoding))
    writecap = write_uri_of(node) if node.is_mutable() else None
    if writecap:
        rows.append(("Write cap", tags.code(_text(writecap))))
    rows.append(("Read-only cap", tags.code(_text(node.get_readonly_uri()))))
    verifier = node.get_verify_cap()
    if verifier is not None:
        rows.append(("Verifier cap", tags.code(_text(verifier.to_string()))))
    return rows


def _kind(node, cap: bytes) -> str:
    access = "read-only" if node.is_readonly() else "writeable"
    if is_dirnode(node):
        if not node.is_mutable():
            return "immutable directory"
        fmt = "MDMF" if cap.startswith(b"URI:DIR2-MDMF") else "SDMF"
        return "mutable directory (%s, %s)" % (fmt, access)
    if node.is_mutable():
        fmt = "MDMF" if (node.get_readonly_uri() or b"").startswith(b"URI:MDMF") else "SDMF"
        return "mutable file (%s, %s)" % (fmt, access)
    if cap.startswith(b"URI:LIT:"):
        return "immutable file (LIT: the contents are in the cap itself; nothing is stored on servers)"
    return "immutable file (CHK)"


def _encoding_of(cap):
    u = uri.from_string(cap)
    k, n = getattr(u, "needed_shares", None), getattr(u, "total_shares", None)
    return (k, n) if k and n else None


class InfoElement(Element):
    loader = XMLFile(FilePath(os.path.join(TEMPLATES, "info.xhtml")))

    def __init__(self, node):
        Element.__init__(self)
        self._node = node

    @renderer
    def title(self, request, tag):
        return tag("Directory details" if is_dirnode(self._node) else "File details")

    @renderer
    def rows(self, request, tag):
        return tag(*[tags.tr(tags.th(label), tags.td(value)) for label, value in describe(self._node)])

    @renderer
    def check_forms(self, request, tag):
        return tag(*check_forms(self._node))

    @renderer
    def links(self, request, tag):
        if getattr(self._node, "is_unknown", lambda: False)():
            url = cap_url(self._node.get_uri())
            return tag(tags.li(tags.a("JSON", href=url + "?t=json", rel="noreferrer")))
        url = cap_url(self._node.get_readonly_uri())
        if is_dirnode(self._node):
            url = cap_url(self._node.get_uri())
            return tag(tags.li(tags.a("Open", href=url + "/", rel="noreferrer")),
                       tags.li(tags.a("JSON", href=url + "/?t=json", rel="noreferrer")))
        return tag(tags.li(tags.a("Open", href=url, rel="noreferrer")),
                   tags.li(tags.a("Download (save to disk)", href=url + "?save=true",
                                  rel="noreferrer")),
                   tags.li(tags.a("JSON", href=url + "?t=json", rel="noreferrer")))


def render_info(request, client, node):
    """Deferred(bytes) of the page."""
    request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
    d = flattenString(request, InfoElement(node))
    d.addCallback(lambda html: b"<!DOCTYPE html>\n" + html)
    return d
