"""Two `albert-finetune` workers on 127.0.0.1 (MultiWorkerMirroredStrategy through TF_CONFIG) convert the raw
files, train, evaluate and predict: both finish, the losses and dev scores are those of one process fed the
same global batches, and only the chief writes into --output_dir."""

import csv
import glob
import json
import os
import subprocess

import numpy as np
import pytest

from tests.tools.test_finetune_cli import CONFIG, env, finetune, read_eval_results
from tests.tools.test_finetune_cli import fixtures  # noqa: F401  (a fixture nodrop builds on)
from tests.tools.test_pretrain_multiworker import free_ports

STEPS = 8


@pytest.fixture(scope="module")
def nodrop(fixtures, tmp_path_factory):  # noqa: F811  (the imported fixture)
    # No dropout: each worker draws masks for its half batch, which one process cannot reproduce.
    path = tmp_path_factory.mktemp("nodrop") / "albert_config_nodrop.json"
    path.write_text(json.dumps(dict(CONFIG, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)))
    return dict(fixtures, config=str(path))


def command(files, output_dir, strategy):
    args = finetune(files, output_dir, "--do_train", "--do_eval", "--do_predict", f"--train_step={STEPS}",
                    "--save_checkpoints_steps=4", "--log_every_steps=2", "--classifier_dropout=0")
    return [a for a in args if not a.startswith("--strategy=")] + [f"--strategy={strategy}"]


def losses(output_dir):
    with open(os.path.join(output_dir, "train_metrics.csv"), newline="") as f:
        return {int(row["step"]): float(row["loss"]) for row in csv.DictReader(f)}


def final_weights(output_dir):
    import keras

    import albert_tf  # noqa: F401  (registers the classes)

    return keras.saving.load_model(os.path.join(output_dir, "model.keras"), compile=False).get_weights()


def test_two_workers_finetune_like_one_process_and_only_the_chief_writes(nodrop, tmp_path):
    one = tmp_path / "one"
    done = subprocess.run(command(nodrop, one, "one_device"), env=env(), cwd=nodrop["root"], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    two, temp_dir = tmp_path / "two", tmp_path / "tmp"
    temp_dir.mkdir()
    ports = free_ports(2)
    processes, logs = [], []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        # Output to files: a worker blocked on a full pipe would stall the other in its next all-reduce.
        log = open(tmp_path / f"worker{index}.log", "w+")
        logs.append(log)
        processes.append(subprocess.Popen(
            command(nodrop, two, "multi_worker"), cwd=nodrop["root"], stdout=log, stderr=subprocess.STDOUT,
            text=True, env=dict(env(), TF_CONFIG=json.dumps(tf_config), TMPDIR=str(temp_dir))))
    for process, log in zip(processes, logs):
        process.wait(timeout=600)
        log.seek(0)
        out = log.read()
        assert process.returncode == 0, out[-4000:]
        assert "albert-finetune sst-2 finished" in out

    results = json.loads((two / "results.json").read_text())
    assert results["replicas"] == 2 and results["train_steps"] == STEPS
    one_loss, two_loss = losses(one), losses(two)
    assert sorted(one_loss) == sorted(two_loss) == [4, 8]
    for step in one_loss:
        assert abs(one_loss[step] - two_loss[step]) <= 1e-5, (step, one_loss, two_loss)
    for a, b in zip(final_weights(one), final_weights(two)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    one_scores, two_scores = read_eval_results(one), read_eval_results(two)
    assert one_scores.keys() == two_scores.keys()
    for key in one_scores:
        assert abs(one_scores[key] - two_scores[key]) <= 1e-5, (key, one_scores, two_scores)
    np.testing.assert_allclose(np.loadtxt(two / "test_results.tsv"), np.loadtxt(one / "test_results.tsv"), atol=1e-6)

    # Only the chief wrote into --output_dir (one event file, the best checkpoint once); the other
    # worker's temporary directory is gone, and no worker left a conversion folder in the records cache.
    assert len(glob.glob(str(two / "tensorboard" / "train" / "events.out.tfevents.*"))) == 1
    assert sorted(os.listdir(two / "best")) == sorted(os.listdir(one / "best"))
    assert not glob.glob(str(temp_dir / "albert_tf-*"))
    assert not glob.glob(str(two / "records" / ".converting-*"))
