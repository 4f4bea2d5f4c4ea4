"""Pass 1: chunked reading, batch tokenization equal to the per-line original, the document index."""

import numpy as np
import pytest

from data_prep import token_store
from tests.data_prep.generated_text import random_documents, write_documents

SPECIAL_LINES = [
    "In 1990, the year 2,000, and 3,500, again.",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \ufb01 \u00bd \u2026",
    "Snow \u2603 man 12,\u2603 and \u4e2d\u6587 text 7,",
    "   \u00a0 \u3000  ",  # whitespace only: a document break after pre-processing
    "tabs\tand  spaces",
]


def test_any_chunking_reads_every_line_once(tmp_path):
    path = tmp_path / "lines.txt"
    lines = [f"line {i} " + "x" * (i % 17) for i in range(300)] + ["", "last without newline"]
    path.write_bytes("\n".join(lines).encode())
    size = path.stat().st_size
    for chunk_bytes in (1, 7, 64, 1000, size):
        chunks = token_store.plan_chunks([str(path)], [size], chunk_bytes)
        with open(path, "rb") as f:
            got = [line.decode() for c in chunks for line in token_store.read_chunk_lines(f, c)]
        assert got == lines, chunk_bytes


def test_batch_tokenization_equals_the_per_line_original(tokenizer):
    lines = [s for doc in random_documents(8, 60) for s in doc] + SPECIAL_LINES
    ids, lengths = token_store.ChunkTokenizer(tokenizer).tokenize_lines(lines)
    offset = 0
    for line, length in zip(lines, lengths.tolist()):
        text = tokenizer.preprocess(line)
        if not text:
            assert length == -1
            continue
        expected = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line))
        assert ids[offset:offset + length].tolist() == expected, line
        offset += length
    assert offset == len(ids)
    assert lengths[SPECIAL_LINES.index(SPECIAL_LINES[3]) - len(SPECIAL_LINES)] == -1


def test_invalid_utf8_lines_are_replaced_and_located(tokenizer, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine line.\ncaf\xe9 line.\n\nmore \xff\xfe bytes.\n")
    chunk = token_store.plan_chunks([str(path)], [path.stat().st_size])[0]
    result = token_store.ChunkTokenizer(tokenizer).tokenize_chunk(chunk)
    assert result.invalid_utf8_count == 2 and result.invalid_utf8_lines == [1, 3]
    assert result.line_lengths.tolist()[2] == -1


def test_store_index_documents_across_chunks_and_files(tmp_path):
    writer = token_store.StoreWriter(str(tmp_path / "store"), ["a.txt", "b.txt"], np.uint16)

    def add(index, file_index, lengths):
        lengths = np.array(lengths, np.int32)
        ids = np.arange(int(lengths[lengths > 0].sum()), dtype=np.uint16)
        writer.add(token_store.ChunkResult(token_store.Chunk(index, file_index, "x", 0, 1), ids, lengths, [], 0))

    add(0, 0, [3, 2, -1, -1, 4])    # doc A (3, 2); blank lines; doc B starts (4)
    add(1, 0, [0, 5, -1])           # doc B goes on across the chunk (a 0-token line is dropped)
    add(2, 0, [-1, -1])             # only breaks
    add(3, 1, [6, 1])               # new file: doc C even without a blank line before it
    store = writer.finish()
    assert store.num_documents == 3 and store.num_sentences == 6
    assert store.sentences_per_document().tolist() == [2, 2, 2]
    assert store.document_tokens().tolist() == [5, 9, 7]
    assert store.report.lines_without_tokens == 1 and store.report.lines == 12
    assert store.report.longest_sentence[0] == 6
    reopened = token_store.TokenStore(str(tmp_path / "store"))
    assert reopened.document_sentences(1) == (2, 4) and len(reopened.tokens) == 21


def test_fingerprint_changes_with_inputs_and_casing():
    base = token_store.store_fingerprint([("a", 1, 2.0)], b"proto", True)
    assert base == token_store.store_fingerprint([("a", 1, 2.0)], b"proto", True)
    assert base != token_store.store_fingerprint([("a", 2, 2.0)], b"proto", True)
    assert base != token_store.store_fingerprint([("a", 1, 2.0)], b"proto", False)
    assert base != token_store.store_fingerprint([("a", 1, 2.0)], b"other", True)


@pytest.mark.parametrize("workers", [1, 2])
def test_pass_one_is_independent_of_chunking(spm_model, tmp_path, workers, monkeypatch):
    from data_prep.pretraining import PretrainingDataConfig, create_pretraining_data

    corpus = write_documents(tmp_path / "c.txt", random_documents(13, 50))
    out = []
    for chunk_bytes in (1 << 20, 997):  # one chunk, then dozens cutting lines and documents
        monkeypatch.setattr(token_store, "CHUNK_BYTES", chunk_bytes)
        monkeypatch.setattr(token_store, "MIN_CHUNK_BYTES", chunk_bytes)
        summary = create_pretraining_data(PretrainingDataConfig(
            input_file=corpus, output_file=str(tmp_path / f"{chunk_bytes}-{workers}.tfrecord"),
            spm_model_file=spm_model, max_seq_length=40, max_predictions_per_seq=6, dupe_factor=1,
            num_workers=workers, progress=False, keep_work_dir=True,
            work_dir=str(tmp_path / f"work-{chunk_bytes}-{workers}")))
        assert summary["corpus"]["documents"] == 50
        out.append((tmp_path / f"{chunk_bytes}-{workers}.tfrecord").read_bytes())
    assert out[0] == out[1]
    assert len(list((tmp_path / f"work-997-{workers}").iterdir())) == 1  # the kept token store
