"""``/named/$FILECAP/NAME`` (and the deprecated ``/file/``): a file's bytes
under a name of your choosing, which sets the Content-Type -- so that a
browser saving or showing the file sees a sensible name and type.  The last
path segment is the name; segments before it are ignored.
"""

from twisted.web import resource

from .common import ErrorResource, WebError
from .uri import node_handler


class NamedHandler(resource.Resource):
    def __init__(self, node):
        resource.Resource.__init__(self)
        self._node = node

    def getChild(self, name, request):
        if name == b"":
            return ErrorResource(WebError("use /named/$FILECAP/NAME", 400))
        client = getattr(self._node, "client", None)
        if client is None:
            return ErrorResource(WebError("this node has no client service", 500))
        return node_handler(client, name, named=True)

    def render(self, request):
        return ErrorResource(WebError("use /named/$FILECAP/NAME", 400)).render(request)
