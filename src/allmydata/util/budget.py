"""A budget of bytes shared by concurrent tasks: :class:`ByteBudget`.

Work that holds data in memory while it runs (verifying a share, repairing
a file) takes its part of the budget before it starts and gives it back
when it ends; when the budget is spent, the next task waits.  So the memory
of many such tasks at once (a deep-check of a large tree) stays bounded.
"""

from collections import deque

from twisted.internet import defer


class ByteBudget:
    """``limit`` bytes that tasks take parts of; a task asking for more than
    is free waits until enough is given back."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("a budget needs at least one byte")
        self.limit = limit
        self.used = 0
        self._waiting: deque = deque()

    async def acquire(self, n: int) -> int:
        """Take ``n`` bytes (at most the whole budget, at least one);
        returns what was taken, to be given to :meth:`release`."""
        n = max(1, min(n, self.limit))
        while self.used + n > self.limit:
            d = defer.Deferred()
            self._waiting.append(d)
            await d
        self.used += n
        return n

    def release(self, n: int) -> None:
        if n > self.used:
            raise ValueError("releasing %d bytes of a budget of which %d are used"
                             % (n, self.used))
        self.used -= n
        waiting, self._waiting = self._waiting, deque()
        for d in waiting:
            d.callback(None)
