"""Unicode tables that make the in-graph ``preprocess_text`` exact, built from Python itself.

* Whitespace: Python's ``str.split()`` set (``str.isspace``: 29 code points,
  including ``\\x1c-\\x1f``, NEL, NBSP, U+3000 ...) as an explicit RE2 class.
* NFKD + dropping combining-class != 0: both act character by character once
  reordering is ignored (canonical reordering only permutes characters of
  non-zero class, which are dropped anyway), so a per-code-point table built
  from :mod:`unicodedata` at import time is exact. ICU's NFKD and ``\\p{Mn}``
  are not: 25 characters have a non-zero class without being Mn, 1,063 Mn
  characters have class 0, and ICU may carry another Unicode version.
* ``str.lower()``: full per-character mappings from Python itself (``İ``
  becomes two characters, ``ß`` stays, unlike ``case_fold_utf8``), plus the
  classes the final-sigma rule needs. The case-ignorable and cased classes are
  probed from ``str.lower`` itself, so they match the running Python exactly.

Everything here is numpy or strings; :mod:`.preprocess` turns it into graph constants.

Building the tables walks every code point (about six seconds), so the result is kept on disk,
keyed by this file's bytes, the Python version and its Unicode version: in ``$ALBERT_TF_CACHE_DIR``,
else ``$XDG_CACHE_HOME/albert_tf`` or ``~/.cache/albert_tf``. Where that cannot be written, every
process builds them again.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile
import unicodedata
import zipfile

import numpy as np

SIGMA = "\u03a3"
_SKIP, _CASED, _OTHER = 0, 1, 2  # classes of one character for the final-sigma rule
_MAX_CODE_POINT = 0x110000


def code_points():
    """Every code point that valid UTF-8 can carry."""
    # Surrogates cannot occur in valid UTF-8, which is all the graph ever sees.
    return (cp for cp in range(_MAX_CODE_POINT) if not 0xD800 <= cp <= 0xDFFF)


def regex_class(points) -> str:
    """An RE2 character class matching exactly ``points``."""
    cps = sorted(points)
    parts, start, prev = [], cps[0], cps[0]
    for cp in cps[1:] + [None]:
        if cp is not None and cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\x{{{start:x}}}" if start == prev else f"\\x{{{start:x}}}-\\x{{{prev:x}}}")
        if cp is not None:
            start = prev = cp
    return "[" + "".join(parts) + "]"


def cache_dir() -> str:
    """Where tables built from this Python's Unicode data are kept between processes."""
    if os.environ.get("ALBERT_TF_CACHE_DIR"):
        return os.environ["ALBERT_TF_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "albert_tf")


def _cache_file(name: str) -> str:
    digest = hashlib.sha256()
    with open(__file__, "rb") as f:
        digest.update(f.read())
    digest.update(f"{sys.version}|{unicodedata.unidata_version}|{np.__version__}".encode())
    return os.path.join(cache_dir(), f"unicode_{name}-{digest.hexdigest()[:16]}.npz")


def _cached_arrays(name: str, build) -> dict:
    """``build()``'s dict of arrays, from the disk cache when it holds them (written atomically)."""
    path = _cache_file(name)
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        pass  # absent, unreadable or half-written by a killed process: build it
    arrays = build()
    tmp = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError:  # a read-only home or a full disk: correct, only slower
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    return arrays


@functools.lru_cache(maxsize=None)
def whitespace_run_regex() -> str:
    """An RE2 pattern for one run of ``str.split()`` whitespace."""
    def build():
        return {"pattern": np.array(regex_class(cp for cp in code_points() if chr(cp).isspace()) + "+")}

    return str(_cached_arrays("whitespace", build)["pattern"])


@functools.lru_cache(maxsize=None)
def _accent_strip_map() -> dict:
    """code point -> NFKD without combining marks, where that differs from the char."""
    combining = unicodedata.combining
    table = {}
    for cp in code_points():
        c = chr(cp)
        d = unicodedata.normalize("NFKD", c)
        if d == c and not combining(c):
            continue
        table[cp] = "".join(x for x in d if not combining(x))
    return table


@functools.lru_cache(maxsize=None)
def _case_classes() -> bytearray:
    """For every code point: how ``str.lower`` sees it when deciding a final sigma.

    CPython's rule: Σ becomes ς when the nearest non-case-ignorable character
    before it is cased and the nearest one after it is not (or there is none).
    Probing ``str.lower`` gives the two properties exactly as this Python has
    them: ``x + "Σ"`` ends in ς iff x is cased and not case-ignorable;
    ``"A" + x + "Σ"`` ends in ς iff x is cased or case-ignorable.
    """
    classes = bytearray([_OTHER]) * _MAX_CODE_POINT
    for cp in code_points():
        x = chr(cp)
        if (x + SIGMA).lower()[-1] == "\u03c2":
            classes[cp] = _CASED
        elif ("A" + x + SIGMA).lower()[-1] == "\u03c2":
            classes[cp] = _SKIP
    return classes


class CharacterTables:
    """Numpy tables for one ``lower`` setting; turned into graph constants on use.

    ``keys``/``value_splits``/``value_code_points``: the replacement text of each changed code point;
    with ``lower``, also ``class_starts``/``class_codes``/``sigma_producers`` for the final-sigma rule.
    """

    def __init__(self, lower: bool):
        for name, array in _cached_arrays(f"tables_lower{int(lower)}", lambda: build_tables(lower)).items():
            setattr(self, name, array)
        self.lower = lower


def build_tables(lower: bool) -> dict:
    """The arrays of :class:`CharacterTables`, computed from this Python (no cache)."""
    strip = _accent_strip_map()
    mapping = {}
    if lower:
        classes = _case_classes()
        sigma_producers = []
        for cp in code_points():
            c = chr(cp)
            stripped = strip.get(cp, c)
            if SIGMA in stripped:
                if stripped != SIGMA:
                    # Never true up to Unicode 15; the context rule below
                    # assumes a producer contributes exactly one Σ.
                    raise RuntimeError(
                        f"U+{cp:04X} decomposes to {stripped!r}, which mixes Σ with other "
                        "characters; the in-graph final-sigma rule does not cover that"
                    )
                sigma_producers.append(cp)
            lowered = "".join(u if u == SIGMA else u.lower() for u in stripped)
            if lowered != c:
                mapping[cp] = lowered
        # Per code point, how its stripped text looks to the final-sigma
        # scan: bit 0 all case-ignorable (or empty), bit 1 first
        # non-ignorable char is cased, bit 2 last one is cased.
        codes = np.zeros(_MAX_CODE_POINT, dtype=np.int8)
        for cp in range(_MAX_CODE_POINT):
            stripped = strip.get(cp)
            if stripped is None:
                cls = classes[cp]
                codes[cp] = 1 if cls == _SKIP else (6 if cls == _CASED else 0)
                continue
            stops = [classes[ord(u)] for u in stripped if classes[ord(u)] != _SKIP]
            if not stops:
                codes[cp] = 1
            else:
                codes[cp] = (2 if stops[0] == _CASED else 0) | (4 if stops[-1] == _CASED else 0)
        change = np.flatnonzero(np.diff(codes)) + 1
        class_starts = np.concatenate([[0], change]).astype(np.int32)
        class_codes = codes[class_starts].astype(np.int32)
        sigma_producers = np.array(sigma_producers, dtype=np.int32)
    else:
        mapping = strip
    changed = sorted(mapping)
    # Replacement texts as a ragged table of code points: row k is mapping[changed[k]].
    lengths = [len(mapping[k]) for k in changed]
    value_splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    value_code_points = np.array([ord(c) for k in changed for c in mapping[k]], dtype=np.int32)
    arrays = {"keys": np.array(changed, dtype=np.int32), "value_splits": value_splits, "value_code_points": value_code_points}
    if lower:
        arrays.update(class_starts=class_starts, class_codes=class_codes, sigma_producers=sigma_producers)
    return arrays


@functools.lru_cache(maxsize=None)
def character_tables(lower: bool) -> CharacterTables:
    """The tables of one ``lower`` setting, loaded or built once per process."""
    return CharacterTables(lower)
