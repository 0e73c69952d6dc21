"""Each error of the lower layers gets its HTTP status from its class (or its
nearest listed base class), wherever it is raised."""

import pytest

from allmydata import dirnode_format, interfaces, uri
from allmydata.immutable.download import errors as download_errors
from allmydata.immutable.layout import FileTooLargeError
from allmydata.immutable.selector import UploadUnhappinessError
from allmydata.mutable import common as mutable_common
from allmydata.web.common import humanize_exception


@pytest.mark.parametrize("exc, status, starts", [
    (uri.BadURIError("bad"), 400, "Invalid cap: bad"),
    (uri.CapConstraintError("no"), 400, "This cap cannot be linked there: "),
    (download_errors.NoSharesError("none"), 410, "NoSharesError: "),
    (download_errors.NotEnoughSharesError("few"), 410, "NotEnoughSharesError: "),
    (download_errors.UnrecoverableFileError("u"), 410, "UnrecoverableFileError: "),
    (mutable_common.UnrecoverableFileError("u"), 410, "UnrecoverableFileError: "),
    (FileTooLargeError("big"), 413, "big"),
    (UploadUnhappinessError("sad"), 500, "UploadUnhappinessError: "),
    (dirnode_format.NoSuchChildError("a"), 404, "No such child: "),
    (dirnode_format.ExistingChildError("a"), 409, "There was already a child"),
    (dirnode_format.NotMutableError("ro"), 400, "This directory cannot be changed"),
    # the directory layer's NotWriteableError is its NotMutableError
    (dirnode_format.NotWriteableError("ro"), 400, "This directory cannot be changed"),
    (dirnode_format.ChildOfWrongTypeError("f"), 400, "f"),
    (dirnode_format.BadChildNameError("."), 400, "Invalid child name: "),
    (dirnode_format.DirectoryFormatError("junk"), 500, "The directory's contents"),
    (mutable_common.NotCapableError("ro"), 400, "This mutable file cannot be changed"),
    (interfaces.NotCapableError("ro"), 400, "This mutable file cannot be changed"),
    (mutable_common.NotWriteableError("key"), 410, "NotWriteableError: "),
    (mutable_common.UncoordinatedWriteError("race"), 409, "UncoordinatedWriteError: "),
    (mutable_common.NotEnoughServersError("few"), 503, "NotEnoughServersError: "),
])
def test_status_by_class(exc, status, starts):
    got_status, text = humanize_exception(exc)
    assert got_status == status
    assert text.startswith(starts) and str(exc) in text


def test_unlisted_error_is_500_with_its_class_name():
    class NotEnoughSharesError(Exception):
        """Same name as a listed error, another class."""

    status, text = humanize_exception(NotEnoughSharesError("x"))
    assert status == 500 and "NotEnoughSharesError: x" in text
