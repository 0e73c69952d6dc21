"""The multipart scanner: parts found as regions of the spooled body, in one
streaming pass whatever the chunk size, and malformed bodies refused."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allmydata.testing.nodegrid import multipart_body
from allmydata.web.forms import (
    FileRegion,
    MultipartError,
    boundary_of,
    find_delimiters,
    scan_multipart,
)

BOUNDARY = "----tahoe-test-boundary-7MA4YWxkTrZu0gW"


def parse(body: bytes, chunk_size=256 * 1024):
    f = io.BytesIO(body)
    return f, scan_multipart(f, BOUNDARY.encode(), chunk_size)


def contents(f, part):
    return FileRegion(f, part.start, part.end).read()


def test_fields_and_file():
    data = b"line one\r\nline two\r\n--not-the-boundary\r\n" * 100
    body, ctype = multipart_body([("t", "upload"), ("file", "r\u00e9sum\u00e9.txt", data),
                                  ("when_done", "/x?y=%(uri)s")], BOUNDARY)
    assert boundary_of(ctype.encode()) == BOUNDARY.encode()
    f, parts = parse(body)
    assert [(p.name, p.filename) for p in parts] == [
        ("t", None), ("file", "r\u00e9sum\u00e9.txt"), ("when_done", None)]
    assert contents(f, parts[0]) == b"upload"
    assert contents(f, parts[1]) == data
    assert parts[1].size == len(data)
    assert parts[1].content_type == "application/octet-stream"
    assert contents(f, parts[2]) == b"/x?y=%(uri)s"


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 41, 64, 1000])
def test_boundaries_split_across_chunks(chunk_size):
    data = bytes(range(256)) * 3
    body, _ = multipart_body([("a", "1"), ("file", "f", data), ("b", "")], BOUNDARY)
    f, parts = parse(body, chunk_size)
    assert [contents(f, p) for p in parts] == [b"1", data, b""]


def test_preamble_epilogue_and_padding():
    b = BOUNDARY.encode()
    body = (b"this is a preamble\r\n--" + b + b"  \t\r\n"
            b"content-disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"
            b"DATA\r\n--" + b + b"--\r\nepilogue\r\n--" + b + b"\r\nignored")
    f, parts = parse(body)
    assert len(parts) == 1 and contents(f, parts[0]) == b"DATA"


def test_part_without_headers_has_no_name():
    b = BOUNDARY.encode()
    body = b"--" + b + b"\r\n\r\nDATA\r\n--" + b + b"--\r\n"
    with pytest.raises(MultipartError, match="Content-Disposition"):
        parse(body)


def test_rfc2231_filename():
    b = BOUNDARY.encode()
    body = (b"--" + b + b"\r\nContent-Disposition: form-data; name=file; "
            b"filename*=utf-8''%E2%82%AC%20rates.txt\r\n\r\nX\r\n--" + b + b"--\r\n")
    _, parts = parse(body)
    assert parts[0].filename == "\u20ac rates.txt" and parts[0].name == "file"


@pytest.mark.parametrize("body, message", [
    (b"no boundary here at all", "does not contain its boundary"),
    (b"--%s\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated" % BOUNDARY.encode(),
     "truncated"),
    (b"--%s\r\nContent-Disposition: form-data; name=\"a\"" % BOUNDARY.encode(), "truncated"),
    (b"--%sjunk\r\n\r\n\r\n--%s--" % (BOUNDARY.encode(), BOUNDARY.encode()), "malformed"),
    (b"--%s\r\nno colon here\r\n\r\nx\r\n--%s--" % (BOUNDARY.encode(), BOUNDARY.encode()),
     "malformed header"),
    (b"--%s\r\nContent-Disposition: form-data\r\n\r\nx\r\n--%s--" % (BOUNDARY.encode(),
                                                                     BOUNDARY.encode()), "name="),
])
def test_malformed(body, message):
    with pytest.raises(MultipartError, match=message) as e:
        parse(body)
    assert e.value.status == 400


@pytest.mark.parametrize("ctype", [b"multipart/form-data", b"multipart/form-data; boundary=",
                                   b"multipart/form-data; charset=utf-8"])
def test_content_type_without_boundary(ctype):
    with pytest.raises(MultipartError, match="boundary"):
        boundary_of(ctype)


def test_quoted_boundary():
    assert boundary_of(b'multipart/form-data; boundary="a b;c"') == b"a b;c"


def test_file_region_is_a_seekable_file():
    f = io.BytesIO(b"0123456789abcdef")
    r = FileRegion(f, 4, 12)
    assert r.size == 8 and r.seekable() and r.readable()
    assert r.read(3) == b"456" and r.tell() == 3
    f.seek(0)  # someone else moving the underlying file does not matter
    assert r.read() == b"789ab"
    assert r.read() == b""
    r.seek(-2, io.SEEK_END)
    assert r.read(10) == b"ab"
    r.seek(1)
    r.seek(2, io.SEEK_CUR)
    buf = bytearray(4)
    assert r.readinto(buf) == 4 and bytes(buf) == b"789a"
    assert io.BufferedReader(FileRegion(f, 2, 6)).read() == b"2345"
    with pytest.raises(ValueError):
        r.seek(-1)
    with pytest.raises(ValueError):
        FileRegion(f, 5, 4)


def test_delimiter_offsets():
    b = BOUNDARY.encode()
    body = b"--" + b + b"\r\n\r\n\r\n--" + b + b"--"
    assert find_delimiters(io.BytesIO(body), b, 3) == [-2, len(b) + 6]


@settings(max_examples=150, deadline=None)
@given(values=st.lists(st.binary(max_size=300), min_size=1, max_size=5),
       chunk_size=st.integers(min_value=1, max_value=97))
def test_any_contents_round_trip(values, chunk_size):
    # contents made of boundary fragments, CRLFs and dashes as well as noise
    fields = [("f%d" % i, "name%d" % i, v.replace(b"\x00", b"\r\n--" + BOUNDARY.encode()[:-1]))
              for i, v in enumerate(values)]
    body, _ = multipart_body(fields, BOUNDARY)
    f, parts = parse(body, chunk_size)
    assert [p.name for p in parts] == [name for name, _, _ in fields]
    assert [contents(f, p) for p in parts] == [v for _, _, v in fields]
