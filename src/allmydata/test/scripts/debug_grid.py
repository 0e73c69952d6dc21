"""A grid of real nodes in this process holding one CHK, one SDMF and one
MDMF file, for the ``tahoe debug`` tests."""

import os
import shutil
import time

import attrs

from allmydata import uri
from allmydata.immutable.upload import Data as UploadData
from allmydata.storage.immutable import ImmutableShareFile
from allmydata.storage.mutable import MutableShareFile, is_mutable_container
from allmydata.testing.nodegrid import start_grid
from allmydata.util import base32

CHK_DATA = bytes(range(256)) * 1200  # 300 KiB: several segments of 128 KiB
SDMF_DATA = b"sdmf contents " * 50
MDMF_DATA = b"mdmf contents " * 20000


@attrs.define
class DebugGrid:
    grid: object
    chk_cap: bytes
    sdmf_cap: bytes
    mdmf_cap: bytes

    @property
    def nodedirs(self):
        return self.grid.storage_dirs

    def share_files(self, cap) -> list:
        return self.grid.share_files(uri.from_string(cap).get_storage_index())

    def si_s(self, cap) -> str:
        return base32.b2a_str(uri.from_string(cap).get_storage_index())

    def copy_share(self, cap, dest_root, index=0) -> str:
        """A copy of one share file under ``dest_root/<prefix>/<SI>/<shnum>``
        (the directory names tell the tools its storage index)."""
        src = self.share_files(cap)[index]
        si_dir = os.path.basename(os.path.dirname(src))
        dest = os.path.join(str(dest_root), si_dir[:2], si_dir, os.path.basename(src))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(src, dest)
        return dest


async def start_debug_grid(root) -> DebugGrid:
    grid = await start_grid(root, storage_count=4, needed=2, happy=3, total=4,
                            max_segment_size=128 * 1024)
    try:
        client = grid.client
        results = await client.upload(UploadData(CHK_DATA, b"C" * 32))
        sdmf = await client.create_mutable_file(SDMF_DATA, version="sdmf")
        mdmf = await client.create_mutable_file(MDMF_DATA, version="mdmf")
    except BaseException:
        await grid.stop()
        raise
    return DebugGrid(grid, results.uri, sdmf.get_uri(), mdmf.get_uri())


def v1_copy(src, dest_root, renew=b"R" * 32, cancel=b"K" * 32) -> str:
    """The share of ``src`` in a container of version 1 (lease secrets kept
    in clear) under ``dest_root/<prefix>/<SI>/<shnum>``, with one lease."""
    si_dir = os.path.basename(os.path.dirname(src))
    dest = os.path.join(str(dest_root), si_dir[:2], si_dir, os.path.basename(src))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    expiration = int(time.time()) + 7 * 24 * 3600
    if is_mutable_container(src):
        old = MutableShareFile(src)
        header = old.header_fields()
        new = MutableShareFile.create(dest, header["nodeid"], header["write_enabler"], version=1)
        new.writev([(0, old.read_share_data(0, header["data_length"]))], None)
        new.add_lease(1, renew, cancel, expiration, header["nodeid"])
    else:
        old = ImmutableShareFile(src)
        data = old.read_share_data(0, old.data_length)
        new = ImmutableShareFile.create(dest, len(data), version=1,
                                        lease=(0, renew, cancel, expiration))
        new.write_share_data(0, data)
    return dest
