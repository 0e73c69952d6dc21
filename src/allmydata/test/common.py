"""Helpers shared by the in-process tests: loopback Tubs and polling.

Every Tub made here listens on 127.0.0.1 only, on a port picked by binding
to port 0 first (Foolscap's ``getPortnum()`` does not work for ``tcp:0``).
"""

from foolscap.api import Tub
from twisted.internet import reactor, task

from .nodeprocs import free_port


def start_tub(port: int | None = None, cert: bytes | None = None) -> Tub:
    """A started Tub listening on 127.0.0.1 (``tub.test_port`` is its port)."""
    tub = Tub(certData=cert)
    port = port or free_port()
    tub.listenOn("tcp:%d:interface=127.0.0.1" % port)
    tub.setLocation("tcp:127.0.0.1:%d" % port)
    tub.startService()
    tub.test_port = port
    return tub


async def eventually(predicate, timeout: float = 10.0, what: str = "condition",
                     interval: float = 0.02):
    """Poll ``predicate`` on the real reactor; fail the test after ``timeout``."""
    waited = 0.0
    while not predicate():
        if waited > timeout:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        await task.deferLater(reactor, interval, lambda: None)
        waited += interval
