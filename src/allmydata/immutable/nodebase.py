"""What every immutable file node shares, whether its bytes are on the grid
(CHK) or in its cap (LIT): the cap accessors, and the 2008 ``download`` and
``download_to_data`` built on the node's own ``read(consumer, offset, size)``.
"""

from twisted.internet import defer
from twisted.python.failure import Failure

from .target import MemoryConsumer, TargetConsumer


class ImmutableNodeBase:
    """Subclasses set ``self.u`` (their cap) and define ``get_size`` and
    ``read``."""

    u = None

    # ---- IFilesystemNode ----
    def get_uri(self) -> bytes:
        return self.u.to_string()

    def get_readonly_uri(self) -> bytes:
        return self.u.to_string()

    def get_write_uri(self):
        """None: nobody can write to an immutable file."""
        return None

    def raise_error(self) -> None:
        """Nothing to raise: a node made from a valid cap (unlike an
        unknown node that carries the reason it cannot be used)."""

    def get_cap(self):
        return self.u

    def get_readcap(self):
        return self.u

    def is_readonly(self) -> bool:
        return True

    def is_mutable(self) -> bool:
        return False

    def is_unknown(self) -> bool:
        return False

    def is_allowed_in_immutable_directory(self) -> bool:
        return True

    # ---- IFileNode ----
    def get_current_size(self):
        return defer.succeed(self.get_size())

    def download(self, target):
        """Download the whole file into an IDownloadTarget; Deferred with
        whatever ``target.finish()`` returns.  On failure ``target.fail()``
        is called and the Deferred fails."""
        consumer = TargetConsumer(target)

        def cancel():
            if consumer.producer is not None:
                consumer.producer.stopProducing()
        target.register_canceller(cancel)
        try:
            target.open(self.get_size())
        except Exception:
            f = Failure()
            target.fail(f)
            return defer.fail(f)
        d = self.read(consumer)

        def _done(_):
            target.close()
            return target.finish()

        def _failed(f):
            target.fail(f)
            return f
        d.addCallbacks(_done, _failed)
        return d

    def download_to_data(self):
        """Deferred(bytes): the whole file."""
        d = self.read(MemoryConsumer())
        d.addCallback(lambda consumer: consumer.data())
        return d
