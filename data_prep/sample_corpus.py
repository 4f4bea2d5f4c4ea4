"""The sample corpus shipped with the package: four public-domain Project Gutenberg books.

``albert-demo`` runs on it when no ``--corpus`` is given, so the whole lifecycle works offline on a
fresh machine. Provenance and licence: ``data_prep/sample_data/PROVENANCE.md`` and
``GUTENBERG_README.txt`` beside the books.

Example:

>>> [book.key for book in SAMPLE_BOOKS]
['austen-persuasion', 'chesterton-thursday', 'milton-paradise', 'shakespeare-hamlet']
>>> read_book("shakespeare-hamlet").splitlines()[0]
'[The Tragedie of Hamlet by William Shakespeare 1599]'
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from typing import List

SAMPLE_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample_data")


@dataclasses.dataclass(frozen=True)
class Book:
    key: str
    title: str
    author: str
    year: int


SAMPLE_BOOKS = (
    Book("austen-persuasion", "Persuasion", "Jane Austen", 1818),
    Book("chesterton-thursday", "The Man Who Was Thursday", "G. K. Chesterton", 1908),
    Book("milton-paradise", "Paradise Lost", "John Milton", 1667),
    Book("shakespeare-hamlet", "Hamlet", "William Shakespeare", 1599),
)


def book_path(key: str) -> str:
    path = os.path.join(SAMPLE_DATA_DIR, key + ".txt.gz")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"sample book {key!r} not found at {path}; expected one of {[b.key for b in SAMPLE_BOOKS]}"
        )
    return path


def read_book(key: str) -> str:
    """The book's text, exactly NLTK's file."""
    with gzip.open(book_path(key), "rt", encoding="utf-8") as f:
        return f.read()


def write_sample_books(directory: str) -> List[str]:
    """Writes ``<key>.txt`` for every book into ``directory`` (kept when complete); returns the paths."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for book in SAMPLE_BOOKS:
        path = os.path.join(directory, book.key + ".txt")
        if not os.path.exists(path):
            with open(path + ".incomplete", "w", encoding="utf-8") as f:
                f.write(read_book(book.key))
            os.replace(path + ".incomplete", path)
        paths.append(path)
    return paths
