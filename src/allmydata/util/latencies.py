"""How long operations take: a bounded window of recent samples per kind of
operation, summarised as a mean and percentiles.

A storage server times every remote call it answers (see
docs/statistics.md, ``storage_server.latencies.*``).  Timing a call must
cost next to nothing beside the call itself, so a sample is one
``perf_counter`` difference stored into a ring of :data:`WINDOW` slots
(the oldest sample is overwritten); the sorting and summing happen only
when someone asks for the summary (a stats page, the stats gatherer's poll).
"""

#: samples kept per kind of operation (the most recent ones), as Tahoe-LAFS keeps
WINDOW = 1000

#: (fraction, stat name, fewest samples for which that percentile is
#: reported): with fewer samples the value would be a guess (the 99.9th
#: percentile of 20 samples is just the largest), so it is None instead.
PERCENTILES = (
    (0.01, "01_0_percentile", 100),
    (0.10, "10_0_percentile", 10),
    (0.50, "50_0_percentile", 10),
    (0.90, "90_0_percentile", 10),
    (0.95, "95_0_percentile", 20),
    (0.99, "99_0_percentile", 100),
    (0.999, "99_9_percentile", 1000),
)


def summarise(samples) -> dict:
    """``{"samplesize", "mean", <percentile names>}`` of a sequence of
    durations (seconds).  ``mean`` needs two samples and each percentile the
    number :data:`PERCENTILES` gives; below that the value is None.  The
    p-th percentile is the sample at index ``int(p * count)`` of the sorted
    samples."""
    ordered = sorted(samples)
    count = len(ordered)
    out = {"samplesize": count, "mean": sum(ordered) / count if count > 1 else None}
    for fraction, name, fewest in PERCENTILES:
        out[name] = ordered[int(fraction * count)] if count >= fewest else None
    return out


class _Ring:
    """The last ``size`` values added, in a list allocated once: adding a
    sample stores into it and allocates nothing but the float, so timing
    a call does not place a new allocation on the heap while the call's
    (possibly large) arguments sit there."""

    __slots__ = ("values", "next", "full")

    def __init__(self, size: int):
        self.values = [0.0] * size
        self.next = 0
        self.full = False

    def add(self, value: float) -> None:
        i = self.next
        self.values[i] = value
        i += 1
        if i == len(self.values):
            i = 0
            self.full = True
        self.next = i

    def samples(self) -> list:
        return list(self.values) if self.full else self.values[:self.next]


class LatencySamples:
    """The last ``window`` durations of each kind of operation.

    ``categories`` are given a window now; others get one when their first
    sample comes."""

    def __init__(self, categories=(), window: int = WINDOW):
        self._window = window
        self._rings = {category: _Ring(window) for category in categories}

    def add(self, category: str, seconds: float) -> None:
        self.recorder(category)(seconds)

    def recorder(self, category: str):
        """The function that adds one sample (seconds) to ``category``: what
        a hot path keeps, to pay one call per sample."""
        ring = self._rings.get(category)
        if ring is None:
            ring = self._rings[category] = _Ring(self._window)
        return ring.add

    def summary(self) -> dict:
        """``{category: summarise(its samples)}`` for each category that has
        samples."""
        out = {}
        for category, ring in list(self._rings.items()):
            samples = ring.samples()
            if samples:
                out[category] = summarise(samples)
        return out

    def stats(self, prefix: str) -> dict:
        """The summary as flat stat names: ``<prefix>.<category>.<name>``."""
        return {"%s.%s.%s" % (prefix, category, name): value
                for category, summary in self.summary().items()
                for name, value in summary.items()}
