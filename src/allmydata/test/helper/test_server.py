"""The upload helper server over real Foolscap: uploads through it read back,
an already-stored file costs no ciphertext, concurrent requests share one
upload, and the statistics, statuses and spool say what happened."""

import os

import pytest
import pytest_twisted
from twisted.internet import defer

from allmydata.helper.existence import check_uri_extension
from allmydata.helper.interfaces import HELPER_V1, HelperUploadResults
from allmydata.helper.server import CHK_UPLOAD_V1
from allmydata.history import History
from allmydata.immutable.params import SegmentParams
from allmydata.immutable.uri_extension import (
    BadURIExtensionError, make_uri_extension, pack_uri_extension,
)
from allmydata.stats import StatsProvider
from allmydata.util.rrefutil import call_remote

from .helpergrid import content, download, prepare, start_helper_grid, upload_through


@pytest_twisted.async_yield_fixture
async def hg(tmp_path, certs):
    stats, history = StatsProvider(), History()
    g = await start_helper_grid(tmp_path, certs, stats_provider=stats, history=history)
    g.stats, g.history = stats, history
    try:
        yield g
    finally:
        await g.close()


@pytest_twisted.ensureDeferred
async def test_get_version(hg):
    version = await call_remote(hg.rref, "get_version")
    assert version[HELPER_V1] == {}
    assert version[b"application-version"].startswith(b"allmydata")


@pytest.mark.parametrize("size,k,n,segsize", [
    (56, 3, 10, 128 * 1024),
    (300_000, 3, 10, 64 * 1024),
    (200_001, 2, 5, 50_000),
])
@pytest_twisted.ensureDeferred
async def test_upload_reads_back(hg, size, k, n, segsize):
    f = await prepare(content(size, seed=size), k=k, n=n, happy=5, max_segment_size=segsize)
    source = f.source()
    first, results = await upload_through(hg.rref, f.storage_index, source)
    assert isinstance(first, HelperUploadResults) and "existence_check" in first.timings
    assert isinstance(results, HelperUploadResults)
    assert await download(hg.grid, f.cap(results)) == f.plaintext
    assert source.bytes_served == size == results.ciphertext_fetched == results.file_size
    assert source.closed
    ueb = results.uri_extension_data
    assert (ueb["needed_shares"], ueb["total_shares"], ueb["size"],
            ueb["segment_size"]) == (k, n, size, f.params[3])
    assert sorted(results.sharemap) == list(range(n))
    assert results.pushed_shares == n and results.preexisting_shares == 0
    assert {s for ids in results.sharemap.values() for s in ids} == set(results.servermap)
    for name in ("cumulative_fetch", "total_fetch", "cumulative_encoding", "cumulative_sending",
                 "hashes_and_close", "total_encode_and_push", "peer_selection", "total"):
        assert results.timings[name] >= 0, name
    assert results.verifycapstr == f.cap(results).get_verifier().to_string()
    # nothing is left in the spool
    assert os.listdir(hg.helper.spool.incoming_dir) == os.listdir(hg.helper.spool.encoding_dir) == []
    stats = hg.helper.get_stats()
    assert stats["chk_upload_helper.upload_requests"] == 1
    assert stats["chk_upload_helper.upload_need_upload"] == 1
    assert stats["chk_upload_helper.fetched_bytes"] == size
    assert stats["chk_upload_helper.encoded_bytes"] == size
    assert stats["chk_upload_helper.active_uploads"] == 0
    assert hg.stats.get_stats()["counters"]["chk_upload_helper.fetched_bytes"] == size
    assert hg.stats.get_stats()["stats"]["chk_upload_helper.encoded_bytes"] == size
    (status,) = hg.history.list_all_helper_statuses()
    assert status.get_storage_index() == f.storage_index and status.get_size() == size
    assert not status.get_active() and status.get_progress() == (1.0, 1.0, 1.0)
    assert status.get_status() == "Finished"


@pytest_twisted.ensureDeferred
async def test_already_stored_file_costs_no_ciphertext(hg):
    f = await prepare(content(100_000), happy=5, max_segment_size=32 * 1024)
    _, first = await upload_through(hg.rref, f.storage_index, f.source())
    results, uploader = await call_remote(hg.rref, "upload_chk", f.storage_index)
    assert uploader is None
    assert results.uri_extension_hash == first.uri_extension_hash
    assert results.uri_extension_data == first.uri_extension_data
    assert results.sharemap == first.sharemap
    assert results.pushed_shares == 0 and results.preexisting_shares == 10
    assert results.ciphertext_fetched == 0 and "existence_check" in results.timings
    assert await download(hg.grid, f.cap(results)) == f.plaintext
    stats = hg.helper.get_stats()
    assert stats["chk_upload_helper.upload_already_present"] == 1
    assert stats["chk_upload_helper.fetched_bytes"] == 100_000


@pytest_twisted.ensureDeferred
async def test_concurrent_requests_share_one_upload(hg):
    f = await prepare(content(200_000, seed=3), happy=5, max_segment_size=32 * 1024)
    (_, u1), (_, u2) = await defer.gatherResults([
        call_remote(hg.rref, "upload_chk", f.storage_index),
        call_remote(hg.rref, "upload_chk", f.storage_index)])
    assert u1 is not None and u1 is u2
    assert (await call_remote(u1, "get_version"))[CHK_UPLOAD_V1] == {}
    s1, s2 = f.source(), f.source()
    r1, r2 = await defer.gatherResults([call_remote(u1, "upload", s1),
                                        call_remote(u2, "upload", s2)])
    assert r1.uri_extension_hash == r2.uri_extension_hash
    assert s1.bytes_served + s2.bytes_served == 200_000 == r1.ciphertext_fetched
    assert await download(hg.grid, f.cap(r1)) == f.plaintext
    assert len(hg.history.list_all_helper_statuses()) == 1


@pytest_twisted.ensureDeferred
async def test_a_file_on_too_few_servers_is_not_stored(hg):
    """Shares left on two of five servers do not reach the helper's happy
    (5): the file is uploaded again, the shares found counted."""
    f = await prepare(content(150_000, seed=8), happy=5, max_segment_size=64 * 1024)
    await upload_through(hg.rref, f.storage_index, f.source())
    for i, _shnum, path in hg.grid.share_files(f.storage_index):
        if i < 3:
            os.unlink(path)
    results, uploader = await call_remote(hg.rref, "upload_chk", f.storage_index)
    assert uploader is not None
    source = f.source()
    again = await call_remote(uploader, "upload", source)
    assert source.bytes_served == len(f.ciphertext)
    assert again.preexisting_shares > 0
    assert await download(hg.grid, f.cap(again)) == f.plaintext


def test_check_uri_extension_refuses_inconsistent_blocks():
    good = make_uri_extension(SegmentParams.for_file(100_000, 3, 10, 4096),
                              b"a" * 32, b"b" * 32, b"c" * 32)
    assert check_uri_extension(pack_uri_extension(good))["size"] == 100_000
    for change in ({"num_segments": 3}, {"codec_params": b"4096-3-9"},
                   {"share_root_hash": b"s" * 31}, {"segment_size": 4097},
                   {"needed_shares": 11}, {"codec_name": b"xyz"}, {"size": 0}):
        with pytest.raises(BadURIExtensionError):
            check_uri_extension(pack_uri_extension(dict(good, **change)))
    del good["share_root_hash"]
    with pytest.raises(BadURIExtensionError):
        check_uri_extension(pack_uri_extension(good))
