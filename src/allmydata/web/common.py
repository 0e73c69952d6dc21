"""What every web page shares: security headers, errors, query arguments.

Errors are mapped to HTTP statuses here and only here: a handler raises a
:class:`WebError` (or a subclass) and :func:`render_error` turns it into a
plain-text response.
"""

import json

from twisted.web import http, server


class WebError(Exception):
    """An error to show the web client, with its HTTP status."""

    status = http.BAD_REQUEST

    def __init__(self, message, status=None):
        Exception.__init__(self, message)
        if status is not None:
            self.status = status


class TahoeRequest(server.Request):
    """A request whose every response carries the headers that keep caps
    in URLs from leaking through framing or the Referer header."""

    def process(self):
        self.setHeader(b"X-Frame-Options", b"DENY")
        self.setHeader(b"Referrer-Policy", b"no-referrer")
        return server.Request.process(self)


def make_site(resource) -> server.Site:
    site = server.Site(resource)
    site.requestFactory = TahoeRequest
    site.displayTracebacks = False
    return site


_TRUE = {"true", "t", "1", "on"}
_FALSE = {"false", "f", "0", "off"}


def get_arg(request, name, default=None):
    """The first value of query/form argument ``name`` as text, or default."""
    values = request.args.get(name.encode("ascii"))
    if not values:
        return default
    return values[0].decode("utf-8")


def get_bool_arg(request, name, default=False):
    value = get_arg(request, name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise WebError("%s=%s is not a boolean (use true or false)" % (name, value))


def render_json(request, data) -> bytes:
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")


def render_error(request, err: WebError) -> bytes:
    request.setResponseCode(err.status)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return (str(err) + "\n").encode("utf-8")
