"""Acceptance run: does pretraining transfer? A pretrained backbone against a randomly initialised one of the
same config and vocabulary, every other setting equal, on the GLUE dev sets, in two ways:

(a) frozen features: each task's train and dev split encoded once by the frozen backbone (pooled output, the
    padding-masked mean of the last layer and, with --layers, of earlier layers); a standardised
    logistic-regression probe (ridge for STS-B) whose regularisation is chosen by 5-fold cross-validation on
    train only, scored on dev with the task's GLUE metrics and a 95% bootstrap interval over dev examples;
(b) few labels: `run_finetuning` (the engine `albert-finetune` runs, in this process) on N stratified
    training examples drawn by each seed, both initialisations with the same subset, steps, learning rate,
    batch and seed; dev scored once after the last step; mean and 95% t-interval over seeds per N.

Every unit (one task's features, one probe, one fine-tuning run) writes its result atomically into
<work_dir>/results.json and is skipped when there, so an interrupted run continues where it stopped.
Pretrained units are keyed by the --pretrained file (path, size, time), so the random-initialisation units
are reused when a later checkpoint is compared. Writes <docs_dir>/transfer.{md,json,png}.

Example (the random baseline first, then the pretrained model; the second run reuses the first's units):

    python -m tools.acceptance_transfer --inits random --spm_model_file /work/transfer/pt/spm.model \\
        --albert_config_file /work/transfer/pt/albert_config.json --work_dir /work/transfer/acceptance
    python -m tools.acceptance_transfer --pretrained /work/transfer/pt/pretrain/model.keras \\
        --spm_model_file /work/transfer/pt/spm.model --albert_config_file /work/transfer/pt/albert_config.json \\
        --work_dir /work/transfer/acceptance --docs_dir docs --layers all
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import sys
import time
from types import SimpleNamespace

from albert_tf.io import write_text_atomic
from tools.acceptance_sop_nsp import seed_interval

#: GLUE folder -> (task name, the headline dev metric).
TASKS = {"SST-2": ("sst-2", "eval_accuracy"), "MRPC": ("mrpc", "eval_accuracy"), "RTE": ("rte", "eval_accuracy"),
         "CoLA": ("cola", "matthew_corr"), "STS-B": ("sts-b", "pearson")}
INITS = ("pretrained", "random")
#: A second dev metric shown beside the headline one.
SECONDARY = {"mrpc": "f1", "sts-b": "spearman", "cola": "eval_accuracy"}
#: The feature the probe target is counted on, declared before any result: the last layer's mean over tokens.
HEADLINE_FEATURE = "mean"
#: Cross-validation scoring of the probe's regularisation (train split only), per task.
CV_SCORING = {"cola": "matthews_corrcoef"}
CS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
ALPHAS = tuple(10.0 ** k for k in range(-2, 6))
BOOTSTRAP = 1000


# --------------------------------------------------------------------------- flags
def _list(p, flag, text, cast, allowed=None):
    try:
        values = [cast(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        p.error(f"{flag}: expected a comma-separated list of {cast.__name__}s, got {text!r}")
    if not values:
        p.error(f"{flag}: give at least one value")
    for v in values:
        if allowed is not None and v not in allowed:
            p.error(f"{flag}: {v!r} is not one of {', '.join(allowed)}")
    return values


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--pretrained", default=None, help="the pretrained model (.keras, or a checkpoint albert_tf loads); needed "
      "unless --inits random. Example: /work/transfer/pt/pretrain/model.keras")
    a("--albert_config_file", required=True, help="the config of both backbones (the random one is built from it). "
      "Example: /work/transfer/pt/albert_config.json")
    a("--spm_model_file", required=True, help="the SentencePiece model of both. Example: /work/transfer/pt/spm.model")
    a("--glue_dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "glue_data"),
      help="the folder holding SST-2/, MRPC/, ... (default: %(default)s)")
    a("--work_dir", default="/tmp/albert_transfer", help="records, features and results.json (default: %(default)s)")
    a("--docs_dir", default="docs", help="where transfer.md/.json/.png go (default: %(default)s)")
    a("--tasks", default=",".join(TASKS), help="probe tasks (default: %(default)s). Example: --tasks SST-2,CoLA")
    a("--few_label_tasks", default="SST-2,MRPC", help="few-label tasks (default: %(default)s)")
    a("--inits", default=",".join(INITS), help="initialisations to run (default: %(default)s); "
      "Example: --inits random (the baseline, before the pretrained model exists)")
    a("--max_seq_length", type=int, default=128, help="of probes and fine-tuning alike (default: %(default)s)")
    a("--seeds", default="1,2,3,4,5", help="few-label seeds: each draws a subset and initialises the head (and the "
      "random backbone); the probes' random backbone uses the first (default: %(default)s). Example: --seeds 1,2")
    a("--sizes", default="100,300,1000,3000", help="few-label training-set sizes (default: %(default)s)")
    a("--learning_rate", default="1e-4", help="few-label learning rate(s), comma-separated; each is run for both "
      "inits and reported apart; the target is counted on the first (default: %(default)s). Example: 1e-4,3e-4")
    a("--steps", type=int, default=None, help="fixed fine-tuning steps for every size (default: --epochs over N, "
      "at least --min_steps). Example: --steps 300")
    a("--epochs", type=float, default=10.0, help="fine-tuning epochs over the N examples (default: %(default)s)")
    a("--min_steps", type=int, default=100, help="fewest fine-tuning steps (default: %(default)s)")
    a("--batch_size", type=int, default=32, help="fine-tuning batch (default: %(default)s)")
    a("--layers", default="", help="also probe these layers' token means (0 = embeddings, k = block k; 'all'); "
      "default none. Example: --layers all")
    a("--probe_max_train", type=int, default=0, help="probe on at most this many training examples (a stratified "
      "draw; 0: all) (default: %(default)s). Example: 20000")
    a("--probe_threads", type=int, default=1, help="BLAS threads of the probe fits (default: %(default)s; "
      "more only on an idle machine)")
    a("--encode_batch_size", type=int, default=128, help="examples per encoding batch (default: %(default)s)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--probe_only", action="store_true", help="frozen-feature probes only")
    g.add_argument("--few_label_only", action="store_true", help="few-label fine-tuning only")
    a("--note", default="", help="a sentence about the pretrained model, copied into transfer.md (default: none). "
      "Example: --note '3,000 steps of MLM+SOP'")
    return p


def parse_flags(argv=None):
    """Flags checked before any work (no TensorFlow): a bad value is one argparse line, exit 2."""
    p = build_parser()
    args = p.parse_args(argv)
    args.tasks = _list(p, "--tasks", args.tasks, str, TASKS)
    args.few_label_tasks = _list(p, "--few_label_tasks", args.few_label_tasks, str, TASKS)
    args.inits = _list(p, "--inits", args.inits, str, INITS)
    args.seeds = _list(p, "--seeds", args.seeds, int)
    args.sizes = _list(p, "--sizes", args.sizes, int)
    args.learning_rate = _list(p, "--learning_rate", args.learning_rate, float)
    for flag, values in (("--sizes", args.sizes), ("--learning_rate", args.learning_rate)):
        if min(values) <= 0:
            p.error(f"{flag}: every value must be positive, got {min(values)}")
    for flag in ("max_seq_length", "batch_size", "min_steps", "encode_batch_size", "probe_threads"):
        if getattr(args, flag) <= 0:
            p.error(f"--{flag}: must be positive, got {getattr(args, flag)}")
    if args.steps is not None and args.steps <= 0:
        p.error(f"--steps: must be positive, got {args.steps}")
    if args.epochs <= 0 or args.probe_max_train < 0:
        p.error("--epochs must be positive and --probe_max_train >= 0")
    if len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds: each seed once, got {args.seeds}")
    for flag in ("albert_config_file", "spm_model_file"):
        if not os.path.isfile(getattr(args, flag)):
            p.error(f"--{flag} {getattr(args, flag)}: no such file")
    if "pretrained" in args.inits:
        if not args.pretrained:
            p.error("--pretrained: needed unless --inits random")
        if not os.path.exists(args.pretrained):
            p.error(f"--pretrained {args.pretrained}: no such file or folder")
    wanted = ([] if args.few_label_only else args.tasks) + ([] if args.probe_only else args.few_label_tasks)
    for folder in dict.fromkeys(wanted):
        for split in ("train", "dev"):
            path = os.path.join(args.glue_dir, folder, f"{split}.tsv")
            if not os.path.isfile(path):
                p.error(f"--glue_dir {args.glue_dir}: no {folder}/{split}.tsv ({path})")
    if not args.probe_only:
        for folder in args.few_label_tasks:
            with open(os.path.join(args.glue_dir, folder, "train.tsv"), encoding="utf-8") as f:
                rows = sum(1 for _ in f) - 1  # the header (every few-label task's train file has one)
            if max(args.sizes) > rows:
                p.error(f"--sizes {max(args.sizes)}: {folder}/train.tsv has only {rows} examples")
    if args.layers.strip():
        args.layers = "all" if args.layers.strip() == "all" else _list(p, "--layers", args.layers, int)
    else:
        args.layers = []
    return args


def few_label_steps(n, args):
    """The fixed schedule: --steps, else --epochs over the n examples, never fewer than --min_steps."""
    return args.steps or max(args.min_steps, math.ceil(args.epochs * n / args.batch_size))


# --------------------------------------------------------------------------- the results cache
def _file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        digest.update(f.read())
    return digest.hexdigest()[:16]


def pretrained_tag(path):
    """A short key of the pretrained model file: a newer checkpoint at the same path is another model."""
    path = os.path.abspath(path)
    stat = os.stat(path)
    return hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:10]


class Results:
    """`results.json`: one entry per finished unit, rewritten atomically after each; `computed` counts the
    units this process ran (skipped ones are not counted)."""

    def __init__(self, path, identity):
        self.path, self.computed = path, 0
        self.data = {"identity": identity, "units": {}}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                stored = json.load(f)
            if stored.get("identity") != identity:
                raise SystemExit(f"{path} holds results of another setup ({stored.get('identity')}); "
                                 "use another --work_dir")
            self.data = stored

    def get(self, key):
        return self.data["units"].get(key)

    def put(self, key, value):
        self.data["units"][key] = value
        self.computed += 1
        write_text_atomic(self.path, json.dumps(self.data, indent=1, sort_keys=True))


class Progress:
    def __init__(self, total):
        self.total, self.done, self.started = total, 0, time.time()

    def line(self, text, ran):
        self.done += 1
        elapsed = time.time() - self.started
        print(f"[{self.done}/{self.total} {elapsed / 60:.1f} min] {text}{'' if ran else ' (cached)'}", flush=True)


# --------------------------------------------------------------------------- statistics
def bootstrap_interval(score, predictions, labels, rounds=BOOTSTRAP, seed=0):
    """The 95% percentile bootstrap interval of `score(predictions, labels)` over resampled dev examples."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(labels)
    values = [score(predictions[i], labels[i]) for i in (rng.integers(0, n, n) for _ in range(rounds))]
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def interval_over_seeds(values):
    """`seed_interval` (mean, 95% t-interval), with the degenerate interval when every seed scored the same."""
    if len(values) > 1 and len(set(values)) == 1:
        return values[0], (values[0], values[0])
    return seed_interval(values)


def above(mean, interval):
    """Whether `mean` lies above the upper end of `interval` (never with no interval)."""
    return interval is not None and mean > interval[1]


# --------------------------------------------------------------------------- features and probes
def task_features(task, folder, split, tokenizer, max_seq_length):
    from data_prep.glue import convert_examples, read_examples

    examples = read_examples(task, folder, split)
    features, _ = convert_examples(examples, task, tokenizer, max_seq_length)
    return features


def make_backbone(args, init, task, seed):
    """The frozen backbone of `init`: pretrained weights through fine-tuning's own initialisation (same loader,
    same config checks), or random weights drawn with `seed`."""
    import keras

    from albert_tf.config import AlbertConfig
    from albert_tf.models.backbone import AlbertBackbone
    from albert_tf.tasks import get_task
    from albert_tf.training.finetuning import initialise

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = get_task(task).build_model(AlbertBackbone(AlbertConfig.from_json_file(args.albert_config_file)))
    if init == "pretrained":
        initialise(model, args.pretrained)
    return model.backbone


def encode(backbone, features, layers, batch_size):
    """{feature name: [N, D] float32} in example order: `pooled`, `mean` (last layer, padding masked) and
    `layer{k}` for k in `layers`. Examples go in length-sorted batches cut to their longest row (the attention
    mask makes the padding length irrelevant), through one traced function."""
    import numpy as np
    import tensorflow as tf

    from albert_tf.models.inputs import INPUT_KEYS

    def mean(x, mask):
        mask = tf.cast(mask, x.dtype)[..., None]
        return tf.reduce_sum(x * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)

    @tf.function(input_signature=[{k: tf.TensorSpec([None, None], tf.int32) for k in INPUT_KEYS}], autograph=False)
    def run(inputs):
        out = backbone(inputs, training=False)
        mask = inputs["input_mask"]
        result = {"pooled": out["pooled_output"], "mean": mean(out["sequence_output"], mask)}
        for k in layers:
            result[f"layer{k}"] = mean(out["embedding_output"] if k == 0 else out["encoder_outputs"][k - 1], mask)
        return result

    lengths = features["input_mask"].sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    parts = {}
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = int(lengths[rows].max())
        batch = {k: tf.constant(features[k][rows, :width].astype("int32")) for k in INPUT_KEYS}
        for name, value in run(batch).items():
            parts.setdefault(name, []).append(value.numpy().astype("float32"))
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return {name: np.concatenate(chunks)[inverse] for name, chunks in parts.items()}


def _probe_subset(labels, limit, seed, regression):
    import numpy as np
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    if not limit or limit >= len(labels):
        return index
    chosen, _ = train_test_split(index, train_size=limit, random_state=seed, stratify=None if regression else labels)
    return np.sort(chosen)


def fit_probe(task, train_x, train_y, dev_x, dev_y, seed=0, threads=1):
    """A standardised linear probe fitted on train (regularisation by cross-validation on train only), scored on
    dev with the task's GLUE metrics; returns the scores, the chosen strength and a bootstrap interval of the
    headline metric."""
    import numpy as np
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from albert_tf import metrics

    metric = {name: m for name, m in TASKS.values()}[task]
    regression = task == "sts-b"
    if regression:
        probe = RidgeCV(alphas=ALPHAS, cv=KFold(5, shuffle=True, random_state=seed))
    else:
        probe = LogisticRegressionCV(Cs=list(CS), l1_ratios=(0.0,), cv=StratifiedKFold(5, shuffle=True, random_state=seed),
                                     scoring=CV_SCORING.get(task, "accuracy"), max_iter=3000, use_legacy_attributes=False)
    model = make_pipeline(StandardScaler(), probe)
    # One BLAS thread: L-BFGS makes thousands of small calls, which threads contending for busy cores slow
    # several-fold (a 40-example fit: 0.16 s on one thread, 1.4 s on two, on the shared 2-core machine).
    with threadpool_limits(limits=threads):
        model.fit(train_x, train_y)
    predictions = model.predict(dev_x)
    scores = metrics.glue_scores(task, predictions, dev_y)
    score = {"eval_accuracy": metrics.accuracy, "matthew_corr": metrics.matthews_corr, "pearson": metrics.pearson}[metric]
    strength = float(probe.alpha_) if regression else float(np.ravel(probe.C_)[0])
    return {"scores": scores, "metric": metric, "value": scores[metric],
            "interval": bootstrap_interval(score, np.asarray(predictions), np.asarray(dev_y), seed=seed),
            "regularisation": {"alpha" if regression else "C": strength}, "train_examples": int(len(train_y))}


def probe_key(args, folder, init, name):
    """A probe unit's key: task, init (and pretrained file), feature, training-set limit and the seed (which
    draws the random backbone, the limited training set and the cross-validation folds)."""
    return f"probe|{folder}|{unit_init(args, init)}|{name}|max_train={args.probe_max_train}|seed={args.seeds[0]}"


def run_probes(args, results, progress, tokenizer):
    for folder in args.tasks:
        task, _ = TASKS[folder]
        data = None  # tokenised only when a unit of this task is missing
        for init in args.inits:
            encoded = None
            for name in feature_names(args):
                key = probe_key(args, folder, init, name)
                ran = results.get(key) is None
                if ran:
                    if data is None:
                        data = _probe_data(args, task, folder, tokenizer)
                    if encoded is None:
                        cache = os.path.join(args.work_dir, "features", f"{folder}-{unit_init(args, init)}-max_train"
                                             f"{args.probe_max_train}-seed{args.seeds[0]}.npz")
                        encoded = _features(args, init, task, data["splits"], cache, data["subset"])
                    tick = time.time()
                    found = fit_probe(task, encoded["train"][name], data["labels"]["train"][data["subset"]],
                                      encoded["dev"][name], data["labels"]["dev"], seed=args.seeds[0],
                                      threads=args.probe_threads)
                    found.update(task=folder, init=init, feature=name, fit_seconds=time.time() - tick,
                                 encode_seconds=encoded["seconds"])
                    results.put(key, found)
                r = results.get(key)
                progress.line(f"probe {folder} {init} {name}: {r['metric']} {r['value']:.4f} "
                              f"[{r['interval'][0]:.4f}, {r['interval'][1]:.4f}]", ran)


def _probe_data(args, task, folder, tokenizer):
    data_dir = os.path.join(args.glue_dir, folder)
    splits = {split: task_features(task, data_dir, split, tokenizer, args.max_seq_length) for split in ("train", "dev")}
    labels = {s: f["label_ids"].reshape(-1) for s, f in splits.items()}
    subset = _probe_subset(labels["train"], args.probe_max_train, args.seeds[0], task == "sts-b")
    return {"splits": splits, "labels": labels, "subset": subset}


def feature_names(args):
    return ["pooled", "mean"] + [f"layer{k}" for k in _probed_layers(args)]


def _probed_layers(args):
    if args.layers != "all":
        return args.layers
    from albert_tf.config import AlbertConfig

    config = AlbertConfig.from_json_file(args.albert_config_file)
    return list(range(config.num_hidden_layers * config.inner_group_num + 1))


def _features(args, init, task, splits, cache, subset):
    """The encoded train (subset) and dev splits, from `cache` (an .npz) when there, else encoded and cached."""
    import numpy as np

    names = feature_names(args)
    if os.path.exists(cache):
        with np.load(cache) as stored:
            if all(f"train/{n}" in stored for n in names) and len(stored[f"train/{names[0]}"]) == len(subset):
                return {"train": {n: stored[f"train/{n}"] for n in names}, "dev": {n: stored[f"dev/{n}"] for n in names},
                        "seconds": float(stored["seconds"])}
    tick = time.time()
    backbone = make_backbone(args, init, task, args.seeds[0])
    train = {k: v[subset] for k, v in splits["train"].items()}
    encoded = {split: encode(backbone, data, _probed_layers(args), args.encode_batch_size)
               for split, data in (("train", train), ("dev", splits["dev"]))}
    encoded["seconds"] = time.time() - tick
    print(f"  encoded {task} ({init}): {len(subset)} train + {len(splits['dev']['input_ids'])} dev examples in "
          f"{encoded['seconds']:.0f} s", flush=True)
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    flat = {f"{s}/{n}": encoded[s][n] for s in ("train", "dev") for n in names}
    tmp = cache + ".tmp.npz"
    np.savez(tmp, seconds=encoded["seconds"], **flat)
    os.replace(tmp, cache)
    return encoded


def unit_init(args, init):
    """The init part of a unit's key: `random`, or `pretrained-<tag of the file>`."""
    return "random" if init == "random" else f"pretrained-{pretrained_tag(args.pretrained)}"


# --------------------------------------------------------------------------- few labels
def write_subset(task, source_dir, n, seed, out_dir):
    """`out_dir/train.tsv`: the source's header and n training rows drawn by `seed`, stratified by label (the
    class shares of the full training set), in file order. Returns the drawn rows' line numbers."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    from data_prep.glue import read_examples, read_tsv, task_file
    from albert_tf.tasks.glue import glue_task

    path = task_file(glue_task(task), source_dir, "train")
    examples = read_examples(task, source_dir, "train")
    if n > len(examples):
        raise SystemExit(f"--sizes {n}: {path} has only {len(examples)} examples")
    lines = np.array([e.line for e in examples])
    labels = [e.label for e in examples]
    chosen = lines if n == len(examples) else train_test_split(lines, train_size=n, random_state=seed, stratify=labels)[0]
    keep = set(int(x) for x in chosen)
    rows = [(line, fields) for line, fields in read_tsv(path)]
    example_lines = set(int(x) for x in lines)
    text = "".join("\t".join(fields) + "\n" for i, (line, fields) in enumerate(rows)
                   if line in keep or (i == 0 and line not in example_lines))
    os.makedirs(out_dir, exist_ok=True)
    write_text_atomic(os.path.join(out_dir, "train.tsv"), text)
    return sorted(keep)


def _records(args, task, split, source):
    from albert_tf.tasks import get_task
    from tools.finetune import convert

    flags = SimpleNamespace(spm_model_file=args.spm_model_file, do_lower_case=True, max_seq_length=args.max_seq_length,
                            doc_stride=128, max_query_length=64, max_qa_length=128)
    return [convert(flags, get_task(task), split, source, os.path.join(args.work_dir, "records"))]


def finetune_once(args, task, train_files, eval_files, init, seed, lr, steps, output_dir):
    """One few-label run through `run_finetuning`; returns its dev scores (the heavy files are removed)."""
    import keras

    from albert_tf.config import AlbertConfig
    from albert_tf.training.finetuning import FinetuningOptions, run_finetuning

    keras.backend.clear_session()
    options = FinetuningOptions(
        output_dir=output_dir, learning_rate=lr, train_step=steps, warmup_step=steps // 10,
        train_batch_size=args.batch_size, eval_batch_size=64, max_seq_length=args.max_seq_length,
        save_checkpoints_steps=steps, log_every_steps=max(1, steps // 4), strategy="one_device", precision="fp32",
        init_checkpoint=os.path.abspath(args.pretrained) if init == "pretrained" else None, seed=seed, verbose=0,
        export=False)
    tick = time.time()
    result = run_finetuning(task, AlbertConfig.from_json_file(args.albert_config_file), options, train_files,
                            eval_files, do_train=True, do_eval=True)
    seconds = time.time() - tick
    if result.results.get("preempted"):  # a signal: the run's checkpoint stays, the next start resumes it
        raise SystemExit(f"stopped by a signal during {output_dir}; run the same command again to resume")
    for name in os.listdir(output_dir):  # keep the small reports, not checkpoints or model files
        path = os.path.join(output_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif not name.endswith((".json", ".txt", ".csv")):
            os.remove(path)
    return {k: float(v) for k, v in result.eval.items()}, seconds


def few_key(args, folder, n, seed, lr, init):
    """A fine-tuning unit's key: everything its score depends on beyond the work folder's identity."""
    return (f"few|{folder}|n={n}|seed={seed}|lr={lr:g}|steps={few_label_steps(n, args)}|batch={args.batch_size}|"
            f"{unit_init(args, init)}")


def run_few_labels(args, results, progress):
    for folder in args.few_label_tasks:
        task, metric = TASKS[folder]
        source = os.path.join(args.glue_dir, folder)
        eval_files = None
        for n in args.sizes:
            steps = few_label_steps(n, args)
            for seed in args.seeds:
                subset_dir = os.path.join(args.work_dir, "subsets", f"{folder}-n{n}-seed{seed}")
                train_files = None
                for lr in args.learning_rate:
                    for init in args.inits:
                        key = few_key(args, folder, n, seed, lr, init)
                        ran = results.get(key) is None
                        if ran:
                            if train_files is None:
                                write_subset(task, source, n, seed, subset_dir)
                                train_files = _records(args, task, "train", subset_dir)
                                eval_files = eval_files or _records(args, task, "dev", source)
                            run_dir = os.path.join(args.work_dir, "runs", key.replace("|", "_").replace("=", ""))
                            scores, seconds = finetune_once(args, task, train_files, eval_files, init, seed, lr, steps,
                                                            run_dir)
                            results.put(key, {"task": folder, "n": n, "seed": seed, "lr": lr, "steps": steps,
                                              "init": init, "metric": metric, "value": scores[metric],
                                              "scores": scores, "seconds": seconds})
                        r = results.get(key)
                        progress.line(f"few-label {folder} n={n} seed {seed} lr {lr:g} {init} ({steps} steps): "
                                      f"{metric} {r['value']:.4f}", ran)


# --------------------------------------------------------------------------- summary
def summarise(args, results):
    """{"probes": [...], "few_labels": [...], "target": {...}} over the units of this setup and model."""
    units = results.data["units"]
    probes, few = [], []
    for folder in args.tasks if not args.few_label_only else []:
        for name in feature_names(args):
            row = {"task": folder, "feature": name}
            for init in args.inits:
                found = units.get(probe_key(args, folder, init, name))
                if found:
                    row[init] = {"value": found["value"], "interval": found["interval"], "scores": found["scores"],
                                 "regularisation": found["regularisation"]}
                    row["metric"] = found["metric"]
            if len(row) > 2:
                probes.append(row)
    for folder in args.few_label_tasks if not args.probe_only else []:
        for lr in args.learning_rate:
            for n in args.sizes:
                steps = few_label_steps(n, args)
                row = {"task": folder, "n": n, "lr": lr, "steps": steps, "metric": TASKS[folder][1]}
                for init in args.inits:
                    runs = [units.get(few_key(args, folder, n, s, lr, init)) for s in args.seeds]
                    values = [r["value"] for r in runs if r]
                    if values:
                        mean, interval = interval_over_seeds(values)
                        row[init] = {"mean": mean, "interval": interval, "values": values}
                        second = SECONDARY.get(TASKS[folder][0])
                        others = [r["scores"][second] for r in runs if r and second in r["scores"]]
                        if others:
                            mean, interval = interval_over_seeds(others)
                            row[init]["also"] = {"metric": second, "mean": mean, "interval": interval, "values": others}
                if len(row) > 5:
                    few.append(row)
    both = [r for r in probes if "pretrained" in r and "random" in r]
    probe_wins = sorted({r["task"] for r in both if r["feature"] == HEADLINE_FEATURE
                         and above(r["pretrained"]["value"], r["random"]["interval"])})
    sst = [r for r in few if r["task"] == "SST-2" and r["lr"] == args.learning_rate[0] and "pretrained" in r and "random" in r]
    sst_wins = [r["n"] for r in sst if above(r["pretrained"]["mean"], r["random"]["interval"])]
    target = {"few_label_sst2_sizes_above": sst_wins, "few_label_sst2_sizes_compared": [r["n"] for r in sst],
              "probe_tasks_above": probe_wins, "probe_tasks_compared": sorted({r["task"] for r in both}),
              "met": len(sst_wins) >= 2 and len(probe_wins) >= 2}
    return {"probes": probes, "few_labels": few, "target": target}


def _cell(entry, key="value"):
    if entry is None:
        return "–"
    value, interval = entry[key], entry["interval"]
    return f"{value:.4f}" + (f" [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else "")


def tables(args, summary):
    lines = ["## Frozen features (linear probe on train, scored on dev; 95% bootstrap interval over dev examples)", "",
             "| task | feature | metric | pretrained | random init | pretrained above random's interval | also: pretrained / random |",
             "|---|---|---|---|---|---|---|"]
    for r in summary["probes"]:
        p, q = r.get("pretrained"), r.get("random")
        win = "yes" if p and q and above(p["value"], q["interval"]) else ("no" if p and q else "–")
        second = SECONDARY.get(TASKS[r["task"]][0])
        also = (f"{second} " + " / ".join(f"{e['scores'][second]:.4f}" if e else "–" for e in (p, q))) if second else ""
        lines.append(f"| {r['task']} | {r['feature']} | {r['metric']} | {_cell(p)} | {_cell(q)} | {win} | {also} |")
    lines += ["", "## Few labels (fine-tuned, dev metric: mean and 95% t-interval over seeds)", "",
              "| task | N | lr | steps | metric | pretrained | random init | seeds | pretrained above random's interval "
              "| also: pretrained / random |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["few_labels"]:
        p, q = r.get("pretrained"), r.get("random")
        seeds = "/".join(str(len(e["values"])) for e in (p, q) if e)
        win = "yes" if p and q and above(p["mean"], q["interval"]) else ("no" if p and q else "–")
        second = SECONDARY.get(TASKS[r["task"]][0])
        also = (f"{second} " + " / ".join(_cell(e.get("also"), "mean") if e else "–" for e in (p, q))) if second else ""
        lines.append(f"| {r['task']} | {r['n']} | {r['lr']:g} | {r['steps']} | {r['metric']} | {_cell(p, 'mean')} | "
                     f"{_cell(q, 'mean')} | {seeds} | {win} | {also} |")
    if len(args.learning_rate) > 1:
        lines += ["", "Each init at its best learning rate (the highest mean over seeds, one rule for both; chosen on "
                  "dev, so optimistic for both):", "", "| task | N | pretrained (lr) | random init (lr) |", "|---|---|---|---|"]
        for task, n in dict.fromkeys((r["task"], r["n"]) for r in summary["few_labels"]):
            rows = [r for r in summary["few_labels"] if (r["task"], r["n"]) == (task, n)]
            cells = []
            for init in INITS:
                best = max((r for r in rows if init in r), key=lambda r: r[init]["mean"], default=None)
                cells.append(f"{_cell(best[init], 'mean')} ({best['lr']:g})" if best else "–")
            lines.append(f"| {task} | {n} | {cells[0]} | {cells[1]} |")
    t = summary["target"]
    lines += ["", f"Target (pretrained above the random one's interval on >= 2 of the SST-2 sizes at lr "
              f"{args.learning_rate[0]:g} and on the `{HEADLINE_FEATURE}` probe of >= 2 tasks): SST-2 sizes above: "
              f"{t['few_label_sst2_sizes_above'] or 'none'} of {t['few_label_sst2_sizes_compared'] or 'none run'}; "
              f"probe tasks above: {t['probe_tasks_above'] or 'none'} of {t['probe_tasks_compared'] or 'none run'}: "
              f"**{'met' if t['met'] else 'not met'}**."]
    return lines


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in summary["few_labels"]))
    if not tasks:
        return None
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = [r for r in summary["few_labels"] if r["task"] == task]
        for lr in dict.fromkeys(r["lr"] for r in rows):
            for init, colour in (("pretrained", "tab:blue"), ("random", "tab:orange")):
                points = [(r["n"], r[init]) for r in rows if r["lr"] == lr and init in r]
                if not points:
                    continue
                xs = [n for n, _ in points]
                ys = [e["mean"] for _, e in points]
                err = [[m - (e["interval"] or (m, m))[0] for (_, e), m in zip(points, ys)],
                       [(e["interval"] or (m, m))[1] - m for (_, e), m in zip(points, ys)]]
                ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, color=colour,
                            linestyle="-" if lr == rows[0]["lr"] else "--", label=f"{init} (lr {lr:g})")
        ax.set_xscale("log")
        ax.set_xlabel("training examples (log scale)")
        ax.set_ylabel(f"dev {rows[0]['metric']}")
        ax.set_title(f"{task}: mean and 95% t-interval over seeds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_docs(args, argv, summary):
    from albert_tf.config import AlbertConfig

    config = AlbertConfig.from_json_file(args.albert_config_file)
    os.makedirs(args.docs_dir, exist_ok=True)
    png = plot(summary, os.path.join(args.docs_dir, "transfer.png"))
    command = "python -m tools.acceptance_transfer " + " ".join(argv)
    steps = (f"{args.steps} steps" if args.steps else
             f"{args.epochs:g} epochs over the N examples, at least {args.min_steps} steps")
    header = [
        "# Transfer: pretrained against random initialisation (GLUE dev sets)", "",
        f"Backbone: E={config.embedding_size}, H={config.hidden_size}, L={config.num_hidden_layers}, vocabulary "
        f"{config.vocab_size} ({args.spm_model_file}); pretrained: {args.pretrained or 'not run'}. {args.note}".rstrip(),
        "",
        f"Probes: features of the frozen backbone at max_seq_length {args.max_seq_length} (`pooled`: the pooler; "
        "`mean`: the last layer averaged over real tokens; `layerK`: layer K's average, 0 = embeddings), standardised; "
        "logistic regression (ridge for STS-B) with its strength chosen by 5-fold cross-validation on train only "
        f"(C in {list(CS)}, alpha in {list(ALPHAS)}); the random backbone drawn with seed {args.seeds[0]}"
        + (f"; at most {args.probe_max_train} training examples (a stratified draw)" if args.probe_max_train else "") + ".",
        "",
        f"Few labels: N examples drawn by each seed ({', '.join(map(str, args.seeds))}), stratified by label, the same "
        f"subset, steps and seed for both inits; AdamW, {steps}, batch {args.batch_size}, 10% warm-up, linear decay, "
        f"lr {', '.join(f'{lr:g}' for lr in args.learning_rate)}; dev scored once after the last step; one process "
        f"({platform.machine()}, {os.cpu_count()} cores).", ""]
    lines = header + tables(args, summary) + (["", f"![learning curves]({os.path.basename(png)})"] if png else []) + [
        "", "Command:", "", "```", command, "```", ""]
    write_text_atomic(os.path.join(args.docs_dir, "transfer.md"), "\n".join(lines))
    write_text_atomic(os.path.join(args.docs_dir, "transfer.json"), json.dumps(
        {"command": command, "settings": {k: v for k, v in vars(args).items()}, "config": config.to_dict(),
         **summary}, indent=1, default=str))
    return lines


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_flags(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from albert_tf.text.tokenizer import AlbertTokenizer

    os.makedirs(args.work_dir, exist_ok=True)
    identity = {"config": _file_digest(args.albert_config_file), "spm_model": _file_digest(args.spm_model_file),
                "max_seq_length": args.max_seq_length, "glue_dir": os.path.abspath(args.glue_dir)}
    results = Results(os.path.join(args.work_dir, "results.json"), identity)
    probes = 0 if args.few_label_only else len(args.tasks) * len(args.inits) * len(feature_names(args))
    runs = 0 if args.probe_only else (len(args.few_label_tasks) * len(args.sizes) * len(args.seeds)
                                      * len(args.learning_rate) * len(args.inits))
    print(f"{probes} probes and {runs} fine-tuning runs; results in {results.path}", flush=True)
    progress = Progress(probes + runs)
    if probes:
        run_probes(args, results, progress, AlbertTokenizer(args.spm_model_file))
    if runs:
        run_few_labels(args, results, progress)
    summary = summarise(args, results)
    write_docs(args, argv, summary)
    print("\n".join(tables(args, summary)))
    print(f"{results.computed} units run now, {probes + runs - results.computed} from {results.path}; "
          f"wrote {os.path.join(args.docs_dir, 'transfer.md')}")
    return {"computed": results.computed, "summary": summary}


if __name__ == "__main__":
    main()
