"""Counts and sizes of everything reachable from a directory (deep-stats).

:class:`DeepStats` is a walker for :func:`allmydata.deep_traversal.deep_traverse`
and the part of every other walker that reports ``stats``.  Its results are
the dict of Tahoe-LAFS 1.20's ``t=start-deep-stats``, with the same keys:

- ``count-immutable-files``, ``count-mutable-files``, ``count-literal-files``,
  ``count-files``, ``count-directories``, ``count-unknown``;
- ``size-immutable-files``, ``size-literal-files`` (bytes of CHK and LIT
  files: their size is in the cap), ``size-directories`` (bytes of the
  directories' contents, for those whose size is known once they are read),
  ``largest-directory`` (bytes), ``largest-directory-children`` (links),
  ``largest-immutable-file``;
- ``size-files-histogram``: ``[(min, max, count)]`` of CHK and LIT files,
  sorted, in buckets of two per decade -- (0, 0), (1, 3), (4, 10), (11, 31),
  (32, 100), (101, 316), ... whose upper bounds are the integer square roots
  of 10, 100, 1000, ...;
- ``api-version``: 1.

Mutable files are counted but not sized (their size is not known without
asking the servers), so -- as in Tahoe-LAFS -- there is no
``size-mutable-files`` key; a reader adding sizes takes a missing key as 0.
"""

from math import isqrt

from .dirnode_interfaces import IDirectoryNode

API_VERSION = 1

COUNT_AND_SIZE_KEYS = (
    "count-immutable-files", "count-mutable-files", "count-literal-files", "count-files",
    "count-directories", "count-unknown", "size-immutable-files", "size-literal-files",
    "size-directories", "largest-directory", "largest-directory-children",
    "largest-immutable-file",
)

_LIT_PREFIX = b"URI:LIT:"


def size_bucket(size: int) -> tuple:
    """``(min, max)`` of the histogram bucket holding ``size`` (>= 0)."""
    if size < 0:
        raise ValueError("a size cannot be negative: %r" % (size,))
    if size == 0:
        return (0, 0)
    lower, power = 1, 10
    while True:
        upper = isqrt(power)
        if size <= upper:
            return (lower, upper)
        lower, power = upper + 1, power * 10


def node_kind(node) -> str:
    """"unknown", "directory", "mutable", "literal" or "immutable"."""
    if node.is_unknown():
        return "unknown"
    if IDirectoryNode.providedBy(node):
        return "directory"
    if node.is_mutable():
        return "mutable"
    if (node.get_uri() or b"").startswith(_LIT_PREFIX):
        return "literal"
    return "immutable"


class DeepStats:
    """Adds up the nodes and directories a traversal reports."""

    def __init__(self):
        self.monitor = None
        self.stats = dict.fromkeys(COUNT_AND_SIZE_KEYS, 0)
        self.histogram = {}         # (min, max) -> count

    # ---- the walker ----------------------------------------------------------------------
    def set_monitor(self, monitor):
        self.monitor = monitor
        monitor.set_status(self.get_results())

    def add_node(self, node, path):
        kind = node_kind(node)
        stats = self.stats
        if kind == "unknown":
            stats["count-unknown"] += 1
        elif kind == "directory":
            stats["count-directories"] += 1
        elif kind == "mutable":
            stats["count-files"] += 1
            stats["count-mutable-files"] += 1
        else:
            size = node.get_size()
            stats["count-files"] += 1
            bucket = size_bucket(size)
            self.histogram[bucket] = self.histogram.get(bucket, 0) + 1
            if kind == "literal":
                stats["count-literal-files"] += 1
                stats["size-literal-files"] += size
            else:
                stats["count-immutable-files"] += 1
                stats["size-immutable-files"] += size
                stats["largest-immutable-file"] = max(stats["largest-immutable-file"], size)

    def enter_directory(self, node, children):
        stats = self.stats
        size = node.get_size()
        if size is not None:
            stats["size-directories"] += size
            stats["largest-directory"] = max(stats["largest-directory"], size)
        stats["largest-directory-children"] = max(stats["largest-directory-children"],
                                                  len(children))
        if self.monitor is not None:
            self.monitor.set_status(self.get_results())

    def finish(self):
        return self.get_results()

    # ---- results ---------------------------------------------------------------------------
    def get_results(self) -> dict:
        """A fresh dict of the stats so far."""
        out = {"api-version": API_VERSION}
        out.update(self.stats)
        out["size-files-histogram"] = [(lo, hi, n)
                                       for (lo, hi), n in sorted(self.histogram.items())]
        return out
