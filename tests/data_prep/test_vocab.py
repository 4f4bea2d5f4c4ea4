"""albert-train-vocab: the README recipe, inputs, bad bytes, atomic outputs, bounded memory, CLI."""

import os
import random
import tracemalloc
import warnings

import pytest
import sentencepiece as spm

from albert_tf.text import AlbertTokenizer, InvalidUtf8Warning
from data_prep import vocab
from tools import train_vocab as cli

WORDS = ("The Of And To In A Is Was For On That With As By At From His Her It An Were Are Which This Be Or "
         "Has Had Not But Also First One Their Its New After Who They Have Two Been Other All She When "
         "Café Naïve Year City People").split()


def write_corpus(path, lines=1500, seed=0, extra=()):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(lines):
            words = [rng.choice(WORDS) if rng.random() < 0.85 else f"{rng.randint(0, 10 ** 6):,}"
                     for _ in range(rng.randint(3, 16))]
            f.write(" ".join(words) + ("." if rng.random() < 0.5 else "") + "\n")
            if rng.random() < 0.05:
                f.write("\n")
        for line in extra:
            f.write(line + "\n")
    return str(path)


@pytest.fixture
def corpus_dir(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    write_corpus(folder / "part-0.txt", seed=0)
    write_corpus(folder / "part-1.txt", seed=1)
    write_corpus(folder / "other.text", seed=2, lines=300)
    return folder


def train(inputs, prefix, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("num_threads", 1)
    return vocab.train_vocab(inputs, str(prefix), kwargs.pop("vocab_size", 200), **kwargs)


def test_original_recipe_ids_and_summary(corpus_dir, tmp_path):
    summary = train(str(corpus_dir / "part-*.txt"), tmp_path / "out" / "vocab")
    tok = AlbertTokenizer(summary.model_file)
    assert tok.convert_ids_to_tokens(range(13)) == [
        "<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]", "(", ")", '"', "-", ".", "–", "£", "€"]
    spec = spm.SentencePieceProcessor(model_file=summary.model_file)
    assert spec.bos_id() == -1 and spec.eos_id() == -1 and spec.pad_id() == 0 and spec.unk_id() == 1
    assert summary.vocab_size == 200 == tok.vocab_size
    assert len(summary.input_files) == 2 and summary.input_files == sorted(summary.input_files)
    assert summary.sentences == summary.training_sentences > 2900
    assert summary.lines_read >= summary.sentences
    assert 0.999 < summary.character_coverage <= 1.0
    assert summary.invalid_utf8_lines == 0 and summary.seconds > 0
    text = summary.format()
    for needle in ("200 pieces", "coverage", "time:", "2 file(s)"):
        assert needle in text


def test_trainer_settings_are_the_readme_ones(corpus_dir, tmp_path):
    from sentencepiece import sentencepiece_model_pb2 as pb

    summary = train(str(corpus_dir / "part-0.txt"), tmp_path / "v")
    model = pb.ModelProto()
    with open(summary.model_file, "rb") as f:
        model.ParseFromString(f.read())
    spec = model.trainer_spec
    assert spec.model_type == pb.TrainerSpec.UNIGRAM
    assert abs(spec.character_coverage - 0.99995) < 1e-6  # stored as float32
    assert spec.shuffle_input_sentence and spec.input_sentence_size == 10_000_000
    assert list(spec.control_symbols) == ["[CLS]", "[SEP]", "[MASK]"]
    assert list(spec.user_defined_symbols) == ["(", ")", '"', "-", ".", "–", "£", "€"]


def test_vocab_file_matches_spm_train_format(corpus_dir, tmp_path):
    # Let SentencePiece write its own files, then render ours from its model.
    prefix = str(tmp_path / "native")
    spm.SentencePieceTrainer.train(input=str(corpus_dir / "part-0.txt"), model_prefix=prefix, vocab_size=150,
                                   minloglevel=2, user_defined_symbols=["€", "£"])
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    with open(prefix + ".vocab", encoding="utf-8") as f:
        assert vocab.vocab_file_text(sp) == f.read()


def test_lowercasing_on_request(corpus_dir, tmp_path):
    cased = AlbertTokenizer(train(str(corpus_dir / "part-0.txt"), tmp_path / "cased").model_file)
    lower = AlbertTokenizer(train(str(corpus_dir / "part-0.txt"), tmp_path / "lower", do_lower_case=True).model_file)
    assert any(any(c.isupper() for c in piece) for piece in cased.vocab if not piece.startswith(("<", "[")))
    assert not any(any(c.isupper() for c in piece) for piece in lower.vocab if not piece.startswith(("<", "[")))
    # Accents are stripped before training in both, as the tokenizer will strip them.
    assert not any("é" in piece or "ï" in piece for piece in cased.vocab)


def test_inputs_comma_lists_and_globs(corpus_dir, tmp_path):
    spec = f"{corpus_dir / 'part-*.txt'}, {corpus_dir / 'other.text'}"
    summary = train(spec, tmp_path / "v")
    assert [os.path.basename(f) for f in summary.input_files] == ["part-0.txt", "part-1.txt", "other.text"]
    assert vocab.expand_input_patterns([str(corpus_dir / "*.t*")]) == sorted(
        str(p) for p in corpus_dir.iterdir())
    with pytest.raises(FileNotFoundError, match=r"nothing-\*\.txt"):
        train(f"{corpus_dir / 'part-0.txt'},{corpus_dir / 'nothing-*.txt'}", tmp_path / "v")
    with pytest.raises(ValueError, match="No input files"):
        vocab.expand_input_patterns(" , ")


def test_invalid_utf8_is_counted_never_fatal(corpus_dir, tmp_path):
    path = corpus_dir / "part-0.txt"
    with open(path, "ab") as f:
        f.write(b"caf\xe9 latin-1 line\n\xff\xfe\xfd\nThe end \xc3\n")
    with pytest.warns(InvalidUtf8Warning, match=r"3 of \d+ lines .*part-0\.txt: 3"):
        summary = train(str(path), tmp_path / "v")
    assert summary.invalid_utf8_lines == 3
    assert "invalid UTF-8" in summary.format()


def test_empty_corpus_and_too_small_corpus_are_clear_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n\t\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"No non-empty lines in .*empty\.txt"):
        train(str(empty), tmp_path / "v")
    small = tmp_path / "small.txt"
    small.write_text("a b c\n" * 10, encoding="utf-8")
    with pytest.raises(ValueError, match="vocab_size=5000.*lower vocab_size"):
        train(str(small), tmp_path / "v", vocab_size=5000)
    assert not list(tmp_path.glob("v.*"))


def test_outputs_are_atomic(corpus_dir, tmp_path):
    prefix = tmp_path / "v"
    first = train(str(corpus_dir / "part-0.txt"), prefix)
    before = open(first.model_file, "rb").read()
    with pytest.raises(ValueError):
        train(str(corpus_dir / "part-0.txt"), prefix, vocab_size=100000)
    assert open(first.model_file, "rb").read() == before  # a failed run leaves the old model intact
    assert sorted(os.listdir(tmp_path)) == ["corpus", "v.model", "v.vocab"]  # no temp files left
    assert os.stat(first.model_file).st_mode & 0o777 == 0o644


def test_sampling_and_long_sentences(corpus_dir, tmp_path):
    long_line = "word " * 2000
    path = write_corpus(corpus_dir / "long.txt", lines=800, extra=[long_line])
    summary = train(path, tmp_path / "v", input_sentence_size=300, random_seed=3)
    assert summary.training_sentences == 300 < summary.sentences
    assert summary.too_long_sentences == 1
    assert "(sampled)" in summary.format() and "longer than" in summary.format()
    again = train(path, tmp_path / "w", input_sentence_size=300, random_seed=3)
    assert open(summary.model_file, "rb").read() == open(again.model_file, "rb").read()  # seeded


def _peak_reading_memory(path):
    reader = vocab._CorpusReader([path], do_lower_case=True, preprocess=True,
                                 max_sentence_length=4192, progress=False)
    tracemalloc.start()
    count = sum(1 for _ in reader)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == reader.sentences
    return peak


def test_reading_streams_in_bounded_memory(tmp_path):
    small = write_corpus(tmp_path / "small.txt", lines=10000)
    large = write_corpus(tmp_path / "large.txt", lines=40000)
    assert os.path.getsize(large) > 1_500_000
    small_peak, large_peak = _peak_reading_memory(small), _peak_reading_memory(large)
    # Memory does not grow with the corpus: a few lines plus one character-count chunk.
    assert large_peak < 1.5 * small_peak + 100_000, (small_peak, large_peak)
    assert large_peak < os.path.getsize(large) / 2


def test_cli_end_to_end(corpus_dir, tmp_path, capsys):
    prefix = tmp_path / "cli" / "30k-clean"
    code = cli.main([
        "--input", f"{corpus_dir / 'part-*.txt'},{corpus_dir / 'other.text'}",
        "--model_prefix", str(prefix), "--vocab_size", "180", "--do_lower_case",
        "--num_threads", "1", "--character_coverage=1.0", "--input_sentence_size=2000",
    ])
    out, err = capsys.readouterr()
    assert code == 0
    assert "180 pieces" in out and "character coverage" in out and "trained on:          2000" in out
    assert "training a unigram model" in err  # progress messages go to stderr
    tok = AlbertTokenizer(str(prefix) + ".model")
    assert tok.vocab_size == 180 and not any(c.isupper() for p in tok.vocab for c in p if p[0] not in "<[")
    assert tok.convert_ids_to_tokens([2, 3, 4]) == ["[CLS]", "[SEP]", "[MASK]"]


def test_cli_flags_and_errors(tmp_path, capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["--input=a", "--model_prefix=b"])
    assert args.vocab_size == 30000 and args.do_lower_case is False and args.preprocess is True
    assert args.user_defined_symbols == ["(", ")", '"', "-", ".", "–", "£", "€"]
    assert args.control_symbols == ["[CLS]", "[SEP]", "[MASK]"]
    assert parser.parse_args(["--input=a", "--model_prefix=b", "--do_lower_case=false"]).do_lower_case is False
    assert parser.parse_args(["--input=a", "--model_prefix=b", "--user_defined_symbols=(,\",€"]
                             ).user_defined_symbols == ["(", '"', "€"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--input=a", "--model_prefix=b", "--do_lower_case=maybe"])
    assert cli.main(["--input", str(tmp_path / "missing-*.txt"), "--model_prefix", str(tmp_path / "x"),
                     "--quiet"]) == 2
    assert "matches no file" in capsys.readouterr().err


def test_train_sentencepiece_in_memory():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proto = vocab.train_sentencepiece(
            [f"In {1900 + i}, the city had {i * 1234:,} people." for i in range(100)], vocab_size=60,
            num_threads=1)
    assert AlbertTokenizer.from_proto(proto).vocab_size == 60
