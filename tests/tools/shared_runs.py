"""Inputs and uninterrupted runs that several test modules read, built once per test session.

Under pytest-xdist every worker has its own base temporary folder, all inside one root; the first worker
that needs an artifact builds it there under a file lock and the others read the same files. The
builders are deterministic (seeded), so which worker builds first changes nothing. Readers must not
write into a shared folder.
"""

import fcntl
import os
import shutil
from pathlib import Path


def shared_root(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(tmp_path_factory, name: str, build) -> Path:
    """`root/name`, made by `build(folder)` the first time any worker of this session asks for it.

    A build that fails leaves nothing behind, so the next asker tries again (and fails the same way).
    """
    root = shared_root(tmp_path_factory)
    folder = root / name
    done = root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                try:
                    build(folder)
                except BaseException:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder
