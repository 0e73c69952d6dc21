"""A small upload helper for the client's tests: a real Foolscap partner.

:class:`SmallHelper` implements ``RIHelper`` over a storage grid's broker.
Its ``upload`` reads the client's whole ciphertext with ``read_encrypted``
(in pieces, as a helper does), encodes and pushes it with
:func:`~allmydata.immutable.push.encode_and_push`, and answers real results;
it remembers what it stored, so a second ``upload_chk`` of the same storage
index answers "already stored" with no uploader.  It keeps the ciphertext in
memory: test files are small.

A ``lie`` function, when given, alters the results before they are sent:
that is how the tests play a helper that lies.  Everything else it does is
what an honest helper does.
"""

import attrs
from foolscap.api import Referenceable
from twisted.internet import defer
from zope.interface import implementer

from allmydata.helper.interfaces import (
    HELPER_V1, HelperUploadResults, RICHKUploadHelper, RIHelper,
)
from allmydata.immutable.push import encode_and_push
from allmydata.util.rrefutil import call_remote

#: how many bytes the small helper asks for in each read
READ_SIZE = 50 * 1000


class MemoryCiphertext:
    """An IEncryptedUploadable over ciphertext held in memory (the helper's
    side has no key: only the storage index the client announced)."""

    def __init__(self, ciphertext: bytes, params: tuple, storage_index: bytes):
        self._data = ciphertext
        self._params = params
        self._si = storage_index
        self._pos = 0

    def set_upload_status(self, status):
        pass

    def get_size(self):
        return defer.succeed(len(self._data))

    def get_all_encoding_parameters(self):
        return defer.succeed(self._params)

    def get_storage_index(self):
        return defer.succeed(self._si)

    def read_encrypted(self, length, hash_only=False):
        start, self._pos = self._pos, min(len(self._data), self._pos + length)
        return defer.succeed([] if hash_only else [self._data[start:self._pos]])

    def close(self):
        pass


@attrs.define
class Calls:
    """What the small helper was asked and did."""

    upload_chk: list = attrs.Factory(list)          # storage indexes
    reads: list = attrs.Factory(list)               # (offset, length, bytes answered)
    closed: int = 0


@implementer(RIHelper)
class SmallHelper(Referenceable):
    """``broker`` and ``secrets``: where and with which lease secrets it
    places shares; ``lie(results, ciphertext)`` (or None) alters the results;
    ``version`` is what ``get_version`` answers."""

    def __init__(self, broker, secrets, lie=None, version=None, on_upload=None):
        self.broker = broker
        self.secrets = secrets
        self.lie = lie
        self.version = version if version is not None else {
            HELPER_V1: {}, b"application-version": b"small test helper"}
        self.on_upload = on_upload
        self.stored = {}
        self.calls = Calls()
        self.canary = Referenceable()

    def remote_get_version(self):
        return self.version

    def remote_upload_chk(self, si):
        self.calls.upload_chk.append(si)
        if si in self.stored:
            return (self.stored[si], None)
        return (None, _SmallUploader(self, si))

    async def upload(self, si, reader):
        size = await call_remote(reader, "get_size")
        params = tuple(await call_remote(reader, "get_all_encoding_parameters"))
        chunks = []
        offset = 0
        while offset < size:
            if self.on_upload is not None:
                await self.on_upload(self, offset)
            pieces = await call_remote(reader, "read_encrypted", offset, READ_SIZE)
            got = sum(len(p) for p in pieces)
            self.calls.reads.append((offset, READ_SIZE, got))
            if not got:
                raise ValueError("the client's ciphertext ended at %d of %d" % (offset, size))
            chunks.extend(pieces)
            offset += got
        await call_remote(reader, "close")
        self.calls.closed += 1
        ciphertext = b"".join(chunks)
        pushed = await encode_and_push(MemoryCiphertext(ciphertext, params, si), self.broker,
                                       self.secrets, self.canary)
        results = HelperUploadResults()
        results.uri_extension_hash = pushed.uri_extension_hash
        results.uri_extension_data = pushed.uri_extension_data
        results.sharemap = pushed.sharemap
        results.servermap = {}
        results.file_size = size
        results.ciphertext_fetched = len(ciphertext)
        results.pushed_shares = pushed.pushed_shares
        results.preexisting_shares = pushed.preexisting_shares
        results.timings = dict(pushed.timings, total=sum(pushed.timings.values()))
        if self.lie is not None:
            self.lie(results, ciphertext)
        else:
            self.stored[si] = results
        return results


@implementer(RICHKUploadHelper)
class _SmallUploader(Referenceable):
    def __init__(self, helper: SmallHelper, si: bytes):
        self._helper = helper
        self._si = si

    def remote_get_version(self):
        return self._helper.version

    def remote_upload(self, reader):
        return defer.ensureDeferred(self._helper.upload(self._si, reader))
