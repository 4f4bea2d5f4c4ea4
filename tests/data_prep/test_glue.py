"""GLUE processors and records against the original's behaviour and tf-models-official's port of it."""

import os

import numpy as np
import pytest

from data_prep import glue
from data_prep.finetuning import FinetuningDataConfig, create_finetuning_data
from tests.data_prep.finetuning_fixtures import parse_records, tsv, write, write_glue

# Rows per fixture file after the header (QQP's short row is skipped in train/dev).
EXPECTED = {
    "cola": 4, "sst-2": 4, "mrpc": 4, "sts-b": 4, "qqp": 4, "mnli": 4, "mismnli": 2, "qnli": 4, "rte": 4,
    "wnli": 4,
}


@pytest.fixture(scope="module")
def glue_dir(tmp_path_factory):
    return write_glue(str(tmp_path_factory.mktemp("glue_data")))


@pytest.mark.parametrize("task", sorted(EXPECTED))
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_every_processor_reads_every_split(glue_dir, task, split):
    examples = glue.read_examples(task, glue_dir, split)
    expected = EXPECTED[task] if split == "dev" else 4
    assert len(examples) == expected
    labels = glue.glue_task(task).labels
    for example in examples:
        assert example.text_a
        if labels is None:
            assert isinstance(example.label, float)
        else:
            assert example.label in labels
    if split == "test":  # the original's placeholder labels
        assert {e.label for e in examples} == {glue.glue_task(task).test_label}


def test_ax_reads_the_diagnostic_file_with_mnli_labels(glue_dir):
    examples = glue.read_examples("AX", glue_dir, "test")
    assert len(examples) == 4 and {e.label for e in examples} == {"contradiction"}
    assert examples[0].guid == "0" and examples[0].text_b == "a cat is sitting."
    with pytest.raises(glue.GlueDataError, match="only the split"):
        glue.read_examples("ax", glue_dir, "dev")


def test_columns_guids_and_preprocessing(glue_dir):
    mrpc = glue.read_examples("mrpc", glue_dir, "dev")
    assert (mrpc[0].guid, mrpc[0].label) == ("dev-1", "1")
    # No quote character: quotes stay; whitespace collapsed; lower-cased.
    assert mrpc[1].text_a == 'he said "no" to the plan.'
    assert mrpc[2].text_a == "cafe owners in zurich won."  # accents always stripped
    assert mrpc[2].text_b == ""  # an empty second text: one segment in the features
    cola = glue.read_examples("cola", glue_dir, "train")  # no header: 4 rows from line 1
    assert [e.guid for e in cola] == ["train-0", "train-1", "train-2", "train-3"]
    assert [e.label for e in cola] == ["1", "0", "0", "1"]
    cola_test = glue.read_examples("cola", glue_dir, "test")
    assert cola_test[0].guid == "0"
    sts = glue.read_examples("sts-b", glue_dir, "dev")
    assert [e.label for e in sts] == [5.0, 3.2, 0.5, 1.0]
    mnli = glue.read_examples("mnli", glue_dir, "dev")
    assert [e.label for e in mnli] == ["entailment", "neutral", "contradiction", "entailment"]
    cased = glue.read_examples("sst-2", glue_dir, "dev", do_lower_case=False)
    assert cased[0].text_a == "The cat sat on the mat."


def test_qqp_short_rows_are_skipped_only_in_train_and_dev(glue_dir):
    examples = glue.read_examples("qqp", glue_dir, "train")
    assert [e.guid for e in examples] == ["0", "1", "2", "3"]


def test_byte_order_mark_is_dropped(glue_dir, tmp_path):
    plain = glue.read_examples("cola", glue_dir, "dev")
    with open(os.path.join(glue_dir, "CoLA", "dev.tsv"), encoding="utf-8") as f:
        write(str(tmp_path / "CoLA" / "dev.tsv"), f.read(), bom=True)
    with_bom = glue.read_examples("cola", str(tmp_path), "dev")
    assert [(e.text_a, e.label) for e in with_bom] == [(e.text_a, e.label) for e in plain]


def test_data_dir_may_be_the_task_folder_or_its_parent(glue_dir):
    a = glue.read_examples("rte", glue_dir, "dev")
    b = glue.read_examples("rte", os.path.join(glue_dir, "RTE"), "dev")
    assert [e.text_a for e in a] == [e.text_a for e in b]


def _reference_features(task, examples, spm_model, max_seq_length):
    """tf-models-official's port of the original ``convert_single_example``."""
    from official.nlp.data import classifier_data_lib
    from official.nlp.tools import tokenization

    tokenizer = tokenization.FullSentencePieceTokenizer(spm_model)
    labels = glue.glue_task(task).labels
    out = []
    for i, e in enumerate(examples):
        example = classifier_data_lib.InputExample(e.guid, e.text_a, e.text_b, e.label)
        feature = classifier_data_lib.convert_single_example(i, example, list(labels) if labels else None,
                                                             max_seq_length, tokenizer)
        out.append(feature)
    return out


def _too_long(example, spm_model, max_seq_length):
    from official.nlp.tools import tokenization

    tokenizer = tokenization.FullSentencePieceTokenizer(spm_model)
    a = tokenizer.tokenize(example.text_a)
    b = tokenizer.tokenize(example.text_b) if example.text_b else []
    return len(a) + len(b) > max_seq_length - (3 if b else 2)


@pytest.mark.tf_models_official
@pytest.mark.parametrize("task", ["cola", "sst-2", "mrpc", "sts-b", "qqp", "mnli", "qnli", "rte", "wnli"])
def test_records_equal_the_tf_models_port(glue_dir, ft_spm_model, tmp_path, task):
    max_seq_length = 24  # the long fixture pair is truncated
    output = str(tmp_path / "records.tfrecord")
    summary = create_finetuning_data(FinetuningDataConfig(
        task=task, data_dir=glue_dir, split="train", output_file=output, spm_model_file=ft_spm_model,
        max_seq_length=max_seq_length, num_workers=1))
    records = parse_records(output)
    examples = glue.read_examples(task, glue_dir, "train")
    reference = _reference_features(task, examples, ft_spm_model, max_seq_length)
    assert len(records) == len(reference) == summary["records"] == summary["examples"]
    assert summary["truncated"] == sum(r.input_mask[-1] == 1 and _too_long(e, ft_spm_model, max_seq_length)
                                       for r, e in zip(reference, examples))
    for record, ref in zip(records, reference):
        assert record["input_ids"] == ref.input_ids
        assert record["input_mask"] == ref.input_mask
        assert record["segment_ids"] == ref.segment_ids
        assert record["is_real_example"] == [1]
        if task == "sts-b":
            assert record["label_ids"] == [pytest.approx(ref.label_id)]
        else:
            assert record["label_ids"] == [ref.label_id]
    assert set(records[0]) == {"input_ids", "input_mask", "segment_ids", "label_ids", "is_real_example"}


def test_packing_as_the_original(ft_tokenizer):
    # [CLS] a [SEP] b [SEP], the longer side loses its last pieces, b on ties.
    ids, segments, cut = glue.pack([10, 11, 12, 13], [20, 21], 7, 2, 3)
    assert ids == [2, 10, 11, 3, 20, 21, 3] and segments == [0, 0, 0, 0, 1, 1, 1] and cut
    ids, _, _ = glue.pack([10, 11], [20, 21], 6, 2, 3)  # a tie: b loses first
    assert ids == [2, 10, 11, 3, 20, 3]
    ids, segments, cut = glue.pack([10, 11, 12], None, 4, 2, 3)
    assert ids == [2, 10, 11, 3] and segments == [0, 0, 0, 0] and cut
    ids, _, cut = glue.pack([10], [], 8, 2, 3)  # an empty b is a single segment
    assert ids == [2, 10, 3] and not cut


def test_padding_examples_for_tpu(glue_dir, ft_spm_model, tmp_path):
    output = str(tmp_path / "padded.tfrecord")
    summary = create_finetuning_data(FinetuningDataConfig(
        task="sts-b", data_dir=glue_dir, split="dev", output_file=output, spm_model_file=ft_spm_model,
        max_seq_length=16, pad_to_batch_size=3, num_workers=1))
    records = parse_records(output)
    assert summary["padding_examples"] == 2 and len(records) == 6
    assert [r["is_real_example"] for r in records] == [[1]] * 4 + [[0]] * 2
    assert records[-1]["input_ids"] == [0] * 16 and records[-1]["label_ids"] == [0.0]


@pytest.mark.parametrize(
    "task,content,message",
    [
        ("sst-2", "sentence\tlabel\nfine film\t1\nbad film\n", r"dev\.tsv, line 3: expected a column 1"),
        ("mrpc", "Quality\ta\tb\tc\td\n1\t1\t2\tonly one sentence\n", r"dev\.tsv, line 2: expected a column 4"),
        ("rte", "index\ts1\ts2\tlabel\n0\ta\tb\tmaybe\n", r"dev\.tsv, line 2: label 'maybe' is not one of"),
        ("sst-2", "sentence\tlabel\nfine film\t2\n", r"line 2: label '2' is not one of the sst-2 labels"),
        ("sts-b", "h\th\th\th\th\th\th\th\th\th\n0\tg\tf\ty\t0\ts\ts\ta\tb\thigh\n",
         r"line 2: the STS-B score .* got 'high'"),
        ("cola", "", r"dev\.tsv is empty"),
        ("sst-2", "sentence\tlabel\n", r"dev\.tsv has 1 line\(s\) but no example"),
    ],
)
def test_bad_input_names_the_file_and_line(tmp_path, task, content, message):
    directory = glue.glue_task(task).directory
    write(str(tmp_path / directory / "dev.tsv"), content)
    with pytest.raises(glue.GlueDataError, match=message):
        glue.read_examples(task, str(tmp_path), "dev")


def test_missing_file_names_the_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="no dev_matched.tsv for task mnli"):
        glue.read_examples("mnli", str(tmp_path), "dev")


def test_feature_arrays_have_the_schema_dtypes(glue_dir, ft_tokenizer):
    examples = glue.read_examples("sts-b", glue_dir, "dev")
    features, stats = glue.convert_examples(examples, "sts-b", ft_tokenizer, 16)
    assert features["label_ids"].dtype == np.float32 and features["input_ids"].shape == (4, 16)
    assert stats["examples"] == stats["features"] == 4 and 1 <= stats["truncated"] <= 4
    assert [f.dtype for f in glue.schema("sts-b")] == ["int64", "int64", "int64", "float", "int64"]
    assert tsv([["a", "b"]]) == "a\tb\n"
