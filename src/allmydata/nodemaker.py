"""The node factory: caps in, file and directory nodes out.

:class:`NodeMaker` turns a cap (or a write cap / read cap pair as found in a
directory entry) into the node that can use it: a LIT or CHK file node, a
mutable file node, a :class:`~allmydata.dirnode.DirectoryNode` over one of
those, or an :class:`~allmydata.unknown.UnknownChildNode` that keeps caps it cannot use exactly
as they are (forward compatibility).  It also creates new mutable files and
new directories.

Mutable nodes are shared: asking twice for the same cap while the first node
is alive gives the same object, so two local writers of one directory go
through one node.  The most recently used directories are also kept alive
(a small LRU) so that their parsed children survive from one web request to
the next -- this is what keeps a 10,000-entry directory fast to change and
list.
"""

import inspect
import weakref
from collections import OrderedDict

from twisted.internet import defer

from . import uri as urimod
from .crypto import rsa
from .dirnode import DirectoryNode, entries_for_new_directory, pack_new_directory
from .dirnode_format import normalize
from .immutable.filenode import ImmutableFileNode
from .immutable.literal import LiteralFileNode
from .immutable.upload import Data
from .mutable.common import MDMF_VERSION, SDMF_VERSION, MutableKeys
from .mutable.filenode import MutableFileNode, create_mutable_file
from .unknown import UnknownChildNode

SDMF = "sdmf"
MDMF = "mdmf"


def mutable_version(version, default: str = SDMF) -> int:
    """SDMF_VERSION or MDMF_VERSION for ``version`` (None: ``default``; an int
    version, or "sdmf"/"mdmf" in any case)."""
    if version is None:
        version = default
    if isinstance(version, str):
        v = version.lower()
        if v == SDMF:
            return SDMF_VERSION
        if v == MDMF:
            return MDMF_VERSION
        raise ValueError("unknown mutable format %r: use sdmf or mdmf" % (version,))
    if version in (SDMF_VERSION, MDMF_VERSION):
        return version
    raise ValueError("unknown mutable format version %r" % (version,))


class NodeMaker:
    """Creates nodes for caps, and new mutable files and directories.

    ``encoding_params`` is the client's dict (``k``, ``happy``, ``n``,
    ``max_segment_size``); ``mutable_format`` ("sdmf"/"mdmf") is the default
    for new mutable files and directories.
    """

    DIRNODE_LRU_SIZE = 32

    def __init__(self, storage_broker, secret_holder, uploader, encoding_params: dict,
                 mutable_format: str = SDMF, reactor=None, history=None):
        self.storage_broker = storage_broker
        self.secret_holder = secret_holder
        self.uploader = uploader
        self.encoding_params = dict(encoding_params)
        self.mutable_format = (mutable_format or SDMF).lower()
        self.reactor = reactor
        self.history = history
        self._mutable_cache = weakref.WeakValueDictionary()
        self._recent_dirs = OrderedDict()

    # ---- caps to nodes ---------------------------------------------------------------------
    def create_from_cap(self, writecap, readcap=None, deep_immutable: bool = False,
                        name: str = "<unknown name>"):
        """A node for a cap pair (either may be None).

        Never raises for an unknown or unusable cap (an
        :class:`UnknownChildNode` keeps it); raises
        :class:`~allmydata.uri.BadURIError` for a known kind with a malformed
        body.
        """
        writecap = _as_bytes(writecap)
        readcap = _as_bytes(readcap)
        bigcap = writecap or readcap
        if not bigcap:
            return UnknownChildNode(None, None)
        memokey = (b"I" if deep_immutable else b"M") + bigcap
        node = self._mutable_cache.get(memokey)
        if node is not None:
            self._touch(node)
            return node
        cap = urimod.from_string(bigcap, deep_immutable=deep_immutable, name=name)
        node = self._create_from_single_cap(cap)
        if node is None:
            reason = "unknown cap format"
            if isinstance(cap, urimod.UnknownURI) and cap.get_error() is not None:
                reason = str(cap.get_error())
            elif not isinstance(cap, urimod.UnknownURI):
                reason = "this version cannot use %s caps" % type(cap).__name__
            return UnknownChildNode(writecap, readcap, deep_immutable=deep_immutable, name=name,
                                    reason=reason)
        if node.is_mutable():
            self._mutable_cache[memokey] = node
            self._touch(node)
        return node

    def _touch(self, node):
        if isinstance(node, DirectoryNode):
            key = id(node)
            self._recent_dirs[key] = node
            self._recent_dirs.move_to_end(key)
            while len(self._recent_dirs) > self.DIRNODE_LRU_SIZE:
                self._recent_dirs.popitem(last=False)

    def _create_from_single_cap(self, cap):
        if isinstance(cap, urimod.LiteralFileURI):
            return LiteralFileNode(cap)
        if isinstance(cap, urimod.CHKFileURI):
            return ImmutableFileNode(cap, self.storage_broker, self.secret_holder,
                                     history=self.history, reactor=self.reactor)
        if isinstance(cap, (urimod.WriteableSSKFileURI, urimod.ReadonlySSKFileURI)):
            return self._create_mutable(cap)
        if isinstance(cap, (urimod.DirectoryURI, urimod.ReadonlyDirectoryURI,
                            urimod.MDMFDirectoryURI, urimod.ReadonlyMDMFDirectoryURI,
                            urimod.ImmutableDirectoryURI, urimod.LiteralDirectoryURI)):
            filenode = self._create_from_single_cap(cap.get_filenode_cap())
            if filenode is None:
                return None
            return self._create_dirnode(filenode)
        return None     # verify caps, unknown caps

    def _create_mutable(self, cap):
        return MutableFileNode.from_cap(cap, self.storage_broker, self.secret_holder,
                                        self.encoding_params, reactor=self.reactor,
                                        history=self.history)

    def _create_dirnode(self, filenode):
        return DirectoryNode(filenode, self, self.uploader)

    # ---- new mutable files and directories -----------------------------------------------------
    def default_mutable_version(self, version=None) -> int:
        return mutable_version(version, self.mutable_format)

    def create_mutable_file(self, contents=b"", version=None, keypair=None):
        """Deferred(MutableFileNode) of a new mutable file."""
        d = defer.ensureDeferred(_maybe_coroutine(create_mutable_file(
            self.storage_broker, self.secret_holder, self.encoding_params, contents,
            version=self.default_mutable_version(version), keypair=keypair, reactor=self.reactor,
            history=self.history)))

        def _made(node):
            self._mutable_cache[b"M" + node.get_uri()] = node
            return node
        d.addCallback(_made)
        return d

    def create_new_mutable_directory(self, initial_children=None, version=None, keypair=None):
        """Deferred(DirectoryNode) of a new mutable directory holding
        ``initial_children`` (``{name: node}`` or ``{name: (node, metadata)}``)."""
        return defer.ensureDeferred(self._create_mutable_directory(initial_children, version,
                                                                    keypair))

    async def _create_mutable_directory(self, initial_children, version, keypair):
        entries = entries_for_new_directory(initial_children or {}, deep_immutable=False)
        if entries and keypair is None:
            # The contents are packed under the new file's writekey, so the
            # key is made first and the file published once, with them.
            keypair = rsa.generate_keypair()
        if entries:
            writekey = MutableKeys.from_privkey(keypair[0]).writekey
            contents = pack_new_directory(entries, writekey, deep_immutable=False)
        else:
            contents = b""
        filenode = await self.create_mutable_file(contents, version=version, keypair=keypair)
        node = self._create_dirnode(filenode)
        if entries:
            node._remember(contents, entries)   # no need to parse what we just packed
        self._mutable_cache[b"M" + node.get_uri()] = node
        self._touch(node)
        return node

    def create_immutable_directory(self, children, convergence=None):
        """Deferred(DirectoryNode) of a new immutable directory (DIR2-CHK, or
        DIR2-LIT when the contents fit in 55 bytes).  Every child must be
        immutable."""
        return defer.ensureDeferred(self._create_immutable_directory(children, convergence))

    async def _create_immutable_directory(self, children, convergence):
        entries = entries_for_new_directory(children or {}, deep_immutable=True)
        contents = pack_new_directory(entries, None, deep_immutable=True)
        if convergence is None:
            convergence = self.secret_holder.get_convergence_secret()
        results = await self.uploader.upload(Data(contents, convergence))
        filecap = urimod.from_string(results.get_uri())
        if isinstance(filecap, urimod.LiteralFileURI):
            dircap = urimod.LiteralDirectoryURI(filecap)
        else:
            dircap = urimod.ImmutableDirectoryURI(filecap)
        return self.create_from_cap(None, dircap.to_string())


async def _maybe_coroutine(x):
    """Await a Deferred or a coroutine, or pass a value through."""
    if isinstance(x, defer.Deferred) or inspect.isawaitable(x):
        return await x
    return x


def _as_bytes(cap):
    if cap is None:
        return None
    if isinstance(cap, str):
        return cap.encode("utf-8")
    if isinstance(cap, (bytes, bytearray)):
        return bytes(cap)
    if hasattr(cap, "to_string"):
        return cap.to_string()
    raise TypeError("a cap must be bytes or str, not %s" % type(cap).__name__)


__all__ = ["NodeMaker", "mutable_version", "normalize", "SDMF", "MDMF"]
