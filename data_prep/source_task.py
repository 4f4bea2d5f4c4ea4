"""A classification task derived from raw text: which source file is this sentence from?

Any corpus of two or more files (the sample books, or a user's own) becomes a pretraining corpus
and a labelled sentence-classification task, with no annotation: the label of a sentence is the
file it comes from. Each file's sentences are cut in two by position: the first
``1 - holdout_fraction`` is the pretraining text and the training split, the rest is held out as
the dev split, so a pretrained model is never evaluated on sentences it saw during pretraining.
Classes are balanced by taking the same number of sentences from every file (seeded sample).

Outputs in ``out_dir``: ``corpus.txt`` and ``heldout.txt`` (the two parts, one sentence per line,
one document per file: the input format of ``albert-create-pretraining-data``), ``train.tsv`` and ``dev.tsv`` (``sentence<TAB>label``
with a header, the layout of GLUE's single-sentence tasks) and ``labels.txt`` (one label a line, in
class-id order).

Example:

>>> import os, tempfile
>>> directory = tempfile.mkdtemp()
>>> for name, text in (("cats", "The cat sat on a warm mat"), ("dogs", "A dog ran across the field")):
...     with open(os.path.join(directory, name + ".txt"), "w") as f:
...         for i in range(40):
...             print(f"{text} {i} times.", file=f)
>>> task = write_source_task([os.path.join(directory, n + ".txt") for n in ("cats", "dogs")],
...                          os.path.join(directory, "task"), fmt="lines", max_train_per_class=20)
>>> task.labels, task.train_examples, task.dev_examples
(['cats', 'dogs'], 40, 8)
>>> read_tsv(task.dev_file)[0][1] in ("cats", "dogs")
True
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from typing import List, Optional, Sequence

from data_prep.corpus import expand_inputs, iter_documents, split_sentences, train_sentence_splitter

MANIFEST = "source_task.json"


@dataclasses.dataclass
class SourceTask:
    """Where a derived task is and how big it is."""

    directory: str
    labels: List[str]
    corpus_sentences: int
    train_examples: int
    dev_examples: int

    @property
    def corpus(self) -> str:
        return os.path.join(self.directory, "corpus.txt")

    @property
    def heldout(self) -> str:
        return os.path.join(self.directory, "heldout.txt")

    @property
    def train_file(self) -> str:
        return os.path.join(self.directory, "train.tsv")

    @property
    def dev_file(self) -> str:
        return os.path.join(self.directory, "dev.tsv")

    @property
    def labels_file(self) -> str:
        return os.path.join(self.directory, "labels.txt")


def _label(path: str) -> str:
    name = os.path.basename(path)
    for suffix in (".txt", ".tokens", ".text"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _write_atomic(path: str, text: str) -> None:
    with open(path + ".incomplete", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".incomplete", path)


def _clean_for_tsv(sentence: str) -> str:
    return " ".join(sentence.replace("\t", " ").split())


def write_source_task(inputs: Sequence[str], out_dir: str, fmt: str = "wrapped", holdout_fraction: float = 0.1,
                      min_words: int = 6, max_words: int = 60, max_train_per_class: int = 2000,
                      max_dev_per_class: int = 200, seed: int = 12345) -> SourceTask:
    """Writes the pretraining corpus and the task for ``inputs`` (files, globs or folders).

    ``fmt`` is the raw layout, as in ``albert-prepare-corpus`` (``wrapped``, ``lines``,
    ``wikitext``). A complete earlier run with the same arguments is reused.
    """
    files = expand_inputs(list(inputs))
    if len(files) < 2:
        raise ValueError(
            f"the source-classification task needs at least two input files (one class each); got {files}"
        )
    if not 0 < holdout_fraction < 1:
        raise ValueError(f"holdout_fraction must be in (0, 1); got {holdout_fraction}")
    labels = [_label(f) for f in files]
    if len(set(labels)) != len(labels):
        raise ValueError(f"input files must have distinct names (they are the labels); got {files}")
    settings = dict(files=[os.path.abspath(f) for f in files], fmt=fmt, holdout_fraction=holdout_fraction,
                    min_words=min_words, max_words=max_words, max_train_per_class=max_train_per_class,
                    max_dev_per_class=max_dev_per_class, seed=seed)
    os.makedirs(out_dir, exist_ok=True)
    previous = _load_manifest(out_dir)
    if previous is not None and previous.get("settings") == settings:
        return SourceTask(directory=out_dir, **previous["task"])

    documents = [sum(iter_documents([f], fmt), []) for f in files]
    params = train_sentence_splitter(p for document in documents for p in document)
    corpus_lines: List[str] = []
    heldout_lines: List[str] = []
    train, dev = [], []
    rng = random.Random(seed)
    per_file = []
    for label_id, paragraphs in enumerate(documents):
        # A leading "[Title by Author Year]" line (NLTK's Gutenberg files) would give the answer away.
        if paragraphs and paragraphs[0].startswith("[") and paragraphs[0].endswith("]"):
            paragraphs = paragraphs[1:]
        sentences = [s for p in paragraphs for s in split_sentences(params, p)]
        if len(sentences) < 4:
            raise ValueError(f"{files[label_id]} has {len(sentences)} sentences; each class needs at least 4")
        cut = int(round(len(sentences) * (1 - holdout_fraction)))
        if corpus_lines:
            corpus_lines.append("")
            heldout_lines.append("")
        corpus_lines.extend(sentences[:cut])
        heldout_lines.extend(sentences[cut:])

        def usable(part):
            return [s for s in part if min_words <= len(s.split()) <= max_words]

        per_file.append((label_id, usable(sentences[:cut]), usable(sentences[cut:])))
    train_per_class = min(max_train_per_class, min(len(t) for _, t, _ in per_file))
    dev_per_class = min(max_dev_per_class, min(len(d) for _, _, d in per_file))
    if train_per_class == 0 or dev_per_class == 0:
        raise ValueError(
            f"some input has no sentence of {min_words}-{max_words} words in its training or held-out part: "
            + ", ".join(f"{files[i]}: {len(t)} train, {len(d)} held out" for i, t, d in per_file)
        )
    for label_id, train_sentences, dev_sentences in per_file:
        train += [(s, labels[label_id]) for s in rng.sample(train_sentences, train_per_class)]
        dev += [(s, labels[label_id]) for s in rng.sample(dev_sentences, dev_per_class)]
    rng.shuffle(train)
    rng.shuffle(dev)

    task = SourceTask(directory=out_dir, labels=labels, corpus_sentences=sum(1 for s in corpus_lines if s),
                      train_examples=len(train), dev_examples=len(dev))
    _write_atomic(task.corpus, "\n".join(corpus_lines) + "\n")
    _write_atomic(task.heldout, "\n".join(heldout_lines) + "\n")
    for path, rows in ((task.train_file, train), (task.dev_file, dev)):
        _write_atomic(path, "sentence\tlabel\n" + "".join(f"{_clean_for_tsv(s)}\t{label}\n" for s, label in rows))
    _write_atomic(task.labels_file, "\n".join(labels) + "\n")
    manifest = {"settings": settings, "task": {k: v for k, v in dataclasses.asdict(task).items() if k != "directory"}}
    _write_atomic(os.path.join(out_dir, MANIFEST), json.dumps(manifest, indent=1) + "\n")
    return task


def _load_manifest(out_dir: str) -> Optional[dict]:
    path = os.path.join(out_dir, MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    task = manifest.get("task", {})
    names = ("corpus.txt", "heldout.txt", "train.tsv", "dev.tsv", "labels.txt")
    if not all(os.path.exists(os.path.join(out_dir, n)) for n in names) or "labels" not in task:
        return None
    return manifest


def read_tsv(path: str) -> List[tuple]:
    """``[(sentence, label), ...]`` of a ``train.tsv``/``dev.tsv`` written here."""
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header != ["sentence", "label"]:
            raise ValueError(f"{path}: expected the header 'sentence<TAB>label'; got {header}")
        rows = []
        for number, line in enumerate(f, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 2:
                raise ValueError(f"{path}, line {number}: expected 2 tab-separated fields; got {len(fields)}")
            rows.append(tuple(fields))
    return rows


def few_label_rows(rows: Sequence[tuple], per_class: int, seed: int, source: str = "rows") -> List[tuple]:
    """``per_class`` rows of every label, drawn by ``seed``, in their original order.

    >>> rows = [(f"s{i}", "ab"[i % 2]) for i in range(10)]
    >>> picked = few_label_rows(rows, 2, seed=1)
    >>> sorted(label for _, label in picked), picked == few_label_rows(rows, 2, seed=1)
    (['a', 'a', 'b', 'b'], True)
    """
    by_label = {}
    for index, (_, label) in enumerate(rows):
        by_label.setdefault(label, []).append(index)
    if per_class < 1:
        raise ValueError(f"{source}: a few-label draw needs at least 1 sentence per class; got {per_class}")
    short = {label: len(indices) for label, indices in sorted(by_label.items()) if len(indices) < per_class}
    if short:
        raise ValueError(f"{source}: {per_class} sentences per class were asked for; these classes have fewer: {short}")
    rng = random.Random(seed)
    keep = sorted(i for label in sorted(by_label) for i in rng.sample(by_label[label], per_class))
    return [rows[i] for i in keep]


def write_task_records(task: SourceTask, tokenizer, max_seq_length: int, out_dir: str,
                       train_per_class: Optional[int] = None, seed: int = 0) -> dict:
    """``train.tfrecord`` and ``dev.tfrecord`` in the classification schema of ``albert-finetune``.

    ``tokenizer`` is an :class:`~albert_tf.text.tokenizer.AlbertTokenizer`; sentences are packed as
    ``[CLS] sentence [SEP]``, cut to ``max_seq_length`` like the original GLUE converter. Returns
    ``{split: path}``; complete files of an earlier call are kept. ``train_per_class``: the training
    split holds only that many sentences of each class, drawn by ``seed`` (:func:`few_label_rows`).
    """
    import numpy as np

    from albert_tf.data.schemas import CLASSIFICATION_SCHEMA
    from data_prep.glue import pack, pad_rows
    from data_prep.tfexample import ExampleEncoder
    from data_prep.tfrecord import TFRecordWriter

    os.makedirs(out_dir, exist_ok=True)
    label_ids = {label: i for i, label in enumerate(task.labels)}
    encoder = ExampleEncoder(CLASSIFICATION_SCHEMA)
    paths = {}
    for split, source in (("train", task.train_file), ("dev", task.dev_file)):
        path = os.path.join(out_dir, f"{split}.tfrecord")
        paths[split] = path
        if os.path.exists(path):
            continue
        rows = read_tsv(source)
        if split == "train" and train_per_class is not None:
            rows = few_label_rows(rows, train_per_class, seed, source)
        unknown = sorted({label for _, label in rows} - set(label_ids))
        if unknown:
            raise ValueError(f"{source}: labels {unknown} are not in {task.labels_file}")
        ids = [pack(tokenizer.convert_tokens_to_ids(tokenizer.tokenize(sentence)), None, max_seq_length, tokenizer.cls_id, tokenizer.sep_id)[0]
               for sentence, _ in rows]
        features = {
            "input_ids": pad_rows(ids, max_seq_length),
            "input_mask": pad_rows([[1] * len(row) for row in ids], max_seq_length),
            "segment_ids": np.zeros((len(rows), max_seq_length), dtype=np.int64),
            "label_ids": np.asarray([[label_ids[label]] for _, label in rows], dtype=np.int64),
            "is_real_example": np.ones((len(rows), 1), dtype=np.int64),
        }
        with TFRecordWriter(path) as writer:
            for record in encoder.encode(features):
                writer.write(record)
    return paths
