"""Placing a file's shares: ciphertext in, shares on servers out.

:func:`encode_and_push` is the part of a CHK upload that works on
ciphertext only: it reads the size, parameters and storage index of an
``IEncryptedUploadable``, chooses servers (:mod:`.selector`,
servers-of-happiness), encodes and pushes the shares (:mod:`.encode`) and
answers a :class:`PushedFile`.  It never needs the encryption key, so both
the client's uploader (which then builds the cap) and the upload helper
(which has only the client's ciphertext) use it.
"""

import time

import attr

from ..util import hashutil
from .encode import Encoder
from .layout import make_write_bucket_proxy
from .selector import select_servers

__all__ = ["PushedFile", "encode_and_push", "file_secrets"]


@attr.s(frozen=True)
class PushedFile:
    """What one encode-and-push did.

    ``storage_index``; ``uri_extension_hash`` and ``uri_extension_data``
    (the UEB dict); ``needed_shares``, ``total_shares``, ``size``;
    ``sharemap`` {shnum: set(serverid)} of every share placed (pushed or
    found); ``pushed_shares`` (written now), ``preexisting_shares`` (found
    on servers); ``timings`` {name: seconds} (``storage_index``,
    ``peer_selection``, ``encode_and_push`` and the encoder's own);
    ``placement_summary`` (one line for people).
    """

    storage_index = attr.ib()
    uri_extension_hash = attr.ib()
    uri_extension_data = attr.ib()
    needed_shares = attr.ib()
    total_shares = attr.ib()
    size = attr.ib()
    sharemap = attr.ib()
    pushed_shares = attr.ib()
    preexisting_shares = attr.ib()
    timings = attr.ib()
    placement_summary = attr.ib()


def file_secrets(secret_holder, storage_index: bytes):
    """The file renewal and cancel secrets (docs/specifications/encodings.md §4.3)."""
    return (hashutil.file_renewal_secret_hash(secret_holder.get_renewal_secret(),
                                              storage_index),
            hashutil.file_cancel_secret_hash(secret_holder.get_cancel_secret(),
                                             storage_index))


async def encode_and_push(encrypted, storage_broker, secret_holder, canary, reactor=None,
                          status=None, selection_timeout=None) -> PushedFile:
    """Encode the ciphertext of ``encrypted`` (an ``IEncryptedUploadable``)
    and place its shares on the servers of ``storage_broker``, with leases
    under the secrets of ``secret_holder``; ``canary`` is the Referenceable
    the servers watch for this uploader's disconnection.  ``status``, if
    given, is the upload status the encoder reports progress to."""
    timings = {}
    t = time.perf_counter()
    encoder = Encoder(reactor=reactor, status=status)
    await encoder.set_encrypted_uploadable(encrypted)
    storage_index = encoder.get_param("storage_index")
    timings["storage_index"] = time.perf_counter() - t

    t = time.perf_counter()
    if status is not None:
        status.set_status("Choosing servers")
    p = encoder.get_segment_params()
    k, happy, n = encoder.get_param("share_counts")
    ueb_size = encoder.get_uri_extension_size()

    def proxy(rref, server):
        return make_write_bucket_proxy(rref, server, p.share_data_size, p.block_size,
                                       p.num_segments, p.num_share_hashes, ueb_size)
    allocated = proxy(None, None).allocated_size()
    renew, cancel = file_secrets(secret_holder, storage_index)
    kwargs = {"clock": reactor}
    if selection_timeout is not None:
        kwargs["timeout"] = selection_timeout
    placement = await select_servers(
        storage_broker, storage_index, allocated, k, happy, n,
        lambda serverid: hashutil.bucket_renewal_secret_hash(renew, serverid),
        lambda serverid: hashutil.bucket_cancel_secret_hash(cancel, serverid),
        canary_factory=lambda: canary, **kwargs)
    timings["peer_selection"] = time.perf_counter() - t

    t = time.perf_counter()
    shareholders = {shnum: proxy(rref, server)
                    for shnum, (server, rref) in placement.writers.items()}
    encoder.set_shareholders(shareholders, placement.sharemap())
    # ``placement`` (and its canary) stays referenced until the buckets are closed
    ueb_hash, k, n, size = await encoder.start()
    timings["encode_and_push"] = time.perf_counter() - t
    timings.update(encoder.get_times())
    return PushedFile(
        storage_index=storage_index, uri_extension_hash=ueb_hash,
        uri_extension_data=encoder.get_uri_extension_data(), needed_shares=k, total_shares=n,
        size=size, sharemap=encoder.get_servermap(),
        pushed_shares=len(encoder.get_shares_placed()),
        preexisting_shares=len(placement.preexisting), timings=timings,
        placement_summary=placement.summary)
