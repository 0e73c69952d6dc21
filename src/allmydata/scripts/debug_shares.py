"""Reading share files for ``tahoe debug``: what ``dump-share`` prints and
the one-line summary ``catalog-shares`` prints, in Tahoe-LAFS 1.20's words.

Every share file is read through the storage server's own container classes
(:mod:`allmydata.storage.immutable`, :mod:`allmydata.storage.mutable`) and
the share layouts of the clients (:mod:`allmydata.immutable.layout`,
:mod:`allmydata.mutable.layout`).  A file that is not a share, or a share
cut short, raises :class:`ShareFileError` naming the file and what is wrong
with it.  Nothing here writes to a share.
"""

import os
import struct
import time

import attrs

from .. import uri
from ..immutable.layout import LayoutError, ShareLayout, parse_header
from ..immutable.uri_extension import BadURIExtensionError, unpack_uri_extension
from ..mutable.common import MDMF_VERSION, SDMF_VERSION
from ..mutable.common import LayoutInvalid as MutableLayoutInvalid
from ..mutable.layout import (
    HEADER_LENGTH_MDMF, HEADER_LENGTH_SDMF, ParsedShare, unpack_header,
)
from ..storage.common import StorageError
from ..storage.immutable import HEADER_SIZE as IMMUTABLE_CONTAINER_HEADER
from ..storage.immutable import ImmutableShareFile
from ..storage.mutable import DATA_OFFSET as MUTABLE_DATA_OFFSET
from ..storage.mutable import LEASE_SLOTS_OFFSET, MutableShareFile, is_mutable_container
from ..util import base32, hashutil
from ..util.idlib import nodeid_b2a
from .quoting import quote_output

_IMMUTABLE_REGIONS = ("data", "plaintext_hash_tree", "crypttext_hash_tree", "block_hashes",
                      "share_hashes", "uri_extension")
_HASH_TREES = ("plaintext_hash_tree", "crypttext_hash_tree", "block_hashes")


class ShareFileError(Exception):
    """A file that cannot be read as a share: not one, or damaged."""

    def __init__(self, path, reason):
        Exception.__init__(self, "%s: %s" % (path, reason))
        self.path = path
        self.reason = reason


def format_expiration_time(expiration_time, now=None) -> str:
    """``1234s (14 days)``: how long until a lease expires, as Tahoe-LAFS's
    tools say it (negative once it has expired)."""
    remains = expiration_time - (time.time() if now is None else now)
    when = "%ds" % remains
    if remains > 24 * 3600:
        when += " (%d days)" % (remains // (24 * 3600))
    elif remains > 3600:
        when += " (%d hours)" % (remains // 3600)
    return when


def storage_index_from_path(path):
    """The storage index a share belongs to, from the name of the directory
    holding it (the share itself does not record it); None if that name is
    not a base32 storage index."""
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    try:
        si = base32.a2b(parent)
    except ValueError:
        return None
    return si if len(si) == uri.KEY_SIZE else None


def share_kind(path) -> str:
    """"mutable", "immutable" or "unknown", from the container's first bytes."""
    try:
        if is_mutable_container(path):
            return "mutable"
        with open(path, "rb") as f:
            head = f.read(IMMUTABLE_CONTAINER_HEADER)
    except IsADirectoryError:
        raise ShareFileError(path, "is a directory, not a share file")
    except OSError as e:
        raise ShareFileError(path, "cannot be read: %s" % (e.strerror or e))
    if len(head) == IMMUTABLE_CONTAINER_HEADER and struct.unpack(">L", head[:4])[0] in (1, 2):
        return "immutable"
    return "unknown"


# ---- immutable shares ---------------------------------------------------------------------
@attrs.frozen
class ImmutableShare:
    """What an immutable share file holds, parsed."""

    container: ImmutableShareFile
    layout: ShareLayout
    ueb_bytes: bytes
    ueb: dict
    leases: list

    @property
    def ueb_hash(self) -> bytes:
        return hashutil.uri_extension_hash(self.ueb_bytes)

    def verify_cap(self, storage_index):
        return uri.CHKFileVerifierURI(storage_index, self.ueb_hash, self.ueb["needed_shares"],
                                      self.ueb["total_shares"], self.ueb["size"])


def read_immutable_share(path, with_contents=True) -> ImmutableShare:
    """Parse an immutable share file: container, share header, UEB, leases
    (``with_contents=False``: container and leases only)."""
    try:
        container = ImmutableShareFile(path)
        leases = container.get_leases()
    except (StorageError, struct.error) as e:
        raise ShareFileError(path, "not a readable immutable share: %s" % e)
    if not with_contents:
        return ImmutableShare(container, None, b"", {}, leases)
    size = container.data_length
    try:
        layout = parse_header(container.read_share_data(0, 0x44), "the share header")
    except LayoutError as e:
        raise ShareFileError(path, "immutable container holding no valid share: %s" % e)
    field = container.read_share_data(layout.uri_extension, layout.fieldsize)
    if len(field) != layout.fieldsize:
        raise ShareFileError(path, "truncated: the share holds %d bytes of data, but its header "
                                   "puts the URI extension block at %d"
                             % (size, layout.uri_extension))
    (ueb_length,) = struct.unpack(">L" if layout.fieldsize == 4 else ">Q", field)
    start = layout.uri_extension + layout.fieldsize
    if start + ueb_length > size:
        raise ShareFileError(path, "truncated: its URI extension block of %d bytes would end at "
                                   "%d, past the %d bytes of share data"
                             % (ueb_length, start + ueb_length, size))
    ueb_bytes = container.read_share_data(start, ueb_length)
    try:
        ueb = unpack_uri_extension(ueb_bytes)
    except BadURIExtensionError as e:
        raise ShareFileError(path, "damaged URI extension block: %s" % e)
    for key in ("size", "needed_shares", "total_shares"):
        if key not in ueb:
            raise ShareFileError(path, "its URI extension block has no %s" % key)
    return ImmutableShare(container, layout, ueb_bytes, ueb, leases)


def _readable_ueb(share: ImmutableShare) -> dict:
    """The UEB as Tahoe-LAFS shows it: hashes in base32, with the UEB's own
    hash added as ``UEB_hash``."""
    out = {}
    for key, value in share.ueb.items():
        if "hash" in key and isinstance(value, bytes):
            value = base32.b2a(value)
        out[key] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    out["UEB_hash"] = base32.b2a_str(share.ueb_hash)
    return out


def dump_immutable(path, out, offsets=False, leases_only=False) -> None:
    share = read_immutable_share(path, with_contents=not leases_only)
    p = lambda *a: print(*a, file=out)  # noqa: E731
    if not leases_only:
        lay = share.layout
        p("%20s: %d" % ("version", lay.version))
        p("%20s: %d" % ("container version", share.container.version))
        ueb = _readable_ueb(share)
        groups = (("size", "num_segments", "segment_size", "needed_shares", "total_shares"),
                  ("codec_name", "codec_params", "tail_codec_params"),
                  ("plaintext_hash", "plaintext_root_hash", "crypttext_hash",
                   "crypttext_root_hash", "share_root_hash", "UEB_hash"))
        for i, keys in enumerate(groups):
            if i:
                p()
            for key in keys:
                if key in ueb:
                    p("%20s: %s" % ({"size": "file_size"}.get(key, key), ueb[key]))
        leftover = sorted(set(ueb) - {k for keys in groups for k in keys})
        if leftover:
            p()
            p("LEFTOVER:")
            for key in leftover:
                p("%20s: %s" % (key, ueb[key]))
        si = storage_index_from_path(path)
        if si is not None:
            p("%20s: %s" % ("verify-cap", share.verify_cap(si).to_string().decode("ascii")))
        p()
        p(" Size of data within the share:")
        sizes = {"data": lay.plaintext_hash_tree - lay.data,
                 "validation": lay.uri_extension - lay.plaintext_hash_tree,
                 "uri-extension": len(share.ueb_bytes)}
        for key in sorted(sizes):
            p("%20s: %s" % (key, sizes[key]))
        p()
        p(" Hash trees (nodes of 32 bytes; share hashes: chain entries):")
        for name in _HASH_TREES:
            p("%20s: %d" % (name, lay.hash_tree_size // 32))
        p("%20s: %d" % ("share_hashes", lay.share_hashes_size // 34))
        if offsets:
            p()
            p(" Section Offsets:")
            p("%20s: %s" % ("share data", IMMUTABLE_CONTAINER_HEADER))
            for key in _IMMUTABLE_REGIONS:
                where = IMMUTABLE_CONTAINER_HEADER + getattr(lay, key)
                p("  %20s: %s   (0x%x)" % ({"data": "block data"}.get(key, key), where, where))
            p("%20s: %s" % ("leases", IMMUTABLE_CONTAINER_HEADER + share.container.data_length))
    p()
    if share.leases:
        for i, lease in enumerate(share.leases):
            p(" Lease #%d: owner=%d, expire in %s"
              % (i, lease.owner_num, format_expiration_time(lease.expiration_time)))
    else:
        p(" No leases.")
    p()


# ---- mutable shares -----------------------------------------------------------------------
@attrs.frozen
class MutableShare:
    """What a mutable share file holds, parsed (``share`` is None when the
    slot holds no SDMF or MDMF share)."""

    container: MutableShareFile
    header: dict
    lease_records: list
    share_type: str
    share: ParsedShare | None

    def verify_cap(self, storage_index):
        fingerprint = hashutil.ssk_pubkey_fingerprint_hash(self.share.verification_key)
        cls = uri.SSKVerifierURI if self.share_type == "SDMF" else uri.MDMFVerifierURI
        return cls(storage_index, fingerprint)


def read_mutable_share(path, with_contents=True) -> MutableShare:
    """Parse a mutable share file: container header, leases, and (with
    ``with_contents``) the fields of the SDMF or MDMF share in its slot,
    all but the share data itself."""
    try:
        container = MutableShareFile(path)
        header = container.header_fields()
        records = container.lease_records()
    except (StorageError, struct.error) as e:
        raise ShareFileError(path, "not a readable mutable share: %s" % e)
    length = header["data_length"]
    if MUTABLE_DATA_OFFSET + length > header["extra_lease_offset"]:
        raise ShareFileError(path, "damaged: its %d bytes of data overlap the extra-lease block "
                                   "at %d" % (length, header["extra_lease_offset"]))
    first = container.read_share_data(0, 1)
    share_type = {bytes([SDMF_VERSION]): "SDMF", bytes([MDMF_VERSION]): "MDMF"}.get(first,
                                                                                    "unknown")
    share = None
    if with_contents and share_type != "unknown":
        header_length = HEADER_LENGTH_SDMF if share_type == "SDMF" else HEADER_LENGTH_MDMF
        raw = container.read_share_data(0, header_length)
        try:
            prefix, offsets = unpack_header(raw)
        except MutableLayoutInvalid as e:
            raise ShareFileError(path, "damaged %s share header: %s" % (share_type, e))
        if offsets["EOF"] > length:
            raise ShareFileError(path, "truncated: the %s share's offsets end at %d, past its "
                                       "%d bytes of data" % (share_type, offsets["EOF"], length))
        share = ParsedShare(prefix, offsets)
        try:
            for name in ("verification_key", "signature", "share_hash_chain", "block_hash_tree",
                         "enc_privkey"):
                where, size = share.field_range(name)
                share.set_field(name, container.read_share_data(where, size))
        except (MutableLayoutInvalid, ValueError, struct.error) as e:
            raise ShareFileError(path, "damaged %s share: %s" % (share_type, e))
    return MutableShare(container, header, records, share_type, share)


def _present_secret(container, secret: bytes) -> str:
    # a v2 container keeps only the hash of each secret: say so, as Tahoe-LAFS does
    text = base32.b2a_str(secret)
    return "hash:" + text if container.secret_storage.hashed else text


def dump_mutable(path, out, offsets=False, leases_only=False) -> None:
    m = read_mutable_share(path, with_contents=not leases_only)
    h = m.header
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p()
    p("Mutable slot found:")
    p(" share_type: %s" % m.share_type)
    p(" container version: %d" % m.container.version)
    p(" write_enabler: %s" % base32.b2a_str(h["write_enabler"]))
    p(" WE for nodeid: %s" % nodeid_b2a(h["nodeid"]))
    p(" num_extra_leases: %d" % h["num_extra_leases"])
    p(" container_size: %d" % (h["extra_lease_offset"] - MUTABLE_DATA_OFFSET))
    p(" data_length: %d" % h["data_length"])
    if m.lease_records:
        for number, lease in m.lease_records:
            p()
            p(" Lease #%d:" % number)
            p("  ownerid: %d" % lease.owner_num)
            p("  expires in %s" % format_expiration_time(lease.expiration_time))
            p("  renew_secret: %s" % _present_secret(m.container, lease.stored_renew_secret))
            p("  cancel_secret: %s" % _present_secret(m.container, lease.stored_cancel_secret))
            p("  secrets are for nodeid: %s" % nodeid_b2a(lease.nodeid))
    else:
        p("No leases.")
    p()
    if m.share is not None:
        _dump_mutable_contents(path, m, out, offsets)


def _dump_mutable_contents(path, m: MutableShare, out, offsets) -> None:
    p = lambda *a: print(*a, file=out)  # noqa: E731
    s = m.share
    prefix = s.prefix
    p(" %s contents:" % m.share_type)
    p("  seqnum: %d" % prefix.seqnum)
    p("  root_hash: %s" % base32.b2a_str(prefix.root_hash))
    if m.share_type == "SDMF":
        p("  IV: %s" % base32.b2a_str(prefix.salt))
    p("  required_shares: %d" % prefix.k)
    p("  total_shares: %d" % prefix.n)
    p("  segsize: %d" % prefix.segsize)
    p("  datalen: %d" % prefix.datalen)
    p("  enc_privkey: %d bytes" % len(s.enc_privkey))
    p("  pubkey: %d bytes" % len(s.verification_key))
    p("  signature: %d bytes" % len(s.signature))
    # Tahoe-LAFS orders an SDMF chain's node numbers as text and an MDMF
    # chain's as numbers; the same order here lets the two tools' output be
    # compared line by line.
    if m.share_type == "SDMF":
        ids = sorted(str(i) for i in s.share_hash_chain)
    else:
        ids = [str(i) for i in sorted(s.share_hash_chain)]
    p("  share_hash_chain: %s" % ",".join(ids))
    p("  block_hash_tree: %d nodes" % len(s.block_hash_tree))
    si = storage_index_from_path(path)
    if si is not None:
        p("  verify-cap: %s" % m.verify_cap(si).to_string().decode("ascii"))
    if offsets:
        p()
        p(" Section Offsets:")

        def printoffset(name, value, shift=0):
            p("%s%20s: %s   (0x%x)" % (" " * shift, name, value, value))
        base = MUTABLE_DATA_OFFSET
        inner = 2 if m.share_type == "SDMF" else 4
        printoffset("first lease", LEASE_SLOTS_OFFSET, inner - 2)
        printoffset("share data", base, inner - 2)
        printoffset("seqnum", base + 1, inner)
        printoffset("root_hash", base + 9, inner)
        if m.share_type == "SDMF":
            names = ["signature", "share_hash_chain", "block_hash_tree", "share_data",
                     "enc_privkey", "EOF"]
        else:
            names = ["enc_privkey", "share_hash_chain", "signature", "verification_key",
                     "verification_key_end", "share_data", "block_hash_tree", "EOF"]
        labels = {"share_data": "block data", "verification_key": "pubkey",
                  "verification_key_end": "end of pubkey", "EOF": "end of share data"}
        for name in names:
            printoffset(labels.get(name, name), base + s.offsets[name], inner)
        printoffset("extra leases", m.header["extra_lease_offset"] + 4, inner - 2)
    p()


def dump_share(path, out, offsets=False, leases_only=False) -> None:
    """``tahoe debug dump-share``: everything a share file says about itself."""
    kind = share_kind(path)
    print("share filename: %s" % quote_output(os.path.abspath(path)), file=out)
    if kind == "mutable":
        dump_mutable(path, out, offsets, leases_only)
    elif kind == "immutable":
        dump_immutable(path, out, offsets, leases_only)
    else:
        raise ShareFileError(path, "not a share file: it starts with neither the mutable "
                                   "container magic nor an immutable container version (1 or 2)")


# ---- one line per share -------------------------------------------------------------------
def _expiration(leases, now) -> int:
    """Seconds until the first lease expires (0 if expired or no lease)."""
    if not leases:
        return 0
    return max(0, int(min(lease.expiration_time for lease in leases) - now))


def describe_share(path, si_s, now) -> str:
    """The ``catalog-shares`` line of one share file::

        CHK $SI $k/$N $filesize $UEB_hash $expiration $path
        SDMF $SI $k/$N $filesize #$seqnum:$roothash $expiration $path
        MDMF (the same), UNKNOWN mutable $path, UNKNOWN really-unknown $path
    """
    kind = share_kind(path)
    quoted = quote_output(path)
    if kind == "immutable":
        share = read_immutable_share(path)
        return "CHK %s %d/%d %d %s %d %s" % (
            si_s, share.ueb["needed_shares"], share.ueb["total_shares"], share.ueb["size"],
            base32.b2a_str(share.ueb_hash), _expiration(share.leases, now), quoted)
    if kind == "mutable":
        m = read_mutable_share(path, with_contents=False)
        if m.share_type == "unknown":
            return "UNKNOWN mutable %s" % quoted
        try:
            prefix, _offsets = unpack_header(
                m.container.read_share_data(0, max(HEADER_LENGTH_SDMF, HEADER_LENGTH_MDMF)))
        except MutableLayoutInvalid as e:
            raise ShareFileError(path, "damaged %s share header: %s" % (m.share_type, e))
        return "%s %s %d/%d %d #%d:%s %d %s" % (
            m.share_type, si_s, prefix.k, prefix.n, prefix.datalen, prefix.seqnum,
            base32.b2a_str(prefix.root_hash),
            _expiration([lease for _, lease in m.lease_records], now), quoted)
    return "UNKNOWN really-unknown %s" % quoted
