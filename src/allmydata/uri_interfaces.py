"""The zope Interfaces for capability objects of the 2008 interfaces, used by uri.py.

Kept apart from uri.py so that other modules can name the interfaces
without importing the parsers.
"""

from zope.interface import Interface

__all__ = ["IURI", "IVerifierURI", "IDirnodeURI", "IFileURI", "IMutableFileURI",
           "INewDirectoryURI", "IReadonlyNewDirectoryURI"]


class IURI(Interface):
    def init_from_string(uri):
        """Build an instance from a string made by to_string().  Callers
        normally use the module-level uri.from_string() instead."""

    def is_readonly():
        """False if this cap can be used to modify the data, else True."""

    def is_mutable():
        """True if the data can be modified by *somebody* (perhaps someone
        holding a more powerful cap than this one)."""

    def get_readonly():
        """The read-only form of this cap (self when is_readonly())."""

    def get_verifier():
        """An IVerifierURI that can check on the file's or directory's
        availability without reading or modifying it; None when there is
        nothing to check (LIT caps)."""

    def to_string():
        """The cap as bytes of printable ASCII, accepted by init_from_string."""


class IVerifierURI(Interface):
    def init_from_string(uri):
        """Build an instance from a string made by to_string()."""

    def to_string():
        """The cap as bytes of printable ASCII."""


class IDirnodeURI(Interface):
    """I am a URI which represents a dirnode."""


class IFileURI(Interface):
    """I am a URI which represents a filenode."""

    def get_size():
        """The length (in bytes) of the file that I represent."""


class IMutableFileURI(Interface):
    """I am a URI which represents a mutable filenode."""


class INewDirectoryURI(Interface):
    """A writeable (mutable) directory cap."""


class IReadonlyNewDirectoryURI(Interface):
    """A read-only cap to a mutable directory."""
