"""The statistics interfaces of the 2008 interfaces (allmydata-tahoe 2008).

The remote names and method signatures are the 2008 ones.  The constraints
bound what a stats gatherer accepts from a provider (and a provider sends):
at most :data:`MAX_STATS` names in each of the two sections, each name at
most :data:`MAX_STAT_NAME` bytes, and a nickname of at most
:data:`MAX_NICKNAME` bytes.  Foolscap checks them while the bytes arrive, so
a hostile provider cannot make a gatherer hold more than that.
"""

from foolscap.api import RemoteInterface
from foolscap.constraint import ByteStringConstraint
from foolscap.schema import ChoiceOf, DictOf
from zope.interface import Interface

#: names in each section ("counters", "stats") of a get_stats answer
MAX_STATS = 500
#: bytes of one stat name
MAX_STAT_NAME = 128
#: bytes of the nickname a node offers with its stats
MAX_NICKNAME = 256

StatName = ByteStringConstraint(maxLength=MAX_STAT_NAME)
SectionName = ByteStringConstraint(maxLength=16)


class RIStatsProvider(RemoteInterface):
    __remote_name__ = "RIStatsProvider.tahoe.allmydata.com"

    def get_stats():
        """{'counters': {name: number}, 'stats': {name: number}}: counters
        only grow; stats are instantaneous values."""
        return DictOf(SectionName, DictOf(StatName, ChoiceOf(float, int), maxKeys=MAX_STATS),
                      maxKeys=2)


class RIStatsGatherer(RemoteInterface):
    __remote_name__ = "RIStatsGatherer.tahoe.allmydata.com"

    def provide(provider=RIStatsProvider, nickname=ByteStringConstraint(maxLength=MAX_NICKNAME)):
        return None


class IStatsProducer(Interface):
    def get_stats():
        """Return a dict of stat name (str) -> number, for the 'stats' part
        (None for a value that cannot be computed yet, such as a latency
        percentile of too few samples: the web pages show it as null, the
        remote get_stats leaves it out)."""
