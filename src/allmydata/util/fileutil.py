"""Small file helpers: atomic writes, private files."""

import os
import tempfile


def write_atomically(path, data: bytes, mode=0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file,
    never a partial one."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_text(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()
