"""The fine-tuning run: the original `run_classifier.py`, `run_squad_v*.py` and `run_race.py` as one loop.

For any task of `albert_tf.tasks`: build the task model around one `AlbertBackbone`, initialise the
backbone from `init_checkpoint` (weights only), `fit` inside the strategy in stretches of
`save_checkpoints_steps` batches with a checkpoint after each, evaluate every checkpoint on the dev
records and keep the best one by the task's key (as the original's evaluation loop, which walked every
checkpoint), then predict with the best weights. A killed run resumes from its newest checkpoint; the
input stream is deterministic, so the resumed run sees the batches the killed one would have.

Batches are length-bucketed by default (`bucket_by_length`), for training and evaluation: a few static
shapes, far less padding. Evaluation gathers every example's outputs in record order and scores the
whole set at once (Matthews correlation, Pearson and F1 are not means over batches).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from albert_tf.config import AlbertConfig
from albert_tf.data.bucketing import bucket_by_length, length_boundaries
from albert_tf.data.schemas import INT64, Field, feature_spec, finetuning_lengths, finetuning_schema
from albert_tf.models.backbone import AlbertBackbone
from albert_tf.tasks import Task, get_task
from albert_tf.tasks import scoring
from albert_tf.errors import UserInputError
from albert_tf.training.optimizers import create_optimizer
from albert_tf.training.runner import (
    CheckpointSaver,
    MetricsCSV,
    PreemptionWatcher,
    RunRecord,
    ScalarLogger,
    StepCounter,
    TrainingCheckpoint,
    WorkerRole,
    distributed_dataset,
    initialise_weights,
    plan_fit_calls,
    steps_per_execution_for,
    prepare_model_for_fit,
    read_json,
    write_json,
)
from albert_tf.training.strategy import recommended_mixed_precision_policy, select_strategy

logger = logging.getLogger(__name__)

__all__ = ["FinetuningOptions", "FinetuningResult", "finetuning_dataset_fn", "record_fields", "run_finetuning"]

PRECISIONS = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16", "auto": None}
_INDEX = "_example_index"


@dataclasses.dataclass
class FinetuningOptions:
    """The original fine-tuning flags (names and defaults of `run_classifier.py`), plus what goes beyond it.

    `None` for a hyper-parameter means the task's default (`run_glue.sh`, the SQuAD/RACE scripts); see
    `resolved(task)`.

    Example:

    >>> options = FinetuningOptions(output_dir="runs/rte", train_step=400).resolved(get_task("rte"))
    >>> options.learning_rate, options.train_step, options.warmup_step, options.train_batch_size
    (3e-05, 400, 200, 32)
    """

    output_dir: str
    learning_rate: Optional[float] = None
    train_step: Optional[int] = None
    warmup_step: Optional[int] = None
    train_batch_size: Optional[int] = None
    eval_batch_size: Optional[int] = None
    predict_batch_size: Optional[int] = None
    max_seq_length: Optional[int] = None
    save_checkpoints_steps: Optional[int] = None
    optimizer: Optional[str] = None
    iterations_per_loop: int = 1000
    log_every_steps: int = 100
    init_checkpoint: Optional[str] = None
    init_from_group0: bool = False
    # Beyond the original.
    bucket_by_length: bool = True
    smallest_bucket: int = 32
    #: Dropout before the task head (the original's 0.1; HuggingFace's `classifier_dropout_prob`).
    classifier_dropout: float = 0.1
    strategy: str = "auto"
    tpu: Optional[str] = None
    tpu_zone: Optional[str] = None
    gcp_project: Optional[str] = None
    precision: str = "auto"
    jit_compile: bool = False
    seed: int = 12345
    verbose: int = 1
    #: SavedModel folder written after training (None: `<output_dir>/saved_model`); `export=False` skips it.
    export_dir: Optional[str] = None
    export: bool = True
    #: The SentencePiece model shipped with the SavedModel (raw-string signatures); None: token signatures only.
    spm_model_file: Optional[str] = None

    def resolved(self, task: Task) -> "FinetuningOptions":
        """A copy with every unset hyper-parameter taken from the task's defaults, validated."""
        defaults = task.defaults
        values = dataclasses.asdict(self)
        for name in ("learning_rate", "train_step", "warmup_step", "train_batch_size", "eval_batch_size",
                     "predict_batch_size", "max_seq_length", "save_checkpoints_steps", "optimizer"):
            if values[name] is None:
                values[name] = getattr(defaults, name)
        resolved = FinetuningOptions(**values)
        resolved.validate()
        return resolved

    def validate(self):
        for name in ("train_batch_size", "eval_batch_size", "predict_batch_size", "max_seq_length",
                     "save_checkpoints_steps", "iterations_per_loop", "log_every_steps"):
            value = getattr(self, name)
            if value is None or value <= 0:
                raise ValueError(f"--{name} must be positive, got {value}.")
        if self.train_step is None or self.train_step <= 0:
            raise ValueError(f"--train_step must be positive, got {self.train_step}.")
        if not 0.0 <= self.classifier_dropout < 1.0:
            raise ValueError(f"--classifier_dropout must be in [0, 1), got {self.classifier_dropout}.")
        if self.warmup_step is None or self.warmup_step < 0:
            raise ValueError(f"--warmup_step must be >= 0, got {self.warmup_step}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be one of {sorted(PRECISIONS)}, got {self.precision!r}.")


@dataclasses.dataclass
class FinetuningResult:
    """What `run_finetuning` returns: the model (best weights), the scores and the files it wrote."""

    model: keras.Model
    eval: Optional[dict]
    best_step: Optional[int]
    predictions: Optional[dict]
    results: dict


# --------------------------------------------------------------------------- records
def record_fields(task: Task, max_seq_length: int, training: bool):
    """The TFRecord features of the task's records (the original writers' names, dtypes and lengths),
    from the schemas of `albert_tf.data.schemas`; token tagging adds one label per token."""
    if task.family == "tagging":
        return tuple(Field(name, INT64, max_seq_length) for name in ("input_ids", "input_mask", "segment_ids", "label_ids"))
    kind = "squad" if task.is_squad else task.family
    schema = finetuning_schema(kind, training)
    lengths = finetuning_lengths(max_seq_length, task.num_choices)
    return tuple(Field(f.name, f.dtype, f.resolve(**lengths)) for f in schema)


def _parse_fn(task, max_seq_length, training):
    fields = record_fields(task, max_seq_length, training)
    spec = feature_spec(fields)

    def parse(serialized):
        parsed = tf.io.parse_single_example(serialized, spec)
        features = {}
        for name, value in parsed.items():
            if value.dtype == tf.int64:
                value = tf.cast(value, tf.int32)
            if task.family == "multiple_choice" and value.shape[0] == task.num_choices * max_seq_length:
                value = tf.reshape(value, [task.num_choices, max_seq_length])
            elif name in ("label_ids", "is_real_example", "unique_ids", "start_positions", "end_positions",
                          "is_impossible") and value.shape[0] == 1:
                value = tf.reshape(value, [])
            features[name] = value
        return features

    return parse


def count_records(files) -> int:
    return sum(1 for f in files for _ in tf.data.TFRecordDataset(f))


def check_records(files, task, max_seq_length, training):
    """Parses the first record of every file against the task's schema; a mismatch names the file."""
    spec = feature_spec(record_fields(task, max_seq_length, training))
    for path in files:
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"{path}: no such record file.")
        first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
        if first is None:
            raise ValueError(f"{path}: the record file is empty.")
        example = tf.train.Example.FromString(first.numpy())
        for name, feature in spec.items():
            if name not in example.features.feature:
                raise ValueError(f"{path}: records lack feature {name!r} that task {task.name!r} needs.")
            value = example.features.feature[name]
            length = len(value.int64_list.value) or len(value.float_list.value)
            if length != feature.shape[0]:
                raise ValueError(
                    f"{path}: feature {name!r} has length {length}, expected {feature.shape[0]} "
                    f"(--max_seq_length {max_seq_length} for task {task.name!r})."
                )


def finetuning_dataset_fn(files, task, max_seq_length, training, bucket=True, smallest_bucket=32, seed=12345):
    """`make(batch_size)` for the records in `files`.

    Training: shuffled deterministically (seeded, the same order on every start), repeated, batched
    with `drop_remainder`. Evaluation: every example once, in record order, each carrying its index
    (`_example_index`) so outputs can be put back in that order after bucketing reorders them.
    """
    files = [files] if isinstance(files, str) else list(files)
    parse = _parse_fn(task, max_seq_length, training)
    boundaries = length_boundaries(max_seq_length, smallest_bucket)

    def make(batch_size):
        dataset = tf.data.Dataset.from_tensor_slices(files)
        dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=1)
        dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if training:
            # Buffer 100 as the original; seeded so a resumed run replays the same stream.
            dataset = dataset.shuffle(100, seed=seed, reshuffle_each_iteration=True).repeat()
        else:
            dataset = dataset.enumerate().map(lambda i, f: dict(f, **{_INDEX: i}))
        if bucket:
            dataset = bucket_by_length(dataset, batch_size, max_seq_length, boundaries, drop_remainder=training)
        else:
            dataset = dataset.batch(batch_size, drop_remainder=training)
        return dataset.prefetch(tf.data.AUTOTUNE)

    return make


# --------------------------------------------------------------------------- initialisation
def _load_source(path, config, init_from_group0=False):
    """`(model, description)` for what `path` holds: original TF1 checkpoint, albert_tf checkpoint or
    pretraining run, HuggingFace folder, or `.keras` file (any albert_tf model)."""
    from albert_tf.models.pretrainer import AlbertPretrainer

    if os.path.isdir(path) and os.path.exists(os.path.join(path, "config.json")):
        from albert_tf.checkpoints.huggingface import load_huggingface

        return load_huggingface(path), f"HuggingFace folder {path}"
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "model.keras")):
        path = os.path.join(path, "model.keras")
    if path.endswith(".keras"):
        if not os.path.exists(path):
            raise FileNotFoundError(f"--init_checkpoint {path}: no such file.")
        from albert_tf.checkpoints.loading import load_keras_file

        return load_keras_file(path), f"weights of {path}"
    if os.path.isdir(path):
        path = tf.train.latest_checkpoint(path) or tf.train.latest_checkpoint(os.path.join(path, "checkpoints")) or path
    try:
        names = dict(tf.train.list_variables(path))
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as e:
        raise FileNotFoundError(
            f"--init_checkpoint {path}: not a readable checkpoint, HuggingFace folder or .keras file ({e})."
        ) from None
    if any(n.startswith(("bert/", "module/bert/")) for n in names):
        from albert_tf.checkpoints.original import load_original_checkpoint

        model, report = load_original_checkpoint(path, config, init_from_group0=init_from_group0, return_report=True)
        return model, f"original checkpoint {path}: {report.summary()}"
    # An albert_tf checkpoint of a pretraining run: its weights only (never the optimizer state).
    model = AlbertPretrainer(config)
    return model, initialise_weights(model, path, init_from_group0)


def initialise(model, path, init_from_group0=False):
    """Copies the weights held by `path` (any format) into `model`; never optimizer state or step.

    The backbone always; the head too when `path` holds a model of the same class and shape (a
    fine-tuned `.keras` file, e.g. an MNLI model scoring the `ax` diagnostic set). A source with another
    backbone config is an error naming the differing keys. Returns a one-line description.
    """
    source, description = _load_source(path, model.backbone.config, init_from_group0)
    backbone = model.backbone
    source_backbone = source if isinstance(source, AlbertBackbone) else getattr(source, "backbone", None)
    if source_backbone is None:
        raise ValueError(f"--init_checkpoint {path} holds a {type(source).__name__}, which has no ALBERT backbone.")
    ours, theirs = backbone.config.to_dict(), source_backbone.config.to_dict()
    ignored = ("hidden_dropout_prob", "attention_probs_dropout_prob")
    differing = {k: (theirs.get(k), v) for k, v in ours.items() if k not in ignored and theirs.get(k) != v}
    if differing:
        raise ValueError(
            f"--init_checkpoint {path} has another model shape; {{key: (checkpoint, --albert_config_file)}}: {differing}."
        )
    same_model = type(source) is type(model) and [w.shape for w in source.weights] == [w.shape for w in model.weights]
    if same_model:
        model.set_weights(source.get_weights())
        return description + " (backbone and head)"
    backbone.set_weights(source_backbone.get_weights())
    return description + " (backbone)"


# --------------------------------------------------------------------------- evaluation
def _as_dict(outputs):
    if isinstance(outputs, dict):
        return outputs
    return {"logits": outputs}


def gather_outputs(model, dataset, keep=("label_ids", "is_real_example", "unique_ids", "input_mask"), jit_compile=False,
                   progress=None, strategy=None):
    """Runs `model` (inference mode) over every batch and returns numpy arrays in record order.

    `progress`: a label for a progress bar over the batches (None: no bar). `strategy`: under a
    strategy with several replicas in one client (`MirroredStrategy`, `TPUStrategy`), each batch is
    split across the replicas inside `strategy.run`, so the forward pass runs where the variables live;
    otherwise (none, one device, or multi-worker, where every worker scores the whole set) the batches
    run here.
    """

    # One trace for every bucket shape and the short last batch; XLA still compiles per shape.
    signature = {k: tf.TensorSpec([None] * s.shape.rank, s.dtype) for k, s in dataset.element_spec.items()}
    carried = [k for k in keep if k in dataset.element_spec] + [_INDEX]

    distribute = (strategy is not None and strategy.num_replicas_in_sync > 1
                  and not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy))

    # Inside strategy.run a TPU compiles the whole replica step itself.
    @tf.function(input_signature=[signature], jit_compile=jit_compile and not distribute)
    def forward(batch):
        return _as_dict(model(batch, training=False))

    def replica_step(batch):
        outputs = dict(forward(batch))
        outputs.update({k: batch[k] for k in carried})
        return outputs

    if distribute:
        run = tf.function(lambda batch: strategy.run(replica_step, args=(batch,)), reduce_retracing=True)
        batches = strategy.experimental_distribute_dataset(dataset)

        def results(batch):
            # Each replica's slice, in any order: the example index restores record order below.
            per_replica = run(batch)
            return [{k: v for k, v in zip(per_replica, values)} for values in zip(
                *(strategy.experimental_local_results(v) for v in per_replica.values()))]
    else:
        batches = dataset

        def results(batch):
            return [replica_step(batch)]

    chunks = {}
    from tqdm import tqdm

    for batch in tqdm(batches, desc=progress, unit=" batches", disable=progress is None, leave=False):
        for outputs in results(batch):
            for key, value in outputs.items():
                chunks.setdefault(key, []).append(
                    np.asarray(tf.cast(value, tf.float32) if value.dtype.is_floating else value))
    if not chunks:
        return {}
    order = np.argsort(np.concatenate(chunks.pop(_INDEX)), kind="stable")
    gathered = {}
    for key, parts in chunks.items():
        if parts[0].ndim >= 2 and len({p.shape[1:] for p in parts}) > 1:
            # Per-token outputs of bucketed batches differ in length; pad back to the longest.
            # Float outputs (logits) get a very low value there, so no padded position wins an argmax.
            target = np.max([p.shape for p in parts], axis=0)
            fill = -1e9 if np.issubdtype(parts[0].dtype, np.floating) else 0
            parts = [np.pad(p, [(0, 0)] + [(0, t - n) for t, n in zip(target[1:], p.shape[1:])], constant_values=fill)
                     for p in parts]
        gathered[key] = np.concatenate(parts)[order]
    return gathered


def score_outputs(task: Task, outputs: dict) -> dict:
    """The task's `eval_results.txt` scores from gathered outputs (`gather_outputs`)."""
    weights = outputs.get("is_real_example")
    logits = outputs["logits"]
    if task.family in ("classification", "multiple_choice"):
        return scoring.classification_scores(logits, outputs["label_ids"], weights, extra=task.extra_metrics)
    if task.family == "regression":
        return scoring.regression_scores(np.reshape(logits, [-1]), outputs["label_ids"], weights)
    if task.family == "tagging":
        return scoring.tagging_scores(logits, outputs["label_ids"], outputs["input_mask"], task.labels)
    raise ValueError(f"task {task.name!r} ({task.family}) is scored from its predictions, not from logits.")


def race_hooks(task: Task, meta_file: str):
    """`evaluate_fn` for RACE: the original's overall accuracy plus `middle_accuracy` and `high_accuracy`.

    `meta_file` is the `.meta.json` that `albert-create-finetuning-data` writes beside RACE records
    (each record's level, which the records themselves cannot carry in the original's schema).
    """
    with open(meta_file, encoding="utf-8") as f:
        meta = json.load(f)
    levels = meta.get("levels") if meta.get("format") == "albert_tf.race_examples" else None
    if levels is None:
        raise UserInputError(f"{meta_file}: not RACE record metadata (no 'levels' list of format albert_tf.race_examples).")

    def evaluate(outputs):
        from albert_tf.metrics import race_scores

        scores = score_outputs(task, outputs)
        if len(levels) != len(outputs["logits"]):
            raise UserInputError(f"{meta_file} lists {len(levels)} records, the evaluation records hold "
                                 f"{len(outputs['logits'])}; regenerate one of them.")
        weights = np.asarray(outputs.get("is_real_example", np.ones(len(levels))), np.float64).reshape(-1)
        # Padding records ("" level, weight 0) are counted under no level.
        named = np.asarray([level or "middle" for level in levels])
        per_level = race_scores(np.argmax(outputs["logits"], axis=-1), outputs["label_ids"], named, weights)
        scores.update({k: v for k, v in per_level.items() if k != "eval_accuracy"})
        return scores

    return evaluate


V2_OUTPUTS = ("start_top_log_probs", "start_top_index", "end_top_log_probs", "end_top_index", "cls_logits")


def squad_hooks(task: Task, meta_file: str, dataset_file: Optional[str] = None, n_best_size: int = 20,
                max_answer_length: int = 30, start_n_top: int = 5, end_n_top: int = 5):
    """`(evaluate_fn, predict_fn)` for SQuAD: the original's post-processing, then the official scores.

    `meta_file` is the `.meta.json` written beside the evaluation records; `dataset_file` the SQuAD
    JSON the scores are computed against (needed for evaluation only). v2 is scored as `run_squad_v2`:
    a first pass answering every question finds the null-score threshold that maximises F1, a second
    pass applies it (so the reported score uses a threshold tuned on the evaluated set, as the original).
    """
    from albert_tf.tasks import squad

    features = squad.load_squad_features(meta_file)
    v2 = task.family == "squad_v2"

    def postprocess(outputs, threshold=None):
        ids = [int(u) for u in np.asarray(outputs["unique_ids"]).reshape(-1)]
        if not v2:
            results = {u: (outputs["start_logits"][i], outputs["end_logits"][i]) for i, u in enumerate(ids)}
            predictions, nbest = squad.postprocess_v1(features, results, n_best_size, max_answer_length)
            return predictions, nbest, None
        results = {u: {k: outputs[k][i] for k in V2_OUTPUTS} for i, u in enumerate(ids)}
        return squad.postprocess_v2(features, results, n_best_size, max_answer_length, start_n_top, end_n_top, threshold)

    def evaluate(outputs):
        from albert_tf.metrics import squad_v1_scores, squad_v2_scores

        if dataset_file is None:
            raise ValueError("SQuAD evaluation needs the dataset JSON (--predict_file).")
        with open(dataset_file, encoding="utf-8") as f:
            dataset = json.load(f)
        predictions, _, null_odds = postprocess(outputs)
        if not v2:
            return {k: float(v) for k, v in squad_v1_scores(dataset, predictions).items()}
        first = squad_v2_scores(dataset, predictions, null_odds)
        threshold = float(first.get("best_f1_thresh", 0.0))
        predictions, _, null_odds = postprocess(outputs, threshold)
        scores = {k: float(v) for k, v in squad_v2_scores(dataset, predictions, null_odds).items() if np.isscalar(v)}
        scores["null_score_diff_threshold"] = threshold
        return scores

    def predict(outputs, output_dir):
        predictions, nbest, null_odds = postprocess(outputs)
        return squad.write_predictions(output_dir, predictions, nbest, null_odds if v2 else None)

    return evaluate, predict


# --------------------------------------------------------------------------- the run
def write_eval_results(path, scores):
    """The original's `eval_results.txt`: one `key = value` line per score, sorted by key."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for key in sorted(scores):
            f.write(f"{key} = {scores[key]}\n")
    os.replace(tmp, path)


def run_finetuning(
    task,
    config: AlbertConfig,
    options: FinetuningOptions,
    train_files=None,
    eval_files=None,
    predict_files=None,
    do_train: bool = False,
    do_eval: bool = False,
    do_predict: bool = False,
    evaluate_fn: Optional[Callable[[dict], dict]] = None,
    predict_fn: Optional[Callable[[dict, str], list]] = None,
    callbacks=(),
    strategy=None,
):
    """Fine-tunes, evaluates and predicts for `task` (a name or a `Task`); returns a `FinetuningResult`.

    `train_files`/`eval_files`/`predict_files` are TFRecord files in the task's record schema.
    `evaluate_fn(outputs)` turns gathered eval outputs into scores (default: `score_outputs`; SQuAD
    passes its post-processing); `predict_fn(outputs, output_dir)` writes prediction files and returns
    their paths (GLUE's are written here when it is None). `strategy`: a ready `tf.distribute.Strategy`
    (default: the one `options.strategy` names, created first, as multi-worker training requires).
    """
    task = get_task(task) if isinstance(task, str) else task
    options = options.resolved(task)
    if options.max_seq_length > config.max_position_embeddings:
        raise ValueError(f"--max_seq_length {options.max_seq_length} is longer than max_position_embeddings {config.max_position_embeddings}.")
    if do_train and not train_files:
        raise ValueError("--do_train needs training records (--data_dir or --train_file).")
    if do_eval and not eval_files:
        raise ValueError("--do_eval needs evaluation records (--data_dir or --predict_file).")
    if do_predict and not predict_files:
        raise ValueError("--do_predict needs test records (--data_dir or --predict_file).")
    if strategy is None:
        # Before any other TensorFlow op: MultiWorkerMirroredStrategy configures the runtime at creation.
        strategy = select_strategy(options.strategy, tpu=options.tpu, tpu_zone=options.tpu_zone,
                                   gcp_project=options.gcp_project)
    for files, training in ((train_files if do_train else None, True), (eval_files if do_eval else None, False),
                            (predict_files if do_predict else None, False)):
        if files:
            check_records(files, task, options.max_seq_length, training)
    role = WorkerRole(strategy, options.output_dir)
    try:
        return _run(task, config, options, strategy, role, train_files, eval_files, predict_files, do_train, do_eval,
                    do_predict, evaluate_fn, predict_fn, callbacks)
    finally:
        role.cleanup()


def _run(task, config, options, strategy, role, train_files, eval_files, predict_files, do_train, do_eval, do_predict,
         evaluate_fn, predict_fn, callbacks):
    if role.is_chief:
        os.makedirs(options.output_dir, exist_ok=True)
    keras.utils.set_random_seed(options.seed)
    policy = PRECISIONS[options.precision] or recommended_mixed_precision_policy(strategy)
    replicas = strategy.num_replicas_in_sync
    jit_compile = options.jit_compile and (replicas == 1 or isinstance(strategy, tf.distribute.TPUStrategy))
    if options.train_batch_size % replicas:
        raise UserInputError(f"--train_batch_size {options.train_batch_size} must be divisible by the {replicas} replicas.")

    checkpoint_dir = os.path.join(options.output_dir, "checkpoints")
    record = RunRecord(options.output_dir)
    settings = {"task": task.name, "config": config.to_dict(), "max_seq_length": options.max_seq_length,
                "train_batch_size": options.train_batch_size, "learning_rate": options.learning_rate,
                "warmup_step": options.warmup_step, "optimizer": options.optimizer}
    resuming = tf.train.latest_checkpoint(checkpoint_dir) is not None
    if resuming:
        record.check(settings)
    save_every = min(options.save_checkpoints_steps, options.train_step)
    steps_per_execution = steps_per_execution_for(role, options.iterations_per_loop, save_every, options.log_every_steps)
    results = {"task": task.name, "precision": policy, "replicas": replicas, "options": dataclasses.asdict(options)}
    with strategy.scope():
        backbone = AlbertBackbone(config, dtype=policy)
        model = task.build_model(backbone, dropout=options.classifier_dropout)
        if options.init_checkpoint and not resuming:
            results["initialised_from"] = initialise(model, options.init_checkpoint, options.init_from_group0)
            logger.info("initialised from %s", results["initialised_from"])
        optimizer = create_optimizer(options.optimizer, options.learning_rate, options.train_step, options.warmup_step)
        if policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer, jit_compile=jit_compile, steps_per_execution=steps_per_execution)
        optimizer.build(model.trainable_variables)
        checkpoint = TrainingCheckpoint(model, optimizer, read_dir=checkpoint_dir, write_dir=role.path("checkpoints"),
                                        max_to_keep=1)
    prepare_model_for_fit(model, strategy)
    step = checkpoint.step
    best_manager = tf.train.CheckpointManager(checkpoint.checkpoint, role.path("best"), max_to_keep=1,
                                              checkpoint_name="model.ckpt-best")
    history_file = role.path("eval_history.json")
    history = (read_json(history_file) or []) if resuming else []
    if resuming:
        results["resumed_from"] = checkpoint.restore_latest()
        done = int(step.numpy())
        # Evaluations of checkpoints that were lost with the kill are dropped.
        history = [h for h in history if h["global_step"] <= done]
        logger.info("resumed from %s at step %d", results["resumed_from"], done)
    if role.is_chief:
        record.write(settings)
    verbose = options.verbose if role.is_chief else 0

    evaluate_fn = evaluate_fn or (lambda outputs: score_outputs(task, outputs))
    eval_dataset_fn = finetuning_dataset_fn(eval_files, task, options.max_seq_length, False, options.bucket_by_length,
                                            options.smallest_bucket) if do_eval else None

    def evaluate():
        outputs = gather_outputs(model, eval_dataset_fn(options.eval_batch_size), jit_compile=jit_compile,
                                 progress="evaluating" if verbose == 1 else None, strategy=strategy)
        return evaluate_fn(outputs)

    def best_entry():
        scored = [h for h in history if task.best_key in h]
        return max(scored, key=lambda h: (h[task.best_key], -h["global_step"])) if scored else None

    class EvaluateCheckpoint(keras.callbacks.Callback):
        """After each checkpoint (CheckpointSaver runs first): evaluate, keep the best."""

        def on_epoch_end(self, epoch, logs=None):
            if not do_eval:
                return
            global_step = int(step.numpy())
            if any(h["global_step"] == global_step for h in history):
                return
            scores = dict(evaluate(), global_step=global_step)
            previous = best_entry()
            history.append(scores)
            if role.is_chief:
                write_json(history_file, history)
            if previous is None or scores[task.best_key] > previous[task.best_key]:
                best_manager.save(checkpoint_number=global_step)
                logger.info("step %d: %s = %.4f (best so far)", global_step, task.best_key, scores[task.best_key])

    started = time.time()
    if do_train:
        done = int(step.numpy())
        if done >= options.train_step:
            note = (f"--train_step {options.train_step}: the checkpoint in {checkpoint_dir} is already at step {done}, "
                    "nothing to train; raise --train_step to train further.")
            logger.warning(note)
            results["train_note"] = note
        else:
            make_train = finetuning_dataset_fn(train_files, task, options.max_seq_length, True, options.bucket_by_length,
                                               options.smallest_bucket, options.seed)
            metrics_csv = MetricsCSV(role.path("train_metrics.csv"), step)
            if resuming:
                metrics_csv.truncate_after(done)
            counter = StepCounter(step)
            saver = CheckpointSaver(checkpoint)
            watcher = PreemptionWatcher(strategy, multi_worker=role.multi_worker)
            all_callbacks = [counter, watcher, saver, EvaluateCheckpoint(),
                             ScalarLogger(role.path("tensorboard", "train"), step, options.log_every_steps),
                             metrics_csv, *callbacks]
            fitted_history = {}
            compiled_for = steps_per_execution
            with watcher:
                for call in plan_fit_calls(done, options.train_step, save_every, steps_per_execution):
                    if watcher.requested:
                        break
                    if call.steps_per_execution != compiled_for:
                        with strategy.scope():
                            model.compile(optimizer=optimizer, jit_compile=jit_compile,
                                          steps_per_execution=call.steps_per_execution)
                        compiled_for = call.steps_per_execution
                    counter.steps_per_execution = call.steps_per_execution
                    dataset = distributed_dataset(strategy, make_train, options.train_batch_size, call.start)
                    fitted = model.fit(dataset, epochs=call.epochs, steps_per_epoch=call.steps_per_epoch,
                                       callbacks=all_callbacks, shuffle=False, verbose=verbose)
                    fitted_history = {k: fitted_history.get(k, []) + list(v) for k, v in fitted.history.items()}
            results["train"] = {k: float(np.asarray(v[-1]).reshape(-1)[0]) for k, v in fitted_history.items() if v}
            if watcher.requested:
                results["preempted"] = {"step": int(step.numpy()), "checkpoint": saver.last_path}
                logger.warning("stopped by SIGTERM at step %d; checkpoint %s; run again to resume",
                               int(step.numpy()), saver.last_path)
                write_json(role.path("results.json"), results)
                return FinetuningResult(model=model, eval=None, best_step=None, predictions=None, results=results)
        results["train_steps"] = int(step.numpy())
        results["train_seconds"] = time.time() - started

    eval_scores, best_step = None, None
    final_step = int(step.numpy())
    if do_eval:
        if best_manager.latest_checkpoint:
            checkpoint.checkpoint.restore(best_manager.latest_checkpoint).assert_existing_objects_matched()
            best = best_entry()
            eval_scores, best_step = dict(best), int(best["global_step"])
        else:
            # Evaluation only (no checkpoint of this run): the model as initialised.
            eval_scores = dict(evaluate(), global_step=int(step.numpy()))
            best_step = int(step.numpy())
        write_eval_results(role.path("eval_results.txt"), eval_scores)
        with open(role.path("best_trial.txt"), "w", encoding="utf-8") as f:
            f.write(f"{final_step}:{best_step}:{eval_scores.get(task.best_key)}\n")
        results["eval"] = eval_scores
        results["best_step"] = best_step
    elif best_manager.latest_checkpoint and do_predict:
        checkpoint.checkpoint.restore(best_manager.latest_checkpoint).assert_existing_objects_matched()

    predictions = None
    if do_predict:
        make = finetuning_dataset_fn(predict_files, task, options.max_seq_length, False, options.bucket_by_length,
                                     options.smallest_bucket)
        predictions = gather_outputs(model, make(options.predict_batch_size), jit_compile=jit_compile,
                                     progress="predicting" if verbose == 1 else None, strategy=strategy)
        written = predict_fn(predictions, role.path()) if predict_fn else write_glue_predictions(task, predictions, role.path())
        results["prediction_files"] = written

    if do_train:
        model_file = role.path("model.keras")
        model.save(model_file)
        results["model_file"] = model_file
        if options.export and role.is_chief:
            from albert_tf.export import export_saved_model

            export_dir = options.export_dir or role.path("saved_model")
            label_names = task.labels if task.family in ("classification", "multiple_choice") else None
            results["saved_model"] = export_saved_model(model, export_dir, tokenizer=options.spm_model_file,
                                                        max_seq_length=options.max_seq_length, label_names=label_names)
    write_json(role.path("results.json"), results)
    if role.is_chief:
        # curves.png beside train_metrics.csv (step column) and eval_history.json; a no-op without matplotlib.
        from albert_tf.training.curves import write_curves

        write_curves(options.output_dir)
    return FinetuningResult(model=model, eval=eval_scores, best_step=best_step, predictions=predictions, results=results)


def write_glue_predictions(task: Task, outputs: dict, output_dir: str, guids=None):
    """`test_results.tsv` (class probabilities per example, tab-separated) and `submit_results.tsv`.

    `submit_results.tsv` is "index<TAB>prediction" then one row per example: its guid (default: its
    position, which is the GLUE test files' index column) and the label string (the value for STS-B).
    """
    logits = np.asarray(outputs["logits"], np.float64)
    real = np.asarray(outputs.get("is_real_example", np.ones(len(logits))), bool)
    logits = logits[real]
    guids = list(range(len(logits))) if guids is None else list(guids)
    if task.family == "regression":
        values = logits.reshape(-1)
        rows = ["\t".join([f"{v}"]) for v in values]
        labels = [f"{v}" for v in values]
    else:
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=-1, keepdims=True)
        rows = ["\t".join(f"{p}" for p in row) for row in probabilities]
        labels = [task.labels[i] for i in np.argmax(probabilities, axis=-1)]
    paths = []
    for name, lines in (("test_results.tsv", rows), ("submit_results.tsv", ["index\tprediction"] + [f"{g}\t{l}" for g, l in zip(guids, labels)])):
        path = os.path.join(output_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
        paths.append(path)
    return paths

