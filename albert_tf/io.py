"""Atomic file writes whose result is as readable as a plain ``open(path, "w")`` would leave it.

A temp file beside the target and an ``os.replace`` keep readers from ever seeing half a file, but
``tempfile.mkstemp`` creates the temp file with mode 0600 whatever the umask: renamed into place, a
config or a checkpoint then cannot be read by a model server or a teammate running as another user.
Every atomic write in the package therefore goes through `atomic_write`, which gives the file the mode
``0666 & ~umask`` before the rename. TensorFlow-free: the data-preparation jobs use it too.

Example:

>>> import os, stat, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "a.json")
>>> write_text_atomic(path, '{"ok": 1}')
>>> open(path).read(), oct(stat.S_IMODE(os.stat(path).st_mode)) == oct(0o666 & ~current_umask())
('{"ok": 1}', True)
"""

from __future__ import annotations

import os
import tempfile
from typing import Callable


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # Elsewhere the only portable read sets it; restored at once (a race with threads creating files).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def plain_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file under the current umask (0644 under umask 022)."""
    return 0o666 & ~current_umask()


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], fsync: bool = False) -> None:
    """Calls ``write(tmp)`` on a temp file beside ``path``, gives it the umask's mode, renames it over ``path``.

    ``write`` receives a path (so writers that only take a file name, such as safetensors', fit);
    on any failure the temp file is removed and ``path`` is left as it was.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, plain_file_mode())
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes, fsync: bool = False) -> None:
    """``data`` at ``path`` through `atomic_write`."""

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, write, fsync=fsync)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """UTF-8 ``text`` at ``path`` through `atomic_write`."""
    write_bytes_atomic(path, text.encode("utf-8"))
