"""The client side of a node: ``IClient`` of the 2008 interfaces (allmydata-tahoe 2008).

:class:`Client` holds what uploads and downloads need — the storage broker,
the node's secrets, the encoding parameters — and owns the uploader and the
:class:`~allmydata.nodemaker.NodeMaker`.  It turns caps into nodes
(:meth:`Client.create_node_from_uri`), uploadables into caps
(:meth:`Client.upload`), and makes new mutable files and directories (all
through the node maker).
"""

from twisted.application import service
from zope.interface import Interface, implementer

from .history import History
from .immutable.upload import Uploader
from .nodemaker import NodeMaker
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


class IClientStatus(Interface):
    """The 2008 interfaces' view of a client's uploads and downloads, for
    status displays: status objects (IUploadStatus, IDownloadStatus)."""

    def list_all_uploads():
        """Every upload status still known (running, or among the recent)."""

    def list_active_uploads():
        """The statuses of the uploads that are running."""

    def list_recent_uploads():
        """The statuses of the most recent uploads that have ended."""

    def list_all_downloads():
        """Every download status still known (running, or among the recent)."""

    def list_active_downloads():
        """The statuses of the downloads that are running."""

    def list_recent_downloads():
        """The statuses of the most recent downloads that have ended."""


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


@implementer(IClient, IClientStatus)
class Client(service.MultiService):
    """Uploads and node creation for one node.

    ``encoding_params`` is a dict with ``k``, ``happy``, ``n`` and
    ``max_segment_size``; ``mutable_format`` ("sdmf" or "mdmf", from
    ``[client] mutable.format``) is the default format of new mutable files
    and directories.  ``history`` (the node's
    :class:`~allmydata.history.History`, or None) records every upload,
    download, map update, publish and retrieve made through this client.
    ``helper`` (a :class:`~allmydata.helper.client.HelperConnection`, or
    None) is the upload helper the uploader sends CHK uploads through.
    """

    def __init__(self, storage_broker, secret_holder: SecretHolder, encoding_params: dict,
                 uploader=None, stats_provider=None, reactor=None, mutable_format: str = "sdmf",
                 history=None, helper=None):
        service.MultiService.__init__(self)
        if history is None:
            history = History()
        self.history = history
        self.storage_broker = storage_broker
        self.secret_holder = secret_holder
        self.encoding_params = dict(encoding_params)
        if uploader is None:
            uploader = Uploader(storage_broker, secret_holder, self.encoding_params,
                                reactor=reactor, stats_provider=stats_provider, history=history,
                                helper=helper)
        self.uploader = uploader
        if isinstance(uploader, service.Service):
            uploader.setServiceParent(self)
        self.nodemaker = NodeMaker(storage_broker, secret_holder, uploader, self.encoding_params,
                                   mutable_format=mutable_format, reactor=reactor,
                                   history=history)

    # ---- IClientStatus ------------------------------------------------------------------
    def list_all_uploads(self) -> list:
        return self.history.list_all_upload_statuses()

    def list_active_uploads(self) -> list:
        return [s for s in self.list_all_uploads() if s.get_active()]

    def list_recent_uploads(self) -> list:
        return [s for s in self.list_all_uploads() if not s.get_active()]

    def list_all_downloads(self) -> list:
        return self.history.list_all_download_statuses()

    def list_active_downloads(self) -> list:
        return [s for s in self.list_all_downloads() if s.get_active()]

    def list_recent_downloads(self) -> list:
        return [s for s in self.list_all_downloads() if not s.get_active()]

    def get_convergence_secret(self) -> bytes:
        return self.secret_holder.get_convergence_secret()

    def upload(self, uploadable):
        return self.uploader.upload(uploadable)

    def create_node_from_uri(self, writecap, readcap=None, deep_immutable=False,
                             name="<unknown name>"):
        """A node for a cap (bytes, str or a cap object), synchronously: a
        file node (LIT, CHK, mutable), a DirectoryNode, or an UnknownNode that
        keeps a cap this version cannot use.  A known kind of cap with a
        malformed body raises :class:`~allmydata.uri.BadURIError`."""
        return self.nodemaker.create_from_cap(writecap, readcap, deep_immutable=deep_immutable,
                                              name=name)

    def create_mutable_file(self, contents=b"", version=None, keypair=None):
        """Deferred(MutableFileNode) of a new mutable file (``version``: None
        for the configured default, "sdmf"/"mdmf" or SDMF_VERSION/MDMF_VERSION;
        ``keypair``: (private, public) RSA keys to use)."""
        return self.nodemaker.create_mutable_file(contents, version=version, keypair=keypair)

    def create_dirnode(self, initial_children=None, version=None, keypair=None):
        """Deferred(DirectoryNode) of a new mutable directory;
        ``initial_children`` is ``{name: node}`` or ``{name: (node, metadata)}``."""
        return self.nodemaker.create_new_mutable_directory(initial_children, version=version,
                                                           keypair=keypair)

    def create_empty_dirnode(self, version=None):
        """Deferred(DirectoryNode) of a new, empty, mutable directory."""
        return self.create_dirnode(version=version)

    def create_immutable_dirnode(self, children, convergence=None):
        """Deferred(DirectoryNode) of a new immutable directory (DIR2-CHK, or
        DIR2-LIT when small); every child must be immutable."""
        return self.nodemaker.create_immutable_directory(children, convergence)
