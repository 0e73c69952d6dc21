"""Plaintext <-> the N shares of a version (mutable/shares.py) and the keys
around it (mutable/common.py): round trips for both formats around segment
boundaries, from any k shares, streaming MDMF, partial re-encoding, and
detection of every corrupted field with an error that names it."""

import io

import attr
import pytest

from allmydata import uri
from allmydata.crypto import rsa
from allmydata.mutable import layout
from allmydata.mutable.common import (
    MDMF_VERSION,
    SDMF_VERSION,
    CorruptShareError,
    MutableKeys,
    NotCapableError,
    PrivateKeyMismatchError,
    UnrecoverableFileError,
    decrypt_privkey,
    encrypt_privkey,
)
from allmydata.mutable.shares import (
    VersionDecoder,
    VersionEncoder,
    block_tree_length,
    block_tree_of,
    check_enc_privkey,
    encode_version,
    iter_encode_mdmf,
    updated_block_tree,
    verify_and_decode,
)
from allmydata.util import hashutil


@pytest.fixture(scope="module")
def keys():
    return MutableKeys.from_privkey(rsa.generate_keypair()[0])


def _data(n):
    return bytes((i * 7 + i // 251) % 256 for i in range(n))


def _parse_all(shares):
    return {sh: layout.parse_share(raw) for sh, raw in shares.items()}


# ---- keys ------------------------------------------------------------------------------
def test_key_chain_and_caps(keys):
    priv_der = rsa.private_key_to_der(keys.privkey)
    assert keys.writekey == hashutil.ssk_writekey_hash(priv_der)
    assert keys.readkey == hashutil.ssk_readkey_hash(keys.writekey)
    assert keys.storage_index == hashutil.ssk_storage_index_hash(keys.readkey)
    assert keys.fingerprint == hashutil.ssk_pubkey_fingerprint_hash(
        rsa.public_key_to_der(keys.pubkey))
    for version, classes in ((SDMF_VERSION, (uri.WriteableSSKFileURI, uri.ReadonlySSKFileURI,
                                             uri.SSKVerifierURI)),
                             (MDMF_VERSION, (uri.WriteableMDMFFileURI, uri.ReadonlyMDMFFileURI,
                                             uri.MDMFVerifierURI))):
        caps = keys.writecap(version), keys.readcap(version), keys.verifycap(version)
        assert tuple(type(c) for c in caps) == classes
        assert caps[0].get_readonly() == caps[1] and caps[1].get_verifier() == caps[2]
        assert MutableKeys.from_cap(caps[0]) == keys        # key objects do not count
        ro = MutableKeys.from_cap(caps[1])
        assert (ro.writekey, ro.readkey, ro.storage_index) == (None, keys.readkey,
                                                                keys.storage_index)
        v = MutableKeys.from_cap(caps[2])
        assert (v.readkey, v.storage_index) == (None, keys.storage_index)
        with pytest.raises(NotCapableError):
            ro.writecap(version)
        with pytest.raises(NotCapableError):
            v.readcap(version)


def test_per_server_secrets(keys):
    server = b"\x01" * 20
    assert keys.write_enabler(server) == hashutil.ssk_write_enabler_hash(keys.writekey, server)
    renew, cancel = b"r" * 32, b"c" * 32
    assert keys.renew_secret(renew, server) == hashutil.bucket_renewal_secret_hash(
        hashutil.file_renewal_secret_hash(renew, keys.storage_index), server)
    assert keys.cancel_secret(cancel, server) == hashutil.bucket_cancel_secret_hash(
        hashutil.file_cancel_secret_hash(cancel, keys.storage_index), server)
    with pytest.raises(NotCapableError):
        MutableKeys.from_cap(keys.readcap()).write_enabler(server)


def test_encrypted_privkey(keys):
    der = rsa.private_key_to_der(keys.privkey)
    enc = encrypt_privkey(keys.writekey, der)
    assert enc != der and len(enc) == len(der)
    assert rsa.private_key_to_der(decrypt_privkey(keys.writekey, enc)) == der
    assert keys.encrypted_privkey() == enc
    with pytest.raises(PrivateKeyMismatchError):
        decrypt_privkey(keys.writekey, enc[:-1] + bytes([enc[-1] ^ 1]))
    other = MutableKeys.from_privkey(rsa.generate_keypair()[0])
    with pytest.raises(PrivateKeyMismatchError):
        decrypt_privkey(other.writekey, enc)
    with pytest.raises(PrivateKeyMismatchError):
        MutableKeys.from_cap(keys.writecap()).with_keypair(privkey=other.privkey)


# ---- round trips -----------------------------------------------------------------------
SIZES = {SDMF_VERSION: [0, 1, 56, 1000, 300_001],
         MDMF_VERSION: [0, 1, 131_073, 131_074, 2 * 131_073 + 5]}


@pytest.mark.parametrize("version,size", [(v, s) for v in SIZES for s in SIZES[v]])
def test_round_trip_any_k_shares(keys, version, size):
    data = _data(size)
    k, n = 3, 10
    ev, shares = encode_version(data, keys, version, 4, k, n)
    parsed = _parse_all(shares)
    p = ev.prefix
    assert (p.version, p.seqnum, p.k, p.n, p.datalen) == (version, 4, k, n, size)
    if version == SDMF_VERSION:
        assert p.segsize == -(-size // k) * k and len(p.salt) == 16
    else:
        assert p.segsize == 131073 and p.salt is None
    assert all(ps.verinfo() == ev.verinfo for ps in parsed.values())
    reader = MutableKeys.from_cap(keys.readcap(version))      # no private key needed
    for chosen in ([0, 1, 2], [7, 8, 9], [1, 5, 9]):
        out, bad = verify_and_decode(reader, {sh: parsed[sh] for sh in chosen})
        assert out == data and bad == {}


def test_mdmf_salts_are_fresh_per_segment(keys):
    _, shares = encode_version(_data(3 * 131_073), keys, MDMF_VERSION, 1, 3, 5)
    share = layout.parse_share(shares[0])
    salts = {share.mdmf_block(s)[0] for s in range(3)}
    assert len(salts) == 3
    _, again = encode_version(_data(3 * 131_073), keys, MDMF_VERSION, 1, 3, 5)
    assert layout.parse_share(again[0]).mdmf_block(0)[0] not in salts


def test_streaming_mdmf_with_block_writes(keys):
    """Blocks written as they come, header and trees last, one segment in memory."""
    size = 5 * 131_073 + 17
    data = _data(size)
    k, n = 3, 5
    gen = iter_encode_mdmf(io.BytesIO(data), keys, 2, k, n, size)
    files = {sh: bytearray() for sh in range(n)}
    while True:
        try:
            seg = next(gen)
        except StopIteration as stop:
            ev = stop.value
            break
        g = layout.geometry(MDMF_VERSION, k, 131_073, size)
        for sh in range(n):
            off = layout.mdmf_block_offset(seg.segnum, g.block_size)
            rec = seg.share_record(sh)
            f = files[sh]
            if len(f) < off + len(rec):
                f.extend(b"\x00" * (off + len(rec) - len(f)))
            f[off:off + len(rec)] = rec
    for sh in range(n):
        for off, chunk in ev.mdmf_final_writes(sh):
            f = files[sh]
            if len(f) < off + len(chunk):
                f.extend(b"\x00" * (off + len(chunk) - len(f)))
            f[off:off + len(chunk)] = chunk
    parsed = {sh: layout.parse_share(bytes(f)) for sh, f in files.items()}
    # decode one segment at a time, as a streaming reader would
    dec = VersionDecoder(MutableKeys.from_cap(keys.readcap(MDMF_VERSION)), ev.prefix)
    for sh in (1, 3, 4):
        dec.verify_share_head(sh, parsed[sh])
    out = []
    for segnum in range(dec.geometry.num_segments):
        blocks = {}
        for sh in (1, 3, 4):
            salt, block = parsed[sh].mdmf_block(segnum)
            dec.verify_block(sh, segnum, block, salt)
            blocks[sh] = block
        start, end = dec.segment_range(segnum)
        piece = dec.decode_segment(segnum, blocks, salt)
        assert piece == data[start:end]
        out.append(piece)
    assert b"".join(out) == data


def test_reencode_only_changed_segments(keys):
    k, n = 2, 4
    old = _data(4 * 131_072 + 100)
    ev1, shares1 = encode_version(old, keys, MDMF_VERSION, 1, k, n)
    p1 = _parse_all(shares1)
    new = bytearray(old)
    new[131_072 + 5:131_072 + 50] = b"X" * 45
    new = bytes(new)
    nseg = ev1.prefix.geometry().num_segments
    first_leaf = (len(ev1.block_hash_trees[0]) - 1) // 2
    old_leaves = {sh: ev1.block_hash_trees[sh][first_leaf:first_leaf + nseg] for sh in range(n)}
    enc = VersionEncoder(keys, MDMF_VERSION, 2, k, n, len(new), existing_block_hashes=old_leaves)
    start, end = enc.segment_range(1)
    seg = enc.encode_segment(1, new[start:end])
    ev2 = enc.finish()
    assert ev2.root_hash != ev1.root_hash
    g = ev2.prefix.geometry()
    parsed = {}
    for sh in range(n):
        sd = bytearray(p1[sh].share_data)
        off = 1 * (g.block_size + 16)
        rec = seg.share_record(sh)
        sd[off:off + len(rec)] = rec
        parsed[sh] = layout.parse_share(ev2.pack_share(sh, bytes(sd)))
    out, bad = verify_and_decode(keys, parsed)
    assert out == new and bad == {}


def test_block_tree_length():
    for nseg in range(70):
        assert block_tree_length(nseg) == len(block_tree_of([b"\x07" * 32] * nseg)), nseg


@pytest.mark.parametrize("old_n,new_n,changed", [
    (1, 1, [0]), (5, 5, [2]), (5, 5, []), (5, 7, [4]), (8, 8, [0, 7]), (100, 100, [3, 64, 99]),
    (6, 5, [])])
def test_updated_block_tree_is_the_whole_tree(old_n, new_n, changed):
    leaves = [hashutil.tagged_hash(b"leaf", b"%d" % i) for i in range(old_n)]
    old_tree = block_tree_of(leaves)
    new = leaves[:new_n] + [hashutil.tagged_hash(b"new", b"%d" % i)
                            for i in range(old_n, new_n)]
    for i in changed:
        new[i] = hashutil.tagged_hash(b"changed", b"%d" % i)
    assert updated_block_tree(old_tree, new) == block_tree_of(new)


def test_updated_block_tree_refuses_another_width():
    leaves = [b"\x01" * 32] * 5
    assert updated_block_tree(block_tree_of(leaves), leaves * 2) is None
    assert updated_block_tree(block_tree_of(leaves), []) is None


def test_reencode_with_old_trees_gives_the_same_version(keys):
    """finish() with the old block hash trees (only changed paths recomputed)
    gives the same trees and root as building them whole."""
    k, n = 3, 5
    old = _data(5 * 131_073 + 10)
    ev1, _shares = encode_version(old, keys, MDMF_VERSION, 1, k, n)
    nseg = ev1.prefix.geometry().num_segments
    first_leaf = (len(ev1.block_hash_trees[0]) - 1) // 2
    old_leaves = {sh: ev1.block_hash_trees[sh][first_leaf:first_leaf + nseg] for sh in range(n)}
    evs = []
    for trees in (None, ev1.block_hash_trees):
        salts = iter([b"\x05" * 16] * 4)
        enc = VersionEncoder(keys, MDMF_VERSION, 2, k, n, len(old) + 131_073,
                             existing_block_hashes=old_leaves, existing_block_trees=trees,
                             random_bytes=lambda size, salts=salts: next(salts))
        for s in (2, 5, 6):       # one in the middle, the old tail (grown) and a new one
            a, b = enc.segment_range(s)
            enc.encode_segment(s, (old + b"y" * 131_073)[a:b])
        evs.append(enc.finish())
    assert evs[0].block_hash_trees == evs[1].block_hash_trees
    assert evs[0].root_hash == evs[1].root_hash != ev1.root_hash


# ---- corruption ------------------------------------------------------------------------
def _flip(b, pos=0):
    return b[:pos] + bytes([b[pos] ^ 0x01]) + b[pos + 1:]


CORRUPTIONS = {
    "verification key": (lambda s: setattr(s, "verification_key",
                                           _flip(s.verification_key, 40)), "verification key"),
    "signature": (lambda s: setattr(s, "signature", _flip(s.signature, 10)), "signature"),
    "share hash chain": (lambda s: s.share_hash_chain.update(
        {i: _flip(h) for i, h in list(s.share_hash_chain.items())[:1]}), "share hash chain"),
    "block hash tree node": (lambda s: s.block_hash_tree.__setitem__(
        1, _flip(s.block_hash_tree[1])), "block hash tree"),
    "block hash tree root": (lambda s: s.block_hash_tree.__setitem__(
        0, _flip(s.block_hash_tree[0])), "block hash tree"),
    "block hash tree leaf": (lambda s: s.block_hash_tree.__setitem__(
        len(s.block_hash_tree) - 1, _flip(s.block_hash_tree[-1])), "block hash tree"),
    "block data": (lambda s: setattr(s, "share_data", _flip(s.share_data,
                                                            len(s.share_data) - 1)), "block"),
    "root hash": (lambda s: setattr(s, "prefix", attr.evolve(s.prefix,
                                                         root_hash=_flip(s.prefix.root_hash))),
        "signed prefix"),
}


@pytest.mark.parametrize("version,what", [
    (v, w) for v in (SDMF_VERSION, MDMF_VERSION) for w in sorted(CORRUPTIONS)
    if not (v == SDMF_VERSION and w == "block hash tree node")])     # SDMF's tree is 1 node
def test_each_corrupted_field_is_named(keys, version, what):
    data = _data(2 * 131_072 + 3 if version == MDMF_VERSION else 5000)
    k, n = 2, 4
    _, shares = encode_version(data, keys, version, 1, k, n)
    parsed = _parse_all(shares)
    # rebuild the share from bytes after corrupting, as a reader would see it
    victim = layout.parse_share(shares[1])
    corrupt, word = CORRUPTIONS[what]
    corrupt(victim)
    if what != "root hash":
        victim = layout.parse_share(layout.pack_share(victim))
    parsed[1] = victim
    out, bad = verify_and_decode(MutableKeys.from_cap(keys.readcap(version)), parsed,
                                 servers={1: "server-B"})
    assert out == data
    assert list(bad) == [1]
    err = bad[1]
    assert isinstance(err, CorruptShareError)
    assert (err.server, err.shnum) == ("server-B", 1)
    assert word in str(err) and "share 1 on server server-B" in str(err)


def test_mdmf_salt_corruption_is_caught(keys):
    data = _data(131_072 + 9)
    _, shares = encode_version(data, keys, MDMF_VERSION, 1, 1, 2)
    parsed = _parse_all(shares)
    parsed[0].share_data = _flip(parsed[0].share_data, 3)      # inside segment 0's salt
    out, bad = verify_and_decode(keys, parsed)
    assert out == data and list(bad) == [0] and "salt" in str(bad[0])


def test_too_few_good_shares_is_unrecoverable(keys):
    data = _data(1000)
    _, shares = encode_version(data, keys, SDMF_VERSION, 1, 3, 4)
    parsed = _parse_all(shares)
    parsed[0].signature = _flip(parsed[0].signature)
    parsed[2].share_data = _flip(parsed[2].share_data)
    with pytest.raises(UnrecoverableFileError, match="signature"):
        verify_and_decode(keys, parsed)


def test_wrong_file_key_is_rejected(keys):
    other = MutableKeys.from_privkey(rsa.generate_keypair()[0])
    _, shares = encode_version(b"hello", other, SDMF_VERSION, 1, 1, 1)
    with pytest.raises(UnrecoverableFileError, match="fingerprint"):
        verify_and_decode(MutableKeys.from_cap(keys.readcap()), _parse_all(shares))


def test_enc_privkey_corruption_is_named(keys):
    _, shares = encode_version(b"x" * 10, keys, MDMF_VERSION, 1, 1, 1)
    share = layout.parse_share(shares[0])
    assert rsa.private_key_to_der(check_enc_privkey(keys, 0, share)) == \
        rsa.private_key_to_der(keys.privkey)
    share.enc_privkey = _flip(share.enc_privkey, 100)
    with pytest.raises(CorruptShareError, match="encrypted private key") as e:
        check_enc_privkey(keys, 0, share, "srv")
    assert e.value.shnum == 0


def test_readers_cannot_encode(keys):
    with pytest.raises(Exception, match="private key"):
        VersionEncoder(MutableKeys.from_cap(keys.writecap()), SDMF_VERSION, 1, 1, 1, 10)
    with pytest.raises(NotCapableError):
        VersionDecoder(MutableKeys.from_cap(keys.verifycap()),
                       layout.Prefix(0, 1, b"r" * 32, b"s" * 16, 1, 1, 1, 1))
