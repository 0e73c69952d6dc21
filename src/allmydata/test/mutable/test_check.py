"""Check and verify of mutable files (SDMF and MDMF) on real storage servers.

What a plain check sees: it reads every share's head and checks the
verification key against the cap's fingerprint and the signature over the
signed prefix, so damage to the signed header or the signature is found;
damage to the share hash chain, the block hash tree or the blocks is found
only by a verify, which reads and hash-checks every share of the best
version and tells the share's server (``advise_corrupt_share``).
"""

import os

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from allmydata import uri
from allmydata.check_results import check_results_json
from allmydata.client import SecretHolder
from allmydata.monitor import Monitor, OperationCancelledError
from allmydata.mutable import layout
from allmydata.mutable.checker import check_mutable, map_for_check, verify_best_version
from allmydata.mutable.common import MDMF_VERSION, MODE_CHECK, SDMF_VERSION, MutableKeys
from allmydata.storage.mutable import MutableShareFile
from allmydata.testing.mutablegrid import FaultyStorageServer, MutableGrid, fresh_keypair

from .test_publish import SEG, data_of

VERSIONS = [SDMF_VERSION, MDMF_VERSION]
#: share regions a one-byte corruption is put in, and whether a plain check sees it
REGIONS = {"header": True, "signature": True, "share_hash_chain": False,
           "block_hash_tree": False, "data": False}


def contents_for(version) -> bytes:
    return data_of(3 * SEG + 100 if version == MDMF_VERSION else 5000)


def region_offset(share: layout.ParsedShare, region: str) -> int:
    """The offset in the share of a byte of ``region``."""
    if region == "header":
        return 8            # the last byte of the seqnum, in the signed prefix
    if region == "data":
        salt = layout.SALT_SIZE if share.version == MDMF_VERSION else 0
        return share.offsets["share_data"] + salt + 20
    offset, _length = share.field_range(region)
    return offset + (5 if region == "share_hash_chain" else 3)


def corrupt(grid, storage_index, shnum, region):
    """Corrupt one byte of ``region`` of one copy of share ``shnum``;
    returns (server index, path)."""
    i, _sh, path = [t for t in grid.share_files(storage_index) if t[1] == shnum][0]
    share = layout.parse_share(grid.read_share(path))
    grid.corrupt_share(path, region_offset(share, region))
    return i, path


def advisories_of(grid, i) -> list:
    d = grid.servers[i].corruption_advisory_dir
    out = []
    for name in grid.advisories(i):
        with open(os.path.join(d, name), encoding="utf-8") as f:
            out.append(f.read())
    return out


@pytest.mark.parametrize("version", VERSIONS)
@pytest_twisted.ensureDeferred
async def test_healthy_file(grid, version):
    node = await grid.create(contents_for(version), version=version)
    si = node.get_storage_index()
    for verify in (False, True):
        r = await node.check(Monitor(), verify=verify)
        assert r.healthy and r.recoverable and r.summary == "Healthy"
        assert (r.count_shares_good, r.count_shares_needed, r.count_shares_expected) == (10, 3, 10)
        assert r.count_good_share_hosts == 5 and r.count_happiness == 5
        assert (r.count_recoverable_versions, r.count_unrecoverable_versions) == (1, 0)
        assert r.count_wrong_shares == 0 and r.corrupt_shares == []
        assert len(r.servers_responding) == 5
        assert sorted(r.sharemap) == list(range(10))
        on_disk = {(grid.serverids[i], shnum) for i, shnum, _p in grid.share_files(si)}
        assert {(s.get_serverid(), shnum) for shnum, servers in r.sharemap.items()
                for s in servers} == on_disk
        name = next(line for line in r.report if line.startswith("Best Recoverable"))
        version = name.split(": ")[1]
        assert {k: {s.get_serverid() for s in v}
                for k, v in r.servermap.versioned_sharemap().items()} == \
            {"%s-sh%d" % (version, shnum): {s.get_serverid() for s in servers}
             for shnum, servers in r.sharemap.items()}
        assert r.storage_index == si
        assert r.uri == node.get_verify_cap().to_string()
        assert any(line.startswith("Best Recoverable Version: seq1-") for line in r.report)
        assert check_results_json(r)["results"]["healthy"] is True
    assert grid.all_advisories() == {}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("region", sorted(REGIONS))
@pytest_twisted.ensureDeferred
async def test_corruption_check_versus_verify(grid, version, region):
    node = await grid.create(contents_for(version), version=version)
    si = node.get_storage_index()
    i, _path = corrupt(grid, si, 4, region)
    server = grid.serverids[i]
    checker = grid.node(node.get_verify_cap())     # a verify cap is enough

    r = await checker.check()
    if REGIONS[region]:
        assert not r.healthy and r.recoverable
        assert [(s.get_serverid(), sh) for s, _si, sh in r.corrupt_shares] == [(server, 4)]
        assert r.count_shares_good == 9
        assert advisories_of(grid, i), "the check told the server"
    else:
        assert r.healthy and r.corrupt_shares == [], "a plain check cannot see this"
        assert grid.all_advisories() == {}

    v = await checker.check(verify=True)
    assert not v.healthy and v.recoverable
    assert [(s.get_serverid(), s_i, sh) for s, s_i, sh in v.corrupt_shares] == [(server, si, 4)]
    assert v.count_shares_good == 9 and 4 not in v.sharemap
    assert v.summary.startswith("Unhealthy:") and "-sh4" in v.summary
    assert any(line.startswith(" ") and "-sh4: " in line for line in v.report)
    j = check_results_json(v)["results"]
    assert j["count-corrupt-shares"] == 1
    assert j["list-corrupt-shares"][0][1:] == [uri.base32.b2a(si).decode("ascii"), 4]
    reason = v.share_problems[0][2]
    assert {"header": "signature", "signature": "signature",
            "share_hash_chain": "share hash chain", "block_hash_tree": "hash",
            "data": "block data"}[region] in reason, reason
    reports = advisories_of(grid, i)
    assert reports and all("type: mutable" in t and "share_number: 4" in t for t in reports)
    assert grid.all_advisories().keys() == {i}, "only the holder of the bad share was told"


@pytest.mark.parametrize("version", VERSIONS)
@pytest_twisted.ensureDeferred
async def test_verify_reads_a_batch_at_a_time(grid, version):
    """Verify reads every byte of every share, in pieces of about the batch
    size (bounded memory), and a few shares at a time."""
    data = contents_for(version)
    node = await grid.create(data, version=version)
    keys = MutableKeys.from_cap(node.get_verify_cap())
    smap = await map_for_check(keys, grid.broker)
    best = smap.best_recoverable_version()
    head = smap.share_head(best)
    g = head.prefix.geometry()
    grid.clear_logs()
    corrupt_found = await verify_best_version(keys, smap, batch_bytes=1, parallel=2)
    assert corrupt_found == {}
    start, length = head.field_range("share_data")
    data_reads = [(shnums, off, n) for shnums, off, n in grid.reads()
                  if start <= off < start + length]
    record = g.block_size + (layout.SALT_SIZE if version == MDMF_VERSION else 0)
    assert max(n for _s, _o, n in data_reads) <= record
    covered = {}
    for shnums, off, n in data_reads:
        for sh in shnums:
            covered[sh] = covered.get(sh, 0) + n
    assert covered == {sh: length for sh in range(10)}, "every byte of every share read"


@pytest_twisted.ensureDeferred
async def test_verify_of_a_small_file_reads_each_share_once(grid):
    """A share that came whole in the map update's first read is verified
    from those bytes: a verify makes the same calls as a check."""
    node = await grid.create(b"a small directory's worth" * 20, version=SDMF_VERSION)
    grid.clear_logs()
    assert (await node.check()).healthy
    check_calls = grid.read_calls()
    grid.clear_logs()
    r = await node.check(verify=True)
    assert r.healthy and r.servermap.first_bytes == {}, "the results keep no share bytes"
    assert grid.read_calls() == check_calls == 5


@pytest_twisted.ensureDeferred
async def test_check_sees_missing_shares_and_servers(grid):
    node = await grid.create(contents_for(SDMF_VERSION))
    await grid.stop_server(0)
    await grid.stop_server(1)
    r = await node.check()
    assert r.recoverable and not r.healthy
    assert r.count_shares_good == 6 and r.count_good_share_hosts == 3
    assert len(r.servers_responding) == 3
    assert r.summary == "Unhealthy: 6 shares (enc 3-of-10)"
    assert "Unhealthy: best version has only 6 shares (encoding is 3-of-10)" in r.report


@pytest_twisted.ensureDeferred
async def test_check_of_unrecoverable_and_missing_files(grid):
    node = await grid.create(contents_for(MDMF_VERSION), version=MDMF_VERSION)
    for i in range(4):
        await grid.stop_server(i)
    r = await node.check()
    assert not r.recoverable and not r.healthy
    assert (r.count_recoverable_versions, r.count_unrecoverable_versions) == (0, 1)
    assert r.count_shares_good == 2 and r.count_shares_needed == 3
    assert "no versions are recoverable" in r.summary
    # a file that was never stored: nothing anywhere
    other = MutableKeys.from_privkey(*fresh_keypair())
    r = await check_mutable(other.verifycap(SDMF_VERSION), grid.broker)
    assert not r.recoverable and r.count_shares_good == 0
    assert (r.count_shares_needed, r.count_shares_expected) == (3, 10)


@pytest_twisted.ensureDeferred
async def test_two_versions_are_counted(grid):
    node = await grid.create(b"first version", version=SDMF_VERSION)
    si = node.get_storage_index()
    saved = grid.save_shares(si)
    on_server0 = [p for i, _sh, p in grid.share_files(si) if i == 0]
    await node.overwrite(b"second version")
    grid.restore_shares(saved, only=on_server0)    # server 0 missed the second publish
    r = await node.check()
    assert not r.healthy and r.recoverable
    assert (r.count_recoverable_versions, r.count_unrecoverable_versions) == (1, 1)
    assert r.count_wrong_shares == 2 and r.count_shares_good == 8
    assert "some versions are unrecoverable" in r.summary


@pytest_twisted.ensureDeferred
async def test_bad_input(grid):
    node = await grid.create(b"x")
    with pytest.raises(TypeError, match="SDMF or MDMF verify cap"):
        await check_mutable(uri.from_string(node.get_uri()), grid.broker)
    with pytest.raises(ValueError, match="secret holder"):
        await check_mutable(node.get_verify_cap(), grid.broker, add_lease=True)
    # a mutable directory's verify cap is checked through its file's
    vc = node.get_verify_cap()
    dir_vc = uri.DirectoryURIVerifier(vc)
    r = await check_mutable(dir_vc.to_string(), grid.broker)
    assert r.healthy and r.uri == dir_vc.to_string()
    with pytest.raises(TypeError):
        await check_mutable(b"URI:LIT:aaaa", grid.broker)
    monitor = Monitor()
    monitor.cancel()
    with pytest.raises(OperationCancelledError):
        await node.check(monitor)


@pytest.mark.parametrize("version", VERSIONS)
@pytest_twisted.ensureDeferred
async def test_add_lease(grid, version):
    node = await grid.create(b"keep me", version=version)
    si = node.get_storage_index()
    other = SecretHolder(b"M" * 32, b"D" * 32)      # another client's lease secrets
    keys = MutableKeys.from_cap(node.get_verify_cap())
    counts = {p: MutableShareFile(p).lease_count() for _i, _sh, p in grid.share_files(si)}
    r = await check_mutable(node.get_verify_cap(), grid.broker, add_lease=True,
                            secret_holder=other)
    assert r.healthy
    for i, _sh, path in grid.share_files(si):
        share = MutableShareFile(path)
        assert share.lease_count() == counts[path] + 1
        renew = keys.renew_secret(other.get_renewal_secret(), grid.serverids[i])
        assert share.has_lease(renew)
    # again: the same lease is renewed, not added twice
    await check_mutable(node.get_verify_cap(), grid.broker, add_lease=True, secret_holder=other)
    assert all(MutableShareFile(p).lease_count() == counts[p] + 1 for p in counts)


class LyingStorageServer(FaultyStorageServer):
    """A real server that can lie about mutable shares: ``lie`` is None
    (honest), "claims" (claims shares 0-2 of any file, answers garbage),
    "bad-data" (answers garbage to reads of named shares past offset 0), "silent" (never
    answers a read: the call stays pending), "fail-named-reads" (fails reads of
    named shares: those after a map update's first read), or "no-leases"
    (refuses add_lease)."""

    lie = None

    def __init__(self, *args, **kwargs):
        FaultyStorageServer.__init__(self, *args, **kwargs)
        self.silent_calls = []

    def remote_slot_readv(self, storage_index, shares, readv):
        if self.lie == "silent":
            d = defer.Deferred()
            self.silent_calls.append(d)
            return d
        if self.lie == "fail-named-reads" and shares:
            raise OSError("injected failure: this server's disk is broken")
        if self.lie == "claims":
            self.read_calls += 1
            return {sh: [bytes((sh * 31 + off + j) % 256 for j in range(n)) for off, n in readv]
                    for sh in (shares or [0, 1, 2])}
        answer = FaultyStorageServer.remote_slot_readv(self, storage_index, shares, readv)
        if self.lie == "bad-data" and shares:
            # the heads (a first read of every share, from offset 0) are
            # honest; the hashes and blocks read later are not
            answer = {sh: [v if off == 0 else b"\xa5" * len(v)
                           for (off, _n), v in zip(readv, vs)] for sh, vs in answer.items()}
        return answer

    def remote_add_lease(self, storage_index, renew_secret, cancel_secret):
        if self.lie == "no-leases":
            raise OSError("injected failure: leases refused")
        return FaultyStorageServer.remote_add_lease(self, storage_index, renew_secret,
                                                    cancel_secret)


class LyingGrid(MutableGrid):
    server_class = LyingStorageServer


@pytest_twisted.async_yield_fixture
async def lying_grid(tmp_path, grid_certs):
    g = LyingGrid(tmp_path, grid_certs)
    try:
        await g.start(5)
        yield g
    finally:
        for ss in g.servers:
            for d in ss.silent_calls:
                if not d.called:
                    d.callback({})
        await g.close()


@pytest.mark.parametrize("version", VERSIONS)
@pytest_twisted.ensureDeferred
async def test_server_claiming_shares_it_does_not_have(lying_grid, version):
    grid = lying_grid
    node = await grid.create(contents_for(version), version=version)
    grid.servers[2].lie = "claims"     # it really holds two shares; it answers garbage
    liar = grid.serverids[2]
    for verify in (False, True):
        r = await node.check(verify=verify)
        assert r.recoverable and not r.healthy
        bad = sorted((s.get_serverid(), sh) for s, _si, sh in r.corrupt_shares)
        assert bad == [(liar, 0), (liar, 1), (liar, 2)]
        assert all(liar not in {s.get_serverid() for s in servers}
                   for servers in r.sharemap.values())
        assert r.count_shares_good == 8


@pytest.mark.parametrize("version", VERSIONS)
@pytest_twisted.ensureDeferred
async def test_server_answering_garbage_data(lying_grid, version):
    grid = lying_grid
    # big enough that a verify reads the hashes and blocks again after the
    # map update's first read
    data = data_of(30000) if version == SDMF_VERSION else contents_for(version)
    node = await grid.create(data, version=version)
    si = node.get_storage_index()
    grid.servers[3].lie = "bad-data"
    liar = grid.serverids[3]
    held = sorted(sh for i, sh, _p in grid.share_files(si) if i == 3)
    assert (await node.check()).healthy, "the heads are honest: a check cannot tell"
    r = await node.check(verify=True)
    assert r.recoverable and not r.healthy
    assert sorted((s.get_serverid(), sh) for s, _si, sh in r.corrupt_shares) == \
        [(liar, sh) for sh in held]
    assert len(grid.advisories(3)) == len(held)
    # the reader is not fooled either
    assert await grid.node(node.get_readonly_uri()).download_best_version() == data


@pytest_twisted.ensureDeferred
async def test_share_that_cannot_be_read_is_not_counted_good(lying_grid):
    """A server answers the map update, then fails every read of its shares:
    a verify cannot vouch for them, so they are not counted good (nor
    corrupt), and the failure is in the report's server map."""
    grid = lying_grid
    node = await grid.create(data_of(30000), version=SDMF_VERSION)
    grid.servers[4].lie = "fail-named-reads"
    assert (await node.check()).healthy
    r = await node.check(verify=True)
    assert r.recoverable and not r.healthy and r.corrupt_shares == []
    assert r.count_shares_good == 8
    assert "disk is broken" in r.servermap.servers_failed[grid.serverids[4]]
    assert grid.advisories(4) == []


@pytest_twisted.ensureDeferred
async def test_silent_server_does_not_hang_a_check(lying_grid):
    grid = lying_grid
    node = await grid.create(contents_for(SDMF_VERSION))
    grid.servers[1].lie = "silent"
    silent = grid.serverids[1]
    clock = task.Clock()
    d = defer.ensureDeferred(check_mutable(node.get_verify_cap(), grid.broker, reactor=clock))
    # wait until every server has been asked and the others have answered
    others = [ss for k, ss in enumerate(grid.servers) if k != 1]
    while not grid.servers[1].silent_calls or any(ss.read_calls == 0 for ss in others):
        await task.deferLater(reactor, 0.01, lambda: None)
    for _ in range(20):     # let the answers already sent reach the client
        await task.deferLater(reactor, 0.01, lambda: None)
    assert not d.called, "the check waits for the silent server"
    clock.advance(60)       # past the query timeout
    r = await d
    assert r.recoverable and not r.healthy and r.count_shares_good == 8
    assert silent not in {s.get_serverid() for s in r.servers_responding}
    assert silent in r.servermap.servers_failed


@pytest_twisted.ensureDeferred
async def test_lease_refused_does_not_break_the_check(lying_grid):
    grid = lying_grid
    node = await grid.create(b"leases")
    grid.servers[0].lie = "no-leases"
    r = await check_mutable(node.get_verify_cap(), grid.broker, add_lease=True,
                            secret_holder=SecretHolder(b"M" * 32, b"D" * 32))
    assert r.healthy
    assert list(r.servermap.lease_failures) == [grid.serverids[0]]
    assert any("add-lease" in line and "leases refused" in line for line in r.report)
    assert len(r.servermap.leases_added) == 4


@pytest_twisted.ensureDeferred
async def test_check_mode_asks_every_server(grid10):
    """A check asks all ten servers even where three answers would do."""
    node = await grid10.create(b"small", version=SDMF_VERSION, k=1, n=2)
    grid10.clear_logs()
    r = await grid10.node(node.get_verify_cap(), k=1, n=2).check()
    assert r.healthy and len(r.servers_responding) == 10
    assert all(ss.read_calls >= 1 for ss in grid10.servers)
    smap = await node.get_servermap(MODE_CHECK)
    assert len(smap.servers_answered) == 10
