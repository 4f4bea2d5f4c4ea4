"""The Beam pipeline (DirectRunner) writes the same shards as the multi-process runner."""

import glob
import os

import pytest

beam = pytest.importorskip(
    "apache_beam", reason="apache_beam is not installed (pip install 'albert_tf[beam]' to run the Beam tests)"
)

from data_prep.pretraining import PretrainingDataConfig, PretrainingDataError, create_pretraining_data  # noqa: E402
from data_prep.pretraining_beam import run_beam  # noqa: E402
from tests.data_prep.generated_text import random_documents, write_documents  # noqa: E402


def config(spm_model, corpus, output, **overrides):
    values = dict(input_file=corpus, output_file=output, spm_model_file=spm_model, max_seq_length=48,
                  max_predictions_per_seq=7, dupe_factor=2, num_output_shards=3, block_tokens=1500,
                  num_workers=1, progress=False)
    values.update(overrides)
    return PretrainingDataConfig(**values)


def shard_bytes(directory):
    return [open(f, "rb").read() for f in sorted(glob.glob(os.path.join(directory, "*.tfrecord")))]


def test_direct_runner_matches_the_multiprocess_runner(spm_model, tmp_path):
    corpus = write_documents(tmp_path / "corpus.txt", random_documents(21, 80))
    local = create_pretraining_data(config(spm_model, corpus, str(tmp_path / "mp" / "s-{shard}.tfrecord")))
    summary = run_beam(config(spm_model, corpus, str(tmp_path / "beam" / "s-{shard}.tfrecord")),
                       ["--runner", "DirectRunner"])
    expected = shard_bytes(tmp_path / "mp")
    assert len(expected) == 3 and shard_bytes(tmp_path / "beam") == expected
    assert summary["totals"]["instances"] == local["totals"]["instances"]
    assert summary["runner"] == "beam" and summary["complete"]
    assert sorted(os.listdir(tmp_path / "beam")) == ["s-00000.tfrecord", "s-00001.tfrecord", "s-00002.tfrecord",
                                                     "s.summary.json"]
    # A re-run skips complete shards and redoes a missing one, identically.
    os.remove(tmp_path / "beam" / "s-00001.tfrecord")
    kept = os.path.getmtime(tmp_path / "beam" / "s-00000.tfrecord")
    again = run_beam(config(spm_model, corpus, str(tmp_path / "beam" / "s-{shard}.tfrecord")),
                     ["--runner", "DirectRunner"])
    statuses = [again["shards"][str(tmp_path / "beam" / f"s-0000{i}.tfrecord")]["status"] for i in range(3)]
    assert statuses == ["skipped", "written", "skipped"]
    assert os.path.getmtime(tmp_path / "beam" / "s-00000.tfrecord") == kept
    assert shard_bytes(tmp_path / "beam") == expected


def test_direct_runner_reports_an_empty_corpus(spm_model, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(Exception, match="has no text"):
        run_beam(config(spm_model, str(empty), str(tmp_path / "x.tfrecord"), num_output_shards=None),
                 ["--runner", "DirectRunner"])
    assert not os.path.exists(tmp_path / "x.tfrecord")
    with pytest.raises(PretrainingDataError, match="no file matches"):
        run_beam(config(spm_model, str(tmp_path / "nothing-*.txt"), str(tmp_path / "x.tfrecord")), [])


def test_direct_runner_reads_other_input_encodings(spm_model, tmp_path):
    documents = random_documents(22, 40)
    for document in documents:
        document.append("Le café était fermé à midi, dit l’élève – “déjà”.")
    text = "\n\n".join("\n".join(document) for document in documents) + "\n"
    (tmp_path / "utf8.txt").write_text(text, encoding="utf-8")
    (tmp_path / "cp1252.txt").write_bytes(text.encode("cp1252"))
    create_pretraining_data(config(spm_model, str(tmp_path / "utf8.txt"), str(tmp_path / "mp" / "s-{shard}.tfrecord")))
    run_beam(config(spm_model, str(tmp_path / "cp1252.txt"), str(tmp_path / "beam" / "s-{shard}.tfrecord"),
                    input_encoding="cp1252"), ["--runner", "DirectRunner"])
    assert shard_bytes(tmp_path / "beam") == shard_bytes(tmp_path / "mp")
    with pytest.raises(PretrainingDataError, match="albert-prepare-corpus --input_encoding utf-16"):
        run_beam(config(spm_model, str(tmp_path / "utf8.txt"), str(tmp_path / "x.tfrecord"), input_encoding="utf-16"),
                 ["--runner", "DirectRunner"])


def test_direct_runner_resumes_and_refuses_foreign_shards_as_the_multiprocess_runner(spm_model, tmp_path):
    corpus = write_documents(tmp_path / "corpus.txt", random_documents(23, 60))
    output = str(tmp_path / "beam" / "s-{shard}.tfrecord")
    first = run_beam(config(spm_model, corpus, output), ["--runner", "DirectRunner"])
    os.remove(tmp_path / "beam" / "s-00002.tfrecord")
    again = run_beam(config(spm_model, corpus, output), ["--runner", "DirectRunner"])
    assert [entry["status"] for entry in again["shards"].values()] == ["skipped", "skipped", "written"]
    assert again["totals_cover_all_shards"] and again["totals"] == first["totals"]
    # A shard written with other settings stops the job on the driver, before any work.
    with pytest.raises(PretrainingDataError, match="exists from a run with other settings"):
        run_beam(config(spm_model, corpus, output, random_seed=99), ["--runner", "DirectRunner"])
    assert not os.path.exists(tmp_path / "beam" / ".albert_pretraining_work")
