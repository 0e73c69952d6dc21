"""How much disk a storage server has: one small query, replaceable.

The server asks a ``disk_stats(path) -> DiskStats`` callable; the default
reads ``os.statvfs``.  Passing another callable is how a node (or a test)
describes a disk other than the real one.
"""

import os

import attr


@attr.s(frozen=True, slots=True)
class DiskStats:
    total = attr.ib()  # size of the filesystem, bytes
    used = attr.ib()  # total - free_for_root
    free_for_root = attr.ib()
    free_for_nonroot = attr.ib()  # what an unprivileged process may still write


def get_disk_stats(path: str) -> DiskStats:
    s = os.statvfs(path)
    total = s.f_frsize * s.f_blocks
    free_for_root = s.f_frsize * s.f_bfree
    free_for_nonroot = s.f_frsize * s.f_bavail
    return DiskStats(total=total, used=total - free_for_root,
                     free_for_root=free_for_root, free_for_nonroot=free_for_nonroot)
