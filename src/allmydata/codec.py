"""The "crs" erasure codec: zfec behind ICodecEncoder/ICodecDecoder
(the codec interfaces of the 2008 interfaces, allmydata-tahoe 2008).

docs/specifications/immutable-shares.md §3: every segment's ciphertext is cut
into ``k`` equal pieces which zfec (Reed-Solomon over GF(2^8)) expands into
``N`` blocks.  The code is
systematic: blocks ``0..k-1`` are the input pieces themselves, so a reader
that holds exactly those needs no decoding at all.  Any ``k`` distinct blocks
recover the pieces.

zfec's C code does not check everything (two blocks claiming the same share
number make it hang), so every argument is validated here first and a
:class:`CodecError` says what was wrong.

Each block that is not an input piece is a linear combination of the input
pieces (encoding) or of the blocks held (decoding).  zfec's coefficients are
learned once per ``k``/``N`` (and per set of share numbers) by encoding and
decoding one-byte unit blocks with zfec itself, and the multiplying is done by
``allmydata._gf256`` (a small C extension using the processor's byte-shuffle
instructions, much faster than zfec's own loops; docs/performance.md);
where that extension was not built,
zfec does all the work.  Either way the blocks are zfec's, byte for byte.

The ``encode``/``decode`` methods of the 2008 interface return Deferreds; they
run synchronously (failures become errbacks).  The ``*_sync`` variants return
plain values; a caller that wants the work off the reactor thread wraps them
in ``deferToThread`` itself.
"""

import functools

import zfec
from twisted.internet import defer
from zope.interface import Interface, implementer

try:
    from . import _gf256
except ImportError:  # built without a C compiler: zfec does the arithmetic
    _gf256 = None

__all__ = ["CodecError", "CRSEncoder", "CRSDecoder", "parse_params", "MAX_SHARES",
           "ICodecEncoder", "ICodecDecoder"]

MAX_SHARES = 256


class ICodecEncoder(Interface):
    """The encoder contract of the 2008 interfaces."""

    def set_params(data_size, required_shares, max_shares):
        """Prepare to encode inputs of ``data_size`` bytes into ``max_shares`` blocks."""

    def get_encoder_type():
        """A short name of the codec (``b"crs"``)."""

    def get_serialized_params():
        """``b"SIZE-K-N"``, which a decoder's set_serialized_params() accepts."""

    def get_block_size():
        """Length of each block encode() produces."""

    def encode(inshares, desired_share_ids=None):
        """k equal pieces -> Deferred((blocks, shareids))."""


class ICodecDecoder(Interface):
    """The decoder contract of the 2008 interfaces."""

    def set_params(data_size, required_shares, max_shares):
        """Prepare to decode blocks of an input of ``data_size`` bytes."""

    def set_serialized_params(params):
        """Set up from a string returned by an encoder's get_serialized_params()."""

    def get_needed_shares():
        """How many distinct blocks decode() needs."""

    def decode(some_shares, their_shareids):
        """k distinct blocks with their ids -> Deferred(list of the k input pieces)."""


class CodecError(ValueError):
    """Bad parameters or bad input for the erasure codec."""


def _check_params(data_size, required_shares, max_shares):
    for name, value in (("data_size", data_size), ("required_shares", required_shares),
                        ("max_shares", max_shares)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise CodecError("%s must be an int, not %r" % (name, value))
    if not 1 <= required_shares <= max_shares <= MAX_SHARES:
        raise CodecError("codec needs 1 <= required_shares <= max_shares <= %d, got %d-of-%d"
                         % (MAX_SHARES, required_shares, max_shares))
    if data_size < 0:
        raise CodecError("data_size must be >= 0, got %d" % data_size)
    if data_size % required_shares:
        raise CodecError("data_size %d is not a multiple of required_shares %d (pad the data first)"
                         % (data_size, required_shares))


def parse_params(params) -> tuple:
    """``b"size-k-n"`` (or text) -> ``(data_size, k, n)``, validated."""
    if isinstance(params, bytes):
        try:
            params = params.decode("ascii")
        except UnicodeDecodeError:
            raise CodecError("codec params %r are not ASCII" % (params,)) from None
    if not isinstance(params, str):
        raise CodecError("codec params must be bytes or str, not %s" % type(params).__name__)
    parts = params.split("-")
    if len(parts) != 3 or not all(p.isdigit() and p.isascii() for p in parts):
        raise CodecError("codec params %r are not of the form SIZE-K-N" % (params,))
    data_size, k, n = (int(p) for p in parts)
    _check_params(data_size, k, n)
    return data_size, k, n


def _learn_rows(k: int, combine) -> bytes:
    """zfec's code is linear: ``combine(unit)`` on the ``k`` one-byte unit
    blocks gives column ``j`` of the matrix; returned row by row."""
    columns = [[out[0] for out in combine([b"\x01" if i == j else b"\x00" for i in range(k)])]
               for j in range(k)]
    return bytes(column[r] for r in range(len(columns[0])) for column in columns)


@functools.lru_cache(maxsize=64)
def _check_block_coefficients(k: int, n: int) -> bytes:
    """Row ``r`` (share ``k + r``) of zfec's code: ``k`` field elements."""
    encoder, checks = zfec.Encoder(k, n), list(range(k, n))
    return _learn_rows(k, lambda unit: encoder.encode(unit, checks))


@functools.lru_cache(maxsize=256)
def _decoding_coefficients(k: int, n: int, share_ids: tuple) -> bytes:
    """Row ``i`` (input piece ``i``) as a combination of the blocks of ``share_ids``."""
    decoder = zfec.Decoder(k, n)
    return _learn_rows(k, lambda unit: decoder.decode(unit, list(share_ids)))


class _CRSBase:
    _k = _n = _data_size = None

    def set_params(self, data_size, required_shares, max_shares):
        _check_params(data_size, required_shares, max_shares)
        self._data_size, self._k, self._n = data_size, required_shares, max_shares
        self._block_size = data_size // required_shares
        self._setup()

    def _setup(self):
        pass

    def _require_params(self):
        if self._k is None:
            raise CodecError("set_params() must be called before using the codec")

    def get_encoder_type(self) -> bytes:
        return b"crs"

    def get_serialized_params(self) -> bytes:
        self._require_params()
        return b"%d-%d-%d" % (self._data_size, self._k, self._n)

    def get_needed_shares(self) -> int:
        self._require_params()
        return self._k

    def get_max_shares(self) -> int:
        self._require_params()
        return self._n

    def get_data_size(self) -> int:
        self._require_params()
        return self._data_size

    def get_block_size(self) -> int:
        """Length of every block (share piece) of one encode() call."""
        self._require_params()
        return self._block_size

    get_share_size = get_block_size

    def _check_ids(self, ids, what):
        for sid in ids:
            if not isinstance(sid, int) or isinstance(sid, bool) or not 0 <= sid < self._n:
                raise CodecError("%s: share id %r is not an int in 0..%d" % (what, sid, self._n - 1))
        if len(set(ids)) != len(ids):
            raise CodecError("%s contains duplicate share ids: %r" % (what, sorted(ids)))


@implementer(ICodecEncoder)
class CRSEncoder(_CRSBase):
    ENCODER_TYPE = b"crs"

    def _setup(self):
        self._encoder = zfec.Encoder(self._k, self._n)

    def encode_sync(self, inshares, desired_share_ids=None):
        """``k`` equal pieces -> ``(blocks, shareids)`` for the requested ids.

        ``desired_share_ids`` defaults to ``0..N-1``; blocks come back in the
        order asked for.
        """
        self._require_params()
        inshares = list(inshares)
        if len(inshares) != self._k:
            raise CodecError("encode() needs exactly %d input pieces (k), got %d"
                             % (self._k, len(inshares)))
        for i, piece in enumerate(inshares):
            if len(piece) != self._block_size:
                raise CodecError("input piece %d is %d bytes; every piece must be %d bytes "
                                 "(data_size %d / k %d)" % (i, len(piece), self._block_size,
                                                            self._data_size, self._k))
        if desired_share_ids is None:
            desired_share_ids = list(range(self._n))
        else:
            desired_share_ids = list(desired_share_ids)
            self._check_ids(desired_share_ids, "desired_share_ids")
        if not desired_share_ids:
            return [], []
        pieces = [bytes(p) for p in inshares]
        if _gf256 is None:
            return list(self._encoder.encode(pieces, desired_share_ids)), desired_share_ids
        k = self._k
        checks = [sid for sid in desired_share_ids if sid >= k]
        if not checks:
            return [pieces[sid] for sid in desired_share_ids], desired_share_ids
        rows = _check_block_coefficients(k, self._n)
        computed = iter(_gf256.combine(
            b"".join(rows[(sid - k) * k:(sid - k + 1) * k] for sid in checks), len(checks), pieces))
        blocks = [pieces[sid] if sid < k else next(computed) for sid in desired_share_ids]
        return blocks, desired_share_ids

    def encode(self, inshares, desired_share_ids=None):
        """Like :meth:`encode_sync`, as a Deferred."""
        return defer.maybeDeferred(self.encode_sync, inshares, desired_share_ids)


@implementer(ICodecDecoder)
class CRSDecoder(_CRSBase):

    def _setup(self):
        self._decoder = zfec.Decoder(self._k, self._n)

    def set_serialized_params(self, params):
        self.set_params(*parse_params(params))

    def decode_sync(self, some_shares, their_shareids):
        """Any ``k`` (or more) distinct blocks -> the ``k`` original pieces, in order.

        With more than ``k`` blocks, ``k`` of them are used (primary blocks
        first, as they need no arithmetic).
        """
        self._require_params()
        some_shares = list(some_shares)
        their_shareids = list(their_shareids)
        if len(some_shares) != len(their_shareids):
            raise CodecError("decode() got %d blocks but %d share ids"
                             % (len(some_shares), len(their_shareids)))
        self._check_ids(their_shareids, "their_shareids")
        if len(some_shares) < self._k:
            raise CodecError("decode() needs %d distinct blocks (k), got only %d"
                             % (self._k, len(some_shares)))
        for sid, block in zip(their_shareids, some_shares, strict=True):
            if len(block) != self._block_size:
                raise CodecError("block for share %d is %d bytes; every block must be %d bytes"
                                 % (sid, len(block), self._block_size))
        by_id = dict(zip(their_shareids, some_shares, strict=True))
        if all(i in by_id for i in range(self._k)):
            return [bytes(by_id[i]) for i in range(self._k)]
        k = self._k
        use = sorted(by_id)[:k]
        if _gf256 is None:
            return list(self._decoder.decode([bytes(by_id[i]) for i in use], use))
        missing = [i for i in range(k) if i not in by_id]
        rows = _decoding_coefficients(k, self._n, tuple(use))
        computed = iter(_gf256.combine(
            b"".join(rows[i * k:(i + 1) * k] for i in missing), len(missing),
            [by_id[sid] for sid in use]))
        return [bytes(by_id[i]) if i in by_id else next(computed) for i in range(k)]

    def decode(self, some_shares, their_shareids):
        """Like :meth:`decode_sync`, as a Deferred."""
        return defer.maybeDeferred(self.decode_sync, some_shares, their_shareids)
