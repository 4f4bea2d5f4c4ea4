"""Raw text → one sentence per line with blank lines between documents (data_prep.corpus)."""

import os

import pytest

from data_prep.corpus import (
    CorpusError,
    expand_inputs,
    iter_documents,
    prepare_corpus,
    split_sentences,
    train_sentence_splitter,
    wikitext_detokenize,
)
from tests.data_prep.generated_text import random_documents
from tools import prepare_corpus as cli

PARAGRAPH = ("Dr. Watson met Mr. Holmes in London. They shared rooms in Baker Street for years. "
             "Mrs. Hudson kept the house, e.g. she cooked. Was it a good life? It was!")


def documents_of(path):
    text = open(path, encoding="utf-8").read()
    assert text.endswith("\n") and not text.endswith("\n\n")
    return [block.split("\n") for block in text.rstrip("\n").split("\n\n")]


def test_sentence_splitter_is_trained_on_the_input_and_keeps_abbreviations():
    # Varied text: Punkt learns collocations from repeats, so a paragraph repeated 30 times would
    # teach it that "years. Mrs." never splits.
    generated = [" ".join(doc) for doc in random_documents(2, 200)]
    params = train_sentence_splitter([PARAGRAPH] + generated)
    assert split_sentences(params, PARAGRAPH) == [
        "Dr. Watson met Mr. Holmes in London.",
        "They shared rooms in Baker Street for years.",
        "Mrs. Hudson kept the house, e.g. she cooked.",
        "Was it a good life?",
        "It was!",
    ]
    # Without the seeded abbreviations, Punkt alone splits after a title it did not learn.
    bare = train_sentence_splitter(["Mr. Holmes came. He sat."] * 2, abbreviations=())
    assert split_sentences(bare, "Mr. Holmes came. He sat.")[0] == "Mr."


def test_lines_format(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text(f"{PARAGRAPH}\nA second paragraph. Still the same document.\n\n\n  \nAnother document here. End.\n")
    report = prepare_corpus([str(raw)], str(tmp_path / "out.txt"), fmt="lines")
    docs = documents_of(tmp_path / "out.txt")
    assert len(docs) == 2 and docs[1] == ["Another document here.", "End."]
    assert docs[0][-2:] == ["A second paragraph.", "Still the same document."]
    assert report.documents == 2 and report.sentences == len(docs[0]) + 2


def test_wikitext_format(tmp_path):
    raw = tmp_path / "wiki.tokens"
    raw.write_text(
        " \n = Robert Boulter = \n \n Robert Boulter is an English actor . He had a guest @-@ starring role .\n"
        " \n = = Career = = \n \n He earned 1 @,@ 000 pounds in 2 @.@ 5 years .\n"
        " = Another Article = \n Its first line . Its second line .\n"
    )
    prepare_corpus([str(raw)], str(tmp_path / "wiki.txt"), fmt="wikitext")
    docs = documents_of(tmp_path / "wiki.txt")
    assert len(docs) == 2
    assert docs[0] == ["Robert Boulter is an English actor .", "He had a guest-starring role .",
                       "He earned 1,000 pounds in 2.5 years ."]
    assert docs[1] == ["Its first line .", "Its second line ."]
    assert wikitext_detokenize("a @-@ b") == "a-b"


def test_wrapped_format_folder_and_invalid_utf8(tmp_path, caplog):
    folder = tmp_path / "books"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"[A Book 1900]\n\nIt was a dark\nand stormy night.  The rain\nfell.\n\nCaf\xe9 scene.\n")
    (folder / "sub" / "b.txt").write_text("Second book. Short.\n")
    (folder / "ignored.md").write_text("not text\n")
    assert expand_inputs([str(folder)]) == [str(folder / "a.txt"), str(folder / "sub" / "b.txt")]
    report = prepare_corpus([str(folder)], str(tmp_path / "books.txt"), fmt="wrapped")
    docs = documents_of(tmp_path / "books.txt")
    assert docs[0][:3] == ["[A Book 1900]", "It was a dark and stormy night.", "The rain fell."]
    assert docs[0][3] == "Caf\ufffd scene." and docs[1] == ["Second book.", "Short."]
    assert report.invalid_utf8_lines == 1 and report.files == 2


def test_errors_and_atomic_output(tmp_path):
    with pytest.raises(CorpusError, match="nothing matches"):
        prepare_corpus([str(tmp_path / "missing*.txt")], str(tmp_path / "o.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(CorpusError, match="no document"):
        prepare_corpus([str(empty)], str(tmp_path / "o.txt"))
    assert not os.path.exists(tmp_path / "o.txt") and not os.path.exists(tmp_path / "o.txt.incomplete")
    with pytest.raises(CorpusError, match="--format"):
        list(iter_documents([str(empty)], "html"))
    short = tmp_path / "short.txt"
    short.write_text("One sentence.\n\nTwo sentences. Here.\n")
    report = prepare_corpus([str(short)], str(tmp_path / "o.txt"), min_sentences=2)
    assert report.documents == 1 and report.dropped_documents == 1


def test_cli_and_parallel_split_give_the_same_file(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("\n\n".join(f"{PARAGRAPH} Document {i} ends here." for i in range(40)) + "\n")
    assert cli.main(["--input", str(raw), "--output", str(tmp_path / "one.txt"), "--format", "lines"]) == 0
    assert cli.main(["--input", str(raw), "--output", str(tmp_path / "two.txt"), "--num_workers", "2"]) == 0
    assert (tmp_path / "one.txt").read_text() == (tmp_path / "two.txt").read_text()
    assert len(documents_of(tmp_path / "one.txt")) == 40
    assert cli.main(["--input", str(tmp_path / "nope.txt"), "--output", str(tmp_path / "x.txt")]) == 2


def _die(documents):
    os._exit(9)  # as the kernel's out-of-memory killer would end a worker


def test_a_dead_worker_is_an_error_not_a_hang(tmp_path, monkeypatch):
    from data_prep import corpus

    raw = tmp_path / "raw.txt"
    raw.write_text("\n\n".join(f"{PARAGRAPH} Document {i} ends here." for i in range(40)) + "\n")
    monkeypatch.setattr(corpus, "_split_documents", _die)
    with pytest.raises(CorpusError, match=r"out.txt: a worker process died .*--num_workers 1"):
        prepare_corpus([str(raw)], str(tmp_path / "out.txt"), fmt="lines", num_workers=2)
    assert sorted(os.listdir(tmp_path)) == ["raw.txt"]  # nothing half-written is left
