"""Our helper as a real process, with clients as real processes.

The grid: three of our storage nodes and one of our nodes running the helper
(``[helper] enabled = true``, no storage), each a ``tahoe`` process.

* our client node uploads through it; then our client is killed half-way
  through the fetch of a large file, started again and uploads the same
  file: the helper fetches at most what it was missing plus one segment;
* a Tahoe-LAFS 1.20 client configured with our helper's FURL uploads
  through it; the file reads back on its client and ours, Tahoe-LAFS's
  verifier finds every share good, and the same file again costs no
  ciphertext;
* a Tahoe-LAFS 1.20 helper's ``/helper_status?t=json`` has the keys ours has.
"""

import json
import os
import signal
import threading
from contextlib import ExitStack

import pytest

from allmydata.testing.helpernodes import OurHelperNode, TahoeHelperNode, data_of, our_log_text
from allmydata.testing.nodeconfig import edit_config
from allmydata.testing.reference import OurClient, OurStorageGrid, TahoeClient, WebAPIError
from allmydata.testing.waiting import wait_for

from .test_helper_status import TAHOE_KEYS

NEEDED, HAPPY, TOTAL = 2, 3, 5
MiB = 1024 * 1024
#: our clients' maximum segment size (the default)
SEGMENT = MiB


def delta(after: dict, before: dict, key: str) -> int:
    return after["chk_upload_helper." + key] - before["chk_upload_helper." + key]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("our-helper"))
    storage = OurStorageGrid(workdir, 3)
    helper = OurHelperNode(os.path.join(workdir, "helper"), NEEDED, HAPPY, TOTAL,
                           nickname="our-helper")
    ours = OurClient(os.path.join(workdir, "ours"), NEEDED, HAPPY, TOTAL)
    with ExitStack() as stack:
        stack.callback(storage.stop)
        nodes = storage.start()
        helper.create()
        helper.set_servers(nodes)
        helper.extra_logs = storage.logs
        stack.callback(helper.stop)
        helper.start()
        furl = helper.furl()
        ours.create()
        ours.set_servers(nodes)
        edit_config(ours.basedir, {"client": {"helper.furl": furl}})
        ours.extra_logs = lambda: helper.logs()
        stack.callback(ours.stop)
        connected = wait_ours_connected(ours)
        ours.start()
        wait_for(connected, 60, what="our client's connection to the helper")
        for node in (helper, ours):
            node.wait_connected(timeout=60)
        yield workdir, nodes, helper, ours, furl


def wait_ours_connected(client):
    """Until our client node's log says it uses the helper (this client
    start's line: the log is appended to across restarts)."""
    seen = our_log_text(client.basedir).count("using the helper at")
    return lambda: our_log_text(client.basedir).count("using the helper at") > seen


@pytest.mark.integration
def test_our_client_through_our_helper_and_a_killed_upload_resumes(grid):
    workdir, nodes, helper, ours, furl = grid
    before = helper.stats()
    data = data_of(MiB + 3, b"our client through our helper ")
    cap = ours.upload(data)
    after = helper.stats()
    assert delta(after, before, "upload_need_upload") == 1
    assert delta(after, before, "fetched_bytes") == len(data)
    assert ours.download(cap) == data

    # a large file: the client is killed once the helper has about half of it
    size = 48 * MiB
    big = os.urandom(size)
    before = helper.stats()
    failure = []

    def put():
        try:
            ours.upload(big)
        except Exception as e:  # the client dies under this request
            failure.append(e)
    t = threading.Thread(target=put)
    t.start()
    incoming = wait_for(lambda: _incoming_at_least(helper, size // 2), 120, interval=0.01,
                        what="half of the ciphertext on the helper")
    os.kill(ours.pid(), signal.SIGKILL)
    t.join(60)
    assert failure, "the upload finished before the client was killed"
    wait_for(lambda: helper.stats()["chk_upload_helper.active_uploads"] == 0, 60,
             what="the helper noticing that the client went away")
    have = helper.stats()["chk_upload_helper.incoming_size"]
    assert incoming <= have < size
    connected = wait_ours_connected(ours)
    ours.start()
    ours.wait_connected(timeout=60)
    wait_for(connected, 60, what="our restarted client's connection to the helper")
    middle = helper.stats()
    cap = ours.upload(big)
    after = helper.stats()
    fetched_again = delta(after, middle, "fetched_bytes")
    assert fetched_again <= (size - have) + SEGMENT
    assert delta(after, before, "resumes") == 1
    assert after["chk_upload_helper.incoming_count"] == 0
    assert after["chk_upload_helper.encoding_count"] == 0
    assert ours.download(cap) == big


def _incoming_at_least(helper, n):
    size = helper.stats()["chk_upload_helper.incoming_size"]
    return size if size >= n else None


@pytest.mark.interop
def test_tahoe_client_through_our_helper(grid, tahoe_venv):
    workdir, nodes, helper, ours, furl = grid
    theirs = TahoeClient(tahoe_venv, os.path.join(workdir, "theirs"), NEEDED, HAPPY, TOTAL)
    theirs.create()
    theirs.set_servers(nodes)
    edit_config(theirs.basedir, {"client": {"helper.furl": furl}})
    theirs.extra_logs = helper.logs
    try:
        theirs.start()
        theirs.wait_connected(timeout=60)
        assert json.loads(theirs.request("GET", "/helper_status?t=json")) == {}
        wait_for(lambda: b"connected-yes" in theirs.request("GET", "/", timeout=10), 60,
                 what="the Tahoe-LAFS client's connection to our helper")
        before = helper.stats()
        data = data_of(2 * MiB + 5, b"a Tahoe-LAFS client through our helper ")
        cap = theirs.upload(data)
        after = helper.stats()
        assert delta(after, before, "upload_need_upload") == 1
        assert delta(after, before, "fetched_bytes") == len(data)
        assert delta(after, before, "encoded_bytes") == len(data)
        assert theirs.download(cap) == data
        assert ours.download(cap) == data
        results = theirs.check(cap, verify=True)
        assert results["healthy"] and results["count-shares-good"] == TOTAL, results

        again = theirs.upload(data)
        assert again == cap
        last = helper.stats()
        assert delta(last, after, "upload_already_present") == 1
        assert delta(last, after, "fetched_bytes") == 0
    finally:
        theirs.stop()


@pytest.mark.interop
def test_a_tahoe_helper_has_our_status_keys(tahoe_venv, tmp_path):
    node = TahoeHelperNode(tahoe_venv, str(tmp_path / "tahoe-helper"))
    node.create()
    try:
        node.start()

        def stats():
            node.check_running()
            try:
                return json.loads(node.request("GET", "/helper_status?t=json", timeout=10))
            except (OSError, WebAPIError):
                return None
        assert set(wait_for(stats, 60, what="the Tahoe-LAFS helper's status")) == TAHOE_KEYS
    finally:
        node.stop()
