"""Acceptance run of the fine-tuning records on real data (``/work/shared/data``).

Every processor parses every file there and must find the published counts (GLUE train/dev/test
rows, SQuAD v1.1 dev 10,570 questions, RACE 17 dev questions); records are written for each file.
For SQuAD dev, gold-position logits (start and end on the pieces that hold the first gold answer's
first and last character) go through the original's v1 post-processing: the recovered text must
equal the gold text for at least 99% of the answerable questions, and the predictions must score
EM = F1 = 100 with the official SQuAD 1.1 script. GLUE dev features and a sample of SQuAD features
must equal tf-models-official's ports of the original code. Results go to
``docs/finetuning_data_acceptance.json``::

    python -m tools.acceptance_finetuning_data --data_dir /work/shared/data --work_dir /tmp/ftdata_acceptance

Without ``--spm_model_file`` a vocabulary of 8,000 pieces is trained with the original recipe on
WikiText-2 (valid + test) and cached in ``--work_dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Optional

# Published counts (GLUE, SQuAD and RACE releases; PROVENANCE.md of each folder).
GLUE_COUNTS = {
    ("sst-2", "SST-2"): {"train": 67349, "dev": 872, "test": 1821},
    ("cola", "CoLA"): {"train": 8551, "dev": 1043},
    ("mrpc", "MRPC"): {"train": 3668, "dev": 408, "test": 1725},
    ("sts-b", "STS-B"): {"train": 5749, "dev": 1500, "test": 1379},
    ("rte", "RTE"): {"train": 2490, "dev": 277, "test": 3000},
}
RACE_COUNTS = {"train": 22, "dev": 17, "test": 22}
SQUAD_DEV_QUESTIONS = 10570
GOLD_TEXT_TARGET = 0.99


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", default="/work/shared/data")
    parser.add_argument("--work_dir", default="/tmp/ftdata_acceptance")
    parser.add_argument("--spm_model_file", default=None)
    parser.add_argument("--output", default="docs/finetuning_data_acceptance.json")
    parser.add_argument("--num_workers", type=int, default=None)
    parser.add_argument("--max_seq_length", type=int, default=128, help="GLUE and RACE (default: 128)")
    return parser


def vocabulary(args) -> str:
    if args.spm_model_file:
        return args.spm_model_file
    from albert_tf.text.tokenizer import preprocess_text
    from data_prep.vocab import train_sentencepiece

    path = os.path.join(args.work_dir, "wikitext2_8k.model")
    if not os.path.exists(path):
        lines = []
        for name in ("wiki.valid.tokens", "wiki.test.tokens"):
            with open(os.path.join(args.data_dir, "wikitext-2", name), encoding="utf-8") as f:
                lines.extend(preprocess_text(line, lower=True) for line in f if line.strip())
        with open(path + ".incomplete", "wb") as f:
            f.write(train_sentencepiece(lines, vocab_size=8000))
        os.replace(path + ".incomplete", path)
    return path


def squad_v1_scores(dataset, predictions) -> dict:
    """Official SQuAD 1.1 EM/F1 (0-100): albert_tf.metrics when it is there, else tf-models' copy."""
    try:
        from albert_tf.metrics import squad_v1_scores as scores

        result = dict(scores(dataset, predictions))
        return {"exact_match": result["exact_match"], "f1": result["f1"], "scorer": "albert_tf.metrics"}
    except ImportError:
        from official.nlp.tools import squad_evaluate_v1_1

        result = squad_evaluate_v1_1.evaluate(dataset, predictions)  # fractions, "final_f1"
        return {"exact_match": 100.0 * result["exact_match"], "f1": 100.0 * result["final_f1"],
                "scorer": "official.nlp.tools.squad_evaluate_v1_1.evaluate (x100)"}


def _piece_span_text(feature_set, feature, logits):
    start = int(logits[0].argmax()) - feature["doc_offset"]
    end = int(logits[1].argmax()) - feature["doc_offset"]
    context = feature_set.context(feature["example_index"])
    text = context[feature["tok_start_to_orig_index"][start]: feature["tok_end_to_orig_index"][end] + 1].strip()
    return text, end - start + 1, bool(feature["token_is_max_context"][start])


def squad_gold_check(meta_file: str, input_file: str, max_seq_length: int, max_answer_length: int = 30) -> dict:
    """Gold answers -> gold-position logits -> the original v1 post-processing -> texts and scores.

    ``first``: the first gold answer of every question (its recovered text must equal the gold text).
    ``copy``: per question the first gold answer that pieces can reproduce exactly, as a prediction
    that copies a gold answer; scored with the official script, with the original's
    ``max_answer_length`` and without a length limit.
    """
    from albert_tf.tasks.squad import gold_position_logits, load_squad_features, postprocess_v1

    feature_set = load_squad_features(meta_file)
    by_example = feature_set.features_by_example()
    first, copy = {}, {}
    unreproducible = 0
    for example_index, example in enumerate(feature_set.examples):
        features = by_example.get(example_index, [])
        chosen = None
        for k, (text, start) in enumerate(zip(example["answers"], example["answer_starts"])):
            logits = {f["unique_id"]: gold_position_logits(feature_set, f, start, text, max_seq_length)
                      for f in features}
            logits = {u: v for u, v in logits.items() if v is not None}
            if k == 0:
                first.update(logits)
            if chosen is None:
                spans = [_piece_span_text(feature_set, f, logits[f["unique_id"]]) for f in features
                         if f["unique_id"] in logits]
                if any(t == text and ok for t, _, ok in spans):
                    chosen = logits
        if chosen is None:
            unreproducible += 1
            chosen = {u: v for u, v in first.items() if u in {f["unique_id"] for f in features}}
        copy.update(chosen)
    predictions_first, _ = postprocess_v1(feature_set, first, max_answer_length=max_answer_length)
    answerable = [e for e in feature_set.examples if e["answers"]]
    equal = sum(predictions_first.get(e["qas_id"]) == e["answers"][0] for e in answerable)
    mismatches = [
        {"id": e["qas_id"], "gold": e["answers"][0], "recovered": predictions_first.get(e["qas_id"])}
        for e in answerable if predictions_first.get(e["qas_id"]) != e["answers"][0]
    ]
    with open(input_file, encoding="utf-8") as f:
        dataset = json.load(f)["data"]
    copy_limited, _ = postprocess_v1(feature_set, copy, max_answer_length=max_answer_length)
    copy_unlimited, _ = postprocess_v1(feature_set, copy, max_answer_length=max_seq_length)
    return {
        "answerable_questions": len(answerable),
        "max_answer_length": max_answer_length,
        "first_gold_text_recovered": equal,
        "first_gold_text_recovered_share": equal / max(len(answerable), 1),
        "target_share": GOLD_TEXT_TARGET,
        "questions_without_a_gold_answer_on_piece_boundaries": unreproducible,
        "official_scores_copying_a_gold_answer": squad_v1_scores(dataset, dict(copy_unlimited)),
        "official_scores_copying_a_gold_answer_max_answer_length": squad_v1_scores(dataset, dict(copy_limited)),
        "official_scores_first_gold_answer": squad_v1_scores(dataset, dict(predictions_first)),
        "first_gold_mismatch_examples": mismatches[:40],
    }


def reference_checks(args, model: str, glue_dir: str, squad_file: str) -> dict:
    """Our features against tf-models-official's ports of the original on the real files.

    GLUE dev sets through ``classifier_data_lib.convert_single_example``; a sample of 120 SQuAD dev
    paragraphs (first answer of each question) through ``squad_lib_sp`` as training and as evaluation
    features. tf-models' tokenizer drops the digit-comma "▁" the original keeps, so ours runs with
    ``keep_spurious_underline=False`` here.
    """
    import random

    import numpy as np
    from official.nlp.data import classifier_data_lib, squad_lib_sp
    from official.nlp.tools import tokenization

    from albert_tf.tasks.glue import glue_task
    from albert_tf.text.tokenizer import AlbertTokenizer
    from data_prep import glue, squad

    ours_tokenizer = AlbertTokenizer(model, keep_spurious_underline=False)
    ref_tokenizer = tokenization.FullSentencePieceTokenizer(model)
    out = {}
    for (task, folder) in GLUE_COUNTS:
        examples = glue.read_examples(task, os.path.join(glue_dir, folder), "dev")
        features, _ = glue.convert_examples(examples, task, ours_tokenizer, args.max_seq_length)
        labels = glue_task(task).labels
        mismatches = 0
        for i, e in enumerate(examples):
            ref = classifier_data_lib.convert_single_example(
                i, classifier_data_lib.InputExample(e.guid, e.text_a, e.text_b, e.label),
                list(labels) if labels else None, args.max_seq_length, ref_tokenizer)
            mismatches += not (features["input_ids"][i].tolist() == ref.input_ids
                               and features["segment_ids"][i].tolist() == ref.segment_ids
                               and features["input_mask"][i].tolist() == ref.input_mask
                               # records hold STS-B scores as float32
                               and features["label_ids"][i][0] == np.asarray(ref.label_id, features["label_ids"].dtype))
        out[f"{task}_dev"] = {"examples": len(examples), "mismatches": mismatches}
    with open(squad_file, encoding="utf-8") as f:
        paragraphs = [p for article in json.load(f)["data"] for p in article["paragraphs"]]
    sample = random.Random(0).sample(paragraphs, 120)
    for paragraph in sample:
        for qa in paragraph["qas"]:
            qa["answers"] = qa["answers"][:1]
    sample_file = os.path.join(args.work_dir, "squad_dev_sample.json")
    with open(sample_file, "w", encoding="utf-8") as f:
        json.dump({"data": [{"title": "sample", "paragraphs": sample}]}, f)
    for is_training in (True, False):
        ref_examples = squad_lib_sp.read_squad_examples(sample_file, is_training, False)
        ref = []
        squad_lib_sp.convert_examples_to_features(
            ref_examples, ref_tokenizer, 384, 128, 64, is_training,
            lambda feature, is_padding=False: None if is_padding else ref.append(feature),
            do_lower_case=True, batch_size=1)
        ours, _ = squad.convert_examples(squad.read_squad_examples(sample_file, is_training), 0, ours_tokenizer,
                                         384, 128, 64, is_training)
        mismatches = abs(len(ours) - len(ref))
        for mine, r in zip(ours, ref):
            same = (mine.input_ids == r.input_ids and mine.segment_ids == r.segment_ids
                    and mine.input_mask == r.input_mask and mine.p_mask == [1 - m for m in r.paragraph_mask]
                    and mine.tok_start_to_orig_index == r.tok_start_to_orig_index
                    and mine.tok_end_to_orig_index == r.tok_end_to_orig_index
                    and {mine.doc_offset + k: bool(v) for k, v in enumerate(mine.token_is_max_context)}
                    == r.token_is_max_context)
            if is_training:
                same = same and (mine.start_position, mine.end_position, mine.is_impossible) == (
                    r.start_position, r.end_position, int(r.is_impossible))
            mismatches += not same
        out["squad_dev_sample_" + ("train" if is_training else "eval")] = {
            "questions": len(ref_examples), "features": len(ours), "reference_features": len(ref),
            "mismatches": mismatches}
    return out


def main(argv: Optional[list] = None) -> int:
    args = build_parser().parse_args(argv)
    from data_prep.finetuning import FinetuningDataConfig, create_finetuning_data

    os.makedirs(args.work_dir, exist_ok=True)
    started = time.time()
    model = vocabulary(args)
    report = {"command": "python -m tools.acceptance_finetuning_data " + " ".join(argv or sys.argv[1:]),
              "spm_model_file": model, "cpu": platform.processor() or platform.machine(), "runs": [],
              "checks": {}}
    failures = []

    def run(name, expected, **flags):
        output = os.path.join(args.work_dir, f"{name}.tfrecord")
        summary = create_finetuning_data(FinetuningDataConfig(
            output_file=output, spm_model_file=model, num_workers=args.num_workers, **flags))
        row = {"name": name, "examples": summary["examples"], "expected_examples": expected,
               "records": summary["records"], "features": summary["features"],
               "truncated_share": round(summary["truncated_share"], 4), "seconds": summary["seconds"]["total"],
               "ok": summary["examples"] == expected}
        for key in ("alignment_failures",):
            if key in summary:
                row[key] = summary[key]
        report["runs"].append(row)
        print(json.dumps(row))
        if not row["ok"]:
            failures.append(f"{name}: {summary['examples']} examples, expected {expected}")
        return summary

    glue_dir = os.path.join(args.data_dir, "glue_data")
    for (task, folder), counts in GLUE_COUNTS.items():
        for split, expected in counts.items():
            run(f"{task}_{split}", expected, task=task, data_dir=os.path.join(glue_dir, folder), split=split,
                max_seq_length=args.max_seq_length)
    for split, expected in RACE_COUNTS.items():
        run(f"race_{split}", expected, task="race", data_dir=os.path.join(args.data_dir, "race"), split=split,
            max_seq_length=args.max_seq_length)
    squad_file = os.path.join(args.data_dir, "squad", "dev-v1.1.json")
    summary = run("squad_v1_dev", SQUAD_DEV_QUESTIONS, task="squad_v1", input_file=squad_file, split="dev")
    check = squad_gold_check(summary["meta_file"], squad_file, summary["max_seq_length"])
    report["checks"]["squad_v1_dev_gold_positions"] = check
    scores = check["official_scores_copying_a_gold_answer"]
    print(json.dumps({k: v for k, v in check.items() if k != "first_gold_mismatch_examples"}))
    if check["first_gold_text_recovered_share"] < GOLD_TEXT_TARGET:
        failures.append(f"gold text recovered for {check['first_gold_text_recovered_share']:.4f} < {GOLD_TEXT_TARGET}")
    if not (scores["exact_match"] == 100 and scores["f1"] == 100):
        failures.append(f"predictions copying a gold answer score EM {scores['exact_match']:.3f}, "
                        f"F1 {scores['f1']:.3f}, not 100")
    parity = reference_checks(args, model, glue_dir, squad_file)
    report["checks"]["equal_to_tf_models_official"] = parity
    print(json.dumps(parity))
    failures.extend(f"{name}: {row['mismatches']} features differ from tf-models-official"
                    for name, row in parity.items() if row["mismatches"])
    report["failures"] = failures
    report["passed"] = not failures
    report["seconds"] = round(time.time() - started, 1)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output + ".incomplete", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(args.output + ".incomplete", args.output)
    print("PASSED" if not failures else "FAILED: " + "; ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
