"""Writing files so that a reader never sees a half-written one."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["fsync_directory", "write_atomically"]


def write_atomically(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it over ``path``.

    The data are flushed to disk before the rename and the rename itself after it, and the
    temporary file is removed if anything fails, so ``path`` holds either its old content or
    the complete new one. A write error (a full disk, a read-only directory) is raised as
    one-line ``OSError`` that says the previous file is unchanged.
    """
    path = Path(path)
    if not path.parent.exists():
        raise FileNotFoundError(
            f"The directory of 'path' does not exist: {path.parent}. Create it first."
        )
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_directory(path.parent)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, FileNotFoundError):
            reason = os.strerror(err.errno) if err.errno else str(err).splitlines()[0]
            raise OSError(
                err.errno,
                f"could not write {str(path)!r} ({reason}); the previous file is unchanged",
            ) from None
        raise


def fsync_directory(directory: Path) -> None:
    """Make a created, renamed or removed directory entry durable (a no-op where refused)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as err:  # some file systems and platforms refuse fsync on directories
        if err.errno not in (errno.EINVAL, errno.EBADF, errno.EACCES):
            raise
    finally:
        os.close(fd)
