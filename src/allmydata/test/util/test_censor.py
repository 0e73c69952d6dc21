"""Caps and FURL swissnums are censored out of log text and request targets."""

import re
import urllib.parse

import pytest

from allmydata import uri
from allmydata.util import base32
from allmydata.util.censor import CENSORED, censor_request_target, censor_text

KEY = bytes(range(16))
HASH = bytes(range(32, 64))
SI = bytes(range(100, 116))


def every_kind_of_cap() -> dict:
    """One cap string of every kind this version knows, by kind."""
    chk = uri.CHKFileURI(KEY, HASH, 3, 10, 12345)
    lit = uri.LiteralFileURI(b"some literal file contents, long enough")
    ssk = uri.WriteableSSKFileURI(KEY, HASH)
    mdmf = uri.WriteableMDMFFileURI(KEY, HASH)
    caps = [chk, chk.get_verify_cap(), lit,
            ssk, ssk.get_readonly(), ssk.get_verify_cap(),
            mdmf, mdmf.get_readonly(), mdmf.get_verify_cap(),
            uri.DirectoryURI(ssk), uri.ReadonlyDirectoryURI(ssk.get_readonly()),
            uri.DirectoryURIVerifier(ssk.get_verify_cap()),
            uri.MDMFDirectoryURI(mdmf), uri.ReadonlyMDMFDirectoryURI(mdmf.get_readonly()),
            uri.MDMFDirectoryURIVerifier(mdmf.get_verify_cap()),
            uri.ImmutableDirectoryURI(chk),
            uri.ImmutableDirectoryURIVerifier(chk.get_verify_cap()),
            uri.LiteralDirectoryURI(lit)]
    return {c.PREFIX.decode()[4:-1]: c.to_string().decode() for c in caps}


SECRETS = [base32.b2a(KEY).decode(), base32.b2a(HASH).decode(),
           base32.b2a(b"some literal file contents, long enough").decode()]


def assert_no_secret(text):
    for s in SECRETS:
        assert s not in text, text
    assert not re.search(r"URI(:|%3A)[A-Za-z0-9-]+(:|%3A)[a-z0-9]", text, re.I), text


@pytest.mark.parametrize("kind", sorted(every_kind_of_cap()))
def test_every_kind_of_cap_is_censored_in_text(kind):
    cap = every_kind_of_cap()[kind]
    for text in ("download of %s failed" % cap,                  # plain
                 "BadURIError(%r)" % cap.encode(),                # a bytes repr
                 "ro.%s, then more" % cap,                        # a read-only child prefix
                 "GET /uri/%s?t=json" % urllib.parse.quote(cap, safe=""),  # URL-escaped
                 "when_done=%s" % urllib.parse.quote("/uri/" + urllib.parse.quote(cap, safe=""),
                                                    safe="")):    # escaped twice
        out = censor_text(text)
        assert_no_secret(out)
        assert ("URI:%s:%s" % (kind, CENSORED)) in out, out


def test_text_around_a_cap_stays():
    cap = every_kind_of_cap()["CHK"]
    assert censor_text("a (%s) b" % cap) == "a (URI:CHK:[CENSORED]) b"
    assert censor_text("x ro.%s y" % cap) == "x ro.URI:CHK:[CENSORED] y"
    # naming a kind of cap is not a cap
    assert censor_text("this needs a URI:LIT: cap") == "this needs a URI:LIT: cap"
    assert censor_text("plain words: t=json 10:20 http://example.org/x") == \
        "plain words: t=json 10:20 http://example.org/x"


def test_caps_hidden_by_escaping_every_character():
    cap = every_kind_of_cap()["SSK"]
    escaped = "".join("%%%02X" % ord(c) for c in cap)
    assert_no_secret(censor_text("GET /uri/" + escaped))


def test_lower_case_spelling_is_censored_too():
    cap = every_kind_of_cap()["DIR2"]
    assert_no_secret(censor_text(cap.lower()))


def test_furl_swissnums_are_censored():
    furl = "pb://sjtmwpzxqmwjbjjdv5tsmhdyg7zmhv5u@tcp:127.0.0.1:34567,tcp:10.0.0.1:1/" \
           "k4hgvdxqsvrb5eydwyzgl7kijvqwlxzi"
    for text in ("Reconnector._failed (furl=%s): refused" % furl,
                 "bad FURL in announcement: %r" % furl,
                 "furl: %s\n" % furl):
        out = censor_text(text)
        assert "k4hgvdxqsvrb5eydwyzgl7kijvqwlxzi" not in out
        assert "pb://sjtmwpzxqmwjbjjdv5tsmhdyg7zmhv5u@tcp:127.0.0.1:34567,tcp:10.0.0.1:1/" \
            "[CENSORED]" in out
    # a truncated repr still loses what it shows of the swissnum
    assert "k4hgv" not in censor_text("%r" % furl[:90])


@pytest.mark.parametrize("route", ["uri", "cap", "file", "named"])
def test_request_target_cap_after_route(route):
    cap = every_kind_of_cap()["DIR2"]
    q = urllib.parse.quote(cap, safe="")
    assert censor_request_target(("/%s/%s" % (route, q)).encode()) == "/%s/[CENSORED]" % route
    assert censor_request_target(("/%s/%s/sub dir/f.txt?t=json" % (route, cap)).encode()) == \
        "/%s/[CENSORED]/sub dir/f.txt?t=json" % route
    # empty segments route to the same place, so the cap is still found
    assert censor_request_target(("//%s//%s/x" % (route, q)).encode()) == \
        "//%s//[CENSORED]/x" % route


def test_request_target_whatever_the_cap_looks_like():
    # a cap this version does not know is still a cap to whoever knows it
    assert censor_request_target(b"/uri/NOT-A-CAP-BUT-SECRET/x") == "/uri/[CENSORED]/x"
    assert censor_request_target(b"/%75ri/SECRET") == "/%75ri/[CENSORED]"


def test_request_target_query_arguments():
    caps = every_kind_of_cap()
    target = ("/uri/%s/dir?t=uri&name=a%%20b&uri=%s&replace=false&when_done=/uri/%s/&"
              "private-key=MIIEvAIBADANBg;format=SDMF&other=%s"
              % (caps["DIR2"], urllib.parse.quote(caps["SSK"], safe=""),
                 urllib.parse.quote(caps["CHK"], safe=""), caps["LIT"]))
    out = censor_request_target(target.encode())
    assert out == ("/uri/[CENSORED]/dir?t=uri&name=a%20b&uri=[CENSORED]&replace=false&"
                   "when_done=[CENSORED]&private-key=[CENSORED];format=SDMF&"
                   "other=URI:LIT:[CENSORED]")
    assert_no_secret(out)


def test_request_target_without_caps_is_unchanged():
    for target in (b"/", b"/?t=json", b"/uri?t=mkdir&format=MDMF", b"/static/style.css",
                   b"/uri", b"/named/"):
        assert censor_request_target(target) == target.decode()


def test_request_target_bytes_that_are_not_utf8():
    assert censor_request_target(b"/x\xff?y=\xfe") == "/x\xff?y=\xfe"
