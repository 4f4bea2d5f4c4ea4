"""The transfer acceptance tool on tiny GLUE-like data and a tiny model: end to end (probes and few-label
fine-tuning, both initialisations), resumed without redoing finished units, its interval math against
hand-worked values, and bad flags as one-line errors (the real runs: docs/transfer.md)."""

import json
import random

import pytest

from tests.data_prep.finetuning_fixtures import tsv, write, write_glue
from tests.data_prep.generated_text import make_sentence, make_words, train_tiny_model
from tests.tools.shared_runs import build_once
from tools import acceptance_transfer as tool

CONFIG = {"vocab_size": 300, "embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 2,
          "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 64}


def write_inputs(root):
    """GLUE folders with enough rows for 5-fold probes (a word marks the positive class), a SentencePiece model,
    a config and a "pretrained" backbone (random weights saved as .keras: the tool cannot tell)."""
    glue = write_glue(str(root / "glue"))
    rng = random.Random(3)
    words = make_words(rng, 60)

    def sentence(label):
        return make_sentence(rng, words, 2, 10) + (" good" if label else "")

    for split, count in (("train", 40), ("dev", 16)):
        labels = [i % 2 for i in range(count)]
        write(f"{glue}/SST-2/{split}.tsv", tsv([["sentence", "label"]] + [[sentence(y), y] for y in labels]))
        write(f"{glue}/CoLA/{split}.tsv", tsv([["src", y, "", sentence(y)] for y in labels]))
        write(f"{glue}/MRPC/{split}.tsv", tsv([["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]]
                                             + [[y, i, i, sentence(y), sentence(0)] for i, y in enumerate(labels)]),
              bom=True)
        header = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2",
                  "score"]
        write(f"{glue}/STS-B/{split}.tsv", tsv([header] + [[i, "g", "f", "2012", i, "s", "s", sentence(y), sentence(0),
                                                            f"{(i % 6) * 1.0:.1f}"] for i, y in enumerate(labels)]))
    (root / "albert_config.json").write_text(json.dumps(CONFIG))
    train_tiny_model(root)
    import keras

    from albert_tf import AlbertBackbone, AlbertConfig

    keras.utils.set_random_seed(7)
    AlbertBackbone(AlbertConfig(**CONFIG)).save(str(root / "model.keras"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = build_once(tmp_path_factory, "transfer_inputs", write_inputs)
    return ["--glue_dir", str(root / "glue"), "--albert_config_file", str(root / "albert_config.json"),
            "--spm_model_file", str(root / "tiny.model"), "--pretrained", str(root / "model.keras"),
            "--max_seq_length", "32"]


def test_end_to_end_then_resumed_without_redoing_a_unit(inputs, tmp_path, capsys):
    flags = inputs + ["--work_dir", str(tmp_path / "work"), "--docs_dir", str(tmp_path / "docs"),
                      "--tasks", "SST-2", "--few_label_tasks", "SST-2", "--sizes", "10", "--seeds", "1,2",
                      "--steps", "3", "--batch_size", "4", "--layers", "0"]
    first = tool.main(flags)
    # 2 inits x 3 features, then 1 size x 2 seeds x 2 inits.
    assert first["computed"] == 6 + 4
    units = json.loads((tmp_path / "work" / "results.json").read_text())["units"]
    assert len(units) == 10
    probe = next(u for k, u in units.items() if k.startswith("probe|SST-2|random|mean"))
    assert probe["train_examples"] == 40 and 0 <= probe["value"] <= 1 and "C" in probe["regularisation"]
    assert probe["interval"][0] <= probe["value"] <= probe["interval"][1]
    assert {u["feature"] for u in units.values() if "feature" in u} == {"pooled", "mean", "layer0"}
    runs = [u for k, u in units.items() if k.startswith("few|")]
    assert sorted((u["init"], u["seed"]) for u in runs) == [("pretrained", 1), ("pretrained", 2), ("random", 1),
                                                             ("random", 2)]
    # The subset is drawn by the seed and stratified: 5 of each class.
    subset = (tmp_path / "work" / "subsets" / "SST-2-n10-seed1" / "train.tsv").read_text().splitlines()
    assert subset[0] == "sentence\tlabel" and sorted(r[-1] for r in subset[1:]) == ["0"] * 5 + ["1"] * 5
    summary = json.loads((tmp_path / "docs" / "transfer.json").read_text())
    row = summary["few_labels"][0]
    assert row["n"] == 10 and len(row["random"]["values"]) == 2 and row["random"]["interval"] is not None
    assert (tmp_path / "docs" / "transfer.png").stat().st_size > 0
    md = (tmp_path / "docs" / "transfer.md").read_text()
    assert "| SST-2 | 10 | 0.0001 | 3 | eval_accuracy |" in md and "Target (" in md and "--sizes 10" in md
    assert "[10/10" in capsys.readouterr().out
    # Heavy run files are gone; the small reports stay.
    run_dir = next((tmp_path / "work" / "runs").iterdir())
    assert (run_dir / "eval_results.txt").exists() and not any(p.is_dir() for p in run_dir.iterdir())

    # An interrupted run: one finished unit lost. The rerun redoes exactly that one (from the cached features).
    stored = json.loads((tmp_path / "work" / "results.json").read_text())
    lost = next(k for k in stored["units"] if k.startswith("probe|SST-2|pretrained") and "|mean|" in k)
    kept = {k: v for k, v in stored["units"].items() if k != lost}
    del stored["units"][lost]
    (tmp_path / "work" / "results.json").write_text(json.dumps(stored))
    again = tool.main(flags)
    assert again["computed"] == 1
    after = json.loads((tmp_path / "work" / "results.json").read_text())["units"]
    assert {k: after[k] for k in kept} == kept and lost in after
    out = capsys.readouterr().out
    assert "(cached)" in out and "encoded" not in out  # the features came from the work folder too


def test_encoding_in_length_sorted_batches_matches_one_padded_call():
    import numpy as np

    from albert_tf import AlbertBackbone, AlbertConfig

    backbone = AlbertBackbone(AlbertConfig(**CONFIG))
    rng = np.random.default_rng(0)
    lengths = np.array([5, 12, 3, 9, 12, 7])
    mask = (np.arange(12)[None, :] < lengths[:, None]).astype("int64")
    features = {"input_ids": rng.integers(5, 300, (6, 12)) * mask, "input_mask": mask,
                "segment_ids": (np.arange(12)[None, :] >= 2) * mask}
    encoded = tool.encode(backbone, features, [0, 2], batch_size=4)
    out = backbone({k: v.astype("int32") for k, v in features.items()})
    weights = mask[..., None].astype("float32")
    for name, tensor in (("mean", out["sequence_output"]), ("layer0", out["embedding_output"]),
                         ("layer2", out["encoder_outputs"][1])):
        expected = (np.asarray(tensor) * weights).sum(1) / weights.sum(1)
        np.testing.assert_allclose(encoded[name], expected, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(encoded["pooled"], np.asarray(out["pooled_output"]), atol=1e-5)


def test_regression_probe_is_ridge_scored_with_pearson_and_spearman():
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6))
    y = x @ np.array([1.0, -2.0, 0.5, 0, 0, 0]) + 0.3 * rng.normal(size=120)
    found = tool.fit_probe("sts-b", x[:80], y[:80], x[80:], y[80:])
    assert found["metric"] == "pearson" and "alpha" in found["regularisation"]
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    reference = make_pipeline(StandardScaler(), Ridge(alpha=found["regularisation"]["alpha"])).fit(x[:80], y[:80])
    predicted = reference.predict(x[80:])
    assert found["scores"]["pearson"] == pytest.approx(stats.pearsonr(predicted, y[80:])[0], abs=1e-9)
    assert found["scores"]["spearman"] == pytest.approx(stats.spearmanr(predicted, y[80:])[0], abs=1e-9)
    assert found["scores"]["pearson"] > 0.9


def test_seed_interval_is_the_hand_worked_t_interval():
    # values 0.70, 0.74, 0.78, 0.72, 0.76: mean 0.74, sd 0.031623, sem 0.014142; t(0.975, 4) = 2.7764:
    # half-width 0.039265.
    mean, (low, high) = tool.seed_interval([0.70, 0.74, 0.78, 0.72, 0.76])
    assert mean == pytest.approx(0.74) and low == pytest.approx(0.700735, abs=1e-5)
    assert high == pytest.approx(0.779265, abs=1e-5)
    assert tool.above(0.78, (low, high)) and not tool.above(0.779, (low, high)) and not tool.above(1.0, None)
    assert tool.interval_over_seeds([0.5, 0.5]) == (0.5, (0.5, 0.5))


def test_bootstrap_interval_of_a_proportion_is_near_the_normal_one():
    import numpy as np

    from albert_tf import metrics

    labels = np.ones(400, int)
    predictions = np.r_[np.ones(300, int), np.zeros(100, int)]  # accuracy 0.75, sd sqrt(.75 * .25 / 400) = 0.02165
    low, high = tool.bootstrap_interval(metrics.accuracy, predictions, labels, rounds=2000)
    assert low == pytest.approx(0.75 - 1.96 * 0.02165, abs=0.01) and high == pytest.approx(0.75 + 1.96 * 0.02165, abs=0.01)
    assert tool.bootstrap_interval(metrics.accuracy, labels, labels, rounds=50) == (1.0, 1.0)


def test_tables_give_each_lr_and_each_inits_best_lr(inputs):
    args = tool.parse_flags(inputs + ["--probe_only", "--learning_rate", "1e-4,3e-4"])
    entry = lambda mean: {"mean": mean, "interval": (mean - 0.01, mean + 0.01), "values": [mean] * 2}  # noqa: E731
    rows = [{"task": "SST-2", "n": 100, "lr": lr, "steps": 100, "metric": "eval_accuracy", "pretrained": entry(p),
             "random": entry(r)} for lr, p, r in ((1e-4, 0.70, 0.60), (3e-4, 0.65, 0.66))]
    target = {"few_label_sst2_sizes_above": [100], "few_label_sst2_sizes_compared": [100], "probe_tasks_above": [],
              "probe_tasks_compared": [], "met": False}
    lines = tool.tables(args, {"probes": [], "few_labels": rows, "target": target})
    assert "| SST-2 | 100 | 0.0001 | 100 | eval_accuracy | 0.7000 [0.6900, 0.7100] | 0.6000 [0.5900, 0.6100] | 2/2 | yes |" \
        in "\n".join(lines)
    assert "| SST-2 | 100 | 0.7000 [0.6900, 0.7100] (0.0001) | 0.6600 [0.6500, 0.6700] (0.0003) |" in lines


def test_steps_follow_epochs_with_a_floor_or_the_fixed_count(inputs):
    args = tool.parse_flags(inputs + ["--probe_only"])  # the default sizes, beyond the tiny files
    assert [tool.few_label_steps(n, args) for n in (100, 300, 1000, 3000)] == [100, 100, 313, 938]
    args = tool.parse_flags(inputs + ["--probe_only", "--steps", "50"])
    assert tool.few_label_steps(3000, args) == 50


@pytest.mark.parametrize("flags,message", [
    (["--sizes", "100,x"], "--sizes: expected a comma-separated list of ints, got '100,x'"),
    (["--seeds", "1,1"], "--seeds: each seed once"),
    (["--tasks", "SST-2,QNLI"], "--tasks: 'QNLI' is not one of SST-2, MRPC, RTE, CoLA, STS-B"),
    (["--learning_rate", "1e-4,-1"], "--learning_rate: every value must be positive"),
    (["--inits", "random,warm"], "--inits: 'warm' is not one of pretrained, random"),
    (["--probe_only", "--few_label_only"], "not allowed with argument"),
    (["--pretrained", "/nonexistent/model.keras"], "--pretrained /nonexistent/model.keras: no such file"),
    (["--glue_dir", "/nonexistent"], "--glue_dir /nonexistent: no SST-2/train.tsv"),
    (["--sizes", "10,300"], "--sizes 300: SST-2/train.tsv has only 40 examples"),
])
def test_bad_flags_are_one_line_errors(inputs, flags, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        tool.parse_flags(inputs + flags)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and message in err and "Traceback" not in err


def test_another_setup_in_the_same_work_dir_is_refused(tmp_path):
    tool.Results(str(tmp_path / "results.json"), {"max_seq_length": 32}).put("probe|x", {"value": 1})
    with pytest.raises(SystemExit, match="holds results of another setup"):
        tool.Results(str(tmp_path / "results.json"), {"max_seq_length": 64})
