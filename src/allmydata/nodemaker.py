"""The node factory: caps in, file and directory nodes out.

:class:`NodeMaker` turns a cap (or a write cap / read cap pair as found in a
directory entry) into the node that can use it: a LIT or CHK file node, a
mutable file node, a :class:`~allmydata.dirnode.DirectoryNode` over one of
those, or an :class:`UnknownChildNode` that keeps caps it cannot use exactly
as they are (forward compatibility).  It also creates new mutable files and
new directories.

Mutable nodes are shared: asking twice for the same cap while the first node
is alive gives the same object, so two local writers of one directory go
through one node.  The most recently used directories are also kept alive
(a small LRU) so that their parsed children survive from one web request to
the next -- this is what keeps a 10,000-entry directory fast to change and
list.
"""

import weakref
from collections import OrderedDict

from . import uri as urimod
from .unknown import UnknownNode
from .dirnode_format import MustBeDeepImmutableError, MustNotBeUnknownRWError, normalize
from .immutable.filenode import ImmutableFileNode
from .immutable.literal import LiteralFileNode

SDMF = "sdmf"
MDMF = "mdmf"


def _mutable_versions():
    from .mutable.common import MDMF_VERSION, SDMF_VERSION
    return SDMF_VERSION, MDMF_VERSION


def mutable_version(version, default: str = SDMF) -> int:
    """SDMF_VERSION or MDMF_VERSION for ``version`` (None: ``default``; an int
    version, or "sdmf"/"mdmf" in any case)."""
    sdmf, mdmf = _mutable_versions()
    if version is None:
        version = default
    if isinstance(version, str):
        v = version.lower()
        if v == SDMF:
            return sdmf
        if v == MDMF:
            return mdmf
        raise ValueError("unknown mutable format %r: use sdmf or mdmf" % (version,))
    if version in (sdmf, mdmf):
        return version
    raise ValueError("unknown mutable format version %r" % (version,))


class UnknownChildNode(UnknownNode):
    """A child whose caps this version cannot use, kept byte for byte.

    ``rw_uri``/``ro_uri`` are what a directory entry (or a caller) gave.  A
    read cap gets the ``ro.`` prefix (``imm.`` in an immutable directory) so
    that it is never mistaken for a write cap; packing strips it again, so a
    directory stores the caps back unchanged.  A cap that may not go where it
    was asked to go (an unknown write cap in an immutable directory) gives an
    opaque node with ``error`` set; :meth:`raise_error` raises it.
    """

    def __init__(self, rw_uri, ro_uri, deep_immutable: bool = False,
                 name: str = "<unknown name>", reason: str = "unknown cap format"):
        rw_uri = rw_uri or None
        ro_uri = ro_uri or None
        self.error = None
        self.rw_uri = self.ro_uri = None
        self.reason = reason
        self._cap = rw_uri or ro_uri or b""
        self._check_and_set(rw_uri, ro_uri, deep_immutable, name)

    def _check_and_set(self, rw_uri, ro_uri, deep_immutable, name):
        """Fill rw_uri/ro_uri, or leave them None and set ``error``."""
        ro_prefixes = (urimod.ALLEGED_READONLY_PREFIX, urimod.ALLEGED_IMMUTABLE_PREFIX)
        if rw_uri:
            if deep_immutable and not (rw_uri.startswith(urimod.ALLEGED_IMMUTABLE_PREFIX)
                                       and not ro_uri):
                if ro_uri:
                    self.error = MustBeDeepImmutableError(
                        "child %r has a write cap, so it cannot go in an immutable directory"
                        % (name,))
                else:
                    self.error = MustNotBeUnknownRWError(
                        "child %r is an unknown cap without a read-only form, so it cannot go "
                        "in an immutable directory" % (name,))
                return
            if not ro_uri:
                if not rw_uri.startswith(ro_prefixes):
                    # Nothing says this cap is read-only, and we cannot make a
                    # read-only one from it: storing it could leak write authority.
                    self.error = MustNotBeUnknownRWError(
                        "child %r is an unknown cap given without a read-only form (or an "
                        "ro./imm. prefix): this version cannot tell whether it grants write "
                        "authority" % (name,))
                    return
                ro_uri, rw_uri = rw_uri, None
            elif ro_uri.startswith(urimod.ALLEGED_IMMUTABLE_PREFIX):
                self.error = MustBeDeepImmutableError(
                    "child %r has both a write cap and a read cap marked immutable (imm.)"
                    % (name,))
                return
        if ro_uri:
            try:
                readcap = urimod.from_string(ro_uri, deep_immutable=deep_immutable, name=name)
            except urimod.URIError:
                # a known kind of cap with a malformed body (written by some
                # other client): kept as it is, like any cap this version
                # cannot use; ``reason`` says what is wrong with it
                readcap = None
            if isinstance(readcap, urimod.UnknownURI) and readcap.get_error() is not None:
                self.error = readcap.get_error()
                return
        if deep_immutable:
            if ro_uri:
                if ro_uri.startswith(urimod.ALLEGED_READONLY_PREFIX):
                    ro_uri = ro_uri[len(urimod.ALLEGED_READONLY_PREFIX):]
                if not ro_uri.startswith(urimod.ALLEGED_IMMUTABLE_PREFIX):
                    ro_uri = urimod.ALLEGED_IMMUTABLE_PREFIX + ro_uri
            self.ro_uri = ro_uri
        else:
            self.rw_uri = rw_uri
            if ro_uri and not ro_uri.startswith(ro_prefixes):
                ro_uri = urimod.ALLEGED_READONLY_PREFIX + ro_uri
            self.ro_uri = ro_uri

    def __repr__(self):
        return "<UnknownChildNode rw=%r ro=%r%s>" % (
            (self.rw_uri or b"")[:30], (self.ro_uri or b"")[:30],
            " error=%s" % self.error if self.error else "")

    def get_uri(self):
        """The caps as given (also when ``error`` made this node opaque)."""
        return self.rw_uri or self.ro_uri or self._cap or None

    def get_write_uri(self):
        return self.rw_uri

    def get_cap(self):
        return urimod.UnknownURI(self.get_uri() or b"")

    def get_readcap(self):
        return urimod.UnknownURI(self.ro_uri) if self.ro_uri else None

    def get_repair_cap(self):
        return None

    def get_current_size(self):
        from twisted.internet import defer
        return defer.succeed(None)

    def get_readonly_uri(self):
        return self.ro_uri

    def is_readonly(self) -> bool:
        return self.rw_uri is None

    def is_mutable(self) -> bool:
        # Only an "imm." cap is known not to be mutable.
        return self.rw_uri is not None or not (self.ro_uri or b"").startswith(
            urimod.ALLEGED_IMMUTABLE_PREFIX)

    def is_allowed_in_immutable_directory(self) -> bool:
        # A lone read cap is allowed (it may be immutable: we cannot tell).
        return self.error is None and self.rw_uri is None

    def raise_error(self):
        if self.error is not None:
            raise self.error


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
        if isinstance(node, _directory_node_class()):
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
        try:
            from .mutable.filenode import MutableFileNode
        except ImportError:
            return None
        return MutableFileNode.from_cap(cap, self.storage_broker, self.secret_holder,
                                        self.encoding_params, reactor=self.reactor)

    def _create_dirnode(self, filenode):
        return _directory_node_class()(filenode, self, self.uploader)

    # ---- new mutable files and directories -----------------------------------------------------
    def default_mutable_version(self, version=None) -> int:
        return mutable_version(version, self.mutable_format)

    def create_mutable_file(self, contents=b"", version=None, keypair=None):
        """Deferred(MutableFileNode) of a new mutable file."""
        from twisted.internet import defer
        from .mutable.filenode import create_mutable_file
        d = defer.ensureDeferred(_maybe_coroutine(create_mutable_file(
            self.storage_broker, self.secret_holder, self.encoding_params, contents,
            version=self.default_mutable_version(version), keypair=keypair, reactor=self.reactor)))

        def _made(node):
            self._mutable_cache[b"M" + node.get_uri()] = node
            return node
        d.addCallback(_made)
        return d

    def create_new_mutable_directory(self, initial_children=None, version=None, keypair=None):
        """Deferred(DirectoryNode) of a new mutable directory holding
        ``initial_children`` (``{name: node}`` or ``{name: (node, metadata)}``)."""
        from twisted.internet import defer
        return defer.ensureDeferred(self._create_mutable_directory(initial_children, version,
                                                                    keypair))

    async def _create_mutable_directory(self, initial_children, version, keypair):
        from .dirnode import entries_for_new_directory, pack_new_directory
        entries = entries_for_new_directory(initial_children or {}, deep_immutable=False)
        if entries and keypair is None:
            # The contents are packed under the new file's writekey, so the
            # key is made first and the file published once, with them.
            from .crypto import rsa
            keypair = rsa.generate_keypair()
        if entries:
            from .mutable.common import MutableKeys
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
        from twisted.internet import defer
        return defer.ensureDeferred(self._create_immutable_directory(children, convergence))

    async def _create_immutable_directory(self, children, convergence):
        from .dirnode import entries_for_new_directory, pack_new_directory
        from .immutable.upload import Data
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


def _directory_node_class():
    """dirnode.DirectoryNode (imported at the first use: dirnode imports this
    module; kept, as making a node for each child of a big directory asks
    often)."""
    global _DirectoryNode
    if _DirectoryNode is None:
        from .dirnode import DirectoryNode
        _DirectoryNode = DirectoryNode
    return _DirectoryNode


_DirectoryNode = None


async def _maybe_coroutine(x):
    """Await a Deferred or a coroutine, or pass a value through."""
    import inspect
    from twisted.internet import defer
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


__all__ = ["NodeMaker", "UnknownChildNode", "mutable_version", "normalize", "SDMF", "MDMF"]
