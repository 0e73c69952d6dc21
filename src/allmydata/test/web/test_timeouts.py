"""Connections that send too slowly are closed (allmydata.web.channel):
idle connections and half-sent requests after the idle timeout, requests
whose headers trickle in after the headers deadline -- while an upload that
keeps moving and an answer that takes long are never cut off.  A
Content-Length of thousands of digits is a 400.

The logic runs on a ``task.Clock`` (the Site's reactor) with an in-memory
transport; then the client node's own resources are served by a Site with
short timeouts on a real socket on 127.0.0.1, and a raw TCP client sends
half a request and waits for the server to close the connection."""

import pytest
import pytest_twisted
from twisted.internet import defer, protocol, reactor, task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.web import resource, server

from allmydata.web.channel import HEADERS_TIMEOUT, IDLE_TIMEOUT, TimedHTTPChannel
from allmydata.web.common import make_site
from allmydata.web.root import Root

IDLE = 10
HEADERS = 30
REQUEST = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"y" * 50 + b"\r\n\r\n"


class Hello(resource.Resource):
    """Answers GET at once; POST with the length of the body it received;
    GET /later only when the test fires ``self.later``."""

    isLeaf = True

    def __init__(self):
        resource.Resource.__init__(self)
        self.later = []

    def render_GET(self, request):
        if request.path == b"/later":
            request.setHeader(b"Content-Length", b"11")
            d = defer.Deferred()
            d.addCallback(lambda _: (request.write(b"late answer"), request.finish()))
            self.later.append(d)
            return server.NOT_DONE_YET
        return b"hello"

    def render_POST(self, request):
        return b"got %d bytes" % len(request.content.read())


class Connection:
    """One connection to a Site on a Clock, through an in-memory transport."""

    def __init__(self, site, clock):
        self.clock = clock
        self.channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 12345))
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 12345))
        self.channel.makeConnection(self.transport)

    def send(self, data):
        self.channel.dataReceived(data)

    def trickle(self, data, step, every):
        """Send ``data`` ``step`` bytes at a time, ``every`` seconds apart
        (stopping if the server closes the connection)."""
        for i in range(0, len(data), step):
            if i:
                self.clock.advance(every)
            if self.closed:
                return
            self.send(data[i:i + step])

    @property
    def closed(self) -> bool:
        return self.transport.disconnecting

    @property
    def answers(self) -> int:
        return self.transport.value().count(b"HTTP/1.1 200 OK")


@pytest.fixture
def clock():
    return task.Clock()


@pytest.fixture
def hello():
    return Hello()


@pytest.fixture
def site(clock, hello):
    return make_site(hello, timeout=IDLE, headers_timeout=HEADERS, reactor=clock)


def test_defaults():
    site = make_site(Hello())
    assert (site.timeOut, site.headersTimeout) == (IDLE_TIMEOUT, HEADERS_TIMEOUT) == (60, 60)
    assert site.protocol is TimedHTTPChannel


def test_a_silent_connection_is_closed_after_the_idle_timeout(site, clock):
    c = Connection(site, clock)
    clock.advance(IDLE - 0.5)
    assert not c.closed
    clock.advance(1)
    assert c.closed and c.transport.value() == b""


@pytest.mark.parametrize("part", [b"GET /hel", b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                                  b"POST /hello HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + b"x" * 60])
def test_a_half_sent_request_is_closed_after_the_idle_timeout(site, clock, part):
    c = Connection(site, clock)
    clock.advance(IDLE - 1)
    c.send(part)
    clock.advance(IDLE - 0.5)       # the last byte restarted the timeout
    assert not c.closed
    clock.advance(1)
    assert c.closed and c.answers == 0


def test_headers_trickling_in_are_closed_at_the_deadline(site, clock):
    c = Connection(site, clock)
    # a byte every IDLE - 1 seconds: never idle for long enough, but the
    # headers are not complete HEADERS seconds after their first byte
    c.trickle(REQUEST, 1, IDLE - 1)
    assert c.closed and c.answers == 0
    assert clock.seconds() <= HEADERS + IDLE


def test_headers_within_the_deadline_are_answered(site, clock):
    c = Connection(site, clock)
    c.trickle(REQUEST, len(REQUEST) // 4 + 1, HEADERS / 5)
    assert not c.closed and c.answers == 1
    # the next request on the same connection has its own deadline
    clock.advance(IDLE - 1)
    c.trickle(REQUEST, len(REQUEST) // 4 + 1, HEADERS / 5)
    assert not c.closed and c.answers == 2
    # and an idle connection between requests is closed by the idle timeout
    clock.advance(IDLE + 1)
    assert c.closed


def test_an_upload_that_keeps_moving_is_not_cut_off(site, clock):
    body = b"z" * 200
    c = Connection(site, clock)
    c.send(b"POST /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % len(body))
    # 200 bytes, one every IDLE - 1 seconds: many times both limits in all
    c.trickle(body, 1, IDLE - 1)
    assert clock.seconds() > 20 * (IDLE + HEADERS)
    assert not c.closed
    assert c.transport.value().endswith(b"got 200 bytes")


def test_a_slow_answer_is_not_cut_off(site, clock, hello):
    c = Connection(site, clock)
    c.send(b"GET /later HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    clock.advance(100 * (IDLE + HEADERS))    # the grid is slow to answer
    assert not c.closed and c.transport.value() == b""
    hello.later[0].callback(None)
    assert c.transport.value().endswith(b"late answer") and not c.closed
    clock.advance(IDLE + 1)                  # then the idle timeout applies again
    assert c.closed


@pytest.mark.parametrize("length", [b"5" * 5000, b"0" * 5000 + b"5", b"1" + b"0" * 20])
def test_a_content_length_of_too_many_digits_is_a_400(site, clock, length):
    c = Connection(site, clock)
    c.send(b"PUT /hello HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: " + length
           + b"\r\n\r\n")
    assert c.transport.value().startswith(b"HTTP/1.1 400 Bad Request") and c.closed


def test_a_content_length_of_twenty_digits_is_read(site, clock):
    c = Connection(site, clock)
    c.send(b"POST /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 00000000000000000003"
           b"\r\n\r\nabc")
    assert c.transport.value().endswith(b"got 3 bytes") and not c.closed


def test_a_pipelined_request_after_an_answer_is_answered(site, clock):
    c = Connection(site, clock)
    c.send(REQUEST + REQUEST)
    assert c.answers == 2 and not c.closed


# ---- real sockets ---------------------------------------------------------------------------
class HalfRequest(protocol.Protocol):
    """Sends ``data`` on connecting, keeps what comes back, and fires
    ``closed`` when the server closes the connection."""

    def __init__(self, data):
        self.data = data
        self.received = b""
        self.closed = defer.Deferred()

    def connectionMade(self):
        self.transport.write(self.data)

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.closed.callback(self.received)


async def _connect(port, data) -> HalfRequest:
    return await protocol.ClientCreator(reactor, HalfRequest, data).connectTCP("127.0.0.1", port)


async def _closed_by_server(client: HalfRequest, wait=30):
    """What the server sent before it closed the client's connection; the
    test fails if the server keeps it open ``wait`` seconds."""
    timer = reactor.callLater(wait, client.transport.abortConnection)
    try:
        received = await client.closed
    finally:
        still_waiting = timer.active()
        if still_waiting:
            timer.cancel()
    assert still_waiting, "the server kept the connection open for %d seconds" % wait
    return received


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("data", [
    b"",                                                      # nothing at all
    b"GET /uri?t=mk",                                         # half a request line
    b"PUT /uri HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le",    # half the headers
    b"PUT /uri HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n" + b"b" * 500,
])
async def test_the_node_closes_half_sent_requests_on_a_real_socket(ours_webapi, data):
    site = make_site(Root(ours_webapi.grid.client_node), timeout=0.5, headers_timeout=1.0)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    try:
        client = await _connect(port.getHost().port, data)
        assert await _closed_by_server(client) == b""      # closed without an answer
        # a whole request on the same server is answered (then closed when idle)
        client = await _connect(port.getHost().port,
                                b"GET /?t=json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = await _closed_by_server(client)
        assert received.startswith(b"HTTP/1.1 200 OK") and b'"servers"' in received
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_trickled_headers_are_closed_on_a_real_socket(ours_webapi):
    site = make_site(Root(ours_webapi.grid.client_node), timeout=5, headers_timeout=0.5)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    try:
        client = await _connect(port.getHost().port, b"G")
        sent = []

        def one_more_byte():
            if not client.closed.called and len(sent) < 400:
                sent.append(1)
                client.transport.write(b"E")     # a header that never ends
                reactor.callLater(0.1, one_more_byte)
        client.transport.write(b"ET / HTTP/1.1\r\nX-Slow: ")
        one_more_byte()
        assert await _closed_by_server(client) == b""
        assert len(sent) < 400      # closed while the client was still sending
    finally:
        await port.stopListening()
