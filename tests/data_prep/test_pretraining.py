"""End to end: albert-create-pretraining-data's records, statistics, determinism, safety and messages."""

import glob
import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from albert_tf.data.schemas import pretraining_feature_spec
from data_prep import instances as instances_module
from data_prep import original_algorithm as original
from data_prep.pretraining import (
    PretrainingDataConfig,
    PretrainingDataError,
    create_pretraining_data,
    default_summary_path,
    resolve_output_files,
)
from tests.data_prep.generated_text import random_documents, write_documents

SEQ, PREDS = 64, 10


def run(spm_model, input_file, output_file, **overrides):
    values = dict(input_file=input_file, output_file=output_file, spm_model_file=spm_model,
                  max_seq_length=SEQ, max_predictions_per_seq=PREDS, dupe_factor=2, num_workers=1,
                  block_tokens=2000, progress=False)
    values.update(overrides)
    return create_pretraining_data(PretrainingDataConfig(**values))


def read_records(paths):
    spec = pretraining_feature_spec(SEQ, PREDS)
    dataset = tf.data.TFRecordDataset(sorted(paths)).batch(10_000).map(lambda x: tf.io.parse_example(x, spec))
    batches = list(dataset.as_numpy_iterator())
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    return write_documents(directory / "corpus.txt", random_documents(1, 120))


def test_records_have_the_original_schema_and_padding(spm_model, corpus, tmp_path, tokenizer):
    summary = run(spm_model, corpus, str(tmp_path / "out-{shard}.tfrecord"), num_output_shards=3)
    files = sorted(glob.glob(str(tmp_path / "out-*.tfrecord")))
    assert [os.path.basename(f) for f in files] == ["out-00000.tfrecord", "out-00001.tfrecord", "out-00002.tfrecord"]
    r = read_records(files)
    assert len(r["input_ids"]) == summary["totals"]["instances"] > 100
    length = r["input_mask"].sum(axis=1)
    real = np.arange(SEQ)[None, :] < length[:, None]
    assert (r["input_mask"] == real).all()
    for name in ("input_ids", "segment_ids", "token_boundary"):
        assert (r[name][~real] == 0).all(), name
    assert (r["input_ids"][:, 0] == tokenizer.cls_id).all()
    assert (r["input_ids"][np.arange(len(length)), length - 1] == tokenizer.sep_id).all()
    weights = r["masked_lm_weights"]
    assert set(np.unique(weights)) <= {0.0, 1.0}
    assert ((r["masked_lm_positions"] == 0) == (weights == 0)).all()
    assert (r["masked_lm_ids"][weights == 0] == 0).all()
    assert set(np.unique(r["next_sentence_labels"])) == {0, 1}
    # Every masked position holds [MASK], its label or a random id; labels are never special.
    assert not np.isin(r["masked_lm_ids"][weights > 0], [tokenizer.cls_id, tokenizer.sep_id]).any()
    with open(default_summary_path(str(tmp_path / "out-{shard}.tfrecord"))) as f:
        written = json.load(f)
    assert written["complete"] and written["totals"] == summary["totals"]
    for key in ("instances", "tokens", "mask_rate", "label_1_share", "swapped_share"):
        assert key in written["totals"]
    assert sum(s["instances"] for s in written["shards"].values()) == len(r["input_ids"])
    assert written["seconds"]["total"] > 0
    assert not glob.glob(str(tmp_path / "*.incomplete")) and not os.path.exists(tmp_path / ".albert_pretraining_work")


def test_same_seed_same_bytes_for_any_number_of_workers(spm_model, corpus, tmp_path):
    digests = []
    for workers in (1, 2, 3):
        out = tmp_path / f"w{workers}"
        run(spm_model, corpus, str(out / "part-{shard}.tfrecord"), num_output_shards=4, num_workers=workers)
        digests.append([open(f, "rb").read() for f in sorted(glob.glob(str(out / "*.tfrecord")))])
    assert len(digests[0]) == 4 and digests[0] == digests[1] == digests[2]
    run(spm_model, corpus, str(tmp_path / "other" / "part-{shard}.tfrecord"), num_output_shards=4, random_seed=7)
    other = [open(f, "rb").read() for f in sorted(glob.glob(str(tmp_path / "other" / "*.tfrecord")))]
    assert other != digests[0]


def test_statistics_match_the_original_algorithm(spm_model, tmp_path, tokenizer):
    """Same corpus and vocabulary through both implementations: the output statistics agree."""
    documents = random_documents(3, 300, sentences=(1, 14))
    corpus = write_documents(tmp_path / "corpus.txt", documents)
    dupe = 6
    summary = run(spm_model, corpus, str(tmp_path / "ours.tfrecord"), dupe_factor=dupe)
    ours = summary["totals"]

    flags = original.OriginalFlags(max_seq_length=SEQ, max_predictions_per_seq=PREDS, dupe_factor=dupe)
    stats = original.OriginalStats()
    reference = original.create_instances([corpus], tokenizer, flags, np.random.RandomState(0), stats)
    n = len(reference)
    tokens = sum(len(i.tokens) for i in reference)
    theirs = {
        "instances": n,
        "mask_rate": sum(len(i.masked_lm_positions) for i in reference) / tokens,
        "label_1_share": sum(i.is_random_next for i in reference) / n,
        "swapped_share": sum(i.kind == "swapped" for i in reference) / n,
        "random_document_share": sum(i.kind == "random_document" for i in reference) / n,
        "short_target_share": sum(i.short_target for i in reference) / n,
        "mean_tokens_a": np.mean([i.segment_ids.count(0) - 2 for i in reference]),
        "mean_tokens_b": np.mean([i.segment_ids.count(1) - 1 for i in reference]),
    }
    assert abs(ours["instances"] / theirs["instances"] - 1) < 0.05
    assert abs(ours["mask_rate"] - theirs["mask_rate"]) < 0.004
    for key in ("label_1_share", "swapped_share", "random_document_share"):
        assert abs(ours[key] - theirs[key]) < 0.03, key
    assert abs(ours["short_target_share"] - theirs["short_target_share"]) < 0.05
    # short_seq_prob is a per-document, per-round draw
    assert abs(ours["short_target_document_share"] - 0.1) < 0.025
    assert abs(stats.short_target_documents / stats.document_rounds - 0.1) < 0.025
    for key in ("mean_tokens_a", "mean_tokens_b"):
        assert abs(ours[key] / theirs[key] - 1) < 0.05, key
    span_theirs = np.array([stats.span_units[k] for k in (1, 2, 3)]) / sum(stats.span_units.values())
    span_ours = np.array([ours["span_units_share"][k] for k in ("1", "2", "3")])
    np.testing.assert_allclose(span_ours, span_theirs, atol=0.03)
    # ... and the specification: 80/10/10 and a masking rate near masked_lm_prob.
    assert abs(ours["replaced_by_mask_share"] - 0.8) < 0.02
    assert abs(ours["kept_share"] - 0.1) < 0.015 and abs(ours["replaced_by_random_share"] - 0.1) < 0.015
    assert 0.13 < ours["mask_rate"] < 0.17


def test_resume_skips_complete_shards_and_overwrite_redoes_them(spm_model, corpus, tmp_path, monkeypatch):
    pattern = str(tmp_path / "out-{shard}.tfrecord")
    clean = tmp_path / "clean"
    run(spm_model, corpus, str(clean / "out-{shard}.tfrecord"), num_output_shards=3)
    expected = [open(f, "rb").read() for f in sorted(glob.glob(str(clean / "*.tfrecord")))]

    # Crash while the second shard is being written: shard 0 is complete, nothing else is visible.
    calls = {"n": 0}
    build = instances_module.BlockBuilder.build

    def crashing_build(self, block):
        calls["n"] += 1
        if block.index % 3 == 1:
            raise RuntimeError("simulated crash")
        return build(self, block)

    monkeypatch.setattr(instances_module.BlockBuilder, "build", crashing_build)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(spm_model, corpus, pattern, num_output_shards=3)
    assert sorted(os.listdir(tmp_path)) == [".albert_pretraining_work", "clean", "out-00000.tfrecord",
                                          "out-00000.tfrecord.fingerprint", "out.summary.json"]
    monkeypatch.setattr(instances_module.BlockBuilder, "build", build)

    first_mtime = os.path.getmtime(tmp_path / "out-00000.tfrecord")
    summary = run(spm_model, corpus, pattern, num_output_shards=3)
    assert summary["shards"][str(tmp_path / "out-00000.tfrecord")]["status"] == "skipped"
    assert os.path.getmtime(tmp_path / "out-00000.tfrecord") == first_mtime
    assert [open(f, "rb").read() for f in sorted(glob.glob(str(tmp_path / "*.tfrecord")))] == expected
    assert summary["totals_cover_all_shards"]

    again = run(spm_model, corpus, pattern, num_output_shards=3)  # complete: nothing to do
    assert again["complete"] and os.path.getmtime(tmp_path / "out-00000.tfrecord") == first_mtime
    redone = run(spm_model, corpus, pattern, num_output_shards=3, overwrite=True)
    assert all(s["status"] == "written" for s in redone["shards"].values())
    with pytest.raises(PretrainingDataError, match="other settings"):
        run(spm_model, corpus, pattern, num_output_shards=3, random_seed=99, keep_work_dir=False,
            summary_file=str(tmp_path / "out.summary.json"), dupe_factor=3)


def test_output_list_and_round_robin(spm_model, corpus, tmp_path):
    outputs = f"{tmp_path}/a.tfrecord,{tmp_path}/b.tfrecord"
    summary = run(spm_model, corpus, outputs)
    assert set(summary["shards"]) == {f"{tmp_path}/a.tfrecord", f"{tmp_path}/b.tfrecord"}
    assert os.path.exists(tmp_path / "a.summary.json")
    assert resolve_output_files("x-{shard}-of-{num_shards}.rec", 2)[0] == ["x-00000-of-2.rec", "x-00001-of-2.rec"]
    with pytest.raises(PretrainingDataError, match="only"):
        run(spm_model, corpus, str(tmp_path / "many-{shard}.tfrecord"), num_output_shards=500)


def test_empty_input_is_a_clear_error_and_writes_nothing(spm_model, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n\t\n")
    with pytest.raises(PretrainingDataError, match="no text.*one sentence per line"):
        run(spm_model, str(empty), str(tmp_path / "out" / "x.tfrecord"))
    assert not os.path.exists(tmp_path / "out" / "x.tfrecord")
    (tmp_path / "zero.txt").write_bytes(b"")
    with pytest.raises(PretrainingDataError, match="no text"):
        run(spm_model, str(tmp_path / "zero.txt"), str(tmp_path / "out" / "x.tfrecord"))
    with pytest.raises(PretrainingDataError, match="no file matches"):
        run(spm_model, str(tmp_path / "missing-*.txt"), str(tmp_path / "x.tfrecord"))
    with pytest.raises(PretrainingDataError, match="do_permutation"):
        run(spm_model, str(empty), str(tmp_path / "x.tfrecord"), do_permutation=True)
    with pytest.raises(PretrainingDataError, match="max_seq_length"):
        run(spm_model, str(empty), str(tmp_path / "x.tfrecord"), max_seq_length=4)


def test_messages_for_odd_input(spm_model, tmp_path, caplog):
    documents = [["Just one sentence here."], ["Another lonely line."]] + random_documents(4, 6)
    documents.append(["word " * 200 + "."])  # far longer than max_seq_length
    path = write_documents(tmp_path / "odd.txt", documents)
    with open(path, "ab") as f:
        f.write(b"\n\n\nA caf\xe9 with a Latin-1 byte.\nAnd a second sentence.\n\n\n")
    with caplog.at_level(logging.WARNING):
        summary = run(spm_model, path, str(tmp_path / "odd.tfrecord"))
    text = "\n".join(summary["warnings"])
    assert "single sentence" in text and "random other document" in text
    lines = open(path, "rb").read().split(b"\n")
    long_line = next(i for i, line in enumerate(lines) if len(line) > 500) + 1
    assert f"odd.txt:{long_line}" in text and "more than --max_seq_length - 3" in text
    bad_line = next(i for i, line in enumerate(lines) if b"\xe9" in line) + 1
    assert f"not valid UTF-8 (first at {path}:{bad_line})" in text
    assert any("single sentence" in r.getMessage() for r in caplog.records)
    assert summary["totals"]["instances"] > 0 and os.path.getsize(tmp_path / "odd.tfrecord") > 0
    assert summary["corpus"]["documents"] == 10  # blank-line runs make no empty documents


def test_most_single_sentence_documents_suggest_the_corpus_tool(spm_model, tmp_path):
    path = write_documents(tmp_path / "paragraphs.txt", [[s] for doc in random_documents(5, 30) for s in doc])
    summary = run(spm_model, path, str(tmp_path / "p.tfrecord"))
    assert any("albert-prepare-corpus" in w for w in summary["warnings"])
    assert summary["totals"]["label_1_share"] == 1.0  # every pair takes B from another document


def test_end_of_file_ends_a_document(spm_model, tmp_path):
    first = tmp_path / "first.txt"
    first.write_text("One sentence in the first file.\nA second one.\n")  # no blank line at the end
    second = tmp_path / "second.txt"
    second.write_text("The second file starts here.\nAnd goes on.\n")
    summary = run(spm_model, f"{first},{second}", str(tmp_path / "eof.tfrecord"))
    assert summary["corpus"]["documents"] == 2


def test_summary_path_rule():
    assert default_summary_path("out/data-{shard}.tfrecord") == os.path.join("out", "data.summary.json")
    assert default_summary_path("out/train.tfrecord,out/b.tfrecord") == os.path.join("out", "train.summary.json")


def test_a_foreign_shard_stops_the_job_before_it_tokenizes(spm_model, corpus, tmp_path):
    output = str(tmp_path / "out-{shard}.tfrecord")
    run(spm_model, corpus, output, num_output_shards=2)
    with pytest.raises(PretrainingDataError, match="exists from a run with other settings"):
        run(spm_model, corpus, output, num_output_shards=2, random_seed=7, work_dir=str(tmp_path / "work"))
    assert not os.path.exists(tmp_path / "work")


def _die(task):
    os._exit(9)  # as the kernel's out-of-memory killer would end a worker


def test_a_dead_worker_is_an_error_not_a_hang(spm_model, corpus, tmp_path, monkeypatch):
    from data_prep.pretraining import local

    monkeypatch.setattr(local, "block_task", _die)
    with pytest.raises(PretrainingDataError, match=r"a worker process died .*run the same command again"):
        run(spm_model, corpus, str(tmp_path / "out-{shard}.tfrecord"), num_workers=2, num_output_shards=2)
    assert not glob.glob(str(tmp_path / "out-*.tfrecord"))
