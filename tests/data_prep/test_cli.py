"""albert-create-pretraining-data's command line: the original flags, absl-style booleans, errors."""

import glob
import json

import pytest

from tests.data_prep.generated_text import random_documents, write_documents
from tools import create_pretraining_data as cli


def test_original_flags_and_defaults():
    args = cli.build_parser().parse_args(["--input_file=a", "--output_file=b"])
    assert (args.max_seq_length, args.max_predictions_per_seq, args.masked_lm_prob, args.dupe_factor,
            args.short_seq_prob, args.ngram, args.random_seed) == (512, 20, 0.15, 40, 0.1, 3, 12345)
    assert args.do_lower_case and args.do_whole_word_mask and args.favor_shorter_ngram
    assert not args.random_next_sentence and not args.do_permutation
    assert args.num_workers is None and args.runner is None
    # absl spellings of booleans
    args = cli.build_parser().parse_args(
        ["--input_file=a", "--output_file=b", "--do_lower_case=false", "--nodo_whole_word_mask",
         "--random_next_sentence", "--favor_shorter_ngram=False"])
    assert not args.do_lower_case and not args.do_whole_word_mask and args.random_next_sentence
    assert not args.favor_shorter_ngram


def test_help_explains_the_seed_fix(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "NumPy" in out and "never seeded" in out and "--num_workers" in out and "{shard}" in out


def test_main_end_to_end(spm_model, tmp_path, capsys):
    corpus = write_documents(tmp_path / "c.txt", random_documents(9, 40))
    code = cli.main([
        f"--input_file={corpus}", f"--output_file={tmp_path}/o-{{shard}}.tfrecord", f"--spm_model_file={spm_model}",
        "--max_seq_length=48", "--max_predictions_per_seq=7", "--dupe_factor=2", "--num_output_shards=2",
        "--num_workers=2", "--block_tokens=500", "--progress=false",
    ])
    assert code == 0
    assert len(glob.glob(str(tmp_path / "o-*.tfrecord"))) == 2
    summary = json.loads((tmp_path / "o.summary.json").read_text())
    assert summary["flags"]["max_seq_length"] == 48 and summary["num_workers"] == 2
    assert "instances" in capsys.readouterr().out


def test_errors_are_one_line_with_exit_code_2(spm_model, tmp_path, capsys):
    code = cli.main([f"--input_file={tmp_path}/none-*.txt", f"--output_file={tmp_path}/x.tfrecord",
                     f"--spm_model_file={spm_model}"])
    assert code == 2
    assert "no file matches" in capsys.readouterr().err
    corpus = write_documents(tmp_path / "c.txt", random_documents(9, 5))
    assert cli.main([f"--input_file={corpus}", f"--output_file={tmp_path}/x.tfrecord"]) == 2
    assert "--spm_model_file is required" in capsys.readouterr().err
    assert cli.main([f"--input_file={corpus}", f"--output_file={tmp_path}/x.tfrecord",
                     f"--spm_model_file={tmp_path}/missing.model"]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--input_file=a", "--output_file=b", "--bogus=1"])
