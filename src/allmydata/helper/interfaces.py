"""The upload helper's remote interfaces, and the upload results it sends back.

The 2008 interfaces define three: ``RIHelper`` (``upload_chk``),
``RICHKUploadHelper`` (``upload``) and ``RIEncryptedUploadable`` (the
client's ciphertext source, which the helper reads).  Tahoe-LAFS later added
``get_version`` to the first two and dropped the plaintext-hash methods of the
third; both sets are here, under the same remote names, so a 2008-style peer
and a Tahoe-LAFS 1.20 peer both find what they call.  A helper never calls
the plaintext-hash methods: a Tahoe-LAFS 1.20 client does not have them.

What the helper receives is bounded here, since the client may be hostile:
a ``read_encrypted`` answer is at most :data:`MAX_READ_PIECES` pieces of at
most :data:`MAX_READ_PIECE` bytes each (the helper asks for no more than
that many bytes at once, and checks the total against what it asked for).

:class:`HelperUploadResults` is the Foolscap ``Copyable`` in which a helper
answers ``upload_chk`` and ``upload``.  Its copy type is Tahoe-LAFS's, so
that a Tahoe-LAFS client can read the results of our helper and ours can read
those of a Tahoe-LAFS helper.  Its attributes:

* ``uri_extension_hash`` (32 bytes) and ``uri_extension_data`` (dict with
  ``str`` keys: ``needed_shares``, ``total_shares``, ``segment_size``,
  ``size`` ...; empty until known): the client builds the CHK cap from these
  and its own key;
* ``sharemap`` ``{shnum: set(serverid)}``, ``servermap``
  ``{serverid: set(shnum)}`` (server ids are 20-byte binary tub ids);
* ``file_size``, ``ciphertext_fetched`` (bytes the helper read from the
  client in this upload), ``preexisting_shares``, ``pushed_shares``,
  ``timings`` (``{name: seconds}``, the names of the 2008 IUploadResults);
* ``uri`` (always None) and, from a Tahoe-LAFS helper, ``verifycapstr``.

Every attribute may be missing or None in what a peer sends: the already-stored
answer of a Tahoe-LAFS helper has no ``file_size`` or ``timings``.  Readers
use :meth:`HelperUploadResults.get`.
"""

from foolscap.api import Copyable, RemoteCopy, RemoteInterface
from foolscap.copyable import AttributeDictConstraint
from foolscap.schema import (
    Any, ByteStringConstraint, ChoiceOf, DictOf, ListOf, SetOf, UnicodeConstraint,
)

from ..storage.interfaces import Hash, Number, Offset, ReadSize, ShareNumber, StorageIndex

#: the largest piece of ciphertext one ``read_encrypted`` answer may hold
MAX_READ_PIECE = 256 * 1024
#: the most pieces one ``read_encrypted`` answer may hold (a Tahoe-LAFS client
#: answers in pieces of 50 KiB).  With :data:`MAX_READ_PIECE` this bounds what
#: the helper buffers of one answer, before it can check it, to 32 MiB.
MAX_READ_PIECES = 128

#: the version dictionary key of the helper protocol
HELPER_V1 = b"http://allmydata.org/tahoe/protocols/helper/v1"

UploadResults = Any()


class RIEncryptedUploadable(RemoteInterface):
    __remote_name__ = "RIEncryptedUploadable.tahoe.allmydata.com"

    def get_size():
        """The size of the file (plaintext and ciphertext), in bytes."""
        return Offset

    def get_all_encoding_parameters():
        """(k, happy, n, segment_size) the client wants the file encoded with."""
        return (int, int, int, int)

    def read_encrypted(offset=Offset, length=ReadSize):
        """``length`` bytes of ciphertext from ``offset``, as a list of pieces
        (fewer bytes only at the end of the file)."""
        return ListOf(ByteStringConstraint(MAX_READ_PIECE), maxLength=MAX_READ_PIECES)

    def get_plaintext_hashtree_leaves(first=int, last=int, num_segments=int):
        """The 2008 plaintext hash tree leaves of segments [first, last)."""
        return ListOf(Hash)

    def get_plaintext_hash():
        """The 2008 hash of the whole plaintext."""
        return Hash

    def close():
        """The helper has read all it needs."""
        return None


class RICHKUploadHelper(RemoteInterface):
    __remote_name__ = "RIUploadHelper.tahoe.allmydata.com"

    def get_version():
        """{HELPER_V1: {}, b"application-version": bytes}"""
        return DictOf(bytes, Any())

    def upload(reader=RIEncryptedUploadable):
        """Fetch the ciphertext from ``reader``, encode it and place the
        shares; return a :class:`HelperUploadResults`."""
        return UploadResults


class RIHelper(RemoteInterface):
    __remote_name__ = "RIHelper.tahoe.allmydata.com"

    def get_version():
        """{HELPER_V1: {}, b"application-version": bytes}"""
        return DictOf(bytes, Any())

    def upload_chk(si=StorageIndex):
        """(results, None) when the servers already hold the file, else
        (results, an RICHKUploadHelper to call ``upload`` on)."""
        return (UploadResults, ChoiceOf(RICHKUploadHelper, None))


# What a helper's results may hold, checked by Foolscap as they arrive so that
# a helper cannot make its client hold more than this.  Server ids are
# Tahoe-LAFS's (``v0-...`` names) or 20-byte tub ids; UEB values are numbers,
# hashes and codec parameter strings.  Foolscap cannot choose between a dict
# (or a set) and something else as it reads one, so the dict attributes are
# always dicts (never None) and share holders always sets.
_ServerId = ByteStringConstraint(128)
_Name = UnicodeConstraint(64)
_MaybeCount = ChoiceOf(None, Number)
_CapString = ChoiceOf(None, ByteStringConstraint(1000), UnicodeConstraint(1000))
RESULTS_SCHEMA = AttributeDictConstraint(
    ("timings", DictOf(_Name, ChoiceOf(None, float, Number), maxKeys=64)),
    ("sharemap", DictOf(ShareNumber, SetOf(_ServerId, maxLength=256), maxKeys=256)),
    ("servermap", DictOf(_ServerId, SetOf(ShareNumber, maxLength=256), maxKeys=256)),
    ("file_size", _MaybeCount),
    ("ciphertext_fetched", _MaybeCount),
    ("uri", _CapString),
    ("preexisting_shares", _MaybeCount),
    ("pushed_shares", _MaybeCount),
    ("uri_extension_data", DictOf(_Name, ChoiceOf(Number, ByteStringConstraint(1000),
                                                  UnicodeConstraint(1000)), maxKeys=64)),
    ("uri_extension_hash", ChoiceOf(None, Hash)),
    ("verifycapstr", _CapString),
)


class HelperUploadResults(Copyable, RemoteCopy):
    """The results a helper sends its client (see the module docstring).
    What a peer's copy may hold is :data:`RESULTS_SCHEMA`: an attribute it
    does not name, or a value outside its bounds, fails the call."""

    typeToCopy = "allmydata.upload.UploadResults.tahoe.allmydata.com"
    copytype = typeToCopy
    stateSchema = RESULTS_SCHEMA

    def __init__(self):
        self.timings = {}
        self.sharemap = {}
        self.servermap = {}
        self.file_size = None
        self.ciphertext_fetched = None
        self.uri = None
        self.preexisting_shares = None
        self.pushed_shares = None
        self.uri_extension_data = {}
        self.uri_extension_hash = None

    def setCopyableState(self, state):
        """Take the peer's attributes, except those that are not text or that
        name something of this class (a method such as :meth:`get`): a peer
        cannot replace a method of our copy."""
        self.__init__()
        for name, value in state.items():
            if isinstance(name, str) and not hasattr(type(self), name):
                self.__dict__[name] = value

    def get(self, name, default=None):
        """An attribute the peer may have left out, set to None or (for the
        UEB) left empty."""
        value = getattr(self, name, None)
        if value is None or (name == "uri_extension_data" and not value):
            return default
        return value
