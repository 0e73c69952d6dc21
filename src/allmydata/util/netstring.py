"""Netstrings: ``<decimal length>:<bytes>,`` (docs/specifications/encodings.md §2)."""


class NetstringError(ValueError):
    """Bytes that are not a well-formed netstring."""


def netstring(data: bytes) -> bytes:
    """Wrap ``data`` in a netstring."""
    if not isinstance(data, bytes):
        raise TypeError("netstring() takes bytes, not %s" % type(data).__name__)
    return b"%d:%s," % (len(data), data)


def split_netstring(data: bytes, numstrings: int, position: int = 0,
                    required_trailer: bytes | None = None):
    """Parse ``numstrings`` concatenated netstrings starting at ``position``.

    Returns ``(list_of_strings, new_position)``.  If ``required_trailer`` is
    given, the netstrings must be followed by exactly those bytes and then
    the end of ``data``.
    """
    elements = []
    for _ in range(numstrings):
        colon = data.find(b":", position)
        if colon == -1:
            raise NetstringError("no ':' after position %d" % position)
        digits = data[position:colon]
        if not digits.isdigit():
            raise NetstringError("netstring length %r is not a decimal number" % digits[:20])
        length = int(digits)
        start = colon + 1
        end = start + length
        if end >= len(data) or data[end:end + 1] != b",":
            raise NetstringError("netstring at %d is truncated or lacks its ','" % position)
        elements.append(data[start:end])
        position = end + 1
    if required_trailer is not None:
        if data[position:] != required_trailer:
            raise NetstringError("unexpected bytes after the netstrings")
        position = len(data)
    return elements, position


def parse_netstrings(data: bytes):
    """Parse a whole buffer of concatenated netstrings into a list."""
    out = []
    position = 0
    while position < len(data):
        (element,), position = split_netstring(data, 1, position)
        out.append(element)
    return out
