"""Directory and mutable-file calls of the web API, for either client of the interop grid.

The harness's :class:`~allmydata.testing.reference.WebClient` knows the
immutable-file calls; the directory tests need more of Tahoe-LAFS 1.20's web API.  These
are plain functions taking a ``WebClient`` (ours or Tahoe-LAFS 1.20's), so
both clients are driven through exactly the same requests and their answers
can be compared.  Everything is blocking, like the harness.

Paths are ``(dircap, "a/b/name")``: the cap is URL-escaped, every path
segment is percent-encoded as UTF-8.
"""

import json
import urllib.error
import urllib.parse
import urllib.request

from allmydata.testing.reference import HTTPResponse

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def raw(client, method, path, body=None, headers=None, timeout=120):
    """One request answered with any status: an ``HTTPResponse``, never an exception.

    For answers that are expected to be errors: ``client.fetch`` gathers
    every node's logs (a ``flogtool dump`` each, seconds) for its exception.
    """
    all_headers = {"Accept": "text/plain"}
    all_headers.update(headers or {})
    req = urllib.request.Request(client.url + path, data=body, method=method, headers=all_headers)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return HTTPResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as e:
        return HTTPResponse(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def cap_path(cap, path=""):
    """``/uri/$CAP[/seg/seg...]`` with the cap and every segment escaped."""
    url = "/uri/" + urllib.parse.quote(cap, safe="")
    if path:
        url += "/" + "/".join(urllib.parse.quote(seg.encode("utf-8"), safe="") for seg in path.split("/"))
    return url


def _query(**args):
    args = {k: v for k, v in args.items() if v is not None}
    return ("?" + urllib.parse.urlencode(args)) if args else ""


def _text(body):
    return body.decode("utf-8").strip()


def mkdir(client, format=None):
    """``POST /uri?t=mkdir[&format=F]``: a new unlinked directory's write cap."""
    return _text(client.request("POST", "/uri" + _query(t="mkdir", format=format), b""))


def mkdir_at(client, dircap, path, format=None):
    """``POST /uri/$DIRCAP/PATH?t=mkdir``: creates intermediate directories too."""
    return _text(client.request("POST", cap_path(dircap, path) + _query(t="mkdir", format=format), b""))


def children_json(children):
    """``{name: cap}`` -> the body of mkdir-with-children / mkdir-immutable / set_children."""
    body = {}
    for name, value in children.items():
        if isinstance(value, tuple):
            kind, details = value
        else:
            kind, details = ("dirnode" if value.startswith("URI:DIR2") else "filenode"), {"ro_uri": value}
        body[name] = [kind, details]
    return json.dumps(body).encode("utf-8")


def mkdir_with_children(client, children, format=None):
    path = "/uri" + _query(t="mkdir-with-children", format=format)
    return _text(client.request("POST", path, children_json(children)))


def mkdir_with_children_at(client, dircap, path, children, format=None):
    """``POST /uri/$DIRCAP/PATH?t=mkdir-with-children[&format=F]``."""
    url = cap_path(dircap, path) + _query(t="mkdir-with-children", format=format)
    return _text(client.request("POST", url, children_json(children)))


def mkdir_immutable(client, children):
    """``POST /uri?t=mkdir-immutable``: a ``URI:DIR2-CHK`` (or ``-LIT``) cap."""
    return _text(client.request("POST", "/uri?t=mkdir-immutable", children_json(children)))


def mkdir_immutable_at(client, dircap, path, children):
    url = cap_path(dircap, path) + "?t=mkdir-immutable"
    return _text(client.request("POST", url, children_json(children)))


def put_child(client, dircap, path, data, format=None, replace=None):
    """``PUT /uri/$DIRCAP/PATH[?format=F]``: ``(HTTP status, cap)``."""
    url = cap_path(dircap, path) + _query(format=format, replace=replace)
    resp = client.fetch("PUT", url, data)
    return resp.status, _text(resp.body)


def put_at_offset(client, dircap, path, data, offset):
    """``PUT /uri/$DIRCAP/PATH?offset=N``: writes into an existing mutable file."""
    resp = client.fetch("PUT", cap_path(dircap, path) + _query(offset=offset), data)
    return resp.status, _text(resp.body)


def link(client, dircap, path, cap, replace=None):
    """``PUT /uri/$DIRCAP/PATH?t=uri`` with the cap as body: ``(status, answer)``."""
    resp = client.fetch("PUT", cap_path(dircap, path) + _query(t="uri", replace=replace), cap.encode("ascii"))
    return resp.status, _text(resp.body)


def get(client, cap, path=""):
    """``GET /uri/$CAP[/PATH]``: the file's bytes."""
    return client.request("GET", cap_path(cap, path))


def get_json(client, cap, path=""):
    """``GET /uri/$CAP[/PATH]?t=json``: the decoded ``[kind, details]``."""
    return json.loads(client.request("GET", cap_path(cap, path) + "?t=json"))


def get_uri(client, cap, path, readonly=False):
    t = "readonly-uri" if readonly else "uri"
    return _text(client.request("GET", cap_path(cap, path) + "?t=" + t))


def rename(client, dircap, dirpath, from_name, to_name, replace=None):
    url = cap_path(dircap, dirpath) + "/" + _query(t="rename", from_name=from_name, to_name=to_name,
                                                   replace=replace)
    return client.fetch("POST", url, b"").status


def relink(client, dircap, dirpath, from_name, to_dir, to_name=None, replace=None):
    """``POST .../?t=relink&from_name=&to_dir=[&to_name=]``; ``to_dir`` is a cap or a path under it."""
    url = cap_path(dircap, dirpath) + "/" + _query(t="relink", from_name=from_name, to_dir=to_dir,
                                                   to_name=to_name, replace=replace)
    return client.fetch("POST", url, b"").status


def unlink(client, dircap, dirpath, name):
    """``POST .../?t=unlink&name=N``."""
    url = cap_path(dircap, dirpath) + "/" + _query(t="unlink", name=name)
    return client.fetch("POST", url, b"").status


def delete(client, dircap, path):
    """``DELETE /uri/$DIRCAP/PATH``: ``(status, body)``."""
    resp = client.fetch("DELETE", cap_path(dircap, path))
    return resp.status, _text(resp.body)


def set_children(client, dircap, children, overwrite=None):
    url = cap_path(dircap) + "/" + _query(t="set_children", overwrite=overwrite)
    return client.fetch("POST", url, children_json(children)).status


def upload_form(client, dircap, dirpath, filename, data, format=None):
    """``POST /uri/$DIRCAP/DIRPATH/?t=upload`` with a multipart ``file`` field: the new file's cap."""
    boundary = "----interop-boundary-7d1f3c"
    head = ('--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n" % (boundary, filename)).encode("utf-8")
    body = head + data + ("\r\n--%s--\r\n" % boundary).encode("ascii")
    url = cap_path(dircap, dirpath) + "/" + _query(t="upload", format=format)
    resp = client.fetch("POST", url, body, headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
    return _text(resp.body)
