"""Test files: deterministic bytes that do not compress.

:func:`plaintext` gives the same bytes for the same length and tag, and
different files for different tags, so a test can upload files that do not
share a storage index (convergent encryption) or upload the same file twice.
"""

import hashlib

__all__ = ["plaintext"]


def plaintext(n: int, tag: bytes = b"") -> bytes:
    """``n`` bytes of a file named by ``tag``: a SHA-256 chain, each hash
    repeated 64 times."""
    out = []
    size = 0
    block = hashlib.sha256(b"plaintext" + tag).digest()
    while size < n:
        block = hashlib.sha256(block).digest()
        out.append(block * 64)
        size += 64 * len(block)
    return b"".join(out)[:n]
