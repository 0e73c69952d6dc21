"""allmydata.util.broker's start-up check: the installed Foolscap has every
internal the node's broker relies on; a Foolscap Broker that lacks one makes
the node fall back to that Broker with one warning; and a storage server
behind the fallback still serves uploads and downloads, within its schema's
bounds."""

import os

import pytest
import pytest_twisted
from foolscap.api import Referenceable, Tub
from foolscap.broker import Broker
from twisted.internet import reactor
from twisted.logger import LogLevel, globalLogPublisher

from allmydata.node import create_node
from allmydata.scripts.runner import main
from allmydata.storage.limits import MAX_CALL_COST, TOKEN_COST
from allmydata.storage.server import StorageServer
from allmydata.testing.tubs import start_tub
from allmydata.util.broker import (
    BROKER_METHODS, StringWaitingBroker, choose_broker_class, missing_internals,
)
from allmydata.util.idlib import nodeid_a2b
from allmydata.util.rrefutil import RemoteException, call_remote


# ---- Foolscap Brokers as a later release might have them: in each, one internal
# StringWaitingBroker relies on has another shape
class RenamedParameterBroker(Broker):
    """``handleOpen``'s index token under another name (otherwise Foolscap's
    Broker as it is, so a Tub can use it)."""

    def handleOpen(self, openCount, objectCount, token):
        Broker.handleOpen(self, openCount, objectCount, token)


class RenamedReceiveStateBroker(Broker):
    """The index tokens of an OPEN kept under another name than
    ``opentype``."""

    def initReceive(self):
        Broker.initReceive(self)
        self.open_index_tokens = self.opentype
        del self.opentype


class ExtraParameterBroker(Broker):
    """``callFailed`` needs an argument more than StringWaitingBroker passes."""

    def callFailed(self, f, reqID, delivery, reason):
        Broker.callFailed(self, f, reqID, delivery)


VARIANTS = [
    (RenamedParameterBroker, "Broker.handleOpen" + BROKER_METHODS["handleOpen"]),
    (RenamedReceiveStateBroker, "Broker.opentype, a list"),
    (ExtraParameterBroker, "Broker.callFailed" + BROKER_METHODS["callFailed"]),
]


@pytest.fixture
def broker_warnings():
    """The events logged while the test runs."""
    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        yield events
    finally:
        globalLogPublisher.removeObserver(events.append)


def warnings_in(events):
    return [e for e in events if e.get("log_namespace") == "allmydata.util.broker"
            and e.get("log_level") == LogLevel.warn]


def test_the_installed_foolscap_has_every_internal_the_broker_relies_on(broker_warnings):
    assert missing_internals() == []
    chosen = choose_broker_class(5000, 7)
    assert issubclass(chosen, StringWaitingBroker)
    assert (chosen.max_call_cost, chosen.token_cost) == (5000, 7)
    assert warnings_in(broker_warnings) == []


def test_a_node_tub_uses_the_broker_the_check_chose(tmp_path, broker_warnings):
    basedir = str(tmp_path / "node")
    assert main(["create-node", "--hostname", "127.0.0.1", "--webport", "none", basedir]) == 0
    node = create_node(basedir, reactor)
    assert issubclass(node.tub.brokerClass, StringWaitingBroker)
    assert (node.tub.brokerClass.max_call_cost, node.tub.brokerClass.token_cost) == (
        MAX_CALL_COST, TOKEN_COST)
    assert warnings_in(broker_warnings) == []


@pytest.mark.parametrize("variant, what", VARIANTS)
def test_a_broker_lacking_an_internal_falls_back_to_foolscaps_with_one_warning(
        variant, what, broker_warnings):
    assert missing_internals(variant) == [what]
    assert choose_broker_class(MAX_CALL_COST, TOKEN_COST, foolscap_broker=variant) is variant
    [warning] = warnings_in(broker_warnings)
    assert warning["missing"] == what
    text = warning["log_format"].format(**warning)
    assert what in text
    assert "using Foolscap's own broker" in text
    assert "bounded only by the schema" in text


# ---- a storage server behind the fallback -------------------------------------------------
SI = b"fallback-SI-0123"
MUTABLE_SI = b"mutable-SI-45678"
RENEW, CANCEL, WRITE_ENABLER = (bytes([n]) * 32 for n in (1, 2, 3))
MiB = 1024 * 1024


@pytest_twisted.ensureDeferred
async def test_a_storage_server_behind_the_fallback_broker_serves_and_keeps_its_schema(
        tmp_path, broker_warnings):
    # a call limit the node's own broker would enforce: the fallback cannot
    fallback = choose_broker_class(1 * MiB, TOKEN_COST, foolscap_broker=RenamedParameterBroker)
    assert fallback is RenamedParameterBroker
    server_tub = start_tub()
    server_tub.brokerClass = fallback
    server_tub.setOption("logLocalFailures", False)
    server = StorageServer(str(tmp_path / "storage"), nodeid_a2b(server_tub.getTubID()))
    server.startService()
    client_tub = Tub()
    client_tub.startService()
    try:
        rref = await client_tub.getReference(server_tub.registerReference(server))
        assert [type(b) for b in server_tub.brokers.values()] == [RenamedParameterBroker]

        # an immutable share: allocate, write, close, read
        data = os.urandom(300_000)
        already, writers = await call_remote(rref, "allocate_buckets", SI, RENEW, CANCEL,
                                             {0, 1}, len(data), Referenceable())
        assert already == set() and sorted(writers) == [0, 1]
        for writer in writers.values():
            await call_remote(writer, "write", 0, data[:100_000])
            await call_remote(writer, "write", 100_000, data[100_000:])
            await call_remote(writer, "close")
        readers = await call_remote(rref, "get_buckets", SI)
        assert sorted(readers) == [0, 1]
        assert await call_remote(readers[1], "read", 0, len(data)) == data

        # the schema's bound on each string still holds: a storage index of
        # 17 bytes is refused before the server sees it
        with pytest.raises(RemoteException) as info:
            await call_remote(rref, "get_buckets", SI + b"x", _useSchema=False)
        assert info.value.is_type("Violation"), info.value

        # what the fallback loses: a call of more than the limit the node's
        # broker would have enforced is taken whole (each piece is within
        # the schema)
        pieces = [(i * 300_000, os.urandom(300_000)) for i in range(4)]
        ok, _ = await call_remote(rref, "slot_testv_and_readv_and_writev", MUTABLE_SI,
                                  (WRITE_ENABLER, RENEW, CANCEL),
                                  {0: ([(0, 1, b"eq", b"")], pieces, None)}, [])
        assert ok
        answer = await call_remote(rref, "slot_readv", MUTABLE_SI, [0],
                                   [(0, 1_200_000)])
        assert answer == {0: [b"".join(piece for _, piece in pieces)]}
    finally:
        await client_tub.stopService()
        await server_tub.stopService()
        await server.stopService()
    [warning] = warnings_in(broker_warnings)
    assert warning["missing"] == VARIANTS[0][1]
