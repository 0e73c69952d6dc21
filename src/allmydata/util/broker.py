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

When sending, Banana looks every string up in its vocabulary table (a
string there goes as a short VOCAB token): for a share block that lookup
hashes the whole block, ~5% of a client's CPU time in a large upload
(``siphash13`` under ``perf``).  The vocabulary holds short names, and
Foolscap never adds to it on its own, so :meth:`StringWaitingBroker.sendToken`
sends a string of at least :data:`LONG_STRING` bytes as a STRING token without
the lookup while no vocabulary entry is that long: the same bytes on the wire.
"""

from foolscap.banana import b1282int, int2b128
from foolscap.broker import Broker
from foolscap.tokens import STRING

#: buffers shorter than this are left to Banana as they are
MIN_WAIT = 4096

#: strings at least this long are sent without a vocabulary lookup
LONG_STRING = 1024


class StringWaitingBroker(Broker):
    """A Broker that does not re-parse a long STRING token until it is
    whole, and sends a long string without a vocabulary lookup."""

    _string_end = 0  # buffer length at which the pending STRING is complete
    _vocab_seen = (None, -1)  # (the vocabulary table, its size) last checked
    _vocab_short = False  # whether that table held only strings < LONG_STRING

    def sendToken(self, obj):
        if type(obj) is bytes and len(obj) >= LONG_STRING and self._vocabulary_is_short():
            write = self.transport.write
            int2b128(len(obj), write)
            write(STRING)
            write(obj)
            return
        Broker.sendToken(self, obj)

    def _vocabulary_is_short(self) -> bool:
        """Whether no outgoing vocabulary entry is LONG_STRING bytes or longer
        (checked again whenever the table is replaced or grows)."""
        vocab = self.outgoingVocabulary
        seen, size = self._vocab_seen
        if seen is not vocab or size != len(vocab):
            self._vocab_short = all(len(k) < LONG_STRING for k in vocab)
            self._vocab_seen = (vocab, len(vocab))
        return self._vocab_short

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
