"""Nodes for caps this version cannot use: kept as they are, never rejected.

Forward compatibility (docs/specifications/caps.md §6): a cap string of a kind we do not know
(or do not handle yet) becomes an :class:`UnknownNode` that remembers the
exact string, so it can be shown, stored in a directory and handed back
unchanged. :class:`UnknownChildNode` is the same for a directory's child,
where the cap may come as a write cap / read cap pair and must obey the
directory's rules (no write cap in an immutable directory).
"""

from twisted.internet import defer

from . import uri as urimod
from .dirnode_format import MustBeDeepImmutableError, MustNotBeUnknownRWError
from .util.censor import censor_text


class UnknownNode:
    def __init__(self, cap, reason: str = "unknown cap format"):
        self._cap = cap if isinstance(cap, bytes) else cap.encode("utf-8")
        self.reason = reason

    def __repr__(self):
        return "<UnknownNode %s>" % censor_text(self._cap[:40].decode("ascii", "replace"))

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
