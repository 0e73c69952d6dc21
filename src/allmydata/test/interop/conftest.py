"""Fixtures for the interoperability tests with the real Tahoe-LAFS 1.20.

* ``tahoe_ref_venv`` (session): the reference virtualenv, created on first use
  (see ``allmydata/testing/refvenv.py``; ``TAHOE_REF_VENV`` overrides its location).
* ``interop_grid`` (module, parametrized): three storage nodes -- ours
  (``"ours"``, the point of the exercise) or Tahoe-LAFS's own
  (``"reference"``, the control that proves the harness) -- plus one Tahoe-LAFS
  client node connected to all three over Foolscap.
* ``cross_grid`` (module, parametrized the same way): the same three storage
  nodes shared by a Tahoe-LAFS client *and* one of our client nodes, both
  with the same encoding parameters and the same convergence secret, so that
  each can read what the other wrote and both derive the same caps.

Every process is stopped in teardown, whatever happened.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import pytest

from allmydata.testing import refvenv
from allmydata.testing.reference import (
    OurClient,
    OurStorageGrid,
    ReferenceStorageGrid,
    TahoeClient,
)

STORAGE_NODES = 3
NEEDED, HAPPY, TOTAL = 2, 3, 5


@pytest.fixture(scope="session")
def tahoe_ref_venv():
    try:
        return refvenv.ensure_ref_venv()
    except refvenv.RefVenvError as e:
        pytest.fail("the reference tahoe-lafs %s virtualenv is not usable: %s"
                    % (refvenv.TAHOE_REF_VERSION, e), pytrace=False)


@dataclass
class InteropGrid:
    kind: str
    storage: object  # OurStorageGrid or ReferenceStorageGrid
    storage_nodes: list
    client: TahoeClient
    ours: OurClient = None  # only in cross_grid

    def logs(self):
        parts = [self.client.logs()]
        if self.ours is not None:
            parts.append(self.ours.logs())
        parts.append(self.storage.logs())
        return "\n".join(parts)


@contextmanager
def _running_grid(kind, venv, workdir, with_our_client=False):
    """Start storage nodes of ``kind`` and the client(s) using them; stop all on exit."""
    if kind == "ours":
        storage = OurStorageGrid(workdir, STORAGE_NODES)
    else:
        storage = ReferenceStorageGrid(venv, workdir, STORAGE_NODES)
    clients = [TahoeClient(venv, os.path.join(workdir, "client"), NEEDED, HAPPY, TOTAL)]
    if with_our_client:
        clients.append(OurClient(os.path.join(workdir, "our-client"), NEEDED, HAPPY, TOTAL))
    for client in clients:
        client.extra_logs = storage.logs
    with ExitStack() as stack:
        stack.callback(storage.stop)
        with ThreadPoolExecutor(len(clients)) as pool:
            created = [pool.submit(c.create) for c in clients]
            nodes = storage.start()
            for f in created:
                f.result()
        if with_our_client:
            # the same secret in both: identical files must get identical caps
            secret = os.urandom(32)
            for client in clients:
                client.set_convergence_secret(secret)
        for client in clients:
            client.set_servers(nodes)
            stack.callback(client.stop)
            client.start()
        for client in clients:
            client.wait_connected(timeout=60)
        yield InteropGrid(kind, storage, nodes, *clients)


@pytest.fixture(scope="module", params=["ours", "reference"])
def interop_grid(request, tahoe_ref_venv, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("interop-%s" % request.param))
    with _running_grid(request.param, tahoe_ref_venv, workdir) as grid:
        yield grid


@pytest.fixture(scope="module", params=["ours", "reference"])
def cross_grid(request, tahoe_ref_venv, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("cross-%s" % request.param))
    with _running_grid(request.param, tahoe_ref_venv, workdir, with_our_client=True) as grid:
        yield grid
