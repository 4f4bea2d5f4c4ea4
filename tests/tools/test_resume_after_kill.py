"""A run SIGKILLed at each dangerous moment and run again ends with the outputs of a run never killed.

The kills are deterministic: `ALBERT_TF_TEST_KILL_AT=<point>:<step>` makes the engine SIGKILL itself at
a named point (`albert_tf.training.interruption.kill_point`). One output folder is killed at every point
in turn, each rerun resuming the previous kill (so each kill is followed by a rerun), and the last rerun
finishes; every output is then compared with an uninterrupted run's (<= 1e-6 on floats). These cases
hold the assertions of the earlier single-kill tests of `test_finetune_cli` and `test_pretrain_cli`.
"""

import csv
import json
import os
import signal
import subprocess

import numpy as np

from tests.tools.test_finetune_cli import STRAIGHT, ROOT, env, finetune
from tests.tools.test_finetune_cli import fixtures, straight_finetune  # noqa: F401  (fixtures)
from tests.tools.test_pretrain_cli import records, straight_command, straight_pretrain  # noqa: F401  (fixtures)


def launch(args, kill_at=None):
    environment = env()
    environment.pop("ALBERT_TF_TEST_KILL_AT", None)
    if kill_at:
        environment["ALBERT_TF_TEST_KILL_AT"] = kill_at
    done = subprocess.run(args, env=environment, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if kill_at:
        assert done.returncode == -signal.SIGKILL, f"not killed at {kill_at}: rc {done.returncode}\n{done.stderr[-3000:]}"
    else:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def assert_close(a, b, where):
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), where
        for key in a:
            assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert abs(float(a) - float(b)) <= 1e-6, f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def numbers(text):
    """A text file's fields, floats where they parse (`key = value` lines, CSV, TSV)."""
    def field(value):
        try:
            return float(value)
        except ValueError:
            return value

    return [[field(v) for v in row] for row in csv.reader(text.replace(" = ", ",").splitlines(),
                                                             delimiter="\t" if "\t" in text else ",")]


def assert_same_files(straight, resumed, names):
    for name in names:
        a, b = (straight / name), (resumed / name)
        assert b.exists(), f"{name} is missing after the kills"
        if name.endswith(".json"):
            assert_close(json.loads(a.read_text()), json.loads(b.read_text()), name)
        else:
            assert_close(numbers(a.read_text()), numbers(b.read_text()), name)


def keras_weights(path):
    import keras

    import albert_tf  # noqa: F401  (registers the classes the file names)

    return [w.numpy() for w in keras.saving.load_model(str(path), compile=False).weights]


def saved_model_variables(export_dir):
    """The SavedModel's numeric variables, in an order of their own (the export numbers the captured
    variables in an order that differs between processes)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(export_dir / "variables" / "variables"))
    arrays = [np.asarray(reader.get_tensor(name)) for name in reader.get_variable_to_shape_map()]
    arrays = [a for a in arrays if np.issubdtype(a.dtype, np.number)]
    return sorted(arrays, key=lambda a: (a.shape, a.dtype.str, np.round(a.astype(np.float64).ravel()[:8], 4).tolist()))


def assert_same_model(straight, resumed):
    for a, b in zip(keras_weights(straight / "model.keras"), keras_weights(resumed / "model.keras")):
        np.testing.assert_allclose(a, b, atol=1e-6)
    ours, theirs = saved_model_variables(straight / "saved_model"), saved_model_variables(resumed / "saved_model")
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=1e-6)
    leftovers = [n for n in os.listdir(resumed) if ".tmp" in n or ".partial" in n]
    assert not leftovers, f"temporary files left in {resumed}: {leftovers}"


def kill_in_turn(command, killed, points, check=lambda point: None):
    """Runs `command(killed)` killed at each of `points` in turn (each run resuming the previous), then
    once more to the end; returns the last run."""
    for point in points:
        launch(command(killed), kill_at=point)
        if point.startswith("during_export"):
            assert not (killed / "model.keras").exists(), "a half-written model.keras must not look finished"
        check(point)
    return launch(command(killed))


# ------------------------------------------------------------------------------------------ fine-tuning
FINETUNE_KILLS = ("after_step:6", "after_checkpoint:8", "during_evaluation:12", "during_export")


def test_finetune_killed_at_every_point_ends_like_an_uninterrupted_run(fixtures, straight_finetune, tmp_path):  # noqa: F811
    def command(output_dir):
        return finetune(fixtures, output_dir, *STRAIGHT)

    straight, _ = straight_finetune
    killed = tmp_path / "killed"

    def check(point):
        if point.startswith("after_checkpoint"):
            # Saved but never evaluated: exactly the moment the resumed run forgot.
            history = json.loads((killed / "eval_history.json").read_text())
            assert [e["global_step"] for e in history] == [4] and (killed / "checkpoints" / "ckpt-8.index").exists()

    done = kill_in_turn(command, killed, FINETUNE_KILLS, check)
    assert "albert-finetune sst-2 finished" in done.stdout

    history = json.loads((killed / "eval_history.json").read_text())
    assert [e["global_step"] for e in history] == [4, 8, 12]
    resumed = json.loads((killed / "results.json").read_text())
    assert "resumed_from" in resumed and resumed["train_steps"] == 12
    assert_same_files(straight, killed, ["eval_history.json", "train_metrics.csv", "eval_results.txt",
                                         "best_trial.txt", "test_results.tsv", "submit_results.tsv"])
    assert sorted(os.listdir(straight / "best")) == sorted(os.listdir(killed / "best"))
    assert_same_model(straight, killed)


# ------------------------------------------------------------------------------------------ pretraining
PRETRAIN_KILLS = ("after_step:6", "after_checkpoint:8", "during_export", "during_evaluation:12")


def test_pretrain_killed_at_every_point_ends_like_an_uninterrupted_run(records, straight_pretrain, tmp_path):  # noqa: F811
    def command(output_dir):
        return straight_command(records, output_dir)

    straight, _ = straight_pretrain
    killed = tmp_path / "killed"
    done = kill_in_turn(command, killed, PRETRAIN_KILLS)
    assert "albert-pretrain finished" in done.stdout
    results = json.loads((straight / "results.json").read_text())
    assert results["train_batches"] == 12 and "masked_lm_accuracy" in results["eval"]
    resumed = json.loads((killed / "results.json").read_text())
    assert "resumed_from" in resumed and resumed["train_batches"] == 12

    assert_same_files(straight, killed, ["train_metrics.csv", "eval_results.txt"])
    steps = [row[0] for row in numbers((killed / "train_metrics.csv").read_text())[1:]]
    assert steps == [4.0, 8.0, 12.0]
    assert_same_model(straight, killed)


def test_kill_point_matches_its_step_range_only(monkeypatch):
    from albert_tf.training import interruption

    killed = []
    monkeypatch.setattr(interruption.os, "kill", lambda pid, sig: killed.append(sig))
    monkeypatch.setenv(interruption.KILL_AT_ENV, "after_step:6")
    interruption.kill_point("after_step", 4, span=2)
    interruption.kill_point("after_checkpoint", 6)
    assert killed == []
    interruption.kill_point("after_step", 6, span=2)
    interruption.kill_point("after_step", 8, span=4)  # an execution of 4 steps passes step 6
    assert killed == [signal.SIGKILL, signal.SIGKILL]
    monkeypatch.setenv(interruption.KILL_AT_ENV, "after_step:6:SIGTERM")  # a preemption at a named step
    interruption.kill_point("after_step", 6)
    assert killed[2:] == [signal.SIGTERM]
    monkeypatch.delenv(interruption.KILL_AT_ENV)
    interruption.kill_point("after_step", 6)
    assert len(killed) == 3
