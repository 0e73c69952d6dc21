"""Merkle trees (hashtree.py): shape and hashes per docs/specifications/immutable-shares.md §4, and the
reader-side IncompleteHashTree's proofs."""

import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from allmydata import hashtree
from allmydata.hashtree import (BadHashError, HashIndexError, HashTree, HashTreeError,
                                IncompleteHashTree, NotEnoughHashesError)
from allmydata.util.hashutil import sha256d
from allmydata.util.netstring import netstring


def leaf(i):
    return hashlib.sha256(b"leaf %d" % i).digest()


def leaves(n):
    return [leaf(i) for i in range(n)]


# Independent statement of immutable-shares.md §4.1, written out with raw SHA-256d and netstrings.
def ref_root(row):
    if len(row) == 1:
        return row[0]
    half = len(row) // 2
    tag = netstring(b"Merkle tree internal node")
    return sha256d(tag + netstring(ref_root(row[:half])) + netstring(ref_root(row[half:])))


def ref_padded_row(ls):
    p = 1
    while p < len(ls):
        p *= 2
    filler = [sha256d(netstring(b"Merkle tree empty leaf") + str(j).encode())
              for j in range(len(ls), p)]
    return ls + filler


# Roots computed by running Tahoe-LAFS 1.20's hashtree as a black box over
# leaves sha256(b"leaf %d").
TAHOE_ROOTS = {
    1: "20e325f06280f9d0d193fed01a0eda5bef79063f2e602d93e3605cbe825d96ad",
    2: "c75fda33f81eec5a638ee16c736b48f4eceabcb2e3ab334c91c0149057dc305f",
    3: "a79863fc1f8d6458a45ea36f401740c14a3a7caddae421ea53026b92e5fa2313",
    5: "a2d8dcde9e05562aee6c29bde1000b9c1cd2fd5919d36252dcab86c118d020b7",
    8: "e80c7c44513ee9e717ec8f1ff3192e6c37d65248af1c7850b921f0bbf980a0a4",
    10: "a4a5fefbdb73c6498045ad607e63bf19e866ddb720be94ad6bb6b47894dcfd4c",
}


@pytest.mark.parametrize("n", sorted(TAHOE_ROOTS))
def test_roots_match_tahoe(n):
    ht = HashTree(leaves(n))
    assert ht[0].hex() == TAHOE_ROOTS[n]
    assert ht[0] == ref_root(ref_padded_row(leaves(n)))


def test_tahoe_filler_node():
    # 5 leaves pad to 8; node 12 is filler leaf 5 (position in the row, not node number)
    ht = HashTree(leaves(5))
    assert ht[12].hex() == "289ca308c97d01beaa8bd2af5c52cd5dac956f590b18af662ed4e8a076a1b4c3"
    assert ht[12] == sha256d(netstring(b"Merkle tree empty leaf") + b"5")


@pytest.mark.parametrize("n,size", [(1, 1), (2, 3), (3, 7), (4, 7), (5, 15), (8, 15), (9, 31), (10, 31)])
def test_shape(n, size):
    ht = HashTree(leaves(n))
    assert len(ht) == size == ht.num_nodes
    assert ht.first_leaf_num == (size - 1) // 2
    for j in range(n):
        assert ht[ht.first_leaf_num + j] == leaf(j) == ht.get_leaf(j)
    for i in range(ht.first_leaf_num):
        assert ht[i] == hashtree.internal_node_hash(ht[2 * i + 1], ht[2 * i + 2])


def test_single_leaf_root_is_leaf():
    ht = HashTree([leaf(7)])
    assert list(ht) == [leaf(7)]
    assert ht.needed_hashes(0) == set()
    assert ht.needed_hashes(0, include_leaf=True) == {0}


def test_needed_hashes():
    ht = HashTree(leaves(5))
    assert ht.needed_hashes(3, include_leaf=True) == {2, 3, 9, 10}   # as Tahoe 1.20
    assert ht.needed_hashes(0) == {2, 4, 8}
    # share tree for N=10: ceil(log2 10)+1 = 5 entries with the leaf
    share_tree = HashTree(leaves(10))
    assert all(len(share_tree.needed_hashes(i, True)) == 5 for i in range(10))
    with pytest.raises(IndexError, match="out of range"):
        ht.needed_hashes(5)


def test_shape_helpers():
    assert hashtree.roundup_pow2(0) == 1 and hashtree.roundup_pow2(5) == 8
    assert hashtree.parent(10) == 4 and hashtree.sibling(10) == 9 and hashtree.sibling(9) == 10
    assert hashtree.children(4) == (9, 10)
    assert hashtree.path_to_root(10) == [10, 4, 1, 0]
    with pytest.raises(IndexError):
        hashtree.parent(0)


def test_bad_construction():
    with pytest.raises(ValueError, match="at least one leaf"):
        HashTree([])
    with pytest.raises(ValueError, match="leaf 1 must be 32 bytes"):
        HashTree([leaf(0), b"short"])
    with pytest.raises(ValueError, match="at least one leaf"):
        IncompleteHashTree(0)


def anchored(n):
    full = HashTree(leaves(n))
    iht = IncompleteHashTree(n)
    iht.set_hashes({0: full[0]})
    return full, iht


def test_incomplete_basic_chain():
    full, iht = anchored(10)
    assert iht.get_leaf(3) is None
    assert iht.needed_hashes(3, include_leaf=True) == full.needed_hashes(3, include_leaf=True)
    iht.set_hashes(full.chain(3, include_leaf=True))
    assert iht.get_leaf(3) == leaf(3)
    assert iht.needed_hashes(3, include_leaf=True) == set()
    # leaf 2 (node 17) is leaf 3's sibling, so it came with the chain
    assert iht.get_leaf(2) == leaf(2)
    assert iht.needed_hashes(2, include_leaf=True) == set()
    # leaf 0 (node 15) needs itself and its sibling; node 7 above them is known
    assert iht.needed_hashes(0, include_leaf=True) == {15, 16}
    assert iht.needed_hashes(0) == {16}
    iht.set_hashes({16: leaf(1)}, leaves={0: leaf(0)})
    assert iht.get_leaf(0) == leaf(0) and iht.get_leaf(1) == leaf(1)


def test_needed_hashes_stops_at_known_ancestor():
    full, iht = anchored(8)
    iht.set_hashes({1: full[1], 2: full[2]})
    # leaf 0 = node 7; path 7,3,1: node 1 known, so only 8 and 4 are needed
    assert iht.needed_hashes(0) == {8, 4}
    assert iht.needed_hashes(0, include_leaf=True) == {7, 8, 4}


def test_full_tree_at_once():
    full, iht = anchored(13)
    iht.set_hashes(dict(enumerate(full)))
    assert list(iht) == list(full)


def test_root_given_together_with_others():
    full = HashTree(leaves(6))
    iht = IncompleteHashTree(6)
    chain = full.chain(4, include_leaf=True)
    chain[0] = full[0]
    iht.set_hashes(chain)
    assert iht.get_leaf(4) == leaf(4)


def test_root_must_come_first():
    full = HashTree(leaves(4))
    iht = IncompleteHashTree(4)
    with pytest.raises(NotEnoughHashesError, match="root hash must be set first"):
        iht.set_hashes(full.chain(1, include_leaf=True))
    assert iht.get_root() is None


def test_missing_sibling():
    full, iht = anchored(8)
    chain = full.chain(5, include_leaf=True)
    del chain[full.first_leaf_num + 4]            # the leaf's own sibling
    with pytest.raises(NotEnoughHashesError, match="cannot check node 12 \\(leaf 5\\)") as e:
        iht.set_hashes(chain)
    assert e.value.missing == 11
    assert all(iht[i] is None for i in range(1, len(iht)))


def test_bad_leaf_names_leaf():
    full, iht = anchored(8)
    chain = full.chain(5, include_leaf=True)
    chain[12] = leaf(99)
    # the only check that can fail is at the root, the only trusted node
    with pytest.raises(BadHashError, match="hash mismatch at node 0: .*node 12 \\(leaf 5\\)") as e:
        iht.set_hashes(chain)
    # leaves 4 and 5 both came in as hashes: which one is wrong cannot be told
    assert e.value.node == 0 and e.value.leaf is None and e.value.leaves == [4, 5]
    with pytest.raises(BadHashError) as e:
        iht.set_hashes(full.chain(5), leaves={5: leaf(99)})
    assert e.value.leaf == 5
    assert all(iht[i] is None for i in range(1, len(iht)))


def test_bad_leaf_via_leaves_argument():
    full, iht = anchored(4)
    with pytest.raises(NotEnoughHashesError, match="cannot check node 3 \\(leaf 0\\)"):
        iht.set_hashes(full.chain(1))     # the chain alone lacks leaf 1, leaf 0's sibling
    with pytest.raises(BadHashError) as e:
        iht.set_hashes(full.chain(1), leaves={1: leaf(50)})
    assert e.value.leaf == 1
    assert iht.get_leaf(1) is None and iht.get_leaf(0) is None
    iht.set_hashes(full.chain(1), leaves={1: leaf(1)})
    assert iht.get_leaf(1) == leaf(1)


def test_conflict_with_known_value():
    full, iht = anchored(4)
    iht.set_hashes(full.chain(0, include_leaf=True))
    with pytest.raises(BadHashError, match="node 4 \\(leaf 1\\) does not match the value already proven"):
        iht.set_hashes({4: leaf(77)})
    with pytest.raises(BadHashError, match="node 0 does not match"):
        iht.set_hashes({0: leaf(77)})
    iht.set_hashes({4: leaf(1)})   # same value again is fine


def test_conflict_hashes_vs_leaves_in_one_call():
    full, iht = anchored(4)
    with pytest.raises(BadHashError, match="two different values"):
        iht.set_hashes({3: leaf(0)}, leaves={0: leaf(1)})


def test_single_leaf_incomplete():
    iht = IncompleteHashTree(1)
    iht.set_hashes({0: leaf(0)})
    assert iht.get_leaf(0) == leaf(0)
    assert iht.needed_hashes(0, include_leaf=True) == set()
    with pytest.raises(BadHashError) as e:
        iht.set_hashes(leaves={0: leaf(1)})
    assert e.value.node == 0 and e.value.leaf == 0


def test_bad_indices_and_values():
    full, iht = anchored(3)
    with pytest.raises(HashIndexError, match="outside this tree of 7 nodes"):
        iht.set_hashes({7: leaf(0)})
    with pytest.raises(IndexError):            # HashIndexError is also an IndexError
        iht.set_hashes({-1: leaf(0)})
    with pytest.raises(HashIndexError, match="leaf number 3 is outside"):
        iht.set_hashes(leaves={3: leaf(0)})
    with pytest.raises(BadHashError, match="must be 32 bytes, got 5 bytes"):
        iht.set_hashes({1: b"short"})
    with pytest.raises(BadHashError, match="got str"):
        iht.set_hashes({1: "x" * 32})
    with pytest.raises(IndexError):
        iht.get_leaf(3)
    assert all(isinstance(c, type) and issubclass(c, HashTreeError)
               for c in (BadHashError, NotEnoughHashesError, HashIndexError))


def test_filler_leaf_mismatch_detected():
    # A reader given a full tree whose filler leaves are wrong rejects it.
    full, iht = anchored(5)
    nodes = dict(enumerate(full))
    nodes[13] = leaf(1234)
    with pytest.raises(BadHashError, match="node 6"):
        iht.set_hashes(nodes)


def test_many_leaves_incremental_hashes_each_node_a_bounded_number_of_times(monkeypatch):
    # Adding leaves one by one recomputes only the ancestors of the new
    # nodes: at most twice per internal node over the whole run (once per
    # child's arrival), not once per leaf for every node of the tree.
    n = 4096
    full, iht = anchored(n)
    hashed = []
    real_hash = hashtree.internal_node_hash

    def counting_hash(left, right):
        hashed.append(1)
        return real_hash(left, right)

    monkeypatch.setattr(hashtree, "internal_node_hash", counting_hash)
    asked = set()
    for j in range(n):
        needed = iht.needed_hashes(j, include_leaf=True)
        assert not needed & asked, "asked again for nodes it already holds"
        asked |= needed
        iht.set_hashes({i: full[i] for i in needed})
    assert len(hashed) <= 2 * (n - 1)
    assert list(iht) == list(full)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_property_chains_validate_and_flips_are_rejected(data):
    n = data.draw(st.integers(min_value=1, max_value=40), label="num_leaves")
    ls = [hashlib.sha256(b"%d-%d" % (n, i)).digest() for i in range(n)]
    full = HashTree(ls)
    assert full[0] == ref_root(ref_padded_row(ls))
    j = data.draw(st.integers(min_value=0, max_value=n - 1), label="leaf")
    include_leaf = data.draw(st.booleans(), label="include_leaf")
    chain = full.chain(j, include_leaf)

    iht = IncompleteHashTree(n)
    iht.set_hashes({0: full[0]})
    if include_leaf:
        iht.set_hashes(chain)
    else:
        iht.set_hashes(chain, leaves={j: ls[j]})
    assert iht.get_leaf(j) == ls[j]

    # Flip one byte of one hash of the chain (or of the leaf): rejected, nothing kept.
    fresh = IncompleteHashTree(n)
    fresh.set_hashes({0: full[0]})
    bad = dict(chain)
    bad_leaves = {} if include_leaf else {j: ls[j]}
    targets = sorted(bad) + (["leaf"] if bad_leaves else [])
    target = data.draw(st.sampled_from(targets), label="target")
    pos = data.draw(st.integers(min_value=0, max_value=31), label="byte")
    bit = data.draw(st.integers(min_value=0, max_value=7), label="bit")
    if target == "leaf":
        v = bad_leaves[j]
        bad_leaves[j] = v[:pos] + bytes([v[pos] ^ (1 << bit)]) + v[pos + 1:]
    else:
        v = bad[target]
        bad[target] = v[:pos] + bytes([v[pos] ^ (1 << bit)]) + v[pos + 1:]
    with pytest.raises(BadHashError):
        fresh.set_hashes(bad, leaves=bad_leaves)
    assert [fresh[i] for i in range(len(fresh))] == [full[0]] + [None] * (len(fresh) - 1)
    # and the good chain still goes in afterwards
    fresh.set_hashes(chain, leaves={} if include_leaf else {j: ls[j]})
    assert fresh.get_leaf(j) == ls[j]
