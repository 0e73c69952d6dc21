"""Nodes for caps this version cannot use: kept as they are, never rejected.

Forward compatibility (FORMATS.md §5): a cap string of a kind we do not know
(or do not handle yet) becomes an :class:`UnknownNode` that remembers the
exact string, so it can be shown, stored in a directory and handed back
unchanged.
"""


class UnknownNode:
    def __init__(self, cap, reason: str = "unknown cap format"):
        self._cap = cap if isinstance(cap, bytes) else cap.encode("utf-8")
        self.reason = reason

    def __repr__(self):
        return "<UnknownNode %r>" % (self._cap[:40],)

    def get_uri(self) -> bytes:
        return self._cap

    def get_readonly_uri(self) -> bytes | None:
        return self._cap if self._cap.startswith((b"ro.", b"imm.")) else None

    def get_verify_cap(self):
        return None

    def get_storage_index(self):
        return None

    def is_unknown(self) -> bool:
        return True

    def is_readonly(self) -> bool:
        return self._cap.startswith((b"ro.", b"imm."))

    def is_mutable(self) -> bool:
        return not self._cap.startswith(b"imm.")

    def get_size(self):
        return None
