"""Two ways to reach a real StorageServer, behind one interface.

* ``local``: a tiny adapter calls ``remote_*`` methods directly.  The
  uploader's canary is a :class:`FakeCanary`, a test double that records
  ``notifyOnDisconnect`` callbacks so a lost connection can be simulated.
* ``foolscap``: two Tubs in this process, connected over TCP on 127.0.0.1.
  Every call goes through ``call_remote``; the canary is a real
  Referenceable in the client Tub, lost by shutting that Tub down.

Both wrap the server in a ref with one method, ``await ref.call(name,
*args)``; objects returned by the server (bucket writers and readers) come
back wrapped the same way.  ``transport.raises(ErrorClass, match)`` checks
an error the way each transport delivers it: the exception itself locally,
a ``RemoteException`` naming its class over Foolscap; the object it yields
holds the error as ``value`` once the block has raised it.
"""

import itertools
import re
from contextlib import contextmanager

from foolscap.api import Referenceable, Tub
from foolscap.referenceable import RemoteReference
from foolscap.tokens import Violation
from twisted.internet import defer
from twisted.python.reflect import namedAny

from allmydata.storage.common import BadArgumentError
from allmydata.util.idlib import nodeid_a2b
from allmydata.util.rrefutil import RemoteException, call_remote

from .tubs import start_tub
from .waiting import eventually


class FakeCanary:
    """Stands in for the uploader's canary Referenceable (and only for it)."""

    def __init__(self):
        self._watchers = {}

    def notifyOnDisconnect(self, callback, *args, **kwargs):
        marker = object()
        self._watchers[marker] = (callback, args, kwargs)
        return marker

    def dontNotifyOnDisconnect(self, marker):
        self._watchers.pop(marker, None)

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    def disconnect(self):
        while self._watchers:
            _marker, (callback, args, kwargs) = self._watchers.popitem()
            callback(*args, **kwargs)


class Raised:
    """What a :func:`raises` block raised: ``value``."""

    value = None


@contextmanager
def raises(error_class):
    """Expect the block to raise ``error_class``; the yielded
    :class:`Raised` holds the error afterwards."""
    info = Raised()
    try:
        yield info
    except error_class as e:
        info.value = e
    else:
        raise AssertionError("DID NOT RAISE %s" % error_class.__name__)


def _wrap(value, wrap_ref, is_ref):
    if is_ref(value):
        return wrap_ref(value)
    if isinstance(value, tuple):
        return tuple(_wrap(v, wrap_ref, is_ref) for v in value)
    if isinstance(value, list):
        return [_wrap(v, wrap_ref, is_ref) for v in value]
    if isinstance(value, dict):
        return {k: _wrap(v, wrap_ref, is_ref) for k, v in value.items()}
    return value


class LocalRef:
    def __init__(self, target):
        self.target = target

    async def call(self, name, *args):
        result = await defer.maybeDeferred(getattr(self.target, "remote_" + name), *args)
        return _wrap(result, LocalRef, lambda v: isinstance(v, Referenceable))

    call_unchecked = call


class FoolscapRef:
    def __init__(self, rref):
        self.rref = rref

    async def call(self, name, *args):
        result = await call_remote(self.rref, name, *args)
        return _wrap(result, FoolscapRef, lambda v: isinstance(v, RemoteReference))

    async def call_unchecked(self, name, *args):
        """Send without checking the arguments against the schema here, as a
        client without our interface definitions would: the receiver checks."""
        return await call_remote(self.rref, name, *args, _useSchema=False)


class LocalTransport:
    name = "local"

    def __init__(self, storage_server):
        self.storage_server = storage_server
        self.server = LocalRef(storage_server)

    def new_canary(self):
        return FakeCanary()

    async def lose_canary(self, canary):
        canary.disconnect()

    @contextmanager
    def raises(self, error_class, match=None):
        with raises(error_class) as info:
            yield info
        if match is not None:
            assert re.search(match, str(info.value)), str(info.value)

    @contextmanager
    def raises_constraint_violation(self, sender_checks=True):
        """Arguments that Foolscap's schema would refuse: here the server's own
        checks refuse them."""
        with raises(BadArgumentError):
            yield

    async def close(self):
        await self.storage_server.stopService()


def _listening_tub(cert: bytes) -> Tub:
    return start_tub(cert=cert)


def _remote_is_a(error: RemoteException, error_class) -> bool:
    """Was the remote exception an ``error_class`` (or a subclass)?  Both
    ends run this code base, so the remote type name can be resolved here."""
    try:
        remote_class = namedAny(error.remote_type)
    except Exception:
        return error.is_type(error_class.__name__)
    return isinstance(remote_class, type) and issubclass(remote_class, error_class)


class FoolscapTransport:
    name = "foolscap"

    @staticmethod
    def server_tub(cert: bytes) -> Tub:
        return _listening_tub(cert)

    @classmethod
    async def start(cls, storage_server, server_tub: Tub, client_certs: list):
        self = cls()
        self.storage_server = storage_server
        self.server_tub = server_tub
        self._client_certs = itertools.cycle(client_certs)
        self.furl = server_tub.registerReference(storage_server)
        await self._connect()
        return self

    async def _connect(self):
        self.client_tub = Tub(certData=next(self._client_certs))
        self.client_tub.startService()
        self.server = FoolscapRef(await self.client_tub.getReference(self.furl))

    def new_canary(self):
        return Referenceable()

    async def lose_canary(self, canary):
        """Shut the client Tub down (losing every canary it sent), wait until
        the server has noticed, and connect again with a new client Tub."""
        await self.client_tub.stopService()
        server = self.storage_server
        await eventually(lambda: server.get_stats()["storage_server.active_uploads"] == 0,
                         what="the server to drop the uploads of the lost client")
        await self._connect()

    @contextmanager
    def raises(self, error_class, match=None):
        with raises(RemoteException) as info:
            yield info
        assert _remote_is_a(info.value, error_class), info.value
        if match is not None:
            assert re.search(match, info.value.message), info.value.message

    @contextmanager
    def raises_constraint_violation(self, sender_checks=True):
        """Foolscap refuses such arguments twice: in the sender (a local
        ``Violation``) and, for a sender that does not check
        (``call_unchecked``), in the receiver (a remote ``Violation``)."""
        try:
            yield
        except Violation:
            assert sender_checks, "the sender refused a call it was told not to check"
            return
        except RemoteException as e:
            assert e.is_type("Violation"), e
            assert not sender_checks, "the sender did not check the call against the schema"
            return
        raise AssertionError("the call was not refused by the Foolscap schema")

    @property
    def nodeid(self) -> bytes:
        return nodeid_a2b(self.server_tub.getTubID())

    async def close(self):
        await self.client_tub.stopService()
        await self.server_tub.stopService()
        await self.storage_server.stopService()
