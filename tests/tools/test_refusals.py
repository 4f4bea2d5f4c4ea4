"""Nonsense refused before work (issue 17, item 3): flags against each other, the config and the data,
each as one line naming both values; the checks that need no TensorFlow run in a process that cannot
import it (so they come first, and fast)."""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.data_prep.generated_text import train_tiny_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = {"vocab_size": 300, "embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 1,
          "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 64}
LONG = "a sentence with words"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("refusals")
    spm = train_tiny_model(root)  # 300 pieces
    for name, vocab_size in (("config", 300), ("small", 290), ("padded", 320)):
        (root / f"{name}.json").write_text(json.dumps(dict(CONFIG, vocab_size=vocab_size)))
    sts = root / "STS-B"
    sts.mkdir()
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    rows = "".join(f"{i}\tg\tf\t2012\t{i}\ts\ts\t{LONG}\t{LONG}\t{i % 5}.0\n" for i in range(6))
    for split in ("train", "dev"):
        (sts / f"{split}.tsv").write_text(header + rows)
    blocker = root / "blocker"
    for module in ("tensorflow", "keras"):
        (blocker / module).mkdir(parents=True)
        (blocker / module / "__init__.py").write_text(f"raise ImportError('this process was not to import {module}')\n")
    return {"root": root, "spm": spm, "sts": str(sts), "blocker": str(blocker)}


def run_without_tensorflow(files, module, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([files["blocker"], ROOT]), TF_CPP_MIN_LOG_LEVEL="3")
    started = time.time()
    done = subprocess.run([sys.executable, "-m", module, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    return done, time.time() - started


def finetune(files, tmp_path, *extra, config="config"):
    return ["--task=sts-b", "--do_train", f"--data_dir={files['sts']}", f"--spm_model_file={files['spm']}",
            f"--albert_config_file={files['root']}/{config}.json", f"--output_dir={tmp_path}/out",
            "--max_seq_length=32", *extra]


def assert_one_line(done, *fragments):
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def test_an_unknown_task_is_refused_before_tensorflow_and_fast(files, tmp_path):
    done, seconds = run_without_tensorflow(files, "tools.finetune", *finetune(files, tmp_path), "--task=nope")
    assert_one_line(done, "--task 'nope' is unknown")
    # Python's own start-up and albert_tf's task registry; TensorFlow alone takes 10 s and more.
    assert seconds < 5, seconds


@pytest.mark.parametrize("task,length,minimum", [("sts-b", 3, 5), ("sst-2", 2, 3)])
def test_a_max_seq_length_without_room_for_text_names_the_minimum(files, tmp_path, task, length, minimum):
    done, _ = run_without_tensorflow(files, "tools.finetune", *finetune(files, tmp_path), f"--task={task}",
                                     f"--max_seq_length={length}")
    assert_one_line(done, f"--max_seq_length {length} leaves no room for text", f">= {minimum}")
    assert not os.path.exists(tmp_path / "out" / "records"), "refused after converting records"


def test_create_finetuning_data_names_the_minimum_too(files, tmp_path):
    done, _ = run_without_tensorflow(files, "tools.create_finetuning_data", "--task=sts-b", f"--data_dir={files['sts']}",
                                     f"--spm_model_file={files['spm']}", f"--output_file={tmp_path}/o.tfrecord",
                                     "--max_seq_length=4")
    assert_one_line(done, "--max_seq_length=4 leaves no room for text", "[CLS] a [SEP] b [SEP]", ">= 5")


def test_a_sequence_longer_than_the_position_table_names_both(files, tmp_path):
    done, _ = run_without_tensorflow(files, "tools.finetune", *finetune(files, tmp_path), "--max_seq_length=128")
    assert_one_line(done, "--max_seq_length 128", "max_position_embeddings 64", "config.json")


def test_a_config_vocabulary_smaller_than_the_spm_model_is_always_an_error(files, tmp_path):
    for extra in ([], ["--allow_vocab_mismatch"]):
        done, _ = run_without_tensorflow(files, "tools.finetune", *finetune(files, tmp_path, *extra, config="small"))
        assert_one_line(done, "vocab_size 290 in --albert_config_file", "small.json", "300 pieces",
                        files["spm"], "past the embedding table")


def test_a_larger_config_vocabulary_needs_allow_vocab_mismatch(files, tmp_path):
    done, _ = run_without_tensorflow(files, "tools.finetune", *finetune(files, tmp_path, config="padded"))
    assert_one_line(done, "vocab_size 320", "padded.json", "300 pieces", "--allow_vocab_mismatch")
    from tools.finetune import build_parser, check_flags

    args = build_parser().parse_args(finetune(files, tmp_path, "--allow_vocab_mismatch", config="padded"))
    assert check_flags(args).name == "sts-b"


def test_pretrain_checks_the_vocabulary_before_tensorflow(files, tmp_path):
    args = [f"--albert_config_file={files['root']}/small.json", f"--input_file={tmp_path}/none-*.tfrecord",
            f"--output_dir={tmp_path}/pre", f"--spm_model_file={files['spm']}", "--max_seq_length=32"]
    done, _ = run_without_tensorflow(files, "tools.pretrain", *args)
    assert_one_line(done, "vocab_size 290", "300 pieces")
    done, _ = run_without_tensorflow(files, "tools.pretrain", *args[1:], f"--albert_config_file={files['root']}/config.json",
                                     "--max_seq_length=128")
    assert_one_line(done, "--max_seq_length 128", "max_position_embeddings 64")


def test_strict_refuses_records_that_truncate_most_examples(files, tmp_path):
    done, _ = run_without_tensorflow(files, "tools.finetune", *finetune(files, tmp_path), "--max_seq_length=8", "--strict")
    assert_one_line(done, "--max_seq_length 8 truncates 100.0% of the examples", "more than 10%")
    # Nothing half-made is left of the conversion, and the records themselves are kept for a rerun.
    assert not [name for name in os.listdir(tmp_path / "out" / "records") if name.startswith(".converting")]


def test_create_finetuning_data_warns_about_truncation_and_strict_refuses(files, tmp_path):
    args = ["--task=sts-b", f"--data_dir={files['sts']}", f"--spm_model_file={files['spm']}",
            f"--output_file={tmp_path}/o.tfrecord", "--max_seq_length=8"]
    done, _ = run_without_tensorflow(files, "tools.create_finetuning_data", *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "truncates 100.0% of the examples" in done.stderr and "--strict makes this an error" in done.stderr
    done, _ = run_without_tensorflow(files, "tools.create_finetuning_data", *args, "--strict")
    assert_one_line(done, "truncates 100.0% of the examples", f"{tmp_path}/o.tfrecord")
    done, _ = run_without_tensorflow(files, "tools.create_finetuning_data", *args[:-1], "--max_seq_length=64")
    assert done.returncode == 0 and "truncates" not in done.stderr, done.stderr[-2000:]


# --------------------------------------------------------------------------- messages that help (item 5)
def test_a_binary_glue_file_names_the_file_and_line_and_leaves_no_converting_folder(files, tmp_path):
    data = tmp_path / "STS-B"
    data.mkdir()
    good = (open(os.path.join(files["sts"], "train.tsv"), encoding="utf-8").read()).encode()
    (data / "train.tsv").write_bytes(good + b"7\tg\tf\t2012\t7\ts\ts\t\xb0\x00\x01binary\tb\t1.0\n")
    done, _ = run_without_tensorflow(files, "tools.finetune", *finetune(files, tmp_path), f"--data_dir={data}")
    line = assert_one_line(done, f"{data}/train.tsv, line 8: not UTF-8 text (byte 0xb0 at column 18)")
    assert "codec can't decode" not in line
    records = tmp_path / "out" / "records"
    assert os.path.isdir(records) and not os.listdir(records), os.listdir(records)


# --------------------------------------------------------------------------- issue 19's flags (item 6)
@pytest.mark.parametrize("extra,fragment", [
    (["--num_train_epochs=2", "--train_step=10"], "--num_train_epochs 2 and --train_step 10 both set the length"),
    (["--num_train_epochs=0"], "--num_train_epochs must be positive, got 0"),
])
def test_the_length_of_training_is_given_once_and_positive(files, tmp_path, extra, fragment):
    done, _ = run_without_tensorflow(files, "tools.finetune", *finetune(files, tmp_path), *extra)
    assert_one_line(done, fragment)


@pytest.mark.parametrize("extra,fragments", [
    (["--lora_alpha=16"], ["--lora_alpha: LoRA settings, with no --lora_rank", "e.g. --lora_rank 8"]),
    (["--lora_targets=query,key", "--lora_train_layernorm"], ["--lora_targets, --lora_train_layernorm: LoRA"]),
])
def test_lora_settings_without_a_rank_are_refused_before_tensorflow(files, tmp_path, extra, fragments):
    done, _ = run_without_tensorflow(files, "tools.finetune", *finetune(files, tmp_path), *extra)
    assert_one_line(done, *fragments)
    assert not os.path.exists(tmp_path / "out" / "records"), "refused after converting records"


def test_a_lora_rank_without_training_is_refused_before_tensorflow(files, tmp_path):
    args = [a for a in finetune(files, tmp_path) if a != "--do_train"]
    done, _ = run_without_tensorflow(files, "tools.finetune", *args, "--do_eval", "--lora_rank=4")
    assert_one_line(done, "--lora_rank 4 without --do_train", "no --lora_rank")


@pytest.mark.parametrize("extra,fragment", [
    (["--tflite", "--quantize=int8"], "--quantize int8 needs --representative_records PATTERN"),
    (["--tflite", "--quantize=bogus"], "argument --quantize: invalid choice: 'bogus'"),
    (["--tflite", "--representative_records=r*.tfrecord"], "--representative_records calibrates --quantize int8 only"),
    (["--tflite", "--quantize=int8", "--representative_records=r*.tfrecord", "--representative_examples=0"],
     "--representative_examples 0: expected at least 1"),
])
def test_export_quantization_flags_are_refused_before_tensorflow(files, tmp_path, extra, fragment):
    done, _ = run_without_tensorflow(files, "tools.export", f"--checkpoint={tmp_path}/model.keras",
                                     f"--export_dir={tmp_path}/exported", *extra)
    assert_one_line(done, fragment)
    assert not os.path.exists(tmp_path / "exported")
