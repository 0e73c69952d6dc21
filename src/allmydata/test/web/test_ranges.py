"""Range headers, content types and dispositions of file downloads."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allmydata.web.common import RangeNotSatisfiable
from allmydata.web.filenode import content_disposition, content_type_for, parse_range


@pytest.mark.parametrize("header, size, expected", [
    (None, 100, None),
    ("", 100, None),
    ("bytes=0-9", 100, (0, 10)),
    ("bytes=10-19", 100, (10, 10)),
    (b"bytes=10-19", 100, (10, 10)),
    ("bytes=99-99", 100, (99, 1)),
    ("bytes=90-", 100, (90, 10)),
    ("bytes=90-1000", 100, (90, 10)),
    ("bytes=-5", 100, (95, 5)),
    ("bytes=-500", 100, (0, 100)),
    ("BYTES = 3 - 4", 100, (3, 2)),
    # ignored (whole file): other units, several ranges, malformed
    ("items=0-9", 100, None),
    ("bytes=0-1,5-6", 100, None),
    ("bytes=abc", 100, None),
    ("bytes=5-3", 100, None),
    ("bytes=-", 100, None),
    ("bytes=1-2-3", 100, None),
    ("bytes=+1-2", 100, None),
    ("bytes 0-9", 100, None),
])
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header, size", [
    ("bytes=100-", 100), ("bytes=100-200", 100), ("bytes=400000-", 100),
    ("bytes=-0", 100), ("bytes=0-", 0), ("bytes=-1", 0),
])
def test_unsatisfiable(header, size):
    with pytest.raises(RangeNotSatisfiable) as e:
        parse_range(header, size)
    assert e.value.status == 416 and e.value.size == size


@given(size=st.integers(1, 10**12), a=st.integers(0, 10**12), b=st.integers(0, 10**12))
def test_ranges_stay_inside_the_file(size, a, b):
    try:
        r = parse_range("bytes=%d-%d" % (a, b), size)
    except RangeNotSatisfiable:
        assert a >= size
        return
    if r is None:
        assert b < a
        return
    offset, length = r
    assert offset == a and length >= 1 and offset + length == min(b + 1, size)


@pytest.mark.parametrize("name, ctype", [
    (None, "text/plain"), ("", "text/plain"), ("a.html", "text/html"), ("x.PNG", "image/png"),
    ("noext", "text/plain"), ("a.tar.gz", "application/gzip"), ("a.txt.bz2", "application/x-bzip2"),
    ("d.json", "application/json"),
])
def test_content_type_for(name, ctype):
    assert content_type_for(name) == ctype


def test_content_disposition():
    assert content_disposition("a.txt") == b'attachment; filename="a.txt"'
    assert content_disposition(None) == b'attachment; filename="download"'
    assert content_disposition('we"ird\\.txt') == (
        b'attachment; filename="we_ird_.txt"; filename*=utf-8\'\'we%22ird%5C.txt')
    assert content_disposition("r\u00e9sum\u00e9.pdf") == (
        b"attachment; filename=\"r_sum_.pdf\"; filename*=utf-8''r%C3%A9sum%C3%A9.pdf")
