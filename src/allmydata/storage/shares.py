"""Which kind of share container a file holds, from its first bytes."""

from .immutable import ImmutableShareFile
from .mutable import MutableShareFile, is_mutable_container


def open_share_file(path: str):
    """The container at ``path``, mutable or immutable, as its bytes say."""
    if is_mutable_container(path):
        return MutableShareFile(path)
    return ImmutableShareFile(path)


def share_kind(share) -> str:
    """``"mutable"`` or ``"immutable"``: the names Tahoe-LAFS's lease
    checker counts shares under."""
    return "mutable" if isinstance(share, MutableShareFile) else "immutable"
