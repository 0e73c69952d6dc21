"""The statistics interfaces of the 2008 interfaces (allmydata-tahoe 2008)."""

from foolscap.api import RemoteInterface
from foolscap.schema import ChoiceOf, DictOf
from zope.interface import Interface


class RIStatsProvider(RemoteInterface):
    __remote_name__ = "RIStatsProvider.tahoe.allmydata.com"

    def get_stats():
        """{'counters': {name: number}, 'stats': {name: number}}: counters
        only grow; stats are instantaneous values."""
        return DictOf(bytes, DictOf(bytes, ChoiceOf(float, int)))


class RIStatsGatherer(RemoteInterface):
    __remote_name__ = "RIStatsGatherer.tahoe.allmydata.com"

    def provide(provider=RIStatsProvider, nickname=bytes):
        return None


class IStatsProducer(Interface):
    def get_stats():
        """Return a dict of stat name (str) -> number, for the 'stats' part."""
