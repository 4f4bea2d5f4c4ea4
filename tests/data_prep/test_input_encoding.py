"""--input_encoding of albert-train-vocab and albert-create-pretraining-data (and albert-prepare-corpus's).

A corpus in latin-1, cp1252 (or, for the vocabulary, UTF-16) gives exactly the outputs of the same
text in UTF-8; encodings the chunked job cannot cut are refused up front; a line that does not
decode stops the job naming its file and line.
"""

import glob
import os
import random
import re

import pytest

from data_prep import token_store, vocab
from data_prep.pretraining import PretrainingDataConfig, PretrainingDataError, create_pretraining_data
from tests.data_prep.generated_text import random_documents
from tools import create_pretraining_data as pretraining_cli
from tools import prepare_corpus as corpus_cli
from tools import train_vocab as vocab_cli

# Every character is in latin-1 and in cp1252.
LATIN = ["Le café était fermé à midi.", "Une élève naïve répète « déjà » en français.",
         "Der Bäcker in der Straße grüßt.", "El niño comió piñas en España.", "Crème brûlée, façade, Noël."]
# Only in cp1252 (0x80-0x9F), where latin-1 has C1 control characters instead.
CP1252 = ["Il a payé 5 € pour l’œuvre – “enfin”.", "Les sœurs… disent ‘oui’ — ou non."]


def accented_documents(seed, count, extra=LATIN):
    rng = random.Random(seed)
    documents = random_documents(seed, count)
    for document in documents:
        for _ in range(2):
            document.insert(rng.randrange(len(document) + 1), rng.choice(extra))
    return documents


def write_text(path, documents, encoding):
    """The pretraining input format in ``encoding``; returns the path as a string."""
    text = "\n\n".join("\n".join(document) for document in documents) + "\n"
    path.write_bytes(text.encode(encoding))
    return str(path)


def run(spm_model, input_file, out_dir, **overrides):
    values = dict(input_file=input_file, output_file=str(out_dir / "part-{shard}.tfrecord"), spm_model_file=spm_model,
                  max_seq_length=48, max_predictions_per_seq=6, dupe_factor=2, num_output_shards=2, num_workers=1,
                  block_tokens=800, progress=False)
    values.update(overrides)
    return create_pretraining_data(PretrainingDataConfig(**values))


def shards(out_dir):
    return [open(f, "rb").read() for f in sorted(glob.glob(str(out_dir / "*.tfrecord")))]


# ----------------------------------------------------------------------------------------------
# albert-create-pretraining-data


def test_latin1_and_cp1252_corpora_give_the_shards_of_the_utf8_text(spm_model, tmp_path):
    documents = accented_documents(3, 30)
    utf8 = write_text(tmp_path / "utf8.txt", documents, "utf-8")
    latin = write_text(tmp_path / "latin1.txt", documents, "latin-1")
    run(spm_model, utf8, tmp_path / "u")
    expected = shards(tmp_path / "u")
    assert len(expected) == 2
    summary = run(spm_model, latin, tmp_path / "l", input_encoding="latin-1")
    assert shards(tmp_path / "l") == expected
    assert summary["flags"]["input_encoding"] == "latin-1" and not summary["corpus"]["invalid_utf8_lines"]
    # The same bytes read as UTF-8 (the default) are other text: the accents became U+FFFD.
    wrong = run(spm_model, latin, tmp_path / "w")
    assert wrong["corpus"]["invalid_utf8_lines"] > 0 and shards(tmp_path / "w") != expected

    documents = accented_documents(4, 30, LATIN + CP1252)
    utf8 = write_text(tmp_path / "utf8-cp.txt", documents, "utf-8")
    windows = write_text(tmp_path / "cp1252.txt", documents, "cp1252")
    run(spm_model, utf8, tmp_path / "u2")
    run(spm_model, windows, tmp_path / "c2", input_encoding="windows-1252", num_workers=2)
    assert shards(tmp_path / "c2") == shards(tmp_path / "u2") and len(shards(tmp_path / "u2")) == 2


def test_shards_are_not_reused_across_encodings(spm_model, tmp_path):
    path = write_text(tmp_path / "cp1252.txt", accented_documents(5, 20, LATIN + CP1252), "cp1252")
    run(spm_model, path, tmp_path / "out", input_encoding="cp1252")
    written = {f: os.stat(f).st_mtime_ns for f in glob.glob(str(tmp_path / "out" / "*.tfrecord"))}
    run(spm_model, path, tmp_path / "out", input_encoding="cp1252")  # the same job: nothing to redo
    assert {f: os.stat(f).st_mtime_ns for f in written} == written and len(written) == 2
    with pytest.raises(PretrainingDataError, match="exists from a run with other settings"):
        run(spm_model, path, tmp_path / "out", input_encoding="latin-1")


def test_the_store_fingerprint_changes_only_for_other_encodings():
    files = [("/data/a.txt", 1, 2.0)]
    before_the_flag = "ca893d16771ff14b0aad"  # what store_fingerprint gave before --input_encoding
    for encoding in ("utf-8", "UTF8", "u8"):
        assert token_store.store_fingerprint(files, b"proto", True, encoding) == before_the_flag
    assert token_store.store_fingerprint(files, b"proto", True) == before_the_flag
    latin = token_store.store_fingerprint(files, b"proto", True, "latin-1")
    assert latin == token_store.store_fingerprint(files, b"proto", True, "ISO-8859-1")
    assert len({before_the_flag, latin, token_store.store_fingerprint(files, b"proto", True, "cp1252")}) == 3


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_encodings_without_a_one_byte_newline_are_refused_up_front(spm_model, tmp_path, capsys, encoding):
    path = write_text(tmp_path / "wide.txt", accented_documents(6, 5), encoding)
    with pytest.raises(PretrainingDataError, match=f"albert-prepare-corpus --input_encoding {encoding}"):
        run(spm_model, path, tmp_path / "out", input_encoding=encoding)
    code = pretraining_cli.main([f"--input_file={path}", f"--output_file={tmp_path}/x.tfrecord",
                                 f"--spm_model_file={spm_model}", f"--input_encoding={encoding}"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "binary" not in err and len(err.strip().splitlines()) == 1
    assert f"--input_encoding {encoding} cannot be read here" in err and "(it writes UTF-8)" in err
    assert not os.path.exists(tmp_path / "x.tfrecord") and not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_line_invalid_in_the_encoding_stops_the_job_naming_file_and_line(spm_model, tmp_path, monkeypatch,
                                                                           workers):
    # Small chunks put the bad line far from the first chunk: its number is counted across chunks.
    monkeypatch.setattr(token_store, "CHUNK_BYTES", 997)
    monkeypatch.setattr(token_store, "MIN_CHUNK_BYTES", 997)
    documents = accented_documents(7, 40)
    good = write_text(tmp_path / "good.txt", documents, "cp1252")
    raw = open(good, "rb").read().split(b"\n")
    bad_line = len(raw) - 20
    raw[bad_line - 1] += b" \x81"  # undefined in cp1252
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\n".join(raw))
    message = f"{path}: line {bad_line} is not valid cp1252 (character maps to <undefined>)"
    with pytest.raises(ValueError, match=re.escape(message)):
        run(spm_model, f"{good},{path}", tmp_path / "out", input_encoding="cp1252", num_workers=workers)
    assert not glob.glob(str(tmp_path / "out" / "*.tfrecord"))
    assert not glob.glob(str(tmp_path / "out" / ".albert_pretraining_work" / "*"))  # no half-built store kept


def test_the_cli_reports_an_invalid_line_in_one_line(spm_model, tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_bytes("Première phrase ici.\nDeuxième phrase là.\n\nUn autre document \x81.\n".encode("latin-1"))
    code = pretraining_cli.main([f"--input_file={path}", f"--output_file={tmp_path}/x.tfrecord",
                                 f"--spm_model_file={spm_model}", "--input_encoding=cp1252", "--num_workers=1"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip() == (f"albert-create-pretraining-data: error: {path}: line 4 is not valid cp1252 "
                           "(character maps to <undefined>)")


def test_the_binary_file_check_stays_on_for_ascii_compatible_encodings(spm_model, tmp_path, capsys):
    binary = tmp_path / "archive.txt"
    binary.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    assert pretraining_cli.main([f"--input_file={binary}", f"--output_file={tmp_path}/x.tfrecord",
                                 f"--spm_model_file={spm_model}", "--input_encoding=latin-1"]) == 2
    assert vocab_cli.main([f"--input={binary}", f"--model_prefix={tmp_path}/m", "--quiet",
                           "--input_encoding=latin-1"]) == 2
    assert capsys.readouterr().err.count(f"{binary} is a binary file") == 2


# ----------------------------------------------------------------------------------------------
# All three tools


@pytest.mark.parametrize("name", ["klingon", "base64"])
def test_an_unknown_encoding_is_a_one_line_error_with_exit_code_2(spm_model, tmp_path, capsys, name):
    path = write_text(tmp_path / "c.txt", accented_documents(8, 3), "utf-8")
    codes = [
        pretraining_cli.main([f"--input_file={path}", f"--output_file={tmp_path}/x.tfrecord",
                              f"--spm_model_file={spm_model}", f"--input_encoding={name}"]),
        vocab_cli.main([f"--input={path}", f"--model_prefix={tmp_path}/m", "--quiet", f"--input_encoding={name}"]),
        corpus_cli.main([f"--input={path}", f"--output={tmp_path}/o.txt", f"--input_encoding={name}"]),
    ]
    err = capsys.readouterr().err
    assert codes == [2, 2, 2] and "Traceback" not in err
    assert err.count(f"--input_encoding {name!r} is not a known text encoding") == 3
    assert len(err.strip().splitlines()) == 3
    assert not glob.glob(str(tmp_path / "x*")) and not glob.glob(str(tmp_path / "m.*"))


def test_the_flag_and_its_default_are_in_every_help(capsys):
    for cli in (pretraining_cli, vocab_cli, corpus_cli):
        with pytest.raises(SystemExit):
            cli.main(["--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert "--input_encoding INPUT_ENCODING" in out and "(default: utf-8)" in out
    assert pretraining_cli.build_parser().parse_args(["--input_file=a", "--output_file=b"]).input_encoding == "utf-8"


def test_prepare_corpus_names_the_line_that_does_not_decode(tmp_path, capsys):
    # Its text reader decoded 8 KiB at a time and named the first line of the block.
    path = tmp_path / "bad.txt"
    path.write_bytes(b"".join(b"Paragraph %d is fine.\n" % i for i in range(1, 150)) + b"Not \x81 this.\n")
    assert corpus_cli.main([f"--input={path}", f"--output={tmp_path}/o.txt", "--input_encoding=cp1252"]) == 2
    assert f"{path}: line 150 is not valid cp1252" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# albert-train-vocab

WORDS = ("The Of And To In A Is Was For On That With As By At From His Her It An Were Are Which This "
         "Café Naïve Élève Garçon Año Über Straße Déjà Crème Brûlée Noël Façade Señor Smörgåsbord").split()


def vocab_corpus(path, encoding, lines=1200, seed=0, extra=()):
    rng = random.Random(seed)
    text = []
    for _ in range(lines):
        words = [rng.choice(WORDS) if rng.random() < 0.85 else f"{rng.randint(0, 10 ** 6):,}"
                 for _ in range(rng.randint(3, 14))]
        text.append(" ".join(words) + ".")
        if rng.random() < 0.05:
            text.append("")
        if extra and rng.random() < 0.1:
            text.append(rng.choice(extra))
    path.write_bytes(("\n".join(text) + "\n").encode(encoding))
    return str(path)


def train(path, prefix, **kwargs):
    summary = vocab.train_vocab(path, str(prefix), 150, progress=False, num_threads=1, **kwargs)
    return open(summary.model_file, "rb").read(), open(summary.vocab_file, "rb").read(), summary


@pytest.mark.parametrize("encoding,extra", [("latin-1", ()), ("cp1252", CP1252), ("utf-16", CP1252),
                                            ("utf-32-le", CP1252)])
def test_vocabulary_from_other_encodings_equals_the_utf8_one(tmp_path, encoding, extra):
    utf8 = vocab_corpus(tmp_path / "utf8.txt", "utf-8", extra=extra)
    other = vocab_corpus(tmp_path / "other.txt", encoding, extra=extra)
    for preprocess in (True, False):
        expected = train(utf8, tmp_path / "u", do_lower_case=preprocess, preprocess=preprocess)
        got = train(other, tmp_path / "o", do_lower_case=preprocess, preprocess=preprocess, input_encoding=encoding)
        assert got[:2] == expected[:2]
        assert got[2].sentences == expected[2].sentences and got[2].lines_read == expected[2].lines_read
        assert got[2].characters == expected[2].characters and got[2].invalid_utf8_lines == 0
    # Raw lines keep their accents: accented pieces show that the text was decoded, not just passed on.
    assert any("é" in piece for piece in expected[1].decode("utf-8").split())


@pytest.mark.parametrize("encoding,bad,reason", [
    ("cp1252", b" \x81", "character maps to <undefined>"),
    ("utf-16-le", b"\x00\xd8", "illegal UTF-16 surrogate"),
])
@pytest.mark.parametrize("where", ["first", "late"])
def test_vocab_stops_at_a_line_invalid_in_the_encoding(tmp_path, capsys, encoding, bad, reason, where):
    lines = open(vocab_corpus(tmp_path / "c.txt", "utf-8"), encoding="utf-8").read().split("\n")
    number = 1 if where == "first" else 900
    data = b"".join(
        (line.encode(encoding) + (bad if i == number else b"") + "\n".encode(encoding))
        for i, line in enumerate(lines[:-1], 1)
    )
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    message = f"{path}: line {number} is not valid {encoding} ({reason})"
    with pytest.raises(ValueError, match=re.escape(message)):
        train(str(path), tmp_path / "v", input_encoding=encoding)
    assert vocab_cli.main([f"--input={path}", f"--model_prefix={tmp_path}/v", "--quiet",
                           f"--input_encoding={encoding}", "--vocab_size=150"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"albert-train-vocab: error: {message}" and not glob.glob(str(tmp_path / "v.*"))
