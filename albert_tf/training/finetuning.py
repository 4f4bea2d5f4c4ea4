"""The fine-tuning run: the original `run_classifier.py`, `run_squad_v*.py` and `run_race.py` as one loop.

For any task of `albert_tf.tasks`: build the task model around one `AlbertBackbone`, initialise the
backbone from `init_checkpoint` (weights only), `fit` inside the strategy in stretches of
`save_checkpoints_steps` batches with a checkpoint after each, evaluate every checkpoint on the dev
records and keep the best one by the task's key (as the original's evaluation loop, which walked every
checkpoint), then predict with the best weights. A killed run resumes from its newest checkpoint; the
input stream is deterministic, so the resumed run sees the batches the killed one would have.
The loop itself is `albert_tf.training.engine`'s; this module declares what fine-tuning adds to it
(`_spec`) and writes its outputs (`eval_results.txt`, `best_trial.txt`, predictions, the export).

Batches are length-bucketed by default (`bucket_by_length`), for training and evaluation: a few static
shapes, far less padding. Evaluation gathers every example's outputs in record order and scores the
whole set at once (Matthews correlation, Pearson and F1 are not means over batches).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Callable, Optional

import keras
import numpy as np

from albert_tf.checkpoints.loading import load_with_description
from albert_tf.config import AlbertConfig
from albert_tf.errors import UserInputError
from albert_tf.export import export_saved_model
from albert_tf.models.backbone import AlbertBackbone
from albert_tf.models.lora import DEFAULT_TARGETS, adapters_path, check_lora_settings, enable_lora, save_lora_weights
from albert_tf.tasks import Task, get_task
from albert_tf.training.checkpointing import write_eval_results, write_text
from albert_tf.training.engine import PRECISIONS, RunSpec, TrainingEngine
from albert_tf.training.finetuning_outputs import gather_outputs, race_hooks, score_outputs, squad_hooks
from albert_tf.training.finetuning_records import check_records, count_records, finetuning_dataset_fn, record_fields
from albert_tf.training.optimizers import create_optimizer
from albert_tf.training.strategy import select_strategy

logger = logging.getLogger(__name__)

# The records and outputs helpers live in finetuning_records / finetuning_outputs; re-exported here
# under the names callers have used.
__all__ = ["FinetuningOptions", "FinetuningResult", "check_records", "count_records", "finetuning_dataset_fn",
           "gather_outputs", "race_hooks", "record_fields", "run_finetuning", "score_outputs", "squad_hooks"]


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
    #: Stop after this many updates in a row skipped for a NaN/Inf loss or gradient (0: never stop).
    max_consecutive_bad_steps: int = 3
    #: SavedModel folder written after training (None: `<output_dir>/saved_model`); `export=False` skips it.
    export_dir: Optional[str] = None
    export: bool = True
    #: The SentencePiece model shipped with the SavedModel (raw-string signatures); None: token signatures only.
    spm_model_file: Optional[str] = None
    #: LoRA (`albert_tf.models.lora`): adapters of this rank on `lora_targets` train, with the head (and the
    #: LayerNorms with `lora_train_layernorm`); the rest of the backbone is frozen. 0: full fine-tuning.
    lora_rank: int = 0
    #: The adapters' scale is `lora_alpha / lora_rank` (None: alpha = rank).
    lora_alpha: Optional[float] = None
    lora_targets: tuple = DEFAULT_TARGETS
    lora_train_layernorm: bool = False

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
        if self.max_consecutive_bad_steps < 0:
            raise ValueError(f"--max_consecutive_bad_steps must be >= 0, got {self.max_consecutive_bad_steps}.")
        if self.lora_rank:
            check_lora_settings(self.lora_rank, self.lora_alpha, self.lora_targets)
        elif self.lora_alpha is not None or tuple(self.lora_targets) != DEFAULT_TARGETS or self.lora_train_layernorm:
            raise UserInputError("--lora_alpha, --lora_targets and --lora_train_layernorm apply to LoRA: "
                                 "give --lora_rank (a positive rank) too.")

    def lora_settings(self) -> Optional[dict]:
        """The LoRA settings a resume must keep (None: full fine-tuning)."""
        if not self.lora_rank:
            return None
        return {"rank": self.lora_rank, "alpha": self.lora_alpha if self.lora_alpha is not None else self.lora_rank,
                "targets": list(self.lora_targets), "train_layernorm": self.lora_train_layernorm}


@dataclasses.dataclass
class FinetuningResult:
    """What `run_finetuning` returns: the model (best weights), the scores and the files it wrote."""

    model: keras.Model
    eval: Optional[dict]
    best_step: Optional[int]
    predictions: Optional[dict]
    results: dict


# --------------------------------------------------------------------------- initialisation
def initialise(model, path, init_from_group0=False):
    """Copies the weights held by `path` (any format) into `model`; never optimizer state or step.

    The backbone always; the head too when `path` holds a model of the same class and shape (a
    fine-tuned `.keras` file, e.g. an MNLI model scoring the `ax` diagnostic set). A source with another
    backbone config is an error naming the differing keys. Returns a one-line description.
    """
    source, _, description = load_with_description(path, model.backbone.config, init_from_group0=init_from_group0,
                                                   flag="--init_checkpoint")
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


# --------------------------------------------------------------------------- the run
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
    if options.lora_rank and not do_train:
        raise UserInputError(f"--lora_rank {options.lora_rank} trains adapters: it needs --do_train (a LoRA run's "
                             "model.keras already holds the merged weights to evaluate or predict with).")
    if strategy is None:
        # Before any other TensorFlow op: MultiWorkerMirroredStrategy configures the runtime at creation.
        strategy = select_strategy(options.strategy, tpu=options.tpu, tpu_zone=options.tpu_zone,
                                   gcp_project=options.gcp_project)
    for files, training in ((train_files if do_train else None, True), (eval_files if do_eval else None, False),
                            (predict_files if do_predict else None, False)):
        if files:
            check_records(files, task, options.max_seq_length, training)
    if options.train_batch_size % strategy.num_replicas_in_sync:
        raise UserInputError(f"--train_batch_size {options.train_batch_size} must be divisible by the "
                             f"{strategy.num_replicas_in_sync} replicas.")
    spec = _spec(task, config, options, train_files, eval_files if do_eval else None, evaluate_fn, callbacks)
    with TrainingEngine(spec, strategy) as engine:
        return _run(engine, task, options, predict_files, do_train, do_eval, do_predict, predict_fn)


def _spec(task, config, options, train_files, eval_files, evaluate_fn, callbacks) -> RunSpec:
    """A fine-tuning task's declaration: its model around one backbone, its records, its scores."""
    evaluate_fn = evaluate_fn or (lambda outputs: score_outputs(task, outputs))

    def evaluate(engine):
        return evaluate_fn(_outputs(engine, task, options, eval_files, options.eval_batch_size, "evaluating"))

    def build_model(dtype):
        return task.build_model(AlbertBackbone(config, dtype=dtype), dropout=options.classifier_dropout)

    lora = options.lora_settings()

    def adapt_model(model):
        trainable = enable_lora(model, lora["rank"], lora["alpha"], lora["targets"], lora["train_layernorm"])
        logger.info("LoRA %s: %d of %d parameters train", lora, trainable, model.count_params())
        return {"lora": dict(lora, trainable_parameters=trainable, parameters=model.count_params())}

    settings = {"task": task.name, "config": config.to_dict(), "max_seq_length": options.max_seq_length,
                "train_batch_size": options.train_batch_size, "learning_rate": options.learning_rate,
                "warmup_step": options.warmup_step, "optimizer": options.optimizer}
    if lora:
        settings["lora"] = lora  # only then: runs without LoRA keep the run record they always had
    return RunSpec.from_options(
        options,
        settings=settings,
        build_model=build_model,
        adapt_model=adapt_model if lora else None,
        make_optimizer=lambda: create_optimizer(options.optimizer, options.learning_rate, options.train_step,
                                                options.warmup_step),
        initialise=(lambda model: initialise(model, options.init_checkpoint, options.init_from_group0))
        if options.init_checkpoint else None,
        train_dataset_fn=finetuning_dataset_fn(train_files, task, options.max_seq_length, True,
                                               options.bucket_by_length, options.smallest_bucket, options.seed)
        if train_files else None,
        batch_size=options.train_batch_size,
        total_steps=options.train_step,
        keep_checkpoints=1,
        best_key=task.best_key,
        evaluate=evaluate if eval_files else None,
        callbacks=tuple(callbacks),
    )


def _outputs(engine, task, options, files, batch_size, label):
    """The model's outputs over every record of `files`, in record order (a progress bar `label`)."""
    make = finetuning_dataset_fn(files, task, options.max_seq_length, False, options.bucket_by_length,
                                 options.smallest_bucket)
    return gather_outputs(engine.model, make(batch_size), jit_compile=engine.jit_compile,
                          progress=label if engine.verbose == 1 else None, strategy=engine.strategy)


def _run(engine: TrainingEngine, task, options, predict_files, do_train, do_eval, do_predict, predict_fn):
    engine.start()
    results = {"task": task.name, **engine.results, "options": dataclasses.asdict(options)}
    started = time.time()
    if do_train:
        outcome = engine.train()
        if outcome.already_done:
            note = (f"--train_step {options.train_step}: the checkpoint in {engine.checkpoint_dir} is already at step "
                    f"{engine.step}, nothing to train; raise --train_step to train further.")
            logger.warning(note)
            results["train_note"] = note
        else:
            results["train"] = outcome.metrics
            if outcome.nonfinite_steps_skipped is not None:
                results["nonfinite_steps_skipped"] = outcome.nonfinite_steps_skipped
            if outcome.nonfinite_restore is not None:
                results["nonfinite_restore"] = outcome.nonfinite_restore
            if outcome.preempted:
                results["preempted"] = outcome.stop_record("step", engine.step)
                logger.warning("stopped by %s at step %d; checkpoint %s; run again to resume",
                               outcome.signal_name, engine.step, outcome.last_checkpoint)
                engine.write_results(results)
                return FinetuningResult(model=engine.model, eval=None, best_step=None, predictions=None, results=results)
        results["train_steps"] = engine.step
        results["train_seconds"] = time.time() - started

    eval_scores, best_step = None, None
    final_step = engine.step
    if do_eval:
        if engine.restore_best():
            best = engine.evaluation.history.best()
            eval_scores, best_step = dict(best), int(best["global_step"])
        else:
            # Evaluation only (no checkpoint of this run): the model as initialised.
            eval_scores = dict(engine.spec.evaluate(engine), global_step=engine.step)
            best_step = engine.step
        write_eval_results(engine.path("eval_results.txt"), eval_scores)
        write_best_trial(engine.path("best_trial.txt"), final_step, best_step, eval_scores.get(task.best_key))
        results["eval"] = eval_scores
        results["best_step"] = best_step
    elif do_predict:
        engine.restore_best()

    predictions = None
    if do_predict:
        predictions = _outputs(engine, task, options, predict_files, options.predict_batch_size, "predicting")
        written = predict_fn(predictions, engine.path()) if predict_fn else write_glue_predictions(task, predictions, engine.path())
        results["prediction_files"] = written

    if do_train:
        results["model_file"] = engine.save_model()
        if options.lora_rank:
            # model.keras holds the merged kernels (Keras' format); the adapters themselves go beside it.
            results["lora_file"] = save_lora_weights(engine.model, adapters_path(results["model_file"]))
        if options.export and engine.role.is_chief:
            results["saved_model"] = _export(engine, task, options)
    engine.write_results(results)
    if engine.role.is_chief:
        # curves.png beside train_metrics.csv (step column) and eval_history.json.
        engine.write_curves()
    return FinetuningResult(model=engine.model, eval=eval_scores, best_step=best_step, predictions=predictions,
                            results=results)


def write_best_trial(path, final_step, best_step, best_score):
    """The original's `best_trial.txt`: "last step:best step:best score" (atomic)."""
    write_text(path, f"{final_step}:{best_step}:{best_score}\n")


def _export(engine, task, options):
    export_dir = options.export_dir or engine.path("saved_model")
    label_names = task.labels if task.family in ("classification", "multiple_choice") else None
    return export_saved_model(engine.model, export_dir, tokenizer=options.spm_model_file,
                              max_seq_length=options.max_seq_length, label_names=label_names)


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
        write_text(path, "\n".join(lines) + "\n")
        paths.append(path)
    return paths

