"""Directories: ``IDirectoryNode`` (2008 interfaces) over a file holding the contents.

A :class:`DirectoryNode` wraps a file node -- a mutable file for
``URI:DIR2:``/``URI:DIR2-MDMF:`` (and their ``-RO`` forms), a CHK or LIT file
for the immutable ``URI:DIR2-CHK:``/``URI:DIR2-LIT:`` -- and reads and
writes the contents with :mod:`allmydata.dirnode_format`.

Every change is a read-modify-write through the mutable file's
``modify(modifier)``: the modifier unpacks the contents it is handed, applies
the change and packs them again, so a change that races with another writer
is re-applied to the newer contents.  Read-only views and immutable
directories refuse changes with :class:`NotMutableError`.

A new link never gets the empty name, ``.``, ``..`` or a name containing
``/`` or NUL (:class:`BadChildNameError`, before anything is uploaded or
created); links that already have such a name can be read, renamed and
unlinked.

Metadata (docs/specifications/directories.md §5): the ``tahoe`` key is ours (``linkcrtime`` when a
link is made, ``linkmotime`` on every change); ``metadata=None`` keeps a
replaced link's other keys; a dict replaces them.  ``no-write: true`` stores
only the read-only cap of the child.

Speed: each node keeps the children it parsed last, by the raw bytes of
their entries, and the :class:`~allmydata.nodemaker.NodeMaker` keeps recent
directory nodes alive; reading a 10,000-entry directory again after one
change parses one entry, and packing re-uses the bytes of unchanged entries.

Checking a directory checks the file holding its contents; the deep
operations (manifest, deep-stats, deep-check) are walks of
:mod:`allmydata.deep_traversal`, each started at once and followed through
its :class:`~allmydata.monitor.Monitor`.
"""

import time

from twisted.internet import defer
from zope.interface import implementer

from . import uri as urimod
from .deep_traversal import DeepCheckWalker, DeepStats, ManifestWalker, deep_traverse
from .dirnode_interfaces import IDirectoryNode
from .dirnode_format import (ONLY_FILES, BadChildNameError, CapConstraintError, ChildEntry,
                             ChildOfWrongTypeError, DirectoryError, DirectoryFormatError,
                             ExistingChildError, MustBeDeepImmutableError,
                             MustNotBeUnknownRWError, NoSuchChildError, NotMutableError,
                             NotWriteableError, new_name, normalize, pack_entries,
                             unpack_contents, update_metadata)
from .unknown import UnknownChildNode
from .util.censor import censor_text

__all__ = [
    "DirectoryNode", "ONLY_FILES", "DirectoryError", "DirectoryFormatError", "NotMutableError",
    "NotWriteableError", "NoSuchChildError", "ExistingChildError", "ChildOfWrongTypeError",
    "BadChildNameError", "MustBeDeepImmutableError", "MustNotBeUnknownRWError", "CapConstraintError",
    "entries_for_new_directory", "pack_new_directory", "child_caps",
]

_DIRCAP_FOR_FILECAP = {c.FILE_CLASS: c for c in (
    urimod.DirectoryURI, urimod.ReadonlyDirectoryURI, urimod.MDMFDirectoryURI,
    urimod.ReadonlyMDMFDirectoryURI, urimod.ImmutableDirectoryURI, urimod.LiteralDirectoryURI,
    urimod.DirectoryURIVerifier, urimod.MDMFDirectoryURIVerifier,
    urimod.ImmutableDirectoryURIVerifier)}


def _dircap(filecap):
    try:
        return _DIRCAP_FOR_FILECAP[type(filecap)](filecap)
    except KeyError:
        raise TypeError("no directory cap wraps a %s" % type(filecap).__name__) from None


def child_caps(node):
    """(write cap or None, read cap or None) of a node, as bytes."""
    get_write_uri = getattr(node, "get_write_uri", None)
    if get_write_uri is not None:
        rw = get_write_uri()
    else:
        rw = None if node.is_readonly() else node.get_uri()
    return rw or None, node.get_readonly_uri() or None


def _raise_error(node):
    raise_error = getattr(node, "raise_error", None)
    if raise_error is not None:
        raise_error()


def _allowed_in_immutable_directory(node) -> bool:
    allowed = getattr(node, "is_allowed_in_immutable_directory", None)
    if allowed is not None:
        return allowed()
    return not node.is_mutable()


def _new_entry(name, node, metadata):
    rw, ro = child_caps(node)
    if metadata.get("no-write", False) and rw is not None:
        rw, node = None, None       # a read-only link: only the read cap is stored
    return ChildEntry.new(name, rw, ro, metadata, node)


def entries_for_new_directory(children: dict, deep_immutable: bool, now: float | None = None):
    """``{name: ChildEntry}`` for a new directory from ``{name: node}`` or
    ``{name: (node, metadata)}`` (metadata may be None).  Every link gets
    fresh ``tahoe`` link times."""
    now = time.time() if now is None else now
    out = {}
    for namex, value in children.items():
        if isinstance(value, tuple):
            node, metadata = (value + (None,))[:2]
        else:
            node, metadata = value, None
        name = new_name(namex)
        _raise_error(node)
        if deep_immutable and not _allowed_in_immutable_directory(node):
            raise MustBeDeepImmutableError(
                "%r cannot go in an immutable directory: it is not immutable (%s)"
                % (name, censor_text((node.get_uri() or b"")[:40].decode("ascii", "replace"))))
        out[name] = _new_entry(name, node, update_metadata(None, metadata, now))
    return out


def pack_new_directory(entries: dict, writekey, deep_immutable: bool) -> bytes:
    return pack_entries(entries, writekey, deep_immutable)


@implementer(IDirectoryNode)
class DirectoryNode:
    """A directory (``IDirectoryNode`` of the 2008 interfaces) over ``filenode``."""

    def __init__(self, filenode, nodemaker, uploader=None, clock=time.time):
        self._node = filenode
        self._nodemaker = nodemaker
        self._uploader = uploader if uploader is not None else nodemaker.uploader
        self._clock = clock
        self._uri = _dircap(filenode.get_cap())
        self._mutable = bool(filenode.is_mutable())
        self._readonly = bool(filenode.is_readonly())
        self._writekey = None
        if self._mutable and not self._readonly:
            self._writekey = filenode.get_writekey()
        self._last_contents = None
        self._last_children = None          # {name: ChildEntry} of _last_contents
        self._entries_by_raw = {}           # raw entry bytes -> ChildEntry

    def __repr__(self):
        # the kind of cap and the storage index: the cap itself is a secret
        # (its first field is a key), and reprs reach logs
        si = self.get_storage_index()
        return "<%s %s %s SI=%s>" % (type(self).__name__,
                                     "RO" if self._readonly else "RW",
                                     self._uri.PREFIX.decode("ascii").rstrip(":"),
                                     urimod.base32.b2a(si)[:10].decode("ascii") if si else "-")

    # ---- IFilesystemNode ---------------------------------------------------------------------
    def get_filenode(self):
        return self._node

    def get_uri(self) -> bytes:
        return self._uri.to_string()

    def get_write_uri(self):
        return None if self._readonly else self._uri.to_string()

    def get_readonly_uri(self) -> bytes:
        return self._uri.get_readonly().to_string()

    def get_cap(self):
        return self._uri

    def get_readcap(self):
        return self._uri.get_readonly()

    def get_verify_cap(self):
        return self._uri.get_verifier()

    get_verifier = get_verify_cap

    def get_repair_cap(self):
        if self._node.is_readonly():
            return None
        return self._uri

    def get_storage_index(self):
        return self._uri.get_storage_index()

    def is_readonly(self) -> bool:
        return self._readonly

    def is_mutable(self) -> bool:
        return self._mutable

    def is_unknown(self) -> bool:
        return False

    def is_allowed_in_immutable_directory(self) -> bool:
        return not self._mutable

    def raise_error(self):
        pass

    def get_size(self):
        """Size of the contents, if known without asking the grid (else None)."""
        return self._node.get_size()

    def get_current_size(self):
        return self._node.get_current_size()

    # ---- reading -------------------------------------------------------------------------------
    def _unpack(self, data: bytes) -> dict:
        """``{name: ChildEntry}`` for ``data``: a fresh dict the caller may
        change (the entries are shared and must not be changed)."""
        if self._last_children is not None and (data is self._last_contents
                                                or data == self._last_contents):
            return dict(self._last_children)
        children = unpack_contents(data, self._mutable, self._entries_by_raw)
        if not self._mutable:
            for name, entry in list(children.items()):
                # Children that may not be in an immutable directory are left out.
                try:
                    node = self._node_for(entry)
                    _raise_error(node)
                except CapConstraintError:
                    del children[name]
                    continue
                if not _allowed_in_immutable_directory(node):
                    del children[name]
        self._remember(data, children)
        return dict(children)

    def _remember(self, data: bytes, children: dict):
        self._last_contents = data
        self._last_children = dict(children)
        self._entries_by_raw = {e.raw: e for e in children.values()}

    def _node_for(self, entry: ChildEntry):
        node = entry.node
        if node is None:
            rw = entry.rw_uri(self._writekey)
            ro = entry.ro_uri
            deep = not self._mutable
            try:
                node = self._nodemaker.create_from_cap(rw, ro, deep_immutable=deep,
                                                       name=entry.name)
            except urimod.URIError as e:
                node = UnknownChildNode(rw, ro, deep_immutable=deep, name=entry.name,
                                        reason=str(e))
            entry.node = node
        return node

    async def _read_entries(self) -> dict:
        if not self._mutable and self._last_children is not None:
            return dict(self._last_children)
        if self._mutable:
            data = await self._node.download_best_version()
        else:
            data = await self._node.download_to_data()
        return self._unpack(data)

    def _read(self, then):
        return defer.ensureDeferred(self._read_entries()).addCallback(then)

    def list(self):
        """Deferred ``{name: (node, metadata)}``."""
        node_for = self._node_for
        return self._read(lambda children: {
            name: (node_for(e), e.metadata_copy()) for name, e in children.items()})

    def list_entries(self):
        """Deferred ``{name: ChildEntry}``: for a front end listing a big
        directory, which reads ``entry.metadata`` (shared: never change it)
        instead of a copy per child, gets a child's caps or node from
        :meth:`child_caps` and :meth:`child_node` (an entry's ``node`` is
        made when first asked for), and may keep what it made of an entry in
        ``entry.listing``."""
        return self._read(lambda children: children)

    def child_caps(self, entry: ChildEntry):
        """``(write cap or None, read cap or None)`` of an entry of this
        directory, as bytes (the write cap only when this node can decrypt it)."""
        return entry.rw_uri(self._writekey), entry.ro_uri

    def child_node(self, entry: ChildEntry):
        """The node of an entry of this directory (made once)."""
        return self._node_for(entry)

    def has_child(self, namex):
        name = normalize(namex)
        return self._read(lambda children: name in children)

    def _entry(self, children, name):
        entry = children.get(name)
        if entry is None:
            raise NoSuchChildError(name)
        return entry

    def get(self, namex):
        """Deferred(child node); NoSuchChildError if there is none."""
        name = normalize(namex)
        return self._read(lambda children: self._node_for(self._entry(children, name)))

    def get_child_and_metadata(self, namex):
        name = normalize(namex)

        def pick(children):
            entry = self._entry(children, name)
            return self._node_for(entry), entry.metadata_copy()
        return self._read(pick)

    def get_metadata_for(self, namex):
        name = normalize(namex)
        return self._read(lambda children: self._entry(children, name).metadata_copy())

    def get_child_at_path(self, pathx):
        """Deferred(node) at a path (``"a/b/c"`` or a list of names)."""
        return self.get_child_and_metadata_at_path(pathx).addCallback(lambda nm: nm[0])

    def get_child_and_metadata_at_path(self, pathx):
        """Deferred((node, metadata of the last link)); ``(self, {})`` for an
        empty path."""
        return defer.ensureDeferred(self._at_path(pathx))

    async def _at_path(self, pathx):
        if not pathx:
            return self, {}
        names = pathx.split("/") if isinstance(pathx, str) else list(pathx)
        node, metadata = self, {}
        walked = []
        for name in names:
            if not isinstance(node, DirectoryNode):
                raise ChildOfWrongTypeError("%s is not a directory, so it has no child %r"
                                            % ("/".join(walked), name))
            node, metadata = await node.get_child_and_metadata(name)
            walked.append(name)
        return node, metadata

    # ---- changing ------------------------------------------------------------------------------
    def _modify(self, change):
        """Apply ``change(children, first_time)`` (which edits the dict and
        returns False for "no change") through the file's ``modify``."""
        if self._readonly or not self._mutable:
            return defer.fail(NotMutableError())

        def modifier(old_contents, servermap, first_time):
            children = self._unpack(old_contents)
            if change(children, first_time) is False:
                return None
            new_contents = pack_entries(children, self._writekey, False)
            self._remember(new_contents, children)
            return new_contents
        return self._node.modify(modifier)

    def _is_directory_entry(self, entry) -> bool:
        return isinstance(self._node_for(entry), DirectoryNode)

    def _adder(self, entries, overwrite):
        """The change that links each (name, node, metadata) of ``entries``."""
        if overwrite not in (True, False, ONLY_FILES):
            raise ValueError("overwrite must be True, False or %r, not %r"
                             % (ONLY_FILES, overwrite))
        for _name, node, _md in entries:
            _raise_error(node)

        def change(children, first_time):
            now = self._clock()
            for name, node, new_metadata in entries:
                old = children.get(name)
                old_metadata = None
                if old is not None:
                    if not overwrite:
                        raise ExistingChildError("a child named %r already exists" % (name,))
                    if overwrite == ONLY_FILES and self._is_directory_entry(old):
                        raise ExistingChildError("a child named %r already exists and is a "
                                                 "directory" % (name,))
                    old_metadata = old.metadata
                metadata = update_metadata(old_metadata, new_metadata, now)
                children[name] = _new_entry(name, node, metadata)
        return change

    def set_node(self, namex, child, metadata=None, overwrite=True):
        """Link ``child`` at ``namex``; Deferred(child)."""
        if self._readonly or not self._mutable:
            return defer.fail(NotMutableError())
        try:
            change = self._adder([(new_name(namex), child, metadata)], overwrite)
        except Exception as e:
            return defer.fail(e)
        return self._modify(change).addCallback(lambda _: child)

    def set_nodes(self, entries, overwrite=True):
        """Link several nodes: ``{name: node}``, ``{name: (node, metadata)}``
        or a list of such tuples with the name first; Deferred(self)."""
        if self._readonly or not self._mutable:
            return defer.fail(NotMutableError())
        try:
            change = self._adder(_triples(entries), overwrite)
        except Exception as e:
            return defer.fail(e)
        return self._modify(change).addCallback(lambda _: self)

    def _create_child(self, writecap, readcap, name):
        """A node for caps given by a caller (unknown caps kept; caps that
        may not go in this directory refused)."""
        node = self._nodemaker.create_from_cap(writecap, readcap,
                                               deep_immutable=not self._mutable, name=name)
        _raise_error(node)
        if isinstance(node, UnknownChildNode) and not node.get_uri():
            raise CapConstraintError("no cap given for child %r" % (name,))
        return node

    def set_uri(self, namex, writecap, readcap=None, metadata=None, overwrite=True):
        """Link a child by its caps; Deferred(child node)."""
        if self._readonly or not self._mutable:
            return defer.fail(NotMutableError())
        try:
            name = new_name(namex)
            node = self._create_child(writecap, readcap, name)
        except Exception as e:
            return defer.fail(e)
        return self.set_node(name, node, metadata, overwrite)

    def set_children(self, entries, overwrite=True):
        """Link several children by caps: ``{name: (writecap, readcap)}`` or
        ``{name: (writecap, readcap, metadata)}``; Deferred(self)."""
        if self._readonly or not self._mutable:
            return defer.fail(NotMutableError())
        try:
            triples = []
            for namex, e in entries.items():
                name = new_name(namex)
                writecap, readcap, metadata = (tuple(e) + (None,))[:3]
                triples.append((name, self._create_child(writecap, readcap, name), metadata))
            change = self._adder(triples, overwrite)
        except Exception as e:
            return defer.fail(e)
        return self._modify(change).addCallback(lambda _: self)

    def set_metadata_for(self, namex, metadata):
        """Replace the metadata of a link (``tahoe`` stays ours); Deferred(self)."""
        if self._readonly or not self._mutable:
            return defer.fail(NotMutableError())
        if not isinstance(metadata, dict):
            return defer.fail(TypeError("metadata must be a dict"))
        name = normalize(namex)

        def change(children, first_time):
            old = self._entry(children, name)
            node = self._node_for(old)
            md = update_metadata(old.metadata, metadata, self._clock())
            entry = _new_entry(name, node, md)
            if entry._rw_uri is None and not md.get("no-write", False):
                entry._rw_uri = old.rw_uri(self._writekey)   # an unknown child's write cap
            children[name] = entry
        return self._modify(change).addCallback(lambda _: self)

    def add_file(self, namex, uploadable, metadata=None, overwrite=True):
        """Upload ``uploadable`` (an IUploadable), then link the file;
        Deferred(file node)."""
        if self._readonly or not self._mutable:
            return defer.fail(NotMutableError())
        try:
            name = new_name(namex)
        except BadChildNameError as e:
            return defer.fail(e)        # refused before anything is uploaded
        d = defer.maybeDeferred(self._uploader.upload, uploadable)
        d.addCallback(lambda results: self._create_child(results.get_uri(), None, name))
        d.addCallback(lambda node: self.set_node(name, node, metadata, overwrite))
        return d

    def delete(self, namex, must_exist=True, must_be_directory=False, must_be_file=False):
        """Unlink a child; Deferred(the node that was linked, or None)."""
        if self._readonly or not self._mutable:
            return defer.fail(NotMutableError())
        name = normalize(namex)
        removed = []

        def change(children, first_time):
            entry = children.get(name)
            if entry is None:
                if first_time and must_exist:
                    raise NoSuchChildError(name)
                return False        # gone already (perhaps by our own earlier try)
            node = self._node_for(entry)
            is_dir = isinstance(node, DirectoryNode)
            unknown = node.is_unknown()
            if must_be_directory and not is_dir and not unknown:
                raise ChildOfWrongTypeError("%r is a file, not a directory" % (name,))
            if must_be_file and is_dir:
                raise ChildOfWrongTypeError("%r is a directory, not a file" % (name,))
            del children[name]
            removed[:] = [node]
        return self._modify(change).addCallback(lambda _: removed[0] if removed else None)

    unlink = delete

    def create_subdirectory(self, namex, initial_children=None, overwrite=True, mutable=True,
                            mutable_version=None, metadata=None, version=None):
        """Make a new directory (mutable, or immutable with
        ``mutable=False``) and link it; Deferred(the new DirectoryNode)."""
        if self._readonly or not self._mutable:
            return defer.fail(NotMutableError())
        try:
            name = new_name(namex)
        except BadChildNameError as e:
            return defer.fail(e)        # refused before the new directory is made
        version = version if version is not None else mutable_version
        if mutable:
            d = self._nodemaker.create_new_mutable_directory(initial_children or {},
                                                             version=version)
        else:
            d = self._nodemaker.create_immutable_directory(initial_children or {})
        d.addCallback(lambda child: self.set_node(name, child, metadata, overwrite))
        return d

    def create_empty_directory(self, namex, overwrite=True):
        """The 2008 interfaces' name: an empty mutable subdirectory."""
        return self.create_subdirectory(namex, overwrite=overwrite)

    def move_child_to(self, current_child_namex, new_parent, new_child_namex=None,
                      overwrite=True):
        """Link my child under ``new_parent`` (as ``new_child_namex``, default
        the same name) with its metadata, then unlink it here."""
        if self._readonly or not self._mutable or new_parent.is_readonly():
            return defer.fail(NotMutableError())
        current = normalize(current_child_namex)
        try:
            # a link may be moved away from a name no new link may have
            new = new_name(current if new_child_namex is None else new_child_namex)
        except BadChildNameError as e:
            return defer.fail(e)
        if new_parent.get_write_uri() == self.get_write_uri() and new == current:
            return defer.succeed(None)      # moving a link onto itself changes nothing
        d = self.get_child_and_metadata(current)
        d.addCallback(lambda nm: new_parent.set_node(new, nm[0], nm[1], overwrite=overwrite))
        d.addCallback(lambda _: self.delete(current))
        return d

    # ---- checking ----------------------------------------------------------------------------
    def check(self, monitor=None, verify=False, add_lease=False):
        """Deferred(CheckResults) of the file holding the contents (None for
        a LIT directory: nothing of it is on any server)."""
        return self._node.check(monitor=monitor, verify=verify, add_lease=add_lease)

    def check_and_repair(self, monitor=None, verify=False, add_lease=False):
        """Deferred(CheckAndRepairResults) of the file holding the contents
        (None for a LIT directory)."""
        return self._node.check_and_repair(monitor=monitor, verify=verify, add_lease=add_lease)

    # ---- walking -------------------------------------------------------------------------------
    def deep_traverse(self, walker):
        """Report everything reachable from this directory to ``walker``
        (see :mod:`allmydata.deep_traversal`); the walk's Monitor."""
        return deep_traverse(self, walker)

    def build_manifest(self):
        """Monitor of a walk whose final status is a dict: ``manifest``
        [(path tuple, cap)] of this directory and everything reachable from
        it, ``verifycaps`` (set of verify cap strings), ``storage-index``
        (set of base32 storage indexes), ``stats`` (as
        :meth:`start_deep_stats`)."""
        return deep_traverse(self, ManifestWalker())

    def start_deep_stats(self):
        """Monitor of a walk whose final status is the deep-stats dict."""
        return deep_traverse(self, DeepStats())

    def start_deep_check(self, verify=False, add_lease=False):
        """Monitor of a check of everything reachable; its status is a
        :class:`~allmydata.deep_results.DeepCheckResults`."""
        return deep_traverse(self, DeepCheckWalker(self, verify=verify, add_lease=add_lease))

    def start_deep_check_and_repair(self, verify=False, add_lease=False):
        """Monitor of a check and repair of everything reachable; its status
        is a :class:`~allmydata.deep_results.DeepCheckAndRepairResults`."""
        return deep_traverse(self, DeepCheckWalker(self, verify=verify, repair=True,
                                                   add_lease=add_lease))


def _triples(entries):
    if isinstance(entries, dict):
        items = entries.items()
    else:
        items = ((t[0], t[1:] if len(t) > 2 else t[1]) for t in entries)
    out = []
    for namex, value in items:
        if isinstance(value, tuple):
            node, metadata = (value + (None,))[:2]
        else:
            node, metadata = value, None
        out.append((new_name(namex), node, metadata))
    return out
