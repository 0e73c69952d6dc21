"""Lease records: what they hold, how both share containers lay them out, and
how a presented secret is matched against a stored one.

A lease keeps a share alive.  It carries an owner number, a renew secret, a
cancel secret and an expiration time (Unix seconds); mutable leases also
carry the tubid of the server that granted them.  Two byte layouts exist
(docs/specifications/containers.md §4)::

    immutable, 72 bytes:  >L owner | 32 renew | 32 cancel | >L expiration
    mutable,   92 bytes:  >L owner | >L expiration | 32 renew | 32 cancel | 20 nodeid

Containers of version 1 store the secrets as they were received; version 2
(what we create) stores ``BLAKE2b-256(secret)`` instead, so that a copy of
the disk does not hand out the power to renew or cancel.  A
:class:`SecretStorage` stands for one of those two policies; each container
picks the one its version calls for and uses it for every lease it writes
or matches.
"""

import struct

import attr

from ..util.hashutil import hash_lease_secret, timing_safe_compare

IMMUTABLE_LEASE_SIZE = 72
MUTABLE_LEASE_SIZE = 92
_IMMUTABLE = struct.Struct(">L32s32sL")
_MUTABLE = struct.Struct(">LL32s32s20s")
assert _IMMUTABLE.size == IMMUTABLE_LEASE_SIZE
assert _MUTABLE.size == MUTABLE_LEASE_SIZE

#: leases granted by allocate_buckets
OWNER_ALLOCATE = 0
#: leases granted by add_lease and by mutable writes
OWNER_CLIENT = 1

NO_NODEID = b"\x00" * 20


@attr.s(frozen=True, slots=True)
class SecretStorage:
    """How a container keeps lease secrets: in clear (v1) or hashed (v2)."""

    name = attr.ib()
    hashed = attr.ib()

    def stored_form(self, secret: bytes) -> bytes:
        """The bytes written to disk for a secret received from a client."""
        return hash_lease_secret(secret) if self.hashed else secret

    def matches(self, stored: bytes, presented: bytes) -> bool:
        """Does a secret presented by a client match a stored one?  Constant
        time in the stored bytes."""
        return timing_safe_compare(stored, self.stored_form(presented))


CLEAR_SECRETS = SecretStorage("clear", hashed=False)
HASHED_SECRETS = SecretStorage("blake2b-256", hashed=True)


@attr.s(frozen=True, slots=True)
class Lease:
    """One lease as it sits on disk: the secrets are in their stored form."""

    owner_num = attr.ib()
    stored_renew_secret = attr.ib()
    stored_cancel_secret = attr.ib()
    expiration_time = attr.ib()
    nodeid = attr.ib(default=NO_NODEID)

    @classmethod
    def grant(cls, storage: SecretStorage, owner_num: int, renew_secret: bytes,
              cancel_secret: bytes, expiration_time: int, nodeid: bytes = NO_NODEID):
        """A new lease from the secrets a client sent, stored as ``storage``
        says."""
        return cls(owner_num, storage.stored_form(renew_secret),
                   storage.stored_form(cancel_secret), int(expiration_time), nodeid)

    def renewed(self, expiration_time: int) -> "Lease":
        """This lease with its expiration pushed out to ``expiration_time``
        (a renewal never shortens a lease)."""
        return attr.evolve(self, expiration_time=max(self.expiration_time, int(expiration_time)))

    def has_renew_secret(self, storage: SecretStorage, renew_secret: bytes) -> bool:
        return storage.matches(self.stored_renew_secret, renew_secret)

    def has_cancel_secret(self, storage: SecretStorage, cancel_secret: bytes) -> bool:
        return storage.matches(self.stored_cancel_secret, cancel_secret)

    # ---- byte layouts -----------------------------------------------------------
    def to_immutable_bytes(self) -> bytes:
        return _IMMUTABLE.pack(self.owner_num, self.stored_renew_secret,
                               self.stored_cancel_secret, self.expiration_time)

    @classmethod
    def from_immutable_bytes(cls, data: bytes) -> "Lease":
        owner, renew, cancel, expiration = _IMMUTABLE.unpack(data)
        return cls(owner, renew, cancel, expiration)

    def to_mutable_bytes(self) -> bytes:
        return _MUTABLE.pack(self.owner_num, self.expiration_time,
                             self.stored_renew_secret, self.stored_cancel_secret, self.nodeid)

    @classmethod
    def from_mutable_bytes(cls, data: bytes) -> "Lease":
        owner, expiration, renew, cancel, nodeid = _MUTABLE.unpack(data)
        return cls(owner, renew, cancel, expiration, nodeid)


#: a free slot in a mutable container: all zeros (owner 0 means "free")
BLANK_MUTABLE_LEASE = b"\x00" * MUTABLE_LEASE_SIZE
