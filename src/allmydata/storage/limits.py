"""How much a storage server accepts from one client in one call, and why.

A storage server treats every client as hostile: whatever one call can make
it hold in memory or promise on disk is bounded here, at what honest
clients (ours, and Tahoe-LAFS 1.20's) send.  The Foolscap schema of
:mod:`.interfaces` enforces the bounds on strings and list lengths while a
message arrives; the server's own checks enforce the rest before doing
anything, for callers in this process too.

Share data in one call
    The largest piece of share data one call carries in, or one answer
    carries out, is :data:`MAX_CALL_SHARE_DATA` (64 MiB).

    * An immutable upload writes about 1 MB per call plus the piece that
      crossed that mark: a block (at most one 1 MiB segment) or one whole
      hash tree.  A hash tree holds ``2 * 2**ceil(log2(segments)) - 1``
      hashes of 32 bytes, so 64 MiB takes the trees of files up to 512 GiB
      at Tahoe-LAFS's 1 MiB segments (the uploaders of both clients write a
      tree in one call).
    * A Tahoe-LAFS 1.20 client writes a whole mutable share in one
      ``slot_testv_and_readv_and_writev`` (SDMF: one data vector; MDMF: one
      data vector per segment plus a few): mutable shares up to 64 MiB, that
      is mutable files up to ``k * 64 MiB``.  Our client sends MDMF versions
      of more than a few segments in calls of a few MiB, and whole shares
      otherwise.
    * A reader asks for a whole SDMF block in one read vector, so
      ``slot_readv`` and ``read`` answer up to the same amount; reads past
      the end of a share are cut short and count only what they return.

Vectors
    Tahoe-LAFS's own storage protocol allows 30 test vectors and 30 read
    vectors per call; its clients send a handful.  A test compares at most
    :data:`MAX_TEST_LENGTH` bytes: the checkstrings clients test are 41
    (MDMF) or 57 (SDMF) bytes long.

Corruption reports
    A reason is at most 32,765 bytes: what Tahoe-LAFS's storage protocol
    allows for one.

Space
    A connection (an uploader's canary) may hold allocated and not yet
    written at most half of the space that other uploads leave free
    (:func:`connection_may_promise`): an uploader that asks for all free
    space and never writes leaves the other half to everybody else, and
    loses what it holds when its connection goes.  The version dictionary's
    ``maximum-immutable-share-size`` says as much: half of the room.  Only
    a write of new bytes keeps an upload from its idle timeout.

Leases
    A share holds at most :data:`MAX_LEASES_PER_SHARE` leases (each costs
    72 or 92 bytes on disk and a read on every lease operation).
"""

#: bytes of share data one call may carry in or out (see above)
MAX_CALL_SHARE_DATA = 64 * 1024 * 1024

#: what one inbound Foolscap call may cost to receive: its share data, plus
#: :data:`TOKEN_COST` for every object it is made of (room for a Tahoe-LAFS
#: MDMF share of 64 MiB sent as one data vector per 128 KiB segment, three
#: objects per vector, with k up to 255)
MAX_CALL_COST = MAX_CALL_SHARE_DATA + 32 * 1024 * 1024
#: what a received object costs in memory beside its bytes (a tuple, an
#: int, a bytes header and a list slot are each a few dozen bytes)
TOKEN_COST = 64

#: test vectors per share and read vectors per call (Tahoe-LAFS's limit)
MAX_VECTORS = 30
#: data vectors per share: a Tahoe-LAFS MDMF share of 64 MiB in 128 KiB
#: segments with k up to 255 (blocks of 514 bytes plus a 16-byte salt)
MAX_DATA_VECTORS = 131_072
#: bytes one test vector may compare (and its specimen's length)
MAX_TEST_LENGTH = 4096

#: the longest reason a corruption report may give, in bytes
MAX_CORRUPTION_REASON = 32_765
#: corruption reports kept per share; further ones are logged, not stored
MAX_ADVISORIES_PER_SHARE = 10

#: leases one share may hold
MAX_LEASES_PER_SHARE = 1000


def connection_may_promise(held: int, wanted: int, others_room: int) -> bool:
    """May a connection that holds ``held`` bytes allocated and unwritten be
    promised ``wanted`` more, when ``others_room`` bytes are free for
    uploads once other connections' promises are set aside?  Only while it
    would hold at most half of that room."""
    return 2 * (held + wanted) <= others_room
