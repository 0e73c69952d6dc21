"""The 2008 interfaces (allmydata-tahoe 2008) in one place, for code that
wants their names.

Each subsystem keeps its own interface module (``storage/interfaces.py``,
``introducer/interfaces.py``, ``stats_interfaces.py``); this module only
re-exports them, with the 2008 exceptions, so that ``from
allmydata.interfaces import RIStorageServer`` works as it did in 2008.
"""

from .introducer.interfaces import (  # noqa: F401
    Announcement, FURL, IIntroducerClient, RIIntroducerPublisher,
    RIIntroducerPublisherAndSubscriberService, RIIntroducerSubscriberClient,
    RIIntroducerSubscriberService, RIStubClient,
)
from .stats_interfaces import IStatsProducer, RIStatsGatherer, RIStatsProvider  # noqa: F401
from .storage.common import BadWriteEnablerError  # noqa: F401
from .storage.interfaces import (  # noqa: F401
    DataVector, HASH_SIZE, Hash, LeaseCancelSecret, LeaseRenewSecret, MAX_BUCKETS, Nodeid, Number,
    Offset, RIBucketReader, RIBucketWriter, RIStorageServer, ReadData, ReadSize, ReadVector,
    ShareData, StorageIndex, TestAndWriteVectorsForShares, TestVector, URIExtensionData,
)


class NotCapableError(Exception):
    """You have tried to write to a read-only node."""
