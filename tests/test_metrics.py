"""albert_tf.metrics against independent references: tf-models-official's copies of the official SQuAD
evaluation scripts, scikit-learn, SciPy, and hand-computed seqeval cases."""

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as sk

from albert_tf import metrics

SQUAD_V1 = {
    "version": "1.1",
    "data": [
        {
            "title": "T",
            "paragraphs": [
                {
                    "context": "unused",
                    "qas": [
                        {"id": "a", "answers": [{"text": "the Eiffel Tower"}, {"text": "Eiffel Tower, Paris"}]},
                        {"id": "b", "answers": [{"text": "1889"}]},
                        {"id": "c", "answers": [{"text": "Gustave Eiffel's company"}]},
                        {"id": "d", "answers": [{"text": "iron"}, {"text": "wrought iron"}]},
                        {"id": "e", "answers": [{"text": "Champ de Mars"}]},
                    ],
                }
            ],
        },
        {"title": "U", "paragraphs": [{"context": "x", "qas": [{"id": "f", "answers": [{"text": "An apple!"}]}]}]},
    ],
}
PREDICTIONS_V1 = {
    "a": "Eiffel tower",
    "b": "in 1889",
    "c": "the company of Gustave Eiffel",
    "d": "Wrought-iron lattice",
    "f": "apple",
}  # "e" is unanswered: the official script counts it as 0.


@pytest.mark.tf_models_official
def test_squad_v1_matches_the_official_script():
    from official.nlp.tools import squad_evaluate_v1_1 as official

    ours = metrics.squad_v1_scores(SQUAD_V1, PREDICTIONS_V1)
    theirs = official.evaluate(SQUAD_V1["data"], PREDICTIONS_V1)
    assert sorted(ours) == ["exact_match", "f1"]
    np.testing.assert_allclose(ours["exact_match"], 100 * theirs["exact_match"], rtol=1e-12)
    np.testing.assert_allclose(ours["f1"], 100 * theirs["final_f1"], rtol=1e-12)
    assert 0 < ours["exact_match"] < ours["f1"] < 100
    # The `data` list works as well as the whole file.
    assert metrics.squad_v1_scores(SQUAD_V1["data"], PREDICTIONS_V1) == ours
    gold = {qa["id"]: qa["answers"][0]["text"] for a in SQUAD_V1["data"] for p in a["paragraphs"] for qa in p["qas"]}
    assert metrics.squad_v1_scores(SQUAD_V1, gold) == {"exact_match": 100.0, "f1": 100.0}


def squad_v2_case(seed):
    rng = np.random.default_rng(seed)
    golds = ["red", "the big dog", "42 km", "Marie Curie", "north", "blue whale", "Paris, France", "x-ray"]
    wrong = ["green", "a small dog", "42", "Pierre Curie", "", "whale", "France", "ray"]
    qas, predictions, na_probs = [], {}, {}
    for i in range(24):
        qid = f"q{i}"
        answerable = rng.random() < 0.6
        gold = golds[i % len(golds)]
        qas.append({"id": qid, "answers": [{"text": gold}] if answerable else [], "is_impossible": not answerable})
        choice = rng.random()
        predictions[qid] = gold if choice < 0.4 else ("" if choice < 0.6 else wrong[i % len(wrong)])
        na_probs[qid] = float(np.round(rng.normal(), 1))  # rounded: ties exercise the threshold search
    return {"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]}, predictions, na_probs


@pytest.mark.tf_models_official
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("with_probs", [True, False])
def test_squad_v2_matches_the_official_script(seed, with_probs):
    from official.nlp.tools import squad_evaluate_v2_0 as official

    dataset, predictions, na_probs = squad_v2_case(seed)
    na_probs = na_probs if with_probs else None
    ours = metrics.squad_v2_scores(dataset, predictions, na_probs)
    theirs = dict(official.evaluate(dataset["data"], predictions, na_probs))
    renamed = {key.replace("final_", "best_"): value for key, value in theirs.items() if not key.startswith("pr_")}
    expected_keys = ["exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_exact", "NoAns_f1",
                     "NoAns_total", "best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"]
    assert sorted(ours) == sorted(expected_keys) == sorted(renamed)
    for key in expected_keys:
        np.testing.assert_allclose(ours[key], renamed[key], rtol=1e-12, err_msg=key)


def test_squad_v2_threshold_counts_confident_no_answers_as_empty():
    dataset = {"data": [{"paragraphs": [{"qas": [{"id": "a", "answers": []}, {"id": "b", "answers": [{"text": "yes"}]}]}]}]}
    predictions = {"a": "something", "b": "yes"}
    assert metrics.squad_v2_scores(dataset, predictions)["exact"] == 50.0
    scores = metrics.squad_v2_scores(dataset, predictions, {"a": 2.0, "b": -1.0})
    assert scores["exact"] == 100.0 and scores["NoAns_exact"] == 100.0 and scores["HasAns_total"] == 1
    with pytest.raises(ValueError, match="prediction"):
        metrics.squad_v2_scores(dataset, {})


def glue_case(seed, regression=False):
    rng = np.random.default_rng(seed)
    n = 40
    weights = (rng.random(n) < 0.8).astype(int)
    if regression:
        labels = np.round(rng.uniform(0, 5, n), 1)
        return labels + rng.normal(0, 1, n), labels, weights
    labels = rng.integers(0, 2, n)
    return np.where(rng.random(n) < 0.7, labels, 1 - labels), labels, weights


@pytest.mark.parametrize("seed", [0, 1])
def test_classification_metrics_match_scikit_learn_with_is_real_example_weights(seed):
    predictions, labels, weights = glue_case(seed)
    np.testing.assert_allclose(metrics.accuracy(predictions, labels, weights), sk.accuracy_score(labels, predictions, sample_weight=weights))
    np.testing.assert_allclose(metrics.f1(predictions, labels, weights), sk.f1_score(labels, predictions, sample_weight=weights))
    np.testing.assert_allclose(
        metrics.matthews_corr(predictions, labels, weights), sk.matthews_corrcoef(labels, predictions, sample_weight=weights)
    )
    real = weights == 1
    # The weight-0 examples (TPU padding in the original) change nothing.
    assert metrics.accuracy(predictions, labels, weights) == metrics.accuracy(predictions[real], labels[real])
    scores = metrics.glue_scores("MRPC", predictions, labels, weights)
    assert sorted(scores) == ["eval_accuracy", "f1"]
    assert sorted(metrics.glue_scores("cola", predictions, labels, weights)) == ["eval_accuracy", "matthew_corr"]
    assert sorted(metrics.glue_scores("sst-2", predictions, labels)) == ["eval_accuracy"]


def test_matthews_is_zero_when_undefined():
    assert metrics.matthews_corr([1, 1, 1], [1, 1, 1]) == 0.0
    assert metrics.f1([0, 0], [0, 0]) == 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_regression_metrics_match_scipy(seed):
    predictions, labels, weights = glue_case(seed, regression=True)
    real = weights == 1
    scores = metrics.glue_scores("sts-b", predictions, labels, weights)
    assert sorted(scores) == ["MSE", "pearson", "spearman"]
    np.testing.assert_allclose(scores["pearson"], stats.pearsonr(predictions[real], labels[real])[0], rtol=1e-10)
    np.testing.assert_allclose(scores["spearman"], stats.spearmanr(predictions[real], labels[real])[0], rtol=1e-10)
    np.testing.assert_allclose(scores["MSE"], np.mean((predictions[real] - labels[real]) ** 2), rtol=1e-10)


def test_race_accuracy_overall_and_per_level():
    predictions = [0, 1, 2, 3, 0, 1]
    labels = [0, 1, 0, 3, 1, 1]
    levels = ["middle", "middle", "middle", "high", "high", "HIGH"]
    scores = metrics.race_scores(predictions, labels, levels, weights=[1, 1, 1, 1, 1, 0])
    assert scores["eval_accuracy"] == pytest.approx(3 / 5)
    assert scores["middle_accuracy"] == pytest.approx(2 / 3) and scores["middle_total"] == 3
    assert scores["high_accuracy"] == pytest.approx(1 / 2) and scores["high_total"] == 2
    with pytest.raises(ValueError, match="middle"):
        metrics.race_scores([0], [0], ["college"])


def test_token_tagging_entity_f1_ignores_unlabelled_positions():
    label_list = ["O", "B-PER", "I-PER", "B-LOC"]
    gold = np.array([[-100, 1, 2, 0, 3, -100], [-100, 3, 0, -100, -100, -100]])
    predicted = np.array([[2, 1, 2, 0, 0, 3], [0, 3, 0, 1, 1, 1]])
    true_tags, pred_tags = metrics.tags_from_ids(gold, predicted, label_list)
    assert true_tags == [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "O"]]
    assert pred_tags == [["B-PER", "I-PER", "O", "O"], ["B-LOC", "O"]]
    scores = metrics.token_tagging_scores(true_tags, pred_tags)
    # Entities: gold {PER, LOC, LOC}, predicted {PER, LOC}, both predicted ones right.
    assert scores["precision"] == 1.0
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(0.8)
    assert scores["accuracy"] == pytest.approx(5 / 6)


def test_best_checkpoint_keys_follow_the_original():
    assert metrics.best_checkpoint_key("STS-B") == "pearson"
    assert metrics.best_checkpoint_key("cola") == "matthew_corr"
    assert {metrics.best_checkpoint_key(t) for t in ("sst-2", "mnli", "qqp", "rte", "race")} == {"eval_accuracy"}
    assert metrics.best_checkpoint_key("squad_v1") == metrics.best_checkpoint_key("squad_v2") == "f1"
    with pytest.raises(ValueError, match="Unknown task"):
        metrics.best_checkpoint_key("imdb")
    assert metrics.task_scores("race", predictions=[1], labels=[1], levels=["high"])["high_accuracy"] == 1.0


def test_importing_metrics_does_not_import_tensorflow():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = "import sys, albert_tf.metrics; print(sorted(k for k in ('tensorflow', 'keras') if k in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=dict(os.environ, PYTHONPATH=root))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
