"""A client on an in-process grid for the directory tests.

Five real :class:`StorageServer`\\ s on real Foolscap Tubs on 127.0.0.1 (a
:class:`~allmydata.testing.storagegrid.StorageGrid`), and a real
:class:`~allmydata.client.Client` over a :class:`StorageFarmBroker` built from
their remote references.  The
grid is shared by the tests of one module (starting Tubs is slow); every test
makes its own directories.
"""

import pytest
import pytest_twisted
from foolscap.api import Tub

from allmydata.client import Client, SecretHolder
from allmydata.testing.storagegrid import StorageGrid


@pytest.fixture(scope="session")
def dir_grid_certs():
    return [Tub().getCertData() for _ in range(6)]


@pytest_twisted.async_yield_fixture(scope="module")
async def dir_grid(tmp_path_factory, dir_grid_certs):
    g = StorageGrid(tmp_path_factory.mktemp("dirgrid"), dir_grid_certs)
    try:
        await g.start(5)
        yield g
    finally:
        await g.close()


def make_client(grid, mutable_format="sdmf", convergence=b"C" * 32):
    return Client(grid.broker, SecretHolder(b"L" * 32, convergence),
                  {"k": 3, "happy": 5, "n": 10, "max_segment_size": 128 * 1024},
                  mutable_format=mutable_format)


@pytest.fixture
def client(dir_grid):
    return make_client(dir_grid)
