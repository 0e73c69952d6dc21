"""Check share files on a storage server's disk against docs/specifications/containers.md §2 and §3.

After the real Tahoe-LAFS client has uploaded through a storage server, the
share files it left behind must be the containers Tahoe-LAFS itself would
write: immutable shares start with a u32 container version (1 or 2), a legacy
length and a lease count, followed by the share data (whose own layout version
is 1 or 2); mutable shares start with the 32-byte "Tahoe mutable container"
magic, and their share data (at offset 468) starts with the SDMF (0) or MDMF
(1) version byte.

Each checker returns a list of problems (empty when the file is fine) so a
test can report every bad file at once.
"""

import os
import struct

IMMUTABLE_HEADER = 12
IMMUTABLE_LEASE = 72
MUTABLE_MAGICS = (
    b"Tahoe mutable container v1\n" + bytes.fromhex("750944038e"),
    b"Tahoe mutable container v2\n" + bytes.fromhex("c355219925"),
)
MUTABLE_DATA_OFFSET = 468
SDMF_VERSION, MDMF_VERSION = 0, 1


def _read_head(path, n):
    with open(path, "rb") as f:
        return f.read(n)


def check_immutable_share(path):
    """Problems with one immutable share file (containers.md §2 container, immutable-shares.md §6.1 data header)."""
    problems = []
    size = os.path.getsize(path)
    head = _read_head(path, IMMUTABLE_HEADER + 4)
    if len(head) < IMMUTABLE_HEADER + 4:
        return ["%s: only %d bytes long" % (path, size)]
    version, _legacy_len, nleases = struct.unpack(">LLL", head[:IMMUTABLE_HEADER])
    if version not in (1, 2):
        problems.append("%s: container version %d, expected 1 or 2 (first bytes %s)"
                        % (path, version, head.hex()))
    if nleases < 1:
        problems.append("%s: %d leases in the header, expected at least 1" % (path, nleases))
    data_len = size - IMMUTABLE_HEADER - IMMUTABLE_LEASE * nleases
    if data_len <= 0:
        problems.append("%s: %d bytes cannot hold a header, %d leases and data"
                        % (path, size, nleases))
    (layout_version,) = struct.unpack(">L", head[IMMUTABLE_HEADER:IMMUTABLE_HEADER + 4])
    if layout_version not in (1, 2):
        problems.append("%s: share data starts with layout version %d, expected 1 or 2"
                        % (path, layout_version))
    return problems


def read_mutable_share(path):
    """``(magic, datalen, version byte, seqnum)`` of a mutable container file."""
    with open(path, "rb") as f:
        head = f.read(MUTABLE_DATA_OFFSET + 9)
    magic = head[:32]
    (datalen,) = struct.unpack(">Q", head[84:92]) if len(head) >= 92 else (None,)
    if len(head) < MUTABLE_DATA_OFFSET + 9:
        return magic, datalen, None, None
    version = head[MUTABLE_DATA_OFFSET]
    (seqnum,) = struct.unpack(">Q", head[MUTABLE_DATA_OFFSET + 1:MUTABLE_DATA_OFFSET + 9])
    return magic, datalen, version, seqnum


def check_mutable_share(path, expected_version, expected_seqnum=None):
    """Problems with one mutable share file (containers.md §3 container, mutable-shares.md §2/§3 first bytes)."""
    problems = []
    magic, datalen, version, seqnum = read_mutable_share(path)
    if not magic.startswith(b"Tahoe mutable container v"):
        problems.append("%s: starts with %r, not the mutable container magic" % (path, magic))
    elif magic not in MUTABLE_MAGICS:
        problems.append("%s: magic %r is neither the v1 nor the v2 container magic" % (path, magic))
    if version is None:
        problems.append("%s: too short (%d bytes) to hold share data at offset %d"
                        % (path, os.path.getsize(path), MUTABLE_DATA_OFFSET))
        return problems
    if not datalen:
        problems.append("%s: container data length is %r" % (path, datalen))
    if version != expected_version:
        problems.append("%s: share data version byte %d, expected %d"
                        % (path, version, expected_version))
    if expected_seqnum is not None and seqnum != expected_seqnum:
        problems.append("%s: share seqnum %d, expected %d (the last write did not reach it)"
                        % (path, seqnum, expected_seqnum))
    return problems


def collect_shares(storage_nodes, si_b32):
    """``[(node nickname, shnum, path)]`` of one storage index across all nodes."""
    found = []
    for node in storage_nodes:
        for shnum, path in sorted(node.share_files(si_b32).items()):
            found.append((node.nickname, shnum, path))
    return found


def read_immutable_share_data(path):
    """The share data of an immutable share file (containers.md §2): the bytes after the
    12-byte container header, without the lease records at the end."""
    with open(path, "rb") as f:
        raw = f.read()
    (nleases,) = struct.unpack(">L", raw[8:12])
    return raw[IMMUTABLE_HEADER:len(raw) - IMMUTABLE_LEASE * nleases]


def parse_ueb(ueb):
    """``{key: value}`` of a serialized URI extension block (immutable-shares.md §5); numeric
    fields become ints, hashes stay raw bytes."""
    fields, i = {}, 0
    while i < len(ueb):
        colon = ueb.index(b":", i)
        key = ueb[i:colon].decode("ascii")
        length_end = ueb.index(b":", colon + 1)
        length = int(ueb[colon + 1:length_end])
        value = ueb[length_end + 1:length_end + 1 + length]
        if ueb[length_end + 1 + length:length_end + 2 + length] != b",":
            raise ValueError("UEB entry %r is not a netstring at offset %d" % (key, colon + 1))
        fields[key] = value
        i = length_end + 2 + length
    for key in ("size", "segment_size", "num_segments", "needed_shares", "total_shares"):
        if key in fields:
            fields[key] = int(fields[key])
    return fields


def read_immutable_layout(path):
    """``(layout version, header fields dict, UEB dict)`` of an immutable share
    file (immutable-shares.md §6): offsets are relative to the start of the share data."""
    data = read_immutable_share_data(path)
    (version,) = struct.unpack(">L", data[:4])
    names = ("block_size", "data_size", "data", "plaintext_hash_tree", "crypttext_hash_tree",
             "block_hashes", "share_hashes", "uri_extension")
    if version == 1:
        values = struct.unpack(">LLLLLLLL", data[4:36])
        lensize, lenfmt = 4, ">L"
    elif version == 2:
        values = struct.unpack(">QQQQQQQQ", data[4:68])
        lensize, lenfmt = 8, ">Q"
    else:
        raise ValueError("%s: share data layout version %d" % (path, version))
    header = dict(zip(names, values))
    off = header["uri_extension"]
    (ueb_len,) = struct.unpack(lenfmt, data[off:off + lensize])
    return version, header, parse_ueb(data[off + lensize:off + lensize + ueb_len])
