"""Benchmark: start-up of every console script and the whole albert-create-pretraining-data process.

Everything is timed as a separate process, as a user runs it: ``--help`` of each console script in
setup.cfg, ``import tensorflow`` alone (what each process used to pay), and the whole pretraining-
data job on the issue's corpus (WikiText-2 valid + three Gutenberg books, a 3k vocabulary,
``--dupe_factor 3``, ``--max_seq_length 128``) next to a process running the original script's
algorithm (:mod:`data_prep.original_algorithm`, which imports TensorFlow as the original did).
Each figure is the fastest of ``--repeats`` runs (wall seconds), with the CPU seconds of that run
(the process and its workers). With ``--reference_dir`` the records are compared byte for byte
with those of an earlier run::

    python -m tools.bench_startup --data_dir ../shared/data --work_dir /tmp/bench_startup
"""

from __future__ import annotations

import argparse
import configparser
import filecmp
import glob
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data"))
BOOKS = ("austen-persuasion.txt", "chesterton-brown.txt", "shakespeare-hamlet.txt")


def cpu_extensions() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "unknown"
    return "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "neither AVX2 nor AVX-512"


def timed(args, env=None, cwd=None):
    """``(wall seconds, CPU seconds of the process and its children)`` of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def fastest(runs, make_args, **kwargs):
    results = [timed(make_args(n), **kwargs) for n in range(runs)]
    return min(results)


def console_scripts():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(REPO, "setup.cfg"))
    scripts = {}
    for line in parser["options.entry_points"]["console_scripts"].strip().splitlines():
        name, target = (part.strip() for part in line.split("="))
        scripts[name] = target.split(":")[0]
    return scripts


def prepare_inputs(data_dir: str, work_dir: str, env) -> tuple:
    corpus = os.path.join(work_dir, "corpus.txt")
    python = sys.executable
    if not os.path.exists(corpus):
        wiki, books = os.path.join(work_dir, "wiki.txt"), os.path.join(work_dir, "books.txt")
        subprocess.run([python, "-m", "tools.prepare_corpus", "--format", "wikitext", "--output", wiki,
                        "--input", os.path.join(data_dir, "wikitext-2", "wiki.valid.tokens")], check=True, env=env)
        subprocess.run([python, "-m", "tools.prepare_corpus", "--format", "wrapped", "--output", books, "--input",
                        ",".join(os.path.join(data_dir, "gutenberg-nltk", b) for b in BOOKS)], check=True, env=env)
        with open(corpus + ".incomplete", "w", encoding="utf-8") as out:
            for n, part in enumerate((wiki, books)):
                with open(part, encoding="utf-8") as f:
                    out.write(("\n" if n else "") + f.read())
        os.replace(corpus + ".incomplete", corpus)
    prefix = os.path.join(work_dir, "spm3k")
    if not os.path.exists(prefix + ".model"):
        subprocess.run([python, "-m", "tools.train_vocab", "--input", corpus, "--model_prefix", prefix,
                        "--vocab_size", "3000", "--do_lower_case", "--quiet"], check=True, env=env)
    return corpus, prefix + ".model"


ORIGINAL = """
import sys, tensorflow  # the original script's first imports
from albert_tf.text.tokenizer import AlbertTokenizer
from data_prep.original_algorithm import OriginalFlags, create_instances, write_instances
corpus, model, out = sys.argv[1:4]
tokenizer = AlbertTokenizer(model, do_lower_case=True)
flags = OriginalFlags(max_seq_length=128, dupe_factor=3, max_predictions_per_seq=20, random_seed=12345)
write_instances(create_instances([corpus], tokenizer, flags), tokenizer, flags, [out])
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=DEFAULT_DATA, help="folder with wikitext-2/ and gutenberg-nltk/")
    parser.add_argument("--work_dir", default=os.path.join(tempfile.gettempdir(), "albert_bench_startup"),
                        help="caches the corpus and the vocabulary; the records of the last run stay here")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (the fastest is shown)")
    parser.add_argument("--reference_dir", default=None,
                        help="compare the records with the train-*.tfrecord files of an earlier run here")
    parser.add_argument("--skip_original", action="store_true", help="do not run the original algorithm")
    args = parser.parse_args(argv)

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="3")
    os.makedirs(args.work_dir, exist_ok=True)
    corpus, model = prepare_inputs(args.data_dir, args.work_dir, env)
    print(f"CPU: {cpu_extensions()}, {os.cpu_count()} cores; corpus {os.path.getsize(corpus) / 1e6:.2f} MB")
    python = sys.executable
    rows = []
    for script, module in sorted(console_scripts().items()):
        rows.append((f"{script} --help", *fastest(args.repeats, lambda n: [python, "-m", module, "--help"], env=env)))
    rows.append(("python -c 'import tensorflow'", *fastest(1, lambda n: [python, "-c", "import tensorflow"], env=env)))

    out = os.path.join(args.work_dir, "records")

    def job(n):
        shutil.rmtree(out, ignore_errors=True)
        return [python, "-m", "tools.create_pretraining_data", f"--input_file={corpus}",
                f"--output_file={out}/train-{{shard}}.tfrecord", f"--spm_model_file={model}",
                "--max_seq_length=128", "--dupe_factor=3"]

    job_wall, job_cpu = fastest(args.repeats, job, env=env)
    rows.append(("albert-create-pretraining-data (whole process)", job_wall, job_cpu))
    if not args.skip_original:
        original = os.path.join(args.work_dir, "original.tfrecord")
        wall, cpu = timed([python, "-c", ORIGINAL, corpus, model, original], env=env)
        rows.append(("original algorithm, one process (imports TF)", wall, cpu))

    print(f"\n{'command':<52}{'wall s':>9}{'CPU s':>9}")
    for name, wall, cpu in rows:
        print(f"{name:<52}{wall:>9.2f}{cpu:>9.2f}")
    print(f"\nagainst the original script's 21.8 s (issue 10): {21.8 / job_wall:.1f}x")
    if not args.skip_original:
        print(f"against the original algorithm run here: {rows[-1][1] / job_wall:.1f}x")
    if args.reference_dir:
        ours = sorted(glob.glob(os.path.join(out, "train-*.tfrecord")))
        names = [os.path.basename(p) for p in ours]
        same = bool(ours) and all(
            filecmp.cmp(p, os.path.join(args.reference_dir, n), shallow=False)
            if os.path.exists(os.path.join(args.reference_dir, n)) else False
            for p, n in zip(ours, names))
        print(f"records byte-identical to {args.reference_dir}: {'yes' if same else 'NO'} ({len(ours)} shards)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
