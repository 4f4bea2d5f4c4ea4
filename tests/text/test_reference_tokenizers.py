"""Where other ALBERT tokenizers agree with the original and where they do not.

* tf-models-official forks ``preprocess_text``/``encode_pieces`` verbatim for
  Python 3, which makes the digit-comma branch fire: it strips the "▁" the
  original keeps. Checked live on the whole corpus.
* keras-hub's ``AlbertTokenizer`` is plain SentencePiece: no whitespace
  collapse, no accent stripping, no lowercasing, no digit-comma split. Checked
  live, case by case.
* HuggingFace (no torch/transformers here): its documented normalisation
  (``reference/anchors.md``) replaces "``" and "''" with '"' and, in the fast
  tokenizer, has no digit-comma split. A ten-line reference of those rules pins
  the cases where its ids differ.
"""

import unicodedata

import numpy as np
import pytest
import sentencepiece as spm

from albert_tf.text import AlbertTokenizer, preprocess_text


# --- tf-models-official (live) -----------------------------------------------------------------

@pytest.fixture(scope="module")
def tfm():
    from official.nlp.tools import tokenization

    return tokenization


@pytest.mark.tf_models_official
@pytest.mark.parametrize("lower", [True, False])
def test_tf_models_preprocess_text_is_identical(tfm, corpus, lower):
    assert [tfm.preprocess_text(line, lower=lower) for line in corpus] == [
        preprocess_text(line, lower=lower) for line in corpus]


@pytest.mark.tf_models_official
def test_tf_models_pieces_identical_up_to_the_quirk(tfm, corpus, tokenizer, spm_model_file):
    reference = tfm.FullSentencePieceTokenizer(spm_model_file)
    intended = AlbertTokenizer(spm_model_file, keep_spurious_underline=False)
    theirs = [reference.tokenize(tfm.preprocess_text(line, lower=True)) for line in corpus]
    # Same pieces, line for line, as our tokenizer with the intended behaviour ...
    assert theirs == [intended.tokenize(line) for line in corpus]
    # ... and as the original's literal behaviour on every line the quirk does not touch.
    ours = [tokenizer.tokenize(line) for line in corpus]
    quirk_lines = {i for i, line in enumerate(corpus) if ours[i] != intended.tokenize(line)}
    assert {i for i in range(len(corpus)) if ours[i] != theirs[i]} == quirk_lines
    assert len(quirk_lines) < len(corpus) // 2
    # Where they differ, it is only the spurious "▁" before a re-encoded number.
    for i in quirk_lines:
        assert "".join(ours[i]).replace("▁", "") == "".join(theirs[i]).replace("▁", "")
        assert "".join(ours[i]).count("▁") > "".join(theirs[i]).count("▁")
    ids = [reference.convert_tokens_to_ids(p) for p in theirs[:200]]
    assert ids == [intended.convert_tokens_to_ids(intended.tokenize(line)) for line in corpus[:200]]


# --- keras-hub (live) --------------------------------------------------------------------------

KERAS_HUB_CASES = [
    # (text, same ids as the original?, why)
    ("the year 1990 of the city", True, "lowercase ASCII without digit-comma pieces"),
    ("a\u3000b\u00a0c  d", True, "SentencePiece's own normaliser also maps these spaces"),
    ("ﬁ ½", True, "SentencePiece's NFKC also decomposes compatibility characters"),
    ("The Year", False, "no lowercasing: capitals reach SentencePiece (often <unk>)"),
    ("café naïve", False, "no accent stripping: NFKC keeps é, the original's NFKD drops the accent"),
    ("12,345, then 1,000,000,", False, "no digit-comma split"),
    ("a\x1cb", False, "\\x1c is whitespace to str.split() but a dropped control character to SentencePiece"),
]


@pytest.fixture(scope="module")
def keras_hub_tokenizer(spm_proto):
    import keras_hub

    return keras_hub.models.AlbertTokenizer(proto=spm_proto)


@pytest.mark.parametrize("text, same, why", KERAS_HUB_CASES, ids=[c[2] for c in KERAS_HUB_CASES])
def test_keras_hub_differences(keras_hub_tokenizer, tokenizer, text, same, why):
    theirs = np.asarray(keras_hub_tokenizer(text)).tolist()
    ours = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))
    # keras-hub is exactly SentencePiece on the raw text ...
    assert theirs == tokenizer.sp_model.EncodeAsIds(text)
    # ... which matches the original only where preprocessing and the digit-comma rule do nothing.
    assert (theirs == ours) is same, why


def test_keras_hub_special_ids_agree(keras_hub_tokenizer, tokenizer):
    assert keras_hub_tokenizer.pad_token_id == tokenizer.pad_id
    assert keras_hub_tokenizer.cls_token_id == tokenizer.cls_id
    assert keras_hub_tokenizer.sep_token_id == tokenizer.sep_id
    assert keras_hub_tokenizer.mask_token_id == tokenizer.mask_id


# --- HuggingFace (documented rules) ------------------------------------------------------------

def hf_preprocess(text: str, do_lower_case: bool = True) -> str:
    """HuggingFace ``AlbertTokenizer``'s normalisation as documented in anchors.md:
    the original's steps plus "``" and "''" -> '"'."""
    text = " ".join(text.strip().split())
    text = text.replace("``", '"').replace("''", '"')
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.lower() if do_lower_case else text


def hf_tokenize(sp, text):
    """The fast tokenizer: SentencePiece pieces, no digit-comma re-encoding."""
    return sp.EncodeAsPieces(hf_preprocess(text))


HF_CASES = [
    # (text, original pieces, HuggingFace pieces, why)
    ("the year", ["▁the", "▁year"], ["▁the", "▁year"], "plain text agrees"),
    ("``hi''", ["▁", "``", "hi", "''"], ["▁", '"', "hi", '"'], "HF turns `` and '' into \""),
    ("in 1990, the year", ["▁in", "▁", "▁1", "99", "0", ",", "▁the", "▁year"],
     ["▁in", "▁", "1990,", "▁the", "▁year"], "HF has no digit-comma split"),
    ("numbers 100,200, 3,500,",
     ["▁numbers", "▁", "▁1", "00", ",", "▁20", "0", ",", "▁3", ",", "▁", "500", ","],
     ["▁numbers", "▁", "100,", "200,", "▁3,", "500,"], "HF has no digit-comma split"),
]


@pytest.mark.parametrize("text, original, huggingface, why", HF_CASES, ids=[c[0] for c in HF_CASES])
def test_huggingface_differences(handmade_proto, text, original, huggingface, why):
    sp = spm.SentencePieceProcessor(model_proto=handmade_proto)
    tok = AlbertTokenizer.from_proto(handmade_proto)
    assert tok.tokenize(text) == original
    assert hf_tokenize(sp, text) == huggingface
    same_ids = tok.convert_tokens_to_ids(original) == [sp.PieceToId(p) for p in huggingface]
    assert same_ids is (original == huggingface), why


def test_huggingface_quote_rule_on_the_corpus(corpus, tokenizer):
    sp = tokenizer.sp_model
    differing = [line for line in corpus if hf_preprocess(line) != preprocess_text(line, lower=True)]
    assert differing and all("``" in line or "''" in line for line in differing)
    assert any(hf_tokenize(sp, line) != tokenizer.tokenize(line) for line in differing)
