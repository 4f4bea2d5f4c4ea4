"""TFRecord files written without TensorFlow: framing, checksums, atomic replace.

A TFRecord file is a sequence of ``uint64 length | uint32 masked_crc32c(length) | data |
uint32 masked_crc32c(data)`` (little-endian). Writing it needs only a CRC-32C, which
``google-crc32c`` computes in C; so the fine-tuning data jobs and their workers never pay the
TensorFlow import. Files are written under ``<path>.incomplete`` and renamed when closed, so a killed
job never leaves a truncated file under the final name. Remote paths (``gs://`` ...) go through
``tf.io.gfile``, which does import TensorFlow.

:func:`scan_tfrecord_file` tells a corrupted file's recoverable records from its lost ones, and
:func:`repair_tfrecord_file` / :func:`repair_corrupt_files` copy the good ones out, so that
``albert-pretrain --skip_corrupt_records`` loses one record per bad checksum rather than the rest of the
shard (TensorFlow's reader drops everything after the first error in a file).

Example:

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "x.tfrecord")
>>> with TFRecordWriter(path) as writer:
...     writer.write(b"hello")
>>> list(read_records(path))
[b'hello']
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import struct
from typing import Iterator, Optional, Sequence

import google_crc32c

from data_prep.fileio import exists, is_url, makedirs, open_binary, read_text, remove_if_exists, rename, \
    size_and_mtime, write_text_atomic

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
        makedirs(os.path.dirname(self.path if is_url(self.path) else os.path.abspath(self.path)))
        self._file = open_binary(self.tmp, "wb")

    def write(self, record: bytes) -> None:
        self._file.write(frame(record))
        self.records += 1

    def close(self) -> None:
        """Closes the file and moves it to its final name."""
        if self._release():
            rename(self.tmp, self.path)

    def abort(self) -> None:
        """Closes and deletes the incomplete file; the final name is left as it was."""
        if self._release():
            remove_if_exists(self.tmp)

    def _release(self) -> bool:
        """Closes the file, once: whether it was still open (a second close or abort does nothing)."""
        if self._file is None:
            return False
        self._file.close()
        self._file = None
        return True

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


# ---------------------------------------------------------------------------------------------------
# Scanning and repairing damaged files.

#: Bytes read at a time by the scanner: few reads (one per record would be three calls), yet small
#: enough for the block to stay in the CPU cache while its records are sliced out of it (4 MiB blocks
#: scanned ~40% slower than 256-512 KiB ones). A longer record is read whole all the same.
SCAN_BLOCK_BYTES = 512 << 10

#: Where a file's framing can break. After either, no later record can be located: a length field
#: that fails its checksum cannot be trusted to say where the next record starts.
TRUNCATED = "truncated record"
BAD_LENGTH = "length header checksum mismatch"

_HEADER_BYTES = 12
_FOOTER_BYTES = 4
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
# Bounds the scanner's memory for files whose records all differ in length (~60 bytes a header).
_CHECKED_HEADERS_MAX = 1 << 16


@dataclasses.dataclass(frozen=True)
class TFRecordScan:
    """What :func:`scan_tfrecord_file` found in one file.

    ``corrupt_records`` failed their data checksum; their length header was intact, so reading went
    on at the next record (``first_corrupt_offset`` is the byte where the first of them starts).
    ``tail`` (:data:`TRUNCATED` or :data:`BAD_LENGTH`) is set when the framing is lost at byte
    ``tail_offset``: the ``tail_bytes`` from there to the end cannot be split into records.
    """

    path: str
    size: int
    good_records: int
    corrupt_records: int = 0
    first_corrupt_offset: Optional[int] = None
    tail: Optional[str] = None
    tail_offset: Optional[int] = None

    @property
    def clean(self) -> bool:
        return not self.corrupt_records and self.tail is None

    @property
    def tail_bytes(self) -> int:
        return 0 if self.tail_offset is None else self.size - self.tail_offset

    def describe(self) -> str:
        """One line: records kept, corrupt records skipped, the lost tail.

        >>> TFRecordScan("a.tfrecord", 5000, 9, 1, 1200, TRUNCATED, 4800).describe()
        'a.tfrecord: 9 records kept, 1 corrupt record skipped (data checksum, first at byte 1200), tail dropped: yes (truncated record at byte 4800, 200 bytes)'
        """
        kept = f"{self.good_records} record{'' if self.good_records == 1 else 's'} kept"
        skipped = f"{self.corrupt_records} corrupt record{'' if self.corrupt_records == 1 else 's'} skipped"
        if self.corrupt_records:
            skipped += f" (data checksum, first at byte {self.first_corrupt_offset})"
        tail = "no"
        if self.tail is not None:
            tail = f"yes ({self.tail} at byte {self.tail_offset}, {self.tail_bytes} bytes)"
        return f"{self.path}: {kept}, {skipped}, tail dropped: {tail}"


def _scan(path: str, block_bytes: int, write=None) -> TFRecordScan:
    """Scans ``path``, passing each good record, framed, to ``write`` (when given)."""
    size = size_and_mtime(path)[0]
    # Local names, the CRC mask inlined and each distinct header checked once (a shard's records come
    # in few lengths): at about 1 KB per record the Python work per record, not the checksum of the
    # data itself, sets the speed.
    value, unpack_crc = google_crc32c.value, _CRC.unpack_from
    checked_headers = set()
    good = corrupt = 0
    first_corrupt = None
    buf, pos, base = b"", 0, 0  # base: the file offset of buf[0]; pos: the next record in buf
    eof = False
    with open_binary(path) as f:
        while True:
            n = len(buf)
            length = None
            while pos + _HEADER_BYTES <= n:
                header = buf[pos:pos + _HEADER_BYTES]
                if header not in checked_headers:
                    crc = value(header[:8])
                    if unpack_crc(header, 8)[0] != (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF:
                        return TFRecordScan(path, size, good, corrupt, first_corrupt, BAD_LENGTH, base + pos)
                    if len(checked_headers) >= _CHECKED_HEADERS_MAX:
                        checked_headers.clear()
                    checked_headers.add(header)
                (length,) = _LENGTH.unpack_from(header)
                end = pos + _HEADER_BYTES + length + _FOOTER_BYTES
                if end > n:
                    break  # the record goes on in the next block
                crc = value(buf[pos + _HEADER_BYTES:end - _FOOTER_BYTES])
                if unpack_crc(buf, end - _FOOTER_BYTES)[0] == (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF:
                    good += 1
                    if write is not None:
                        write(buf[pos:end])
                else:
                    corrupt += 1
                    if first_corrupt is None:
                        first_corrupt = base + pos
                length = None
                pos = end
            if eof:
                if pos == n:
                    return TFRecordScan(path, size, good, corrupt, first_corrupt)
                return TFRecordScan(path, size, good, corrupt, first_corrupt, TRUNCATED, base + pos)
            need = _HEADER_BYTES
            if length is not None:
                need += length + _FOOTER_BYTES
                if base + pos + need > size:
                    # A checked length may still point far past the end of a cut file: reading up
                    # to it would only hold the rest of the file in memory.
                    return TFRecordScan(path, size, good, corrupt, first_corrupt, TRUNCATED, base + pos)
            chunk = f.read(max(block_bytes, need - (n - pos)))
            if not chunk:
                eof = True
                continue
            base += pos
            buf = buf[pos:] + chunk
            pos = 0


def scan_tfrecord_file(path: str, block_bytes: int = SCAN_BLOCK_BYTES) -> TFRecordScan:
    """Checks every record of a TFRecord file (local or ``gs://``...) without TensorFlow's reader.

    Example (the second of three records gets a flipped data byte):

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.tfrecord")
    >>> with TFRecordWriter(path) as writer:
    ...     for record in (b"first", b"second", b"third"):
    ...         writer.write(record)
    >>> with open(path, "r+b") as f:
    ...     _ = f.seek(len(frame(b"first")) + 12)
    ...     _ = f.write(b"S")
    >>> scan = scan_tfrecord_file(path)
    >>> scan.good_records, scan.corrupt_records, scan.tail
    (2, 1, None)
    """
    return _scan(path, block_bytes)


def repair_tfrecord_file(path: str, destination: str, block_bytes: int = SCAN_BLOCK_BYTES) -> TFRecordScan:
    """Writes the good records of ``path`` to ``destination``, in order; returns the scan of ``path``.

    The copy is written under a temporary name and renamed when complete, so ``destination`` holds
    either its previous content or the whole repaired file.
    """
    makedirs(os.path.dirname(destination))
    tmp = f"{destination}{INCOMPLETE_SUFFIX}-{os.getpid()}"
    try:
        # A large write buffer: records are about 1 KB, and each would otherwise be a write call.
        with (open_binary(tmp, "wb") if is_url(tmp) else open(tmp, "wb", buffering=block_bytes)) as out:
            scan = _scan(path, block_bytes, out.write)
        rename(tmp, destination)
    except BaseException:
        remove_if_exists(tmp)
        raise
    return scan


#: The file in a repair directory recording, per source file, the version scanned and its verdict.
REPAIR_INDEX = "index.json"


@dataclasses.dataclass(frozen=True)
class RepairedInput:
    """One input of :func:`repair_corrupt_files`: ``path`` is what to read in place of ``source``."""

    source: str
    path: str
    scan: TFRecordScan
    reused: bool

    @property
    def repaired(self) -> bool:
        return self.path != self.source


def _source_key(path: str) -> str:
    return path if is_url(path) else os.path.abspath(path)


def _copy_name(key: str) -> str:
    # The hash keeps shards of the same name from different directories apart; the sanitised name
    # keeps the copy readable in logs and free of glob and list characters (',', '*', '[').
    base = re.sub(r"[^A-Za-z0-9._-]", "_", key.rstrip("/").rsplit("/", 1)[-1])
    return f"{hashlib.sha1(key.encode('utf-8')).hexdigest()[:12]}-{base}"


def _read_index(path: str) -> dict:
    if not exists(path):
        return {}
    try:
        index = json.loads(read_text(path))
    except ValueError:
        return {}  # a damaged index only costs a rescan
    return index if isinstance(index, dict) else {}


def repair_corrupt_files(files: Sequence[str], directory: str, block_bytes: int = SCAN_BLOCK_BYTES) -> list:
    """Scans ``files``; writes a repaired copy of each damaged one into ``directory``.

    Returns a :class:`RepairedInput` per file, in order: ``path`` is the file itself when it is clean,
    else its copy holding only its good records. ``directory/index.json`` records each file's size
    and modification time with its scan, so a later call with the same directory neither rescans an
    unchanged file nor rewrites its copy; a file whose size or time changed is scanned again.

    Example:

    >>> import tempfile, os
    >>> work = tempfile.mkdtemp()
    >>> path = os.path.join(work, "x.tfrecord")
    >>> with TFRecordWriter(path) as writer:
    ...     for record in (b"first", b"second", b"third"):
    ...         writer.write(record)
    >>> with open(path, "r+b") as f:
    ...     _ = f.truncate(os.path.getsize(path) - 3)
    >>> [found] = repair_corrupt_files([path], os.path.join(work, "repaired"))
    >>> found.repaired, list(read_records(found.path)), found.scan.tail
    (True, [b'first', b'second'], 'truncated record')
    >>> repair_corrupt_files([path], os.path.join(work, "repaired"))[0].reused
    True
    """
    index_path = os.path.join(directory, REPAIR_INDEX)
    index = _read_index(index_path)
    changed = False

    def save():
        makedirs(directory)
        write_text_atomic(index_path, json.dumps(index, indent=1, sort_keys=True) + "\n",
                          suffix=f"{INCOMPLETE_SUFFIX}-{os.getpid()}")

    found = []
    for source in files:
        key = _source_key(source)
        size, mtime_ns = size_and_mtime(source)
        copy = os.path.join(directory, _copy_name(key))
        entry = index.get(key) or {}
        scan = None
        if entry.get("size") == size and entry.get("mtime_ns") == mtime_ns:
            try:
                scan = TFRecordScan(**{**entry["scan"], "path": source})
            except (KeyError, TypeError):
                scan = None
            if scan is not None and not scan.clean and not (
                    exists(copy) and size_and_mtime(copy)[0] == entry.get("copy_size")):
                scan = None  # the copy is gone or was changed: write it again
        if scan is not None:
            found.append(RepairedInput(source, source if scan.clean else copy, scan, reused=True))
            continue
        scan = scan_tfrecord_file(source, block_bytes)
        entry = {"size": size, "mtime_ns": mtime_ns}
        if not scan.clean:
            scan = repair_tfrecord_file(source, copy, block_bytes)
            entry["copy_size"] = size_and_mtime(copy)[0]
        if scan.clean:
            # Also when the file was fixed between the scan and the copy: read it, not a copy.
            remove_if_exists(copy)
            entry.pop("copy_size", None)
        entry["scan"] = {k: v for k, v in dataclasses.asdict(scan).items() if k != "path"}
        index[key] = entry
        changed = True
        if not scan.clean:
            save()  # a run stopped later still finds this copy
        found.append(RepairedInput(source, source if scan.clean else copy, scan, reused=False))
    if changed:
        save()
    return found
