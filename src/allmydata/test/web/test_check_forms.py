"""The checker forms of the "More info" page (``GET ?t=info``), submitted the
way a browser without JavaScript submits them, against our client and
Tahoe-LAFS 1.20's (the ``webapi`` fixture): the check form of a file and of
a directory (verify, repair, add-lease checkboxes), and a directory's
deep-check, deep-size, deep-stats and manifest forms, each followed to
its results page."""

import html.parser
import json
import urllib.parse

import pytest_twisted

from .deeptree import make_tree


class _Forms(html.parser.HTMLParser):
    """The forms of a page: action, method, enctype and their fields."""

    def __init__(self):
        html.parser.HTMLParser.__init__(self)
        self.forms = []
        self._form = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get"),
                          "enctype": a.get("enctype"), "fields": {}, "checkboxes": [],
                          "selects": {}}
            self.forms.append(self._form)
        elif self._form is not None and tag == "input":
            kind = a.get("type", "text")
            if kind == "hidden":
                self._form["fields"][a["name"]] = a.get("value", "")
            elif kind == "checkbox":
                self._form["checkboxes"].append((a["name"], a.get("value", "on")))
        elif self._form is not None and tag == "select":
            self._select = a["name"]
        elif self._form is not None and tag == "option" and "selected" in a:
            self._form["selects"][self._select] = a.get("value")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


async def forms_of(webapi, url):
    r = await webapi.request("GET", url, headers={"Accept": "text/html"})
    assert r.code == 200, r.text
    parser = _Forms()
    parser.feed(r.text)
    return {f["fields"].get("t"): f for f in parser.forms if f["fields"].get("t")}


async def submit(webapi, page_url, form, checked=()):
    """POST ``form`` as a browser does, with the checkboxes named in ``checked`` ticked."""
    assert form["method"].lower() == "post"
    fields = list(form["fields"].items()) + list(form["selects"].items())
    fields += [(name, value) for name, value in form["checkboxes"] if name in checked]
    url = urllib.parse.urljoin(page_url, form["action"])
    r = await webapi.post_form(url, fields)
    return r


@pytest_twisted.ensureDeferred
async def test_file_check_form(webapi):
    cap = await webapi.ok_text("PUT", webapi.url + "uri", b"checked through a form. " * 20)
    page = webapi.path(cap, query="t=info")
    forms = await forms_of(webapi, page)
    assert "check" in forms and "start-deep-check" not in forms
    form = forms["check"]
    assert {name for name, _v in form["checkboxes"]} >= {"verify", "repair", "add-lease"}
    for checked in ((), ("verify",), ("verify", "repair", "add-lease")):
        r = await submit(webapi, page, form, checked)
        assert r.code == 200, r.text
        assert "Healthy" in r.text
    r = await submit(webapi, page, form, ("output",))
    assert json.loads(r.body)["results"]["healthy"] is True


@pytest_twisted.ensureDeferred
async def test_directory_forms(webapi):
    tree = await make_tree(webapi)
    page = webapi.path(tree.root) + "/?t=info"
    forms = await forms_of(webapi, page)
    assert {"check", "start-deep-check", "start-deep-size", "start-deep-stats",
            "start-manifest"} <= set(forms)
    r = await submit(webapi, page, forms["check"], ("verify",))
    assert r.code == 200 and "Healthy" in r.text
    r = await submit(webapi, page, forms["start-deep-check"], ("verify", "add-lease"))
    assert r.code in (302, 303), r.text
    status = urllib.parse.urljoin(webapi.url, r.header("location"))
    assert "/operations/" in status
    r = await webapi.request("GET", status, headers={"Accept": "text/html"})
    assert r.code == 200 and "Objects Checked" in r.text
    for t in ("start-deep-size", "start-deep-stats", "start-manifest"):
        r = await submit(webapi, page, forms[t])
        assert r.code in (302, 303), (t, r.text)
        r = await webapi.get(urllib.parse.urljoin(webapi.url, r.header("location")))
        assert r.code == 200, (t, r.text)
    # every form gets a handle of its own
    handles = {forms[t]["fields"]["ophandle"] for t in forms if t.startswith("start-")}
    assert len(handles) == 4
