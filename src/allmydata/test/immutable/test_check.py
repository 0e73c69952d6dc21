"""Check and verify of CHK files on real in-process storage servers."""

import os

import pytest_twisted

from allmydata import uri
from allmydata.immutable.checker import check_immutable
from allmydata.testing.storagegrid import grid_secrets


def vcap_of(cap):
    return uri.from_string(cap).get_verifier()


@pytest_twisted.ensureDeferred
async def test_check_healthy(grid):
    cap = await grid.upload(os.urandom(300_000), k=3, n=10)
    r = await check_immutable(vcap_of(cap), grid.broker)
    assert r.healthy and r.recoverable
    assert r.count_shares_good == 10
    assert r.summary == "Healthy"
    r = await check_immutable(vcap_of(cap), grid.broker, verify=True)
    assert r.healthy and not r.corrupt_shares
