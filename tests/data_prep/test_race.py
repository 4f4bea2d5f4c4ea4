"""RACE: layout, blanks, four-option records, bad input."""

import json

import pytest

from albert_tf.text.tokenizer import preprocess_text
from data_prep import race
from data_prep.finetuning import FinetuningDataConfig, create_finetuning_data
from tests.data_prep.finetuning_fixtures import RACE_ARTICLES, parse_records, write, write_race

SEQ, QA = 32, 10


@pytest.fixture(scope="module")
def race_dirs(tmp_path_factory):
    return {
        "articles": write_race(str(tmp_path_factory.mktemp("race_articles"))),
        "all": write_race(str(tmp_path_factory.mktemp("race_all")), concatenated=True),
    }


def test_order_is_middle_then_high_and_files_in_name_order(race_dirs):
    examples = race.read_examples(race_dirs["articles"], "dev")
    # "10.txt" sorts before "2.txt" by name.
    assert [(e.example_id, e.level) for e in examples] == [
        ("middle10.txt", "middle"), ("middle2.txt", "middle"), ("middle2.txt", "middle"), ("high1.txt", "high")]
    assert [e.label for e in examples] == [1, 1, 0, 0]
    assert [e.example_id for e in race.read_examples(race_dirs["articles"], "dev", high_only=True)] == ["high1.txt"]
    assert len(race.read_examples(race_dirs["articles"], "dev", middle_only=True)) == 3
    inside = race.read_examples(race_dirs["articles"] + "/RACE", "dev")  # the RACE folder itself
    assert [e.endings for e in inside] == [e.endings for e in examples]


def test_blanks_are_filled_with_each_option(race_dirs):
    examples = race.read_examples(race_dirs["articles"], "dev")
    assert examples[1].endings[1] == "tom plays with the dog in the park."
    assert examples[2].endings == tuple("what colour is the ball? " + o for o in ("red", "blue", "green", "black"))
    # Every "_" is replaced; the question was pre-processed first (spaces collapsed).
    assert examples[3].endings[0] == "the people love the river love ."
    assert examples[0].context == preprocess_text(RACE_ARTICLES[("dev", "middle", "10.txt")]["article"], lower=True)


def _reference_row(tokenizer, context, ending):
    """A transcription of the original race_utils.convert_single_example for one option."""
    context_tokens = tokenizer.tokenize(context, preprocess=False)
    ending_tokens = tokenizer.tokenize(ending, preprocess=False)[-QA:]
    if len(context_tokens) + len(ending_tokens) > SEQ - 3:
        context_tokens = context_tokens[: SEQ - 3 - len(ending_tokens)]
    tokens = ["[CLS]"] + context_tokens + ["[SEP]"] + ending_tokens + ["[SEP]"]
    segment_ids = [0] * (len(context_tokens) + 2) + [1] * (len(ending_tokens) + 1)
    input_ids = tokenizer.convert_tokens_to_ids(tokens)
    input_mask = [1] * len(input_ids)
    pad = SEQ - len(input_ids)
    return input_ids + [0] * pad, input_mask + [0] * pad, segment_ids + [0] * pad


def test_records_have_four_choices_as_the_original(race_dirs, ft_spm_model, ft_tokenizer, tmp_path):
    output = str(tmp_path / "race.tfrecord")
    summary = create_finetuning_data(FinetuningDataConfig(
        task="RACE", data_dir=race_dirs["articles"], split="dev", output_file=output,
        spm_model_file=ft_spm_model, max_seq_length=SEQ, max_qa_length=QA, num_workers=1))
    records = parse_records(output)
    examples = race.read_examples(race_dirs["articles"], "dev")
    assert len(records) == len(examples) == summary["records"] == 4
    assert summary["truncated"] >= 1  # the long article
    for record, example in zip(records, examples):
        assert len(record["input_ids"]) == 4 * SEQ
        expected = [_reference_row(ft_tokenizer, example.context, e) for e in example.endings]
        assert record["input_ids"] == sum((r[0] for r in expected), [])
        assert record["input_mask"] == sum((r[1] for r in expected), [])
        assert record["segment_ids"] == sum((r[2] for r in expected), [])
        assert record["label_ids"] == [example.label] and record["is_real_example"] == [1]
    assert set(records[0]) == {"input_ids", "input_mask", "segment_ids", "label_ids", "is_real_example"}
    # The concatenated all.txt layout gives the same records.
    output_all = str(tmp_path / "race_all.tfrecord")
    create_finetuning_data(FinetuningDataConfig(
        task="race", data_dir=race_dirs["all"], split="dev", output_file=output_all,
        spm_model_file=ft_spm_model, max_seq_length=SEQ, max_qa_length=QA, num_workers=1))
    assert parse_records(output_all) == records


def test_padding_examples(race_dirs, ft_spm_model, tmp_path):
    output = str(tmp_path / "race.tfrecord")
    summary = create_finetuning_data(FinetuningDataConfig(
        task="race", data_dir=race_dirs["articles"], split="dev", output_file=output, spm_model_file=ft_spm_model,
        max_seq_length=SEQ, max_qa_length=QA, pad_to_batch_size=3, num_workers=1))
    records = parse_records(output)
    assert summary["padding_examples"] == 2 and [r["is_real_example"][0] for r in records] == [1, 1, 1, 1, 0, 0]
    assert records[-1]["input_ids"] == [0] * (4 * SEQ)


def _article(**overrides):
    article = {"id": "x", "article": "a b c", "questions": ["q _ ?"], "options": [["a", "b", "c", "d"]],
               "answers": ["A"]}
    article.update(overrides)
    return json.dumps(article)


@pytest.mark.parametrize(
    "content,message",
    [
        (_article(options=[["a", "b", "c"]]), r"1\.txt, line 1: question 0 has 3 options; RACE questions have exactly 4"),
        (_article(options=[["a", "b", "c", "d", "e"]]), r"question 0 has 5 options"),
        (_article(answers=["E"]), r"question 0 has answer 'E'; expected one of A, B, C, D"),
        (_article(answers=["A", "B"]), r"1 questions, 1 option lists and 2 answers"),
        ('{"article": "x"}', r"line 1: expected an object with article, questions, options, answers"),
        ("{not json", r"line 1: not valid JSON"),
        ("", r"1\.txt is empty"),
        ("\n" + _article() + "\n" + _article(options=[["a"]]), r"line 3: question 0 has 1 options"),
    ],
)
def test_bad_input_names_the_file_and_line(tmp_path, content, message):
    write(str(tmp_path / "RACE" / "dev" / "middle" / "1.txt"), content)
    with pytest.raises(race.RaceDataError, match=message):
        race.read_examples(str(tmp_path), "dev")


def test_missing_split_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder RACE/dev"):
        race.read_examples(str(tmp_path), "dev")
