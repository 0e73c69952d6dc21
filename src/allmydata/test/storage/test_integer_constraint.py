"""BoundedInteger accepts and refuses exactly what Foolscap's IntegerConstraint does."""

import pytest
from foolscap.constraint import IntegerConstraint
from foolscap.tokens import Violation

from allmydata.storage import interfaces
from allmydata.storage.integer_constraint import BoundedInteger

VALUES = [0, 1, -1, 9, 255, 2**31, -2**31 - 1, 2**63, 2**64 - 1, 2**64, -2**64,
          2**8191, 2**8192 - 1, 2**8192, -2**8192, -(2**8192) + 1, 2**9000,
          True, 1.0, "1", b"1", None]


def _verdict(constraint, value):
    try:
        constraint.checkObject(value, True)
    except Violation as e:
        return str(e)
    return "ok"


@pytest.mark.parametrize("max_bytes", [4, 8, 1024])
def test_same_verdicts_as_foolscap(max_bytes):
    ours, theirs = BoundedInteger(max_bytes), IntegerConstraint(max_bytes)
    assert ours.taster == theirs.taster
    for value in VALUES:
        assert _verdict(ours, value) == _verdict(theirs, value), value


def test_refuses_a_bound_it_cannot_hold():
    for bad in (None, -1, 3):
        with pytest.raises(ValueError):
            BoundedInteger(bad)


def test_schemas_use_it_for_share_numbers():
    get_buckets = interfaces.RIStorageServer["get_buckets"]
    assert isinstance(get_buckets.responseConstraint.keyConstraint, BoundedInteger)
    assert get_buckets.responseConstraint.keyConstraint.maxBytes == 1024
    with pytest.raises(Violation, match="number too large"):
        get_buckets.responseConstraint.checkObject({2**8192: None}, True)
