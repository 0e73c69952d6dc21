#!/usr/bin/env python3
"""Benchmarks of this implementation, on local grids on 127.0.0.1.

    .venv/bin/python misc/benchmark.py COMMAND [OPTIONS]
    .venv/bin/python misc/benchmark.py COMMAND --help

Commands:

  grid            immutable-file throughput, 1 KiB files, client memory,
                  directories and MDMF files through the web API, ours
                  against Tahoe-LAFS 1.20 (--paired for ratios taken within
                  seconds of each other)
  floor           the storage calls of an upload, a download and a plain
                  check alone, over Foolscap to servers that keep nothing
  bucket-writes   filling immutable buckets on one storage server process,
                  no encoding
  dirnode         packing and unpacking directories, and a directory on an
                  in-process grid
  mdmf            a large MDMF file through the library, with the client's
                  peak memory
  mutable-rounds  the storage calls and the time of each mutable-file
                  operation on an in-process grid
  maintenance     deep-check (plain and verify) of a tree of small files
                  and repair of a large file that lost shares, through the
                  web API, ours against Tahoe-LAFS 1.20 (--paired)
  crawler         the share crawlers' CPU use while the lease checker walks
                  100,000 shares
  helper          uploads through an upload helper (time, CPU per role, the
                  helper's peak RSS) and a resumed upload after the client
                  was killed half-way, ours against Tahoe-LAFS 1.20
                  (--paired)
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from perf import dispatch  # noqa: E402  (misc/ is on the path of a script run from it)

COMMANDS = {
    "grid": "perf.grid",
    "floor": "perf.floor",
    "bucket-writes": "perf.bucket_writes",
    "dirnode": "perf.dirnode",
    "mdmf": "perf.mdmf",
    "mutable-rounds": "perf.mutable_rounds",
    "maintenance": "perf.maintenance",
    "crawler": "perf.crawler",
    "helper": "perf.helper",
}


def main(argv=None):
    return dispatch(__doc__, COMMANDS, "the benchmark to run", argv)


if __name__ == "__main__":
    sys.exit(main())
