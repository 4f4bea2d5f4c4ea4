"""Acceptance run: fine-tune the small pretrained ALBERT and, side by side, the same architecture from random
initialisation on SST-2, MRPC, STS-B and RTE (../shared/data/glue_data), through `albert-finetune`.

Every run goes through the console script (raw TSVs -> cached records -> fit -> dev scores), with the
same seed, records, steps and hyper-parameters for both initialisations; only --init_checkpoint differs.
Results and the exact commands go to <docs_dir>/finetune_acceptance.{json,md}. Runs whose
eval_results.txt exists are not repeated, so an interrupted acceptance picks up where it stopped.

    python tools/acceptance_finetune.py --pretrained /tmp/albert_acceptance/pretrain/model.keras \\
        --spm_model_file /tmp/albert_acceptance/spm.model --docs_dir docs
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

METRICS = {"sst-2": "eval_accuracy", "mrpc": "eval_accuracy", "sts-b": "pearson", "rte": "eval_accuracy"}
FOLDERS = {"sst-2": "SST-2", "mrpc": "MRPC", "sts-b": "STS-B", "rte": "RTE"}


def read_eval_results(path):
    with open(path, encoding="utf-8") as f:
        return {k: float(v) for k, v in (line.strip().split(" = ") for line in f if " = " in line)}


def _train_rows(folder):
    with open(os.path.join(folder, "train.tsv"), encoding="utf-8") as f:
        return sum(1 for _ in f) - 1  # the header


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    p.add_argument("--pretrained", default="/tmp/albert_acceptance/pretrain/model.keras",
                   help="the model tools/acceptance_pretrain.py pretrained (model.keras or checkpoint)")
    p.add_argument("--albert_config_file", default=None, help="default: albert_config.json beside the pretraining run")
    p.add_argument("--spm_model_file", default="/tmp/albert_acceptance/spm.model")
    p.add_argument("--work_dir", default="/tmp/albert_finetune_acceptance")
    p.add_argument("--docs_dir", default="docs")
    p.add_argument("--tasks", default="sst-2,mrpc,sts-b,rte")
    p.add_argument("--train_step", type=int, default=None,
                   help="steps per task (default: --num_train_epochs over the task's training set, at most --max_train_step)")
    p.add_argument("--num_train_epochs", type=float, default=3.0)
    p.add_argument("--max_train_step", type=int, default=1500)
    p.add_argument("--train_batch_size", type=int, default=32)
    p.add_argument("--eval_batch_size", type=int, default=64)
    p.add_argument("--learning_rate", type=float, default=1e-4)
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--seeds", default="12345",
                   help="comma-separated seeds; each runs both initialisations and the report gives the mean over seeds")
    p.add_argument("--note", default="", help="a sentence about the pretrained model, copied into the report")
    args = p.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    if not seeds:
        p.error("--seeds: give at least one seed")

    config = args.albert_config_file
    if config is None:
        base = args.pretrained if os.path.isdir(args.pretrained) else os.path.dirname(args.pretrained)
        config = next((c for c in (os.path.join(base, "albert_config.json"), os.path.join(base, "..", "albert_config.json"))
                       if os.path.exists(c)), None)
    if config is None or not os.path.exists(config):
        sys.exit(f"no albert_config.json beside {args.pretrained}; pass --albert_config_file")
    shared = os.path.abspath(args.shared)
    os.makedirs(args.work_dir, exist_ok=True)
    os.makedirs(args.docs_dir, exist_ok=True)
    log = os.path.join(args.work_dir, "acceptance.log")
    runs = []
    for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        steps = args.train_step or min(args.max_train_step, max(1, int(
            args.num_train_epochs * _train_rows(os.path.join(shared, "glue_data", FOLDERS[task])) / args.train_batch_size)))
        for seed, (start, init) in ((seed, pair) for seed in seeds for pair in (
                ("pretrained", os.path.abspath(args.pretrained)), ("random init", None))):
            # The default seed keeps the folder names of runs made before --seeds, so they are not repeated.
            out = os.path.join(args.work_dir, task, start.replace(" ", "_") + ("" if seed == 12345 else f"-seed{seed}"))
            command = [
                sys.executable, "-m", "tools.finetune", f"--task={task}", "--do_train", "--do_eval",
                f"--data_dir={os.path.join(shared, 'glue_data', FOLDERS[task])}",
                f"--albert_config_file={os.path.abspath(config)}", f"--spm_model_file={os.path.abspath(args.spm_model_file)}",
                f"--output_dir={out}", f"--cached_dir={os.path.join(args.work_dir, task, 'records')}",
                f"--max_seq_length={args.max_seq_length}", f"--train_step={steps}",
                f"--warmup_step={steps // 10}", f"--train_batch_size={args.train_batch_size}",
                f"--eval_batch_size={args.eval_batch_size}", f"--learning_rate={args.learning_rate}",
                f"--save_checkpoints_steps={steps}", "--strategy=one_device", "--precision=fp32",
                "--noexport", "--verbose=2", f"--seed={seed}",
            ] + ([f"--init_checkpoint={init}"] if init else [])
            results_file = os.path.join(out, "eval_results.txt")
            tick = time.time()
            if not os.path.exists(results_file):
                print(f"$ {' '.join(command)}", flush=True)
                with open(log, "a", encoding="utf-8") as f:
                    f.write(f"$ {' '.join(command)}\n")
                    f.flush()
                    done = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT)
                if done.returncode:
                    sys.exit(f"{task} ({start}) failed with exit code {done.returncode}; see {log}")
            scores = read_eval_results(results_file)
            results = json.load(open(os.path.join(out, "results.json"), encoding="utf-8"))
            runs.append({"task": task, "start": start, "seed": seed, "metric": METRICS[task], "value": scores[METRICS[task]], "steps": steps,
                         "scores": scores, "train_seconds": results.get("train_seconds"),
                         "wall_seconds": time.time() - tick, "command": " ".join(command)})
            print(f"{task:6} {start:11} seed {seed} {METRICS[task]} = {scores[METRICS[task]]:.4f}", flush=True)

    with open(config, encoding="utf-8") as f:
        model_config = json.load(f)
    summary = {"settings": vars(args), "config": model_config, "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
               "runs": runs}
    lines = [
        "# Fine-tuning acceptance: pretrained vs random initialisation (GLUE dev sets)",
        "",
        f"Model: ALBERT E={model_config['embedding_size']}, H={model_config['hidden_size']}, "
        f"L={model_config['num_hidden_layers']}, vocab {model_config['vocab_size']} (the acceptance pretraining's "
        f"SentencePiece model). {args.note}".rstrip(),
        "",
        f"Each run: {args.num_train_epochs:g} epochs of the task's training set (at most {args.max_train_step} steps; "
        f"the steps column) in batches of {args.train_batch_size} (AdamW, lr {args.learning_rate}, "
        f"10% warm-up steps, linear decay), max_seq_length {args.max_seq_length}, length buckets, "
        f"fp32 on CPU ({summary['machine']}); the full dev set scored once at the end. Same seeds, records and "
        "settings for both columns; only `--init_checkpoint` differs.",
        "",
        f"Seeds: {', '.join(map(str, seeds))}; the pretrained and random-init columns are means over them, each "
        "seed's value in brackets.",
        "",
        "| task | steps | dev metric | pretrained | random init | difference | train s (pretrained / random) |",
        "|---|---|---|---|---|---|---|",
    ]
    by_task = {}
    for run in runs:
        by_task.setdefault(run["task"], {}).setdefault(run["start"], []).append(run)

    def cell(group):
        values = [r["value"] for r in group]
        each = " (" + ", ".join(f"{v:.4f}" for v in values) + ")" if len(values) > 1 else ""
        return sum(values) / len(values), f"{sum(values) / len(values):.4f}{each}"

    summary["means"] = {}
    for task, pair in by_task.items():
        a, b = pair.get("pretrained"), pair.get("random init")
        if a and b:
            (ma, ca), (mb, cb) = cell(a), cell(b)
            summary["means"][task] = {"metric": a[0]["metric"], "pretrained": ma, "random init": mb, "difference": ma - mb}
            seconds = [sum(r["train_seconds"] or 0 for r in g) / len(g) for g in (a, b)]
            lines.append(f"| {task} | {a[0]['steps']} | {a[0]['metric']} | {ca} | {cb} | {ma - mb:+.4f} | "
                         f"{seconds[0]:.0f} / {seconds[1]:.0f} |")
    with open(os.path.join(args.docs_dir, "finetune_acceptance.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    table = list(lines)
    lines += ["", "Commands:", "", "```"] + [run["command"] for run in runs] + ["```", ""]
    with open(os.path.join(args.docs_dir, "finetune_acceptance.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print("\n".join(table))


if __name__ == "__main__":
    main()
