"""An in-process grid with an upload helper, for the helper server's tests.

Five real storage servers on Tubs on 127.0.0.1 (:class:`StorageGrid`), a
:class:`Helper` using the grid's broker and registered on a Tub of its own,
and a client Tub holding a reference to the helper, as a client node would.
"""

import attrs
from foolscap.api import Tub

from allmydata import uri
from allmydata.helper.server import Helper
from allmydata.immutable.filenode import ImmutableFileNode
from allmydata.testing.ciphertext_source import BytesCiphertextSource, encrypt
from allmydata.testing.storagegrid import StorageGrid, grid_secrets
from allmydata.testing.tubs import start_tub
from allmydata.util.rrefutil import call_remote


@attrs.define(slots=False)
class HelperGrid:
    grid: StorageGrid
    helper: Helper
    helper_tub: Tub
    client_tub: Tub
    furl: str
    rref: object

    async def close(self):
        for tub in (self.client_tub, self.helper_tub):
            if tub.running:
                await tub.stopService()
        if self.helper.running:
            await self.helper.stopService()
        await self.grid.close()


async def start_helper_grid(basedir, certs, servers=5, **helper_kwargs) -> HelperGrid:
    grid = StorageGrid(basedir / "grid", certs)
    await grid.start(servers)
    helper_kwargs.setdefault("happy", servers)
    helper = Helper(str(basedir / "helper"), grid.broker, grid_secrets(), **helper_kwargs)
    helper.startService()
    helper_tub = start_tub()
    furl = helper_tub.registerReference(helper)
    client_tub = Tub()
    client_tub.startService()
    rref = await client_tub.getReference(furl)
    return HelperGrid(grid, helper, helper_tub, client_tub, furl, rref)


@attrs.define
class PreparedFile:
    plaintext: bytes
    ciphertext: bytes
    key: bytes
    storage_index: bytes
    params: tuple

    def source(self, **kwargs) -> BytesCiphertextSource:
        return BytesCiphertextSource(self.ciphertext, self.params, **kwargs)

    def cap(self, results) -> uri.CHKFileURI:
        k, _happy, n, _segsize = self.params
        return uri.CHKFileURI(self.key, results.uri_extension_hash, k, n, len(self.plaintext))


async def prepare(plaintext: bytes, **kwargs) -> PreparedFile:
    ciphertext, key, si, params = await encrypt(plaintext, **kwargs)
    return PreparedFile(plaintext, ciphertext, key, si, params)


async def upload_through(rref, storage_index: bytes, source):
    """(results of upload_chk, results of upload or None) through the helper."""
    first, uploader = await call_remote(rref, "upload_chk", storage_index)
    if uploader is None:
        return first, None
    return first, await call_remote(uploader, "upload", source)


async def download(grid: StorageGrid, cap) -> bytes:
    return await ImmutableFileNode(cap, grid.broker).download_to_data()


def content(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes in which every 4-byte word differs."""
    words = (size + 3) // 4
    return b"".join((i * 2654435761 + seed).to_bytes(8, "big")[4:]
                    for i in range(words))[:size]
