"""What every part of the mutable-file code shares: constants, errors, keys.

Mutable files (docs/specifications/mutable-shares.md) come in two share formats, SDMF (version byte
0, one segment) and MDMF (version byte 1, 128 KiB segments).  Both are owned
by an RSA-2048 key pair from which a chain of hashes derives every other key
(docs/specifications/encodings.md §4.2):

    privkey (PKCS#8 DER) -> writekey -> readkey -> storage index
    pubkey (SPKI DER) -> fingerprint

:class:`MutableKeys` holds whatever part of that chain a cap gives access to
(a write cap knows the writekey and all below it, a read cap the readkey and
below, a verify cap only the storage index), plus the key objects once they
are known, and derives the per-server write enablers and lease secrets.

API::

    SDMF_VERSION, MDMF_VERSION, MDMF_SEGMENT_SIZE, MODE_CHECK, MODE_ANYTHING,
    MODE_WRITE, MODE_READ, MODE_REPAIR
    MutableFileError > NotCapableError, UncoordinatedWriteError,
        UnrecoverableFileError > VersionChangedError, NotEnoughServersError, BadShareError >
        (CorruptShareError, LayoutInvalid), PrivateKeyMismatchError, NotWriteableError
    MutableKeys.from_privkey(priv) / from_writekey(writekey, fingerprint) /
        from_readkey(readkey, fingerprint) / from_storage_index(si, fingerprint) /
        from_cap(cap)
    keys.write_enabler(serverid) / renew_secret(client_renew, serverid) /
        cancel_secret(client_cancel, serverid) / writecap(version) / readcap(version) /
        verifycap(version) / datakey(salt) / with_keypair(priv, pub) /
        encrypted_privkey() / privkey_from_encrypted(enc) / check_pubkey(pubkey_der)
    encrypt_privkey(writekey, privkey_der) -> bytes
    decrypt_privkey(writekey, enc) -> PrivateKey (PrivateKeyMismatchError)
"""

import attr

from allmydata import interfaces, uri
from allmydata.crypto import aes, rsa
from allmydata.util import hashutil

SDMF_VERSION = 0
MDMF_VERSION = 1
MDMF_SEGMENT_SIZE = 131072

MODE_CHECK = "MODE_CHECK"        # query all servers, look at every share
MODE_ANYTHING = "MODE_ANYTHING"  # one recoverable version of any kind
MODE_WRITE = "MODE_WRITE"        # every share we might overwrite
MODE_READ = "MODE_READ"          # enough to read the best version
MODE_REPAIR = "MODE_REPAIR"      # like MODE_CHECK, fetching private keys too

__all__ = ["SDMF_VERSION", "MDMF_VERSION", "MDMF_SEGMENT_SIZE", "MODE_CHECK", "MODE_ANYTHING",
           "MODE_WRITE", "MODE_READ", "MODE_REPAIR", "MutableFileError", "NotCapableError",
           "UncoordinatedWriteError", "UnrecoverableFileError", "VersionChangedError",
           "NotEnoughServersError",
           "BadShareError", "CorruptShareError", "LayoutInvalid", "PrivateKeyMismatchError",
           "NotWriteableError", "MutableKeys", "encrypt_privkey", "decrypt_privkey",
           "version_name"]


def version_name(version) -> str:
    return {SDMF_VERSION: "SDMF", MDMF_VERSION: "MDMF"}.get(version, "version %r" % (version,))


# ---- errors ---------------------------------------------------------------------------
class MutableFileError(Exception):
    """Base class of the errors of mutable files."""


class NotCapableError(MutableFileError, interfaces.NotCapableError):
    """A write was attempted through a read-only cap."""

    def __init__(self, message="this mutable file was opened with a read-only cap; "
                               "writing needs its write cap"):
        super().__init__(message)


class NotWriteableError(MutableFileError):
    """The node cannot be written for a reason other than its cap (e.g. no private key)."""


class UncoordinatedWriteError(MutableFileError):
    """Someone else changed the file while we were writing it.

    Our shares and another writer's now disagree; reading again and repeating
    the change (or running a repair) settles on one version.
    """


class UnrecoverableFileError(MutableFileError):
    """No version of the file has enough good shares to be read."""


class VersionChangedError(UnrecoverableFileError):
    """The version being read was replaced on the servers while it was read.

    Another writer changed the file; reading again (with a new server map)
    finds the new version.
    """


class NotEnoughServersError(MutableFileError):
    """Too few storage servers are connected (or accepted shares) to place the file."""

    def __init__(self, message, first_error=None):
        super().__init__(message)
        self.first_error = first_error


class BadShareError(MutableFileError):
    """A share's bytes cannot be what they claim to be."""


class LayoutInvalid(BadShareError):
    """A share is truncated or its header holds impossible values."""


class CorruptShareError(BadShareError):
    """A share failed a check against the signature or the hash trees.

    ``server`` names the server that held it (any printable object, or None),
    ``shnum`` is its share number and ``reason`` says which field failed.
    """

    def __init__(self, server, shnum, reason):
        self.server = server
        self.shnum = shnum
        self.reason = reason
        where = "share %s" % (shnum,)
        if server is not None:
            name = server.get_name() if hasattr(server, "get_name") else server
            if isinstance(name, bytes):
                name = name.decode("ascii", "replace")
            where += " on server %s" % (name,)
        super().__init__("%s is corrupt: %s" % (where, reason))


class PrivateKeyMismatchError(MutableFileError):
    """The encrypted private key in a share does not decrypt to this file's key."""


# ---- keys -----------------------------------------------------------------------------
def encrypt_privkey(writekey: bytes, privkey_der: bytes) -> bytes:
    """The private key as a share stores it: AES-128-CTR(writekey) over the PKCS#8 DER."""
    return aes.ctr_encrypt(writekey, privkey_der)


def decrypt_privkey(writekey: bytes, enc_privkey: bytes):
    """Decrypt a share's encrypted private key and check that it hashes to ``writekey``."""
    der = aes.ctr_decrypt(writekey, bytes(enc_privkey))
    if hashutil.ssk_writekey_hash(der) != writekey:
        raise PrivateKeyMismatchError(
            "the encrypted private key (%d bytes) in the share does not decrypt to the key "
            "of this write cap (its hash is not the writekey)" % len(enc_privkey))
    try:
        # its hash is the cap's write key: it is this file's key, no need to validate it
        return rsa.private_key_from_der(der, validate=False)
    except rsa.BadKeyError as e:
        raise PrivateKeyMismatchError("the decrypted private key does not load: %s" % e) from None


_CAP_CLASSES = {
    SDMF_VERSION: (uri.WriteableSSKFileURI, uri.ReadonlySSKFileURI, uri.SSKVerifierURI),
    MDMF_VERSION: (uri.WriteableMDMFFileURI, uri.ReadonlyMDMFFileURI, uri.MDMFVerifierURI),
}


def _cap_classes(version):
    try:
        return _CAP_CLASSES[version]
    except KeyError:
        raise ValueError("unknown mutable format %r (expected SDMF_VERSION=0 or MDMF_VERSION=1)"
                         % (version,)) from None


@attr.s(frozen=True, repr=False)
class MutableKeys:
    """The keys of one mutable file, as far as the holder can know them.

    ``writekey`` is None below a write cap, ``readkey`` None for a verify cap;
    ``privkey``/``pubkey`` are key objects once known (the privkey is fetched
    from a share for a write cap opened without it; the pubkey comes from any
    share and is checked against ``fingerprint``).
    """

    storage_index = attr.ib()
    fingerprint = attr.ib()
    readkey = attr.ib(default=None)
    writekey = attr.ib(default=None)
    privkey = attr.ib(default=None, eq=False)
    pubkey = attr.ib(default=None, eq=False)

    def __repr__(self):
        return "<MutableKeys SI=%s %s>" % (
            uri.base32.b2a(self.storage_index).decode("ascii"),
            "writeable" if self.writekey else "readonly" if self.readkey else "verify-only")

    # -- constructors ------------------------------------------------------------------
    @classmethod
    def from_privkey(cls, privkey, pubkey=None):
        pubkey = pubkey if pubkey is not None else rsa.public_of(privkey)
        writekey = hashutil.ssk_writekey_hash(rsa.private_key_to_der(privkey))
        fingerprint = hashutil.ssk_pubkey_fingerprint_hash(rsa.public_key_to_der(pubkey))
        return cls.from_writekey(writekey, fingerprint)._replace(privkey=privkey, pubkey=pubkey)

    @classmethod
    def from_writekey(cls, writekey, fingerprint):
        readkey = hashutil.ssk_readkey_hash(writekey)
        return cls(hashutil.ssk_storage_index_hash(readkey), fingerprint, readkey, writekey)

    @classmethod
    def from_readkey(cls, readkey, fingerprint):
        return cls(hashutil.ssk_storage_index_hash(readkey), fingerprint, readkey)

    @classmethod
    def from_storage_index(cls, storage_index, fingerprint):
        return cls(storage_index, fingerprint)

    @classmethod
    def from_cap(cls, cap):
        """From any SSK/MDMF write, read or verify cap object of uri.py."""
        if getattr(cap, "writekey", None) is not None:
            return cls.from_writekey(cap.writekey, cap.fingerprint)
        if getattr(cap, "readkey", None) is not None:
            return cls.from_readkey(cap.readkey, cap.fingerprint)
        if isinstance(cap, uri.SSKVerifierURI):
            return cls.from_storage_index(cap.storage_index, cap.fingerprint)
        raise TypeError("%r is not a mutable file cap" % (cap,))

    def _replace(self, **changes):
        return attr.evolve(self, **changes)

    def with_keypair(self, privkey=None, pubkey=None):
        """A copy that also holds these key objects (checked against the hashes)."""
        new = self
        if pubkey is not None:
            self.check_pubkey(rsa.public_key_to_der(pubkey))
            new = new._replace(pubkey=pubkey)
        if privkey is not None:
            if self.writekey is None or \
                    hashutil.ssk_writekey_hash(rsa.private_key_to_der(privkey)) != self.writekey:
                raise PrivateKeyMismatchError("this private key does not belong to this file")
            new = new._replace(privkey=privkey)
        return new

    # -- capabilities --------------------------------------------------------------------
    def is_writeable(self):
        return self.writekey is not None

    def check_pubkey(self, pubkey_der: bytes) -> None:
        """Raise BadShareError unless this SPKI DER hashes to the fingerprint."""
        if hashutil.ssk_pubkey_fingerprint_hash(bytes(pubkey_der)) != self.fingerprint:
            raise BadShareError("the verification key in the share does not match the "
                                "fingerprint of the cap")

    def writecap(self, version=SDMF_VERSION):
        if self.writekey is None:
            raise NotCapableError("no write cap: these keys come from a read or verify cap")
        return _cap_classes(version)[0](self.writekey, self.fingerprint)

    def readcap(self, version=SDMF_VERSION):
        if self.readkey is None:
            raise NotCapableError("no read cap: these keys come from a verify cap")
        return _cap_classes(version)[1](self.readkey, self.fingerprint)

    def verifycap(self, version=SDMF_VERSION):
        return _cap_classes(version)[2](self.storage_index, self.fingerprint)

    # -- derived secrets -----------------------------------------------------------------
    def write_enabler(self, serverid: bytes) -> bytes:
        """The write enabler for the server whose binary tubid is ``serverid`` (20 bytes)."""
        if self.writekey is None:
            raise NotCapableError("a write enabler needs the writekey (a write cap)")
        return hashutil.ssk_write_enabler_hash(self.writekey, serverid)

    def renew_secret(self, client_renewal_secret: bytes, serverid: bytes) -> bytes:
        f = hashutil.file_renewal_secret_hash(client_renewal_secret, self.storage_index)
        return hashutil.bucket_renewal_secret_hash(f, serverid)

    def cancel_secret(self, client_cancel_secret: bytes, serverid: bytes) -> bytes:
        f = hashutil.file_cancel_secret_hash(client_cancel_secret, self.storage_index)
        return hashutil.bucket_cancel_secret_hash(f, serverid)

    def datakey(self, salt: bytes) -> bytes:
        """The AES key of the data encrypted under ``salt`` (SDMF IV / MDMF segment salt)."""
        if self.readkey is None:
            raise NotCapableError("decrypting needs the readkey (a read or write cap)")
        return hashutil.ssk_readkey_data_hash(salt, self.readkey)

    def encrypted_privkey(self) -> bytes:
        if self.privkey is None:
            raise NotWriteableError("the private key of this file is not known")
        return encrypt_privkey(self.writekey, rsa.private_key_to_der(self.privkey))

    def privkey_from_encrypted(self, enc_privkey: bytes):
        if self.writekey is None:
            raise NotCapableError("decrypting the private key needs the writekey (a write cap)")
        return decrypt_privkey(self.writekey, enc_privkey)
