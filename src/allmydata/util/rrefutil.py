"""One way to make remote calls: :func:`call_remote`.

Foolscap hands back a remote exception as a ``CopiedFailure`` whose ``value``
is a string; Twisted 25+ then crashes when such a failure is awaited
(NOTES.md).  Every remote call therefore goes through :func:`call_remote`,
which turns a remote failure into a local :class:`RemoteException` carrying
the remote exception's type name and message, before anyone awaits it.
"""

from foolscap.api import DeadReferenceError
from foolscap.call import CopiedFailure
from foolscap.tokens import Violation


class RemoteException(Exception):
    """A remote call failed on the far side.

    ``remote_type`` is the qualified name of the exception raised there (for
    example ``allmydata.storage.common.BadWriteEnablerError``), and
    ``message`` its text.
    """

    def __init__(self, remote_type: str, message: str):
        Exception.__init__(self, "%s: %s" % (remote_type, message))
        self.remote_type = remote_type
        self.message = message

    def is_type(self, name: str) -> bool:
        """True if the remote exception's class is named ``name`` (bare or
        qualified)."""
        return self.remote_type == name or self.remote_type.endswith("." + name)


def _text(x) -> str:
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    return str(x)


def _type_name(t) -> str:
    # A CopiedFailure's .type is not a string: Foolscap replaces the wire's
    # "module.Class" with a stand-in class carrying that __module__/__name__.
    if isinstance(t, (str, bytes)):
        return _text(t)
    name = getattr(t, "__name__", None)
    if name is None:
        return _text(t)
    module = getattr(t, "__module__", "")
    return "%s.%s" % (module, name) if module else name


def _localize(failure):
    if isinstance(failure, CopiedFailure):
        raise RemoteException(_type_name(failure.type), _text(failure.value))
    failure.raiseException()


def call_remote(rref, methname, *args, **kwargs):
    """``rref.callRemote(...)`` whose failures are local exceptions.

    Raises :class:`RemoteException` for an exception on the far side,
    ``foolscap`` ``Violation`` for arguments outside the constraints, and
    ``DeadReferenceError`` when the connection is gone.
    """
    d = rref.callRemote(methname, *args, **kwargs)
    d.addErrback(_localize)
    return d


__all__ = ["call_remote", "RemoteException", "DeadReferenceError", "Violation"]
