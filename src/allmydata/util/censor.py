"""Keeping capabilities out of logs.

A cap (``URI:CHK:...``, ``URI:DIR2:...``) grants whoever reads it the right
to read or write a file or directory, and a FURL's last part (its swissnum)
grants access to a remote object.  Logs are read by more people and tools
than the node's owner intends, so nothing a node logs may hold either:

* :func:`censor_text` rewrites any text -- a log line, a traceback -- so that
  every cap, in plain or percent-encoded form, becomes ``URI:KIND:[CENSORED]``
  and every FURL keeps its tub id and hints but loses its swissnum;
* :func:`censor_request_target` rewrites an HTTP request target (path and
  query) for the access log: the cap after ``/uri/``, ``/cap/``, ``/file/``
  or ``/named/`` and the values of query arguments that carry caps, URLs
  holding caps, or private keys become ``[CENSORED]``; the route, child
  names and other arguments stay readable.
"""

import re
from urllib.parse import unquote, unquote_plus

CENSORED = "[CENSORED]"

#: first path segments whose next segment is a cap
CAP_ROUTES = frozenset({"uri", "cap", "file", "named"})

#: query arguments whose values are caps, URLs that may hold caps, or keys
SECRET_ARGUMENTS = frozenset({"uri", "private-key", "when_done", "when_error", "return_to"})

# A run of characters that may make up a cap in a URL or in text: cap
# bodies are base32, decimal numbers and colons; URLs may percent-encode
# any of them.
_RUN = re.compile(r"(?:[A-Za-z0-9_.~+:-]|%[0-9A-Fa-f]{2})+")

# A cap: "URI:", a kind, ":" and at least one character of a body (so that
# text naming a kind, "a URI:LIT: cap", is left alone).  Case-insensitive:
# better censor too much than too little.
_CAP = re.compile(r"URI:([A-Za-z0-9_-]+):[A-Za-z0-9]", re.IGNORECASE)

# A FURL: pb://TUBID@HINTS/SWISSNUM (pbu:// for unauthenticated ones).
_FURL = re.compile(r"(pbu?://[^\s/'\"<>]*/)([^\s/'\"<>?#&,;)\]}]+)")

# Percent-decoding is repeated for text that was encoded more than once
# (a URL inside a query argument); a few rounds cover every honest case.
_DECODE_ROUNDS = 4


def _decoded(run: str) -> str:
    for _ in range(_DECODE_ROUNDS):
        if "%" not in run:
            break
        run = unquote(run, errors="replace")
    return run


def _censor_run(match) -> str:
    run = match.group(0)
    if ":" not in run and "%" not in run:
        return run
    found = _CAP.search(run)
    if found is not None:
        return run[:found.start()] + "URI:%s:%s" % (found.group(1), CENSORED)
    if "%" in run:
        found = _CAP.search(_decoded(run))
        if found is not None:
            return "URI:%s:%s" % (found.group(1), CENSORED)
    return run


def censor_text(text: str) -> str:
    """``text`` with every cap and FURL swissnum replaced by a marker."""
    if "pb" in text:
        text = _FURL.sub(lambda m: m.group(1) + CENSORED, text)
    return _RUN.sub(_censor_run, text)


def _censor_path(path: str) -> str:
    # Twisted splits the path at "/" before percent-decoding each segment,
    # and empty segments route back to the same resource ("//uri//CAP" is
    # "/uri/CAP"): the cap is the first non-empty segment after the route.
    out = []
    state = "route"
    for segment in path.split("/"):
        if segment == "":
            out.append(segment)
        elif state == "route":
            state = "cap" if unquote(segment) in CAP_ROUTES else "rest"
            out.append(censor_text(segment))
        elif state == "cap":
            out.append(CENSORED)
            state = "rest"
        else:
            out.append(censor_text(segment))
    return "/".join(out)


def _censor_query(query: str) -> str:
    # Twisted's parse_qs splits arguments at both "&" and ";".
    parts = re.split(r"([&;])", query)
    out = []
    for part in parts:
        if part in ("&", ";"):
            out.append(part)
            continue
        key, eq, value = part.partition("=")
        if unquote_plus(key).strip().lower() in SECRET_ARGUMENTS:
            value = CENSORED if eq else value
            out.append(censor_text(key) + eq + value)
        else:
            out.append(censor_text(key) + eq + censor_text(value))
    return "".join(out)


def censor_request_target(target) -> str:
    """An HTTP request target (bytes as received, or text) fit for a log."""
    if isinstance(target, bytes):
        target = target.decode("latin-1")  # every byte stays visible as one character
    path, sep, query = target.partition("?")
    return _censor_path(path) + sep + (_censor_query(query) if sep else "")
