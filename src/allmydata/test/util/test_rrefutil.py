"""Tests for allmydata.util.rrefutil.call_remote over a real Foolscap link.

Two Tubs in this process talk over TCP on 127.0.0.1.  The point is the
NOTES.md pitfall: a remote exception must reach an ``await`` as a local
:class:`RemoteException` with its type name and message intact, instead of
crashing Twisted.
"""


import pytest
import pytest_twisted
from foolscap.api import DeadReferenceError, Referenceable, RemoteInterface, Tub, Violation
from foolscap.schema import StringConstraint
from zope.interface import implementer

from allmydata.testing.tubs import start_tub
from allmydata.util import idlib
from allmydata.util.rrefutil import RemoteException, call_remote


class WidgetJammedError(Exception):
    """The custom exception the remote side raises."""


class RIWidget(RemoteInterface):
    __remote_name__ = "RIWidget.allmydata.test.util.test_rrefutil"

    def add(a=int, b=int):
        return int

    def jam(why=StringConstraint(100)):
        return None

    def crash():
        return None


@implementer(RIWidget)
class Widget(Referenceable):
    def remote_add(self, a, b):
        return a + b

    def remote_jam(self, why):
        raise WidgetJammedError("The widget jammed: %s" % why.decode("utf-8"))

    def remote_crash(self):
        return {}["missing"]


@pytest_twisted.async_yield_fixture(scope="module")
async def link():
    """(server_tub, client_tub, furl, rref) for one Widget."""
    server = start_tub()
    client = Tub()
    client.startService()
    try:
        furl = server.registerReference(Widget(), "widget")
        rref = await client.getReference(furl)
        yield server, client, furl, rref
    finally:
        await client.stopService()
        await server.stopService()


@pytest_twisted.ensureDeferred
async def test_success_returns_the_value(link):
    _, _, _, rref = link
    assert await call_remote(rref, "add", 2, 40) == 42
    assert await call_remote(rref, "add", a=-1, b=1) == 0


@pytest_twisted.ensureDeferred
async def test_remote_exception_arrives_intact(link):
    _, _, _, rref = link
    with pytest.raises(RemoteException) as info:
        await call_remote(rref, "jam", "the lever 'abc' is stuck".encode("utf-8"))
    exc = info.value
    assert exc.remote_type.endswith("WidgetJammedError")
    assert exc.remote_type.endswith(".WidgetJammedError")
    assert exc.message == "The widget jammed: the lever 'abc' is stuck"
    assert exc.is_type("WidgetJammedError")
    assert exc.is_type(exc.remote_type)
    assert not exc.is_type("JammedError")  # a suffix of the name is not the name
    assert not exc.is_type("ValueError")
    assert "WidgetJammedError" in str(exc) and "is stuck" in str(exc)


@pytest_twisted.ensureDeferred
async def test_builtin_remote_exception(link):
    _, _, _, rref = link
    with pytest.raises(RemoteException) as info:
        await call_remote(rref, "crash")
    assert info.value.is_type("KeyError")
    assert info.value.remote_type == "builtins.KeyError"
    assert "missing" in info.value.message


@pytest_twisted.ensureDeferred
async def test_the_connection_survives_a_remote_exception(link):
    _, _, _, rref = link
    with pytest.raises(RemoteException):
        await call_remote(rref, "jam", b"x")
    assert await call_remote(rref, "add", 1, 1) == 2


@pytest_twisted.ensureDeferred
async def test_constraint_violation(link):
    _, _, _, rref = link
    with pytest.raises(Violation):
        await call_remote(rref, "add", "two", 40)
    with pytest.raises(Violation):
        await call_remote(rref, "jam", b"x" * 101)
    with pytest.raises(Violation):
        await call_remote(rref, "no_such_method")


@pytest_twisted.ensureDeferred
async def test_furl_names_the_server_tubid(link):
    server, _, furl, _ = link
    assert idlib.tubid_from_furl(furl) == idlib.nodeid_a2b(server.getTubID())


@pytest_twisted.ensureDeferred
async def test_dead_reference():
    server = start_tub()
    client = Tub()
    client.startService()
    try:
        rref = await client.getReference(server.registerReference(Widget()))
        assert await call_remote(rref, "add", 1, 2) == 3
        await server.stopService()
        with pytest.raises(DeadReferenceError):
            await call_remote(rref, "add", 1, 2)
    finally:
        await client.stopService()
        if server.running:
            await server.stopService()
