"""Getting one segment's plaintext: k blocks from k shares, checked, decoded.

:class:`SegmentFetcher` asks the :class:`~.finder.SharePool` for ``k``
shares with distinct share numbers, fetches block ``segnum`` of each in
parallel, and hands the blocks to :func:`~.validation.decode_segment` in a
worker thread (hashing, zfec and AES stay off the reactor thread).  A share
that fails, on the network or in validation, is dropped and replaced by
another holder; when none is left the pool's ``NotEnoughSharesError`` (or
``NoSharesError``) is raised.  Only plaintext of a segment whose every block
and whose ciphertext matched the hashes ever leaves this module.
"""

import time

from twisted.internet import defer, threads

from .share import CORRUPT, Once, ShareFailure, classify
from .validation import ShareDataError, decode_segment


class SegmentFetcher:
    """Fetches and decodes segments of one file for one read."""

    def __init__(self, pool, file_hashes, results, reactor, use_threads: bool = True):
        self._pool = pool
        self._file = file_hashes
        self._results = results
        self._reactor = reactor
        self._use_threads = use_threads
        self._crypttext_fetch = None

    @property
    def k(self) -> int:
        return self._file.k

    # ---- setup ------------------------------------------------------------------------
    async def get_parameters(self) -> None:
        """Make sure the file's UEB is known (from the first good share)."""
        pool = self._pool
        while self._file.params is None:
            shares = pool.choose(self.k)
            if len(pool.usable_shnums()) < self.k and not pool.pending:
                raise pool.unrecoverable()
            if not shares:
                await pool.wait_for_change()
                continue
            t0 = time.monotonic()
            outcomes = await defer.DeferredList([s.prepare() for s in shares],
                                                consumeErrors=True)
            self._results.add_time("uri_extension", time.monotonic() - t0)
            for share, (ok, value) in zip(shares, outcomes):
                if not ok:
                    pool.share_failed(classify(share, value.value, "share's hashes"))

    # ---- segments ---------------------------------------------------------------------
    async def get_plaintext(self, segnum: int) -> bytes:
        """The validated, decrypted plaintext of segment ``segnum``."""
        pool = self._pool
        blocks = {}  # shnum -> (share, bytes)
        while True:
            while len(blocks) < self.k:
                missing = self.k - len(blocks)
                shares = pool.choose(missing, exclude_shnums=blocks.keys())
                if len(shares) < missing:
                    if pool.pending:
                        await pool.wait_for_change()
                        continue
                    raise pool.unrecoverable()
                outcomes = await defer.DeferredList(
                    [defer.ensureDeferred(self._fetch_block(s, segnum)) for s in shares],
                    consumeErrors=True)
                for share, (ok, value) in zip(shares, outcomes):
                    if ok:
                        blocks[share.shnum] = (share, value)
                    else:
                        pool.share_failed(classify(share, value.value, "block %d" % segnum))
            await self._ensure_crypttext_hashes(segnum, [s for s, _ in blocks.values()])
            plaintext, bad = await self._decode(segnum, blocks)
            if not bad:
                return plaintext
            for shnum, reason in bad.items():
                share, _data = blocks.pop(shnum)
                pool.share_failed(ShareFailure(share, CORRUPT, reason))

    async def _fetch_block(self, share, segnum: int) -> bytes:
        t0 = time.monotonic()
        data = await share.get_block(segnum)
        elapsed = time.monotonic() - t0
        self._results.add_fetch(share.serverid, elapsed, len(data), share.shnum, segnum)
        self._results.add_time("cumulative_fetch", elapsed)
        return data

    async def _decode(self, segnum: int, blocks: dict):
        params, key = self._file.params, self._file.key
        data = {shnum: d for shnum, (_s, d) in blocks.items()}
        leaves = {shnum: s.block_leaf(segnum) for shnum, (s, _d) in blocks.items()}
        leaf = self._file.crypttext_hash_tree.get_leaf(segnum)
        timings = {}
        if self._use_threads:
            result = await threads.deferToThreadPool(
                self._reactor, self._reactor.getThreadPool(), decode_segment,
                params, key, segnum, data, leaves, leaf, timings)
        else:
            result = decode_segment(params, key, segnum, data, leaves, leaf, timings)
        self._results.add_time("cumulative_decode", timings.get("decode", 0.0))
        self._results.add_time("cumulative_decrypt", timings.get("decrypt", 0.0))
        return result

    # ---- the crypttext hash tree ------------------------------------------------------
    async def _ensure_crypttext_hashes(self, segnum: int, preferred) -> None:
        """Fetch (once, from one share) what the crypttext tree lacks for
        ``segnum``; a share whose tree does not match the UEB is corrupt."""
        pool = self._pool
        while self._file.crypttext_hashes_needed(segnum):
            if self._crypttext_fetch is not None:
                await self._crypttext_fetch.when_done()
                continue
            candidates = [s for s in preferred if s.usable] + \
                [s for s in pool.usable_shares() if s not in preferred]
            if not candidates:
                if pool.pending:
                    await pool.wait_for_change()
                    continue
                raise pool.unrecoverable()
            d = defer.ensureDeferred(self._fetch_crypttext_hashes(candidates[0], segnum))
            self._crypttext_fetch = Once(d)
            try:
                await self._crypttext_fetch.when_done()
            finally:
                self._crypttext_fetch = None

    async def _fetch_crypttext_hashes(self, share, segnum: int) -> None:
        t0 = time.monotonic()
        try:
            hashes = await share.get_crypttext_hashes(self._file.crypttext_hashes_needed(segnum))
            self._file.add_crypttext_hashes(hashes)
            if self._file.crypttext_hashes_needed(segnum):
                raise ShareDataError("its crypttext hash tree lacks the nodes for segment %d"
                                     % segnum)
        except ShareDataError as e:
            self._pool.share_failed(ShareFailure(share, CORRUPT, str(e)))
        except Exception as e:
            self._pool.share_failed(classify(share, e, "crypttext hash tree"))
        finally:
            self._results.add_time("hashtrees", time.monotonic() - t0)
