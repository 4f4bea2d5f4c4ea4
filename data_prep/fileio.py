"""File operations for the data-preparation jobs: plain ``os`` locally, ``tf.io.gfile`` for URLs.

The jobs run without TensorFlow (importing it costs seconds per process). Only a path with a
scheme (``gs://``, ``s3://``, ``hdfs://``, as the original's ``tf.gfile`` accepted) imports
TensorFlow, and then only in the process that touches it.

Example:

>>> import os, tempfile
>>> directory = tempfile.mkdtemp()
>>> path = os.path.join(directory, "sub", "a.json")
>>> makedirs(os.path.dirname(path)); write_text_atomic(path, '{"ok": 1}')
>>> exists(path), read_text(path)
(True, '{"ok": 1}')
"""

from __future__ import annotations

import os


def is_url(path: str) -> bool:
    """Whether ``path`` names a remote file system (``gs://bucket/x``) rather than a local path."""
    return "://" in str(path)


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_url(path) else os.path.exists(path)


def makedirs(directory: str) -> None:
    if not directory:
        return
    if is_url(directory):
        _gfile().makedirs(directory)
    else:
        os.makedirs(directory, exist_ok=True)


def rename(source: str, target: str) -> None:
    """Replaces ``target`` by ``source`` (atomic on a local file system)."""
    if is_url(source) or is_url(target):
        _gfile().rename(source, target, overwrite=True)
    else:
        os.replace(source, target)


def remove_if_exists(path: str) -> None:
    if is_url(path):
        if _gfile().exists(path):
            _gfile().remove(path)
    elif os.path.exists(path):
        os.remove(path)


def open_binary(path: str, mode: str = "rb"):
    """A binary file object for ``"rb"`` or ``"wb"``."""
    if is_url(path):
        return _gfile().GFile(path, mode)
    return open(path, mode)


def read_text(path: str) -> str:
    """The UTF-8 text of ``path``; ``FileNotFoundError`` if it does not exist."""
    if is_url(path):
        gfile = _gfile()
        if not gfile.exists(path):
            raise FileNotFoundError(path)
        with gfile.GFile(path, "r") as f:
            return f.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def write_text_atomic(path: str, text: str, suffix: str = ".incomplete") -> None:
    """Writes ``path`` through ``path + suffix`` and a rename, so readers never see half a file."""
    tmp = path + suffix
    if is_url(path):
        with _gfile().GFile(tmp, "w") as f:
            f.write(text)
    else:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    rename(tmp, path)


#: Bytes read from the start of a text input to tell it from a binary file.
TEXT_SNIFF_BYTES = 8192


def refuse_binary(path: str, flag: str = "--input") -> None:
    """Raises ``ValueError`` naming ``path`` when its first bytes hold a NUL byte (not UTF-8 text).

    A tokenizer or sentence splitter would otherwise turn an archive, a model file or UTF-16 text
    into garbage sentences without a word of warning.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "model.bin")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"PK\\x03\\x04\\x00\\x00binary")
    >>> refuse_binary(path)
    Traceback (most recent call last):
    ...
    ValueError: --input: ...model.bin is a binary file (a NUL byte within its first 8192 bytes); expected UTF-8 text...
    """
    with open_binary(path) as f:
        head = f.read(TEXT_SNIFF_BYTES)
    if b"\x00" in head:
        raise ValueError(
            f"{flag}: {path} is a binary file (a NUL byte within its first {TEXT_SNIFF_BYTES} bytes); expected UTF-8 "
            "text, one sentence per line (UTF-16 text holds NUL bytes too: convert it to UTF-8 first)"
        )


def size_and_mtime(path: str) -> tuple:
    """``(bytes, modification time in ns)`` of a file: what tells one version of it from the next."""
    if is_url(path):
        stat = _gfile().stat(path)
        return int(stat.length), int(stat.mtime_nsec)
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns
