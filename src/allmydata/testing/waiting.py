"""Waiting until a condition holds: blocking (for code that drives other
processes) or on the running reactor (for code in the reactor's thread)."""

import time

from twisted.internet import reactor, task


def wait_for(predicate, timeout=30.0, interval=0.1, what="condition"):
    """Poll ``predicate`` until it returns a true value; return that value.
    Raises AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


async def eventually(predicate, timeout: float = 10.0, what: str = "condition",
                     interval: float = 0.02):
    """Poll ``predicate`` on the real reactor; raise AssertionError after
    ``timeout`` seconds."""
    waited = 0.0
    while not predicate():
        if waited > timeout:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        await task.deferLater(reactor, interval, lambda: None)
        waited += interval
