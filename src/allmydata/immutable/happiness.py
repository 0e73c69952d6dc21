"""Servers-of-happiness and share placement (docs/specifications/servers.md §4, §5), as pure functions.

*Servers-of-happiness* measures how well the shares of an immutable file are
spread: build the bipartite graph "share number -- server" with an edge
wherever a server holds (or is about to hold) that share; the happiness is
the size of a maximum matching of that graph, i.e. the largest number of
servers that can each be credited with a different share.  An upload is good
enough when that number reaches ``shares.happy``.

:func:`share_placement` decides where each share should go, given the servers
in permuted-ring order, which of them cannot take new shares, and which shares
they already hold.  It runs three maximum matchings, each preferring earlier
servers, and then spreads the shares left over:

(a) read-only servers  <->  the shares they already hold;
(b) writable servers   <->  the shares they already hold (minus those of (a));
(c) writable servers not used in (b)  <->  the shares still unmatched
    (shares no server holds yet are taken first);

then every share still without a place stays on a server that already holds
it (earliest first), or, if none holds it, goes to the writable server with
the fewest shares so far (earliest first) -- an even spread which turns into a
round-robin once every writable server has the same number.

The result reaches the best happiness the situation allows: (a) credits as
many read-only servers as possible, and every writable server can take any
share, so ``min(matched in (a) + writable servers, shares)`` servers end up
credited with a distinct share, which no placement can beat.

Everything here is synchronous and deterministic: the same input always gives
the same placement.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence

__all__ = ["maximum_matching", "placement_sharemap", "servers_of_happiness", "share_placement"]


def maximum_matching(adjacency: Mapping[Hashable, Iterable[Hashable]],
                     left_order: Sequence[Hashable] | None = None,
                     right_key: Callable | None = None) -> dict:
    """A maximum matching of a bipartite graph, as ``{left: right}``.

    ``adjacency`` maps each left vertex to the right vertices it is joined
    to.  Left vertices are taken in ``left_order`` (default: the mapping's
    order) and each one is kept matched once matched (augmenting paths only
    change partners), so the set of matched left vertices is the
    lexicographically earliest one among all maximum matchings: earlier left
    vertices are preferred.  Right vertices are tried in sorted order (by
    ``right_key`` if given), so the answer is deterministic.
    """
    if left_order is None:
        left_order = list(adjacency)
    neighbours = {u: sorted(set(adjacency.get(u, ())), key=right_key) for u in left_order}
    owner: dict = {}  # right -> left
    partner: dict = {}  # left -> right

    def free_neighbour(u):
        return next((v for v in neighbours[u] if v not in owner), None)

    def flip(u, v, parent) -> None:
        # u takes the free v; each left vertex on the path back to the root
        # takes the right vertex its successor gave up
        while u is not None:
            previous = partner.get(u)
            owner[v] = u
            partner[u] = v
            u, v = parent[u], previous

    def augment(root) -> bool:
        # Iterative depth-first search for an augmenting path from ``root``.
        # A free right neighbour is taken as soon as a left vertex is reached
        # (cheap on the dense graphs of step (c)); otherwise the search goes
        # on through the left vertex owning each neighbour.
        parent = {root: None}
        visited = set()  # right vertices already explored
        free = free_neighbour(root)
        if free is not None:
            flip(root, free, parent)
            return True
        stack = [(root, iter(neighbours[root]))]
        while stack:
            u, it = stack[-1]
            for v in it:
                if v in visited:
                    continue
                visited.add(v)
                w = owner[v]
                if w in parent:
                    continue
                parent[w] = u
                free = free_neighbour(w)
                if free is not None:
                    flip(w, free, parent)
                    return True
                stack.append((w, iter(neighbours[w])))
                break
            else:
                stack.pop()
        return False

    for u in left_order:
        if u not in partner:
            augment(u)
    return partner


def servers_of_happiness(sharemap: Mapping[int, Iterable[Hashable]]) -> int:
    """The happiness of ``{shnum: set(serverid)}``: the size of a maximum
    matching between share numbers and servers."""
    return len(maximum_matching(sharemap, sorted(sharemap)))


def placement_sharemap(placement: Mapping[int, Hashable],
                       existing: Mapping[Hashable, Iterable[int]] = {}) -> dict:
    """``{shnum: set(serverid)}`` for a placement plus the shares already held."""
    sharemap: dict = {}
    for serverid, shnums in existing.items():
        for shnum in shnums:
            sharemap.setdefault(shnum, set()).add(serverid)
    for shnum, serverid in placement.items():
        sharemap.setdefault(shnum, set()).add(serverid)
    return sharemap


def share_placement(servers: Sequence[Hashable], readonly_servers: Iterable[Hashable],
                    shares: Iterable[int],
                    existing: Mapping[Hashable, Iterable[int]] = {},
                    forbidden: Mapping[Hashable, Iterable[int]] = {}) -> dict:
    """Where each share should go: ``{shnum: serverid}``.

    * ``servers``: every usable server id, in permuted-ring order (earlier
      servers are preferred);
    * ``readonly_servers``: those among them that take no new shares (they
      only keep what they hold);
    * ``shares``: the share numbers to place (usually ``range(N)``);
    * ``existing``: ``{serverid: shares it already holds}``; servers not in
      ``servers`` and shares not in ``shares`` are ignored;
    * ``forbidden``: ``{serverid: shares it must not be given}`` (a repair:
      the server holds a corrupt copy of the share, which it will not
      replace); such a share does not count as held there either.

    A read-only server is only ever given a share it already holds.  Every
    share gets a place when at least one server is writable; otherwise the
    shares no read-only server holds are left out of the result.
    """
    order = list(dict.fromkeys(servers))
    position = {s: i for i, s in enumerate(order)}
    readonly = set(readonly_servers) & set(order)
    writable = [s for s in order if s not in readonly]
    wanted = sorted(set(shares))
    wanted_set = set(wanted)
    banned = {s: set(forbidden.get(s, ())) for s in order}
    held = {s: (set(existing.get(s, ())) & wanted_set) - banned[s] for s in order}

    # (a) read-only servers <-> the shares they hold
    placement = _invert(maximum_matching({s: held[s] for s in order if s in readonly},
                                         [s for s in order if s in readonly]))
    # (b) writable servers <-> the shares they hold that (a) did not place
    left = wanted_set - set(placement)
    matched_b = maximum_matching({s: held[s] & left for s in writable}, writable)
    placement.update(_invert(matched_b))
    # (c) the other writable servers <-> the shares nobody was matched to,
    # those that no server holds first (fewer needless copies)
    left = wanted_set - set(placement)
    anywhere = set().union(*held.values())
    unused = [s for s in writable if s not in matched_b]
    placement.update(_invert(maximum_matching({s: left - banned[s] for s in unused}, unused,
                                              lambda shnum: (shnum in anywhere, shnum))))

    # leftovers: keep them where they already are, else spread them evenly
    load = {s: 0 for s in writable}
    for serverid in placement.values():
        if serverid in load:
            load[serverid] += 1
    for shnum in wanted:
        if shnum in placement:
            continue
        holders = [s for s in order if shnum in held[s]]
        if holders:
            target = holders[0]
        else:
            allowed = [s for s in writable if shnum not in banned[s]]
            if not allowed:
                continue
            target = min(allowed, key=lambda s: (load[s], position[s]))
        placement[shnum] = target
        if target in load:
            load[target] += 1
    return dict(sorted(placement.items()))


def _invert(matching: Mapping) -> dict:
    return {right: left for left, right in matching.items()}
