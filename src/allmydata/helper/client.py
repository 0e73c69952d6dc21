"""The client's connection to an upload helper (``[client] helper.furl``).

:class:`HelperConnection` keeps a Foolscap connection to the helper open
through the node's Tub (``Tub.connectTo`` reconnects after every loss), asks
each new connection for its version and uses it only if it speaks
:data:`~.interfaces.HELPER_V1`, as Tahoe-LAFS's client does.  A helper that
does not is logged once per connection and left unused: uploads then go to the
storage servers directly.

The FURL's last part (its swissnum) grants the use of the helper, so logs and
status texts show the FURL only through :func:`~allmydata.util.censor
.censor_text` (tub id and hints kept, swissnum replaced).
:meth:`HelperConnection.get_helper_info` answers the whole FURL, as Tahoe-LAFS's
uploader does; the welcome page censors it before showing it.
"""

from twisted.application import service
from twisted.logger import Logger

from ..util.censor import censor_text
from ..util.default_reactor import default_reactor
from ..util.rrefutil import call_remote
from .interfaces import HELPER_V1

log = Logger()


class HelperConnection(service.Service):
    """A reconnecting connection to the helper at ``furl`` through ``tub``.

    ``clock`` (an ``IReactorTime``; the global reactor if None) stamps
    :attr:`connected_at` and :attr:`lost_at`, and times the helper's answers
    during an upload (:attr:`clock`, used by :mod:`.assisted`).

    Public attributes: ``furl``; ``version`` (the version dict of the helper
    in use, or None); ``problem`` (a one-line text saying why a connected
    helper is not used, or None); ``connected_at`` / ``lost_at`` (seconds,
    or None).
    """

    name = "helper-connection"

    def __init__(self, tub, furl: str, clock=None):
        service.Service.__init__(self)
        if isinstance(furl, bytes):
            furl = furl.decode("ascii")
        if not furl.startswith(("pb://", "pbu://")):
            raise ValueError("a helper FURL starts with pb://, not %r" % censor_text(furl[:12]))
        self.furl = furl
        self._tub = tub
        self._clock = clock
        self._reconnector = None
        self._helper = None
        self.version = None
        self.problem = None
        self.connected_at = None
        self.lost_at = None

    @property
    def censored_furl(self) -> str:
        """The FURL fit for a log line: no swissnum."""
        return censor_text(self.furl)

    # ---- what the uploader and the welcome page ask ----------------------------------
    def get_helper_info(self) -> tuple:
        """``(furl, connected)``: the configured FURL and whether a helper
        that speaks the helper protocol is connected now."""
        return (self.furl, self._helper is not None)

    def get_helper(self):
        """The helper's RemoteReference while one is usable, else None."""
        return self._helper

    def describe_state(self) -> str:
        """One line for a status text or log: why the helper is not in use."""
        if self._helper is not None:
            return "connected to the helper at %s" % self.censored_furl
        if self.problem is not None:
            return self.problem
        return "the helper at %s is not connected" % self.censored_furl

    # ---- lifecycle ------------------------------------------------------------------
    def startService(self):
        service.Service.startService(self)
        self._reconnector = self._tub.connectTo(self.furl, self._got_helper)

    def stopService(self):
        if self._reconnector is not None:
            if self._tub.running:  # a stopped Tub has already dropped its reconnectors
                self._reconnector.stopConnecting()
            self._reconnector = None
        self._helper = None
        return service.Service.stopService(self)

    @property
    def clock(self):
        return self._clock if self._clock is not None else default_reactor()

    def _now(self) -> float:
        return self.clock.seconds()

    # ---- connection events ----------------------------------------------------------
    def _got_helper(self, rref):
        log.info("connected to the helper at {furl}; asking for its version",
                 furl=self.censored_furl)
        rref.notifyOnDisconnect(self._lost_helper, rref)
        d = call_remote(rref, "get_version")
        d.addCallbacks(self._got_version, self._no_version, callbackArgs=(rref,),
                       errbackArgs=(rref,))
        return d

    def _got_version(self, version, rref):
        if not rref.isConnected() or not self.running:
            return
        if not isinstance(version, dict) or HELPER_V1 not in version:
            self.problem = ("the helper at %s does not speak the helper protocol (%s is not in "
                            "its version); not using it" % (self.censored_furl,
                                                            HELPER_V1.decode("ascii")))
            log.error("{problem}", problem=self.problem)
            return
        self.problem = None
        self.version = version
        self._helper = rref
        self.connected_at = self._now()
        app = version.get(b"application-version", b"")
        log.info("using the helper at {furl} ({app})", furl=self.censored_furl,
                 app=censor_text(app.decode("utf-8", "replace") if isinstance(app, bytes)
                                 else str(app)))

    def _no_version(self, failure, rref):
        if not self.running:
            return
        self.problem = ("the helper at %s did not answer get_version (%s); not using it"
                        % (self.censored_furl, censor_text(str(failure.value))))
        log.error("{problem}", problem=self.problem)

    def _lost_helper(self, rref):
        if self._helper is not rref:
            return
        self._helper = None
        self.version = None
        self.lost_at = self._now()
        log.warn("lost the connection to the helper at {furl}; uploads go to the storage "
                 "servers directly until it is back", furl=self.censored_furl)
