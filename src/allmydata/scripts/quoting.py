"""How the maintenance commands show names, caps and messages that come
from the grid, so that their output is the same, byte for byte, as
Tahoe-LAFS 1.20's.

A text is shown as it is when every character is plain: printable ASCII
other than ``'``, or a printable non-ASCII character (U+00A0..U+FFFC,
without surrogates and the U+FDD0..U+FDEF non-characters) that the output
encoding can represent.  ``quotemarks=True`` then wraps it in single
quotes; a plain text starting with ``"`` is wrapped too, so that it cannot
be mistaken for the double-quoted form.

Any other text is double-quoted, with a backslash before ``"``, ``$``,
`````` ` `````` and ``\\``, and ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``
for every other character outside the plain set (non-ASCII characters the
encoding cannot hold become ``\\x``/``\\u`` escapes too).  A newline counts
as plain, and is kept, unless ``quote_newlines`` (which defaults to
``quotemarks``).

Bytes are decoded as UTF-8 first; bytes that are not UTF-8 are shown as
``b"..."`` with every byte outside printable ASCII as ``\\xNN``.
"""

import re
import sys

# characters that never need quoting (besides "\n" when newlines are plain)
_PLAIN = "\\x20-\\x26\\x28-\\x7E\u00A0-\uD7FF\uE000-\uFDCF\uFDF0-\uFFFC"
_NEEDS_QUOTES = re.compile("[^%s]" % _PLAIN)
_NEEDS_QUOTES_KEEP_NL = re.compile("[^\\n%s]" % _PLAIN)
# inside double quotes: what gets a backslash escape
_ESCAPED_CHAR = re.compile("[^ !#\\x25-\\x5B\\x5D-\\x5F\\x61-\\x7E\u00A0-\uD7FF\uE000-\uFDCF"
                           "\uFDF0-\uFFFC]")
_ESCAPED_BYTE = re.compile(b"[^ !#\\x25-\\x5B\\x5D-\\x5F\\x61-\\x7E]")
_BACKSLASHED = '"$`\\'


def output_encoding() -> str:
    return getattr(sys.stdout, "encoding", None) or "utf-8"


def _escape_char(match, quote_newlines) -> str:
    c = match.group(0)
    if c in _BACKSLASHED:
        return "\\" + c
    if c == "\n" and not quote_newlines:
        return c
    code = ord(c)
    if code > 0xFFFF:
        return "\\U%08x" % code
    if code > 0xFF:
        return "\\u%04x" % code
    return "\\x%02x" % code


def _escape_byte(match, quote_newlines) -> bytes:
    b = match.group(0)
    if b in _BACKSLASHED.encode("ascii"):
        return b"\\" + b
    if b == b"\n" and not quote_newlines:
        return b
    return b"\\x%02x" % b[0]


def quote_output(s, quotemarks=True, quote_newlines=None, encoding=None) -> str:
    """``s`` (str or bytes) as it is to be printed; see the module docstring."""
    encoding = encoding or output_encoding()
    if quote_newlines is None:
        quote_newlines = quotemarks
    if isinstance(s, bytes):
        try:
            s = s.decode("utf-8")
        except UnicodeDecodeError:
            body = _ESCAPED_BYTE.sub(lambda m: _escape_byte(m, quote_newlines), s)
            return 'b"%s"' % body.decode("ascii")
    needs = _NEEDS_QUOTES if quote_newlines else _NEEDS_QUOTES_KEEP_NL
    if needs.search(s) is None:
        try:
            s.encode(encoding)
        except UnicodeEncodeError:
            pass
        else:
            if quotemarks or s.startswith('"'):
                return "'%s'" % s
            return s
    body = _ESCAPED_CHAR.sub(lambda m: _escape_char(m, quote_newlines), s)
    return '"%s"' % body.encode(encoding, "backslashreplace").decode(encoding)


def quote_path(segments, quotemarks=True, encoding=None) -> str:
    """A path (a sequence of names) joined with ``/`` and quoted, newlines
    always escaped."""
    return quote_output("/".join(segments), quotemarks=quotemarks, quote_newlines=True,
                        encoding=encoding)
