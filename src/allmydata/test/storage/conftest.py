"""Fixtures of the storage contract suite: every test that takes
``make_transport`` (or ``t``) runs twice, once in-process and once over a
real Foolscap connection on 127.0.0.1 (see
:mod:`allmydata.testing.storage_transports`)."""

import pytest
import pytest_twisted
from foolscap.api import Tub
from twisted.internet import task

from allmydata.stats import StatsProvider
from allmydata.storage.server import StorageServer
from allmydata.testing.storage_transports import FoolscapTransport, LocalTransport
from allmydata.util.idlib import nodeid_a2b

from .suite_data import LOCAL_NODEID, T0


@pytest.fixture(scope="session")
def tub_certs():
    """Tub certificates made once: making one costs a fraction of a second."""
    return [Tub().getCertData() for _ in range(3)]


@pytest_twisted.async_yield_fixture(params=["local", "foolscap"])
async def make_transport(request, tmp_path, tub_certs):
    """``await make_transport(storedir=None, **StorageServer_kwargs)`` -> a started server
    behind the transport of this run, with a task.Clock at T0 and a
    StatsProvider; ``.storedir``, ``.clock``, ``.stats``, ``.nodeid`` are set."""
    made = []

    async def make(storedir=None, **kwargs):
        clock = task.Clock()
        clock.advance(T0)
        stats = StatsProvider()
        storedir = storedir or str(tmp_path / ("storage%d" % len(made)))
        if request.param == "local":
            server = StorageServer(storedir, LOCAL_NODEID, clock=clock, stats_provider=stats,
                                   **kwargs)
            t = LocalTransport(server)
            t.nodeid = LOCAL_NODEID
        else:
            tub = FoolscapTransport.server_tub(tub_certs[0])
            server = StorageServer(storedir, nodeid_a2b(tub.getTubID()), clock=clock,
                                   stats_provider=stats, **kwargs)
            t = await FoolscapTransport.start(server, tub, tub_certs[1:])
        server.startService()
        t.clock, t.stats, t.storedir = clock, stats, storedir
        made.append(t)
        return t

    yield make
    for t in made:
        await t.close()


@pytest_twisted.async_fixture
async def t(make_transport):
    """The default server of a test, behind this run's transport."""
    return await make_transport()
