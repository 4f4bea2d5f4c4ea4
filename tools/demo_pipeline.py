"""The stages of `albert-demo`, each a call of the library function that does its work.

A stage prints the console command that does the same by hand, checks what the library returned
and stops the demo with one line naming the stage when that is not what the next stage needs. A
finished stage leaves ``<work_dir>/stages/<name>.json``; the next run skips it while the settings it
depends on are unchanged. Nothing here imports TensorFlow at module level: ``albert-demo --help``
stays TensorFlow-free.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional

from albert_tf.io import write_text_atomic  # noqa: F401  (albert-demo writes its summary with it too)

# A tiny ALBERT that learns something in a few CPU minutes: one shared layer applied 4 times.
TINY_CONFIG = dict(
    embedding_size=64, hidden_size=128, num_hidden_layers=4, num_hidden_groups=1, num_attention_heads=4,
    intermediate_size=512, inner_group_num=1, hidden_act="gelu", hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0, max_position_embeddings=128, type_vocab_size=2, initializer_range=0.02,
)

STAGES = ("corpus", "vocab", "records", "pretrain", "finetune", "export", "serve")

INITIALISATIONS = ("pretrained", "random init")

FINETUNE_BATCH = 32

SERVE_QUERIES = {
    "fill_mask": ["it is a truth universally [MASK] that a single man must be in want of a wife.",
                  "to be, or not to be, that is the [MASK]."],
    "classify": ["Anne Elliot walked with Captain Wentworth along the shore at Lyme.",
                 "The policeman in the blue hat spoke of anarchy and the poets of Saffron Park.",
                 "Of man's first disobedience, and the fruit of that forbidden tree.",
                 "My lord, I will be brief, for the king is coming to the castle tonight."],
}


@dataclasses.dataclass
class StageResult:
    """One row of the summary table, kept as ``<work_dir>/stages/<name>.json`` once the stage is done.

    Example:

    >>> StageResult("vocab", metrics={"pieces": 3000}).status
    'done'
    """

    name: str
    status: str = "done"  # done | skipped (complete earlier)
    seconds: float = 0.0
    steps: Optional[int] = None
    metrics: Dict[str, float] = dataclasses.field(default_factory=dict)
    artifacts: Dict[str, str] = dataclasses.field(default_factory=dict)
    note: str = ""
    #: Results beyond the table row, for summary.json (the fine-tune stage's few-label comparison).
    details: Dict[str, list] = dataclasses.field(default_factory=dict)


def transfer_verdict(transfer: List[dict], margin: float = 0.01) -> str:
    """One line on where the pretrained start led by more than `margin`, from the few-label rows.

    >>> transfer_verdict([{"labels_per_class": 10, "pretrained": 0.6, "random_init": 0.4, "seeds": 3},
    ...                   {"labels_per_class": 500, "pretrained": 0.8, "random_init": 0.81, "seeds": 1}])
    'pretraining helped with 10 labelled sentences per class; not with 500'
    """
    helped = [str(r["labels_per_class"]) for r in transfer if r["pretrained"] - r["random_init"] > margin]
    not_helped = [str(r["labels_per_class"]) for r in transfer if r["pretrained"] - r["random_init"] <= margin]
    if not helped:
        return "pretraining did not help at any number of labelled sentences per class (" + ", ".join(not_helped) + ")"
    text = "pretraining helped with " + ", ".join(helped) + " labelled sentences per class"
    return text + ("; not with " + ", ".join(not_helped) if not_helped else "")


def plot_transfer(transfer: List[dict], path: str, chance: float) -> Optional[str]:
    """`path` (a PNG): held-out accuracy against labelled sentences per class, one line per initialisation.
    Returns None without writing when matplotlib (the ``plot`` extra) is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sizes = [row["labels_per_class"] for row in transfer]
    figure, axes = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
    for key, label in (("pretrained", "pretrained"), ("random_init", "random init")):
        axes.plot(sizes, [row[key] for row in transfer], marker="o", label=label)
    axes.axhline(chance, color="grey", linestyle=":", label="chance")
    axes.set_xscale("log")
    axes.set_xlabel("labelled sentences per class (log scale)")
    axes.set_ylabel("held-out accuracy")
    axes.set_title("few-label fine-tuning (mean over seeds)")
    axes.legend()
    figure.savefig(path + ".incomplete.png", dpi=100)
    plt.close(figure)
    os.replace(path + ".incomplete.png", path)
    return path


class StageFailed(SystemExit):
    """A stage's result is not what the next stage needs: the demo stops with this one line."""

    def __init__(self, stage: str, message: str):
        super().__init__(f"albert-demo: error: stage {stage}: {message}")


class StageStopped(SystemExit):
    """A signal stopped a stage's training at a checkpoint: the demo exits with 128 + the signal (143
    for SIGTERM, 130 for SIGINT), having said where; the next run resumes that stage."""

    def __init__(self, stage: str, stop: dict, unit: str):
        from albert_tf.training.interruption import stopped_message

        print(stopped_message(f"albert-demo: stage {stage}", stop["signal"], unit, stop[unit], stop["checkpoint"]),
              file=sys.stderr)
        super().__init__(stop["exit_code"])


def _command(name: str, argv: List[str]) -> str:
    return "$ " + " ".join([name] + [shlex.quote(a) for a in argv])



class Demo:
    """The demo's stages over one work directory; `args` are `albert-demo`'s parsed flags.

    `run_stage(name)` runs the method of that name unless an earlier run completed it with the same
    settings, and returns its `StageResult`; `summary(results)` is the table albert-demo prints.

    Example (the first stage, on two tiny files; the model stages need minutes):

    >>> import argparse, os, tempfile
    >>> work = tempfile.mkdtemp()
    >>> for name in ("cats", "dogs"):
    ...     with open(os.path.join(work, name + ".txt"), "w") as f:
    ...         _ = f.write("".join(f"The {name} number {i} sat quietly on the warm mat today.\\n" for i in range(40)))
    >>> args = argparse.Namespace(corpus=os.path.join(work, "*.txt"), corpus_format="lines", work_dir=work)
    >>> result = Demo(args).corpus()  # doctest: +ELLIPSIS
    text: ...
    >>> result.metrics["classes"]
    2
    """

    # What a stage writes: removed before the stage reruns with other settings (an interrupted stage,
    # which has no result file yet, keeps them and resumes).
    OUTPUTS = {"records": ("records",), "pretrain": ("pretrain",), "finetune": ("finetune",), "export": ("export",)}

    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.work_dir)
        self.stage_dir = os.path.join(self.work, "stages")
        os.makedirs(self.stage_dir, exist_ok=True)
        self.paths = {
            "books": os.path.join(self.work, "books"),
            "task": os.path.join(self.work, "task"),
            "spm": os.path.join(self.work, "vocab", "spm"),
            "records": os.path.join(self.work, "records"),
            "pretrain": os.path.join(self.work, "pretrain"),
            "config": os.path.join(self.work, "albert_config.json"),
            "finetune": os.path.join(self.work, "finetune"),
            "export": os.path.join(self.work, "export"),
        }

    # ------------------------------------------------------------------ bookkeeping
    def _result_path(self, name):
        return os.path.join(self.stage_dir, name + ".json")

    def _settings(self, name):
        """The flags a stage's result depends on: its own and every earlier stage's."""
        a = self.args
        own = {
            "corpus": {"corpus": a.corpus, "corpus_format": a.corpus_format},
            "vocab": {"vocab_size": a.vocab_size},
            "records": {"max_seq_length": a.max_seq_length, "max_predictions_per_seq": a.max_predictions_per_seq,
                        "dupe_factor": a.dupe_factor},
            "pretrain": {"batch": a.train_batch_size, "steps": a.num_train_steps, "lr": a.learning_rate,
                         "optimizer": a.optimizer, "config": TINY_CONFIG},
            "finetune": {"epochs": a.finetune_epochs, "lr": a.finetune_learning_rate,
                         "few_label_sizes": list(a.few_label_sizes), "few_label_seeds": a.few_label_seeds,
                         "few_label_steps": a.few_label_steps},
        }
        settings = {}
        for stage in STAGES[: STAGES.index(name) + 1]:
            settings.update(own.get(stage, {}))
        return settings

    def run_stage(self, name) -> StageResult:
        path = self._result_path(name)
        settings = self._settings(name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                saved = json.load(f)
            if saved.get("settings") == settings and saved["result"]["status"] == "done":
                result = StageResult(**saved["result"])
                result.status = "skipped"
                print(f"[{name}] complete from an earlier run ({result.seconds:.0f} s then); skipped")
                return result
            for key in self.OUTPUTS.get(name, ()):
                shutil.rmtree(self.paths[key], ignore_errors=True)
            os.remove(path)
        print(f"\n[{name}]", flush=True)
        started = time.time()
        try:
            result = getattr(self, name)()
        except ValueError as error:  # the library's one-line errors about input (UserInputError and kin)
            raise StageFailed(name, " ".join(str(error).split())) from error
        result.seconds = time.time() - started
        write_text_atomic(path, json.dumps({"settings": settings, "result": dataclasses.asdict(result)}, indent=1))
        return result

    def _inputs(self) -> List[str]:
        if self.args.corpus:
            return [self.args.corpus]
        from data_prep.sample_corpus import write_sample_books

        return write_sample_books(self.paths["books"])

    # ------------------------------------------------------------------ stages
    def corpus(self) -> StageResult:
        from data_prep.source_task import write_source_task

        if self.args.corpus:
            source = self.args.corpus
        else:
            from data_prep.sample_corpus import SAMPLE_BOOKS

            source = "sample books: " + ", ".join(f"{b.title} ({b.author})" for b in SAMPLE_BOOKS)
        print(f"text: {source}")
        task = write_source_task(self._inputs(), self.paths["task"], fmt=self.args.corpus_format)
        print(f"{task.corpus_sentences} pretraining sentences; task: {len(task.labels)} classes, "
              f"{task.train_examples} training and {task.dev_examples} held-out sentences")
        return StageResult("corpus", metrics={"sentences": task.corpus_sentences, "classes": len(task.labels),
                                              "train examples": task.train_examples, "dev examples": task.dev_examples},
                           artifacts={"corpus": task.corpus, "task": task.directory})

    def vocab(self) -> StageResult:
        from data_prep.vocab import train_vocab

        corpus = os.path.join(self.paths["task"], "corpus.txt")
        print(_command("albert-train-vocab", ["--input", corpus, "--model_prefix", self.paths["spm"],
                                              "--vocab_size", str(self.args.vocab_size), "--do_lower_case", "true"]),
              flush=True)
        os.makedirs(os.path.dirname(self.paths["spm"]), exist_ok=True)
        summary = train_vocab(corpus, self.paths["spm"], self.args.vocab_size, do_lower_case=True)
        print(summary.format())
        if summary.vocab_size != self.args.vocab_size:
            raise StageFailed("vocab", f"{summary.model_file} holds {summary.vocab_size} pieces; expected "
                                       f"--vocab_size {self.args.vocab_size}")
        return StageResult("vocab", metrics={"pieces": summary.vocab_size},
                           artifacts={"vocabulary": summary.model_file})

    def records(self) -> StageResult:
        from data_prep.pretraining import PretrainingDataConfig, create_pretraining_data

        a = self.args
        totals = {}
        for part, text in (("train", "corpus.txt"), ("heldout", "heldout.txt")):
            config = PretrainingDataConfig(
                input_file=os.path.join(self.paths["task"], text),
                output_file=os.path.join(self.paths["records"], part) + "-{shard}.tfrecord",
                spm_model_file=self.paths["spm"] + ".model", max_seq_length=a.max_seq_length,
                max_predictions_per_seq=a.max_predictions_per_seq, dupe_factor=a.dupe_factor if part == "train" else 1)
            print(_command("albert-create-pretraining-data", [
                f"--input_file={config.input_file}", f"--output_file={config.output_file}",
                f"--spm_model_file={config.spm_model_file}", f"--max_seq_length={config.max_seq_length}",
                f"--max_predictions_per_seq={config.max_predictions_per_seq}", f"--dupe_factor={config.dupe_factor}"]),
                flush=True)
            totals[part] = create_pretraining_data(config).get("totals", {})
            print(f"{totals[part].get('instances', 0)} instances, mask rate {totals[part].get('mask_rate', 0):.4f}")
            if not totals[part].get("instances"):
                raise StageFailed("records", f"{config.input_file} gave no instance; expected documents of "
                                             "several sentences (one a line, a blank line between documents)")
        return StageResult("records", metrics={"train instances": totals["train"]["instances"],
                                               "held-out instances": totals["heldout"]["instances"],
                                               "mask rate": round(totals["train"]["mask_rate"], 4)},
                           artifacts={"records": os.path.join(self.paths["records"], "train-*.tfrecord")})

    def _pretraining_dataset_fn(self, pattern, is_training, seed):
        from albert_tf.data import list_files, pretraining_dataset

        files = list_files(pattern)
        a = self.args

        def read(batch_size, input_context=None):
            # Seeded and repeating (evaluation too, as the original's eval input): a resumed run skips
            # exactly the batches it already consumed.
            return pretraining_dataset(files, batch_size=batch_size, max_seq_length=a.max_seq_length,
                                       max_predictions_per_seq=a.max_predictions_per_seq, is_training=is_training,
                                       repeat=True, seed=seed, input_context=input_context)

        return files, read

    def pretrain(self) -> StageResult:
        from albert_tf import AlbertConfig
        from albert_tf.data.checks import check_pretraining_files
        from albert_tf.training.pretraining import PretrainingOptions, run_pretraining

        a = self.args
        config = AlbertConfig(vocab_size=a.vocab_size, **TINY_CONFIG)
        if a.max_seq_length > config.max_position_embeddings:
            raise StageFailed("pretrain", f"--max_seq_length {a.max_seq_length} is longer than the demo model's "
                                          f"{config.max_position_embeddings} positions")
        config.to_json_file(self.paths["config"])
        train_pattern = os.path.join(self.paths["records"], "train-*.tfrecord")
        eval_pattern = os.path.join(self.paths["records"], "heldout-*.tfrecord")
        options = PretrainingOptions(
            output_dir=self.paths["pretrain"], train_batch_size=a.train_batch_size, max_seq_length=a.max_seq_length,
            max_predictions_per_seq=a.max_predictions_per_seq, optimizer=a.optimizer, learning_rate=a.learning_rate,
            num_train_steps=a.num_train_steps, num_warmup_steps=max(1, a.num_train_steps // 10),
            save_checkpoints_steps=a.save_checkpoints_steps, max_eval_steps=20)
        print(_command("albert-pretrain", [
            "--albert_config_file", self.paths["config"], "--input_file", train_pattern,
            "--eval_input_file", eval_pattern, "--output_dir", options.output_dir, "--do_eval", "true",
            "--max_seq_length", str(options.max_seq_length),
            "--max_predictions_per_seq", str(options.max_predictions_per_seq),
            "--train_batch_size", str(options.train_batch_size), "--num_train_steps", str(options.num_train_steps),
            "--num_warmup_steps", str(options.num_warmup_steps), "--learning_rate", str(options.learning_rate),
            "--optimizer", options.optimizer, "--save_checkpoints_steps", str(options.save_checkpoints_steps),
            "--max_eval_steps", str(options.max_eval_steps), "--export_dir", "none"]), flush=True)
        train_files, train_fn = self._pretraining_dataset_fn(train_pattern, True, options.seed)
        eval_files, eval_fn = self._pretraining_dataset_fn(eval_pattern, False, options.seed)
        check_pretraining_files(sorted(set(train_files + eval_files)), options.max_seq_length,
                                options.max_predictions_per_seq, vocab_size=config.vocab_size)
        _, results = run_pretraining(config, options, train_fn, eval_fn, do_train=True, do_eval=True)
        if "preempted" in results:
            raise StageStopped("pretrain", results["preempted"], "batch")
        model_file = os.path.join(self.paths["pretrain"], "model.keras")
        if not os.path.exists(model_file) or "eval" not in results:
            raise StageFailed("pretrain", f"no trained model and held-out scores in {self.paths['pretrain']}")

        baseline = unigram_baseline(eval_pattern, a.max_seq_length, a.max_predictions_per_seq)
        metrics = {"unigram baseline": round(baseline, 4)}
        shown = ("masked_lm_loss", "masked_lm_accuracy", "sentence_order_accuracy")
        for prefix, values in (("train ", results.get("train", {})), ("held-out ", results["eval"])):
            for key in shown:
                if isinstance(values.get(key), (int, float)):
                    metrics[prefix + key.replace("masked_lm", "MLM").replace("sentence_order", "SOP")] = round(
                        float(values[key]), 4)
        mlm = results["eval"].get("masked_lm_accuracy")
        note = ""
        if mlm is not None:
            clearly = mlm > 1.5 * baseline
            note = (f"held-out MLM accuracy {mlm:.3f} vs unigram baseline {baseline:.3f}: "
                    + ("clearly above" if clearly else "NOT clearly above; try more --num_train_steps"))
            print(note)
        artifacts = {"model": model_file, "metrics": os.path.join(self.paths["pretrain"], "train_metrics.csv")}
        curves = os.path.join(self.paths["pretrain"], "curves.png")  # written by the run when matplotlib is there
        if os.path.exists(curves):
            artifacts["curves"] = curves
        return StageResult("pretrain", steps=results.get("train_batches"), metrics=metrics, artifacts=artifacts,
                           note=note)

    def finetune(self) -> StageResult:
        from albert_tf import AlbertConfig, AlbertTokenizer
        from albert_tf.tasks import Task, TaskDefaults
        from data_prep.source_task import write_source_task, write_task_records

        a = self.args
        task_files = write_source_task(self._inputs(), self.paths["task"], fmt=a.corpus_format)
        tokenizer = AlbertTokenizer(self.paths["spm"] + ".model", do_lower_case=True)
        records = write_task_records(task_files, tokenizer, a.max_seq_length,
                                     os.path.join(self.paths["finetune"], "records"))
        steps = max(1, a.finetune_epochs * task_files.train_examples // FINETUNE_BATCH)
        # Passed to run_finetuning as an object: the global task registry stays as the demo found it.
        task = Task(
            name="which-book", family="classification", labels=tuple(task_files.labels), best_key="eval_accuracy",
            defaults=TaskDefaults(learning_rate=a.finetune_learning_rate, train_batch_size=FINETUNE_BATCH,
                                  max_seq_length=a.max_seq_length, save_checkpoints_steps=max(1, steps // 4),
                                  train_step=steps, warmup_step=steps // 10, eval_batch_size=64),
            description="which book a sentence comes from (albert-demo)")
        config = AlbertConfig.from_json_file(self.paths["config"])
        classes = len(task_files.labels)
        metrics, artifacts = {}, {}
        for start in INITIALISATIONS:
            out = os.path.join(self.paths["finetune"], start.replace(" ", "_"))
            print(f"fine-tuning from {start}: {steps} steps of {FINETUNE_BATCH} sentences, {classes} classes",
                  flush=True)
            result = self._finetune_once(task, config, start, out, records, seed=None, verbose=1)
            scores = result.eval
            metrics[f"{start} accuracy"] = round(float(scores["eval_accuracy"]), 4)
            if "eval_loss" in scores:
                metrics[f"{start} loss"] = round(float(scores["eval_loss"]), 4)
            result.model.save(os.path.join(out, "best.keras"))
            artifacts[start] = os.path.join(out, "best.keras")
            curves = os.path.join(out, "curves.png")
            if os.path.exists(curves):
                artifacts[start + " curves"] = curves

        transfer = self._few_labels(task, config, tokenizer, task_files)
        transfer.append({"labels_per_class": task_files.train_examples // classes,
                         "pretrained": metrics["pretrained accuracy"],
                         "random_init": metrics["random init accuracy"], "seeds": 1})
        gain = metrics["pretrained accuracy"] - metrics["random init accuracy"]
        note = (f"held-out accuracy {metrics['pretrained accuracy']:.3f} from the pretrained weights vs "
                f"{metrics['random init accuracy']:.3f} from random initialisation with every labelled sentence "
                f"({gain:+.3f}; chance {1 / classes:.3f}); {transfer_verdict(transfer)}")
        print(note)
        if plot_transfer(transfer, os.path.join(self.paths["finetune"], "transfer.png"), chance=1 / classes):
            artifacts["transfer curve"] = os.path.join(self.paths["finetune"], "transfer.png")
        return StageResult("finetune", steps=steps, metrics=metrics, artifacts=artifacts, note=note,
                           details={"transfer": transfer})

    def _finetune_once(self, task, config, start, out, records, seed, verbose, train_step=None):
        """One `run_finetuning` from `start` (one of INITIALISATIONS); stops the demo unless it scored."""
        from albert_tf.training.finetuning import FinetuningOptions, run_finetuning

        init = os.path.join(self.paths["pretrain"], "model.keras") if start == "pretrained" else None
        few = {} if train_step is None else {"train_step": train_step, "warmup_step": train_step // 10,
                                             "save_checkpoints_steps": train_step}
        # No SavedModel per run: the export stage serves the best classifier, exported once.
        options = FinetuningOptions(output_dir=out, init_checkpoint=init, verbose=verbose, export=False,
                                    **({} if seed is None else {"seed": seed}), **few)
        result = run_finetuning(task, config, options, train_files=[records["train"]],
                                eval_files=[records["dev"]], do_train=True, do_eval=True)
        if "preempted" in result.results:
            raise StageStopped("finetune", result.results["preempted"], "step")
        if "eval_accuracy" not in (result.eval or {}):
            raise StageFailed("finetune", f"the run from {start} in {out} gave no held-out accuracy")
        return result

    def _few_labels(self, task, config, tokenizer, task_files) -> List[dict]:
        """Fine-tunes from both initialisations on `labels_per_class` sentences of each class, one seed
        drawing both the sentences and the run; returns the means over seeds, smallest size first."""
        from data_prep.source_task import write_task_records

        a = self.args
        rows = []
        for per_class in a.few_label_sizes:
            scores = {start: [] for start in INITIALISATIONS}
            for seed in range(1, a.few_label_seeds + 1):
                folder = os.path.join(self.paths["finetune"], "few_labels", f"{per_class}_per_class_seed_{seed}")
                subset = write_task_records(task_files, tokenizer, a.max_seq_length, os.path.join(folder, "records"),
                                            train_per_class=per_class, seed=seed)
                for start in INITIALISATIONS:
                    out = os.path.join(folder, start.replace(" ", "_"))
                    result = self._finetune_once(task, config, start, out, subset, seed=seed, verbose=0,
                                                 train_step=a.few_label_steps)
                    scores[start].append(float(result.eval["eval_accuracy"]))
                    shutil.rmtree(os.path.join(out, "checkpoints"), ignore_errors=True)
                print(f"  {per_class} labelled sentences per class, seed {seed}: "
                      + ", ".join(f"{start} {scores[start][-1]:.3f}" for start in INITIALISATIONS), flush=True)
            rows.append({"labels_per_class": per_class,
                         "pretrained": round(sum(scores["pretrained"]) / len(scores["pretrained"]), 4),
                         "random_init": round(sum(scores["random init"]) / len(scores["random init"]), 4),
                         "seeds": a.few_label_seeds})
        return rows

    def export(self) -> StageResult:
        import keras

        from albert_tf import AlbertTokenizer
        from albert_tf.export import export_saved_model

        with open(os.path.join(self.paths["task"], "labels.txt"), encoding="utf-8") as f:
            labels = f.read().split()
        tokenizer = AlbertTokenizer(self.paths["spm"] + ".model", do_lower_case=True)
        artifacts = {}
        for name, source, label_names in (
            ("fill-mask", os.path.join(self.paths["pretrain"], "model.keras"), None),
            ("classifier", os.path.join(self.paths["finetune"], "pretrained", "best.keras"), labels),
        ):
            model = keras.saving.load_model(source, compile=False)
            target = os.path.join(self.paths["export"], name)
            export_saved_model(model, target, tokenizer=tokenizer, max_seq_length=self.args.max_seq_length,
                               label_names=label_names)
            if not os.path.exists(os.path.join(target, "saved_model.pb")):
                raise StageFailed("export", f"{target} holds no saved_model.pb after the export of {source}")
            print(f"{name}: {source} -> {target}")
            artifacts[name] = target
        return StageResult("export", artifacts=artifacts)

    def serve(self) -> StageResult:
        # A real module in a fresh interpreter, found through its package's folder alone; the caller's
        # PYTHONPATH is not passed on. demo_serve blocks albert_tf and data_prep itself.
        root = os.path.dirname(os.path.dirname(os.path.abspath(sys.modules[__package__].__file__)))
        argv = [sys.executable, "-m", f"{__package__}.demo_serve", self.paths["export"], json.dumps(SERVE_QUERIES)]
        done = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=root),
                              cwd=self.work)
        if done.returncode:
            raise StageFailed("serve", f"{' '.join(argv[:3])} exited with {done.returncode}:\n{done.stderr[-3000:]}")
        try:
            answers = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise StageFailed("serve", f"{' '.join(argv[:3])} printed no JSON answer line:\n"
                                       f"{done.stdout[-3000:]}") from None
        for text, top in zip(SERVE_QUERIES["fill_mask"], answers["fill_mask"]):
            shown = ", ".join(f"{t.replace(chr(0x2581), ' ').strip() or repr(t)} ({p:.2f})" for t, p in top)
            print(f"  fill-mask  {text!r}\n             -> {shown}")
        for text, (label, p) in zip(SERVE_QUERIES["classify"], answers["classify"]):
            print(f"  classify   {text!r}\n             -> {label} ({p:.2f})")
        note = "fresh process, imports: " + ", ".join(answers["imported"])
        queries = len(SERVE_QUERIES["fill_mask"]) + len(SERVE_QUERIES["classify"])
        return StageResult("serve", metrics={"queries": queries, "seconds to load": round(answers["load_seconds"], 2)},
                           note=note)

    # ------------------------------------------------------------------ summary
    def summary(self, results: List[StageResult]) -> str:
        lines = [f"{'stage':<10}{'status':<9}{'seconds':>8}{'steps':>7}  metrics / note"]
        lines.append("-" * 100)
        for r in results:
            metrics = ", ".join(f"{k} {v}" for k, v in r.metrics.items())
            lines.append(f"{r.name:<10}{r.status:<9}{r.seconds:>8.1f}{'' if r.steps is None else r.steps:>7}  "
                         f"{metrics}")
            if r.note:
                lines.append(f"{'':<34}{r.note}")
        for r in results:
            if r.details.get("transfer"):
                lines += ["", "transfer: held-out accuracy after fine-tuning on N labelled sentences per class "
                              "(mean over seeds)",
                          f"{'N per class':>12}{'pretrained':>12}{'random init':>13}{'gain':>8}{'seeds':>7}"]
                for row in r.details["transfer"]:
                    lines.append(f"{row['labels_per_class']:>12}{row['pretrained']:>12.3f}{row['random_init']:>13.3f}"
                                 f"{row['pretrained'] - row['random_init']:>+8.3f}{row['seeds']:>7}")
        lines.append("")
        lines.append("artifacts:")
        for r in results:
            for label, path in r.artifacts.items():
                size = _size(path)
                lines.append(f"  {r.name + ' ' + label:<28}{size:>10}  {path}")
        return "\n".join(lines)


def _size(path) -> str:
    files = glob.glob(path) if any(c in path for c in "*?[") else [path]
    total = 0
    for item in files:
        if os.path.isdir(item):
            total += sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(item) for f in fs)
        elif os.path.exists(item):
            total += os.path.getsize(item)
    if total >= 1 << 20:
        return f"{total / (1 << 20):.1f} MiB"
    return f"{total / 1024:.0f} KiB"


def unigram_baseline(pattern: str, max_seq_length: int, max_predictions_per_seq: int) -> float:
    """Masked-LM accuracy of always predicting the most frequent masked token of these records."""
    import tensorflow as tf

    from albert_tf.data.schemas import pretraining_feature_spec

    spec = {name: feature for name, feature in pretraining_feature_spec(max_seq_length, max_predictions_per_seq).items()
            if name in ("masked_lm_ids", "masked_lm_weights")}
    counts = collections.Counter()
    for record in tf.data.TFRecordDataset(sorted(glob.glob(pattern))).batch(1024):
        parsed = tf.io.parse_example(record, spec)
        ids = parsed["masked_lm_ids"].numpy().ravel()
        weights = parsed["masked_lm_weights"].numpy().ravel()
        counts.update(ids[weights > 0].tolist())
    total = sum(counts.values())
    return counts.most_common(1)[0][1] / total if total else 0.0
