"""What the status object of any one grid operation (an upload, a download,
a mutable publish, retrieve or server-map update) holds, with the accessors that the 2008
interfaces' IDownloadStatus/IUploadStatus name: start time, storage index, size, a
one-line state text, progress from 0.0 to 1.0, an active flag, and a
counter unique across all operations (the web's status pages link by it)."""

import itertools
import time

_counter = itertools.count(1)


class OperationStatus:
    def __init__(self, storage_index: bytes | None = None, size: int | None = None):
        self.started = time.time()
        self.storage_index = storage_index
        self.size = size
        self.status = "Not started"
        self.progress = 0.0
        self.active = True
        self.counter = next(_counter)

    def get_started(self) -> float:
        return self.started

    def get_storage_index(self) -> bytes | None:
        return self.storage_index

    def get_size(self) -> int | None:
        return self.size

    def using_helper(self) -> bool:
        return False

    def get_status(self) -> str:
        return self.status

    def get_progress(self) -> float:
        return self.progress

    def get_active(self) -> bool:
        return self.active

    def get_counter(self) -> int:
        return self.counter
