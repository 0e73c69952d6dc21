"""How many buckets (storage indexes) a storage server holds shares of.

A :class:`BucketCounter` is a :class:`~.crawler.ShareCrawler` that counts
the entries of each prefix directory instead of opening shares, so a cycle
is cheap.  When a whole cycle has been counted its total becomes
``last-complete-bucket-count`` (shown on the ``/storage`` page and as
``storage_server.total_bucket_count`` in the server's stats).  Its state,
in ``bucket_counter.state.json`` beside the shares, adds to the crawler's
keys those of Tahoe-LAFS 1.20::

    bucket-counts               {cycle: {prefix: number of buckets}}, the cycle
                                under way and the last complete one
    last-complete-bucket-count  buckets counted by the last complete cycle, or null
    storage-index-samples       {prefix: [cycle, [bucket names]]} for the first
                                prefix directory (a sample of what is stored)

Cycle numbers are JSON object keys, so they are strings.
"""

from .crawler import CrawlerPace, ShareCrawler

#: the bucket counter's pace: a new count at most once an hour
BUCKET_COUNTER_PACE = CrawlerPace(slow_start=300, minimum_cycle_time=60 * 60)


class BucketCounter(ShareCrawler):
    default_pace = BUCKET_COUNTER_PACE

    def __init__(self, server, statefile, clock, pace=None, num_sample_prefixes=1, **kwargs):
        self.num_sample_prefixes = num_sample_prefixes
        ShareCrawler.__init__(self, server, statefile, clock, pace, **kwargs)

    def add_initial_state(self) -> None:
        self.state.setdefault("bucket-counts", {})
        self.state.setdefault("last-complete-bucket-count", None)
        self.state.setdefault("storage-index-samples", {})

    def check_subclass_state(self, state, bad) -> None:
        counts = state.get("bucket-counts", {})
        if not isinstance(counts, dict) or not all(
                isinstance(per, dict) and all(isinstance(n, int) for n in per.values())
                for per in counts.values()):
            bad("bucket-counts is not {cycle: {prefix: count}}")
        total = state.get("last-complete-bucket-count")
        if total is not None and not isinstance(total, int):
            bad("last-complete-bucket-count is %r" % (total,))
        if not isinstance(state.get("storage-index-samples", {}), dict):
            bad("storage-index-samples is not an object")

    def process_prefixdir(self, cycle, prefix, prefixdir, buckets) -> None:
        # the names are enough: no bucket is opened
        self.state["bucket-counts"].setdefault(str(cycle), {})[prefix] = len(buckets)
        if prefix in self.prefixes[:self.num_sample_prefixes]:
            self.state["storage-index-samples"][prefix] = [cycle, list(buckets)]

    def finished_cycle(self, cycle) -> None:
        counts = self.state["bucket-counts"]
        this = counts.get(str(cycle), {})
        if len(this) == len(self.prefixes):
            self.state["last-complete-bucket-count"] = sum(this.values())
            for old in [c for c in counts if c != str(cycle)]:
                del counts[old]
        samples = self.state["storage-index-samples"]
        for prefix in [p for p, (c, _names) in samples.items() if c != cycle]:
            del samples[prefix]

    def get_bucket_count(self):
        """Buckets counted by the last complete cycle, or None before one."""
        return self.state["last-complete-bucket-count"]
