"""Foolscap Tubs listening on 127.0.0.1.

The port is picked by binding to port 0 first (Foolscap's ``getPortnum()``
does not work for ``tcp:0``).
"""

from foolscap.api import Tub

from .ports import free_port


def start_tub(port: int | None = None, cert: bytes | None = None) -> Tub:
    """A started Tub listening on 127.0.0.1 (``tub.test_port`` is its port)."""
    tub = Tub(certData=cert)
    port = port or free_port()
    tub.listenOn("tcp:%d:interface=127.0.0.1" % port)
    tub.setLocation("tcp:127.0.0.1:%d" % port)
    tub.startService()
    tub.test_port = port
    return tub
