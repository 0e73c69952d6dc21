"""Merkle hash trees over 32-byte hashes (docs/specifications/immutable-shares.md §4).

An immutable file carries three of them (crypttext, per-share block, and
share trees), a mutable share two.  The shape is fixed by the format:

* the leaf row is padded to a power of two ``P``; the filler leaf at position
  ``j`` of the row is ``TH("Merkle tree empty leaf", str(j))``;
* an internal node is ``TPH("Merkle tree internal node", left, right)``;
* nodes are numbered breadth first: the root is 0, the children of ``i`` are
  ``2i+1`` and ``2i+2``, leaf ``j`` is node ``P-1+j``; with one leaf the root
  is that leaf.

:class:`HashTree` is a complete tree built by a writer from all its leaves.
:class:`IncompleteHashTree` is a reader's partial view: it is anchored by a
root hash obtained from a trusted place, then takes hashes and leaves from
untrusted servers and keeps them only once they are proven to lead to that
root.  It raises :class:`BadHashError` when data contradicts what it already
trusts and :class:`NotEnoughHashesError` when a hash cannot be checked yet
for lack of siblings; either way nothing from the failed call is kept.
"""

from allmydata.util.hashutil import empty_leaf_hash, internal_node_hash

HASH_SIZE = 32

__all__ = ["HashTreeError", "BadHashError", "NotEnoughHashesError", "HashIndexError",
           "HashTree", "IncompleteHashTree", "roundup_pow2", "parent", "sibling",
           "children", "path_to_root", "HASH_SIZE"]


class HashTreeError(Exception):
    """Base class of the errors of this module."""


class BadHashError(HashTreeError):
    """A hash or leaf contradicts the trusted root (or an already proven node).

    ``node`` is the node index where the contradiction showed up.  ``leaf``
    is the leaf number that failed to validate when that is clear (the node
    is a leaf itself, or one leaf passed in ``leaves=`` or a single leaf in
    all was involved), else None; ``leaves`` lists every new real leaf
    involved in the failed check.
    """

    def __init__(self, message, node=None, leaf=None):
        super().__init__(message)
        self.node = node
        self.leaf = leaf
        self.leaves = [leaf] if leaf is not None else []


class HashIndexError(BadHashError, IndexError):
    """A node or leaf index outside the tree was offered (bad data)."""


class NotEnoughHashesError(HashTreeError):
    """A hash cannot be checked yet: a sibling on its way to the root is missing.

    ``node`` is the node that could not be checked, ``missing`` the first
    unknown sibling index on its path (None when the root itself is unknown).
    """

    def __init__(self, message, node=None, missing=None):
        super().__init__(message)
        self.node = node
        self.missing = missing


# ---- shape of a complete binary tree ------------------------------------------------
def roundup_pow2(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1)."""
    p = 1
    while p < n:
        p *= 2
    return p


def parent(i: int) -> int:
    if i <= 0:
        raise IndexError("the root (node 0) has no parent")
    return (i - 1) // 2


def sibling(i: int) -> int:
    if i <= 0:
        raise IndexError("the root (node 0) has no sibling")
    return i + 1 if i % 2 else i - 1


def children(i: int) -> tuple:
    return 2 * i + 1, 2 * i + 2


def path_to_root(i: int) -> list:
    """Node indices from ``i`` up to and including the root."""
    path = [i]
    while i > 0:
        i = (i - 1) // 2
        path.append(i)
    return path


class _Shape:
    """Sizes and index arithmetic shared by both tree classes."""

    def _init_shape(self, num_leaves: int):
        if not isinstance(num_leaves, int) or isinstance(num_leaves, bool) or num_leaves < 1:
            raise ValueError("a hash tree needs at least one leaf, got %r" % (num_leaves,))
        self.num_leaves = num_leaves
        self.leaf_row_size = roundup_pow2(num_leaves)
        self.first_leaf_num = self.leaf_row_size - 1
        self.num_nodes = 2 * self.leaf_row_size - 1

    def leaf_index(self, leafnum: int) -> int:
        """Node index of leaf ``leafnum``."""
        if not isinstance(leafnum, int) or not 0 <= leafnum < self.num_leaves:
            raise IndexError("leaf %r is out of range: this tree has %d leaves"
                             % (leafnum, self.num_leaves))
        return self.first_leaf_num + leafnum

    def leaf_number(self, index: int):
        """The leaf number of node ``index`` (a filler leaf counts), or None."""
        return index - self.first_leaf_num if index >= self.first_leaf_num else None

    def describe(self, index: int) -> str:
        leaf = self.leaf_number(index)
        if leaf is None:
            return "node %d" % index
        if leaf >= self.num_leaves:
            return "node %d (filler leaf %d)" % (index, leaf)
        return "node %d (leaf %d)" % (index, leaf)

    def needed_for(self, leafnum: int, include_leaf: bool = False) -> set:
        """Every sibling on the path from leaf ``leafnum`` to the root (root
        excluded), plus the leaf itself when ``include_leaf``."""
        i = self.leaf_index(leafnum)
        needed = {i} if include_leaf else set()
        while i > 0:
            needed.add(i + 1 if i % 2 else i - 1)
            i = (i - 1) // 2
        return needed


class HashTree(_Shape, list):
    """The complete tree over ``leaves``: a list of all ``2P-1`` node hashes
    in index order, so ``tree[0]`` is the root."""

    def __init__(self, leaves):
        leaves = list(leaves)
        self._init_shape(len(leaves))
        for j, leaf in enumerate(leaves):
            if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
                raise ValueError("leaf %d must be %d bytes, got %r" % (j, HASH_SIZE, leaf))
        row = leaves + [empty_leaf_hash(j) for j in range(len(leaves), self.leaf_row_size)]
        nodes = [None] * self.first_leaf_num + row
        for i in range(self.first_leaf_num - 1, -1, -1):
            nodes[i] = internal_node_hash(nodes[2 * i + 1], nodes[2 * i + 2])
        list.__init__(self, nodes)

    def get_leaf(self, leafnum: int) -> bytes:
        return self[self.leaf_index(leafnum)]

    def needed_hashes(self, leafnum: int, include_leaf: bool = False) -> set:
        """Node indices a reader needs to check leaf ``leafnum`` against the
        root: the siblings along its path (root excluded), and the leaf
        itself when ``include_leaf``."""
        return self.needed_for(leafnum, include_leaf)

    def chain(self, leafnum: int, include_leaf: bool = False) -> dict:
        """``{index: hash}`` for :meth:`needed_hashes`."""
        return {i: self[i] for i in self.needed_hashes(leafnum, include_leaf)}


class IncompleteHashTree(_Shape):
    """A partial tree that accepts only hashes proven against its root.

    ``tree[i]`` is the proven hash of node ``i`` or None; ``len(tree)`` is the
    number of nodes.
    """

    def __init__(self, num_leaves: int):
        self._init_shape(num_leaves)
        self._nodes = [None] * self.num_nodes

    def __len__(self):
        return self.num_nodes

    def __getitem__(self, index):
        return self._nodes[index]

    def __iter__(self):
        return iter(list(self._nodes))

    def get_leaf(self, leafnum: int):
        """The proven hash of leaf ``leafnum``, or None if not known yet."""
        return self._nodes[self.leaf_index(leafnum)]

    def get_root(self):
        return self._nodes[0]

    def needed_hashes(self, leafnum: int, include_leaf: bool = False) -> set:
        """Node indices still to be fetched before leaf ``leafnum`` can be
        checked: the unknown siblings on its path up to the first node
        already proven (and the leaf, when ``include_leaf`` and unknown).
        An empty set means the leaf can be checked with what is known."""
        i = self.leaf_index(leafnum)
        nodes = self._nodes
        needed = set()
        if include_leaf and nodes[i] is None:
            needed.add(i)
        while nodes[i] is None and i > 0:
            s = i + 1 if i % 2 else i - 1
            if nodes[s] is None:
                needed.add(s)
            i = (i - 1) // 2
        return needed

    def set_hashes(self, hashes=None, leaves=None) -> None:
        """Add node hashes (``{index: hash}``) and leaf hashes (``{leafnum:
        hash}``) after proving each of them against the root.

        The first call must include the root, ``{0: root}``, which is trusted
        as given.  Raises :class:`BadHashError`, :class:`HashIndexError` or
        :class:`NotEnoughHashesError`; on any error the tree is unchanged.
        """
        new = {}
        for index, h in (hashes or {}).items():
            if not isinstance(index, int) or not 0 <= index < self.num_nodes:
                raise HashIndexError("node index %r is outside this tree of %d nodes (%d leaves)"
                                     % (index, self.num_nodes, self.num_leaves), node=index)
            self._check_value(index, h)
            new[index] = h
        for leafnum, h in (leaves or {}).items():
            if not isinstance(leafnum, int) or not 0 <= leafnum < self.num_leaves:
                raise HashIndexError("leaf number %r is outside this tree of %d leaves"
                                     % (leafnum, self.num_leaves), node=None, leaf=leafnum)
            index = self.first_leaf_num + leafnum
            self._check_value(index, h)
            if index in new and new[index] != h:
                raise BadHashError("%s was given two different values in one call"
                                   % self.describe(index), node=index, leaf=leafnum)
            new[index] = h

        nodes = self._nodes
        trial = list(nodes)
        added = []
        for index, h in new.items():
            old = nodes[index]
            if old is None:
                trial[index] = h
                added.append(index)
            elif old != h:
                raise BadHashError("%s does not match the value already proven for it"
                                   % self.describe(index), node=index,
                                   leaf=self.leaf_number(index))
        if trial[0] is None:
            raise NotEnoughHashesError("the root hash must be set first (set_hashes({0: root}))",
                                       node=min(added) if added else None)
        if not added:
            return
        if nodes[0] is None:
            # The root arrives now and is the trust anchor for the rest.
            proven = {0}
        else:
            proven = set()

        # Recompute bottom-up every ancestor of a new node (up to the first
        # one proven before this call) whose two children are present, and
        # check it against any value given or already proven.  Other nodes'
        # children did not change, so the work is O(new nodes * depth).
        affected = set()
        for index in sorted(added, reverse=True):
            i = index
            while i > 0:
                i = (i - 1) // 2
                if i in affected:
                    break
                affected.add(i)
                if nodes[i] is not None:
                    break
        for i in sorted(affected, reverse=True):
            left, right = trial[2 * i + 1], trial[2 * i + 2]
            if left is None or right is None:
                continue
            h = internal_node_hash(left, right)
            if trial[i] is None:
                trial[i] = h
            elif trial[i] != h:
                raise self._mismatch(i, nodes, added, set(leaves or ()))

        # Every new node must reach a node that was trusted before this call
        # (or the root given in it) through present siblings.
        for index in sorted(added, reverse=True):
            i = index
            while nodes[i] is None and i not in proven:
                s = i + 1 if i % 2 else i - 1
                if trial[s] is None:
                    raise NotEnoughHashesError(
                        "cannot check %s: the hash of its %s sibling %s is missing"
                        % (self.describe(index), "own" if i == index else "ancestor's",
                           self.describe(s)), node=index, missing=s)
                i = (i - 1) // 2
        self._nodes = trial

    def _check_value(self, index, h):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            length = len(h) if isinstance(h, (bytes, bytearray)) else None
            raise BadHashError("%s: a hash must be %d bytes, got %s"
                               % (self.describe(index), HASH_SIZE,
                                  "%d bytes" % length if length is not None
                                  else type(h).__name__),
                               node=index, leaf=self.leaf_number(index))

    def _mismatch(self, i, nodes, added, subject_leaves):
        """The BadHashError for node ``i`` not matching its children's hash.

        The message lists the new hashes that fed into the failed check;
        ``leaves`` holds their real leaf numbers.  ``leaf`` is the leaf that
        failed to validate when that is clear: the one leaf passed in
        ``leaves=`` among them, else the only leaf among them.
        """
        involved = sorted(a for a in added if a != i and i in path_to_root(a))
        new_leaves = [self.leaf_number(a) for a in involved
                      if self.leaf_number(a) is not None and self.leaf_number(a) < self.num_leaves]
        left, right = children(i)
        what = "already proven" if nodes[i] is not None else "given"
        msg = ("hash mismatch at %s: its children %s and %s do not hash to the %s value"
               % (self.describe(i), self.describe(left), self.describe(right), what))
        if involved:
            msg += "; new hashes checked: %s" % ", ".join(self.describe(a) for a in involved)
        subjects = [j for j in new_leaves if j in subject_leaves]
        leaf = None
        if len(subjects) == 1:
            leaf = subjects[0]
        elif len(new_leaves) == 1:
            leaf = new_leaves[0]
        err = BadHashError(msg, node=i, leaf=leaf)
        err.leaves = new_leaves
        return err
