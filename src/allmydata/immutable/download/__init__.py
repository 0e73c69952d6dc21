"""The immutable (CHK) downloader.

One module per step: :mod:`.finder` (which servers hold which shares),
:mod:`.share` (one share's reads and checks), :mod:`.validation` (the hash
chain from cap to block, and decoding), :mod:`.fetcher` (k blocks -> one
segment of plaintext), :mod:`.node` (a streaming ranged read),
:mod:`.segmentation` (range arithmetic), :mod:`.status` (results and status)
and :mod:`.downloader` (the IDownloader service and the list of downloads).
"""

from .errors import (  # noqa: F401
    BadCiphertextError,
    BadRangeError,
    DownloadError,
    DownloadStopped,
    NoSharesError,
    NotEnoughSharesError,
    UnrecoverableFileError,
)
