"""Checking and verifying a mutable file (SDMF, MDMF): :func:`check_mutable`.

A check needs only the verify cap (storage index and public-key
fingerprint).  It maps the servers in MODE_CHECK: every connected server of
the storage index is asked for the head of every share it holds, and each
share's verification key (against the fingerprint) and signature (over its
signed prefix) are checked.  So a plain check sees a share whose signed
prefix (version, seqnum, root hash, IV, k, N, segment size, data length),
verification key or signature is damaged; it cannot see damage to the share
hash chain, the block hash tree or the blocks.

A verify also reads every byte of every share of the best recoverable
version, a batch of blocks at a time and a bounded number of shares at once
(:meth:`retrieve.Retrieve.verify_share`): the share hash chain and block hash
tree are checked against the signed root hash, and every block (MDMF: with
its salt) against the block hash tree.  A share small enough to have come
whole in the map update's first read (a small directory, say) is checked
from those bytes, without a second read.  A share that fails is marked bad in
the server map and reported to its server (``advise_corrupt_share``).
Neither sees damage to a share's encrypted private key: only the write key
decrypts it, and a check works from the verify cap (a repair rewrites every
share, that field included).

The results follow Tahoe-LAFS 1.20's mutable checker: the file is healthy
when exactly one version is recoverable, no version is unrecoverable, the
best version has all N distinct shares, and (beyond Tahoe-LAFS, which lists
corrupt shares without counting them against health when another copy
exists) no share is corrupt -- a corrupt share is one a repair must replace.
Corrupt shares include those the map update found with a bad key or
signature, not only those a verify found.  Happiness is counted over the
good shares of every version, each (version, share number) a distinct share,
as Tahoe-LAFS counts it.

With ``add_lease`` every server asked also gets an ``add_lease`` with this
client's per-server renew and cancel secrets (FORMATS.md "lease"), sent
beside the read; a server that refuses does not fail the check.
"""

from twisted.internet import defer

from .. import uri
from ..check_results import CheckResults
from ..immutable.happiness import servers_of_happiness
from ..util import base32
from .common import MODE_CHECK, BadShareError, MutableKeys
from .retrieve import Retrieve, ShareChanged
from .servermap import ServerMap, ServermapUpdater, _server_name, advise_corrupt

#: share bytes read (and checked, then dropped) per call while verifying one share
VERIFY_BATCH_BYTES = 1 << 20
#: shares verified at the same time
VERIFY_PARALLEL = 10
#: k and N reported when no share of the file was found (Tahoe-LAFS's defaults)
DEFAULT_K, DEFAULT_N = 3, 10


def mutable_verifycap(cap):
    """The SDMF/MDMF verify cap of ``cap`` (a verify cap, bytes, or a
    mutable directory's verify cap); TypeError for anything else."""
    if isinstance(cap, (bytes, str)):
        cap = uri.from_string(cap)
    inner = getattr(cap, "get_filenode_cap", None)
    if inner is not None:
        cap = inner()
    if not isinstance(cap, uri.SSKVerifierURI):
        raise TypeError("check_mutable needs an SDMF or MDMF verify cap, got a %s"
                        % type(cap).__name__)
    return cap


def lease_secrets_for(keys, secret_holder):
    """``server -> (renew secret, cancel secret)`` of this client for this file."""
    renew = secret_holder.get_renewal_secret()
    cancel = secret_holder.get_cancel_secret()

    def secrets(server):
        sid = server.get_serverid()
        return keys.renew_secret(renew, sid), keys.cancel_secret(cancel, sid)
    return secrets


async def check_mutable(verifycap, storage_broker, *, verify=False, add_lease=False,
                        secret_holder=None, monitor=None, reactor=None,
                        history=None) -> CheckResults:
    """Check (``verify``: and verify) one mutable file; see the module
    docstring.  ``history`` (the node's History, or None) records the map
    update."""
    given = uri.from_string(verifycap) if isinstance(verifycap, (bytes, str)) else verifycap
    cap = mutable_verifycap(given)
    if add_lease and secret_holder is None:
        raise ValueError("add_lease needs the client's secret holder (its lease secrets)")
    keys = MutableKeys.from_cap(cap)
    smap = await map_for_check(keys, storage_broker, add_lease=add_lease,
                               secret_holder=secret_holder, monitor=monitor, reactor=reactor,
                               keep_first_bytes=verify, history=history)
    if verify:
        try:
            await verify_best_version(keys, smap, monitor=monitor, reactor=reactor)
        finally:
            # the results keep the map: not the share bytes (a deep-check
            # keeps the results of every object it visits)
            smap.first_bytes.clear()
    if monitor is not None:
        monitor.raise_if_cancelled()
    # the results name what was asked about: a directory's verify cap stays one
    return results_from_map(given.to_string(), keys.storage_index, smap)


async def map_for_check(keys, storage_broker, *, mode=MODE_CHECK, add_lease=False,
                        secret_holder=None, monitor=None, reactor=None,
                        keep_first_bytes=False, history=None) -> ServerMap:
    """A server map of every share on every connected server (``mode``
    MODE_CHECK, or MODE_REPAIR to fetch the private key with a write cap);
    ``keep_first_bytes`` keeps what was read of each share for a verify;
    ``history`` (or None) records the map update."""
    if monitor is not None:
        monitor.raise_if_cancelled()
    smap = ServerMap()
    secrets = lease_secrets_for(keys, secret_holder) if add_lease else None
    updater = ServermapUpdater(keys, storage_broker, smap, mode, reactor=reactor,
                               lease_secrets=secrets, keep_first_bytes=keep_first_bytes)
    if history is not None:
        history.add_mapupdate(updater.status)
    await updater.update()
    if monitor is not None:
        monitor.raise_if_cancelled()
    return smap


async def verify_best_version(keys, smap, *, monitor=None, reactor=None,
                              batch_bytes=VERIFY_BATCH_BYTES, parallel=VERIFY_PARALLEL) -> dict:
    """Read and check every share of the best recoverable version that the
    map lists; corrupt ones are marked bad in the map and reported to their
    servers.  Returns ``{(serverid, shnum): reason}`` of the corrupt ones."""
    best = smap.best_recoverable_version()
    if best is None:
        return {}
    retrieve = Retrieve(keys, smap, best, reactor=reactor, verify_only=True)
    sources = sorted(((r.server, r.shnum) for r in smap.records(best)),
                     key=lambda t: (t[1], t[0].get_serverid()))
    limit = defer.DeferredSemaphore(max(1, parallel))
    corrupt: dict = {}

    async def one(server, shnum):
        if monitor is not None:
            monitor.raise_if_cancelled()
        try:
            first = smap.first_bytes.pop((server.get_serverid(), shnum), None)
            if first is None or not retrieve.verify_share_bytes(server, shnum, first):
                await retrieve.verify_share(server, shnum, batch_bytes)
        except BadShareError as e:
            reason = getattr(e, "reason", None) or str(e)
            corrupt[(server.get_serverid(), shnum)] = reason
            smap.mark_bad_share(server, shnum, reason)
            await advise_corrupt(server, keys.storage_index, shnum, reason, reactor=reactor)
        except ShareChanged as e:
            smap.remove_share(server, shnum)
            smap.problems.append("share %d on server %s changed while it was verified: %s"
                                 % (shnum, _server_name(server), e))
        except Exception as e:
            # the server failed (or timed out): not the share's fault, but an
            # unverified share is not counted good by a verify
            text = "timed out" if isinstance(e, defer.CancelledError) else str(e)
            smap.remove_share(server, shnum)
            smap.note_server_failure(server, "reading share %d to verify it: %s"
                                     % (shnum, text))

    results = await defer.DeferredList(
        [limit.run(lambda s=s, n=n: defer.ensureDeferred(one(s, n))) for s, n in sources],
        consumeErrors=True)
    for ok, value in results:
        if not ok:
            value.raiseException()
    return corrupt


def _version_name(verinfo) -> str:
    """``seq<N>-<4 base32 chars of the root hash>``, as Tahoe-LAFS names a version
    (``ServerMap.versioned_sharemap`` names shares the same way)."""
    return "seq%d-%s" % (verinfo[0], base32.b2a(verinfo[1])[:4].decode("ascii"))


def results_from_map(cap_string: bytes, storage_index: bytes, smap: ServerMap) -> CheckResults:
    """The :class:`CheckResults` of what ``smap`` found (after any verify)."""
    versions = smap.versions()
    records = {v: smap.records(v) for v in versions}
    recoverable = smap.recoverable_versions()
    unrecoverable = versions - recoverable
    order = sorted(versions, key=lambda v: (v[0], v[1]))
    healthy = True
    report, summary = [], []
    if recoverable:
        report.append("Recoverable Versions: " + "/".join(
            "%d*%s" % (len(records[v]), _version_name(v)) for v in order if v in recoverable))
    if unrecoverable:
        report.append("Unrecoverable Versions: " + "/".join(
            "%d*%s" % (len(records[v]), _version_name(v)) for v in order if v in unrecoverable))
        healthy = False
        summary.append("some versions are unrecoverable")
        report.append("Unhealthy: some versions are unrecoverable")
    if not recoverable:
        healthy = False
        summary.append("no versions are recoverable")
        report.append("Unhealthy: no versions are recoverable")
    if len(recoverable) > 1:
        healthy = False
        summary.append("multiple versions are recoverable")
        report.append("Unhealthy: there are multiple recoverable versions")

    best = smap.best_recoverable_version()
    counted = best if best is not None else (
        max(unrecoverable, key=lambda v: (v[0], v[1])) if unrecoverable else None)
    if counted is not None:
        good_shares = smap.shares_of(counted)
        k, n = counted[5], counted[6]
        s = len(good_shares)
        hosts = {server.get_serverid() for servers in good_shares.values()
                 for server in servers}
        wrong = sum(len(records[v]) for v in versions if v != counted)
        sharemap = {shnum: set(servers) for shnum, servers in good_shares.items()}
    else:
        k, n, s, hosts, wrong, sharemap = DEFAULT_K, DEFAULT_N, 0, set(), 0, {}
    if best is not None:
        report.append("Best Recoverable Version: " + _version_name(best))
        if s < n:
            healthy = False
            report.append("Unhealthy: best version has only %d shares (encoding is %d-of-%d)"
                          % (s, k, n))
            summary.append("%d shares (enc %d-of-%d)" % (s, k, n))

    corrupt, problems = [], []
    bad = sorted(smap.bad_shares().items(), key=lambda t: (t[0][1], t[0][0]))
    if bad:
        healthy = False
        report.append("Corrupt Shares:")
        summary.append("Corrupt Shares:")
    for (serverid, shnum), reason in bad:
        server = smap.server(serverid)
        corrupt.append((server, storage_index, shnum))
        problems.append((server, shnum, reason))
        name = "%s-sh%d" % (_server_name(server), shnum)
        report.append(" %s: %s" % (name, reason))
        summary.append(name)

    # happiness over the good shares of every version, each (version, shnum)
    # a share of its own
    happiness_map: dict = {}
    for v in versions:
        for shnum, servers in smap.shares_of(v).items():
            happiness_map.setdefault((v[0], v[1], shnum), set()).update(
                server.get_serverid() for server in servers)
    responding = [smap.server(sid) for sid in sorted(smap.servers_answered)]
    for sid, text in sorted(smap.lease_failures.items()):
        report.append("add-lease on server %s: %s" % (_server_name(smap.server(sid)), text))
    return CheckResults(
        uri=cap_string, storage_index=storage_index,
        healthy=healthy, recoverable=bool(recoverable),
        count_happiness=servers_of_happiness(happiness_map),
        count_shares_needed=k, count_shares_expected=n, count_shares_good=s,
        count_good_share_hosts=len(hosts),
        count_recoverable_versions=len(recoverable),
        count_unrecoverable_versions=len(unrecoverable),
        servers_responding=responding, sharemap=sharemap, count_wrong_shares=wrong,
        corrupt_shares=corrupt, summary="Healthy" if healthy else "Unhealthy: " + " ".join(summary),
        report=report, share_problems=problems, servermap=smap)
