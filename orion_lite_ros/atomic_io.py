"""Crash-safe file writes: write a temporary file beside the target, fsync, then rename."""
import os
from pathlib import Path
import tempfile
from typing import IO, Callable


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()      # what open() would give: group/other per the umask


def atomic_write(path, write: Callable[[IO], None], binary: bool = False) -> Path:
    """Call ``write(handle)`` on a temporary file and atomically replace ``path`` with it.

    A crash at any point leaves either the old file or the new one, never a partial file,
    and no temporary file behind. The file gets the permissions open() would give (mkstemp's
    0600 would hide results from the group)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + '.', suffix='.tmp', dir=path.parent)
    try:
        os.chmod(tmp, _FILE_MODE)
        with os.fdopen(fd, 'wb' if binary else 'w') as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
