"""A handle on a long operation: its status so far, cancelling it, its end.

A deep traversal (deep-check, manifest, deep-stats) can take hours on a big
tree.  It is started, not awaited: the starter gets a :class:`Monitor` back
at once, the operation updates the monitor's status as it goes, checks
:meth:`Monitor.raise_if_cancelled` between steps, and ends with
:meth:`Monitor.finish` (or :meth:`Monitor.fail`).  The web API's
``/operations/$HANDLE`` pages read the status from the monitor while the
operation runs, and ``t=cancel`` calls :meth:`Monitor.cancel`.
"""

from twisted.internet import defer
from twisted.python.failure import Failure


class OperationCancelledError(Exception):
    """The operation was cancelled through its monitor."""

    def __init__(self, message: str = "operation cancelled"):
        super().__init__(message)


class Monitor:
    """Status, cancellation and completion of one operation."""

    def __init__(self):
        self._status = None
        self._cancelled = False
        self._finished = False
        self._failure = None
        self._waiting = []

    # ---- the operation's side ----------------------------------------------------------
    def set_status(self, status) -> None:
        """The results so far (shown while the operation runs)."""
        self._status = status

    def raise_if_cancelled(self) -> None:
        if self._cancelled:
            raise OperationCancelledError()

    def finish(self, status):
        """The operation ended with ``status``; returns ``status``."""
        self._status = status
        self._end()
        return status

    def fail(self, failure) -> None:
        """The operation ended with an error (a Failure or an exception)."""
        if not isinstance(failure, Failure):
            failure = Failure(failure)
        self._failure = failure
        self._end()

    def _end(self) -> None:
        if self._finished:
            return
        self._finished = True
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            if self._failure is not None:
                d.errback(self._failure)
            else:
                d.callback(self._status)

    # ---- the watcher's side ------------------------------------------------------------
    def get_status(self):
        return self._status

    def get_failure(self):
        """The Failure the operation ended with, or None."""
        return self._failure

    def is_finished(self) -> bool:
        return self._finished

    def cancel(self) -> None:
        """Ask the operation to stop at its next step."""
        self._cancelled = True

    def is_cancelled(self) -> bool:
        return self._cancelled

    def when_done(self) -> defer.Deferred:
        """A Deferred that fires with the final status (or the failure)."""
        if not self._finished:
            d = defer.Deferred()
            self._waiting.append(d)
            return d
        if self._failure is not None:
            return defer.fail(self._failure)
        return defer.succeed(self._status)
