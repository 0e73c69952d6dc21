"""A :class:`ByteBudget` that records how much of it is in use after every
``acquire``, for tests that check concurrent work keeps within it."""

from allmydata.util.budget import ByteBudget


class WatchedBudget(ByteBudget):
    def __init__(self, limit: int):
        super().__init__(limit)
        self.used_after_acquire = []  # one entry per acquire, in order

    async def acquire(self, n: int) -> int:
        taken = await super().acquire(n)
        self.used_after_acquire.append(self.used)
        return taken
