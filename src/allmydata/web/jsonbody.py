"""JSON sent by web clients (the children of ``mkdir-with-children``,
``mkdir-immutable`` and ``set_children``), parsed with bounds.

Python's parser recurses once per level of nesting: a body nested thousands
of levels deep makes it raise RecursionError, and one nested just under the
interpreter's limit parses but breaks whatever serializes it again (the
directory packer).  :func:`parse_json_body` therefore measures the nesting
first, in one pass that does not recurse, and refuses anything deeper than
:data:`MAX_DEPTH` -- far deeper than any honest body, whose children JSON is
four levels plus the metadata's own.  ``NaN`` and ``Infinity``, which are not
JSON and which other implementations cannot read back, are refused too.
"""

import json
import re

from .common import WebError

MAX_DEPTH = 64

# A JSON string, escapes included (the unrolled form never backtracks);
# whatever brackets are inside strings do not count as nesting.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_OPENERS = frozenset("[{")


def nesting_depth(text: str, stop_above: int = MAX_DEPTH) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (for text
    that is not JSON, of its brackets outside strings); counting stops at
    ``stop_above + 1``."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub('""', text)):
        if m.group() in _OPENERS:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    break
        else:
            depth -= 1
    return deepest


def _refuse_constant(name):
    raise ValueError("%s is not a JSON value" % name)


def parse_json_body(body: bytes, what: str, max_depth: int = MAX_DEPTH):
    """The value of a UTF-8 JSON request body; a :class:`WebError` (400)
    saying what is wrong with it otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WebError("the body is not %s: it is not UTF-8 (at byte %d)"
                       % (what, e.start)) from None
    if nesting_depth(text, max_depth) > max_depth:
        raise WebError("the body is not %s: it is nested more than %d levels deep"
                       % (what, max_depth))
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError as e:     # also a number past Python's limit on digits
        raise WebError("the body is not %s: %s" % (what, e)) from None
