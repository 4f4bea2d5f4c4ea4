"""`albert-pretrain` end to end: generated text -> records (albert-create-pretraining-data) -> training,
a SIGTERM at a named step, and a resume that ends where an uninterrupted run ends (the SIGKILL
cases are in `test_resume_after_kill`)."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.data_prep.generated_text import random_documents, train_tiny_model, write_documents
from tests.tools.shared_runs import build_once

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_records(directory):
    from tools import create_pretraining_data

    spm_model = train_tiny_model(directory)
    corpus = write_documents(directory / "corpus.txt", random_documents(3, 60))
    code = create_pretraining_data.main([
        f"--input_file={corpus}", f"--output_file={directory}/train-{{shard}}.tfrecord", f"--spm_model_file={spm_model}",
        "--max_seq_length=32", "--max_predictions_per_seq=5", "--dupe_factor=2", "--num_output_shards=2",
        "--num_workers=1", "--progress=false",
    ])
    assert code == 0
    config = {"vocab_size": 300, "embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 2,
              "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 64,
              "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
    (directory / "albert_config.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Tiny pretraining records, their SentencePiece model and a config, shared by every module of the session."""
    return build_once(tmp_path_factory, "pretrain_cli_records", write_records)


def command(records, output_dir, *extra):
    return [
        sys.executable, "-m", "tools.pretrain",
        f"--albert_config_file={records}/albert_config.json", f"--input_file={records}/train-*.tfrecord",
        f"--output_dir={output_dir}", "--train_batch_size=8", "--max_seq_length=32", "--max_predictions_per_seq=5",
        "--num_train_steps=24", "--num_warmup_steps=2", "--save_checkpoints_steps=4", "--iterations_per_loop=1",
        "--strategy=one_device", "--precision=fp32", "--verbose=0", *extra,
    ]


def env():
    return dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")


def final_weights(output_dir):
    import keras

    import albert_tf  # noqa: F401  (registers the classes the file names)

    model = keras.saving.load_model(os.path.join(output_dir, "model.keras"))
    return [w.numpy() for w in model.weights]


def straight_command(records, output_dir):
    """The uninterrupted run that interrupted ones are compared with: 12 batches in executions of 2, a
    checkpoint every 4, evaluation and the SavedModel export at the end."""
    args = command(records, output_dir, "--do_eval", "--max_eval_steps=2")
    replace = {"--num_train_steps=24": "--num_train_steps=12", "--iterations_per_loop=1": "--iterations_per_loop=2"}
    return [replace.get(a, a) for a in args]


@pytest.fixture(scope="module")
def straight_pretrain(records, tmp_path_factory):
    """`(output_dir, stdout)` of the uninterrupted run, made once per session."""
    def build(folder):
        done = subprocess.run(straight_command(records, folder / "run"), env=env(), cwd=ROOT, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        (folder / "stdout.txt").write_text(done.stdout)

    folder = build_once(tmp_path_factory, "pretrain_straight", build)
    return folder / "run", (folder / "stdout.txt").read_text()


def wait_for_checkpoint(process, output_dir, name, timeout=300):
    # The manager's state file is written after the checkpoint's own files: wait for it to name `name`.
    deadline = time.time() + timeout
    state = output_dir / "checkpoints" / "checkpoint"
    while time.time() < deadline and process.poll() is None:
        if state.exists() and f'"{name}"' in state.read_text():
            return True
        time.sleep(0.05)
    return False


def test_sigterm_saves_at_the_current_step_and_the_resumed_run_ends_as_an_uninterrupted_one(records, straight_pretrain,
                                                                                           tmp_path):
    straight, stdout = straight_pretrain
    assert "albert-pretrain finished" in stdout
    stopped = tmp_path / "stopped"
    # The preemption arrives at step 6, inside the second checkpoint interval (a hook, not a sleep).
    done = subprocess.run(straight_command(records, stopped), env=dict(env(), ALBERT_TF_TEST_KILL_AT="after_step:6:SIGTERM"),
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    err = done.stderr
    assert done.returncode == 143, err[-3000:]
    assert "Traceback" not in err and "finished" not in done.stdout
    message = [line for line in err.splitlines() if line.startswith("albert-pretrain: stopped by a signal")]
    assert message, err[-3000:]
    batch = json.loads((stopped / "results.json").read_text())["preempted"]["batch"]
    assert batch in (6, 8) and f"ckpt-{batch}" in message[0]  # this execution's end, or the next one's
    assert (stopped / "checkpoints" / f"ckpt-{batch}.index").exists()
    assert not (stopped / "model.keras").exists()

    # The export does not change the weights compared here: the resumed run skips it.
    done = subprocess.run(straight_command(records, stopped) + ["--export_dir=none"], env=env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = json.loads((stopped / "results.json").read_text())
    assert resumed["resumed_from"].endswith(f"ckpt-{batch}") and resumed["train_batches"] == 12
    for a, b in zip(final_weights(straight), final_weights(stopped)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    rows = (stopped / "train_metrics.csv").read_text().splitlines()
    steps = [int(row.split(",")[0]) for row in rows[1:]]
    assert rows[0].startswith("step,") and steps == sorted(set(steps)) and steps[-1] == 12 and batch in steps


def test_cli_reports_a_bad_config_file(records, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    args = command(records, tmp_path / "out")
    args[3] = f"--albert_config_file={bad}"
    done = subprocess.run(args, env=env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "bad.json is not valid JSON" in done.stderr
