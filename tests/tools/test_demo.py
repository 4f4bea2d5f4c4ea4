"""albert-demo on a user corpus: the data stages run, write their summary, and are skipped when complete."""

import doctest
import json
import os

import pytest

from tests.data_prep.generated_text import random_documents
from tools import demo, demo_pipeline


def write_corpus(directory):
    directory.mkdir()
    for seed, name in ((1, "first"), (2, "second")):
        sentences = [s for d in random_documents(seed, 12, sentences=(8, 12), words=(6, 14)) for s in d]
        (directory / f"{name}.txt").write_text("\n".join(sentences) + "\n")
    return directory


def test_data_stages_then_skipped(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "text")
    work = tmp_path / "work"
    argv = ["--work_dir", str(work), "--corpus", str(corpus), "--corpus_format", "lines", "--vocab_size", "150",
            "--dupe_factor", "1", "--stages", "corpus,vocab,records"]
    assert demo.main(argv) == 0
    first = (work / "summary.txt").read_text()
    for stage in ("corpus", "vocab", "records"):
        assert f"{stage:<10}done" in first
    assert "classes 2" in first and "train instances" in first
    assert os.path.exists(work / "vocab" / "spm.model")
    assert "$ albert-create-pretraining-data" in capsys.readouterr().out  # the equivalent command is shown

    assert demo.main(argv) == 0
    second = (work / "summary.txt").read_text()
    for stage in ("corpus", "vocab", "records"):
        assert f"{stage:<10}skipped" in second

    # A changed setting redoes the stages it affects, and only those.
    assert demo.main(argv[:-3] + ["2", "--stages", "corpus,vocab,records"]) == 0
    third = (work / "summary.txt").read_text()
    assert "corpus    skipped" in third and "vocab     skipped" in third and "records   done" in third


def test_unknown_stage_is_an_error(tmp_path):
    try:
        demo.main(["--work_dir", str(tmp_path), "--stages", "corpus,deploy"])
    except SystemExit as exit:
        assert "deploy" in str(exit.code)
    else:
        raise AssertionError("an unknown stage was accepted")


def test_pipeline_docstring_examples():
    assert doctest.testmod(demo_pipeline).failed == 0


def test_a_failing_stage_stops_the_demo_naming_it(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "text")
    argv = ["--work_dir", str(tmp_path / "work"), "--corpus", str(corpus), "--corpus_format", "lines",
            "--vocab_size", "100000", "--stages", "corpus,vocab,records"]
    with pytest.raises(SystemExit) as stopped:
        demo.main(argv)
    assert str(stopped.value.code).startswith("albert-demo: error: stage vocab: "), stopped.value.code
    assert "\n" not in str(stopped.value.code)
    assert "[records]" not in capsys.readouterr().out  # nothing after the failed stage ran
    assert not os.path.exists(tmp_path / "work" / "stages" / "vocab.json")


def test_every_stage_end_to_end_at_toy_size(tmp_path, capsys):
    """Pretrain, fine-tune both ways, export and serve in a fresh TensorFlow-only process."""
    from albert_tf.tasks import task_names

    registered = task_names()
    corpus = write_corpus(tmp_path / "text")
    work = tmp_path / "work"
    argv = ["--work_dir", str(work), "--corpus", str(corpus), "--corpus_format", "lines", "--vocab_size", "150",
            "--dupe_factor", "1", "--max_seq_length", "32", "--max_predictions_per_seq", "4",
            "--train_batch_size", "8", "--num_train_steps", "2", "--save_checkpoints_steps", "1",
            "--finetune_epochs", "1", "--few_label_sizes", "2", "--few_label_seeds", "1", "--few_label_steps", "2"]
    assert demo.main(argv) == 0
    assert task_names() == registered  # the demo's own task never enters the global registry
    summary = (work / "summary.txt").read_text()
    for stage in ("pretrain", "finetune", "export", "serve"):
        assert f"{stage:<10}done" in summary, summary
    assert "unigram baseline" in summary and "random init accuracy" in summary
    assert "fresh process, imports: tensorflow, tensorflow_text" in summary
    # The few-label comparison: 2 sentences per class (one seed), then every labelled sentence.
    transfer = json.loads((work / "summary.json").read_text())["transfer"]
    assert [row["labels_per_class"] for row in transfer][0] == 2 and len(transfer) == 2
    assert transfer[1]["labels_per_class"] > 2 and [row["seeds"] for row in transfer] == [1, 1]
    for row in transfer:
        assert 0.0 <= row["pretrained"] <= 1.0 and 0.0 <= row["random_init"] <= 1.0
    assert "transfer: held-out accuracy after fine-tuning on N labelled sentences per class" in summary
    assert (work / "finetune" / "transfer.png").stat().st_size > 0  # the curve (matplotlib is a test extra)
    import tensorflow as tf

    drawn = work / "finetune" / "few_labels" / "2_per_class_seed_1" / "records" / "train.tfrecord"
    assert sum(1 for _ in tf.data.TFRecordDataset(str(drawn))) == 4
    out = capsys.readouterr().out
    assert "fill-mask" in out and "classify" in out
    assert os.path.isdir(work / "export" / "classifier") and os.path.isdir(work / "export" / "fill-mask")
