"""SQuAD features against tf-models-official's port of the original squad_utils (squad_lib_sp)."""

import json
import random

import numpy as np
import pytest

from albert_tf.tasks.squad import SquadFeatureSet, gold_position_logits, load_squad_features, postprocess_v1
from albert_tf.text.tokenizer import AlbertTokenizer
from data_prep import squad
from data_prep.finetuning import FinetuningDataConfig, create_finetuning_data
from tests.data_prep.finetuning_fixtures import SQUAD_PARAGRAPHS, parse_records, squad_json, write

SEQ, STRIDE, QUERY = 64, 16, 12


@pytest.fixture(scope="module")
def squad_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("squad")
    return {"v1": squad_json(str(root / "v1.json")), "v2": squad_json(str(root / "v2.json"), True, True)}


@pytest.fixture(scope="module")
def tf_models_tokenizer_match(ft_spm_model):
    # tf-models' encode_pieces strips the "▁" the original kept after digit-comma splits (a known
    # difference); with that quirk off, our tokenizer must give its pieces.
    return AlbertTokenizer(ft_spm_model, keep_spurious_underline=False)


def _reference(path, spm_model, is_training):
    from official.nlp.data import squad_lib_sp
    from official.nlp.tools import tokenization

    examples = squad_lib_sp.read_squad_examples(path, is_training, version_2_with_negative=True)
    tokenizer = tokenization.FullSentencePieceTokenizer(spm_model)
    features = []

    def output_fn(feature, is_padding=False):
        if not is_padding:
            features.append(feature)

    squad_lib_sp.convert_examples_to_features(
        examples, tokenizer, SEQ, STRIDE, QUERY, is_training, output_fn, do_lower_case=True, batch_size=1)
    return examples, features


def _ours(path, tokenizer, is_training):
    examples = squad.read_squad_examples(path, is_training)
    features, stats = squad.convert_examples(examples, 0, tokenizer, SEQ, STRIDE, QUERY, is_training)
    for k, feature in enumerate(features):
        feature.unique_id = squad.UNIQUE_ID_BASE + k
    return examples, features, stats


@pytest.mark.tf_models_official
@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("is_training", [True, False])
def test_features_equal_the_tf_models_port(squad_files, ft_spm_model, tf_models_tokenizer_match, version,
                                           is_training):
    _, reference = _reference(squad_files[version], ft_spm_model, is_training)
    _, ours, stats = _ours(squad_files[version], tf_models_tokenizer_match, is_training)
    assert len(ours) == len(reference) > len(SQUAD_PARAGRAPHS)
    assert stats["alignment_failures"] == 0
    for mine, ref in zip(ours, reference):
        assert mine.unique_id == ref.unique_id
        assert mine.input_ids == ref.input_ids
        assert mine.input_mask == ref.input_mask
        assert mine.segment_ids == ref.segment_ids
        assert mine.p_mask == [1 - m for m in ref.paragraph_mask]  # tf-models writes the complement
        # The original's pieces include the padding ("<pad>"); the metadata keeps the real ones.
        assert mine.tokens == ref.tokens[: len(mine.tokens)]
        assert set(ref.tokens[len(mine.tokens):]) <= {"<pad>"} and len(mine.tokens) == sum(mine.input_mask)
        assert mine.tok_start_to_orig_index == ref.tok_start_to_orig_index
        assert mine.tok_end_to_orig_index == ref.tok_end_to_orig_index
        assert {mine.doc_offset + k: bool(v) for k, v in enumerate(mine.token_is_max_context)} == \
            ref.token_is_max_context
        if is_training:
            assert (mine.start_position, mine.end_position) == (ref.start_position, ref.end_position)
            assert mine.is_impossible == int(ref.is_impossible)


def test_original_digit_comma_pieces_differ_from_tf_models(squad_files, ft_tokenizer, tf_models_tokenizer_match):
    # The context holds "1901," whose piece "1," is re-encoded as "▁1" + "," (the original keeps the
    # "▁" that tf-models strips); the alignment absorbs the extra space either way.
    _, literal, _ = _ours(squad_files["v1"], ft_tokenizer, False)
    _, stripped, _ = _ours(squad_files["v1"], tf_models_tokenizer_match, False)
    assert literal[0].tokens != stripped[0].tokens
    starts = lambda tokens: sum(t.startswith("▁") for t in tokens)  # noqa: E731
    assert starts(literal[0].tokens) == starts(stripped[0].tokens) + 1
    assert literal[0].tok_start_to_orig_index[-5:] == stripped[0].tok_start_to_orig_index[-5:]


def test_gold_answers_come_back_through_postprocessing(squad_files, ft_spm_model, tmp_path):
    """Accents, CJK, punctuation and extra spaces: the pieces' offsets cut the exact gold text."""
    output = str(tmp_path / "dev.tfrecord")
    summary = create_finetuning_data(FinetuningDataConfig(
        task="squad_v1", input_file=squad_files["v1"], split="dev", output_file=output,
        spm_model_file=ft_spm_model, max_seq_length=SEQ, doc_stride=STRIDE, max_query_length=QUERY,
        num_workers=1))
    feature_set = load_squad_features(summary["meta_file"])
    results = {}
    for feature in feature_set.features:
        example = feature_set.examples[feature["example_index"]]
        logits = gold_position_logits(feature_set, feature, example["answer_starts"][0], example["answers"][0], SEQ)
        if logits is not None:
            results[feature["unique_id"]] = logits
    predictions, _ = postprocess_v1(feature_set, results)
    gold = {e["qas_id"]: e["answers"][0] for e in feature_set.examples}
    assert predictions == gold
    assert "crème brûlée" in predictions.values() and "東京" in predictions.values()
    records = parse_records(output)
    assert [r["unique_ids"][0] for r in records] == [squad.UNIQUE_ID_BASE + k for k in range(len(records))]
    assert set(records[0]) == {"unique_ids", "input_ids", "input_mask", "segment_ids", "p_mask"}
    assert len(records) == summary["features"] == len(feature_set.features)


def test_windows_without_the_answer_are_kept_with_target_zero(squad_files, ft_tokenizer):
    examples = squad.read_squad_examples(squad_files["v1"], True)
    long_question = [e for e in examples if e.question_text == "Where was the ball found?"][0]
    features, _ = squad.convert_examples([long_question], 0, ft_tokenizer, SEQ, STRIDE, QUERY, True)
    assert len(features) >= 3
    answered = [f for f in features if not f.is_impossible]
    assert answered, "some window holds the answer"
    for f in features:
        if f.is_impossible:
            assert (f.start_position, f.end_position) == (0, 0)
        else:
            pieces = f.tokens[f.start_position: f.end_position + 1]
            assert "".join(pieces).replace("▁", " ").strip() == "near the river"
        # p_mask: 0 only on [CLS] and the window's pieces.
        context = set(range(f.doc_offset, f.doc_offset + len(f.tok_start_to_orig_index)))
        assert [k for k, m in enumerate(f.p_mask) if m == 0] == [0] + sorted(context)
        assert f.segment_ids[f.doc_offset - 1] == 0 and f.segment_ids[f.doc_offset] == 1


def test_v2_impossible_questions(squad_files, ft_tokenizer):
    examples = squad.read_squad_examples(squad_files["v2"], True)
    impossible = [e for e in examples if e.is_impossible]
    assert impossible and all(e.start_position == -1 and e.orig_answer_text == "" for e in impossible)
    features, stats = squad.convert_examples(impossible, 0, ft_tokenizer, SEQ, STRIDE, QUERY, True)
    assert features and all((f.start_position, f.end_position, f.is_impossible) == (0, 0, 1) for f in features)
    assert stats["impossible_features"] == len(features)


def test_training_examples_are_shuffled_as_the_original_runner(squad_files, ft_spm_model, tmp_path):
    output = str(tmp_path / "train.tfrecord")
    create_finetuning_data(FinetuningDataConfig(
        task="squad_v2", input_file=squad_files["v2"], split="train", output_file=output,
        spm_model_file=ft_spm_model, max_seq_length=SEQ, doc_stride=STRIDE, max_query_length=QUERY,
        num_workers=1))
    records = parse_records(output)
    examples = squad.read_squad_examples(squad_files["v2"], True)
    random.Random(12345).shuffle(examples)
    tokenizer = AlbertTokenizer(ft_spm_model)
    expected, _ = squad.convert_examples(examples, 0, tokenizer, SEQ, STRIDE, QUERY, True)
    assert [r["input_ids"] for r in records] == [f.input_ids for f in expected]
    assert [r["start_positions"][0] for r in records] == [f.start_position for f in expected]
    assert [r["is_impossible"][0] for r in records] == [f.is_impossible for f in expected]
    assert set(records[0]) == {"unique_ids", "input_ids", "input_mask", "segment_ids", "p_mask",
                               "start_positions", "end_positions", "is_impossible"}


def test_alignment_maps_pieces_to_original_characters():
    orig_to_chartok, chartok_to_orig = squad.lcs_align("Ab  ç", " ab c", lower=True)
    assert chartok_to_orig == [None, 0, 1, 3, 4] or chartok_to_orig == [None, 0, 1, 2, 4]
    assert orig_to_chartok[0] == 1 and orig_to_chartok[4] == 4
    # Nearest-neighbour rules of _convert_index.
    index = [None, 5, None, None, 9, None]
    assert squad.convert_index(index, 2, is_start=True) == 6
    assert squad.convert_index(index, 2, is_start=False) == 8
    assert squad.convert_index(index, 0, is_start=True) == 0
    assert squad.convert_index(index, 0, is_start=False) == 4
    assert squad.convert_index(index, 5, m=20, is_start=True) == 10
    assert squad.convert_index(index, 5, m=20, is_start=False) == 19
    assert squad.convert_index(index, 5, is_start=False) == 9
    assert squad.doc_spans(5, 10, 2) == [(0, 5)]
    assert squad.is_max_context([(0, 4), (2, 4)], 1, 3) and not squad.is_max_context([(0, 4), (2, 4)], 0, 3)


def test_a_context_that_does_not_align_is_dropped(ft_tokenizer, tmp_path):
    # Characters SentencePiece cannot reproduce ("ﬁ" becomes "fi": two characters for one) are rare;
    # a paragraph made only of them fails the 0.8 threshold, as in the original.
    path = write(str(tmp_path / "odd.json"), json.dumps({"data": [{"paragraphs": [
        {"context": "ﬁﬁﬁﬁﬁﬁﬁﬁ", "qas": [{"id": "a", "question": "what?", "answers": []}]},
        {"context": "the cat", "qas": [{"id": "b", "question": "who?", "answers": []}]}]}]}))
    examples = squad.read_squad_examples(path, False)
    features, stats = squad.convert_examples(examples, 0, ft_tokenizer, SEQ, STRIDE, QUERY, False)
    assert stats["alignment_failures"] == 1 and stats["dropped_qas_ids"] == ["a"]
    assert [f.example_index for f in features] == [1]


def _squad(tmp_path, qas, context="the cat sat on the mat"):
    return write(str(tmp_path / "bad.json"), json.dumps({"data": [{"paragraphs": [{"context": context, "qas": qas}]}]}))


@pytest.mark.parametrize(
    "qas,is_training,message",
    [
        ([{"id": "x", "question": "q", "answers": [{"text": "cat", "answer_start": 40}]}], False,
         r"qas\[0\] \(id x\): answer 'cat' at offset 40 falls outside its context"),
        ([{"id": "x", "question": "q", "answers": [{"text": "mat", "answer_start": -1}]}], True,
         r"falls outside its context"),
        ([{"id": "y", "question": "q", "answers": [{"text": "cat", "answer_start": 4},
                                                    {"text": "mat", "answer_start": 19}]}], True,
         r"\(id y\): a training question needs exactly 1 answer \(it has 2\)"),
        ([{"id": "z", "question": "q"}], True, r"\(id z\): a training question needs exactly 1 answer"),
        ([{"question": "q"}], False, r"data\[0\]\.paragraphs\[0\]\.qas\[0\] needs 'id' and 'question'"),
        ([], False, r"has no questions"),
    ],
)
def test_bad_input_names_the_file_and_question(tmp_path, qas, is_training, message):
    with pytest.raises(squad.SquadDataError, match=message):
        squad.read_squad_examples(_squad(tmp_path, qas), is_training)


def test_empty_and_invalid_files(tmp_path):
    with pytest.raises(squad.SquadDataError, match=r"empty\.json is empty"):
        squad.read_squad_examples(write(str(tmp_path / "empty.json"), ""), False)
    with pytest.raises(squad.SquadDataError, match=r"broken\.json, line 2: not valid JSON"):
        squad.read_squad_examples(write(str(tmp_path / "broken.json"), '{"data":\n[}'), False)
    with pytest.raises(FileNotFoundError, match="no such SQuAD JSON file"):
        squad.read_squad_examples(str(tmp_path / "missing.json"), False)


def test_feature_set_round_trip(squad_files, ft_spm_model, tmp_path):
    output = str(tmp_path / "dev.tfrecord")
    summary = create_finetuning_data(FinetuningDataConfig(
        task="squad_v2", input_file=squad_files["v2"], split="dev", output_file=output,
        spm_model_file=ft_spm_model, max_seq_length=SEQ, doc_stride=STRIDE, max_query_length=QUERY,
        num_workers=1))
    feature_set = load_squad_features(output + ".meta.json")
    assert isinstance(feature_set, SquadFeatureSet)
    assert len(feature_set.examples) == summary["examples"]
    assert sum(e["is_impossible"] for e in feature_set.examples) == len(SQUAD_PARAGRAPHS)
    assert feature_set.unique_ids() == list(range(squad.UNIQUE_ID_BASE, squad.UNIQUE_ID_BASE + summary["features"]))
    assert np.all([f["tokens"][f["doc_offset"] - 1] == "[SEP]" for f in feature_set.features])
