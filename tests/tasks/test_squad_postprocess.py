"""SQuAD post-processing against tf-models-official's port of the original v1 writer, and the v2 rules."""

import collections
import json

import numpy as np
import pytest

from albert_tf.tasks.squad import (
    SquadFeatureSet,
    best_indexes,
    postprocess_v1,
    postprocess_v2,
    write_predictions,
)
from albert_tf.text.tokenizer import AlbertTokenizer
from data_prep import squad
from tests.data_prep.finetuning_fixtures import squad_json, train_model

SEQ, STRIDE, QUERY = 64, 16, 12


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("postprocess")
    model = train_model(str(root))
    path = squad_json(str(root / "dev.json"))
    return model, path


def _feature_set(path, model):
    # tf-models' tokenizer strips the digit-comma "▁" the original kept; match it for the comparison.
    tokenizer = AlbertTokenizer(model, keep_spurious_underline=False)
    examples = squad.read_squad_examples(path, False)
    features, _ = squad.convert_examples(examples, 0, tokenizer, SEQ, STRIDE, QUERY, False)
    for k, feature in enumerate(features):
        feature.unique_id = squad.UNIQUE_ID_BASE + k
    contexts = sorted({e.paragraph_text for e in examples})
    rows = [{"qas_id": e.qas_id, "context_index": contexts.index(e.paragraph_text)} for e in examples]
    return SquadFeatureSet(contexts, rows, [squad.feature_metadata(f) for f in features])


@pytest.mark.tf_models_official
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_v1_equals_the_tf_models_port(setup, seed):
    from official.nlp.data import squad_lib_sp
    from official.nlp.tools import tokenization

    model, path = setup
    ref_examples = squad_lib_sp.read_squad_examples(path, False, version_2_with_negative=False)
    ref_features = []
    squad_lib_sp.convert_examples_to_features(
        ref_examples, tokenization.FullSentencePieceTokenizer(model), SEQ, STRIDE, QUERY, False,
        lambda f, is_padding=False: None if is_padding else ref_features.append(f), do_lower_case=True, batch_size=1)
    rng = np.random.default_rng(seed)
    Result = collections.namedtuple("Result", ["unique_id", "start_logits", "end_logits"])
    results = [Result(f.unique_id, rng.normal(size=SEQ).tolist(), rng.normal(size=SEQ).tolist())
               for f in ref_features]
    ref_predictions, ref_nbest, _ = squad_lib_sp.postprocess_output(
        ref_examples, ref_features, results, n_best_size=5, max_answer_length=8, do_lower_case=True)

    feature_set = _feature_set(path, model)
    ours, nbest = postprocess_v1(feature_set, {r.unique_id: (r.start_logits, r.end_logits) for r in results},
                                 n_best_size=5, max_answer_length=8)
    assert dict(ours) == dict(ref_predictions)
    for qid, entries in nbest.items():
        ref = ref_nbest[qid]
        assert [e["text"] for e in entries] == [e["text"] for e in ref]
        assert [e["probability"] for e in entries] == pytest.approx([e["probability"] for e in ref])
        assert [e["start_log_prob"] for e in entries] == pytest.approx([e["start_logit"] for e in ref])


def _toy():
    # One question over two windows; context "a b c d": pieces at offsets 0, 2, 4, 6.
    base = {"example_index": 0, "tokens": ["[CLS]", "▁q", "[SEP]"] + ["▁x"] * 3 + ["[SEP]"], "doc_offset": 3}
    features = [
        dict(base, unique_id=1, tok_start_to_orig_index=[0, 2, 4], tok_end_to_orig_index=[0, 2, 4],
             token_is_max_context=[1, 1, 0]),
        dict(base, unique_id=2, tok_start_to_orig_index=[4, 6], tok_end_to_orig_index=[4, 6],
             token_is_max_context=[1, 1]),
    ]
    return SquadFeatureSet(["a b c d"], [{"qas_id": "q", "context_index": 0}], features)


def _beam(starts, start_lp, ends, end_lp, cls):
    return {"start_top_index": starts, "start_top_log_probs": start_lp, "end_top_index": ends,
            "end_top_log_probs": end_lp, "cls_logits": cls}


def test_v2_combines_beams_and_takes_the_minimum_null_score():
    features = _toy()
    results = {
        # start 1 is in the question (dropped); start 3 -> ends 4 (ok: "a b") or 3 ("a").
        1: _beam([1, 3], [-0.1, -0.5], [3, 4, 4, 3], [-0.1, -0.2, -0.3, -0.9], cls=2.0),
        # start 3 of window 2 ("c") -> end 4 ("c d"), end 2 (before the start: dropped).
        2: _beam([3, 4], [-0.2, -3.0], [4, 2, 4, 4], [-0.1, -0.1, -0.5, -0.5], cls=-1.0),
    }
    predictions, nbest, null_odds = postprocess_v2(features, results, n_best_size=3, max_answer_length=5,
                                                   start_n_top=2, end_n_top=2)
    assert [e["text"] for e in nbest["q"]] == ["c d", "a b", "a"]
    assert predictions["q"] == "c d"
    assert null_odds["q"] == -1.0
    scores = [e["start_log_prob"] + e["end_log_prob"] for e in nbest["q"]]
    assert scores == pytest.approx([-0.3, -0.8, -1.4])
    assert sum(e["probability"] for e in nbest["q"]) == pytest.approx(1.0)
    # A threshold at or below the null score predicts no answer.
    predictions, _, _ = postprocess_v2(features, results, 3, 5, 2, 2, null_score_diff_threshold=-1.0)
    assert predictions["q"] == ""
    predictions, _, _ = postprocess_v2(features, results, 3, 5, 2, 2, null_score_diff_threshold=0.5)
    assert predictions["q"] == "c d"


def test_v2_without_a_valid_span_falls_back_to_empty():
    results = {1: _beam([0, 1], [0.0, 0.0], [0, 0, 1, 1], [0.0] * 4, 0.5)}
    predictions, nbest, null_odds = postprocess_v2(_toy(), results, 3, 5, 2, 2)
    assert predictions["q"] == "" and nbest["q"][0]["start_log_prob"] == -1e6 and null_odds["q"] == 0.5


def test_v1_rules_and_files(tmp_path):
    features = _toy()
    start, end = np.zeros(7), np.zeros(7)
    start[5], end[5] = 3.0, 3.0  # window 1 position 5 is not max context there: window 2 must win
    start2, end2 = np.zeros(7), np.zeros(7)
    start2[3], end2[4] = 1.0, 1.0
    predictions, nbest = postprocess_v1(features, {1: (start, end), 2: (start2, end2)}, n_best_size=2)
    assert predictions["q"] == "c d"
    predictions, nbest = postprocess_v1(features, {}, n_best_size=2)
    assert predictions["q"] == "empty"
    assert best_indexes([1.0, 3.0, 3.0, 0.0], 3) == [1, 2, 0]
    paths = write_predictions(str(tmp_path), predictions, nbest, {"q": 0.5})
    assert [p.rsplit("/", 1)[1] for p in paths] == ["predictions.json", "nbest_predictions.json", "null_odds.json"]
    with open(paths[0]) as f:
        assert json.load(f) == {"q": "empty"}
