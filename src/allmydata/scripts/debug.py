"""``tahoe debug``: an operator's tools for share files and caps, with the
options and output of Tahoe-LAFS 1.20's.

* ``dump-share SHARE_FILE [--offsets] [--leases-only]`` -- everything a share
  file says about itself (debug_shares.py).
* ``dump-cap [-n NODEID] [-c SECRET | -d CLIENT_DIR] CAP`` -- what a cap
  holds, and the secrets a client derives from it (debug_caps.py).
* ``find-shares STORAGE_INDEX NODEDIRS...`` -- the share files of one
  storage index in these nodes' ``storage/shares``.
* ``catalog-shares NODEDIRS...`` -- one line per share file.
* ``corrupt-share SHARE_FILE [--offset block-random|N]`` -- flip one bit of
  the share data, for testing a checker.

A file that is not a share, a damaged share or a bad cap is reported on
stderr with exit code 1.
"""

import os
import random
import sys
import time

from ..storage.common import storage_index_to_dir
from ..storage.immutable import HEADER_SIZE as IMMUTABLE_CONTAINER_HEADER
from ..storage.mutable import DATA_OFFSET as MUTABLE_DATA_OFFSET
from ..util import base32
from .debug_caps import CapError, dump_cap
from .debug_shares import (
    ShareFileError, describe_share, dump_share, read_immutable_share,
    read_mutable_share, share_kind,
)
from .quoting import quote_output


class DebugError(Exception):
    """A bad argument to a debug tool."""


def register(sub):
    p = sub.add_parser("debug", help="debug subcommands: use 'tahoe debug' for a list.",
                       description="Tools for looking at share files and caps.")
    p.set_defaults(func=lambda options: _usage(p))
    dsub = p.add_subparsers(dest="debug_command", metavar="COMMAND")

    d = dsub.add_parser("dump-share", help="Unpack and display the contents of a share "
                                           "(uri_extension and leases).",
                        description="Print what a share file holds: share type, leases, "
                                    "encoding parameters, hash-tree roots and sizes, and the "
                                    "verify cap of its file.")
    d.add_argument("filename", metavar="SHARE_FILENAME")
    d.add_argument("--offsets", action="store_true", help="Display a table of section offsets.")
    d.add_argument("--leases-only", dest="leases_only", action="store_true",
                   help="Dump leases but not CHK contents.")
    d.set_defaults(func=_run(run_dump_share))

    c = dsub.add_parser("dump-cap", help="Unpack a read-cap or write-cap.",
                        description="Print what a cap holds: its kind, storage index and keys; "
                                    "with a storage server's nodeid and/or the client's secret, "
                                    "the write enabler and lease secrets sent to that server.")
    c.add_argument("cap", metavar="FILECAP")
    c.add_argument("-n", "--nodeid", default=None,
                   help="Specify the storage server nodeid (ASCII), to construct WE and secrets.")
    c.add_argument("-c", "--client-secret", dest="client_secret", default=None,
                   help="Specify the client's base secret (ASCII), to construct secrets.")
    c.add_argument("-d", "--client-dir", dest="client_dir", default=None,
                   help="Specify the client's base directory, from which a -c secret will be "
                        "read.")
    c.set_defaults(func=_run(run_dump_cap))

    f = dsub.add_parser("find-shares", help="Locate sharefiles in node dirs.",
                        description="List the share files of one storage index found in the "
                                    "given node directories, one path per line.")
    f.add_argument("storage_index", metavar="STORAGE_INDEX")
    f.add_argument("nodedirs", nargs="*", metavar="NODEDIRS")
    f.set_defaults(func=_run(run_find_shares))

    g = dsub.add_parser("catalog-shares", help="Describe all shares in node dirs.",
                        description="One line for each share in the given node directories: "
                                    "CHK $SI $k/$N $filesize $UEB_hash $expiration $path, "
                                    "SDMF/MDMF $SI $k/$N $filesize #$seqnum:$roothash "
                                    "$expiration $path, or UNKNOWN $path.")
    g.add_argument("nodedirs", nargs="+", metavar="NODEDIRS")
    g.set_defaults(func=_run(run_catalog_shares))

    k = dsub.add_parser("corrupt-share", help="Corrupt a share by flipping a bit.",
                        description="Flip one bit of a share's data, so that a verifying "
                                    "client finds the share corrupt. Never use this on a grid "
                                    "that holds data anyone needs.")
    k.add_argument("filename", metavar="SHARE_FILENAME")
    k.add_argument("-o", "--offset", default="block-random",
                   help="Which byte to change: 'block-random' (default: a random byte of the "
                        "block data) or a byte offset in the file, inside the share data")
    k.set_defaults(func=_run(run_corrupt_share))


def _usage(parser) -> int:
    parser.print_help(sys.stderr)
    return 1


def _run(tool):
    """The sub-command's entry point: errors become a message on stderr and
    exit code 1."""
    def run(options, out=None, err=None):
        out = out or sys.stdout
        err = err or sys.stderr
        try:
            return tool(options, out, err)
        except (ShareFileError, CapError, DebugError) as e:
            print("tahoe debug %s: error: %s" % (options.debug_command, e), file=err)
            return 1
    return run


# ---- the tools ---------------------------------------------------------------------------
def run_dump_share(options, out, err) -> int:
    dump_share(options.filename, out, offsets=options.offsets, leases_only=options.leases_only)
    return 0


def run_dump_cap(options, out, err) -> int:
    dump_cap(options.cap, out, nodeid=options.nodeid, client_secret=options.client_secret,
             client_dir=options.client_dir)
    return 0


def _share_number_key(name):
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def run_find_shares(options, out, err) -> int:
    try:
        si = base32.a2b(options.storage_index.strip())
    except ValueError as e:
        raise DebugError("%r is not a storage index: %s" % (options.storage_index, e))
    if len(si) != 16:
        raise DebugError("%r is not a storage index (26 base32 characters)"
                         % options.storage_index)
    sharedir = storage_index_to_dir(si)
    for nodedir in options.nodedirs:
        d = os.path.join(os.path.abspath(nodedir), "storage", "shares", sharedir)
        if os.path.isdir(d):
            for name in sorted(os.listdir(d), key=_share_number_key):
                print(quote_output(os.path.join(d, name), quotemarks=False), file=out)
    return 0


class _CatalogErrors:
    """Reports, on ``err``, the directories and files that catalog-shares
    cannot read, and remembers whether there were any."""

    def __init__(self, err):
        self.err = err
        self.failed = False

    def error(self, path, reason) -> None:
        print("Error processing %s: %s" % (quote_output(path), reason), file=self.err)
        self.failed = True

    def listing(self, path, key=None) -> list:
        """The names in directory ``path``, sorted; none (reported) if it cannot be read."""
        try:
            return sorted(os.listdir(path), key=key)
        except OSError as e:
            self.error(path, e.strerror or e)
            return []


def run_catalog_shares(options, out, err) -> int:
    """Every share under each node's ``storage/shares`` (uploads in
    ``incoming`` aside); a share that cannot be described is reported on
    stderr and the others are still listed (exit code 1 then)."""
    now = time.time()
    errors = _CatalogErrors(err)
    for nodedir in options.nodedirs:
        top = os.path.join(os.path.abspath(nodedir), "storage", "shares")
        try:
            prefixes = sorted(os.listdir(top))
        except OSError:
            continue  # a node without storage
        for prefix in prefixes:
            if prefix == "incoming":
                continue
            prefixdir = os.path.join(top, prefix)
            for si_s in errors.listing(prefixdir):
                sidir = os.path.join(prefixdir, si_s)
                for name in errors.listing(sidir, key=_share_number_key):
                    path = os.path.join(sidir, name)
                    try:
                        print(describe_share(path, si_s, now), file=out)
                    except ShareFileError as e:
                        errors.error(path, e.reason)
    return 1 if errors.failed else 0


def block_data_range(path) -> tuple:
    """``[start, end)``: file offsets of the block data of a share."""
    kind = share_kind(path)
    if kind == "immutable":
        share = read_immutable_share(path)
        lay = share.layout
        return (IMMUTABLE_CONTAINER_HEADER + lay.data,
                IMMUTABLE_CONTAINER_HEADER + lay.plaintext_hash_tree)
    if kind == "mutable":
        m = read_mutable_share(path)
        if m.share is None:
            raise ShareFileError(path, "its mutable slot holds neither an SDMF nor an MDMF share")
        end = "enc_privkey" if m.share_type == "SDMF" else "block_hash_tree"
        return (MUTABLE_DATA_OFFSET + m.share.offsets["share_data"],
                MUTABLE_DATA_OFFSET + m.share.offsets[end])
    raise ShareFileError(path, "not a share file")


def share_data_range(path) -> tuple:
    """``[start, end)``: file offsets of everything a client wrote (the
    container's header and leases excluded)."""
    kind = share_kind(path)
    if kind == "immutable":
        share = read_immutable_share(path, with_contents=False)
        return (IMMUTABLE_CONTAINER_HEADER,
                IMMUTABLE_CONTAINER_HEADER + share.container.data_length)
    if kind == "mutable":
        m = read_mutable_share(path, with_contents=False)
        return (MUTABLE_DATA_OFFSET, MUTABLE_DATA_OFFSET + m.header["data_length"])
    raise ShareFileError(path, "not a share file")


def corrupt_share(path, offset, out, rng=random) -> tuple:
    """Flip one bit of the share file at ``path``: of a random byte of its
    block data (``offset="block-random"``) or of the byte at file offset
    ``offset``, which must lie in the share data.  Returns (byte offset, bit)."""
    if offset == "block-random":
        start, end = block_data_range(path)
        if end <= start:
            raise ShareFileError(path, "the share holds no block data")
        where = rng.randrange(start, end)
    else:
        try:
            where = int(offset, 0)
        except ValueError:
            raise DebugError("--offset is 'block-random' or a byte offset, not %r" % offset)
        start, end = share_data_range(path)
        if not start <= where < end:
            raise DebugError("--offset %d is outside the share data of %s, which lies at file "
                             "offsets [%d..%d)" % (where, path, start, end))
    bit = rng.randrange(0, 8)
    print("[%d..%d):  %d.b%d" % (start, end, where, bit), file=out)
    with open(path, "rb+") as f:
        f.seek(where)
        byte = f.read(1)
        f.seek(where)
        f.write(bytes([byte[0] ^ (1 << bit)]))
    return where, bit


def run_corrupt_share(options, out, err) -> int:
    corrupt_share(options.filename, options.offset, out)
    return 0
