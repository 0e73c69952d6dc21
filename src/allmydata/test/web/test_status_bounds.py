"""What ``/status`` keeps: the running operations and only the most recent
finished ones of each kind; and the per-server records of one download or
mutable operation stay bounded however long it runs."""

import gc
import json
import os
import re

import pytest
import pytest_twisted

from allmydata import uri
from allmydata.history import MAX_RECENT, History
from allmydata.immutable.download.status import (MAX_EVENTS, MAX_TIMES_PER_SERVER,
                                                 DownloadResults, DownloadStatus)
from allmydata.immutable.target import MemoryConsumer
from allmydata.immutable.upload import UploadStatus
from allmydata.mutable.status import MAX_TIMES_PER_SERVER as MUTABLE_TIMES
from allmydata.mutable.status import PublishStatus, ServermapUpdateStatus
from allmydata.testing.nodegrid import http_request
from allmydata.util import base32
from allmydata.web.common import WebError
from allmydata.web.status import find_status, status_json


def finished_upload(size):
    s = UploadStatus()
    s.set_size(size)
    s.set_status("Finished")
    s.set_active(False)
    return s


def test_running_operations_stay_listed_past_the_bound():
    h = History({"upload": 3})
    running = UploadStatus()
    running.set_size(999)
    running.set_status("Pushing")
    h.add_upload(running)
    for size in range(10):
        h.add_upload(finished_upload(size))
    gc.collect()
    data = status_json(h)
    assert [i["total-size"] for i in data["active"]] == [999]
    assert data["active"][0]["status"] == "Pushing"
    # the three latest finished ones, newest first
    assert [i["total-size"] for i in data["recent"]] == [9, 8, 7]
    assert find_status(h, b"up-%d" % running.get_counter()) is running
    # once finished and no longer held, it goes
    running.set_active(False)
    del running
    gc.collect()
    assert [i["total-size"] for i in status_json(h)["recent"]] == [9, 8, 7]


def test_a_forgotten_operation_is_not_found():
    h = History({"mapupdate": 1})
    old, new = ServermapUpdateStatus(b"\x01" * 16, "MODE_READ"), ServermapUpdateStatus(
        b"\x02" * 16, "MODE_READ")
    for s in (old, new):
        s.finish()
        h.add_mapupdate(s)
    counter = old.get_counter()
    del old
    gc.collect()
    with pytest.raises(WebError) as e:
        find_status(h, b"mapupdate-%d" % counter)
    assert e.value.status == 404
    assert find_status(h, b"mapupdate-%d" % new.get_counter()) is new
    # a counter of another kind is not found under this one
    with pytest.raises(WebError) as e:
        find_status(h, b"publish-%d" % new.get_counter())
    assert e.value.status == 404


def test_download_records_are_bounded():
    r = DownloadResults(10 ** 9)
    status = DownloadStatus(b"\x00" * 16, 10 ** 9)
    status.set_results(r)
    servers = [bytes([i]) * 20 for i in range(3)]
    for i in range(3 * MAX_EVENTS):
        sid = servers[i % 3]
        r.add_fetch(sid, 0.001, 1000, shnum=i % 3, segnum=i // 3)
        r.add_problem(sid, "problem %d" % i)
        r.add_segment(i, 0.0, 0.1, i * 1000, 1000, True)
    assert r.blocks_fetched == 3 * MAX_EVENTS
    assert len(r.block_events) == MAX_EVENTS and len(r.segment_events) == MAX_EVENTS
    for sid in servers:
        assert len(r.timings["fetch_per_server"][sid]) == MAX_TIMES_PER_SERVER
        assert len(r.problems_per_server[sid]) == MAX_TIMES_PER_SERVER
    # the latest are the ones kept
    assert r.block_events[-1][2] == (3 * MAX_EVENTS - 1) // 3
    assert r.server_problems[servers[2]] == "problem %d" % (3 * MAX_EVENTS - 1)


def test_mutable_records_are_bounded():
    s = PublishStatus(b"\x00" * 16)
    for i in range(10 * MUTABLE_TIMES):
        s.add_server_time("server%d" % (i % 2), "write", i / 1000)
    times = s.get_server_times()
    assert set(times) == {"server0", "server1"}
    assert all(len(t) == MUTABLE_TIMES for t in times.values())
    assert times["server1"][-1] == ("write", (10 * MUTABLE_TIMES - 1) / 1000)


def test_a_finished_operation_keeps_the_total_it_recorded():
    """The publish, retrieve and map update record their own total before
    they finish, failed or not: finishing neither replaces nor adds to it."""
    for text in ("Finished", "Failed: no servers"):
        s = PublishStatus(b"\x00" * 16)
        s.add_time("total", 2.5)
        s.finish(text)
        assert s.get_timings()["total"] == 2.5 and not s.get_active()
    s = ServermapUpdateStatus(b"\x00" * 16)
    s.finish()  # an operation that recorded none: the time since its status was made
    assert 0 <= s.get_timings()["total"]


@pytest_twisted.ensureDeferred
async def test_a_node_keeps_only_the_latest_uploads(ours_webapi):
    """More uploads than the bound through a real node: the JSON lists the
    latest ones only."""
    url = ours_webapi.url
    bound = MAX_RECENT["upload"]
    sizes = list(range(1, bound + 6))      # LIT files: each a distinct size
    for size in sizes:
        r = await http_request("PUT", url + "uri", body=b"x" * size)
        assert r.code == 200, r.text
    r = await http_request("GET", url + "status?t=json")
    uploads = [i for i in json.loads(r.body)["recent"] if i["type"] == "upload"]
    assert [i["total-size"] for i in uploads] == sizes[::-1][:bound]


class PausingConsumer(MemoryConsumer):
    """Pauses the download as soon as it registers (as a slow reader does)."""

    def registerProducer(self, producer, streaming):
        MemoryConsumer.registerProducer(self, producer, streaming)
        producer.pauseProducing()


@pytest_twisted.ensureDeferred
async def test_a_running_download_stays_listed(ours_webapi):
    """A download held up by its reader is listed as active, with its
    progress, however many downloads finish after it; once it ends, the
    newer finished ones are what is listed."""
    url, client = ours_webapi.url, ours_webapi.grid.client
    data = bytes(range(256)) * 2000                   # 512000 bytes: several segments
    r = await http_request("PUT", url + "uri", body=data)
    cap = r.text.strip()
    si = base32.b2a(uri.from_string(cap).get_storage_index()).decode("ascii")
    consumer = PausingConsumer()
    reading = client.create_node_from_uri(cap).read(consumer)
    for i in range(MAX_RECENT["download"] + 2):
        small = await http_request("PUT", url + "uri", body=b"%d" % i * 100)
        got = await http_request("GET", url + "uri/" + small.text.strip())
        assert got.code == 200
    listed = json.loads((await http_request("GET", url + "status?t=json")).body)
    (running,) = [i for i in listed["active"] if i["type"] == "download"]
    assert running["storage-index-string"] == si and running["total-size"] == len(data)
    assert running["progress"] == 0.0
    assert not [i for i in listed["recent"] if i["storage-index-string"] == si
                and i["type"] == "download"]
    consumer.producer.resumeProducing()
    await reading
    assert consumer.data() == data
    # finished, and older than the latest finished ones: no longer listed
    del reading
    gc.collect()
    listed = json.loads((await http_request("GET", url + "status?t=json")).body)
    assert not [i for i in listed["active"] if i["type"] == "download"]
    recent = [i for i in listed["recent"] if i["type"] == "download"]
    assert len(recent) == MAX_RECENT["download"]
    assert si not in {i["storage-index-string"] for i in recent}


@pytest_twisted.ensureDeferred
async def test_problems_and_failures_are_shown(ours_webapi):
    """A download that met a corrupt share lists the server's problem on its
    page; one that found no shares at all is listed as failed."""
    url, grid = ours_webapi.url, ours_webapi.grid
    data = bytes(range(256)) * 40
    cap = (await http_request("PUT", url + "uri", body=data)).text.strip()
    si_bytes = uri.from_string(cap).get_storage_index()
    si = base32.b2a(si_bytes).decode("ascii")
    (share0,) = [p for p in grid.share_files(si_bytes) if os.path.basename(p) == "0"]
    with open(share0, "r+b") as f:
        f.seek(200)
        block = f.read(100)
        f.seek(200)
        f.write(bytes(b ^ 0xFF for b in block))
    r = await http_request("GET", url + "uri/" + cap)
    assert (r.code, r.body) == (200, data)
    page = (await http_request("GET", url + "status")).text
    # newest first: the first download listed is this one
    link = re.search(r'href="/status/(down-[0-9]+)"', page).group(1)
    r = await http_request("GET", url + "status/" + link)
    assert r.code == 200 and "Storage Index: " + si in r.text
    assert re.search(r"Server Problems:<ul><li>\[[a-z0-9]{8}\]: share 0: ", r.text), r.text

    for path in grid.share_files(si_bytes):
        os.remove(path)
    r = await http_request("GET", url + "uri/" + cap)
    assert r.code == 410
    listed = json.loads((await http_request("GET", url + "status?t=json")).body)
    failed = [i for i in listed["recent"] if i["type"] == "download"
              and i["storage-index-string"] == si and i["status"].startswith("Failed")]
    assert failed and failed[0]["progress"] < 1.0
