"""An integer constraint for the storage schemas that checks with a precomputed bound.

Foolscap's ``IntegerConstraint`` computes its bound, ``2 ** (8 * maxBytes)``,
each time it checks a value; for a schema's plain ``int`` (1024 bytes) that is
an 8193-bit power for every share number of every call and answer.
:class:`BoundedInteger` is the same constraint -- the same tokens accepted on
the wire, the same values accepted and refused, the same errors -- with the
bound computed once, when the schema is built.
"""

from foolscap.constraint import IntegerConstraint
from foolscap.tokens import Violation


class BoundedInteger(IntegerConstraint):
    """``IntegerConstraint(maxBytes)`` for ``maxBytes`` of 4 or more, with a stored bound."""

    def __init__(self, maxBytes):
        if maxBytes is None or maxBytes < 4:
            raise ValueError("BoundedInteger needs maxBytes >= 4, not %r" % (maxBytes,))
        IntegerConstraint.__init__(self, maxBytes)
        self._limit = 2 ** (8 * maxBytes)

    def checkObject(self, obj, inbound):
        if not isinstance(obj, int):
            raise Violation("'%r' is not a number" % (obj,))
        if abs(obj) >= self._limit:
            raise Violation("number too large")
