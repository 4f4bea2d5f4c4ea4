"""TFRecord files written without TensorFlow: framing, checksums, atomic replace.

A TFRecord file is a sequence of ``uint64 length | uint32 masked_crc32c(length) | data |
uint32 masked_crc32c(data)`` (little-endian). Writing it needs only a CRC-32C, which
``google-crc32c`` computes in C; so the fine-tuning data jobs and their workers never pay the
TensorFlow import. Files are written under ``<path>.incomplete`` and renamed when closed, so a killed
job never leaves a truncated file under the final name. Remote paths (``gs://`` ...) go through
``tf.io.gfile``, which does import TensorFlow.

Example:

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "x.tfrecord")
>>> with TFRecordWriter(path) as writer:
...     writer.write(b"hello")
>>> list(read_records(path))
[b'hello']
"""

from __future__ import annotations

import os
import struct
from typing import Iterator

import google_crc32c

INCOMPLETE_SUFFIX = ".incomplete"
_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C of ``data``.

    Example:

    >>> masked_crc32c(b"")
    2726488792
    """
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(record: bytes) -> bytes:
    """One record with its TFRecord header and footer."""
    length = struct.pack("<Q", len(record))
    return b"".join(
        (length, struct.pack("<I", masked_crc32c(length)), record, struct.pack("<I", masked_crc32c(record)))
    )


class TFRecordWriter:
    """Writes records to ``path`` atomically (``<path>.incomplete`` renamed on :meth:`close`).

    Leaving a ``with`` block by an exception removes the incomplete file instead.
    """

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self.tmp = self.path + INCOMPLETE_SUFFIX
        self.records = 0
        self._remote = "://" in self.path
        if self._remote:
            import tensorflow as tf

            self._file = tf.io.gfile.GFile(self.tmp, "wb")
        else:
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)
            self._file = open(self.tmp, "wb")

    def write(self, record: bytes) -> None:
        self._file.write(frame(record))
        self.records += 1

    def close(self) -> None:
        """Closes the file and moves it to its final name."""
        if self._file is None:
            return
        self._file.close()
        self._file = None
        if self._remote:
            import tensorflow as tf

            tf.io.gfile.rename(self.tmp, self.path, overwrite=True)
        else:
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Closes and deletes the incomplete file; the final name is left as it was."""
        if self._file is None:
            return
        self._file.close()
        self._file = None
        if self._remote:
            import tensorflow as tf

            if tf.io.gfile.exists(self.tmp):
                tf.io.gfile.remove(self.tmp)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def read_records(path: str, verify: bool = True) -> Iterator[bytes]:
    """The records of a local TFRecord file; checksums are verified unless ``verify=False``."""
    with open(path, "rb") as f:
        index = 0
        while True:
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                raise ValueError(f"{path}: record {index} is truncated (header of {len(header)} bytes)")
            (length,) = struct.unpack("<Q", header[:8])
            data = f.read(length)
            footer = f.read(4)
            if len(data) < length or len(footer) < 4:
                raise ValueError(f"{path}: record {index} is truncated")
            if verify and (
                struct.unpack("<I", header[8:])[0] != masked_crc32c(header[:8])
                or struct.unpack("<I", footer)[0] != masked_crc32c(data)
            ):
                raise ValueError(f"{path}: record {index} has a bad checksum")
            yield data
            index += 1
