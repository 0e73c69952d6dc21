"""``/uri`` and its synonym ``/cap``: caps in URLs (Tahoe-LAFS 1.20's web API).

* ``GET /uri?uri=$CAP`` redirects to ``/uri/$CAP`` (other arguments kept);
* ``PUT /uri`` and ``POST /uri?t=upload`` upload an unlinked file
  (:mod:`allmydata.web.unlinked`);
* ``PUT /uri?t=mkdir`` and ``POST /uri?t=mkdir|mkdir-with-children|
  mkdir-immutable`` make an unlinked directory (``format=``, ``private-key=``,
  ``redirect_to_result=``);
* ``/uri/$CAP`` (the cap URL-escaped) is served by the handler for the node
  the client makes of it: :class:`~allmydata.web.directory.DirectoryNodeHandler`
  for directories (and the paths below them),
  :class:`~allmydata.web.filenode.FileNodeHandler` for files,
  :class:`~allmydata.web.filenode.UnknownNodeHandler` for caps this version
  cannot use.  A malformed cap is a 400.
"""

import urllib.parse

from twisted.python.failure import Failure
from twisted.web import resource

from .common import ErrorResource, WebError, async_render, get_arg, redirect
from .directory import DirectoryNodeHandler
from .filenode import FileNodeHandler, UnknownNodeHandler
from .forms import get_form
from .nodehelpers import is_dirnode
from .unlinked import make_unlinked_directory, post_upload, put_unlinked

_DIRECTORY_OPS = ("mkdir", "mkdir-with-children", "mkdir-immutable")


def node_handler(client, cap: bytes, named=False):
    """The resource serving ``cap``, or an ErrorResource explaining why not."""
    try:
        node = client.create_node_from_uri(cap)
    except Exception as e:  # noqa: BLE001 -- BadURIError is a 400, anything else a 500
        return ErrorResource(e, Failure())
    if getattr(node, "is_unknown", lambda: False)():
        return UnknownNodeHandler(client, node)
    if is_dirnode(node) and not named:
        return DirectoryNodeHandler(client, node)
    return FileNodeHandler(client, node, named=named)


class URIHandler(resource.Resource):
    """``/uri`` (and ``/cap``) of a client node."""

    def __init__(self, node):
        resource.Resource.__init__(self)
        self._node = node

    @property
    def _client(self):
        client = getattr(self._node, "client", None)
        if client is None:
            raise WebError("this node has no client service: it cannot upload or download", 500)
        return client

    def getChild(self, name, request):
        if name == b"":
            return self
        try:
            client = self._client
        except WebError as e:
            return ErrorResource(e)
        return node_handler(client, name)

    @async_render
    def render_GET(self, request):
        cap = get_arg(request, "uri")
        if cap is None:
            raise WebError("GET /uri requires uri=")
        query = [(k, v) for k, vs in request.args.items() if k != b"uri" for v in vs]
        base = request.path.rstrip(b"/").decode("ascii", "replace")
        location = "%s/%s" % (base, urllib.parse.quote(cap.strip(), safe=""))
        if query:
            location += "?" + urllib.parse.urlencode(query)
        return redirect(request, location)

    render_HEAD = render_GET

    @async_render
    def render_PUT(self, request):
        t = get_arg(request, "t", "")
        if t == "":
            return put_unlinked(self._client, request)
        if t == "mkdir":
            return make_unlinked_directory(self._client, request, t)
        raise WebError("PUT /uri accepts no t=%s (use t=mkdir, or no t= to upload)" % t)

    @async_render
    async def render_POST(self, request):
        if request.args.get(b"t") is None:
            await get_form(request)  # t= may be a field of the form
        t = get_arg(request, "t", "")
        if t == "upload":
            return await post_upload(self._client, request)
        if t in _DIRECTORY_OPS:
            return await make_unlinked_directory(self._client, request, t)
        raise WebError("POST /uri: bad t=%s (use t=upload, t=mkdir, t=mkdir-with-children or "
                       "t=mkdir-immutable)" % t)
