"""The Foolscap broker our Tubs use: it waits for the rest of a long string.

Foolscap's Banana receiver re-parses the token at the head of its buffer each
time data arrives.  A share block (a few hundred KiB in a ``write`` or a
``read`` answer) arrives in TLS records of 16 KiB, so its header was parsed,
its size checked against the schema and the head of the buffer cut and
put back some twenty times before the block was complete: a sixth of the
CPU time of moving the block from one Tub to another (measured in one
process, sender and receiver together).

:class:`StringWaitingBroker` (installed as the Tub's ``brokerClass``, the
attribute Foolscap offers for this) looks at the head of the buffer once
after Banana has taken every complete token: if it is a STRING token whose
body has not all arrived, the next chunks are only appended to the buffer
until it has, and then Banana goes on as usual.  The bytes on the wire, the
schema checks and the errors are Foolscap's own; only the repeated parsing
of an incomplete token is skipped.
"""

from foolscap.banana import b1282int
from foolscap.broker import Broker
from foolscap.tokens import STRING

#: buffers shorter than this are left to Banana as they are
MIN_WAIT = 4096


class StringWaitingBroker(Broker):
    """A Broker that does not re-parse a long STRING token until it is whole."""

    _string_end = 0  # buffer length at which the pending STRING is complete

    def handleData(self, chunk):
        end = self._string_end
        if end:
            if not self.skipBytes and len(self.buffer) + len(chunk) < end:
                self.buffer.append(chunk)
                return
            self._string_end = 0
        Broker.handleData(self, chunk)
        self._string_end = self._pending_string_end()

    def _pending_string_end(self) -> int:
        """The buffer length that completes the STRING token at its head, if
        one is there and incomplete; 0 otherwise."""
        buf = self.buffer
        have = len(buf)
        if have < MIN_WAIT or self.skipBytes or self.discardCount:
            return 0
        head = buf.popleft(65)
        buf.appendleft(head)
        pos = 0
        for ch in head:
            if ch >= 0x80:
                break
            pos += 1
        else:
            return 0  # no type byte yet (Banana refuses headers over 64 bytes)
        if head[pos:pos + 1] != STRING:
            return 0
        end = pos + 1 + b1282int(head[:pos])
        return end if end > have else 0
