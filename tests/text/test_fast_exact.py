"""The fast exact path: tensorflow-text's fast kernel on a rewritten model, the exact search only
where the kernel may differ from Python (albert_tf/text/in_graph/fast_exact.py says why)."""

import random

import pytest
import tensorflow as tf

from albert_tf.text import AlbertInGraphTokenizer, AlbertTokenizer
from albert_tf.text.in_graph.fast_exact import search_model

from tests.text.tokenizer_corpus import handmade_model_proto


def _python_ids(tokenizer, lines):
    return [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line)) for line in lines]


def _stress_lines(seed: int, count: int) -> list:
    """Random Unicode, comma numbers, accents, long words, whitespace runs and empty lines."""
    rng = random.Random(seed)
    words = ["the", "Café", "NAÏVE", "résumé", "Σίσυφος", "中文", "東京", "😀", "1990,", "x" * 60,
             "ΟΔΥΣΣΕΥΣ", "İstanbul", "ﬁ", "…", "“q”", "(", "-", "£5", "€3,50"]
    spaces = [" ", "  ", "\t", "\u3000", "\u00a0", "\n", " \t \u2003 "]
    lines = ["", " ", "\t\t"]
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 25)):
            roll = rng.random()
            if roll < 0.2:
                parts.append(f"{rng.randint(0, 10 ** rng.randint(1, 9)):,}" + rng.choice(["", ",", ",,", "."]))
            elif roll < 0.35:
                parts.append("".join(chr(rng.choice([rng.randrange(0x20, 0x7F), rng.randrange(0xA0, 0x3000),
                                                      rng.randrange(0x4E00, 0x9FFF), rng.randrange(0x1F300, 0x1FAFF)]))
                                     for _ in range(rng.randint(1, 8))))
            elif roll < 0.4:
                parts.append(rng.choice("ab1") * rng.randint(10, 40))  # long words, tied segmentations
            else:
                parts.append(rng.choice(words))
        lines.append("".join(part + rng.choice(spaces) for part in parts))
    return lines


@pytest.fixture(scope="module")
def stress():
    return _stress_lines(0, 1500)


# Both models are also used by test_in_graph.py, whose traced pipelines these share in one run.
@pytest.mark.parametrize("model", ["trained", "rounding"])
def test_ids_and_pieces_match_python_on_stress_lines(model, stress, tokenizer):
    """The trained model has user-defined symbols and nmt_nfkc; the hand-made one, with scores
    chosen so that ties depend on float rounding, has an identity normaliser."""
    proto = tokenizer.proto if model == "trained" else handmade_model_proto(rounding=True)
    python = AlbertTokenizer.from_proto(proto)
    layer = AlbertInGraphTokenizer.from_tokenizer(python)
    assert layer._pipeline._fast is not None, "the fast exact path is the default"
    got = layer(tf.constant(stress)).to_list()
    expected = _python_ids(python, stress)
    mismatches = [(line, e, g) for line, e, g in zip(stress, expected, got) if e != g]
    assert not mismatches, mismatches[:3]
    if model == "trained":  # the piece strings of unknown runs come from the exact search
        pieces = [[p.decode("utf-8") for p in row] for row in layer.tokenize(tf.constant(stress[:400])).to_list()]
        assert pieces == [python.tokenize(line) for line in stress[:400]]


def _kernel_alone_and_routed(layer, lines):
    fast = layer._pipeline._fast
    normalized = fast.normalize(layer.preprocess(tf.constant(lines)))
    return fast.kernel_ids(normalized).to_list(), fast.routed(normalized).numpy().tolist()


def _raw_python_ids(python, lines):
    return [python.sp_model.EncodeAsIds(python.preprocess(line)) for line in lines]


def test_multibyte_unknown_inside_longer_pieces_is_routed():
    """The kernel charges an unknown character once per byte, Python once: with "東" only inside
    "b東", Python takes [▁ab][<unk>] (-1 - 30) while the kernel, paying -90 for the three bytes,
    takes another path; the router must send the row to the exact search.

    Only the router and the kernel run here: the exact search of a new model costs a trace of
    tens of seconds, and its answers are tested in test_in_graph.py."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = pb.ModelProto()
    model.ParseFromString(handmade_model_proto())
    for piece, score in [("▁ab", -1.0), ("▁a", -20.0), ("b東", -20.0)]:
        model.pieces.add(piece=piece, score=score, type=pb.ModelProto.SentencePiece.NORMAL)
    python = AlbertTokenizer.from_proto(model.SerializeToString())
    layer = AlbertInGraphTokenizer.from_tokenizer(python)
    lines = ["ab東", "the ab東 in 1990, year", "the year"]
    kernel, routed = _kernel_alone_and_routed(layer, lines)
    raw = _raw_python_ids(python, lines)
    assert routed == [True, True, False]
    assert kernel[0] != raw[0], "the kernel alone must be wrong here"
    assert kernel[2] == raw[2]
    # A multi-byte character in no piece at all is swapped for a free ASCII byte, not routed.
    lines = ["the 😀☃ year", "☃", "ab☃ ☃"]
    kernel, routed = _kernel_alone_and_routed(layer, lines)
    assert routed == [False, False, False]
    assert kernel == _raw_python_ids(python, lines)


def test_rows_that_can_reach_the_rebase_are_routed():
    """Python re-bases running scores past 1e5, the kernel never does: on these rows (see
    test_scores_past_1e5_are_rebased_as_sentencepiece_does) the kernel alone is wrong."""
    python = AlbertTokenizer.from_proto(handmade_model_proto(rounding=True))
    layer = AlbertInGraphTokenizer.from_tokenizer(python)
    prefix = " ".join(["\u9fff"] * 4349)
    tails = ["£00000000000", "£1111111", "£111111111111111", "£11111111111", "£111111111", "(0000", "x11"]
    lines = [prefix + " " + tail for tail in tails] + ["short (000"]
    kernel, routed = _kernel_alone_and_routed(layer, lines)
    assert routed == [True] * len(tails) + [False]
    raw = _raw_python_ids(python, lines)
    assert sum(k != r for k, r in zip(kernel, raw)) > 0, "the kernel alone must be wrong here"
    assert layer(tf.constant(lines)).to_list() == _python_ids(python, lines)


def test_search_model_rewrites_only_what_differs(tokenizer):
    from sentencepiece import sentencepiece_model_pb2 as pb

    original, rewritten = pb.ModelProto(), pb.ModelProto()
    original.ParseFromString(handmade_model_proto())
    rewritten.ParseFromString(search_model(handmade_model_proto()))
    kinds = pb.ModelProto.SentencePiece
    for before, after in zip(original.pieces, rewritten.pieces):
        assert after.piece == before.piece
        if before.type == kinds.USER_DEFINED:
            assert (after.type, after.score) == (kinds.NORMAL, pytest.approx(0.1 * (len(before.piece.encode()) - 1)))
        else:
            assert (after.type, after.score) == (before.type, before.score)
    assert not rewritten.normalizer_spec.add_dummy_prefix
    bpe = pb.ModelProto()
    bpe.ParseFromString(tokenizer.proto)
    bpe.trainer_spec.model_type = pb.TrainerSpec.BPE
    assert search_model(bpe.SerializeToString()) is None


def test_op_search_setting_is_unchanged(tokenizer):
    layer = AlbertInGraphTokenizer.from_tokenizer(tokenizer, exact_segmentation=False)
    assert layer._pipeline._fast is None and layer._pipeline._segmenter is None


def _model_with_rule(tmp_path, rule_tsv: str, **options) -> bytes:
    import io

    import sentencepiece

    rules = tmp_path / "rules.tsv"
    rules.write_text(rule_tsv)
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(["the cab and the abacus", "a b c ab"] * 20), model_writer=model, vocab_size=30,
        pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        normalization_rule_tsv=str(rules), hard_vocab_limit=False, minloglevel=2, **options)
    return model.getvalue()


def test_plain_ascii_normalisation_is_proven_from_the_character_map(tmp_path, stress, tokenizer):
    """Rows of printable ASCII skip the SentencePiece op only where the model's character map
    cannot touch them; a rule on ASCII ("ab" -> "x", or on "~" alone) is found in the trie."""
    from albert_tf.text.in_graph.fast_exact import ascii_normalization_is_plain

    assert ascii_normalization_is_plain(tokenizer.proto)  # nmt_nfkc leaves printable ASCII alone
    assert not ascii_normalization_is_plain(_model_with_rule(tmp_path, "61 62\t78\n"))
    assert not ascii_normalization_is_plain(_model_with_rule(tmp_path, "7E\t2D\n"))
    assert ascii_normalization_is_plain(_model_with_rule(tmp_path, "FF21\t41\n"))  # a non-ASCII key only
    assert not ascii_normalization_is_plain(_model_with_rule(tmp_path, "FF21\t41\n", add_dummy_prefix=False))

    layer = AlbertInGraphTokenizer.from_tokenizer(tokenizer)
    fast = layer._pipeline._fast
    assert fast.plain_ascii
    texts = layer.preprocess(tf.constant(stress + ["plain ascii, words!", "a", "~"]))
    assert texts.shape[0] > 0 and tf.reduce_all(fast.normalize(texts) == fast._op_normalize(texts))

    proto = _model_with_rule(tmp_path, "61 62\t78\n")
    python = AlbertTokenizer.from_proto(proto)
    lines = ["the cab and the abacus", "ab ab", "b a"]
    assert not AlbertInGraphTokenizer(proto=proto)._pipeline._fast.plain_ascii
    assert AlbertInGraphTokenizer(proto=proto)(tf.constant(lines)).to_list() == _python_ids(python, lines)
    assert "x" in "".join(python.tokenize("the cab")), "the rule is applied, so skipping the op would differ"
