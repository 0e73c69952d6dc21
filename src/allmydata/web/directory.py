"""Directories in the web API: ``/uri/$DIRCAP[/path/NAME]`` (Tahoe-LAFS 1.20's web API).

* :class:`DirectoryNodeHandler` serves one directory: ``GET`` (the HTML
  listing of :mod:`allmydata.web.dirlisting`, ``t=json``, ``t=info``,
  ``t=uri``, ``t=readonly-uri``, ``t=rename-form``) and the ``POST``
  operations (``t=mkdir``, ``mkdir-with-children``, ``mkdir-immutable``,
  ``upload``, ``uri``, ``unlink``/``delete``, ``rename``, ``relink``,
  ``set_children``/``set-children``), each honouring ``replace=`` and
  ``when_done=``; ``POST t=check`` (:mod:`allmydata.web.check_results`),
  the long operations ``t=start-deep-check``, ``start-manifest``,
  ``start-deep-size`` and ``start-deep-stats`` (kept under ``ophandle=``
  by :mod:`allmydata.web.operations`) and the streamed
  ``t=stream-deep-check`` and ``stream-manifest``
  (:mod:`allmydata.web.deep_stream`).
* :class:`ChildPathHandler` takes whatever path follows a directory cap.
  Twisted's resource traversal is synchronous while looking up a child asks
  the grid, so it is a leaf that walks the path itself when the request is
  rendered: ``GET``/``HEAD``/``POST`` walk it all and hand over to the
  handler of the node found (404 for a missing child, 400 for a path through
  a file); ``PUT`` creates missing intermediate directories (409 when a file
  is in the way) and uploads, links (``t=uri``) or makes a directory
  (``t=mkdir``) at the last name -- 201 when that name was new, 200 when it
  replaced something; ``DELETE`` unlinks the last name.  A path with an
  empty segment (``a//b``) is a 400, as in Tahoe-LAFS.

A new link never gets a name the directory layer refuses (empty, ``.``,
``..``, with ``/`` or NUL): the web API checks such names before it uploads
a file or makes a directory, and answers 400.

Errors of the directory layer (NoSuchChildError, ExistingChildError,
NotMutableError ...) reach :mod:`allmydata.web.common`, which knows their
statuses.
"""

import inspect
import json

from twisted.internet import defer
from twisted.web import resource

from .. import uri as urimod
from ..dirnode_format import ChildOfWrongTypeError, ExistingChildError, new_name
from ..immutable.filenode import ImmutableFileNode
from .common import (
    NodeHandler,
    WebError,
    async_render,
    check_when_done,
    decode_arg,
    get_arg,
    get_format_arg,
    get_offset_arg,
    get_replace_arg,
    mutable_version_of,
    render_json,
    render_text,
    text_of,
)
from .check_results import check_args, output_format, post_check
from .deep_check_results import DeepCheckPage
from .deep_stream import stream_deep_check, stream_manifest
from .dirlisting import render_listing, render_rename_form
from .filenode import (FileNodeHandler, UnknownNodeHandler, filenode_info, finish_post,
                       replace_contents)
from .forms import get_form, open_part
from .info import render_info
from .nodehelpers import (is_dirnode, parse_children_json, read_body, upload_fileobj,
                          write_uri_of)
from .operations import DeepSizePage, DeepStatsPage, ManifestPage, find_operations


def handler_for(client, node, parent=None, name=None, metadata=None):
    """The handler serving ``node`` (reached as ``name`` in ``parent``, if so)."""
    if getattr(node, "is_unknown", lambda: False)():
        return UnknownNodeHandler(client, node, metadata)
    if is_dirnode(node):
        return DirectoryNodeHandler(client, node, parent, name)
    return FileNodeHandler(client, node, filename=name, parent=parent, metadata=metadata)


async def _await(result):
    if inspect.iscoroutine(result) or isinstance(result, defer.Deferred):
        return await result
    return result


# ---- JSON -------------------------------------------------------------------------------------
def child_json(node, metadata) -> list:
    """``[type, {...}]`` of one child in a directory's ``t=json``."""
    kind, info = _child_info(node)
    info["metadata"] = metadata
    return [kind, info]


def _child_json_text(entry, dirnode) -> str:
    """The JSON text of one child (``"name": [type, {...}]``) of ``dirnode``,
    kept in the entry: it stays right while the entry's bytes stay the same
    (a mutable child's listing shows no size, so nothing in it can go stale)."""
    text = entry.listing
    if text is None:
        metadata = entry.metadata    # parsed once: a child whose metadata is not an object fails
        stored = entry.metadata_json
        # The stored metadata text is JSON already: it goes in as it is
        # rather than decoded and encoded again (re-encoding every child's
        # timestamps would be most of the cost of a big listing).
        metadata_text = (stored.decode("utf-8") if stored is not None
                         else _json_compact(metadata))
        body = None
        if entry.node is None:
            # an immutable file's node need not be made to list it
            cap = chk_read_cap(*dirnode.child_caps(entry))
            if cap is not None:
                body = _chk_body(cap, metadata_text)
        if body is None:
            body = child_json_body(dirnode.child_node(entry), metadata_text)
        text = entry.listing = "%s: %s" % (_json_compact(entry.name), body)
    return text


def chk_read_cap(rw, ro):
    """The parsed ``URI:CHK:`` cap of a child whose caps are that cap and
    nothing else (the node maker would make an ImmutableFileNode of it);
    None for any other child, or a cap that does not parse (its node,
    an unknown node, carries the reason)."""
    if ro is None or not ro.startswith(b"URI:CHK:") or (rw is not None and rw != ro):
        return None
    try:
        return urimod.CHKFileURI.init_from_string(ro)
    except urimod.URIError:
        return None


def _chk_body(cap, metadata_text: str) -> str:
    # The commonest child, written straight from its cap: caps are ASCII
    # that JSON need not escape, and the keys are in sort_keys order.
    return _CHK_BODY % (metadata_text, cap.to_string().decode("ascii"), cap.size,
                        cap.get_verifier().to_string().decode("ascii"))


def child_json_body(node, metadata_text: str) -> str:
    """The compact JSON text of :func:`child_json` of ``node``, with
    ``metadata_text`` (JSON of an object) as its metadata."""
    if type(node) is ImmutableFileNode:
        return _chk_body(node.u, metadata_text)
    kind, info = _child_info(node)
    # "metadata" is the first key of info after "format": the first placeholder is it
    info["metadata"] = _METADATA_SLOT
    return _json_compact([kind, info]).replace(_METADATA_SLOT_JSON, metadata_text, 1)


_CHK_BODY = ('["filenode", {"format": "CHK", "metadata": %s, "mutable": false, '
             '"ro_uri": "%s", "size": %d, "verify_uri": "%s"}]')


_json_compact = json.JSONEncoder(sort_keys=True, separators=(", ", ": ")).encode
_METADATA_SLOT = "\x00metadata\x00"
_METADATA_SLOT_JSON = _json_compact(_METADATA_SLOT)
# Below this many children a listing is made as one dict and indented by
# render_json (readable); above it the children's kept texts are joined.
_JOIN_CHILDREN_ABOVE = 200


def _child_info(node):
    if getattr(node, "is_unknown", lambda: False)():
        kind, info = "unknown", {}
        rw = write_uri_of(node)
        if rw:
            info["rw_uri"] = text_of(rw)
        ro = node.get_readonly_uri()
        if ro:
            info["ro_uri"] = text_of(ro)
    elif is_dirnode(node):
        kind, info = "dirnode", _dir_caps(node)
    else:
        kind, info = "filenode", filenode_info(node)
        if node.is_mutable():
            # A listing does not read its mutable children: a size this node
            # remembers from an earlier read or write may be out of date, so
            # none is shown (Tahoe-LAFS shows none for a child it has not read).
            info.pop("size", None)
    return kind, info


def _dir_caps(node) -> dict:
    info = {"mutable": bool(node.is_mutable()), "ro_uri": text_of(node.get_readonly_uri())}
    rw = write_uri_of(node)
    if rw:
        info["rw_uri"] = text_of(rw)
    verifier = node.get_verify_cap()
    if verifier is not None:
        info["verify_uri"] = text_of(verifier.to_string())
    return info


def dirnode_json(node, children: dict) -> list:
    """``["dirnode", {...}]`` for ``{name: (child node, metadata)}``."""
    info = _dir_caps(node)
    info["children"] = {name: child_json(child, metadata)
                        for name, (child, metadata) in children.items()}
    return ["dirnode", info]


async def render_dirnode_json(request, node) -> bytes:
    """``t=json`` of a directory.  A big one is written from the per-child
    texts kept in its entries (see :func:`_child_json_text`): the same
    JSON, but only the children that changed since the last listing are
    encoded again."""
    entries = await node.list_entries()
    if len(entries) <= _JOIN_CHILDREN_ABOVE:
        children = {name: (node.child_node(e), e.metadata) for name, e in entries.items()}
        return render_json(request, dirnode_json(node, children))
    # {"children": ...} first, as sort_keys puts it ahead of the caps
    text = _json_compact(["dirnode", _dir_caps(node)])
    at = text.index("{") + 1
    body = ", ".join([_child_json_text(entries[name], node) for name in sorted(entries)])
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    return ('%s"children": {%s}, %s\n' % (text[:at], body, text[at:])).encode("utf-8")


def _name_arg(request, name="name", required=True):
    value = get_arg(request, name)
    if value is None or value == "":
        if required:
            raise WebError("this operation needs %s=" % name)
        return None
    return value


# ---- one directory ---------------------------------------------------------------------------
class DirectoryNodeHandler(NodeHandler):
    """One directory node; ``parent``/``name`` when reached through a path."""

    METHODS = (b"GET", b"HEAD", b"PUT", b"POST", b"DELETE")

    def __init__(self, client, node, parent=None, name=None):
        resource.Resource.__init__(self)
        self._client = client
        self._node = node
        self._parent = parent
        self._name = name

    def getChild(self, name, request):
        if name == b"" and not request.postpath:
            return self
        return ChildPathHandler(self._client, self._node, [name] + list(request.postpath))

    def handle(self, request, method):
        if method in (b"GET", b"HEAD"):
            return self._get(request)
        if method == b"POST":
            return self._post(request)
        if method == b"PUT":
            if get_arg(request, "t", "") == "mkdir":
                return render_text(request, self._node.get_uri())
            raise WebError("PUT to a directory: a directory cannot be overwritten (PUT to a "
                           "name inside it instead)")
        if method == b"DELETE":
            raise WebError("DELETE of a directory by its cap: unlink it from its parent "
                           "instead (DELETE /uri/$PARENT/NAME)")
        raise WebError("%s is not allowed on a directory" % method.decode("ascii", "replace"), 405)

    # ---- GET ----
    async def _get(self, request):
        t = get_arg(request, "t", "")
        if t == "":
            return await render_listing(request, self._client, self._node)
        if t == "json":
            return await render_dirnode_json(request, self._node)
        if t == "info":
            return await render_info(request, self._client, self._node)
        if t == "uri":
            return render_text(request, self._node.get_uri())
        if t == "readonly-uri":
            return render_text(request, self._node.get_readonly_uri())
        if t == "rename-form":
            return await render_rename_form(request, self._node, _name_arg(request))
        raise WebError("GET directory: bad t=%s" % t)

    # ---- POST ----
    async def _post(self, request):
        await get_form(request)  # t=, name= ... may be fields of a form
        check_when_done(request)
        t = get_arg(request, "t", "")
        op = self._POST_OPS.get(t)
        if op is None:
            raise WebError("POST to a directory with bad t=%s" % t)
        return await op(self, request)

    async def _mkdir(self, request, t=None):
        t = t or get_arg(request, "t")
        name = _name_arg(request, required=False)
        if name is None:
            # the directory exists already (the path named it): its cap
            return finish_post(request, self._node.get_uri())
        child = await make_directory(self._client, self._node, name, t, request,
                                     get_replace_arg(request))
        return finish_post(request, child.get_uri())

    async def _upload(self, request):
        form = await get_form(request)
        part = form.get_part("file")
        if part is None:
            raise WebError("POST t=upload needs a multipart/form-data body with a 'file' field")
        name = _name_arg(request, required=False) or part.filename
        if not name:
            raise WebError("POST t=upload: no name= and the file field has no filename")
        node = await put_file(self._client, self._node, name, open_part(request, part),
                              request, get_replace_arg(request))
        return finish_post(request, node.get_uri())

    async def _link(self, request):
        name = _name_arg(request)
        cap = _name_arg(request, "uri").strip().encode("utf-8")
        await self._node.set_uri(name, cap, None, overwrite=get_replace_arg(request))
        return finish_post(request, cap)

    async def _unlink(self, request):
        # name= given but empty unlinks a child whose name is empty (such a
        # link cannot be made here, but another implementation may have)
        name = get_arg(request, "name")
        if name is None:
            raise WebError("this operation needs name=")
        await self._node.delete(name)
        return finish_post(request, None, "unlinked %s\n" % name)

    async def _rename(self, request):
        from_name = _name_arg(request, "from_name")
        to_name = _name_arg(request, "to_name")
        for arg, value in (("from_name", from_name), ("to_name", to_name)):
            if "/" in value:
                raise WebError("%s= may not contain a slash" % arg)
        await self._node.move_child_to(from_name, self._node, to_name,
                                       overwrite=get_replace_arg(request))
        return finish_post(request, None, "renamed %s to %s\n" % (from_name, to_name))

    async def _relink(self, request):
        from_name = _name_arg(request, "from_name")
        to_name = _name_arg(request, "to_name", required=False) or from_name
        if "/" in from_name or "/" in to_name:
            raise WebError("from_name= and to_name= may not contain a slash")
        to_dir = _name_arg(request, "to_dir", required=False)
        target = self._node
        if to_dir is not None:
            cap, _, path = to_dir.strip().partition("/")
            target = self._client.create_node_from_uri(cap.encode("utf-8"))
            names = [n for n in path.split("/") if n]
            if names and is_dirnode(target):
                target = await target.get_child_at_path(names)
            if not is_dirnode(target):
                raise WebError("to_dir is not a directory")
        await self._node.move_child_to(from_name, target, to_name,
                                       overwrite=get_replace_arg(request))
        return finish_post(request, None, "moved %s\n" % from_name)

    async def _set_children(self, request):
        children = parse_children_json(self._client, read_body(request))
        entries = {}
        for name, (node, metadata) in children.items():
            metadata = {k: v for k, v in (metadata or {}).items() if k != "tahoe"}
            entries[name] = (node, metadata)
        await self._node.set_nodes(entries, overwrite=get_replace_arg(request))
        return finish_post(request, None, "set %d children\n" % len(entries))

    # ---- checks and deep traversals ----
    async def _check(self, request):
        return await post_check(request, self._client, self._node)

    def _start(self, request, page_class, start, formats=None):
        """Start a long operation (``start()`` returns its Monitor) once every
        argument is found good, keep it under its ``ophandle=`` and redirect
        to its page."""
        table = find_operations(request)
        table.check_can_add(request)
        if formats is not None:
            output_format(request, formats)
        monitor = start()
        page = page_class(self._client, monitor, self._node.get_storage_index())
        return table.start(request, monitor, page)

    async def _start_deep_check(self, request):
        verify, repair, add_lease = check_args(request)
        node = self._node
        if repair:
            def start():
                return node.start_deep_check_and_repair(verify=verify, add_lease=add_lease)
        else:
            def start():
                return node.start_deep_check(verify=verify, add_lease=add_lease)

        def page(client, monitor, si):
            return DeepCheckPage(client, monitor, repair, si)
        return self._start(request, page, start, DeepCheckPage.FORMATS)

    async def _start_manifest(self, request):
        return self._start(request, ManifestPage, self._node.build_manifest,
                           ManifestPage.FORMATS)

    async def _start_deep_size(self, request):
        return self._start(request, DeepSizePage, self._node.start_deep_stats,
                           DeepSizePage.FORMATS)

    async def _start_deep_stats(self, request):
        return self._start(request, DeepStatsPage, self._node.start_deep_stats)

    async def _stream_deep_check(self, request):
        return await stream_deep_check(request, self._node)

    async def _stream_manifest(self, request):
        return await stream_manifest(request, self._node)

    _POST_OPS = {
        "mkdir": _mkdir, "mkdir-with-children": _mkdir, "mkdir-immutable": _mkdir,
        "upload": _upload, "uri": _link, "unlink": _unlink, "delete": _unlink,
        "rename": _rename, "relink": _relink, "set_children": _set_children,
        "set-children": _set_children,
        "check": _check, "start-deep-check": _start_deep_check,
        "start-manifest": _start_manifest, "start-deep-size": _start_deep_size,
        "start-deep-stats": _start_deep_stats, "stream-deep-check": _stream_deep_check,
        "stream-manifest": _stream_manifest,
    }


def new_directory_args(client, t, request) -> dict:
    """The keyword arguments of ``create_subdirectory`` for ``t`` = mkdir,
    mkdir-with-children or mkdir-immutable (``format=``, the children JSON
    of the body), read and checked before anything is made."""
    if t == "mkdir-immutable":
        kids = parse_children_json(client, read_body(request), deep_immutable=True)
        return {"initial_children": kids, "mutable": False}
    fmt = get_format_arg(request, default=None)  # None: the node's mutable.format
    if fmt == "CHK":
        raise WebError("format=CHK is not accepted for t=%s: use SDMF or MDMF" % t)
    kids = None
    if t == "mkdir-with-children":
        kids = parse_children_json(client, read_body(request))
    return {"initial_children": kids, "version": mutable_version_of(fmt)}


async def make_directory(client, parent, name, t, request, replace, args=None):
    """Create a directory (``t`` = mkdir, mkdir-with-children or
    mkdir-immutable, children from the request body; or ``args`` of
    :func:`new_directory_args` read earlier) linked as ``name`` in
    ``parent``; the new DirectoryNode."""
    if args is None:
        args = new_directory_args(client, t, request)
    return await parent.create_subdirectory(name, overwrite=replace, **args)


async def put_file(client, parent, name, fileobj, request, replace):
    """Store ``fileobj`` as ``name`` in ``parent``: an existing mutable file
    of that name is overwritten in place (same cap); otherwise a new file of
    ``format=`` is made and linked.  Returns the file node; sets
    ``request.created`` to whether the name was new.  A name no link may
    have is refused before anything is uploaded."""
    name = new_name(name)
    fmt = get_format_arg(request)
    try:
        old, _ = await parent.get_child_and_metadata(name)
    except KeyError:  # NoSuchChildError
        old = None
    request.created = old is None
    if old is not None:
        if is_dirnode(old):
            if replace is False:
                raise _existing(name)
            raise WebError("PUT to a directory: %r is a directory, it cannot be replaced "
                           "by a file" % name)
        if replace is False:
            raise _existing(name)
        if not old.is_unknown() and old.is_mutable():
            if write_uri_of(old) is None:
                # as Tahoe-LAFS: a read-only link to a mutable file is not
                # silently replaced by a new file
                raise WebError("PUT to a mutable file: %r is linked here with a read-only "
                               "cap, so it can be neither replaced nor updated; unlink it "
                               "first to put a new file under that name" % name)
            await replace_contents(old, fileobj, None)
            return old
    if fmt == "CHK":
        results = await upload_fileobj(client, fileobj)
        cap = results.get_uri() if hasattr(results, "get_uri") else results.uri
        return await parent.set_uri(name, cap, cap, overwrite=replace)
    fileobj.seek(0)
    node = await client.create_mutable_file(fileobj, version=mutable_version_of(fmt))
    return await parent.set_node(name, node, overwrite=replace)


def _existing(name):
    return ExistingChildError("a child named %r already exists" % (name,))


# ---- a path below a directory -----------------------------------------------------------------
class ChildPathHandler(resource.Resource):
    """``/uri/$DIRCAP/a/b/NAME``: the path is walked when the request is
    rendered (see the module docstring)."""

    isLeaf = True

    def __init__(self, client, root, segments):
        resource.Resource.__init__(self)
        self._client = client
        self._root = root
        self._segments = segments
        self._names = None

    def _parse_segments(self):
        """The child names of the path: UTF-8, and no empty name except
        after a trailing slash (``a//b`` is refused, as Tahoe-LAFS does)."""
        names = [decode_arg("a path segment", s) for s in self._segments]
        if names and names[-1] == "":
            names.pop()
        if "" in names:
            raise WebError("the path has an empty segment (a double slash): the web API "
                           "does not allow empty names in paths")
        return names

    def _render(self, request):
        self._names = self._parse_segments()
        return self._dispatch(request, request.method)

    render_GET = render_HEAD = render_PUT = render_POST = render_DELETE = \
        async_render(_render)

    async def _dispatch(self, request, method):
        if not self._names:
            return await _await(DirectoryNodeHandler(self._client, self._root).handle(
                request, method))
        if method == b"PUT":
            return await self._put(request)
        if method == b"DELETE":
            parent = await self._walk(self._names[:-1])
            node = await parent.delete(self._names[-1])
            return render_text(request, node.get_uri() if node is not None else b"")
        if method == b"POST":
            await get_form(request)     # t= and when_done= may be fields of a form
            check_when_done(request)
        t = get_arg(request, "t", "")
        mkdir = method == b"POST" and t in ("mkdir", "mkdir-with-children", "mkdir-immutable")
        if mkdir:   # the arguments are checked before any directory is made
            replace = get_replace_arg(request)
            args = new_directory_args(self._client, t, request)
        parent = await self._walk(self._names[:-1], create=mkdir)
        name = self._names[-1]
        try:
            node, metadata = await parent.get_child_and_metadata(name)
        except KeyError:  # NoSuchChildError
            if mkdir:
                node = await make_directory(self._client, parent, name, t, request, replace,
                                            args)
                return finish_post(request, node.get_uri())
            raise
        handler = handler_for(self._client, node, parent, name, metadata)
        return await _await(handler.handle(request, method))

    async def _walk(self, names, create=False):
        """The directory at ``names`` below the root (made if missing when
        ``create``)."""
        node = self._root
        for i, name in enumerate(names):
            try:
                child = await node.get(name)
            except KeyError:  # NoSuchChildError
                if not create:
                    raise
                # every name still to be made is checked before the first is made
                for later in names[i:] + self._names[-1:]:
                    new_name(later)
                child = await node.create_subdirectory(name, overwrite=False)
            if not is_dirnode(child):
                if create:
                    raise WebError("Unable to create directory %r: a file was in the way"
                                   % name, 409)
                raise ChildOfWrongTypeError("Files have no children named %r"
                                            % (names[i + 1] if i + 1 < len(names) else name))
            node = child
        return node

    async def _put(self, request):
        # the arguments are read and checked before any directory is made
        t = get_arg(request, "t", "")
        if t not in ("", "mkdir", "uri"):
            raise WebError("PUT to a directory child: bad t=%s" % t)
        replace = get_replace_arg(request)
        if t == "mkdir":
            args = new_directory_args(self._client, t, request)
        elif t == "":
            offset = get_offset_arg(request)
            get_format_arg(request)     # an unknown format= is refused now; put_file uses it
        parent = await self._walk(self._names[:-1], create=True)
        name = self._names[-1]
        if t == "mkdir":
            try:
                node = await parent.get(name)
            except KeyError:
                node = None
            if node is not None and is_dirnode(node):
                return render_text(request, node.get_uri())  # there already
            node = await make_directory(self._client, parent, name, t, request, replace, args)
            return render_text(request, node.get_uri())
        if t == "uri":
            cap = read_body(request).strip()
            await parent.set_uri(name, cap, None, overwrite=replace)
            return render_text(request, cap)
        if offset is not None:
            node = await parent.get(name)
            if is_dirnode(node):
                raise WebError("PUT to a directory: %r is a directory" % name)
            if not node.is_mutable():
                raise WebError("PUT with offset= to %r: an immutable file cannot be changed "
                               "in place" % name)
            handler = FileNodeHandler(self._client, node, filename=name, parent=parent)
            return await _await(handler.handle(request, b"PUT"))
        node = await put_file(self._client, parent, name, request.content, request, replace)
        if request.created:
            request.setResponseCode(201)
        return render_text(request, node.get_uri())
