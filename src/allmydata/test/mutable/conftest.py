"""The in-process grid of the mutable-file tests: real storage servers (that
can be made to fail) on Tubs on 127.0.0.1, started afresh for each test."""

import pytest
import pytest_twisted
from foolscap.api import Tub

from allmydata.testing.mutablegrid import MutableGrid


@pytest.fixture(scope="session")
def grid_certs():
    return [Tub().getCertData() for _ in range(11)]


@pytest_twisted.async_yield_fixture
async def grid(tmp_path, grid_certs):
    g = MutableGrid(tmp_path, grid_certs)
    try:
        await g.start(5)
        yield g
    finally:
        await g.close()


@pytest_twisted.async_yield_fixture
async def grid10(tmp_path, grid_certs):
    g = MutableGrid(tmp_path, grid_certs)
    try:
        await g.start(10)
        yield g
    finally:
        await g.close()
