"""Is this file already stored?  The helper's question before it fetches anything.

:func:`find_stored` asks every connected server of the storage index, in
permuted order, which shares it holds (``get_buckets``), and reads the URI
extension block (UEB) of one share of each server that has any.  The helper
does not know the file's cap, so a UEB cannot be checked against a hash in
it: it must parse, be self-consistent (:func:`check_uri_extension`) and agree
with its share's header; the hash the client will put in its cap is computed
from the bytes read.  Servers whose UEBs are byte-for-byte the same vouch for
the same file.

The rule: the file is stored when, for the UEB vouched for by the servers
that give the greatest servers-of-happiness, that happiness is at least
``max(k, min(happy, N))`` -- ``k`` and ``N`` from the UEB, ``happy`` the
helper's ``shares.happy``.  So a file is "stored" only when a direct upload
would have been content with the placement, and one server alone (however
many shares it claims) cannot make a file look stored unless ``happy`` is 1.
Tahoe-LAFS 1.20 asks for all N share numbers instead, counted from every
server's claim and one UEB.
"""

from __future__ import annotations

import attr
from twisted.internet import defer
from twisted.logger import Logger

from ..immutable.happiness import servers_of_happiness
from ..immutable.layout import ReadBucketProxy
from ..immutable.params import MAX_SHARES, ParamsError, SegmentParams
from ..immutable.uri_extension import (
    BadURIExtensionError, unpack_uri_extension, uri_extension_hash,
)
from ..util import base32
from ..util.rrefutil import call_remote

__all__ = ["StoredFile", "check_uri_extension", "find_stored", "QUERY_TIMEOUT"]

log = Logger()

#: seconds a server gets to answer each query of the check
QUERY_TIMEOUT = 15.0

_REQUIRED = ("size", "segment_size", "num_segments", "needed_shares", "total_shares",
             "codec_name", "codec_params", "tail_codec_params", "crypttext_root_hash",
             "share_root_hash")


@attr.s(frozen=True)
class StoredFile:
    """What the servers hold of a file found stored: ``sharemap``
    {shnum: set(serverid)} (shares vouched for by the chosen UEB),
    ``uri_extension_data`` (str keys), ``uri_extension_hash``, ``happiness``."""

    sharemap = attr.ib()
    uri_extension_data = attr.ib()
    uri_extension_hash = attr.ib()
    happiness = attr.ib()


def check_uri_extension(data: bytes) -> dict:
    """The parsed UEB if it describes a CHK file consistently, else
    :class:`BadURIExtensionError`: every key a reader needs is there, the
    root hashes are 32 bytes, and the segment count and codec parameters are
    the ones the size, k, N and segment size give."""
    ueb = unpack_uri_extension(data)
    missing = [key for key in _REQUIRED if key not in ueb]
    if missing:
        raise BadURIExtensionError("the URI extension block lacks %s" % ", ".join(missing))
    k, n, segsize = ueb["needed_shares"], ueb["total_shares"], ueb["segment_size"]
    try:
        params = SegmentParams.from_ueb(ueb["size"], k, n, segsize)
    except ParamsError as e:
        raise BadURIExtensionError("the URI extension block's parameters: %s" % (e,))
    if segsize % k:
        raise BadURIExtensionError("the segment size %d is not a multiple of k=%d"
                                   % (segsize, k))
    if ueb["num_segments"] != params.num_segments:
        raise BadURIExtensionError("num_segments is %d, the size and segment size give %d"
                                   % (ueb["num_segments"], params.num_segments))
    if ueb["codec_name"] != b"crs":
        raise BadURIExtensionError("unknown codec %r" % (ueb["codec_name"][:20],))
    if ueb["codec_params"] != params.codec_params() \
            or ueb["tail_codec_params"] != params.tail_codec_params():
        raise BadURIExtensionError("the codec parameters disagree with the size, k, N and "
                                   "segment size")
    for key in ("crypttext_root_hash", "share_root_hash"):
        if len(ueb[key]) != 32:
            raise BadURIExtensionError("%s is %d bytes, not 32" % (key, len(ueb[key])))
    if "crypttext_hash" in ueb and len(ueb["crypttext_hash"]) != 32:
        raise BadURIExtensionError("crypttext_hash is not 32 bytes")
    return ueb


def _timed(d, timeout, clock):
    if timeout:
        d.addTimeout(timeout, clock)
    return d


async def _ask(server, storage_index, timeout, clock):
    """(server, {shnum: bucket}, ueb bytes) of one server, or None."""
    rref = server.get_rref()
    if rref is None:
        return None
    buckets = await _timed(defer.maybeDeferred(call_remote, rref, "get_buckets",
                                               storage_index), timeout, clock)
    if not isinstance(buckets, dict) or not buckets:
        return None
    shnums = [s for s in buckets
              if isinstance(s, int) and not isinstance(s, bool) and 0 <= s < MAX_SHARES]
    if len(shnums) != len(buckets):
        log.info("server {server} announced share numbers out of range for {si}",
                 server=server.get_name(), si=_si(storage_index))
        return None
    first = min(shnums)
    proxy = ReadBucketProxy(buckets[first], server, storage_index, first)
    lay = await _timed(defer.maybeDeferred(proxy.get_header), timeout, clock)
    data = await _timed(defer.maybeDeferred(proxy.get_uri_extension), timeout, clock)
    ueb = check_uri_extension(data)
    params = SegmentParams.from_ueb(ueb["size"], ueb["needed_shares"], ueb["total_shares"],
                                    ueb["segment_size"])
    if lay.block_size != params.block_size or lay.data_size != params.share_data_size:
        raise BadURIExtensionError("the share header (block size %d, data size %d) does not "
                                   "match its URI extension block" % (lay.block_size,
                                                                      lay.data_size))
    if max(shnums) >= ueb["total_shares"]:
        raise BadURIExtensionError("share %d of a file of %d shares"
                                   % (max(shnums), ueb["total_shares"]))
    return server, set(shnums), bytes(data), ueb


def _si(storage_index: bytes) -> str:
    return base32.b2a(storage_index).decode("ascii")[:10]


async def find_stored(storage_broker, storage_index: bytes, happy: int, clock,
                      timeout: float = QUERY_TIMEOUT) -> StoredFile | None:
    """The file of ``storage_index`` as the servers hold it, if it counts
    as stored by the rule of the module docstring; else None.  A server
    that fails, times out or answers nonsense counts as holding nothing."""
    servers = storage_broker.get_servers_for_psi(storage_index)

    def ask(server):
        d = defer.ensureDeferred(_ask(server, storage_index, timeout, clock))

        def failed(f):
            log.info("existence check of {si} on {server}: {why}", si=_si(storage_index),
                     server=server.get_name(), why=f.getErrorMessage())
            return None
        return d.addErrback(failed)
    answers = await defer.gatherResults([ask(s) for s in servers])
    by_ueb = {}   # ueb bytes -> (ueb, {shnum: set(serverid)})
    for answer in answers:
        if answer is None:
            continue
        server, shnums, data, ueb = answer
        sharemap = by_ueb.setdefault(data, (ueb, {}))[1]
        for shnum in shnums:
            sharemap.setdefault(shnum, set()).add(server.get_serverid())
    best = None
    for data, (ueb, sharemap) in by_ueb.items():
        happiness = servers_of_happiness(sharemap)
        if best is None or happiness > best.happiness:
            best = StoredFile(sharemap, ueb, uri_extension_hash(data), happiness)
    if best is None:
        return None
    ueb = best.uri_extension_data
    wanted = max(ueb["needed_shares"], min(happy, ueb["total_shares"]))
    log.info("existence check of {si}: happiness {happiness} of the {wanted} wanted",
             si=_si(storage_index), happiness=best.happiness, wanted=wanted)
    return best if best.happiness >= wanted else None
