"""The table of operation handles (``/operations/$HANDLE``) and the pages of
manifests, deep-size and deep-stats, over real HTTP on a site of their own.

The test plays the operation: it drives a real Monitor (status so far,
finish, failure), so that a handle can be seen while its operation runs and
after; the table's timers run on a ``Clock``, so expiry is tested without
waiting.  (End-to-end operations started on a grid are in
``test_operations.py``.)"""

import json

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.web import resource

from allmydata.deep_results import DeepCheckResults
from allmydata.immutable.download.errors import NotEnoughSharesError
from allmydata.monitor import Monitor
from allmydata.testing.nodegrid import http_request
from allmydata.web.common import make_site
from allmydata.web.deep_check_results import DeepCheckPage
from allmydata.web.operations import (
    DAY,
    DeepSizePage,
    DeepStatsPage,
    ManifestPage,
    OperationsTable,
)

PLAIN = {"Accept": "text/plain"}
SI = b"\x01" * 16
ORIGIN = "aeaqcaibaeaqcaibaeaqcaibae"  # SI in base32


@pytest_twisted.async_yield_fixture
async def site():
    clock = Clock()
    table = OperationsTable(clock)
    root = resource.Resource()
    root.putChild(b"operations", table)
    port = reactor.listenTCP(0, make_site(root), interface="127.0.0.1")
    try:
        yield table, clock, "http://127.0.0.1:%d/operations/" % port.getHost().port
    finally:
        table.stop()
        await port.stopListening()


async def get(url, method="GET"):
    return await http_request(method, url, headers=PLAIN)


def stats_page(monitor):
    """The deep-stats page of ``monitor``, whose status is set as a
    deep-stats walker sets it when it starts."""
    if monitor.get_status() is None:
        monitor.set_status({})
    return DeepStatsPage(None, monitor, SI)


@pytest_twisted.ensureDeferred
async def test_unknown_handle_is_404(site):
    table, clock, base = site
    for url in (base + "nosuch", base + "nosuch?t=status&output=JSON", base, base[:-1]):
        r = await get(url)
        assert r.code == 404, (url, r.code, r.text)
    r = await get(base + "nosuch?t=cancel", "POST")
    assert r.code == 404


@pytest_twisted.ensureDeferred
async def test_status_while_running_and_after(site):
    table, clock, base = site
    monitor = Monitor()
    monitor.set_status({"count-files": 1})
    table.add("h1", monitor, stats_page(monitor))
    data = json.loads((await get(base + "h1?t=status&output=JSON")).body)
    assert data == {"count-files": 1, "finished": False}
    # polling a running operation does not collect it: it stays
    clock.advance(10 * DAY)
    assert table.handles() == ["h1"]
    monitor.finish({"count-files": 2})
    data = json.loads((await get(base + "h1")).body)
    assert data == {"count-files": 2, "finished": True}


@pytest_twisted.ensureDeferred
async def test_uncollected_handle_lives_four_days_then_collected_one_day(site):
    table, clock, base = site
    monitor = Monitor()
    table.add("h", monitor, stats_page(monitor))
    clock.advance(5 * DAY)      # a long operation
    monitor.finish({})
    # uncollected: four days or as long as it took, whichever is longer
    clock.advance(5 * DAY - 1)
    assert table.handles() == ["h"]
    r = await get(base + "h?output=JSON")      # collects it: one more day
    assert r.code == 200
    clock.advance(DAY - 1)
    assert table.handles() == ["h"]
    clock.advance(1)
    assert table.handles() == []
    assert (await get(base + "h")).code == 404

    m2 = Monitor()
    table.add("short", m2, stats_page(m2))
    m2.finish({})
    clock.advance(4 * DAY - 1)
    assert table.handles() == ["short"]
    clock.advance(1)
    assert table.handles() == []


@pytest_twisted.ensureDeferred
async def test_retain_for(site):
    table, clock, base = site
    monitor = Monitor()
    table.add("r", monitor, stats_page(monitor), retain_for=60)
    clock.advance(59)
    assert table.handles() == ["r"]
    # a poll with retain-for= sets the time from now
    assert (await get(base + "r?retain-for=600")).code == 200
    clock.advance(599)
    assert table.handles() == ["r"]
    monitor.finish({})      # the client's retain-for= stands when it ends
    clock.advance(1)
    assert table.handles() == []
    assert (await get(base + "r")).code == 404

    for bad in ("-5", "soon", "1e3", "%D9%A3"):  # the last: an Arabic-Indic digit
        m = Monitor()
        table.add("b", m, stats_page(m))
        r = await get(base + "b?retain-for=" + bad)
        assert r.code == 400, (bad, r.text)


@pytest_twisted.ensureDeferred
async def test_release_after_complete(site):
    table, clock, base = site
    monitor = Monitor()
    table.add("x", monitor, stats_page(monitor))
    # not finished: the handle stays
    assert (await get(base + "x?release-after-complete=true")).code == 200
    assert table.handles() == ["x"]
    monitor.finish({"count-files": 3})
    r = await get(base + "x?t=status&output=JSON&release-after-complete=true")
    assert r.code == 200 and json.loads(r.body)["finished"] is True
    assert table.handles() == []
    assert (await get(base + "x")).code == 404
    m = Monitor()
    table.add("y", m, stats_page(m))
    assert (await get(base + "y?release-after-complete=maybe")).code == 400


@pytest_twisted.ensureDeferred
async def test_cancel(site):
    table, clock, base = site
    monitor = Monitor()
    monitor.set_status({"count-files": 0})
    table.add("c", monitor, stats_page(monitor))
    # a GET with t=cancel does not cancel
    assert (await get(base + "c?t=cancel")).code == 200
    assert not monitor.is_cancelled()
    r = await get(base + "c?t=cancel", "POST")
    assert r.code == 200 and json.loads(r.body)["finished"] is False
    assert monitor.is_cancelled()
    assert table.handles() == []
    assert (await get(base + "c")).code == 404


@pytest_twisted.ensureDeferred
async def test_handle_taken_over_cancels_the_old_operation(site):
    table, clock, base = site
    old, new = Monitor(), Monitor()
    table.add("same", old, stats_page(old), retain_for=5)
    table.add("same", new, stats_page(new))
    assert old.is_cancelled() and not new.is_cancelled()
    clock.advance(5)        # the old handle's timer went with it
    assert table.handles() == ["same"]
    old.finish({})          # the old operation ending sets no timer on the new one
    clock.advance(5 * DAY)
    assert table.handles() == ["same"]


@pytest_twisted.ensureDeferred
async def test_failed_operation_answers_its_error(site):
    table, clock, base = site
    monitor = Monitor()
    table.add("f", monitor, stats_page(monitor))
    monitor.fail(NotEnoughSharesError("2 of 3 shares needed were found"))
    r = await get(base + "f?output=JSON")
    assert r.code == 410, r.text
    assert "NotEnoughSharesError" in r.text


@pytest_twisted.ensureDeferred
async def test_manifest_page_formats(site):
    table, clock, base = site
    monitor = Monitor()
    monitor.set_status({"manifest": [((), b"URI:DIR2:aaaa:bbbb")], "stats": {"count-files": 0}})
    table.add("m", monitor, ManifestPage(None, monitor, SI))
    data = json.loads((await get(base + "m?output=JSON")).body)
    # the manifest is not sent before the end
    assert data == {"finished": False, "origin": ORIGIN, "stats": {"count-files": 0}}
    r = await http_request("GET", base + "m")
    assert r.code == 200 and "Manifest of SI=aeaqca" in r.text
    assert 'http-equiv="refresh"' in r.text and "t=cancel" in r.text
    monitor.finish({"manifest": [((), b"URI:DIR2:aaaa:bbbb"),
                                 (("sub", "f\u00e9"), b"URI:LIT:mfrgg")],
                    "verifycaps": {b"URI:DIR2-Verifier:aaaa:cccc"},
                    "storage-index": {ORIGIN},
                    "stats": {"count-files": 1}})
    data = json.loads((await get(base + "m?output=json")).body)
    assert data["finished"] is True
    assert data["manifest"] == [[[], "URI:DIR2:aaaa:bbbb"], [["sub", "f\u00e9"], "URI:LIT:mfrgg"]]
    assert data["verifycaps"] == ["URI:DIR2-Verifier:aaaa:cccc"]
    assert data["storage-index"] == [ORIGIN]
    text = (await get(base + "m?output=text")).text
    assert text == "finished: yes\n URI:DIR2:aaaa:bbbb\nsub/f\u00e9 URI:LIT:mfrgg\n"
    r = await http_request("GET", base + "m?output=HTML")
    assert r.code == 200 and "sub/f\u00e9" in r.text and 'http-equiv="refresh"' not in r.text
    assert (await get(base + "m?output=XML")).code == 400


@pytest_twisted.ensureDeferred
async def test_deep_size_and_deep_stats_pages(site):
    table, clock, base = site
    monitor = Monitor()
    table.add("s", monitor, DeepSizePage(None, monitor, SI))
    assert (await get(base + "s")).text == "finished: no\n"
    monitor.finish({"size-immutable-files": 1000, "size-mutable-files": 0,
                    "size-directories": 24, "count-files": 3})
    assert (await get(base + "s")).text == "finished: yes\nsize: 1024\n"
    assert (await get(base + "s?output=text")).text == "finished: yes\nsize: 1024\n"
    data = json.loads((await get(base + "s?output=JSON")).body)
    assert data["finished"] is True and data["size"]["size-directories"] == 24
    m = Monitor()
    table.add("d", m, DeepStatsPage(None, m, SI))
    m.finish({"count-files": 3})
    for query in ("", "?output=JSON", "?output=html"):
        assert json.loads((await get(base + "d" + query)).body) == {"count-files": 3,
                                                                    "finished": True}


@pytest_twisted.ensureDeferred
async def test_deep_check_page_while_running_and_after(site):
    table, clock, base = site
    monitor = Monitor()
    monitor.set_status(DeepCheckResults(SI))
    table.add("dc", monitor, DeepCheckPage(None, monitor, False, SI))
    r = await http_request("GET", base + "dc")
    assert r.code == 200 and "Deep-check results for root SI=" + ORIGIN in r.text
    assert 'http-equiv="refresh"' in r.text and "Operation still running" in r.text
    assert "Objects Checked: 0" in r.text
    data = json.loads((await get(base + "dc?output=JSON")).body)
    assert data["finished"] is False and data["count-objects-checked"] == 0
    assert (await get(base + "dc/" + ORIGIN)).code == 404     # nothing checked yet
    monitor.finish(monitor.get_status())
    r = await http_request("GET", base + "dc")
    assert r.code == 200 and "Operation still running" not in r.text
    assert 'http-equiv="refresh"' not in r.text
    assert json.loads((await get(base + "dc?output=JSON")).body)["finished"] is True


@pytest_twisted.ensureDeferred
async def test_stop_cancels_running_operations_and_forgets_every_handle(site):
    table, clock, base = site
    running, done = Monitor(), Monitor()
    table.add("running", running, stats_page(running))
    table.add("done", done, stats_page(done))
    done.finish({})
    table.stop()
    assert running.is_cancelled() and not done.is_cancelled()
    assert table.handles() == [] and clock.getDelayedCalls() == []
    assert (await get(base + "done")).code == 404
