"""Acceptance run of the fine-tuning records on real data (``/work/shared/data``).

Every processor parses every file there and must find the published counts (GLUE train/dev/test
rows, SQuAD v1.1 dev 10,570 questions, RACE 17 dev questions); records are written for each file.
For SQuAD dev, gold-position logits (start and end on the pieces that hold the first gold answer's
first and last character) go through the original's v1 post-processing: the recovered text must
equal the gold text for at least 99% of the answerable questions, and the predictions must score
EM = F1 = 100 with the official SQuAD 1.1 script. Results go to
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
