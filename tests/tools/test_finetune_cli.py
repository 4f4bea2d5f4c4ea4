"""`albert-finetune` end to end on tiny fixtures written here: raw TSVs -> cached records -> train, eval,
predict, outputs; the records cache; errors as one line; a TF-free --help (kills: `test_resume_after_kill`)."""

import json
import os
import random
import subprocess
import sys

import pytest

from tests.data_prep.generated_text import make_sentence, make_words, train_tiny_model
from tests.tools.shared_runs import build_once

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = {"vocab_size": 300, "embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 2,
          "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 64,
          "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}


def write_glue(folder, header, rows_per_split, make_row):
    os.makedirs(folder, exist_ok=True)
    for split, count in rows_per_split.items():
        with open(os.path.join(folder, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write(header[split] + "\n")
            for i in range(count):
                f.write(make_row(split, i) + "\n")
    return str(folder)


def write_inputs(root):
    rng = random.Random(5)
    words = make_words(rng, 60)

    def sst_row(split, i):
        label = i % 2
        text = make_sentence(rng, words, 2, 12) + (" good" if label else "")
        return f"{i}\t{text}" if split == "test" else f"{text}\t{label}"

    write_glue(root / "SST-2", {"train": "sentence\tlabel", "dev": "sentence\tlabel", "test": "index\tsentence"},
               {"train": 40, "dev": 12, "test": 7}, sst_row)

    def sts_row(split, i):
        a, b = make_sentence(rng, words, 2, 8), make_sentence(rng, words, 2, 8)
        score = "" if split == "test" else f"\t{(i % 6) * 1.0:.1f}"
        return f"{i}\tmain\t2012\t{i}\t0\t0\t0\t{a}\t{b}{score}"

    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"
    write_glue(root / "STS-B", {"train": header + "\tscore", "dev": header + "\tscore", "test": header},
               {"train": 24, "dev": 9, "test": 5}, sts_row)
    (root / "albert_config.json").write_text(json.dumps(CONFIG))
    train_tiny_model(root)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """Tiny GLUE folders, a SentencePiece model and a config, shared by every module of the session."""
    root = build_once(tmp_path_factory, "finetune_cli_inputs", write_inputs)
    return {"root": root, "spm": str(root / "tiny.model"), "sst": str(root / "SST-2"), "sts": str(root / "STS-B"),
            "config": str(root / "albert_config.json")}


#: The uninterrupted SST-2 run: trained, evaluated at each checkpoint, predicted and exported. Its outputs
#: are checked here and are the reference of the runs killed in `test_resume_after_kill`.
STRAIGHT = ("--do_train", "--do_eval", "--do_predict", "--train_step=12", "--save_checkpoints_steps=4", "--export")


@pytest.fixture(scope="module")
def straight_finetune(fixtures, tmp_path_factory):
    """`(output_dir, stdout)` of the uninterrupted SST-2 run, made once per session."""
    def build(folder):
        done = run(finetune(fixtures, folder / "run", *STRAIGHT))
        (folder / "stdout.txt").write_text(done.stdout)

    folder = build_once(tmp_path_factory, "finetune_sst2_straight", build)
    return folder / "run", (folder / "stdout.txt").read_text()


def env():
    return dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")


def finetune(fixtures, output_dir, *extra, task="sst-2", data=None):
    return [sys.executable, "-m", "tools.finetune", f"--task={task}", f"--data_dir={data or fixtures['sst']}",
            f"--spm_model_file={fixtures['spm']}", f"--albert_config_file={fixtures['config']}",
            f"--output_dir={output_dir}", "--max_seq_length=32", "--train_batch_size=8", "--eval_batch_size=4",
            "--predict_batch_size=4", "--learning_rate=1e-3", "--warmup_step=2", "--strategy=one_device",
            "--precision=fp32", "--verbose=0", "--iterations_per_loop=2", "--noexport", *extra]


def run(args, timeout=600):
    done = subprocess.run(args, env=env(), cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def read_eval_results(output_dir):
    lines = (output_dir / "eval_results.txt").read_text().splitlines()
    return {key: float(value) for key, value in (line.split(" = ") for line in lines)}


def test_help_does_not_import_tensorflow():
    code = ("import sys\nfrom tools import finetune\n"
            "try:\n    finetune.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TF_IMPORTED' if 'tensorflow' in sys.modules or 'keras' in sys.modules else 'TF_FREE')")
    done = subprocess.run([sys.executable, "-c", code], env=env(), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "--train_step" in done.stdout and "--bucket_by_length" in done.stdout
    assert done.stdout.strip().endswith("TF_FREE")


def check_glue_run(out, stdout, task, metric, steps, count, exported):
    assert f"albert-finetune {task} finished" in stdout
    scores = read_eval_results(out)
    assert metric in scores and "eval_loss" in scores and scores["global_step"] in range(4, steps + 1, 4)
    submit = (out / "submit_results.tsv").read_text().splitlines()
    assert submit[0] == "index\tprediction" and len(submit) == count + 1
    assert len((out / "test_results.tsv").read_text().splitlines()) == count
    assert (out / "model.keras").exists() and (out / "best").is_dir()
    assert (out / "saved_model" / "saved_model.pb").exists() == exported
    results = json.loads((out / "results.json").read_text())
    assert results["train_steps"] == steps and results["options"]["bucket_by_length"] is True
    records = sorted(os.listdir(out / "records"))
    assert sum(r.endswith(".tf_record") for r in records) == 3  # train, dev, test


def test_glue_regression_train_eval_predict(fixtures, tmp_path):
    out = tmp_path / "sts-b"
    # --num_train_epochs sets a GLUE run's length too: 24 examples / batch 8 x 2.7 epochs = 8 steps.
    done = run(finetune(fixtures, out, "--do_train", "--do_eval", "--do_predict", "--num_train_epochs=2.7",
                        "--save_checkpoints_steps=4", task="sts-b", data=fixtures["sts"]))
    check_glue_run(out, done.stdout, "sts-b", "pearson", steps=8, count=5, exported=False)


def test_records_cache_is_keyed_by_inputs_and_flags(fixtures, tmp_path):
    from tools import finetune as cli

    folder = tmp_path / "SST-2"
    folder.mkdir()
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        (folder / name).write_text(open(os.path.join(fixtures["sst"], name)).read())

    def records(*extra):
        args = cli.build_parser().parse_args(["--task=sst-2", f"--data_dir={folder}", f"--spm_model_file={fixtures['spm']}",
                                              f"--output_dir={tmp_path / 'out'}", "--do_eval", *extra])
        from albert_tf.tasks import get_task

        args.max_seq_length = args.max_seq_length or 32
        return cli.resolve_records(args, get_task("sst-2"))[1][0]

    first = records()
    built = os.path.getmtime(first)
    assert records() == first and os.path.getmtime(first) == built  # reused, not rebuilt
    assert records("--max_seq_length=24") != first  # a flag changes the key
    assert records("--do_lower_case=false") != first
    with open(folder / "dev.tsv", "a", encoding="utf-8") as f:
        f.write("one more sentence .\t1\n")
    changed = records()
    assert changed != first and os.path.exists(first)  # an input change builds new records
    assert not any(name.endswith(".incomplete") for name in os.listdir(tmp_path / "out" / "records"))


def test_init_from_a_pretrained_model_file(fixtures, tmp_path):
    import keras

    from albert_tf import AlbertConfig, AlbertPretrainer

    pretrainer = AlbertPretrainer(AlbertConfig.from_json_file(fixtures["config"]))
    pretrainer.save(str(tmp_path / "pretrained.keras"))
    out = tmp_path / "run"
    run(finetune(fixtures, out, "--do_eval", f"--init_checkpoint={tmp_path / 'pretrained.keras'}"))
    results = json.loads((out / "results.json").read_text())
    assert "backbone" in results["initialised_from"] and "eval_accuracy" in results["eval"]
    del keras


@pytest.mark.parametrize("extra,message", [
    (["--task=nope"], "--task 'nope' is unknown"),
    (["--albert_config_file=/nonexistent/config.json"], "/nonexistent/config.json"),
    (["--data_dir=/nonexistent/glue"], "/nonexistent/glue"),
])
def test_errors_are_one_line_without_traceback(fixtures, tmp_path, extra, message):
    args = finetune(fixtures, tmp_path / "out", "--do_eval") + extra
    done = subprocess.run(args, env=env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert message in done.stderr and "Traceback" not in done.stderr


def _squad_json(rng, words, version):
    paragraphs = []
    for p in range(6):
        sentences = [make_sentence(rng, words, 3, 8) for _ in range(4)]
        context = " ".join(sentences)
        qas = []
        for q, sentence in enumerate(sentences[:3]):
            answer = sentence.split()[1]
            start = context.index(sentence) + sentence.index(" " + answer) + 1
            impossible = version == 2 and q == 2
            qa = {"id": f"q{p}-{q}", "question": "what about " + " ".join(sentence.split()[:1] + sentence.split()[2:4]) + "?",
                  "answers": [] if impossible else [{"text": answer, "answer_start": start}]}
            if version == 2:
                qa["is_impossible"] = impossible
            qas.append(qa)
        paragraphs.append({"context": context, "qas": qas})
    return {"version": "1.1" if version == 1 else "v2.0", "data": [{"title": "t", "paragraphs": paragraphs}]}


@pytest.mark.parametrize("version", [1, 2])
def test_squad_train_eval_predict(fixtures, tmp_path, version):
    rng = random.Random(version)
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(_squad_json(rng, make_words(rng, 50), version)))
    out = tmp_path / "run"
    task = f"squad_v{version}"
    run(finetune(fixtures, out, "--do_train", "--do_eval", "--do_predict", f"--train_file={path}",
                 f"--predict_file={path}", "--train_step=6", "--save_checkpoints_steps=6", "--max_seq_length=64",
                 "--doc_stride=32", "--max_query_length=16", "--n_best_size=5", task=task, data=str(tmp_path)))
    scores = read_eval_results(out)
    assert 0.0 <= scores["f1"] <= 100.0 and ("exact_match" in scores or "exact" in scores)
    predictions = json.loads((out / "predictions.json").read_text())
    nbest = json.loads((out / "nbest_predictions.json").read_text())
    assert len(predictions) == 18 and set(nbest) == set(predictions)
    assert all(1 <= len(entries) <= 5 and abs(sum(e["probability"] for e in entries) - 1) < 1e-4 for entries in nbest.values())
    assert (out / "null_odds.json").exists() == (version == 2)
    if version == 2:
        assert set(json.loads((out / "null_odds.json").read_text())) == set(predictions)
        assert "null_score_diff_threshold" in scores


def test_race_train_eval_predict(fixtures, tmp_path):
    rng = random.Random(11)
    words = make_words(rng, 50)
    for split, articles in (("train", 4), ("dev", 2), ("test", 1)):
        for level in ("middle", "high"):
            folder = tmp_path / "RACE" / split / level
            folder.mkdir(parents=True)
            for n in range(articles):
                article = {"id": f"{split}/{level}/{n}.txt", "article": " ".join(make_sentence(rng, words) for _ in range(3)),
                           "questions": ["which one _ here?", "what is said"],
                           "options": [[make_sentence(rng, words, 1, 3) for _ in range(4)] for _ in range(2)],
                           "answers": [rng.choice("ABCD"), rng.choice("ABCD")]}
                (folder / f"{n}.txt").write_text(json.dumps(article))
    out = tmp_path / "run"
    run(finetune(fixtures, out, "--do_train", "--do_eval", "--do_predict", "--train_step=4", "--save_checkpoints_steps=4",
                 "--train_batch_size=4", "--max_qa_length=12", task="race", data=str(tmp_path)))
    scores = read_eval_results(out)
    assert 0.0 <= scores["eval_accuracy"] <= 1.0 and scores["global_step"] == 4
    # Per level from the levels written beside the records: 2 articles x 2 questions in each folder.
    assert scores["middle_total"] == 4 and scores["high_total"] == 4
    overall = (scores["middle_accuracy"] * 4 + scores["high_accuracy"] * 4) / 8
    assert abs(overall - scores["eval_accuracy"]) < 1e-9
    submit = (out / "submit_results.tsv").read_text().splitlines()
    assert len(submit) == 1 + 4 and all(line.split("\t")[1] in "ABCD" for line in submit[1:])
    assert all(len(line.split("\t")) == 4 for line in (out / "test_results.tsv").read_text().splitlines())


# Last in the module: the session's shared run may still be in the making on another worker.
def test_glue_classification_train_eval_predict_export(straight_finetune):
    out, stdout = straight_finetune
    check_glue_run(out, stdout, "sst-2", "eval_accuracy", steps=12, count=7, exported=True)


def test_lora_flags_in_help_and_a_rank_of_zero_refused(capsys):
    from albert_tf.models.lora import TARGETS
    from tools import export, finetune

    text = " ".join(finetune.build_parser().format_help().split())
    for flag in ("--lora_rank R", "--lora_alpha", "--lora_targets", "--lora_train_layernorm"):
        assert flag in text
    assert "e.g. --lora_rank 8 (default: 0, full fine-tuning" in text and "(default: query,value)" in text
    assert all(target in text for target in TARGETS)  # the help's list follows the library's
    assert "e.g. --merge_lora false (default: true)" in " ".join(export.build_parser().format_help().split())
    for rank in ("0", "-3"):
        with pytest.raises(SystemExit) as exit_:
            finetune.build_parser().parse_args(["--task=sst-2", "--output_dir=x", f"--lora_rank={rank}"])
        assert exit_.value.code == 2
        assert capsys.readouterr().err.splitlines()[-1] == (
            f"albert-finetune: error: argument --lora_rank: expected a positive integer, got '{rank}'")
