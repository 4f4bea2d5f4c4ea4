"""A command stopped by SIGTERM or SIGINT exits 143 or 130 (what a scheduler reads as "retry"), says
where it stopped, never says "finished", and leaves no partial output; a training run's `results.json`
says `preempted`. The signal comes from a hook inside the process or right after a checkpoint appears."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.tools.test_finetune_cli import ROOT, env, finetune
from tests.tools.test_finetune_cli import fixtures  # noqa: F401  (the module's fixture)
from tests.tools.test_pretrain_cli import command as pretrain_command
from tests.tools.test_pretrain_cli import records  # noqa: F401  (the module's fixture)
from tests.tools.test_pretrain_cli import wait_for_checkpoint

EXIT = {signal.SIGTERM: 143, signal.SIGINT: 130}


def stop_after_first_checkpoint(args, output_dir, sig):
    process = subprocess.Popen(args, env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for_checkpoint(process, output_dir, "ckpt-4"), "no first checkpoint"
    process.send_signal(sig)
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


# SIGINT's 130 is checked on albert-pretrain below: both stop through the same engine.
@pytest.mark.parametrize("sig", [signal.SIGTERM], ids=["SIGTERM"])
def test_finetune_stopped_by_a_signal_exits_for_a_retry(fixtures, tmp_path, sig):  # noqa: F811
    out = tmp_path / "out"
    args = finetune(fixtures, out, "--do_train", "--do_eval", "--train_step=400", "--save_checkpoints_steps=4",
                    f"--cached_dir={tmp_path / 'records'}")
    code, stdout, stderr = stop_after_first_checkpoint(args, out, sig)
    name = signal.Signals(sig).name
    assert code == EXIT[sig], stderr[-3000:]
    assert "finished" not in stdout and "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("albert-finetune: stopped by a signal at step") and f"signal {name}" in line]
    assert lines and "run the same command again" in lines[0], stderr[-3000:]
    stop = json.loads((out / "results.json").read_text())["preempted"]
    assert stop["signal"] == name and stop["exit_code"] == EXIT[sig] and 4 <= stop["step"] < 400
    assert f"ckpt-{stop['step']}" in lines[0] and (out / "checkpoints" / f"ckpt-{stop['step']}.index").exists()
    assert not (out / "model.keras").exists()


def test_pretrain_stopped_by_sigint_exits_130(records, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    args = pretrain_command(records, out)
    args[args.index("--num_train_steps=24")] = "--num_train_steps=400"
    code, stdout, stderr = stop_after_first_checkpoint(args, out, signal.SIGINT)
    assert code == 130, stderr[-3000:]
    assert "finished" not in stdout and "Traceback" not in stderr
    assert "albert-pretrain: stopped by a signal at batch" in stderr and "signal SIGINT:" in stderr
    stop = json.loads((out / "results.json").read_text())["preempted"]
    assert stop["signal"] == "SIGINT" and stop["exit_code"] == 130


# A hook in the process: the signal arrives while the third record is written.
SIGNAL_WHILE_WRITING = textwrap.dedent("""
    import os, signal, sys
    from data_prep import tfrecord
    from tools import {module}

    # SIGINT as a terminal gives it: a shell that starts jobs in the background (nohup ... &, CI
    # runners) hands them SIGINT ignored, and Python then keeps ignoring it.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    write, seen = tfrecord.TFRecordWriter.write, []

    def write_then_signal(self, record):
        write(self, record)
        seen.append(record)
        if len(seen) == 3:
            os.kill(os.getpid(), signal.{signal})

    tfrecord.TFRecordWriter.write = write_then_signal
    sys.exit({module}.main(sys.argv[1:]))
""")


def data_prep_args(kind, fixtures, output):  # noqa: F811
    if kind == "create_finetuning_data":
        return ["--task=sst-2", f"--data_dir={fixtures['sst']}", "--split=train", f"--output_file={output}",
                f"--spm_model_file={fixtures['spm']}", "--max_seq_length=32", "--num_workers=1", "--progress=false"]
    corpus = output.parent.parent / "corpus.txt"
    corpus.write_text("".join(f"Sentence number {i} of document {i // 10} is here.\n" + ("\n" if i % 10 == 9 else "")
                              for i in range(200)))
    return [f"--input_file={corpus}", f"--output_file={output}", f"--spm_model_file={fixtures['spm']}",
            "--max_seq_length=32", "--max_predictions_per_seq=5", "--dupe_factor=2", "--num_workers=1",
            "--progress=false"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("kind", ["create_finetuning_data", "create_pretraining_data"])
def test_data_prep_stopped_by_a_signal_leaves_no_partial_output(fixtures, tmp_path, kind, sig):  # noqa: F811
    output = tmp_path / "out" / "records.tfrecord"
    code = SIGNAL_WHILE_WRITING.format(module=kind, signal=signal.Signals(sig).name)
    done = subprocess.run([sys.executable, "-c", code, *data_prep_args(kind, fixtures, output)], env=env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == EXIT[sig], done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    prog = "albert-" + kind.replace("_", "-")
    assert f"{prog}: stopped by SIGTERM" in done.stderr or f"{prog}: interrupted" in done.stderr, done.stderr[-3000:]
    left = sorted(os.listdir(output.parent)) if output.parent.exists() else []
    assert not [name for name in left if "tfrecord" in name], f"partial output left: {left}"


def test_cli_entry_point_turns_sigterm_into_143_and_restores_the_handler(capsys):
    from tools.flags import cli_entry_point

    @cli_entry_point("albert-example")
    def main(argv=None):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        return 0

    before = signal.getsignal(signal.SIGTERM)
    assert main([]) == 143
    assert "albert-example: stopped by SIGTERM" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before


def test_every_long_running_cli_states_its_exit_statuses():
    import importlib

    for module in ("pretrain", "finetune", "demo", "create_pretraining_data", "create_finetuning_data", "convert",
                   "export"):
        text = importlib.import_module(f"tools.{module}").build_parser().format_help()
        assert "130 stopped by SIGINT" in text and "143 stopped by SIGTERM" in text, module


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_demo_stage_stopped_by_a_signal_exits_for_a_retry(tmp_path, monkeypatch, capsys, sig):
    from albert_tf.data import checks
    from albert_tf.training import pretraining
    from tools import demo, demo_pipeline

    stop = {"batch": 50, "checkpoint": "pretrain/checkpoints/ckpt-50", "signal": sig, "exit_code": EXIT[getattr(signal, sig)]}
    monkeypatch.setattr(pretraining, "run_pretraining", lambda *a, **k: (None, {"preempted": stop}))
    monkeypatch.setattr(checks, "check_pretraining_files", lambda *a, **k: {})
    monkeypatch.setattr(demo_pipeline.Demo, "_pretraining_dataset_fn", lambda self, pattern, is_training, seed: ([], None))
    with pytest.raises(SystemExit) as stopped:
        demo.main(["--work_dir", str(tmp_path), "--stages", "pretrain"])
    assert stopped.value.code == stop["exit_code"]
    captured = capsys.readouterr()
    assert "albert-demo: stage pretrain: stopped by a signal at batch 50;" in captured.err and f"signal {sig}:" in captured.err
    assert "finished" not in captured.out and not (tmp_path / "stages" / "pretrain.json").exists()
