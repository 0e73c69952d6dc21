"""The HTTP connection of the web server, with two time limits on what a
client sends.

* **Idle timeout** (Twisted's own, ``Site(timeout=...)``): a connection on
  which nothing arrives for :data:`IDLE_TIMEOUT` seconds -- before a
  request, inside its headers or inside its body -- is closed.  Twisted
  suspends it while a request is being answered (an answer may take long:
  a big download, or a grid that is slow to respond) and restarts it after.
  An upload that keeps sending is never cut off, however long it takes.
* **Headers deadline** (:class:`TimedHTTPChannel`): the request line and
  headers must all have arrived :data:`HEADERS_TIMEOUT` seconds after their
  first byte.  Without it a client sending one byte just before every idle
  timeout could hold a connection for days with a request that never
  completes.

Both close the connection the way Twisted's idle timeout does (a clean
close, then an abort if the client does not go).

The channel also refuses (400) a ``Content-Length`` of more digits than any
body can have: Twisted converts it with ``int()``, which raises for more
than 4300 digits and drops the connection with an error in the log.
"""

from twisted.web import http

#: seconds without a byte from the client (outside the answering of a
#: request) after which its connection is closed: Twisted's default, which
#: is what Tahoe-LAFS's web server runs with
IDLE_TIMEOUT = 60

#: seconds from the first byte of a request until its last header line
HEADERS_TIMEOUT = 60

#: no request body is longer than a number of this many digits says
MAX_CONTENT_LENGTH_DIGITS = 20


class TimedHTTPChannel(http.HTTPChannel):
    """An :class:`~twisted.web.http.HTTPChannel` that closes the connection
    when a request's line and headers take longer than its site's
    ``headersTimeout`` seconds (None: no deadline) from their first byte."""

    def __init__(self):
        http.HTTPChannel.__init__(self)
        self._awaiting_headers = True    # between requests, or inside a request's headers
        self._headers_deadline = None

    def dataReceived(self, data):
        if self._awaiting_headers and self._headers_deadline is None:
            # (a channel built by a Site has it as .site)
            deadline = getattr(getattr(self, "site", None), "headersTimeout", HEADERS_TIMEOUT)
            if deadline is not None:
                self._headers_deadline = self.callLater(deadline, self._headers_too_slow)
        http.HTTPChannel.dataReceived(self, data)

    def headerReceived(self, line):
        name, sep, value = line.partition(b":")
        if (sep and name.strip().lower() == b"content-length"
                and len(value.strip(b" \t")) > MAX_CONTENT_LENGTH_DIGITS):
            # handed on as a value that is not a number: Twisted answers 400
            line = name + b": more than %d digits" % MAX_CONTENT_LENGTH_DIGITS
        return http.HTTPChannel.headerReceived(self, line)

    def allHeadersReceived(self):
        self._awaiting_headers = False
        self._cancel_deadline()
        http.HTTPChannel.allHeadersReceived(self)

    def requestDone(self, request):
        # the next request's headers are awaited: its deadline starts with
        # its first byte (bytes already buffered start it with the next ones)
        self._awaiting_headers = True
        http.HTTPChannel.requestDone(self, request)

    def connectionLost(self, reason):
        self._cancel_deadline()
        http.HTTPChannel.connectionLost(self, reason)

    def _cancel_deadline(self):
        if self._headers_deadline is not None:
            if self._headers_deadline.active():
                self._headers_deadline.cancel()
            self._headers_deadline = None

    def _headers_too_slow(self):
        self._headers_deadline = None
        self.timeoutConnection()


def use_timed_channels(site, headers_timeout=HEADERS_TIMEOUT):
    """Make ``site`` (a :class:`twisted.web.server.Site`) serve its
    connections with :class:`TimedHTTPChannel`\\ s and give it this
    headers deadline (``site.headersTimeout``, read when a request begins,
    as Twisted reads ``site.timeOut`` when a connection begins).  Twisted's
    default protocol could also switch to HTTP/2 after a TLS negotiation;
    this server speaks plain HTTP/1.1."""
    site.protocol = TimedHTTPChannel
    site.headersTimeout = headers_timeout
    return site
