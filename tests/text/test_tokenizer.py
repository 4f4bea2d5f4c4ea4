"""The Python tokenizer: original preprocessing, digit-comma rule, special ids, packing, bad input."""

import doctest
import warnings

import pytest
import sentencepiece as spm

from albert_tf.text import (
    AlbertTokenizer,
    InvalidUtf8Warning,
    Utf8DecodeCounter,
    encode_ids,
    encode_pieces,
    iter_text_lines,
    preprocess_text,
    truncate_seq_pair,
)
from albert_tf.text import tokenizer as tokenizer_module


# --- preprocess_text (spec §4.1, pitfall 12) -------------------------------------------------

@pytest.mark.parametrize(
    "text, lower, expected",
    [
        ("Café NAÏVE “quoted” ‘single’ résumé ﬁ ½ …", True, "cafe naive “quoted” ‘single’ resume fi 1⁄2 ..."),
        ("Café  ﬁ ½…", False, "Cafe fi 1⁄2..."),  # accents go even without lowercasing
        ("``hi''", True, "``hi''"),  # no quote replacement
        ("  a\t\tb\nc\u00a0d\u3000e\x1cf\x85g\u2028h  ", False, "a b c d e f g h"),
        ("a\u200bb", False, "a\u200bb"),  # zero-width space is not str.split() whitespace
        ("ΟΔΥΣΣΕΥΣ", True, "οδυσσευς"),  # str.lower's final sigma
        ("İSTANBUL ß", True, "istanbul ß"),  # NFKD(İ) = I + U+0307, the dot is dropped
        ("ｆｕｌｌ Ⅻ", True, "full xii"),
        ("", True, ""),
        ("   ", True, ""),
        (b"caf\xc3\xa9", True, "cafe"),
    ],
)
def test_preprocess_text_golden(text, lower, expected):
    assert preprocess_text(text, lower=lower) == expected


def test_preprocess_text_accent_stripping_uses_combining_class_not_mn():
    # U+1D165 (musical stem) has combining class 216 but category Mc: dropped;
    # U+0E31 (Thai) is Mn with class 0: kept. A \p{Mn} rule gets both wrong.
    assert preprocess_text("a\U0001d165b") == "ab"
    assert preprocess_text("\u0e01\u0e31") == "\u0e01\u0e31"


def test_preprocess_keeps_spaces_by_request():
    assert preprocess_text("  a  b ", remove_space=False) == "  a  b "


# --- encode_pieces: the digit-comma rule and its quirk (spec §4.2, pitfall 13) --------------

GOLDEN_ORIGINAL = {
    "in 1990, the year": ["▁in", "▁", "▁1", "99", "0", ",", "▁the", "▁year"],
    "numbers 100,200, 3,500,": ["▁numbers", "▁", "▁1", "00", ",", "▁20", "0", ",", "▁3", ",", "▁", "500", ","],
}
GOLDEN_INTENDED = {  # what tf-models-official and HuggingFace's slow tokenizer produce
    "in 1990, the year": ["▁in", "▁", "1", "99", "0", ",", "▁the", "▁year"],
    "numbers 100,200, 3,500,": ["▁numbers", "▁", "1", "00", ",", "20", "0", ",", "▁3", ",", "500", ","],
}


@pytest.mark.parametrize("text", sorted(GOLDEN_ORIGINAL))
def test_digit_comma_split_keeps_spurious_underline(handmade_proto, text):
    sp = spm.SentencePieceProcessor(model_proto=handmade_proto)
    # The raw pieces contain e.g. "1990," and "200,": the rule must fire.
    assert any(p.endswith(",") and p[-2].isdigit() for p in sp.EncodeAsPieces(text))
    assert encode_pieces(sp, text) == GOLDEN_ORIGINAL[text]
    assert encode_pieces(sp, text, keep_spurious_underline=False) == GOLDEN_INTENDED[text]
    assert encode_ids(sp, text) == [sp.PieceToId(p) for p in GOLDEN_ORIGINAL[text]]


def test_tokenizer_quirk_switch(handmade_proto):
    original = AlbertTokenizer.from_proto(handmade_proto)
    intended = AlbertTokenizer.from_proto(handmade_proto, keep_spurious_underline=False)
    text = "in 1990, the year"
    assert original.tokenize(text) == GOLDEN_ORIGINAL[text]
    assert intended.tokenize(text) == GOLDEN_INTENDED[text]


def test_digit_comma_rule_uses_str_isdigit(handmade_proto):
    sp = spm.SentencePieceProcessor(model_proto=handmade_proto)
    assert tokenizer_module.is_digit_comma_piece("١,")  # Arabic-Indic digit
    assert tokenizer_module.is_digit_comma_piece("²,")  # superscripts are digits too
    assert not tokenizer_module.is_digit_comma_piece(",")
    assert not tokenizer_module.is_digit_comma_piece("a,")
    assert encode_pieces(sp, "hi,") == sp.EncodeAsPieces("hi,")


# --- AlbertTokenizer -------------------------------------------------------------------------

def test_special_ids_follow_the_original_recipe(tokenizer):
    assert tokenizer.convert_ids_to_tokens(range(13)) == [
        "<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]", "(", ")", '"', "-", ".", "–", "£", "€"
    ]
    assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id) == (
        0, 1, 2, 3, 4)
    assert tokenizer.vocab_size == 400 == len(tokenizer.vocab)


def test_tokenize_preprocesses_but_full_tokenizer_mode_does_not(tokenizer):
    assert tokenizer.tokenize("CAFÉ") == tokenizer.tokenize("cafe")
    # The original FullTokenizer.tokenize did no pre-processing (pitfall 12).
    assert tokenizer.tokenize("CAFÉ", preprocess=False) != tokenizer.tokenize("CAFÉ")


def test_unknown_pieces_map_to_unk(tokenizer):
    pieces = tokenizer.tokenize("鿿")
    assert tokenizer.unk_id in tokenizer.convert_tokens_to_ids(pieces)
    assert tokenizer.convert_tokens_to_ids(["no such piece"]) == [tokenizer.unk_id]


def test_tokenize_batch_equals_tokenize(tokenizer, corpus):
    lines = corpus[:300]
    assert tokenizer.tokenize_batch(lines) == [tokenizer.tokenize(line) for line in lines]


def test_encode_batch_equals_encode(tokenizer, corpus):
    a, b = corpus[:150], corpus[150:300]
    assert tokenizer.encode_batch(a, max_seq_length=16) == [tokenizer.encode(x, max_seq_length=16) for x in a]
    assert tokenizer.encode_batch(a, b, max_seq_length=9, pad=False) == [
        tokenizer.encode(x, y, max_seq_length=9, pad=False) for x, y in zip(a, b)]
    with pytest.raises(ValueError, match="2 texts_b"):
        tokenizer.encode_batch(a[:3], b[:2])


def test_encode_single_and_pair(handmade_proto):
    tok = AlbertTokenizer.from_proto(handmade_proto)
    a = tok.convert_tokens_to_ids(GOLDEN_ORIGINAL["in 1990, the year"])  # 8 pieces
    single = tok.encode("in 1990, the year", max_seq_length=12)
    assert single["input_ids"] == [2] + a + [3, 0, 0]
    assert single["input_mask"] == [1] * 10 + [0] * 2
    assert single["segment_ids"] == [0] * 12
    pair = tok.encode("the year", "in", max_seq_length=8)
    assert pair["input_ids"] == [2] + tok.convert_tokens_to_ids(["▁the", "▁year"]) + [3] + \
        tok.convert_tokens_to_ids(["▁in"]) + [3, 0, 0]
    assert pair["segment_ids"] == [0, 0, 0, 0, 1, 1, 0, 0]
    assert pair["input_mask"] == [1, 1, 1, 1, 1, 1, 0, 0]
    unpadded = tok.encode("the year", "in", max_seq_length=8, pad=False)
    assert unpadded["input_ids"] == pair["input_ids"][:6]
    assert len(unpadded["segment_ids"]) == len(unpadded["input_mask"]) == 6


def test_encode_truncates_like_the_original(handmade_proto):
    tok = AlbertTokenizer.from_proto(handmade_proto)
    a_pieces = GOLDEN_ORIGINAL["in 1990, the year"]  # 8
    single = tok.encode("in 1990, the year", max_seq_length=5)
    assert tok.convert_ids_to_tokens(single["input_ids"]) == ["[CLS]"] + a_pieces[:3] + ["[SEP]"]
    # Pair: the longer side loses tokens from its end; ties cut B.
    pair = tok.encode("in 1990, the year", "the year", max_seq_length=9)
    assert tok.convert_ids_to_tokens(pair["input_ids"]) == (
        ["[CLS]"] + a_pieces[:4] + ["[SEP]", "▁the", "▁year", "[SEP]"])
    pair = tok.encode("in 1990, the year", "the year", max_seq_length=6)
    assert tok.convert_ids_to_tokens(pair["input_ids"]) == ["[CLS]", "▁in", "▁", "[SEP]", "▁the", "[SEP]"]
    # An empty text_b is an empty segment; None is no segment.
    assert tok.encode("", "", max_seq_length=4)["input_ids"] == [2, 3, 3, 0]
    assert tok.encode("", max_seq_length=4)["input_ids"] == [2, 3, 0, 0]
    with pytest.raises(ValueError, match="max_seq_length=2"):
        tok.encode("a", "b", max_seq_length=2)


def expected_pair_lengths(la, lb, limit):
    """Closed form of the original loop: the shorter side survives if it fits in half,
    otherwise both get half and A (ties cut B) gets the odd token."""
    if la + lb <= limit:
        return la, lb
    short = min(la, lb)
    if limit - short >= short:
        return (la, limit - la) if la < lb else (limit - lb, lb)
    return (limit + 1) // 2, limit // 2


def test_truncate_seq_pair_matches_the_original_loop():
    for la in range(9):
        for lb in range(9):
            for limit in range(12):
                a, b = list(range(la)), list(range(lb))
                truncate_seq_pair(a, b, limit)
                assert (len(a), len(b)) == expected_pair_lengths(la, lb, limit)
                assert a == list(range(len(a))) and b == list(range(len(b)))  # cut at the end


# --- bad input --------------------------------------------------------------------------------

def test_missing_model_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.model"
    with pytest.raises(FileNotFoundError, match="nope.model"):
        AlbertTokenizer(str(missing))
    with pytest.raises(IsADirectoryError, match="directory"):
        AlbertTokenizer(str(tmp_path))


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"\x00\x01\x02garbage" * 10])
def test_corrupt_model_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "broken.model"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="broken.model"):
        AlbertTokenizer(str(path))


def test_vocab_file_passed_by_mistake_gets_a_hint(tmp_path):
    path = tmp_path / "30k-clean.vocab"
    path.write_text("<pad>\t0\n<unk>\t0\n[CLS]\t0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\.vocab text file"):
        AlbertTokenizer(str(path))


def test_model_without_albert_special_pieces_is_rejected(tmp_path):
    import io

    writer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(["hello world this is text"] * 30), model_writer=writer,
        vocab_size=30, hard_vocab_limit=False, minloglevel=2)  # spm defaults: <unk> <s> </s>, no [CLS]
    path = tmp_path / "plain.model"
    path.write_bytes(writer.getvalue())
    with pytest.raises(ValueError, match=r"plain\.model lacks .*\[CLS\]"):
        AlbertTokenizer(str(path))


def test_invalid_utf8_bytes_are_replaced_and_counted(tokenizer):
    with pytest.warns(InvalidUtf8Warning, match="1 of 1 texts"):
        pieces = tokenizer.tokenize(b"caf\xe9 ok")
    assert pieces == tokenizer.tokenize("caf\ufffd ok")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tokenizer.tokenize("caf\u00e9".encode())  # valid UTF-8: no warning


def test_iter_text_lines_never_stops_on_bad_bytes(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"good line\nlatin-1 caf\xe9\n\xff\xfe\nlast\n")
    with pytest.warns(InvalidUtf8Warning, match=r"2 of 4 lines of .*mixed\.txt"):
        lines = list(iter_text_lines(str(path)))
    assert lines == ["good line", "latin-1 caf\ufffd", "\ufffd\ufffd", "last"]
    counter = Utf8DecodeCounter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a shared counter defers the warning to its owner
        assert len(list(iter_text_lines(str(path), counter))) == 4
    assert counter.bad_texts == 2 and counter.bad_sources == {str(path): 2}


def test_docstring_examples_run():
    import data_prep.vocab
    from albert_tf.text.in_graph import layers as in_graph_layers

    for module in (tokenizer_module, in_graph_layers, data_prep.vocab):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
