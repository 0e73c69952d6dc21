"""``/helper_status`` of a node running a helper and of one that does not:
the statistics with Tahoe-LAFS 1.20's keys (``?t=json``) and the HTML page."""

import json
import os

import pytest_twisted
from twisted.internet import reactor

from allmydata.node import create_node
from allmydata.scripts.runner import main
from allmydata.testing.nodeconfig import edit_config
from allmydata.testing.nodegrid import http_request

#: the keys of a Tahoe-LAFS 1.20 helper's /helper_status?t=json
TAHOE_KEYS = {"chk_upload_helper." + k for k in (
    "active_uploads", "upload_requests", "upload_already_present", "upload_need_upload",
    "resumes", "fetched_bytes", "encoded_bytes", "incoming_count", "incoming_size",
    "incoming_size_old", "encoding_count", "encoding_size", "encoding_size_old")}


def node_dir(tmp_path, name, helper: bool) -> str:
    d = str(tmp_path / name)
    assert main(["create-node", "--hostname", "127.0.0.1", "--webport",
                 "tcp:0:interface=127.0.0.1", d]) == 0
    edit_config(d, {"helper": {"enabled": "true" if helper else "false"}})
    return d


@pytest_twisted.ensureDeferred
async def test_helper_status_of_a_helper(tmp_path):
    d = node_dir(tmp_path, "helper", True)
    node = create_node(d, reactor)
    node.startService()
    try:
        with open(os.path.join(d, "helper", "CHK_incoming", "a" * 26), "wb") as f:
            f.write(b"x" * 1000)
        r = await http_request("GET", node.web.url + "helper_status?t=json")
        assert r.code == 200
        stats = json.loads(r.body)
        assert set(stats) == TAHOE_KEYS
        assert stats["chk_upload_helper.incoming_count"] == 1
        assert stats["chk_upload_helper.incoming_size"] == 1000
        assert stats["chk_upload_helper.upload_requests"] == 0
        page = await http_request("GET", node.web.url + "helper_status")
        assert page.code == 200
        assert "Helper Status" in page.text and "Incoming: 1000 bytes in 1 files" in page.text
        assert "No uploads in progress" in page.text
        bad = await http_request("GET", node.web.url + "helper_status?t=xml")
        assert bad.code == 400
    finally:
        await node.stopService()


@pytest_twisted.ensureDeferred
async def test_helper_status_without_a_helper(tmp_path):
    node = create_node(node_dir(tmp_path, "plain", False), reactor)
    node.startService()
    try:
        r = await http_request("GET", node.web.url + "helper_status?t=json")
        assert (r.code, json.loads(r.body)) == (200, {})
        page = await http_request("GET", node.web.url + "helper_status")
        assert page.code == 200 and "No helper is running" in page.text
    finally:
        await node.stopService()
