"""Acceptance run for the paper's Table 5 direction: a model pretrained on sentence-order prediction (SOP)
solves next-sentence prediction (NSP) better than an NSP-trained model solves SOP.

Two small ALBERTs per seed, identical in every setting but the sentence-pair records they train on
(`albert-create-pretraining-data` with and without `--random_next_sentence`, same text, vocabulary and
seed), are each scored on held-out NSP *and* SOP pairs made from WikiText-2's test split. The paper
(ALBERT-base, 125k steps): NSP-trained 90.5 NSP / 52.0 SOP, SOP-trained 78.9 NSP / 86.5 SOP.

Every stage is skipped when its output exists, and a pretraining run resumes from its last checkpoint,
so the same command picks up where an interrupted one stopped:

    python tools/acceptance_sop_nsp.py --shared ../shared/data --work_dir /tmp/albert_sop_nsp \\
        --seeds 1,2 --num_train_steps 1500 --docs_dir docs

Writes `<docs_dir>/sop_vs_nsp.json` (every score, per seed, with 95% intervals) and prints the table.
"""

import argparse
import glob
import json
import os
import sys
import time

from albert_tf.io import write_text_atomic
from tools.acceptance_pretrain import run  # a stage as a logged subprocess; a failure stops the run

OBJECTIVES = ("sop", "nsp")
PAPER = {"nsp": {"nsp": 0.905, "sop": 0.520}, "sop": {"nsp": 0.789, "sop": 0.865}}


def wilson(correct: int, total: int):
    """The 95% Wilson interval of a proportion (held-out pairs are independent draws)."""
    from scipy import stats

    interval = stats.binomtest(correct, total).proportion_ci(confidence_level=0.95, method="wilson")
    return (interval.low, interval.high)


def seed_interval(values):
    """Mean and the 95% t-interval over seeds (None with a single seed)."""
    import numpy as np
    from scipy import stats

    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, None
    low, high = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=stats.sem(values))
    return mean, (float(low), float(high))


def label_shares(work_dir, split="heldout"):
    """The share of label 1 (not in order / not the next segment) in each held-out set, from its summary."""
    shares = {}
    for task in OBJECTIVES:
        with open(os.path.join(work_dir, f"{split}-{task}.summary.json")) as f:
            shares[task] = json.load(f)["totals"]["label_1_share"]
    return shares


def split_document_tails(source: str, kept: str, tails: str, fraction: float) -> int:
    """Writes each document of `source` (blank-line separated, one sentence a line) without its last
    `fraction` of lines to `kept`, and those lines, as a document of their own, to `tails`.

    The tails are held-out text from documents the model trained on: a model that answers NSP by recognising
    the document scores well on their pairs and not on new documents'. Documents under 10 lines stay whole.
    Returns how many documents gave a tail. Writes are atomic.
    """
    with open(source, encoding="utf-8") as f:
        documents = [block.strip("\n").split("\n") for block in f.read().split("\n\n") if block.strip()]
    kept_docs, tail_docs = [], []
    for lines in documents:
        cut = len(lines) - int(len(lines) * fraction)
        if len(lines) < 10 or cut == len(lines):
            kept_docs.append(lines)
            continue
        kept_docs.append(lines[:cut])
        tail_docs.append(lines[cut:])
    for path, docs in ((kept, kept_docs), (tails, tail_docs)):
        write_text_atomic(path, "\n\n".join("\n".join(lines) for lines in docs) + "\n")
    return len(tail_docs)


def score(model_file, eval_pattern, max_seq_length, max_predictions_per_seq):
    """(correct, total) of the sentence head on every pair of the held-out records."""
    import keras
    import numpy as np
    import tensorflow as tf

    import albert_tf  # noqa: F401  (registers the classes model.keras names)
    from albert_tf.data.pretraining import pretraining_dataset

    model = keras.saving.load_model(model_file, compile=False)
    dataset = pretraining_dataset(eval_pattern, 64, max_seq_length, max_predictions_per_seq, is_training=False,
                                  drop_remainder=False)
    forward = tf.function(lambda batch: model(batch, training=False)["sop_logits"])  # eager calls crawl
    correct = total = 0
    for batch in dataset:
        logits = forward(batch)
        predicted = np.argmax(np.asarray(logits, dtype=np.float32), axis=-1)
        labels = batch["next_sentence_labels"].numpy().reshape(-1)
        correct += int((predicted == labels).sum())
        total += int(labels.size)
    return correct, total


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    p.add_argument("--work_dir", default="/tmp/albert_sop_nsp")
    p.add_argument("--docs_dir", default="docs")
    p.add_argument("--seeds", default="1,2", help="comma-separated; each seed pretrains one model per objective")
    p.add_argument("--vocab_size", type=int, default=8000)
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--max_predictions_per_seq", type=int, default=20)
    p.add_argument("--dupe_factor", type=int, default=3)
    p.add_argument("--hidden_size", type=int, default=128, help="H; heads H/64, feed-forward 4H")
    p.add_argument("--num_hidden_layers", type=int, default=4)
    p.add_argument("--embedding_size", type=int, default=64)
    p.add_argument("--train_batch_size", type=int, default=64)
    p.add_argument("--num_train_steps", type=int, default=1500)
    p.add_argument("--learning_rate", type=float, default=2e-3,
                   help="LAMB; the same for both objectives (the budget is small, so above the sqrt-scaled rate)")
    p.add_argument("--heldout_tail", type=float, default=0.0,
                   help="also hold out the last FRACTION of every training document (e.g. 0.1) and score both models "
                        "on pairs from those tails: held-out text of documents seen in training (0: off)")
    args = p.parse_args(argv)
    if not 0.0 <= args.heldout_tail < 0.5:
        p.error(f"--heldout_tail: expected a fraction in [0, 0.5); got {args.heldout_tail}")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not seeds:
        p.error("--seeds: expected at least one integer, e.g. 1,2")
    shared = os.path.abspath(args.shared)
    for needed in ("wikitext-2/wiki.valid.tokens", "wikitext-2/wiki.test.tokens", "gutenberg-nltk"):
        if not os.path.exists(os.path.join(shared, needed)):
            p.error(f"--shared: {os.path.join(shared, needed)} does not exist (expected ../shared/data)")
    py, w = sys.executable, os.path.abspath(args.work_dir)
    os.makedirs(w, exist_ok=True)
    os.makedirs(args.docs_dir, exist_ok=True)
    log = os.path.join(w, "acceptance.log")
    started = time.time()

    # 1. Text: WikiText-2 valid + Gutenberg to pretrain on, WikiText-2 test held out for both scores.
    corpus = {"train_wiki.txt": ("wikitext", os.path.join(shared, "wikitext-2", "wiki.valid.tokens")),
              "train_gutenberg.txt": ("wrapped", os.path.join(shared, "gutenberg-nltk") + "/*.txt"),
              "heldout.txt": ("wikitext", os.path.join(shared, "wikitext-2", "wiki.test.tokens"))}
    for name, (fmt, source) in corpus.items():
        if not os.path.exists(os.path.join(w, name)):
            run([py, "-m", "tools.prepare_corpus", "--input", source, "--output", os.path.join(w, name),
                 "--format", fmt], log)
    protocol = os.path.join(w, "protocol.json")
    made = json.load(open(protocol)) if os.path.exists(protocol) else {"heldout_tail": args.heldout_tail}
    if made.get("heldout_tail", 0.0) != args.heldout_tail:
        p.error(f"--work_dir {w} was made with another --heldout_tail ({made}); use a new one")
    write_text_atomic(protocol, json.dumps({"heldout_tail": args.heldout_tail}))
    train_names = ["train_wiki.txt", "train_gutenberg.txt"]
    splits = [("heldout", os.path.join(w, "heldout.txt"))]
    if args.heldout_tail:
        tails = []
        for name in train_names:
            kept, tail = name.replace(".txt", ".kept.txt"), name.replace(".txt", ".tails.txt")
            if not (os.path.exists(os.path.join(w, kept)) and os.path.exists(os.path.join(w, tail))):
                count = split_document_tails(os.path.join(w, name), os.path.join(w, kept), os.path.join(w, tail),
                                             args.heldout_tail)
                print(f"{name}: the last {args.heldout_tail:.0%} of {count} documents held out", flush=True)
            tails.append(os.path.join(w, tail))
        train_names = [n.replace(".txt", ".kept.txt") for n in train_names]
        splits.append(("tails", ",".join(tails)))
    train_text = ",".join(os.path.join(w, n) for n in train_names)

    # 2. One vocabulary for both.
    spm = os.path.join(w, "spm")
    if not os.path.exists(spm + ".model"):
        run([py, "-m", "tools.train_vocab", "--input", train_text, "--model_prefix", spm,
             "--vocab_size", str(args.vocab_size), "--do_lower_case", "true"], log)

    # 3. Records: the same text, seed and masking; only the second segment's rule differs.
    common = ["--spm_model_file", spm + ".model", "--do_lower_case", "true", "--max_seq_length", str(args.max_seq_length),
              "--max_predictions_per_seq", str(args.max_predictions_per_seq), "--random_seed", "12345"]
    for objective in OBJECTIVES:
        flag = ["--random_next_sentence", "true" if objective == "nsp" else "false"]
        for split, text, dupe in (("train", train_text, args.dupe_factor), *((name, text, 1) for name, text in splits)):
            if not glob.glob(os.path.join(w, f"{split}-{objective}-*.tfrecord")):
                run([py, "-m", "tools.create_pretraining_data", "--input_file", text, "--output_file",
                     os.path.join(w, f"{split}-{objective}-{{shard}}.tfrecord"), "--dupe_factor", str(dupe),
                     *common, *flag], log)

    # 4. Pretraining: one model per objective and seed, every other setting equal.
    config = {"vocab_size": args.vocab_size, "embedding_size": args.embedding_size, "hidden_size": args.hidden_size,
              "num_hidden_layers": args.num_hidden_layers, "num_attention_heads": max(1, args.hidden_size // 64),
              "intermediate_size": 4 * args.hidden_size, "num_hidden_groups": 1, "inner_group_num": 1,
              "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
              "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02}
    config_file = os.path.join(w, "albert_config.json")
    with open(config_file, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    runs = {}
    for seed in seeds:
        for objective in OBJECTIVES:
            out = os.path.join(w, f"pretrain-{objective}-seed{seed}")
            runs[(objective, seed)] = out
            results = os.path.join(out, "results.json")
            if os.path.exists(results) and json.load(open(results)).get("train_batches") == args.num_train_steps:
                continue
            run([py, "-m", "tools.pretrain", "--albert_config_file", config_file,
                 "--input_file", os.path.join(w, f"train-{objective}-*.tfrecord"), "--output_dir", out,
                 "--train_batch_size", str(args.train_batch_size), "--max_seq_length", str(args.max_seq_length),
                 "--max_predictions_per_seq", str(args.max_predictions_per_seq),
                 "--num_train_steps", str(args.num_train_steps), "--num_warmup_steps", str(args.num_train_steps // 20),
                 "--learning_rate", str(args.learning_rate), "--save_checkpoints_steps", "250",
                 "--iterations_per_loop", "250", "--log_every_steps", "50", "--seed", str(seed),
                 "--strategy", "one_device", "--precision", "fp32", "--verbose", "0", "--export_dir", "none"], log)

    # 5. Each model on both kinds of held-out pairs.
    # "nsp"/"sop": pairs from new documents; "tails_nsp"/"tails_sop": from the held-out tails of training ones.
    columns = [(task, "heldout", task) for task in ("nsp", "sop")]  # the table's column order, as the paper's
    if args.heldout_tail:
        columns += [(f"tails_{task}", "tails", task) for task in ("nsp", "sop")]
    scores = {}
    for (objective, seed), out in runs.items():
        for column, split, task in columns:
            correct, total = score(os.path.join(out, "model.keras"), os.path.join(w, f"{split}-{task}-*.tfrecord"),
                                   args.max_seq_length, args.max_predictions_per_seq)
            scores.setdefault(objective, {}).setdefault(column, []).append(
                {"seed": seed, "accuracy": correct / total, "pairs": total, "wilson95": wilson(correct, total)})
    table = {}
    for objective in OBJECTIVES:
        for column, _, task in columns:
            mean, interval = seed_interval([s["accuracy"] for s in scores[objective][column]])
            table[f"{objective}_trained_on_{column}"] = {"mean": mean, "seeds95": interval,
                                                         "paper": PAPER[objective][task]}
    summary = {"command": "python tools/acceptance_sop_nsp.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "config": config, "seeds": seeds, "num_train_steps": args.num_train_steps,
               "train_batch_size": args.train_batch_size, "learning_rate": args.learning_rate,
               "scores": scores, "table": table, "seconds": time.time() - started}
    majority = {task: max(share, 1 - share) for task, share in label_shares(w).items()}
    if args.heldout_tail:
        majority.update({f"tails_{task}": max(share, 1 - share) for task, share in label_shares(w, "tails").items()})
    summary["majority_baseline"] = majority
    write_text_atomic(os.path.join(args.docs_dir, "sop_vs_nsp.json"), json.dumps(summary, indent=2))
    titles = {"nsp": "held-out NSP", "sop": "held-out SOP", "tails_nsp": "NSP, tails of training documents",
              "tails_sop": "SOP, tails of training documents"}
    names = [column for column, _, _ in columns]
    print("majority-class baseline: " + ", ".join(f"{titles[c]} {majority[c]:.3f}" for c in names))
    print("| pretrained on | " + " | ".join(titles[c] for c in names) + " | paper NSP / SOP |")
    print("|---" * (len(names) + 2) + "|")
    for objective in OBJECTIVES:
        cells = []
        for column in names:
            row = table[f"{objective}_trained_on_{column}"]
            spread = "" if row["seeds95"] is None else f" [{row['seeds95'][0]:.3f}, {row['seeds95'][1]:.3f}]"
            cells.append(f"{row['mean']:.3f}{spread}")
        print(f"| {objective.upper()} | " + " | ".join(cells)
              + f" | {PAPER[objective]['nsp']:.3f} / {PAPER[objective]['sop']:.3f} |")


if __name__ == "__main__":
    main()
