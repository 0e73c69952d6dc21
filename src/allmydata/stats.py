"""Counters and instantaneous statistics, served as RIStatsProvider
(the 2008 interfaces, allmydata-tahoe 2008).

Services count work with :meth:`StatsProvider.count` and register themselves
as :class:`IStatsProducer` to contribute instantaneous values.  The provider
answers local callers (the web pages) with text keys and remote callers
(``get_stats`` over Foolscap) with byte-string keys, as the 2008 wire
schema has them.
"""

from collections import defaultdict

from foolscap.api import Referenceable
from twisted.application import service
from zope.interface import implementer

from .stats_interfaces import IStatsProducer, RIStatsProvider


@implementer(RIStatsProvider)
class StatsProvider(Referenceable, service.MultiService):
    def __init__(self):
        service.MultiService.__init__(self)
        self.counters = defaultdict(int)
        self._producers = []

    def count(self, name: str, delta: int = 1) -> None:
        self.counters[name] += delta

    def register_producer(self, producer) -> None:
        self._producers.append(IStatsProducer(producer))

    def get_stats(self) -> dict:
        stats = {}
        for p in self._producers:
            stats.update(p.get_stats())
        return {"counters": dict(self.counters), "stats": stats}

    def remote_get_stats(self):
        out = {}
        for section, values in self.get_stats().items():
            out[section.encode("ascii")] = {
                k.encode("utf-8"): v for k, v in values.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
        return out
