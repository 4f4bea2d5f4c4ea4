"""`run_finetuning` on tiny records: train/eval/predict outputs, best checkpoint, init, resume checks, buckets."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from albert_tf import AlbertPretrainer
from albert_tf.data.schemas import FLOAT, INT64, Field
from albert_tf.tasks import get_task, tagging_task
from albert_tf.training.finetuning import FinetuningOptions, record_fields, run_finetuning
from data_prep.tfexample import ExampleEncoder
from tests.conftest import tiny_config

SEQ = 32


def write_records(path, task, n, seed=0, training=True):
    """Learnable records: the label is whether token 7 occurs in the (variable-length) sequence."""
    rng = np.random.default_rng(seed)
    choices = task.num_choices if task.family == "multiple_choice" else None
    shape = (n, SEQ) if choices is None else (n, choices, SEQ)
    lengths = rng.integers(4, SEQ + 1, shape[:-1])
    mask = (np.arange(SEQ) < lengths[..., None]).astype("int64")
    ids = rng.integers(8, 300, shape) * mask
    hot = rng.integers(0, 2, shape[:-1]).astype(bool)
    ids[..., 1] = np.where(hot, 7, ids[..., 1])
    ids[..., 0] = 2
    if task.family == "tagging":
        ids[..., 3] = np.where(hot, 7, ids[..., 3])
    features = {"input_ids": ids, "input_mask": mask, "segment_ids": np.zeros_like(ids)}
    if task.family == "classification":
        features["label_ids"] = hot.astype("int64")
    elif task.family == "regression":
        features["label_ids"] = hot * 4.0 + rng.uniform(0, 1, n)
    elif task.family == "multiple_choice":
        hot[:] = False
        answer = rng.integers(0, choices, n)
        hot[np.arange(n), answer] = True
        # The answer is marked at the first position, which the pooled output reads directly.
        ids[..., 0] = np.where(hot, 7, 2)
        features["label_ids"] = answer
    elif task.family == "tagging":
        features["label_ids"] = ((ids == 7) * 1) * mask
    if task.family != "tagging":
        features["is_real_example"] = np.ones(n, "int64")
    if choices:
        features = {k: v.reshape(n, -1) if v.ndim == 3 else v for k, v in features.items()}
    records = ExampleEncoder(record_fields(task, SEQ, training)).encode(features)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return str(path)


def options(output_dir, **overrides):
    values = dict(output_dir=str(output_dir), train_step=12, warmup_step=2, train_batch_size=8, eval_batch_size=8,
                  predict_batch_size=8, max_seq_length=SEQ, save_checkpoints_steps=6, learning_rate=1e-3,
                  strategy="one_device", precision="fp32", verbose=0, smallest_bucket=8, export=False)
    values.update(overrides)
    return FinetuningOptions(**values)


def read_eval_results(output_dir):
    lines = open(os.path.join(output_dir, "eval_results.txt")).read().splitlines()
    return {key: float(value) for key, value in (line.split(" = ") for line in lines)}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("ft_records")
    out = {}
    for name in ("sst-2", "sts-b", "race"):
        task = get_task(name)
        out[name] = {split: write_records(root / f"{name}_{split}.tf_record", task, n, seed)
                     for split, n, seed in (("train", 48, 0), ("dev", 21, 1), ("test", 13, 2))}
    return out


def test_classification_train_eval_predict(records, tmp_path):
    config = tiny_config()
    result = run_finetuning("sst-2", config, options(tmp_path), [records["sst-2"]["train"]], [records["sst-2"]["dev"]],
                            [records["sst-2"]["test"]], do_train=True, do_eval=True, do_predict=True)
    scores = read_eval_results(tmp_path)
    assert {"eval_accuracy", "eval_loss", "global_step"} <= set(scores)
    assert 0.0 <= scores["eval_accuracy"] <= 1.0
    history = json.load(open(tmp_path / "eval_history.json"))
    assert [h["global_step"] for h in history] == [6, 12]
    best = max(history, key=lambda h: (h["eval_accuracy"], -h["global_step"]))
    assert scores["global_step"] == best["global_step"] == result.best_step
    assert tf.train.latest_checkpoint(str(tmp_path / "best")).endswith(f"model.ckpt-best-{best['global_step']}")
    probabilities = [list(map(float, l.split("\t"))) for l in open(tmp_path / "test_results.tsv").read().splitlines()]
    assert len(probabilities) == 13 and all(abs(sum(p) - 1) < 1e-5 and len(p) == 2 for p in probabilities)
    submit = open(tmp_path / "submit_results.tsv").read().splitlines()
    assert submit[0] == "index\tprediction" and len(submit) == 14
    assert [l.split("\t")[0] for l in submit[1:]] == [str(i) for i in range(13)]
    assert all(l.split("\t")[1] in ("0", "1") for l in submit[1:])
    loaded = keras.saving.load_model(str(tmp_path / "model.keras"))
    assert type(loaded).__name__ == "AlbertClassifier"
    assert open(tmp_path / "best_trial.txt").read().startswith(f"12:{best['global_step']}:")


def test_regression_scores_and_values(records, tmp_path):
    run_finetuning("sts-b", tiny_config(), options(tmp_path, train_step=6), [records["sts-b"]["train"]],
                   [records["sts-b"]["dev"]], [records["sts-b"]["test"]], do_train=True, do_eval=True, do_predict=True)
    scores = read_eval_results(tmp_path)
    assert {"pearson", "spearman", "MSE", "eval_loss"} <= set(scores)
    values = open(tmp_path / "submit_results.tsv").read().splitlines()[1:]
    assert len(values) == 13 and all(np.isfinite(float(v.split("\t")[1])) for v in values)


def test_multiple_choice_learns(records, tmp_path):
    run_finetuning("race", tiny_config(), options(tmp_path, train_step=40, save_checkpoints_steps=20, learning_rate=3e-3),
                   [records["race"]["train"]], [records["race"]["dev"]], do_train=True, do_eval=True)
    assert read_eval_results(tmp_path)["eval_accuracy"] > 0.5  # chance is 0.25


def test_tagging_task_type(tmp_path):
    task = tagging_task("toy-tags", ["O", "B-X"])
    train = write_records(tmp_path / "train.tf_record", task, 32)
    dev = write_records(tmp_path / "dev.tf_record", task, 9, seed=1)
    result = run_finetuning(task, tiny_config(), options(tmp_path / "run", train_step=6), [train], [dev],
                            do_train=True, do_eval=True)
    assert {"eval_f1", "eval_accuracy", "eval_precision", "eval_recall"} <= set(result.eval)


def test_bucketed_eval_equals_fixed_padding(records, tmp_path):
    keras.utils.set_random_seed(1)
    source = get_task("sst-2").build_model(AlbertPretrainer(tiny_config()).backbone)
    source.save(str(tmp_path / "init.keras"))
    scores = {}
    for bucket in (True, False):
        result = run_finetuning("sst-2", tiny_config(), options(tmp_path / str(bucket), bucket_by_length=bucket,
                                init_checkpoint=str(tmp_path / "init.keras")), eval_files=[records["sst-2"]["dev"]],
                                do_eval=True)
        scores[bucket] = result.eval
    for key in ("eval_accuracy", "eval_loss"):
        assert abs(scores[True][key] - scores[False][key]) <= 1e-5, key


@pytest.mark.parametrize("kind", ["keras", "checkpoint", "huggingface"])
def test_init_loads_pretrained_backbone_weights_only(records, tmp_path, kind):
    keras.utils.set_random_seed(7)
    pretrainer = AlbertPretrainer(tiny_config())
    if kind == "keras":
        path = str(tmp_path / "pretrained.keras")
        pretrainer.save(path)
    elif kind == "checkpoint":
        from albert_tf.training.runner import TrainingCheckpoint

        # What albert-pretrain writes: weights, optimizer state and step (only the weights may be used).
        optimizer = keras.optimizers.Adam()
        optimizer.build(pretrainer.trainable_variables)
        saved = TrainingCheckpoint(pretrainer, optimizer, str(tmp_path / "ckpt"), str(tmp_path / "ckpt"), max_to_keep=1)
        saved.step.assign(30)
        path = saved.save()
    else:
        from albert_tf.checkpoints import save_huggingface

        path = str(tmp_path / "hf")
        save_huggingface(pretrainer, path)
    result = run_finetuning("sst-2", tiny_config(), options(tmp_path / "run", init_checkpoint=path),
                            eval_files=[records["sst-2"]["dev"]], do_eval=True)
    assert "backbone" in result.results["initialised_from"]
    for ours, theirs in zip(result.model.backbone.weights, pretrainer.backbone.weights):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6, err_msg=ours.path)
    assert int(result.model.optimizer.iterations.numpy()) == 0


def test_init_with_another_shape_names_the_keys(records, tmp_path):
    path = str(tmp_path / "other.keras")
    AlbertPretrainer(tiny_config(hidden_size=48, num_attention_heads=4)).save(path)
    with pytest.raises(ValueError, match="hidden_size"):
        run_finetuning("sst-2", tiny_config(), options(tmp_path / "run", init_checkpoint=path),
                       eval_files=[records["sst-2"]["dev"]], do_eval=True)


def test_resume_refuses_another_config_and_says_when_done(records, tmp_path):
    train = [records["sst-2"]["train"]]
    run_finetuning("sst-2", tiny_config(), options(tmp_path, train_step=6), train, do_train=True)
    with pytest.raises(ValueError, match="num_hidden_layers|config"):
        run_finetuning("sst-2", tiny_config(num_hidden_layers=3), options(tmp_path, train_step=6), train, do_train=True)
    again = run_finetuning("sst-2", tiny_config(), options(tmp_path, train_step=6), train, do_train=True)
    assert "already" in again.results["train_note"]


def test_records_of_another_length_name_the_file(records, tmp_path):
    with pytest.raises(ValueError, match="sst-2_dev.tf_record.*max_seq_length 64"):
        run_finetuning("sst-2", tiny_config(), options(tmp_path, max_seq_length=64), eval_files=[records["sst-2"]["dev"]],
                       do_eval=True)


def test_defaults_come_from_the_task():
    resolved = FinetuningOptions(output_dir="x").resolved(get_task("mrpc"))
    assert (resolved.learning_rate, resolved.train_step, resolved.warmup_step, resolved.train_batch_size,
            resolved.max_seq_length, resolved.eval_batch_size, resolved.optimizer) == (2e-5, 800, 200, 32, 512, 8, "adamw")
    assert FinetuningOptions(output_dir="x", learning_rate=1e-4).resolved(get_task("rte")).learning_rate == 1e-4
    assert Field("label_ids", FLOAT, 1) in record_fields(get_task("sts-b"), 8, True)
    assert Field("label_ids", INT64, 1) in record_fields(get_task("cola"), 8, True)
