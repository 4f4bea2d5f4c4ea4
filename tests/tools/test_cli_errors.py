"""Every console script turns bad input into one line on stderr and exit code 2, never a traceback."""

import json
import os
import subprocess
import sys

import pytest

from tools import create_pretraining_data, demo, prepare_corpus, pretrain, train_vocab
from tools.flags import cli_entry_point

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cli_errors")
    (directory / "bad.json").write_text("{not json")
    (directory / "text.txt").write_text("One sentence here. Another one there.\n")
    (directory / "empty").mkdir()
    config = {"vocab_size": 300, "embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 1,
              "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 64}
    (directory / "albert_config.json").write_text(json.dumps(config))
    return directory


def cases(d):
    pretrain_args = [f"--albert_config_file={d}/albert_config.json", f"--input_file={d}/missing-*.tfrecord",
                     f"--output_dir={d}/out", "--max_seq_length=32", "--max_predictions_per_seq=5"]
    return {
        "albert-train-vocab": (train_vocab.main, {
            "bad flag": ["--input=x", "--model_prefix=m", "--vocab_size=many"],
            "bad config": [f"--input={d}/text.txt", f"--model_prefix={d}/m", "--vocab_size=-5", "--quiet"],
            "missing file": [f"--input={d}/missing.txt", f"--model_prefix={d}/m", "--quiet"],
        }),
        "albert-prepare-corpus": (prepare_corpus.main, {
            "bad flag": ["--input=x", "--output=y", "--format=nope"],
            "bad config": [f"--input={d}/empty", f"--output={d}/o.txt"],
            "missing file": [f"--input={d}/missing.txt", f"--output={d}/o.txt"],
        }),
        "albert-create-pretraining-data": (create_pretraining_data.main, {
            "bad flag": ["--input_file=x", "--output_file=y", "--spm_model_file=z", "--dupe_factor=x"],
            "bad config": [f"--input_file={d}/text.txt", f"--output_file={d}/o.tfrecord",
                           f"--spm_model_file={d}/none.model", "--max_seq_length=-3"],
            "missing file": [f"--input_file={d}/missing.txt", f"--output_file={d}/o.tfrecord",
                             f"--spm_model_file={d}/none.model"],
        }),
        "albert-demo": (demo.main, {
            "bad flag": ["--batch_size=x"],
            "bad config": ["--presets=albert-nonexistent"],
            "bad value": ["--seq_length=-1"],
        }),
        "albert-pretrain": (pretrain.main, {
            "bad flag": pretrain_args + ["--strategy=nope"],
            "bad config": [f"--albert_config_file={d}/bad.json"] + pretrain_args[1:],
            "missing file": pretrain_args,
            "missing config": [f"--albert_config_file={d}/nothere.json"] + pretrain_args[1:],
            "bad batch size": pretrain_args + ["--train_batch_size=0"],
            "too long sequences": pretrain_args[:3] + ["--max_seq_length=128"],
            "negative bad-step limit": pretrain_args + ["--max_consecutive_bad_steps=-1"],
        }),
    }


ALL = [(prog, case) for prog, (_, by_case) in cases("d").items() for case in by_case]


@pytest.mark.parametrize("prog, case", ALL)
def test_bad_input_is_one_line_without_traceback(files, capsys, prog, case):
    main, by_case = cases(files)[prog]
    try:
        code = main(by_case[case])
    except SystemExit as exit_:  # argparse rejects bad flags itself, with its usage line
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if f"{prog}: error:" in line or line.startswith(f"{prog}: error")]
    assert len(lines) == 1, err


def test_multi_worker_without_tf_config_is_a_message(files, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = pretrain.main([f"--albert_config_file={files}/albert_config.json", f"--input_file={files}/x",
                          f"--output_dir={files}/out", "--max_seq_length=32", "--strategy=multi_worker"])
    err = capsys.readouterr().err
    assert code == 2 and "TF_CONFIG" in err and "Traceback" not in err


def test_bugs_keep_their_traceback_and_traceback_flag_shows_user_errors():
    @cli_entry_point("albert-example")
    def bug(argv):
        raise KeyError("a bug")

    @cli_entry_point("albert-example")
    def user_error(argv):
        assert "--traceback" not in argv
        raise ValueError("--flag is wrong")

    with pytest.raises(KeyError):
        bug([])
    with pytest.raises(ValueError, match="--flag is wrong"):
        user_error(["--traceback"])
    assert user_error([]) == 2


def test_console_script_path_prints_one_line(files):
    done = subprocess.run(
        [sys.executable, "-m", "tools.pretrain", f"--albert_config_file={files}/bad.json", "--input_file=x",
         f"--output_dir={files}/out"],
        capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=300,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "albert-pretrain: error: ALBERT config file" in done.stderr and "bad.json is not valid JSON" in done.stderr
