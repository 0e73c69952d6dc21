"""The errors a download can end with, written for the person who reads them.

:class:`UnrecoverableFileError` is the family of "the grid does not hold this
file well enough": :class:`NoSharesError` when no server has a single share,
:class:`NotEnoughSharesError` when fewer than ``k`` good shares could be read.
Both carry the numbers and the per-server problems so that a web page or the
CLI can show them.  Nothing a download delivers to its consumer comes from a
segment that failed validation: these errors stop the download *before* any
wrong byte is written.
"""


class DownloadError(Exception):
    """Base class of everything the immutable downloader raises."""


class DownloadStopped(DownloadError):
    """The consumer (or a canceller) stopped the download before its end."""


class BadRangeError(DownloadError, ValueError):
    """read() was asked for a negative offset or size."""


def _format_problems(problems: dict) -> str:
    if not problems:
        return ""
    lines = []
    for server in sorted(problems):
        for problem in problems[server]:
            lines.append("  [%s] %s" % (server, problem))
    return "\n" + "\n".join(lines)


class UnrecoverableFileError(DownloadError):
    """Not enough good shares of the file could be read.

    Attributes: ``storage_index`` (bytes), ``needed`` (k), ``good_shares``
    (distinct share numbers that validated), ``good_servers`` (servers they
    came from), ``problems`` (``{server name: [problem text, ...]}``).
    """

    def __init__(self, message: str, storage_index: bytes = b"", needed: int = 0,
                 good_shares: int = 0, good_servers: int = 0, problems: dict | None = None):
        self.storage_index = storage_index
        self.needed = needed
        self.good_shares = good_shares
        self.good_servers = good_servers
        self.problems = dict(problems or {})
        DownloadError.__init__(self, message + _format_problems(self.problems))


class NoSharesError(UnrecoverableFileError):
    """No server holds any share of the file (or none answered)."""


class NotEnoughSharesError(UnrecoverableFileError):
    """Some shares exist, but fewer than ``k`` good ones could be used."""


class BadCiphertextError(DownloadError):
    """A segment decoded from validated blocks does not match the file's
    ciphertext hash tree: the shares were made inconsistently by their
    uploader.  No byte of that segment is delivered."""
