"""The Foolscap broker our Tubs use: it waits for the rest of a long string.

Foolscap's Banana receiver re-parses the token at the head of its buffer each
time data arrives.  A share block (a few hundred KiB in a ``write`` or a
``read`` answer) arrives in TLS records of 16 KiB, so Banana alone would
parse its header, check its size against the schema and cut and put back
the head of the buffer some twenty times before the block is complete: a
large part of the CPU time of moving the block from one Tub to another
(docs/performance.md).

:class:`StringWaitingBroker` (installed as the Tub's ``brokerClass``, the
attribute Foolscap offers for this) looks at the head of the buffer once
after Banana has taken every complete token: if it is a STRING token whose
body has not all arrived, the next chunks are only appended to the buffer
until it has, and then Banana goes on as usual.  The bytes on the wire, the
schema checks and the errors are Foolscap's own; only the repeated parsing
of an incomplete token is skipped.

When sending, Banana looks every string up in its vocabulary table (a
string there goes as a short VOCAB token): for a share block that lookup
hashes the whole block, a visible part of a client's CPU time in a large
upload (``siphash13`` under ``perf``).  The vocabulary holds short names, and
Foolscap never adds to it on its own, so :meth:`StringWaitingBroker.sendToken`
sends a string of at least :data:`LONG_STRING` bytes as a STRING token without
the lookup while no vocabulary entry is that long: the same bytes on the wire.

Two more changes concern calls that come in (a server's side):

* **What one call may cost.**  Foolscap's schemas bound each string and
  each list of a call, not the call as a whole.  A broker made by
  :meth:`StringWaitingBroker.with_call_limit` meters every inbound call while
  it arrives: each object received costs ``token_cost`` plus its bytes, and
  a call that passes ``max_call_cost`` is refused as a schema violation
  would be (the caller gets a ``Violation``, the rest of the call is skipped
  without being kept, the method never runs).  Answers to our own calls are
  not metered.
* **A call's arguments go when it is done.**  Foolscap's unslicers refer
  to each other in cycles, and the one that gathered a call's arguments
  keeps them until Python's cycle collector runs, which a few large
  strings do not prompt: a server that took 50 MiB writes grew by 50 MiB
  each.  The arguments are dropped as soon as the call has answered (or
  failed: the failure's traceback drops its frames, which held them too),
  and a call refused while it arrived is collected at once.
* **A failed call is logged in one line.**  Foolscap's ``logLocalFailures``
  logs the whole argument list of a failed call, and its log keeps recent
  events in memory: every refused large write stayed in memory.  Nodes turn
  it off; :meth:`StringWaitingBroker.callFailed` logs the method and the
  reason instead, and keeps nothing.

All of this overrides Foolscap internals, not its API: the methods, the
receive state and the call delivery of its Broker, checked against the
Foolscap versions ``pyproject.toml`` allows.  :func:`choose_broker_class`,
which a node calls when it makes its Tub, checks that they are still there
in the same shape (:func:`missing_internals`) and falls back to Foolscap's
own Broker, with a warning in the log, when they are not: the node keeps
working, within its schemas' bounds on each string and list, without the
limit on a whole call (see :func:`choose_broker_class` for what is lost).
"""

import gc
import inspect

import foolscap
# Foolscap's internals are reached through their modules, not imported by
# name: a Foolscap without one still imports this module, and
# choose_broker_class falls back to its own Broker
from foolscap import banana, call, tokens
from foolscap.api import RemoteInterface, Tub
from foolscap.broker import Broker
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger()

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
    #: what one inbound call may cost to receive (None: no limit), and what
    #: each object of it costs besides its bytes
    max_call_cost = None
    token_cost = 0
    _call_cost = None  # the cost of the inbound call being received, if metered

    @classmethod
    def with_call_limit(cls, max_call_cost: int, token_cost: int) -> type:
        """A subclass that refuses inbound calls costing more than
        ``max_call_cost`` (see the module docstring)."""
        return type(cls.__name__, (cls,), {"max_call_cost": max_call_cost,
                                           "token_cost": token_cost})

    # ---- inbound calls -----------------------------------------------------------
    def handleOpen(self, openCount, objectCount, indexToken):
        if len(self.receiveStack) == 1 and not self.opentype:
            # a new message at the top level: only a call is metered
            metered = self.max_call_cost is not None and indexToken in (b"call", "call")
            self._call_cost = 0 if metered else None
        Broker.handleOpen(self, openCount, objectCount, indexToken)

    def handleToken(self, token, ready_deferred=None):
        if self._call_cost is not None and len(self.receiveStack) > 1:
            self._call_cost += self.token_cost + (len(token) if type(token) is bytes else 0)
            if self._call_cost > self.max_call_cost:
                self._call_cost = None
                try:
                    raise tokens.Violation("this call is larger than the %d bytes a call "
                                           "to this node may carry" % self.max_call_cost)
                except tokens.Violation:
                    f = tokens.BananaFailure()
                self.handleViolation(f, "receiveChild")
                del f, token
                gc.collect()  # what the refused call had gathered sits in cycles
                return
        Broker.handleToken(self, token, ready_deferred)

    def _callFinished(self, res, delivery):
        try:
            return Broker._callFinished(self, res, delivery)
        finally:
            _forget_arguments(delivery)

    def callFailed(self, f, reqID, delivery=None):
        """Log one line for an inbound call that failed (the reason, never
        the arguments), then answer the caller as Foolscap does."""
        if delivery is not None and delivery.methodname is not None:
            interface = delivery.interface.getName() if delivery.interface else "?"
            method = "%s.%s" % (interface, delivery.methodname)
        else:
            method = "a call refused while it arrived"
        try:
            remote = self.remote_tubref.getShortTubID() if self.remote_tubref else "?"
        except Exception:
            remote = "?"
        reason = " ".join(("%s: %s" % (getattr(f.type, "__name__", f.type),
                                       f.getErrorMessage())).split())
        log.info("inbound call {method} from {remote} failed: {reason}",
                 method=method, remote=remote, reason=reason[:300])
        # the traceback's frames hold the call's arguments, in a cycle with
        # the failure; the answer needs only their names and lines
        f.cleanFailure()
        Broker.callFailed(self, f, reqID, delivery)
        if delivery is not None:
            _forget_arguments(delivery)

    # ---- sending and waiting for long strings -------------------------------------
    def sendToken(self, obj):
        if type(obj) is bytes and len(obj) >= LONG_STRING and self._vocabulary_is_short():
            write = self.transport.write
            banana.int2b128(len(obj), write)
            write(tokens.STRING)
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
        if head[pos:pos + 1] != tokens.STRING:
            return 0
        end = pos + 1 + banana.b1282int(head[:pos])
        return end if end > have else 0


def _forget_arguments(delivery) -> None:
    """Drop the arguments of a call that is done from the objects that
    received them (see the module docstring)."""
    gathered = getattr(delivery, "allargs", None)
    if gathered is not None:
        gathered.args = []
        gathered.kwargs = {}


# ---- the Foolscap internals this module relies on ---------------------------------

#: the methods of Foolscap's Broker that StringWaitingBroker overrides or
#: calls, with the parameters it passes them
BROKER_METHODS = {
    "handleOpen": "(self, openCount, objectCount, indexToken)",
    "handleToken": "(self, token, ready_deferred=None)",
    "handleViolation": "(self, f, methname, inOpen=False, inClose=False)",
    "_callFinished": "(self, res, delivery)",
    "callFailed": "(self, f, reqID, delivery=None)",
    "sendToken": "(self, obj)",
    "handleData": "(self, chunk)",
}

#: the parameters of the call delivery Foolscap hands ``_callFinished`` and
#: ``callFailed`` (its ``interface``, ``methodname`` and ``allargs`` are read)
DELIVERY_PARAMETERS = "(self, broker, reqID, obj, interface, methodname, methodSchema, allargs)"

#: what the fallback gives up (said in the log line and in choose_broker_class)
FALLBACK_LOSES = (
    "an inbound call is bounded only by the schema's limit on each of its strings and "
    "lists, not as a whole; a finished call's arguments stay in memory until Python's "
    "cycle collector runs; failed inbound calls are not logged; long strings are parsed "
    "again as each piece arrives and looked up in the vocabulary when sent")


def missing_internals(foolscap_broker: type = Broker) -> list:
    """What :class:`StringWaitingBroker` relies on that ``foolscap_broker``
    (Foolscap's ``Broker``; a test hands a variant of it) and the Foolscap
    modules lack or have in another shape: one description per item, none
    when all are as this module was written for.

    Checked: the signatures of the Broker methods overridden or called
    (:data:`BROKER_METHODS`); the receive state a Broker holds
    (``receiveStack``, ``opentype``, ``buffer``, ``skipBytes``,
    ``discardCount``), its outgoing vocabulary and ``remote_tubref``; the
    STRING token, Banana's base-128 header coding, ``Violation`` and
    ``BananaFailure``; the call delivery's parameters and the ``args`` and
    ``kwargs`` of its gathered arguments; and ``Tub.brokerClass``, the hook
    the broker is installed through (were a Tub to stop reading it, setting
    it would be ignored without a word)."""
    missing = []

    def need(what, holds):
        try:
            ok = holds()
        except Exception:
            ok = False
        if not ok:
            missing.append(what)

    for name, params in BROKER_METHODS.items():
        need("Broker.%s%s" % (name, params),
             lambda: str(inspect.signature(getattr(foolscap_broker, name))) == params)
    try:
        broker = foolscap_broker(None)
        broker.initUnslicer()  # what connectionMade does first: the receive stack
    except Exception:
        broker = None
    need("Broker(None) and its initUnslicer()", lambda: broker is not None)
    need("Broker.receiveStack, a list", lambda: type(broker.receiveStack) is list)
    need("Broker.opentype, a list", lambda: type(broker.opentype) is list)
    need("Broker.buffer, a StringChain",
         lambda: all(callable(getattr(broker.buffer, m))
                     for m in ("append", "appendleft", "popleft", "clear", "__len__")))
    need("Broker.skipBytes and Broker.discardCount, ints",
         lambda: type(broker.skipBytes) is int and type(broker.discardCount) is int)
    need("Broker.outgoingVocabulary, a dict", lambda: type(broker.outgoingVocabulary) is dict)
    need("Broker.remote_tubref", lambda: hasattr(broker, "remote_tubref"))
    need("Tub.brokerClass", lambda: issubclass(foolscap_broker, Tub.brokerClass))
    need("foolscap.tokens.STRING, the token b'\\x82'", lambda: tokens.STRING == b"\x82")
    need("foolscap.tokens.Violation and BananaFailure",
         lambda: issubclass(tokens.Violation, Exception)
         and issubclass(tokens.BananaFailure, Failure))
    need("foolscap.banana.int2b128 and b1282int, Banana's header coding",
         lambda: _header_coding_round_trips(300, b"\x2c\x02"))
    need("foolscap.call.InboundDelivery%s" % DELIVERY_PARAMETERS,
         lambda: str(inspect.signature(call.InboundDelivery.__init__)) == DELIVERY_PARAMETERS)
    need("foolscap.call.ArgumentUnslicer's args and kwargs", _arguments_are_gathered_in_lists)
    need("RemoteInterface.getName", lambda: callable(RemoteInterface.getName))
    return missing


def _header_coding_round_trips(number: int, encoded: bytes) -> bool:
    written = []
    banana.int2b128(number, written.append)
    return b"".join(written) == encoded and banana.b1282int(encoded) == number


def _arguments_are_gathered_in_lists() -> bool:
    gathered = call.ArgumentUnslicer()
    gathered.start(0)
    return gathered.args == [] and gathered.kwargs == {}


def choose_broker_class(max_call_cost: int, token_cost: int,
                        foolscap_broker: type = Broker) -> type:
    """The broker class a node's Tub uses: :class:`StringWaitingBroker`
    refusing inbound calls that cost more than ``max_call_cost`` when
    Foolscap has every internal it relies on (:func:`missing_internals`);
    otherwise ``foolscap_broker``, Foolscap's own, with one warning naming
    what is missing and what is lost.  (``foolscap_broker`` is the class
    checked and fallen back to; tests hand a variant of Foolscap's Broker.)

    The fallback keeps the node working and within Foolscap's own checks:
    every string and list of an inbound call is still bounded by its schema
    (for the storage server, :mod:`allmydata.storage.interfaces`), and the
    storage server still checks the totals of a call before it acts on it.
    What is lost: a call as a whole is not bounded while it arrives, so a
    hostile client can make the node hold as much as the schema allows a
    call to carry; the arguments of finished calls are not dropped at once;
    failed inbound calls are not logged (a node keeps Foolscap's
    ``logLocalFailures`` off: its log would keep their arguments in memory);
    and the speed of long strings."""
    missing = missing_internals(foolscap_broker)
    if not missing:
        return StringWaitingBroker.with_call_limit(max_call_cost, token_cost)
    log.warn("Foolscap {version} lacks what allmydata.util.broker relies on ({missing}): "
             "using Foolscap's own broker, so {loses}",
             version=foolscap.__version__, missing="; ".join(missing), loses=FALLBACK_LOSES)
    return foolscap_broker
