"""Repairing a mutable file (SDMF, MDMF): :func:`repair_mutable`.

A repair republishes the newest recoverable version, unchanged, as the next
version (seqnum one higher than any share seen), so that every share of the
file is of that version again:

1. the servers are mapped in MODE_REPAIR (every connected server; the
   encrypted private key is fetched too), and the shares a check before
   found corrupt (a verify) are marked bad in the new map when they still
   hold what the check saw;
2. with no recoverable version the file is reported unrecoverable and
   nothing is written; with a newer version that is unrecoverable, or two
   recoverable versions of the same seqnum, the repair is refused unless
   ``force`` (republishing would discard the newer writes), as Tahoe-LAFS
   refuses;
3. the best version is read (every block checked against its hashes) into a
   spooled temporary file (memory up to :data:`SPOOL_BYTES`, then disk), and
   published from it: a publish rewrites every share the map saw where it
   is -- old versions and corrupt shares included -- and places the share
   numbers found nowhere on servers as any publish would.  Each write tests
   the checkstring the map saw in that share, so a writer that changed the
   file meanwhile is not clobbered: the repair then fails with its
   :class:`~.common.UncoordinatedWriteError` in ``error``.

A repair needs the write cap (the write enabler and the signing key come
from it); the node's ``check_and_repair`` does not attempt one on a
read-only node.
"""

import tempfile

import attr

from .. import uri
from ..immutable.target import TargetConsumer
from .common import MODE_REPAIR, MutableFileError

#: plaintext kept in memory while a version is copied; more goes to a temporary file
SPOOL_BYTES = 8 << 20


@attr.s(kw_only=True)
class RepairResults:
    """What a repair did: ``successful`` when the best version was published
    again; ``error`` says why not; ``servermap`` is the map the repair used
    (updated by its publish); ``seqnum`` the published version's seqnum."""

    successful = attr.ib(default=False)
    error = attr.ib(default=None)
    servermap = attr.ib(default=None, eq=False)
    seqnum = attr.ib(default=None)

    def get_successful(self) -> bool:
        return self.successful


def _si_text(storage_index) -> str:
    return uri.base32.b2a(storage_index).decode("ascii")


def _carry_over_corrupt(smap, check_results):
    """Mark bad in ``smap`` the shares ``check_results`` found corrupt that
    still start with the checkstring the check saw (an unchanged share)."""
    if check_results is None or check_results.servermap is None:
        return
    before = check_results.servermap
    reasons = {(server.get_serverid(), shnum): text
               for server, shnum, text in check_results.share_problems}
    for server, _si, shnum in check_results.corrupt_shares:
        sid = server.get_serverid()
        seen_then = before.checkstring_of(sid, shnum)
        if seen_then is None or smap.checkstring_of(sid, shnum) != seen_then:
            continue
        if not smap.is_bad(sid, shnum):
            smap.mark_bad_share(server, shnum, reasons.get((sid, shnum), "found corrupt"))


def refusal(smap, force=False):
    """Why republishing the best version of ``smap`` must not happen, or None."""
    best = smap.best_recoverable_version()
    if best is None:
        return ("no version of the file is recoverable (%s): nothing was written"
                % smap.describe_failure())
    if force:
        return None
    newer = sorted((v for v in smap.unrecoverable_versions() if v[0] > best[0]),
                   key=lambda v: v[0])
    if newer:
        v = newer[-1]
        return ("version seq%d, newer than the best recoverable version seq%d, has only %d "
                "of the %d shares needed to read it: republishing seq%d would discard it, so "
                "nothing was written (repair with force to do it anyway)"
                % (v[0], best[0], len(smap.shares_of(v)), v[5], best[0]))
    if smap.needs_merge():
        return ("two recoverable versions have the same seqnum %d: choosing one is for the "
                "application (write the merged contents); nothing was written (repair with "
                "force to keep the one with the highest root hash)" % best[0])
    return None


async def repair_mutable(node, check_results=None, *, force=False, monitor=None) -> RepairResults:
    """Republish the best recoverable version of ``node`` (a MutableFileNode
    with a write cap); see the module docstring.  The caller serializes it
    with the node's other writes."""
    if node.is_readonly():
        return RepairResults(error="repairing a mutable file needs its write cap; this node "
                                   "was made from a read-only cap")
    smap = await node.get_servermap(MODE_REPAIR)
    _carry_over_corrupt(smap, check_results)
    if monitor is not None:
        monitor.raise_if_cancelled()
    why = refusal(smap, force)
    if why is not None:
        return RepairResults(error="repair of %s refused: %s"
                                   % (_si_text(node.get_storage_index()), why),
                             servermap=smap)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        try:
            await node.read_for_repair(TargetConsumer(spool), smap)
            if monitor is not None:
                monitor.raise_if_cancelled()
            spool.seek(0)
            await node.publish_for_repair(spool, smap)
        except MutableFileError as e:
            return RepairResults(error="repair of %s failed: %s"
                                       % (_si_text(node.get_storage_index()), e),
                                 servermap=smap)
    finally:
        spool.close()
    return RepairResults(successful=True, servermap=smap, seqnum=smap.highest_seqnum())
