"""Fixtures for the interoperability tests with the real Tahoe-LAFS 1.20.

* ``tahoe_ref_venv`` (session): the reference virtualenv, created on first use
  (see ``refvenv.py``; ``TAHOE_REF_VENV`` overrides its location).
* ``interop_grid`` (module, parametrized): three storage nodes -- ours
  (``"ours"``, the point of the exercise) or Tahoe-LAFS's own
  (``"reference"``, the control that proves the harness) -- plus one Tahoe-LAFS
  client node connected to all three over Foolscap.  Every process is stopped
  in teardown, whatever happened.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from allmydata.test.interop import refvenv
from allmydata.test.interop.harness import (
    OurStorageGrid, ReferenceStorageGrid, TahoeClient,
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

    def logs(self):
        return self.client.logs() + "\n" + self.storage.logs()


@pytest.fixture(scope="module", params=["ours", "reference"])
def interop_grid(request, tahoe_ref_venv, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("interop-%s" % request.param))
    if request.param == "ours":
        storage = OurStorageGrid(workdir, STORAGE_NODES)
    else:
        storage = ReferenceStorageGrid(tahoe_ref_venv, workdir, STORAGE_NODES)
    client = TahoeClient(tahoe_ref_venv, workdir + "/client", NEEDED, HAPPY, TOTAL)
    client.extra_logs = storage.logs
    try:
        with ThreadPoolExecutor(1) as pool:
            created = pool.submit(client.create)
            nodes = storage.start()
            created.result()
        client.set_servers(nodes)
        client.start()
        client.wait_connected(timeout=60)
        yield InteropGrid(request.param, storage, nodes, client)
    finally:
        try:
            client.stop()
        finally:
            storage.stop()
