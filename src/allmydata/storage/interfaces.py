"""The storage protocol: the Foolscap RemoteInterfaces for storage
of the 2008 interfaces (allmydata-tahoe 2008).

These names, argument names and argument order are the wire contract
(docs/specifications/storage-protocol.md).  The 2008 methods are all here; the methods that
Tahoe-LAFS clients call today (``get_version``, ``add_lease``,
``advise_corrupt_share``) are added beside them.

Two constraints are wider than the 2008 ones because Tahoe-LAFS widened them and
its clients depend on that:

* ``ShareData`` is 1 MiB in the 2008 interfaces.  Tahoe-LAFS 1.20 clients batch immutable writes to
  about 1 MB *plus one block or one hash tree*, and write a whole mutable
  share in one call, so it is :data:`~.limits.MAX_CALL_SHARE_DATA` (64 MiB)
  here; the reasons are in :mod:`.limits`.
* ``MAX_BUCKETS`` is 200 in the 2008 interfaces.  zfec makes up to 256 shares, and a 1.20 client
  may ask one server for all of them, so it is 256.

Every list, string and dict a client sends is bounded (:mod:`.limits` says
by how much and why); the server checks the totals of a call (all the data
of a write, all the bytes an answer would carry) before it does anything.
"""

from foolscap.api import RemoteInterface, Referenceable
from foolscap.schema import (
    Any, ChoiceOf, DictOf, IntegerConstraint, ListOf, SetOf, StringConstraint, TupleOf,
)

from .integer_constraint import BoundedInteger
from .limits import (
    MAX_CALL_SHARE_DATA, MAX_CORRUPTION_REASON, MAX_DATA_VECTORS, MAX_TEST_LENGTH, MAX_VECTORS,
)

HASH_SIZE = 32
Hash = StringConstraint(maxLength=HASH_SIZE, minLength=HASH_SIZE)  # binary SHA-256
Nodeid = StringConstraint(maxLength=20, minLength=20)  # binary SHA-1 tubid
StorageIndex = StringConstraint(maxLength=16, minLength=16)
MAX_BUCKETS = 256  # per server; 200 in 2008, widened to zfec's maximum
ShareData = StringConstraint(MAX_CALL_SHARE_DATA)
URIExtensionData = StringConstraint(1000)
# A schema's plain ``int`` is Foolscap's IntegerConstraint(1024); BoundedInteger accepts
# exactly the same values, with its bound computed once instead of at every check.
ShareNumber = BoundedInteger(1024)
Number = BoundedInteger(8)  # 2**64
Offset = Number
ReadSize = IntegerConstraint(-1)  # the 2008 'int': a signed 32-bit value
LeaseRenewSecret = Hash
LeaseCancelSecret = Hash
WriteEnablerSecret = Hash

Operator = StringConstraint(8)  # the names are two bytes; longer ones get a clear error
Specimen = StringConstraint(MAX_TEST_LENGTH)
CorruptionReason = StringConstraint(MAX_CORRUPTION_REASON)
ShareType = StringConstraint(len(b"immutable"))
ShareNumbers = ListOf(ShareNumber, maxLength=MAX_BUCKETS)

# (offset, length, operator, specimen); operator is one of
# lt, le, eq, ne, ge, gt (2008) -- Tahoe-LAFS >= 1.17 sends only eq
TestVector = ListOf(TupleOf(Offset, ReadSize, Operator, Specimen), maxLength=MAX_VECTORS)
DataVector = ListOf(TupleOf(Offset, ShareData), maxLength=MAX_DATA_VECTORS)  # (offset, data)
TestAndWriteVectorsForShares = DictOf(
    ShareNumber, TupleOf(TestVector, DataVector, ChoiceOf(None, Offset)),  # new_length
    maxKeys=MAX_BUCKETS)
ReadVector = ListOf(TupleOf(Offset, ReadSize), maxLength=MAX_VECTORS)
ReadData = ListOf(ShareData, maxLength=MAX_VECTORS)


class RIBucketWriter(RemoteInterface):
    # no __remote_name__: Foolscap uses the class name, as Tahoe-LAFS does
    def write(offset=Offset, data=ShareData):
        return None

    def close():
        """Finish the share: it moves from incoming/ to its final place."""
        return None

    def abort():
        """Abandon all the data that has been written."""
        return None


class RIBucketReader(RemoteInterface):
    def read(offset=Offset, length=ReadSize):
        return ShareData

    def advise_corrupt_share(reason=CorruptionReason):
        """Report that this share failed a hash check (added in Tahoe 1.3)."""
        return None


class RIStorageServer(RemoteInterface):
    __remote_name__ = "RIStorageServer.tahoe.allmydata.com"

    # ---- the 2008 methods ----
    def get_versions():
        """Return (my_version, oldest_supported) strings."""
        return TupleOf(bytes, bytes)

    def allocate_buckets(storage_index=StorageIndex,
                         renew_secret=LeaseRenewSecret,
                         cancel_secret=LeaseCancelSecret,
                         sharenums=SetOf(ShareNumber, maxLength=MAX_BUCKETS),
                         allocated_size=Offset, canary=Referenceable):
        """Return (alreadygot, allocated): shares already held, and a writer
        for each newly allocated share.  If the canary is lost before
        close(), the partial shares are deleted."""
        return TupleOf(SetOf(ShareNumber, maxLength=MAX_BUCKETS),
                       DictOf(ShareNumber, RIBucketWriter, maxKeys=MAX_BUCKETS))

    def renew_lease(storage_index=StorageIndex, renew_secret=LeaseRenewSecret):
        """Renew the lease with this renew secret on every share of the SI."""
        return None

    def cancel_lease(storage_index=StorageIndex, cancel_secret=LeaseCancelSecret):
        """Cancel the lease with this cancel secret; a share left with no
        lease is deleted."""
        return None

    def get_buckets(storage_index=StorageIndex):
        return DictOf(ShareNumber, RIBucketReader, maxKeys=MAX_BUCKETS)

    def slot_readv(storage_index=StorageIndex, shares=ShareNumbers, readv=ReadVector):
        """Read a vector from the numbered shares (empty list: all shares)."""
        return DictOf(ShareNumber, ReadData, maxKeys=MAX_BUCKETS)

    def slot_testv_and_readv_and_writev(storage_index=StorageIndex,
                                        secrets=TupleOf(WriteEnablerSecret,
                                                        LeaseRenewSecret,
                                                        LeaseCancelSecret),
                                        tw_vectors=TestAndWriteVectorsForShares,
                                        r_vector=ReadVector):
        """Test-and-set on mutable slots; see docs/specifications/storage-protocol.md §4."""
        return TupleOf(bool, DictOf(ShareNumber, ReadData, maxKeys=MAX_BUCKETS))

    # ---- added by later Tahoe-LAFS releases, which clients call today ----
    def get_version():
        """Return the version dictionary (docs/specifications/storage-protocol.md §5)."""
        return DictOf(bytes, Any())

    def add_lease(storage_index=StorageIndex,
                  renew_secret=LeaseRenewSecret,
                  cancel_secret=LeaseCancelSecret):
        """Renew the lease with this renew secret, or add one, on every share."""
        return Any()

    def advise_corrupt_share(share_type=ShareType, storage_index=StorageIndex,
                             shnum=ShareNumber, reason=CorruptionReason):
        """Record a client's report that a share failed its hash checks."""
        return Any()
