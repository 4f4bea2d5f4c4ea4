"""The data tools refuse binary files, naming them; the tokenizer refuses packings that would drop the text."""

import pytest

from data_prep.corpus import CorpusError, expand_inputs
from data_prep.pretraining import PretrainingDataError, expand_input_files
from data_prep.vocab import expand_input_patterns
from tests.data_prep.generated_text import train_tiny_model
from tools import create_pretraining_data, prepare_corpus, train_vocab


@pytest.fixture
def binary(tmp_path):
    path = tmp_path / "archive.txt"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    return path


def test_every_input_listing_refuses_a_binary_file(binary, tmp_path):
    text = tmp_path / "fine.txt"
    text.write_text("A sentence.\n")
    with pytest.raises(CorpusError, match=f"--input: {binary} is a binary file"):
        expand_inputs([str(text), str(binary)])
    with pytest.raises(PretrainingDataError, match=f"--input_file: {binary} is a binary file"):
        expand_input_files(f"{text},{binary}")
    with pytest.raises(ValueError, match=f"--input: {binary} is a binary file"):
        expand_input_patterns(f"{text},{binary}")
    assert expand_inputs([str(text)]) == [str(text)]


def test_the_clis_say_which_file_is_binary(binary, tmp_path, capsys):
    assert prepare_corpus.main([f"--input={binary}", f"--output={tmp_path}/o.txt"]) == 2
    assert train_vocab.main([f"--input={binary}", f"--model_prefix={tmp_path}/m", "--quiet"]) == 2
    assert create_pretraining_data.main([f"--input_file={binary}", f"--output_file={tmp_path}/o.tfrecord",
                                         f"--spm_model_file={tmp_path}/none.model"]) == 2
    err = capsys.readouterr().err
    assert err.count(f"{binary} is a binary file") == 3 and "Traceback" not in err


def test_encode_refuses_a_max_seq_length_that_leaves_no_room_for_text(tmp_path):
    from albert_tf.text.tokenizer import AlbertTokenizer

    tok = AlbertTokenizer(str(train_tiny_model(tmp_path)))
    with pytest.raises(ValueError, match=r"max_seq_length=3 is too small: \[CLS\] A \[SEP\] B \[SEP\].*at least 5"):
        tok.encode("some words", "more words", max_seq_length=3)
    with pytest.raises(ValueError, match=r"max_seq_length=2 .*at least 3"):
        tok.encode("some words", max_seq_length=2)
    assert len(tok.encode("some words", "more words", max_seq_length=5)["input_ids"]) == 5
    assert tok.encode("", "", max_seq_length=3)["input_ids"] == [tok.cls_id, tok.sep_id, tok.sep_id]
    with pytest.raises(TypeError, match="texts_a must be a list of texts, got a single string"):
        tok.encode_batch("some words", max_seq_length=8)
    with pytest.raises(TypeError, match="texts_b must be a list"):
        tok.encode_batch(["some words"], "more words", max_seq_length=8)
    assert len(tok.encode_batch(["some words", "more"], max_seq_length=8)) == 2


def test_shards_carry_their_own_fingerprint_so_a_deleted_summary_cannot_pass_stale_ones(tmp_path, capsys):
    from tests.data_prep.generated_text import random_documents, write_documents

    spm_model = train_tiny_model(tmp_path)
    corpus = write_documents(tmp_path / "corpus.txt", random_documents(1, 30))
    common = [f"--input_file={corpus}", f"--output_file={tmp_path}/out-{{shard}}.tfrecord",
              f"--spm_model_file={spm_model}", "--num_output_shards=1", "--dupe_factor=1", "--num_workers=1",
              "--progress=false", "--max_predictions_per_seq=5"]
    assert create_pretraining_data.main(common + ["--max_seq_length=64"]) == 0
    shard = tmp_path / "out-00000.tfrecord"
    assert (tmp_path / "out-00000.tfrecord.fingerprint").read_text().strip()
    assert create_pretraining_data.main(common + ["--max_seq_length=64"]) == 0  # same job: reused
    (tmp_path / "out.summary.json").unlink()
    capsys.readouterr()
    assert create_pretraining_data.main(common + ["--max_seq_length=32"]) == 2
    err = capsys.readouterr().err
    assert f"{shard} exists from a run with other settings" in err and "--overwrite" in err
    (tmp_path / "out-00000.tfrecord.fingerprint").unlink()
    assert create_pretraining_data.main(common + ["--max_seq_length=32"]) == 2
    assert "exists without a fingerprint" in capsys.readouterr().err
    assert create_pretraining_data.main(common + ["--max_seq_length=32", "--overwrite"]) == 0


def test_prepare_corpus_reads_other_encodings_and_writes_utf8(tmp_path, capsys):
    text = "Le café est ouvert. Il ferme à midi.\n\nUn autre document ici. Encore une phrase là.\n"
    latin = tmp_path / "latin.txt"
    latin.write_bytes(text.encode("latin-1"))
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes(text.encode("utf-16"))
    out = tmp_path / "out.txt"
    assert prepare_corpus.main([f"--input={latin}", f"--output={out}", "--input_encoding=latin-1"]) == 0
    assert "café" in out.read_text(encoding="utf-8") and "à midi" in out.read_text(encoding="utf-8")
    assert prepare_corpus.main([f"--input={utf16}", f"--output={out}"]) == 2  # NUL bytes: refused by default
    assert f"{utf16} is a binary file" in capsys.readouterr().err
    assert prepare_corpus.main([f"--input={utf16}", f"--output={out}", "--input_encoding=utf-16"]) == 0
    assert "café" in out.read_text(encoding="utf-8")
    assert prepare_corpus.main([f"--input={latin}", f"--output={out}", "--input_encoding=utf-16-le"]) == 2
    assert prepare_corpus.main([f"--input={latin}", f"--output={out}", "--input_encoding=klingon"]) == 2
    err = capsys.readouterr().err
    assert f"{latin}: line 1 is not valid utf-16-le" in err and "'klingon' is not a known text encoding" in err
    assert "Traceback" not in err
