"""allmydata.util.broker: the broker that waits for the rest of a long string
delivers exactly what Foolscap's own does, to and from plain Foolscap Tubs,
refuses what the schema refuses, and does skip the re-parsing."""

import os

import pytest
import pytest_twisted
from foolscap.api import Referenceable, RemoteInterface, Tub
from foolscap.broker import Broker
from foolscap.schema import Any, StringConstraint
from twisted.internet import defer
from zope.interface import implementer

from allmydata.testing.tubs import start_tub
from allmydata.util.broker import StringWaitingBroker
from allmydata.util.rrefutil import RemoteException, call_remote


class RIBrokerTestEcho(RemoteInterface):
    __remote_name__ = "RIBrokerTestEcho.allmydata.test"

    def echo(data=Any()):
        return Any()

    def limited(data=StringConstraint(maxLength=100000)):
        return int


@implementer(RIBrokerTestEcho)
class Echo(Referenceable):
    def remote_echo(self, data):
        return data

    def remote_limited(self, data):
        return len(data)


SIZES = [0, 1, 64, 4095, 4096, 4097, 16383, 16384, 16385, 65537, 349526, 3 * 1024 * 1024 + 7]


@pytest_twisted.async_yield_fixture(params=["ours-ours", "ours-plain", "plain-ours"])
async def echo(request):
    """A reference to an Echo in another Tub; the server and client Tubs use
    our broker or Foolscap's, as the parameter says."""
    server_kind, client_kind = request.param.split("-")
    server = start_tub()
    if server_kind == "ours":
        server.brokerClass = StringWaitingBroker
    client = Tub()
    if client_kind == "ours":
        client.brokerClass = StringWaitingBroker
    client.startService()
    try:
        rref = await client.getReference(server.registerReference(Echo()))
        yield rref
    finally:
        await client.stopService()
        await server.stopService()


def blob(size: int, tag: int = 0) -> bytes:
    return (os.urandom(61) + bytes([tag])) * (size // 62) + os.urandom(size % 62)


@pytest_twisted.ensureDeferred
async def test_strings_of_every_size_come_back_whole(echo):
    for size in SIZES:
        data = blob(size)
        assert await call_remote(echo, "echo", data) == data


@pytest_twisted.ensureDeferred
async def test_many_calls_in_flight_and_nested_strings(echo):
    values = [blob(size, n) for n, size in enumerate(SIZES)]
    nested = {b"a": [values[-1], 7, values[3]], b"b": (values[-2], values[0]), b"c": values[-3]}
    calls = [call_remote(echo, "echo", v) for v in values] + [call_remote(echo, "echo", nested)]
    results = await defer.gatherResults(calls)
    assert results[:-1] == values
    assert results[-1] == {b"a": [values[-1], 7, values[3]], b"b": (values[-2], values[0]),
                           b"c": values[-3]}


@pytest_twisted.ensureDeferred
async def test_a_string_over_the_schema_limit_is_refused_and_the_connection_goes_on(echo):
    assert await call_remote(echo, "limited", blob(100000)) == 100000
    with pytest.raises(RemoteException) as info:
        await call_remote(echo, "limited", blob(350000), _useSchema=False)
    assert info.value.is_type("Violation"), info.value
    # the refused body was skipped, the stream is still in step
    data = blob(350000, 9)
    assert await call_remote(echo, "echo", data) == data
    assert await call_remote(echo, "limited", blob(5)) == 5


@pytest_twisted.ensureDeferred
async def test_a_long_string_is_parsed_once_not_per_chunk(monkeypatch):
    chunks, parses = [], []
    banana_parse = Broker.handleData
    ours = StringWaitingBroker.handleData

    def counting(self, chunk):
        parses.append(len(chunk))
        return banana_parse(self, chunk)

    def arriving(self, chunk):
        chunks.append(len(chunk))
        return ours(self, chunk)

    monkeypatch.setattr(Broker, "handleData", counting)
    server = start_tub()
    server.brokerClass = StringWaitingBroker
    client = Tub()
    client.brokerClass = StringWaitingBroker
    client.startService()
    try:
        rref = await client.getReference(server.registerReference(Echo()))
        monkeypatch.setattr(StringWaitingBroker, "handleData", arriving)
        data = blob(4 * 1024 * 1024)
        del chunks[:], parses[:]
        assert await call_remote(rref, "echo", data) == data
    finally:
        await client.stopService()
        await server.stopService()
    # 8 MiB crossed the connections (the call and its answer) in TLS records
    # of at most 16 KiB: Banana parsed only a few of the chunks they came in
    assert len(chunks) >= 2 * 4 * 1024 * 1024 // 16384
    assert len(parses) < len(chunks) // 10, (len(parses), len(chunks))


class Recorder:
    """A transport that keeps what is written."""

    def __init__(self):
        self.data = []

    def write(self, data):
        self.data.append(bytes(data))


class LookupCounter(dict):
    """A vocabulary table that counts the strings looked up in it."""

    lookups = 0

    def __contains__(self, key):
        LookupCounter.lookups += 1
        return dict.__contains__(self, key)


def wire(broker_class, tokens, vocab):
    broker = broker_class(None)
    broker.transport = Recorder()
    broker.outgoingVocabulary = LookupCounter(vocab)
    for token in tokens:
        broker.sendToken(token)
    return b"".join(broker.transport.data)


@pytest.mark.parametrize("vocab", [
    {b"write": 1, b"close": 2},
    {b"write": 1, b"x" * 1024: 2},  # a long entry: every lookup is made again
    {},
])
def test_the_tokens_sent_are_foolscaps_and_long_strings_are_not_looked_up(vocab):
    tokens = [0, 5, 2**40, -3, b"", b"write", b"close", b"y" * 1023, b"x" * 1024,
              b"z" * 1024, blob(349526), 1.5]
    LookupCounter.lookups = 0
    expected = wire(Broker, tokens, vocab)
    foolscap_lookups = LookupCounter.lookups
    LookupCounter.lookups = 0
    assert wire(StringWaitingBroker, tokens, vocab) == expected
    strings = [t for t in tokens if isinstance(t, bytes)]
    if any(len(k) >= 1024 for k in vocab):
        assert LookupCounter.lookups == foolscap_lookups == len(strings)
    else:
        assert LookupCounter.lookups == len([t for t in strings if len(t) < 1024])


def test_a_vocabulary_that_grows_a_long_entry_is_consulted_again():
    broker = StringWaitingBroker(None)
    broker.transport = Recorder()
    broker.outgoingVocabulary = {b"write": 1}
    long = b"q" * 5000
    broker.sendToken(long)
    broker.outgoingVocabulary[long] = 7  # as outgoingVocabTableWasAmended does
    broker.sendToken(long)
    plain = Broker(None)
    plain.transport = Recorder()
    plain.outgoingVocabulary = {b"write": 1}
    plain.sendToken(long)
    plain.outgoingVocabulary[long] = 7
    plain.sendToken(long)
    assert broker.transport.data == plain.transport.data
    assert broker.transport.data[-1:] != [long]  # the second went as a VOCAB token
