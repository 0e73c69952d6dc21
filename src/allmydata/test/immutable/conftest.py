"""The in-process storage grid most download tests run on: five real
storage servers on Tubs on 127.0.0.1, started afresh for each test."""

import pytest
import pytest_twisted
from foolscap.api import Tub

from allmydata.testing.storagegrid import StorageGrid


@pytest.fixture(scope="session")
def grid_certs():
    """Tub certificates made once per session (each costs a fraction of a second)."""
    return [Tub().getCertData() for _ in range(11)]


@pytest_twisted.async_yield_fixture
async def grid(tmp_path, grid_certs):
    g = StorageGrid(tmp_path, grid_certs)
    try:
        await g.start(5)
        yield g
    finally:
        await g.close()
