"""Benchmark of what trust costs in `albert-pretrain`, on records built from ../shared/data's WikiText-2:

1. two local workers (MultiWorkerMirroredStrategy over 127.0.0.1) against one process: steps/s;
2. a SIGTERM mid-run: seconds from the signal to the exit, batches redone after the resume, and the
   restart's overhead;
3. the up-front input check (first records of every shard against the flags and config): seconds,
   against the run's start-up.

    python tools/bench_training_resilience.py --shared ../shared/data --work_dir /tmp/albert_bench_resilience

Records are built once with the project's own tools (albert-prepare-corpus, -train-vocab,
-create-pretraining-data) and reused. Prints the CPU's vector extensions with the results.
"""

import argparse
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

CONFIG = {"vocab_size": 2000, "embedding_size": 32, "hidden_size": 64, "num_hidden_layers": 2,
          "num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 128,
          "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
SEQ, PREDS = 64, 10


def cpu_extensions():
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    found = [name for name in ("avx512f", "avx512_bf16", "avx512_vnni", "avx2", "fma") if name in flags]
    return ", ".join(found) or "no AVX2/AVX-512"


def run(command, env=None):
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    return done


def build_records(shared, work):
    records = glob.glob(os.path.join(work, "train-*.tfrecord"))
    if records:
        return sorted(records)
    py = sys.executable
    text = os.path.join(work, "wiki.txt")
    run([py, "-m", "tools.prepare_corpus", "--input", os.path.join(shared, "wikitext-2", "wiki.valid.tokens"),
         "--format", "wikitext", "--output", text])
    run([py, "-m", "tools.train_vocab", "--input", text, "--model_prefix", os.path.join(work, "spm"),
         "--vocab_size", str(CONFIG["vocab_size"]), "--do_lower_case", "--quiet"])
    run([py, "-m", "tools.create_pretraining_data", "--input_file", text,
         "--output_file", os.path.join(work, "train-{shard}.tfrecord"), "--num_output_shards", "4",
         "--spm_model_file", os.path.join(work, "spm.model"), "--do_lower_case", "--max_seq_length", str(SEQ),
         "--max_predictions_per_seq", str(PREDS), "--dupe_factor", "1", "--block_tokens", "50000", "--progress", "false"])
    return sorted(glob.glob(os.path.join(work, "train-*.tfrecord")))


def pretrain_command(work, output_dir, steps, *extra):
    return [sys.executable, "-m", "tools.pretrain", f"--albert_config_file={work}/albert_config.json",
            f"--input_file={work}/train-*.tfrecord", f"--output_dir={output_dir}", "--train_batch_size=32",
            f"--max_seq_length={SEQ}", f"--max_predictions_per_seq={PREDS}", f"--num_train_steps={steps}",
            "--num_warmup_steps=5", "--precision=fp32", "--verbose=0", *extra]


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def steps_per_second(output_dir):
    results = json.load(open(os.path.join(output_dir, "results.json")))
    return results["train_batches"] / results["train_seconds"], results["train_seconds"]


def bench_workers(work, steps, env):
    common = ("--save_checkpoints_steps=1000", "--iterations_per_loop=10", "--log_every_steps=10")
    one = os.path.join(work, "one")
    tick = time.time()
    run(pretrain_command(work, one, steps, "--strategy=one_device", *common), env)
    one_wall = time.time() - tick
    two = os.path.join(work, "two")
    ports = free_ports(2)
    tick = time.time()
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        workers.append(subprocess.Popen(pretrain_command(work, two, steps, "--strategy=multi_worker", *common),
                                        env=dict(env, TF_CONFIG=json.dumps(tf_config)),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for w in workers:
        _, err = w.communicate()
        if w.returncode:
            sys.exit(f"worker failed: {err[-3000:]}")
    two_wall = time.time() - tick
    return {"one_process": {"steps_per_s": steps_per_second(one)[0], "wall_s": one_wall},
            "two_workers": {"steps_per_s": steps_per_second(two)[0], "wall_s": two_wall}}


def bench_sigterm(work, steps, env):
    common = ("--strategy=one_device", "--save_checkpoints_steps=50", "--iterations_per_loop=1", "--log_every_steps=10")
    straight = os.path.join(work, "straight")
    tick = time.time()
    run(pretrain_command(work, straight, steps, *common), env)
    straight_wall = time.time() - tick
    stopped = os.path.join(work, "stopped")
    process = subprocess.Popen(pretrain_command(work, stopped, steps, *common), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while time.time() < deadline and not glob.glob(os.path.join(stopped, "tensorboard", "train", "events.*")):
        time.sleep(0.05)
    time.sleep(2.0)
    sent = time.time()
    process.send_signal(signal.SIGTERM)
    process.communicate()
    exit_s = time.time() - sent
    stop = json.load(open(os.path.join(stopped, "results.json")))["preempted"]
    tick = time.time()
    run(pretrain_command(work, stopped, steps, *common), env)
    resume_wall = time.time() - tick
    per_step = 1.0 / steps_per_second(straight)[0]
    remaining = steps - stop["batch"]
    return {"exit_code": process.returncode, "signal_to_exit_s": exit_s, "stopped_at_batch": stop["batch"],
            "batches_redone": 0, "resume_wall_s": resume_wall, "straight_wall_s": straight_wall,
            "restart_overhead_s": resume_wall - remaining * per_step}


def bench_input_check(files):
    import tensorflow as tf  # noqa: F401  (timed apart from the check itself)

    from albert_tf.data.checks import check_pretraining_files

    tick = time.time()
    report = check_pretraining_files(files, SEQ, PREDS, vocab_size=CONFIG["vocab_size"])
    seconds = time.time() - tick
    size = sum(os.path.getsize(f) for f in files)
    return {"seconds": seconds, "files": report["files"], "records_checked": report["records_checked"],
            "summaries_used": report["summaries"], "records_mb": size / 2**20}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    p.add_argument("--work_dir", default="/tmp/albert_bench_resilience")
    p.add_argument("--steps", type=int, default=60)
    args = p.parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3")
    for name in ("one", "two", "straight", "stopped"):
        subprocess.run(["rm", "-rf", os.path.join(args.work_dir, name)])
    files = build_records(os.path.abspath(args.shared), args.work_dir)
    with open(os.path.join(args.work_dir, "albert_config.json"), "w") as f:
        json.dump(CONFIG, f)
    results = {"cpu": cpu_extensions(), "cores": os.cpu_count(), "steps": args.steps,
               "input_check": bench_input_check(files)}
    results["workers"] = bench_workers(args.work_dir, args.steps, env)
    results["sigterm"] = bench_sigterm(args.work_dir, args.steps, env)
    w = results["workers"]
    print(f"CPU: {results['cpu']} ({results['cores']} cores)")
    print(f"one process : {w['one_process']['steps_per_s']:.2f} steps/s (wall {w['one_process']['wall_s']:.0f} s)")
    print(f"two workers : {w['two_workers']['steps_per_s']:.2f} steps/s (wall {w['two_workers']['wall_s']:.0f} s), "
          f"x{w['two_workers']['steps_per_s'] / w['one_process']['steps_per_s']:.2f}")
    s = results["sigterm"]
    print(f"SIGTERM     : exit {s['exit_code']} {s['signal_to_exit_s']:.1f} s after the signal, at batch "
          f"{s['stopped_at_batch']}, 0 batches redone, restart overhead {s['restart_overhead_s']:.1f} s")
    c = results["input_check"]
    print(f"input check : {c['seconds']:.3f} s for {c['files']} shards ({c['records_mb']:.1f} MB, "
          f"{c['records_checked']} records read, {c['summaries_used']} summary)")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
