"""The interface of a directory node, for code above the directory layer.

Front ends (the web API) tell a directory from a file by asking
``IDirectoryNode.providedBy(node)``: they need to know what a node can do,
not which class made it, and this module imports nothing of the directory
layer, so they need not import :mod:`allmydata.dirnode` for the question.
:class:`~allmydata.dirnode.DirectoryNode` declares that it provides it.
"""

from zope.interface import Interface


class IDirectoryNode(Interface):
    """A directory: named links to child nodes, each with its metadata, kept
    in a mutable file (changeable through a write cap) or an immutable one.

    Every method that reads or changes the children answers a Deferred.
    """

    def get_uri():
        """The directory's cap (bytes): its write cap when this node has it."""

    def get_readonly_uri():
        """The directory's read cap (bytes)."""

    def is_mutable():
        """Whether the directory can change (a mutable directory)."""

    def is_readonly():
        """Whether this node may not change the directory."""

    def list():
        """Deferred ``{name: (child node, metadata)}``."""

    def list_entries():
        """Deferred ``{name: ChildEntry}`` (see :meth:`child_node`)."""

    def child_caps(entry):
        """``(write cap or None, read cap or None)`` of one entry."""

    def child_node(entry):
        """The node of one entry."""

    def get(name):
        """Deferred(child node); NoSuchChildError when there is none."""

    def get_child_and_metadata(name):
        """Deferred((child node, metadata))."""

    def get_child_at_path(path):
        """Deferred(node) at a path of names below this directory."""

    def set_node(name, child, metadata=None, overwrite=True):
        """Link ``child`` as ``name``; Deferred(child)."""

    def set_nodes(entries, overwrite=True):
        """Link several nodes at once; Deferred(this directory)."""

    def set_uri(name, writecap, readcap=None, metadata=None, overwrite=True):
        """Link a child given by its caps; Deferred(child node)."""

    def delete(name, must_exist=True, must_be_directory=False, must_be_file=False):
        """Unlink ``name``; Deferred(the node that was linked, or None)."""

    def create_subdirectory(name, initial_children=None, overwrite=True, mutable=True,
                            mutable_version=None, metadata=None, version=None):
        """Make a new directory and link it as ``name``; Deferred(its node)."""

    def move_child_to(current_name, new_parent, new_name=None, overwrite=True):
        """Link a child under ``new_parent``, then unlink it here."""
