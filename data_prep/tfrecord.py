"""A TFRecord writer without TensorFlow: the same bytes as ``tf.io.TFRecordWriter`` (uncompressed).

``tf.io.TFRecordWriter`` would cost the job a TensorFlow import. The framing is short: each
record is ``uint64 length``, ``uint32 masked CRC-32C of the length``, the data, ``uint32 masked
CRC-32C of the data`` (little-endian), the CRC computed by google-crc32c's C implementation.
Remote paths (``gs://...``) are written through ``tf.io.gfile`` (see :mod:`data_prep.fileio`).

Example:

>>> import io
>>> buffer = io.BytesIO()
>>> writer = TFRecordWriter(buffer)
>>> writer.write(b"abc")
>>> buffer.getvalue().hex()
'0300000000000000b099490e6162636e57f121'
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Union

import google_crc32c

from data_prep import fileio

_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: CRC-32C rotated right by 15 bits plus a constant, modulo 2**32."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


class TFRecordWriter:
    """Writes records to a path or an open binary file; use as a context manager or ``close()``."""

    def __init__(self, target: Union[str, BinaryIO]):
        if isinstance(target, str):
            self._file = fileio.open_binary(target, "wb")
            self._owned = True
        else:
            self._file = target
            self._owned = False

    def write(self, record: bytes) -> None:
        length = struct.pack("<Q", len(record))
        self._file.write(b"".join((
            length, struct.pack("<I", masked_crc32c(length)), record, struct.pack("<I", masked_crc32c(record)),
        )))

    def close(self) -> None:
        if self._owned:
            self._file.close()

    def __enter__(self) -> "TFRecordWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
