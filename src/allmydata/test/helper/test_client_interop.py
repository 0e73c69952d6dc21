"""Our client uploads through the real Tahoe-LAFS 1.20 helper.

Real processes: three Tahoe-LAFS 1.20 storage nodes, a Tahoe-LAFS 1.20 node
running its helper (``[helper] enabled = true``), a Tahoe-LAFS 1.20 client
and one of our client nodes configured with the helper's FURL.  Besides the
node process, our uploader also runs in the test process (its own Tub),
where its results and status can be read.

* our client node uploads through the helper (the helper's own statistics
  count the upload and the ciphertext it fetched); the file reads back on our
  client and on the Tahoe-LAFS client, and Tahoe-LAFS's verifier finds every
  share good;
* our uploader's results: the ciphertext fetched, the helper's timings, the
  status; the same file again is found by the helper and costs no ciphertext;
* another client node of ours, whose helper FURL points where nothing
  listens, uploads directly, and its ``/status`` and log say why.
"""

import json
import os
from contextlib import ExitStack

import pytest
import pytest_twisted
from foolscap.api import Tub, fireEventually
from twisted.internet import threads

from allmydata.client import SecretHolder
from allmydata.helper.client import HelperConnection
from allmydata.immutable.upload import Data, Uploader
from allmydata.storage_client import StorageFarmBroker
from allmydata.testing.helpernodes import TahoeHelperNode, data_of, our_log_text
from allmydata.testing.nodeconfig import edit_config
from allmydata.testing.ports import free_port
from allmydata.testing.reference import (
    OurClient, ReferenceStorageGrid, TahoeClient,
)
from allmydata.testing.waiting import eventually, wait_for

pytestmark = pytest.mark.interop

NEEDED, HAPPY, TOTAL = 2, 3, 5
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def helper_grid(tahoe_venv, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("helper-interop"))
    storage = ReferenceStorageGrid(tahoe_venv, workdir, 3)
    helper = TahoeHelperNode(tahoe_venv, os.path.join(workdir, "helper"),
                             NEEDED, HAPPY, TOTAL)
    theirs = TahoeClient(tahoe_venv, os.path.join(workdir, "client"), NEEDED, HAPPY, TOTAL)
    ours = OurClient(os.path.join(workdir, "ours"), NEEDED, HAPPY, TOTAL)
    with ExitStack() as stack:
        stack.callback(storage.stop)
        nodes = storage.start()
        for node in (helper, theirs):
            node.create()
            node.set_servers(nodes)
            node.extra_logs = storage.logs
            stack.callback(node.stop)
            node.start()
        furl = helper.furl()
        ours.create()
        ours.set_servers(nodes)
        edit_config(ours.basedir, {"client": {"helper.furl": furl}})
        ours.extra_logs = lambda: helper.logs() + storage.logs()
        stack.callback(ours.stop)
        ours.start()
        for node in (helper, theirs, ours):
            node.wait_connected(timeout=60)
        yield helper, theirs, ours, furl


def test_our_client_node_uploads_through_a_tahoe_helper(helper_grid):
    helper, theirs, ours, furl = helper_grid
    wait_for(lambda: "using the helper at" in our_log_text(ours.basedir), 60,
             what="our client's connection to the helper")
    assert furl.rsplit("/", 1)[1] not in our_log_text(ours.basedir)  # no swissnum logged
    before = helper.stats()
    data = data_of(MiB + 1, b"through a Tahoe-LAFS helper ")
    cap = ours.upload(data)
    assert cap.startswith("URI:CHK:")
    after = helper.stats()
    assert after["chk_upload_helper.upload_need_upload"] == \
        before["chk_upload_helper.upload_need_upload"] + 1
    assert after["chk_upload_helper.fetched_bytes"] - before["chk_upload_helper.fetched_bytes"] \
        == len(data)
    assert ours.download(cap) == data
    assert theirs.download(cap) == data
    results = theirs.check(cap, verify=True)
    assert results["healthy"] and results["count-shares-good"] == TOTAL, results
    # a small file never reaches the helper
    small = ours.upload(b"tiny")
    assert small.startswith("URI:LIT:")
    assert helper.stats()["chk_upload_helper.upload_requests"] == \
        after["chk_upload_helper.upload_requests"]


@pytest_twisted.ensureDeferred
async def test_our_uploader_results_through_a_tahoe_helper(helper_grid):
    helper, theirs, ours, furl = helper_grid
    tub = Tub()
    tub.startService()
    connection = HelperConnection(tub, furl)
    uploader = Uploader(StorageFarmBroker.from_rrefs([]), SecretHolder(b"s" * 32, b"c" * 32),
                        {"k": NEEDED, "happy": HAPPY, "n": TOTAL,
                         "max_segment_size": 128 * 1024}, helper=connection)
    uploader.startService()
    try:
        await eventually(lambda: uploader.get_helper_info() == (furl, True), 60,
                         what="the connection to the Tahoe-LAFS helper")
        assert b"application-version" in connection.version
        data = data_of(700 * 1000 + 11, b"results from a Tahoe-LAFS helper ")
        results = await uploader.upload(Data(data, b"c" * 32))
        assert results.ciphertext_fetched == len(data)
        for name in ("storage_index", "contacting_helper", "helper_total", "total"):
            assert results.timings[name] >= 0, (name, results.timings)
        assert results.uri_extension_data["size"] == len(data)
        status = uploader.list_all_upload_statuses()[-1]
        assert status.using_helper() and status.get_progress() == (1.0, 1.0, 1.0)
        assert status.get_status() == "Finished"
        cap = results.uri.decode("ascii")
        got = await threads.deferToThread(theirs.download, cap)
        assert got == data
        got = await threads.deferToThread(ours.download, cap)
        assert got == data

        # again: the helper finds the file on the grid and fetches nothing
        fetched = (await threads.deferToThread(helper.stats))[
            "chk_upload_helper.fetched_bytes"]
        again = await uploader.upload(Data(data, b"c" * 32))
        assert again.uri == results.uri and again.ciphertext_fetched == 0
        stats = await threads.deferToThread(helper.stats)
        assert stats["chk_upload_helper.fetched_bytes"] == fetched
        assert stats["chk_upload_helper.upload_already_present"] >= 1
    finally:
        await uploader.stopService()
        await tub.stopService()
        await fireEventually()


def test_our_client_node_uploads_directly_when_its_helper_is_down(helper_grid, tmp_path):
    helper, theirs, ours, furl = helper_grid
    down = OurClient(str(tmp_path / "helper-down"), NEEDED, HAPPY, TOTAL, nickname="helper-down")
    swissnum = "s" * 32
    dead_furl = "pb://%s@tcp:127.0.0.1:%d/%s" % ("a" * 32, free_port(), swissnum)
    try:
        down.create()
        down.set_servers(theirs.server_ids.values())
        edit_config(down.basedir, {"client": {"helper.furl": dead_furl}})
        down.start()
        down.wait_connected(timeout=60)
        requests = helper.stats()["chk_upload_helper.upload_requests"]
        data = data_of(300 * 1000, b"no helper today ")
        cap = down.upload(data)
        assert theirs.download(cap) == data
        assert helper.stats()["chk_upload_helper.upload_requests"] == requests
        status = json.loads(down.request("GET", "/status?t=json"))
        (item,) = [i for i in status["recent"] if i["type"] == "upload"]
        assert item["status"].startswith("Finished (")
        assert "is not connected; uploading directly to the storage servers" in item["status"]
        logs = our_log_text(down.basedir)
        assert "uploading directly to the storage servers" in logs
        assert swissnum not in logs and swissnum not in item["status"]
    finally:
        down.stop()
