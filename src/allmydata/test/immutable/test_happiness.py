"""Tests of servers-of-happiness and share placement (immutable/happiness.py)."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from allmydata.immutable.happiness import (
    maximum_matching,
    placement_sharemap,
    servers_of_happiness,
    share_placement,
)

SERVERS = [b"%c" % c * 20 for c in b"ABCDEFGHIJ"]


def brute_force_matching(sharemap) -> int:
    """The largest number of shares that can each be given a different
    server, by trying every choice (only for small graphs)."""
    shares = sorted(sharemap)

    def best(i, used):
        if i == len(shares):
            return 0
        result = best(i + 1, used)  # leave this share out
        for server in sharemap[shares[i]]:
            if server not in used:
                result = max(result, 1 + best(i + 1, used | {server}))
        return result

    return best(0, frozenset())


small_sharemaps = st.dictionaries(
    st.integers(0, 5), st.sets(st.sampled_from(SERVERS[:5]), max_size=5), max_size=6)


@st.composite
def situations(draw):
    """(servers in order, read-only ones, shares, existing holdings)."""
    servers = draw(st.lists(st.sampled_from(SERVERS[:6]), unique=True, max_size=6))
    readonly = draw(st.sets(st.sampled_from(servers))) if servers else set()
    n = draw(st.integers(1, 7))
    existing = {s: draw(st.sets(st.integers(0, n - 1), max_size=n)) for s in servers}
    return servers, readonly, range(n), existing


def check_matching(sharemap, matching):
    assert len(set(matching.values())) == len(matching)  # each server once
    for shnum, server in matching.items():
        assert server in sharemap[shnum]


# ---- servers_of_happiness ---------------------------------------------------------

@given(small_sharemaps)
@settings(max_examples=300, deadline=None)
def test_happiness_is_the_maximum_matching(sharemap):
    assert servers_of_happiness(sharemap) == brute_force_matching(sharemap)
    check_matching(sharemap, maximum_matching(sharemap, sorted(sharemap)))


def test_happiness_examples():
    a, b, c = SERVERS[:3]
    assert servers_of_happiness({}) == 0
    assert servers_of_happiness({0: set()}) == 0
    assert servers_of_happiness({0: {a}, 1: {a}, 2: {a}}) == 1
    assert servers_of_happiness({0: {a}, 1: {b}, 2: {c}}) == 3
    # one server holding everything counts once, however many shares it has
    assert servers_of_happiness({i: {a, b} for i in range(10)}) == 2
    # the greedy choice 0->a must be undone to reach 3
    assert servers_of_happiness({0: {a, b}, 1: {a}, 2: {b, c}}) == 3


def test_matching_needs_long_augmenting_paths():
    # a chain where every new share pushes all earlier ones along by one
    servers = SERVERS[:8]
    sharemap = {i: {servers[i], servers[i + 1]} for i in range(7)}
    sharemap[7] = {servers[0]}
    matching = maximum_matching(sharemap, sorted(sharemap, reverse=True))
    check_matching(sharemap, matching)
    assert len(matching) == 8


def test_matching_prefers_earlier_left_vertices():
    a, b, c = SERVERS[:3]
    # three servers compete for two shares: the first two win
    adjacency = {c: {0, 1}, a: {0, 1}, b: {0, 1}}
    assert set(maximum_matching(adjacency, [a, b, c])) == {a, b}
    assert set(maximum_matching(adjacency, [c, b, a])) == {c, b}


def test_large_dense_matching_is_quick():
    servers = [b"%020d" % i for i in range(512)]
    sharemap = {shnum: set(servers) for shnum in range(256)}
    assert servers_of_happiness(sharemap) == 256


# ---- share_placement --------------------------------------------------------------

def best_possible(servers, readonly, shares, existing) -> int:
    """The best happiness any placement could reach: read-only servers keep
    their shares, writable ones could take any share."""
    graph = {shnum: set() for shnum in shares}
    for s in servers:
        for shnum in shares:
            if s not in readonly or shnum in existing.get(s, ()):
                graph[shnum].add(s)
    return brute_force_matching(graph)


@given(situations())
@settings(max_examples=300, deadline=None)
def test_placement_properties(situation):
    servers, readonly, shares, existing = situation
    placement = share_placement(servers, readonly, shares, existing)
    writable = [s for s in servers if s not in readonly]
    # a read-only server only keeps what it holds
    for shnum, server in placement.items():
        assert server in servers
        if server in readonly:
            assert shnum in existing[server]
    # with a writable server, every share has a place
    if writable:
        assert sorted(placement) == list(shares)
    # the placement is as happy as the situation allows
    achieved = servers_of_happiness(placement_sharemap(placement, existing))
    assert achieved == best_possible(servers, readonly, shares, existing)
    # deterministic
    assert share_placement(servers, readonly, shares, existing) == placement


@given(st.integers(1, 10), st.integers(1, 30))
@settings(max_examples=100, deadline=None)
def test_fresh_placement_spreads_evenly(num_servers, n):
    servers = SERVERS[:num_servers]
    placement = share_placement(servers, set(), range(n))
    loads = [list(placement.values()).count(s) for s in servers]
    assert max(loads) - min(loads) <= 1
    assert servers_of_happiness(placement_sharemap(placement)) == min(n, num_servers)


def test_fresh_placement_prefers_earlier_servers_then_round_robin():
    a, b, c, d, e = SERVERS[:5]
    assert share_placement([a, b, c, d, e], set(), range(3)) == {0: a, 1: b, 2: c}
    assert share_placement([c, b, a], set(), range(7)) == {
        0: c, 1: b, 2: a, 3: c, 4: b, 5: a, 6: c}


def test_existing_shares_stay_where_they_are():
    a, b, c = SERVERS[:3]
    # b already has shares 0 and 2; the read-only a has 1
    placement = share_placement([a, b, c], {a}, range(4), {a: {1}, b: {0, 2}})
    assert placement[1] == a
    assert placement[0] == b
    assert placement[2] == b  # left over, but already on b: no new copy
    assert placement[3] == c
    assert servers_of_happiness(placement_sharemap(placement, {a: {1}, b: {0, 2}})) == 3


def test_readonly_servers_get_only_what_they_hold():
    a, b = SERVERS[:2]
    placement = share_placement([a, b], {a, b}, range(3), {a: {0, 1}, b: {1}})
    assert placement == {0: a, 1: b}  # share 2 has nowhere to go
    assert share_placement([a, b], {a, b}, range(3)) == {}


def test_leftovers_go_to_the_least_loaded_writable_server():
    a, b, c = SERVERS[:3]
    # a holds three shares already, so the homeless ones go to b and c first
    existing = {a: {0, 1, 2}}
    placement = share_placement([a, b, c], set(), range(6), existing)
    assert placement[0] == a and placement[1] == a and placement[2] == a
    moved = [placement[s] for s in (3, 4, 5)]
    assert sorted(moved.count(s) for s in (b, c)) == [1, 2]
    assert servers_of_happiness(placement_sharemap(placement, existing)) == 3


def test_every_combination_of_two_servers_and_two_shares():
    # exhaustive: all holdings and read-only sets for 2 servers x 2 shares
    a, b = SERVERS[:2]
    holdings = [set(), {0}, {1}, {0, 1}]
    for ha, hb in itertools.product(holdings, holdings):
        for readonly in [set(), {a}, {b}, {a, b}]:
            existing = {a: ha, b: hb}
            placement = share_placement([a, b], readonly, range(2), existing)
            achieved = servers_of_happiness(placement_sharemap(placement, existing))
            assert achieved == best_possible([a, b], readonly, range(2), existing)
