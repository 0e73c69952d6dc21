"""Fixtures of the helper tests: Tub certificates and the in-process helper
grid (:mod:`.helpergrid`), and the reference Tahoe-LAFS virtualenv for the
tests that run its nodes."""

import pytest
import pytest_twisted
from foolscap.api import Tub

from allmydata.testing import refvenv

from .helpergrid import start_helper_grid


@pytest.fixture(scope="session")
def certs():
    """Certificates for the grid's Tubs, made once: making them is slow."""
    return [Tub().getCertData() for _ in range(6)]


@pytest_twisted.async_yield_fixture
async def hg(tmp_path, certs):
    """A started :class:`.helpergrid.HelperGrid`, closed afterwards."""
    g = await start_helper_grid(tmp_path, certs)
    try:
        yield g
    finally:
        await g.close()


@pytest.fixture(scope="module")
def tahoe_venv():
    """The reference Tahoe-LAFS virtualenv; the test fails where it is not usable."""
    try:
        return refvenv.ensure_ref_venv()
    except refvenv.RefVenvError as e:
        pytest.fail("the reference tahoe-lafs %s virtualenv is not usable: %s"
                    % (refvenv.TAHOE_REF_VERSION, e), pytrace=False)
