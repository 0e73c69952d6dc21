"""The checker service (IChecker): check, verify and checker_results_for on
real storage servers in this process, the results database, and the node
that refuses a database it cannot use."""

import os
import sqlite3

import pytest
import pytest_twisted
from foolscap.api import Tub
from twisted.internet import reactor, task

from allmydata import uri
from allmydata.checker_service import (
    DB_FILENAME, MAX_RESULTS_IN_MEMORY, CheckerDatabaseError, CheckerService, DatabaseResults,
    MemoryResults, VerifyFailed, open_results_store,
)
from allmydata.client import Client
from allmydata.immutable.upload import Data as UploadData
from allmydata.node import create_node
from allmydata.scripts.runner import main
from allmydata.testing.mutablegrid import MutableGrid
from allmydata.testing.nodegrid import start_grid
from allmydata.testing.processes import NodeProcesses
from allmydata.testing.storagegrid import grid_secrets
from allmydata.testing.waiting import eventually

CHK_DATA = b"checked file " * 5000


@pytest.fixture(scope="module")
def grid_certs():
    return [Tub().getCertData() for _ in range(6)]


@pytest_twisted.async_yield_fixture
async def grid(tmp_path, grid_certs):
    g = MutableGrid(tmp_path / "grid", grid_certs)
    try:
        await g.start(5)
        yield g
    finally:
        await g.close()


def make_client(grid):
    return Client(grid.broker, grid_secrets(),
                  {"k": 3, "happy": 5, "n": 10, "max_segment_size": 128 * 1024}, reactor=reactor)


def make_service(grid, store, clock=None):
    return CheckerService(grid.broker, store, reactor=reactor, clock=clock or task.Clock())


def expected_sharemap(grid, storage_index) -> dict:
    return {shnum: sorted(sid for sid, _path in copies)
            for shnum, copies in grid.shares_by_shnum(storage_index).items()}


async def upload_chk(grid):
    client = make_client(grid)
    results = await client.upload(UploadData(CHK_DATA, b"C" * 32))
    return uri.from_string(results.uri)


def remove_shares(grid, storage_index, keep):
    """Delete every share file of ``storage_index`` but ``keep`` of them."""
    for _i, _shnum, path in grid.share_files(storage_index)[keep:]:
        os.unlink(path)


# ---- check, verify, results ----------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_check_of_a_file(grid):
    cap = await upload_chk(grid)
    clock = task.Clock()
    clock.advance(1234.5)
    svc = make_service(grid, MemoryResults(), clock)
    vcap = cap.get_verifier()
    needed, total, found, sharemap = await svc.check(vcap)
    si = cap.get_storage_index()
    assert (needed, total, found) == (3, 10, 10)
    assert sharemap == expected_sharemap(grid, si)
    assert all(len(nodeid) == 20 for ids in sharemap.values() for nodeid in ids)
    assert svc.checker_results_for(vcap) == [(1234.5, (3, 10, 10, sharemap))]

    remove_shares(grid, si, keep=4)
    clock.advance(10)
    needed, total, found, sharemap2 = await svc.check(vcap.to_string())
    assert (needed, total, found) == (3, 10, 4) and len(sharemap2) == 4
    assert [when for when, _ in svc.checker_results_for(vcap)] == [1234.5, 1244.5]
    remove_shares(grid, si, keep=2)
    assert (await svc.check(vcap))[2] == 2  # found / needed < 1: unrecoverable


@pytest.mark.parametrize("version", ["sdmf", "mdmf"])
@pytest_twisted.ensureDeferred
async def test_check_of_a_mutable_file(grid, version):
    node = await make_client(grid).create_mutable_file(b"mutable " * 300, version=version)
    svc = make_service(grid, MemoryResults())
    vcap = node.get_verify_cap()
    needed, total, found, sharemap = await svc.check(vcap)
    assert (needed, total, found) == (3, 10, 10)
    assert sharemap == expected_sharemap(grid, node.get_storage_index())
    assert await svc.verify(vcap) is True
    assert [r for _w, r in svc.checker_results_for(vcap)] == [(3, 10, 10, sharemap)] * 2


@pytest.mark.parametrize("kind", ["mutable", "immutable"])
@pytest_twisted.ensureDeferred
async def test_directories_are_true_or_false(grid, kind):
    client = make_client(grid)
    child = client.create_node_from_uri((await upload_chk(grid)).to_string())
    if kind == "mutable":
        dirnode = await client.create_dirnode({"child": child})
    else:
        dirnode = await client.create_immutable_dirnode({"child": child})
    vcap = dirnode.get_verify_cap()
    assert is_directory_verifier(vcap)
    svc = make_service(grid, MemoryResults())
    assert await svc.check(vcap) is True
    assert await svc.verify(vcap) is True
    remove_shares(grid, dirnode.get_storage_index(), keep=5)
    assert await svc.check(vcap) is False
    assert [r for _w, r in svc.checker_results_for(vcap)] == [True, True, False]


def is_directory_verifier(vcap) -> bool:
    return isinstance(vcap, (uri.DirectoryURIVerifier, uri.MDMFDirectoryURIVerifier,
                             uri.ImmutableDirectoryURIVerifier))


@pytest_twisted.ensureDeferred
async def test_verify_finds_corruption_that_check_does_not(grid):
    cap = await upload_chk(grid)
    vcap = cap.get_verifier()
    svc = make_service(grid, MemoryResults())
    assert await svc.verify(vcap) is True
    (_i, _shnum, path) = grid.share_files(cap.get_storage_index())[0]
    size = os.path.getsize(path)
    with open(path, "r+b") as f:  # a byte of the first block
        f.seek(0x0c + 0x24 + 10)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    assert os.path.getsize(path) == size
    assert (await svc.check(vcap))[2] == 10
    with pytest.raises(VerifyFailed, match="1 corrupt share"):
        await svc.verify(vcap)
    # the verify's result is remembered too: the corrupt share is not counted
    assert svc.checker_results_for(vcap)[-1][1][2] == 9


@pytest_twisted.ensureDeferred
async def test_verify_of_an_unrecoverable_file(grid):
    cap = await upload_chk(grid)
    remove_shares(grid, cap.get_storage_index(), keep=2)
    svc = make_service(grid, MemoryResults())
    with pytest.raises(VerifyFailed, match="not recoverable"):
        await svc.verify(cap.get_verifier())


@pytest_twisted.ensureDeferred
async def test_read_caps_are_reduced_to_verify_caps(grid, tmp_path):
    cap = await upload_chk(grid)
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / DB_FILENAME).write_bytes(b"")
    svc = make_service(grid, open_results_store(str(tmp_path / "node")))
    await svc.check(cap.to_string())
    assert svc.checker_results_for(cap) == svc.checker_results_for(cap.get_verifier())
    svc.store.close()
    db = (tmp_path / "node" / DB_FILENAME).read_bytes()
    assert cap.get_verifier().to_string() in db
    assert cap.to_string() not in db and cap.key not in db


@pytest.mark.parametrize("bad", [b"URI:LIT:nbswy3dp", "URI:DIR2-LIT:nbswy3dp", b"not a cap",
                                 "URI:CHK:broken"])
@pytest_twisted.ensureDeferred
async def test_bad_caps_refused(grid, bad):
    svc = make_service(grid, MemoryResults())
    with pytest.raises(ValueError):
        await svc.check(bad)
    with pytest.raises(ValueError):
        svc.checker_results_for(bad)


def test_memory_keeps_the_newest_results():
    store = MemoryResults()
    for i in range(MAX_RESULTS_IN_MEMORY + 5):
        store.add("URI:CHK-Verifier:x", float(i), True)
    kept = store.get("URI:CHK-Verifier:x")
    assert len(kept) == MAX_RESULTS_IN_MEMORY and kept[0][0] == 5.0 and kept[-1][0] == 104.0


# ---- the database ----------------------------------------------------------------------------
@pytest_twisted.ensureDeferred
async def test_results_survive_a_restart_with_a_database(grid, tmp_path):
    basedir = str(tmp_path / "node")
    os.mkdir(basedir)
    open(os.path.join(basedir, DB_FILENAME), "wb").close()
    cap = await upload_chk(grid)
    mutable = await make_client(grid).create_mutable_file(b"m" * 1000)
    clock = task.Clock()
    clock.advance(1700000000.25)
    svc = make_service(grid, open_results_store(basedir), clock)
    assert isinstance(svc.store, DatabaseResults)
    svc.startService()
    first = await svc.check(cap.get_verifier())
    clock.advance(60)
    await svc.check(mutable.get_verify_cap())
    svc.stopService()

    again = make_service(grid, open_results_store(basedir))
    again.startService()
    try:
        assert again.checker_results_for(cap.get_verifier()) == [(1700000000.25, first)]
        ((when, results),) = again.checker_results_for(mutable.get_verify_cap())
        assert when == 1700000060.25 and results[:3] == (3, 10, 10)
        assert again.checker_results_for(uri.CHKFileVerifierURI(b"s" * 16, b"u" * 32, 3, 10,
                                                                99)) == []
    finally:
        again.stopService()


def test_garbage_database_refused(tmp_path):
    path = tmp_path / DB_FILENAME
    path.write_bytes(b"this is not an sqlite database, just some bytes" * 100)
    with pytest.raises(CheckerDatabaseError) as e:
        open_results_store(str(tmp_path))
    assert str(path) in str(e.value) and "not a usable checker results database" in str(e.value)
    assert path.read_bytes() == b"this is not an sqlite database, just some bytes" * 100


def test_foreign_database_refused(tmp_path):
    path = tmp_path / DB_FILENAME
    db = sqlite3.connect(str(path))
    db.execute("CREATE TABLE photos (id INTEGER, name TEXT)")
    db.execute("INSERT INTO photos VALUES (1, 'cat')")
    db.commit()
    db.close()
    with pytest.raises(CheckerDatabaseError, match="not a checker results database") as e:
        open_results_store(str(tmp_path))
    assert str(path) in str(e.value)
    db = sqlite3.connect(str(path))
    assert db.execute("SELECT name FROM photos").fetchall() == [("cat",)]
    db.close()


def test_database_of_another_version_refused(tmp_path):
    open(tmp_path / DB_FILENAME, "wb").close()
    open_results_store(str(tmp_path)).close()
    db = sqlite3.connect(str(tmp_path / DB_FILENAME))
    db.execute("UPDATE checker_results_version SET version = 7")
    db.commit()
    db.close()
    with pytest.raises(CheckerDatabaseError, match="version"):
        open_results_store(str(tmp_path))


def test_truncated_database_refused(tmp_path):
    open(tmp_path / DB_FILENAME, "wb").close()
    store = open_results_store(str(tmp_path))
    for i in range(200):
        store.add("URI:CHK-Verifier:%d" % i, float(i), (1, 2, 1, {0: [b"n" * 20]}))
    store.close()
    data = (tmp_path / DB_FILENAME).read_bytes()
    (tmp_path / DB_FILENAME).write_bytes(data[:len(data) // 2 + 100])
    with pytest.raises(CheckerDatabaseError) as e:
        open_results_store(str(tmp_path))
    assert str(tmp_path / DB_FILENAME) in str(e.value)


@pytest_twisted.ensureDeferred
async def test_without_a_database_nothing_is_written(grid, tmp_path):
    basedir = tmp_path / "node"
    basedir.mkdir()
    svc = make_service(grid, open_results_store(str(basedir)))
    assert isinstance(svc.store, MemoryResults)
    cap = await upload_chk(grid)
    svc.startService()
    await svc.check(cap.get_verifier())
    await svc.verify(cap.get_verifier())
    assert len(svc.checker_results_for(cap.get_verifier())) == 2
    svc.stopService()
    assert list(basedir.iterdir()) == []


# ---- the node --------------------------------------------------------------------------------
def _client_dir(tmp_path):
    d = str(tmp_path / "client")
    assert main(["create-client", "--listen", "none", "--webport", "none", d]) == 0
    return d


def test_client_node_has_the_checker_service(tmp_path, capsys):
    d = _client_dir(tmp_path)
    node = create_node(d, reactor)
    assert isinstance(node.checker, CheckerService)
    assert node.checker.storage_broker is node.storage_broker
    assert isinstance(node.checker.store, MemoryResults)
    assert node.getServiceNamed("checker") is node.checker
    open(os.path.join(d, DB_FILENAME), "wb").close()
    node = create_node(d, reactor)
    assert isinstance(node.checker.store, DatabaseResults)
    node.checker.store.close()


def test_client_node_refuses_a_garbage_database(tmp_path, capsys):
    d = _client_dir(tmp_path)
    with open(os.path.join(d, DB_FILENAME), "wb") as f:
        f.write(os.urandom(4096))
    with pytest.raises(CheckerDatabaseError) as e:
        create_node(d, reactor)
    assert os.path.join(d, DB_FILENAME) in str(e.value)


@pytest.mark.integration
def test_node_process_with_a_garbage_database_exits_with_the_error(tmp_path, capsys):
    d = _client_dir(tmp_path)
    path = os.path.join(d, DB_FILENAME)
    with open(path, "wb") as f:
        f.write(b"garbage, not sqlite\n" * 50)
    procs = NodeProcesses()
    try:
        p = procs.run_foreground(d)
        out, _ = p.communicate(timeout=120)
    finally:
        procs.cleanup()
    text = out.decode("utf-8", "replace")
    assert p.returncode == 1, text
    assert "tahoe run: configuration error: %s" % path in text
    assert "not a usable checker results database" in text
    assert "Traceback" not in text
    assert not os.path.exists(os.path.join(d, "running.process"))


@pytest_twisted.ensureDeferred
async def test_results_survive_a_node_restart(tmp_path):
    """A client node whose directory holds an empty checker_results.db
    initializes it; after the node is stopped and built again from its
    directory, the results of its earlier checks are still there."""
    g = await start_grid(tmp_path / "grid", storage_count=4, needed=2, happy=3, total=4)
    node = g.client_node
    try:
        await node.stopService()
        open(os.path.join(g.client_dir, DB_FILENAME), "wb").close()
        for round_ in range(2):
            node = create_node(g.client_dir, reactor)
            node.startService()
            await eventually(lambda: len(node.storage_broker.get_connected_servers()) == 4, 30,
                             what="the client connected to its storage servers")
            if round_ == 0:
                results = await node.client.upload(UploadData(CHK_DATA, b"C" * 32))
                vcap = uri.from_string(results.uri).get_verifier()
                checked = await node.checker.check(vcap)
                assert checked[:3] == (2, 4, 4)
            else:
                ((when, remembered),) = node.checker.checker_results_for(vcap)
                assert remembered == checked and when > 0
            await node.stopService()
    finally:
        if node.running:
            await node.stopService()
        await g.stop()
