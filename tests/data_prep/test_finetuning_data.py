"""The fine-tuning records job: no TensorFlow, same records for any worker count, CLI, summary, readers."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from data_prep.finetuning import FinetuningDataConfig, FinetuningDataError, create_finetuning_data
from data_prep.tfrecord import masked_crc32c, read_records
from tests.data_prep.finetuning_fixtures import squad_json, write_glue, write_race

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    return {
        "glue": write_glue(str(root / "glue_data")),
        "race": write_race(str(root / "race")),
        "squad": squad_json(str(root / "squad.json"), True, True),
    }


def _jobs(inputs, model, out, workers):
    common = dict(spm_model_file=model, num_workers=workers)
    return [
        FinetuningDataConfig(task="mrpc", data_dir=inputs["glue"], split="train",
                             output_file=f"{out}/mrpc.tfrecord", max_seq_length=24, **common),
        FinetuningDataConfig(task="squad_v2", input_file=inputs["squad"], split="train",
                             output_file=f"{out}/squad_train.tfrecord", max_seq_length=64, doc_stride=16,
                             max_query_length=12, **common),
        FinetuningDataConfig(task="squad_v1", input_file=inputs["squad"], split="dev",
                             output_file=f"{out}/squad_dev.tfrecord", max_seq_length=64, doc_stride=16,
                             max_query_length=12, **common),
        FinetuningDataConfig(task="race", data_dir=inputs["race"], split="dev",
                             output_file=f"{out}/race.tfrecord", max_seq_length=32, max_qa_length=10, **common),
    ]


_CHILD = r"""
import hashlib, json, sys
sys.path.insert(0, {root!r})
import data_prep.finetuning as job
job.CHUNK_EXAMPLES = dict.fromkeys(job.CHUNK_EXAMPLES, 1)  # the tiny inputs still span several workers
configs = [job.FinetuningDataConfig(**c) for c in json.loads(sys.argv[1])]
digests, workers = {{}}, []
for config in configs:
    workers.append(job.create_finetuning_data(config)["num_workers"])
    digests[config.output_file.rsplit("/", 1)[1]] = hashlib.sha256(open(config.output_file, "rb").read()).hexdigest()
print(json.dumps({{"tensorflow": [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")],
                  "digests": digests, "workers": workers}}))
"""


def _run_child(configs):
    import dataclasses

    code = _CHILD.format(root=ROOT)
    payload = json.dumps([dataclasses.asdict(c) for c in configs])
    result = subprocess.run([sys.executable, "-c", code, payload],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_no_tensorflow_and_same_records_for_any_worker_count(inputs, ft_spm_model, tmp_path):
    # A fresh process imports the job the way the CLI does; neither it nor its workers may import
    # TensorFlow or Keras.
    one = _run_child(_jobs(inputs, ft_spm_model, str(tmp_path / "w1"), 1))
    three = _run_child(_jobs(inputs, ft_spm_model, str(tmp_path / "w3"), 3))
    assert one["tensorflow"] == [] and three["tensorflow"] == []
    assert one["digests"] == three["digests"] and len(one["digests"]) == 4
    assert one["workers"] == [1] * 4 and three["workers"] == [3] * 4
    for name in ("squad_dev.tfrecord.meta.json", "squad_dev.tfrecord.summary.json"):
        assert os.path.exists(tmp_path / "w3" / name)
    with open(tmp_path / "w1" / "squad_dev.tfrecord.meta.json") as a, \
            open(tmp_path / "w3" / "squad_dev.tfrecord.meta.json") as b:
        assert json.load(a)["features"] == json.load(b)["features"]


def test_cli_writes_records_and_summary(inputs, ft_spm_model, tmp_path):
    output = str(tmp_path / "sst.tfrecord")
    result = subprocess.run(
        [sys.executable, "-m", "tools.create_finetuning_data", "--task=SST-2",
         f"--data_dir={os.path.join(inputs['glue'], 'SST-2')}", "--split=dev", f"--output_file={output}",
         f"--spm_model_file={ft_spm_model}", "--max_seq_length=16", "--num_workers=2", "--nodo_lower_case"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "4 examples -> 4 records" in result.stdout
    with open(output + ".summary.json") as f:
        summary = json.load(f)
    assert summary["examples"] == summary["features"] == summary["records"] == 4
    # Four examples fill one chunk, so no worker process is started for them.
    assert summary["flags"]["do_lower_case"] is False and summary["num_workers"] == 1
    assert 0 <= summary["truncated_share"] <= 1 and summary["seconds"]["total"] > 0
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".incomplete")]


def test_cli_reports_bad_input_in_one_line(inputs, ft_spm_model, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tools.create_finetuning_data", "--task=squad_v1", "--split=dev",
         f"--output_file={tmp_path / 'x.tfrecord'}", f"--spm_model_file={ft_spm_model}"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 2
    assert "--task=squad_v1 reads --input_file" in result.stderr and "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "x.tfrecord")


def test_cli_help_does_not_import_tensorflow():
    code = ("import sys; sys.argv=['x','--help']\n"
            "import tools.create_finetuning_data as m\n"
            "try:\n    m.main()\nexcept SystemExit:\n    pass\n"
            "print([k for k in sys.modules if k.split('.')[0] in ('tensorflow', 'keras')])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert "--max_qa_length" in result.stdout and result.stdout.strip().endswith("[]")


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(task="imdb"), r"--task='imdb' is not a task"),
        (dict(split="valid"), r"--split='valid'"),
        (dict(spm_model_file=None), r"--spm_model_file is required"),
        (dict(task="squad_v1", input_file="x.json", max_seq_length=60, max_query_length=64),
         r"--max_seq_length=60 must exceed --max_query_length \+ 3"),
        (dict(task="squad_v2", input_file="x.json", pad_to_batch_size=8), r"the original did not pad SQuAD"),
        (dict(data_dir=None), r"--task=cola reads --data_dir"),
        (dict(num_workers=0), r"--num_workers must be at least 1"),
    ],
)
def test_flags_are_checked_before_anything_is_written(tmp_path, overrides, message):
    values = dict(task="cola", data_dir=str(tmp_path), output_file=str(tmp_path / "o.tfrecord"),
                  spm_model_file="m.model")
    values.update(overrides)
    with pytest.raises(FinetuningDataError, match=message):
        create_finetuning_data(FinetuningDataConfig(**values))
    assert not os.listdir(tmp_path)


def test_tfrecord_writer_is_atomic(tmp_path):
    # Byte equality with tf.io.TFRecordWriter is tests/data_prep/test_tfrecord.py.
    from data_prep.tfrecord import TFRecordWriter

    assert masked_crc32c(b"") == 2726488792
    records = [b"", b"a", b"x" * 1000]
    path = str(tmp_path / "t.tfrecord")
    with TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    assert list(read_records(path)) == records
    with pytest.raises(RuntimeError):
        with TFRecordWriter(path + "2") as writer:
            writer.write(b"a")
            raise RuntimeError("stop")
    assert sorted(os.listdir(tmp_path)) == ["t.tfrecord"]


def test_readers_parse_every_kind(inputs, ft_spm_model, tmp_path):
    import tensorflow as tf

    from albert_tf.data.finetuning import finetuning_dataset

    for config in _jobs(inputs, ft_spm_model, str(tmp_path), 1):
        create_finetuning_data(config)
    mrpc = next(iter(finetuning_dataset(str(tmp_path / "mrpc.tfrecord"), "mrpc", 3, 24, is_training=True)))
    assert sorted(mrpc) == ["input_ids", "input_mask", "is_real_example", "label_ids", "segment_ids"]
    assert mrpc["input_ids"].shape == (3, 24) and mrpc["input_ids"].dtype == tf.int32
    assert mrpc["label_ids"].shape == (3, 1)
    race = list(finetuning_dataset(str(tmp_path / "race.tfrecord"), "race", 3, 32, is_training=False))
    assert [b["input_ids"].shape for b in race] == [(3, 4, 32), (1, 4, 32)]
    assert race[0]["label_ids"].numpy().ravel().tolist() == [1, 1, 0]
    train = list(finetuning_dataset(str(tmp_path / "squad_train.tfrecord"), "squad_v2", 4, 64, is_training=True))
    assert all(b["input_ids"].shape == (4, 64) for b in train)  # drop_remainder in training
    assert sorted(train[0]) == ["end_positions", "input_ids", "input_mask", "is_impossible", "p_mask",
                                "segment_ids", "start_positions", "unique_ids"]
    dev = list(finetuning_dataset(str(tmp_path / "squad_dev.tfrecord"), "squad", 100, 64, is_training=False))
    ids = dev[0]["unique_ids"].numpy().ravel()
    assert ids[0] == 1000000000 and np.all(np.diff(ids) == 1) and "start_positions" not in dev[0]
    sts = str(tmp_path / "sts.tfrecord")
    create_finetuning_data(FinetuningDataConfig(task="sts-b", data_dir=inputs["glue"], split="dev", output_file=sts,
                                                spm_model_file=ft_spm_model, max_seq_length=16, num_workers=1))
    batch = next(iter(finetuning_dataset(sts, "regression", 4, 16, is_training=False)))
    assert batch["label_ids"].dtype == tf.float32
    assert batch["label_ids"].numpy().ravel().tolist() == pytest.approx([5.0, 3.2, 0.5, 1.0])
    # One of two input pipelines: every other record, per-replica batches.
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    shard = list(finetuning_dataset(sts, "sts-b", 4, 16, is_training=False, input_context=context))
    assert [b["label_ids"].numpy().ravel().tolist() for b in shard] == [pytest.approx([3.2, 1.0])]


def test_summary_digest_is_stable(inputs, ft_spm_model, tmp_path):
    config = _jobs(inputs, ft_spm_model, str(tmp_path), 1)[0]
    first = create_finetuning_data(config)
    digest = hashlib.sha256(open(config.output_file, "rb").read()).hexdigest()
    second = create_finetuning_data(config)
    assert hashlib.sha256(open(config.output_file, "rb").read()).hexdigest() == digest
    assert first["records"] == second["records"] == 4


def test_race_records_carry_their_levels_beside_them(inputs, ft_spm_model, tmp_path):
    # The original schema has no level feature; the per-level accuracies read it from OUTPUT.meta.json,
    # one entry per record in record order, the padding records with an empty level.
    config = FinetuningDataConfig(task="race", data_dir=inputs["race"], split="dev", spm_model_file=ft_spm_model,
                                  output_file=str(tmp_path / "race.tfrecord"), max_seq_length=32, max_qa_length=10,
                                  pad_to_batch_size=3, num_workers=1)
    summary = create_finetuning_data(config)
    with open(summary["meta_file"], encoding="utf-8") as f:
        meta = json.load(f)
    assert meta["format"] == "albert_tf.race_examples" and summary["records"] == 6
    # middle before high; the middle folder's files in name order ("10.txt" < "2.txt")
    assert meta["levels"] == ["middle", "middle", "middle", "high", "", ""]
    assert meta["article_ids"] == ["middle10.txt", "middle2.txt", "middle2.txt", "high1.txt", "", ""]


_DYING_WORKER = r"""
import os, sys
sys.path.insert(0, {root!r})
import data_prep.finetuning as job

def die(task):
    os._exit(9)  # as the kernel's out-of-memory killer would end a worker

job._convert_chunk = die
job.CHUNK_EXAMPLES = dict.fromkeys(job.CHUNK_EXAMPLES, 1)
try:
    job.create_finetuning_data(job.FinetuningDataConfig(
        task="mrpc", data_dir={glue!r}, split="train", output_file={output!r}, spm_model_file={spm!r},
        max_seq_length=24, num_workers=2))
except job.FinetuningDataError as error:
    print("ERROR", error)
"""


def test_a_dead_worker_is_an_error_not_a_hang(inputs, ft_spm_model, tmp_path):
    output = str(tmp_path / "mrpc.tfrecord")
    code = _DYING_WORKER.format(root=ROOT, glue=inputs["glue"], output=output, spm=ft_spm_model)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith(f"ERROR {output}: a worker process died"), result.stdout
    assert "--num_workers=1" in result.stdout and not os.path.exists(output)
