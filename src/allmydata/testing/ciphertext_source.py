"""A client's side of a helper upload, for tests: real ciphertext served over Foolscap.

:func:`encrypt` makes the ciphertext, key and storage index of a plaintext
the way our uploader does (convergent AES-128-CTR).  :class:`BytesCiphertextSource`
is a real ``RIEncryptedUploadable`` Referenceable serving that ciphertext; it
counts what the helper asked for (``calls``, ``bytes_served``) so that tests
can say how much ciphertext crossed the wire.  Subclasses change one method
to play a client that misbehaves.
"""

from foolscap.api import Referenceable
from zope.interface import implementer

from ..helper.interfaces import RIEncryptedUploadable
from ..immutable.uploadable import Data, EncryptAnUploadable

__all__ = ["BytesCiphertextSource", "encrypt"]


async def encrypt(plaintext: bytes, k: int = 3, n: int = 10, happy: int = 7,
                  max_segment_size: int = 128 * 1024, convergence: bytes = b"C" * 32):
    """``(ciphertext, key, storage_index, (k, happy, n, segment_size))``."""
    source = Data(plaintext, convergence)
    source.set_default_encoding_parameters({"k": k, "happy": happy, "n": n,
                                            "max_segment_size": max_segment_size})
    eu = EncryptAnUploadable(source)
    key = await eu.get_encryption_key()
    storage_index = await eu.get_storage_index()
    params = await eu.get_all_encoding_parameters()
    chunks = await eu.read_encrypted(len(plaintext))
    return b"".join(bytes(c) for c in chunks), key, storage_index, tuple(params)


@implementer(RIEncryptedUploadable)
class BytesCiphertextSource(Referenceable):
    """Serves ``ciphertext`` announcing ``params`` (k, happy, n, segment size).

    ``piece`` is the size of the pieces of each answer.  ``on_read(offset,
    length)``, if given, is called before each ``read_encrypted`` answer
    (a test stops the client there)."""

    def __init__(self, ciphertext: bytes, params, piece: int = 50 * 1024, on_read=None):
        self.ciphertext = ciphertext
        self.params = tuple(params)
        self.piece = piece
        self.on_read = on_read
        self.calls = []          # (method name, args)
        self.bytes_served = 0
        self.closed = False

    def remote_get_size(self):
        self.calls.append(("get_size", ()))
        return len(self.ciphertext)

    def remote_get_all_encoding_parameters(self):
        self.calls.append(("get_all_encoding_parameters", ()))
        return self.params

    def remote_read_encrypted(self, offset, length):
        self.calls.append(("read_encrypted", (offset, length)))
        if self.on_read is not None:
            self.on_read(offset, length)
        data = self.ciphertext[offset:offset + length]
        self.bytes_served += len(data)
        return [data[i:i + self.piece] for i in range(0, len(data), self.piece)]

    def remote_close(self):
        self.closed = True
        return None

    def reads(self) -> list:
        """(offset, length) of every read_encrypted call, in order."""
        return [args for name, args in self.calls if name == "read_encrypted"]
