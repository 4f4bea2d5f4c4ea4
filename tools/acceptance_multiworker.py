"""Acceptance run: `albert-pretrain` on two local workers (MultiWorkerMirroredStrategy over 127.0.0.1), each
reading its own shards of WikiText-2 records, with one worker killed midway and both restarted.

    python -m tools.acceptance_multiworker --shared ../shared/data --work_dir /tmp/albert_multiworker \\
        --num_train_steps 300 --kill_at 120 --docs_dir docs

Checks what a user relies on: both workers finish, the restarted run resumes from the chief's last
checkpoint, only the chief wrote into --output_dir, and the loss falls. Writes
`multiworker_acceptance.json` (and the chief's train_metrics.csv as `multiworker_acceptance.csv`)
into --docs_dir.
"""

import argparse
import csv
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from .bench_training_resilience import CONFIG, PREDS, SEQ, build_records, free_ports


def start(work, output_dir, steps, save_every, env):
    ports = free_ports(2)
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        command = [sys.executable, "-m", "tools.pretrain", f"--albert_config_file={work}/albert_config.json",
                   f"--input_file={work}/train-*.tfrecord", f"--output_dir={output_dir}", "--train_batch_size=32",
                   f"--max_seq_length={SEQ}", f"--max_predictions_per_seq={PREDS}", f"--num_train_steps={steps}",
                   f"--num_warmup_steps={steps // 20}", f"--save_checkpoints_steps={save_every}",
                   "--iterations_per_loop=10", "--log_every_steps=10", "--learning_rate=0.005",
                   "--strategy=multi_worker", "--precision=fp32", "--verbose=0"]
        log = open(os.path.join(work, f"worker{index}.log"), "a")
        workers.append(subprocess.Popen(command, env=dict(env, TF_CONFIG=json.dumps(tf_config)), stdout=log,
                                        stderr=subprocess.STDOUT))
    return workers


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    p.add_argument("--work_dir", default="/tmp/albert_multiworker")
    p.add_argument("--docs_dir", default="docs")
    p.add_argument("--num_train_steps", type=int, default=300)
    p.add_argument("--save_checkpoints_steps", type=int, default=50)
    p.add_argument("--kill_at", type=int, default=120, help="kill worker 1 once the chief's checkpoints pass this step")
    args = p.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3")
    os.makedirs(args.work_dir, exist_ok=True)
    os.makedirs(args.docs_dir, exist_ok=True)
    build_records(os.path.abspath(args.shared), args.work_dir)
    with open(os.path.join(args.work_dir, "albert_config.json"), "w") as f:
        json.dump(CONFIG, f)
    output_dir = os.path.join(args.work_dir, "run")
    shutil.rmtree(output_dir, ignore_errors=True)
    started = time.time()

    workers = start(args.work_dir, output_dir, args.num_train_steps, args.save_checkpoints_steps, env)
    state = os.path.join(output_dir, "checkpoints", "checkpoint")
    killed_after = None
    while all(w.poll() is None for w in workers):
        if os.path.exists(state):
            latest = open(state).read().split('"')[1]
            if int(latest.rsplit("-", 1)[1]) >= args.kill_at:
                workers[1].send_signal(signal.SIGKILL)
                killed_after = latest
                break
        time.sleep(0.2)
    try:
        workers[0].wait(timeout=120)
    except subprocess.TimeoutExpired:
        workers[0].kill()
    for w in workers:
        w.wait()
    first_leg = time.time() - started

    workers = start(args.work_dir, output_dir, args.num_train_steps, args.save_checkpoints_steps, env)
    codes = [w.wait() for w in workers]
    if any(codes):
        sys.exit(f"restarted workers exited {codes}; see {args.work_dir}/worker*.log")
    results = json.load(open(os.path.join(output_dir, "results.json")))
    rows = list(csv.DictReader(open(os.path.join(output_dir, "train_metrics.csv"))))
    shutil.copy(os.path.join(output_dir, "train_metrics.csv"), os.path.join(args.docs_dir, "multiworker_acceptance.csv"))
    summary = {
        "config": CONFIG, "num_train_steps": args.num_train_steps, "worker_killed_after": killed_after,
        "resumed_from": results.get("resumed_from"), "train_batches": results["train_batches"],
        "replicas": results["replicas"], "first_loss": float(rows[0]["loss"]), "last_loss": float(rows[-1]["loss"]),
        "event_files": len(glob.glob(os.path.join(output_dir, "tensorboard", "train", "events.*"))),
        "first_leg_s": first_leg, "total_s": time.time() - started, "final_train": results.get("train"),
    }
    # One TensorBoard file per start of the chief, none from the other worker.
    ok = (summary["train_batches"] == args.num_train_steps and summary["event_files"] == (2 if killed_after else 1)
          and summary["last_loss"] < summary["first_loss"] and (killed_after is None or summary["resumed_from"]))
    summary["passed"] = bool(ok)
    with open(os.path.join(args.docs_dir, "multiworker_acceptance.json"), "w") as f:
        json.dump(summary, f, indent=2, default=str)
    print(json.dumps(summary, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
