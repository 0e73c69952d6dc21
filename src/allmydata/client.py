"""The client side of a node: the seed's ``IClient``.

:class:`Client` holds what uploads and downloads need — the storage broker,
the node's secrets, the encoding parameters — and owns the uploader.  It
turns caps into nodes (:meth:`Client.create_node_from_uri`) and uploadables
into caps (:meth:`Client.upload`).
"""

from twisted.application import service
from zope.interface import Interface, implementer

from . import uri as urimod
from .unknown import UnknownNode
from .util import hashutil


class IClient(Interface):
    def upload(uploadable):
        """Upload an IUploadable; Deferred(UploadResults) whose .uri is the cap."""

    def create_mutable_file(contents=b""):
        """Create a mutable file; Deferred(its write cap)."""

    def create_empty_dirnode():
        """Create an empty directory; Deferred(IDirectoryNode)."""

    def create_node_from_uri(uri):
        """An IFilesystemNode for a cap (bytes, str or IURI), synchronously."""


class SecretHolder:
    """The node's secrets: lease secret (private/secret) and convergence
    secret (private/convergence)."""

    def __init__(self, lease_secret: bytes, convergence_secret: bytes):
        self._lease_secret = lease_secret
        self._convergence_secret = convergence_secret

    def get_renewal_secret(self) -> bytes:
        return hashutil.my_renewal_secret_hash(self._lease_secret)

    def get_cancel_secret(self) -> bytes:
        return hashutil.my_cancel_secret_hash(self._lease_secret)

    def get_convergence_secret(self) -> bytes:
        return self._convergence_secret


@implementer(IClient)
class Client(service.MultiService):
    """Uploads and node creation for one node.

    ``encoding_params`` is a dict with ``k``, ``happy``, ``n`` and
    ``max_segment_size``.
    """

    def __init__(self, storage_broker, secret_holder: SecretHolder, encoding_params: dict,
                 uploader=None, stats_provider=None, reactor=None):
        service.MultiService.__init__(self)
        self.storage_broker = storage_broker
        self.secret_holder = secret_holder
        self.encoding_params = dict(encoding_params)
        if uploader is None:
            from .immutable.upload import Uploader
            uploader = Uploader(storage_broker, secret_holder, self.encoding_params,
                                reactor=reactor, stats_provider=stats_provider)
        self.uploader = uploader
        if isinstance(uploader, service.Service):
            uploader.setServiceParent(self)

    def get_convergence_secret(self) -> bytes:
        return self.secret_holder.get_convergence_secret()

    def upload(self, uploadable):
        return self.uploader.upload(uploadable)

    def create_node_from_uri(self, cap):
        """A node for ``cap``: a file node for CHK and LIT caps, an
        :class:`UnknownNode` for anything this version does not handle."""
        if isinstance(cap, str):
            cap = cap.encode("utf-8")
        u = cap if not isinstance(cap, (bytes, bytearray)) else urimod.from_string(bytes(cap))
        if isinstance(u, urimod.LiteralFileURI):
            from .immutable.literal import LiteralFileNode
            return LiteralFileNode(u)
        if isinstance(u, urimod.CHKFileURI):
            from .immutable.filenode import ImmutableFileNode
            return ImmutableFileNode(u, self.storage_broker, self.secret_holder)
        return UnknownNode(u.to_string() if hasattr(u, "to_string") else cap,
                           reason="this version cannot use %s caps yet" % type(u).__name__)
