"""AES-128 in CTR mode, as Tahoe-LAFS encrypts file contents (docs/specifications/immutable-shares.md §2).

The initial counter block is 16 zero bytes, read as a 128-bit big-endian
counter that goes up by one per 16-byte block, and a single keystream covers
a whole file.  So the byte at position ``p`` of a file is XORed with byte
``p % 16`` of ``AES(key, counter=p // 16)``.  :func:`ctr_encrypt` takes that
position as ``offset`` and can therefore encrypt or decrypt any slice of a
file on its own (a downloader fetching only some segments needs this).
:class:`CTRStream` continues the keystream across calls for streaming.

Encryption and decryption are the same operation.  The work is done by the
``cryptography`` package in C; no Python loop runs per block.
"""

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_SIZE = 16
BLOCK_SIZE = 16

__all__ = ["KEY_SIZE", "BLOCK_SIZE", "AESKeyError", "ctr_encrypt", "ctr_decrypt", "CTRStream"]


class AESKeyError(ValueError):
    """The key (or offset) given to the cipher is not usable."""


def _encryptor(key: bytes, offset: int):
    """A cryptography CTR context positioned at byte ``offset`` of the keystream."""
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise AESKeyError("AES key must be bytes, not %s" % type(key).__name__)
    if len(key) != KEY_SIZE:
        raise AESKeyError("AES-128 needs a 16-byte key, got %d bytes" % len(key))
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise AESKeyError("keystream offset must be an int, not %s" % type(offset).__name__)
    if offset < 0:
        raise AESKeyError("keystream offset must be >= 0, got %d" % offset)
    block, skip = divmod(offset, BLOCK_SIZE)
    counter = (block % (1 << 128)).to_bytes(BLOCK_SIZE, "big")
    enc = Cipher(algorithms.AES(bytes(key)), modes.CTR(counter)).encryptor()
    if skip:
        # Burn the first ``skip`` keystream bytes of this block.
        enc.update(b"\x00" * skip)
    return enc


def ctr_encrypt(key: bytes, data: bytes, offset: int = 0) -> bytes:
    """Encrypt (or decrypt) ``data`` that sits at byte ``offset`` of the stream."""
    return _encryptor(key, offset).update(data)


ctr_decrypt = ctr_encrypt


class CTRStream:
    """An AES-128-CTR keystream consumed piece by piece.

    ``CTRStream(key, offset).update(a) + .update(b)`` equals
    ``ctr_encrypt(key, a + b, offset)``, whatever the piece lengths.
    """

    def __init__(self, key: bytes, offset: int = 0):
        self._enc = _encryptor(key, offset)
        self._position = offset

    @property
    def position(self) -> int:
        """Keystream position of the next byte :meth:`update` will process."""
        return self._position

    def update(self, data: bytes) -> bytes:
        out = self._enc.update(data)
        self._position += len(out)
        return out
