"""Acceptance run: real text -> vocabulary -> pretraining records -> a small ALBERT pretrained on CPU.

Uses ../shared/data (WikiText-2 and the NLTK Gutenberg selection); writes everything under --work_dir,
and the curves (CSV + PNG) and a summary into --docs_dir. Each stage is skipped when its output exists,
so an interrupted run picks up where it stopped (pretraining resumes from its last checkpoint).

    python tools/acceptance_pretrain.py --shared ../shared/data --work_dir /tmp/albert_acceptance \\
        --minutes 22 --docs_dir docs
"""

import argparse
import csv
import glob
import json
import os
import subprocess
import sys
import time

CONFIG = {  # a small ALBERT: H=256, L=6, E=128
    "vocab_size": None,
    "embedding_size": 128,
    "hidden_size": 256,
    "num_hidden_layers": 6,
    "num_hidden_groups": 1,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
    "inner_group_num": 1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
}


def _records_summary(path):
    if not os.path.exists(path):
        return None
    summary = json.load(open(path))
    return {k: summary.get(k) for k in ("corpus", "totals", "seconds", "instances_per_second", "warnings")}


def write_glue_train_text(glue_dir, folders, out, group=8):
    """The train-split sentences of GLUE tasks as pretraining documents (one sentence per line, blank line after
    each document): a pair task's two texts make one document; single-sentence tasks' rows are grouped ``group``
    to a document so that short rows still fill a sequence."""
    from data_prep import glue

    lines = []
    for folder in folders:
        examples = glue.read_examples(folder.lower(), os.path.join(glue_dir, folder), "train", do_lower_case=False)
        pending = []
        for example in examples:
            # An empty text would read as a blank line, which ends a document.
            texts = [t for t in (example.text_a, example.text_b) if t is not None and t.strip()]
            if example.text_b is not None:
                lines += texts + [""] if texts else []
                continue
            pending += texts
            if len(pending) >= group:
                lines += pending + [""]
                pending = []
        if pending:
            lines += pending + [""]
        print(f"{folder}: {len(examples)} training examples into the corpus", flush=True)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, out)


def run(command, log):
    print(f"$ {' '.join(command)}", flush=True)
    with open(log, "a") as f:
        f.write(f"$ {' '.join(command)}\n")
        f.flush()
        done = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit(f"stage failed (exit {done.returncode}); see {log}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    p.add_argument("--work_dir", default="/tmp/albert_acceptance")
    p.add_argument("--docs_dir", default="docs")
    p.add_argument("--vocab_size", type=int, default=8000)
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--max_predictions_per_seq", type=int, default=20)
    p.add_argument("--dupe_factor", type=int, default=5)
    p.add_argument("--train_batch_size", type=int, default=64)
    p.add_argument("--num_train_steps", type=int, default=2000)
    p.add_argument("--learning_rate", type=float, default=0.00176)
    p.add_argument("--save_checkpoints_steps", type=int, default=100)
    p.add_argument("--hidden_size", type=int, default=CONFIG["hidden_size"],
                   help="H; the heads are H/64 and the feed-forward 4H")
    p.add_argument("--num_hidden_layers", type=int, default=CONFIG["num_hidden_layers"])
    p.add_argument("--glue_train_text", default="",
                   help="comma-separated folders of <shared>/glue_data (e.g. SST-2,MRPC) whose train-split text, labels "
                        "dropped, joins the pretraining corpus (task-adaptive pretraining); dev and test never do")
    p.add_argument("--general_text", default="wiki,gutenberg",
                   help="which general-domain texts join the corpus: a comma-separated subset of wiki (WikiText-2 "
                        "valid) and gutenberg (the NLTK selection), or none; WikiText-2 test stays held out either way")
    args = p.parse_args(argv)
    # Every stage below is skipped when its output exists, so re-running after a finished run only
    # rewrites the report.

    general = [t.strip() for t in args.general_text.split(",") if t.strip() and t.strip() != "none"]
    if set(general) - {"wiki", "gutenberg"}:
        p.error(f"--general_text {args.general_text!r}: expected a comma-separated subset of wiki,gutenberg, or none")
    shared = os.path.abspath(args.shared)
    folders = [t.strip() for t in args.glue_train_text.split(",") if t.strip()]
    for folder in folders:
        train_file = os.path.join(shared, "glue_data", folder, "train.tsv")
        if not os.path.exists(train_file):
            p.error(f"--glue_train_text: {folder!r} has no {train_file}; name task folders of glue_data, e.g. SST-2,MRPC")
    if not general and not folders:
        p.error("--general_text none leaves no pretraining text: name task folders with --glue_train_text")
    py = sys.executable
    w = args.work_dir
    os.makedirs(w, exist_ok=True)
    os.makedirs(args.docs_dir, exist_ok=True)
    log = os.path.join(w, "acceptance.log")
    started = time.time()
    stages = {}

    # 1. Documents: WikiText-2 valid + Gutenberg for training, WikiText-2 test held out.
    corpus = {
        "wiki_train.txt": ("wikitext", os.path.join(shared, "wikitext-2", "wiki.valid.tokens")),
        "wiki_eval.txt": ("wikitext", os.path.join(shared, "wikitext-2", "wiki.test.tokens")),
        "gutenberg.txt": ("wrapped", os.path.join(shared, "gutenberg-nltk") + "/*.txt"),
    }
    tick = time.time()
    for name, (fmt, source) in corpus.items():
        out = os.path.join(w, name)
        if not os.path.exists(out):
            run([py, "-m", "tools.prepare_corpus", "--input", source, "--output", out, "--format", fmt], log)
    train_files = [{"wiki": "wiki_train.txt", "gutenberg": "gutenberg.txt"}[g] for g in general]
    if folders:
        out = os.path.join(w, "glue_train.txt")
        if not os.path.exists(out):
            write_glue_train_text(os.path.join(shared, "glue_data"), folders, out)
        train_files.append("glue_train.txt")
    stages["corpus_s"] = time.time() - tick
    train_text = ",".join(os.path.join(w, n) for n in train_files)

    # 2. Vocabulary.
    tick = time.time()
    prefix = os.path.join(w, "spm")
    if not os.path.exists(prefix + ".model"):
        run([py, "-m", "tools.train_vocab", "--input", train_text, "--model_prefix", prefix,
             "--vocab_size", str(args.vocab_size), "--do_lower_case", "true"], log)
    stages["vocab_s"] = time.time() - tick

    # 3. Records.
    tick = time.time()
    common = ["--spm_model_file", prefix + ".model", "--do_lower_case", "true", "--max_seq_length", str(args.max_seq_length),
              "--max_predictions_per_seq", str(args.max_predictions_per_seq)]
    if not glob.glob(os.path.join(w, "train-*.tfrecord")):
        run([py, "-m", "tools.create_pretraining_data", "--input_file", train_text,
             "--output_file", os.path.join(w, "train-{shard}.tfrecord"), "--dupe_factor", str(args.dupe_factor), *common], log)
    if not glob.glob(os.path.join(w, "eval-*.tfrecord")):
        run([py, "-m", "tools.create_pretraining_data", "--input_file", os.path.join(w, "wiki_eval.txt"),
             "--output_file", os.path.join(w, "eval-{shard}.tfrecord"), "--dupe_factor", "1", *common], log)
    stages["records_s"] = time.time() - tick

    # 4. Pretraining.
    config = dict(CONFIG, vocab_size=args.vocab_size, hidden_size=args.hidden_size,
                  num_hidden_layers=args.num_hidden_layers, num_attention_heads=max(1, args.hidden_size // 64),
                  intermediate_size=4 * args.hidden_size)
    config_file = os.path.join(w, "albert_config.json")
    with open(config_file, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    out = os.path.join(w, "pretrain")
    tick = time.time()
    results_file = os.path.join(out, "results.json")
    finished = os.path.exists(results_file) and json.load(open(results_file)).get("train_batches") == args.num_train_steps
    if not finished:
        run([py, "-m", "tools.pretrain", "--albert_config_file", config_file,
             "--input_file", os.path.join(w, "train-*.tfrecord"), "--eval_input_file", os.path.join(w, "eval-*.tfrecord"),
             "--output_dir", out, "--train_batch_size", str(args.train_batch_size), "--eval_batch_size", "64",
             "--max_seq_length", str(args.max_seq_length), "--max_predictions_per_seq", str(args.max_predictions_per_seq),
             "--num_train_steps", str(args.num_train_steps), "--num_warmup_steps", str(args.num_train_steps // 20),
             "--learning_rate", str(args.learning_rate), "--save_checkpoints_steps", str(args.save_checkpoints_steps),
             "--iterations_per_loop", str(args.save_checkpoints_steps), "--do_eval", "--max_eval_steps", "50",
             "--strategy", "one_device", "--verbose", "2"], log)
    stages["pretrain_s"] = time.time() - tick

    # 5. Curves and summary.
    rows = list(csv.DictReader(open(os.path.join(out, "train_metrics.csv"))))
    for row in rows:
        if "step" not in row:  # runs written before train_metrics.csv had a step column
            row["step"] = (int(row["epoch"]) + 1) * args.save_checkpoints_steps
        row["step"] = int(row["step"])
    curve = os.path.join(args.docs_dir, "pretrain_acceptance.csv")
    with open(curve, "w", newline="") as f:
        fields = ["step", "loss", "masked_lm_accuracy", "masked_lm_loss", "sentence_order_accuracy", "sentence_order_loss"]
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    results = json.load(open(os.path.join(out, "results.json")))
    stages["pretrain_s"] = results.get("train_seconds", stages["pretrain_s"])  # also right on a report-only re-run
    summary = {"stages_seconds": stages, "total_seconds": time.time() - started, "config": config,
               "final_train": results.get("train"), "held_out_eval": results.get("eval"),
               "records": _records_summary(os.path.join(w, "train.summary.json"))}
    with open(os.path.join(args.docs_dir, "pretrain_acceptance.json"), "w") as f:
        json.dump(summary, f, indent=2, default=str)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = [r["step"] for r in rows]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        axes[0].plot(steps, [float(r["masked_lm_accuracy"]) for r in rows], label="MLM accuracy")
        axes[0].plot(steps, [float(r["sentence_order_accuracy"]) for r in rows], label="SOP accuracy")
        axes[0].axhline(0.5, color="grey", linestyle=":", linewidth=1)
        axes[0].set_xlabel("step")
        axes[0].set_ylabel("training accuracy (mean over 100 steps)")
        axes[0].legend()
        axes[1].plot(steps, [float(r["masked_lm_loss"]) for r in rows], label="MLM loss")
        axes[1].plot(steps, [float(r["sentence_order_loss"]) for r in rows], label="SOP loss")
        axes[1].set_xlabel("step")
        axes[1].legend()
        corpus_name = "WikiText-2 + Gutenberg" + (f" + GLUE train text ({args.glue_train_text})" if folders else "")
        fig.suptitle(f"ALBERT H={config['hidden_size']} L={config['num_hidden_layers']} E=128 on {corpus_name}, CPU, {stages['pretrain_s'] / 60:.0f} min")
        fig.tight_layout()
        fig.savefig(os.path.join(args.docs_dir, "pretrain_acceptance.png"), dpi=110)
    except ImportError:
        print("matplotlib is not installed: CSV written, no plot")
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
