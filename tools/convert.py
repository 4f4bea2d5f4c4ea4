"""albert-convert: move an ALBERT model between checkpoint formats, and say exactly what moved.

    albert-convert --from original --to huggingface --input albert_base/model.ckpt-best \\
        --albert_config_file albert_base/albert_config.json --spm_model_file albert_base/30k-clean.model \\
        --output albert_base_hf

Formats (`--from` / `--to`):
  original     the original release's TF1 checkpoint: --input/--output is the checkpoint prefix (or, for
               --input, a directory holding one); needs --albert_config_file to read; writing also writes
               albert_config.json (and the SentencePiece model) beside it
  huggingface  a transformers folder: config.json + model.safetensors (pytorch_model.bin read only with
               torch, through torch.load(weights_only=True)); spiece.model / tokenizer.json for the tokenizer
  keras-hub    a keras-hub preset directory (config.json, model.weights.h5, tokenizer.json, assets/)
  keras        an albert_tf `.keras` file (loaded with safe_mode=True: no code from the file runs)
  saved_model  (--to only) a SavedModel with serving signatures (albert_tf.export.export_saved_model);
               with a SentencePiece model it serves raw strings

It prints a table of every variable mapped (source name, target name, shape), every one left at its
initial value and every one ignored, with the reason (optimizer slots, global_step, tied copies, heads
the target format has no place for). A shape mismatch stops it with the variable name and both shapes.
"""

import argparse
import glob
import json
import os
import shutil
import sys

from .flags import cli_entry_point, show_defaults

FORMATS = ("original", "huggingface", "keras-hub", "keras")
TARGETS = FORMATS + ("saved_model",)
ORIGINAL_HEADS = ("pretraining", "backbone", "classifier", "squad_v1", "squad_v2", "race", "tagging")


def build_parser():
    p = argparse.ArgumentParser(prog="albert-convert", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from", dest="source", required=True, choices=FORMATS, help="format of --input")
    p.add_argument("--to", dest="target", required=True, choices=TARGETS, help="format of --output (saved_model: export only)")
    p.add_argument("--input", required=True, help="checkpoint prefix, folder or file to read")
    p.add_argument("--output", required=True, help="checkpoint prefix, folder or .keras file to write")
    p.add_argument("--albert_config_file", default=None, help="original albert_config.json (needed for --from original)")
    p.add_argument("--spm_model_file", default=None, help="SentencePiece .model to carry along (default: the input's own)")
    p.add_argument("--do_lower_case", default=None, choices=["true", "false"], help="tokenizer lowercasing (default: the input's, else true)")
    p.add_argument("--original_head", default="pretraining", choices=sorted(ORIGINAL_HEADS),
                   help="original input: which head the checkpoint holds (run_pretraining / run_classifier / run_squad_v1 / "
                        "run_squad_v2 / run_race, or tagging); its model is built around the checkpoint's backbone")
    p.add_argument("--num_labels", type=int, default=2, help="original input with --original_head classifier/tagging: label count")
    p.add_argument("--init_from_group0", action="store_true", help="original input: groups the checkpoint lacks start from group_0")
    p.add_argument("--huggingface_architecture", default=None, help="HF class to read or write as (default: config.json's / the model's)")
    p.add_argument("--num_choices", type=int, default=None, help="multiple-choice input (HF AlbertForMultipleChoice, original race): options per question (default 4)")
    p.add_argument("--exact_gelu", action="store_true", help="HuggingFace input: keep HF's erf 'gelu' instead of the original's tanh GELU")
    p.add_argument("--keras_hub_task", default=None, choices=["backbone", "masked_lm"], help="keras-hub output for a pretrainer")
    p.add_argument("--accept_mlm_epsilon", action="store_true", help="keras-hub masked_lm output: accept its LayerNorm epsilon 1e-5")
    p.add_argument("--max_seq_length", type=int, default=None, help="saved_model output: strings are cut to this length (default 512)")
    p.add_argument("--task", default=None,
                   help="fine-tuning task of a classifier (mrpc, sst-2, ...): HuggingFace output names its labels "
                        "(id2label/label2id) after the task's (default: the task in run_config.json beside --input)")
    p.add_argument("--quiet", action="store_true", help="print only the summary lines, not the tables")
    return show_defaults(p, (
        "albert-convert --from original --to huggingface --input albert_base/model.ckpt-best \\\n    "
        "--albert_config_file albert_base/albert_config.json --output albert_base_hf"))


# --------------------------------------------------------------------------- reading
def _lower_case(args, default=True):
    return default if args.do_lower_case is None else args.do_lower_case == "true"


def _spm_tokenizer(args):
    from albert_tf.text.tokenizer import AlbertTokenizer

    if not args.spm_model_file:
        return None
    if not os.path.exists(args.spm_model_file):
        raise FileNotFoundError(f"--spm_model_file {args.spm_model_file} does not exist.")
    return AlbertTokenizer(args.spm_model_file, do_lower_case=_lower_case(args))


def _original_prefix(path):
    if os.path.isdir(path):
        import tensorflow as tf

        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            indexes = sorted(glob.glob(os.path.join(path, "*.index")))
            if not indexes:
                raise FileNotFoundError(f"--input {path}: no TF checkpoint (*.index) in this directory.")
            prefix = indexes[-1][: -len(".index")]
        return prefix
    return path


def _original_model(args, config):
    from albert_tf import models

    head = args.original_head
    if head == "pretraining":
        return models.AlbertPretrainer(config)
    backbone = models.AlbertBackbone(config)
    if head == "backbone":
        return backbone
    if head == "classifier":
        return models.AlbertClassifier(backbone, num_classes=args.num_labels)
    if head == "tagging":
        return models.AlbertTokenClassifier(backbone, num_labels=args.num_labels)
    if head == "race":
        return models.AlbertMultipleChoice(backbone, num_choices=args.num_choices or 4)
    return models.AlbertQuestionAnswering(backbone, version=1 if head == "squad_v1" else 2)


def read_model(args):
    """`(model, tokenizer or None, ConversionReport)` for `--from`/`--input`."""
    from albert_tf.checkpoints.report import ConversionReport

    source, path = args.source, args.input
    if source != "original" and not os.path.exists(path):
        raise FileNotFoundError(f"--input {path} does not exist.")
    tokenizer = _spm_tokenizer(args)
    if source == "original":
        from albert_tf.checkpoints.original import load_original_checkpoint
        from albert_tf.config import AlbertConfig

        prefix = _original_prefix(path)
        config_file = args.albert_config_file
        if config_file is None:
            beside = os.path.join(os.path.dirname(prefix), "albert_config.json")
            if not os.path.exists(beside):
                raise ValueError(f"--from original needs --albert_config_file (no albert_config.json beside {prefix}).")
            config_file = beside
        config = AlbertConfig.from_json_file(config_file)
        model, report = load_original_checkpoint(
            prefix, init_from_group0=args.init_from_group0, return_report=True, model=_original_model(args, config)
        )
        if tokenizer is None:
            found = sorted(glob.glob(os.path.join(os.path.dirname(prefix), "*.model")))
            if len(found) == 1:
                from albert_tf.text.tokenizer import AlbertTokenizer

                tokenizer = AlbertTokenizer(found[0], do_lower_case=_lower_case(args))
        return model, tokenizer, report
    if source == "huggingface":
        from albert_tf.checkpoints.huggingface import huggingface_tokenizer, load_huggingface

        model, report = load_huggingface(
            path, architecture=args.huggingface_architecture, exact_gelu=args.exact_gelu, num_choices=args.num_choices,
            return_report=True
        )
        if tokenizer is None and any(os.path.exists(os.path.join(path, f)) for f in ("spiece.model", "tokenizer.json")):
            tokenizer = huggingface_tokenizer(path, do_lower_case=None if args.do_lower_case is None else _lower_case(args))
        return model, tokenizer, report
    if source == "keras-hub":
        from albert_tf.checkpoints.keras_hub import load_keras_hub_preset

        model, preset_tokenizer, report = load_keras_hub_preset(path, return_report=True)
        return model, tokenizer or preset_tokenizer, report
    # keras
    from albert_tf.checkpoints.loading import load_keras_file

    model = load_keras_file(path)  # safe mode: a file with serialized code is refused, never run
    report = ConversionReport()
    for variable in model.weights:
        report.add_mapped(variable.path, variable.path, variable.shape)
    return model, tokenizer, report


# --------------------------------------------------------------------------- writing
def _written(model, rows, reason):
    """A report of `rows` `(variable, target name, stored shape)` written, and of the weights not written."""
    from albert_tf.checkpoints.report import ConversionReport

    report = ConversionReport()
    done = set()
    for variable, name, shape in rows:
        report.add_mapped(variable.path, name, shape)
        done.add(id(variable))
    for variable in model.weights:
        if id(variable) not in done:
            report.ignore(variable.path, reason)
    return report


def _task_of_run(path):
    """The task of the fine-tuning run that wrote `path` (its `run_config.json`), or None."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    run_config = os.path.join(folder, "run_config.json")
    if not os.path.exists(run_config):
        return None
    with open(run_config, encoding="utf-8") as f:
        settings = json.load(f)
    return settings.get("task") if isinstance(settings, dict) else None


def label_names(args, model):
    """`{id: label}` of the task a classifier was fine-tuned for (--task, else its run's), or None."""
    from albert_tf.tasks import get_task

    name = args.task or _task_of_run(args.input)
    if name is None:
        return None
    task = get_task(name)
    if not task.labels or task.family not in ("classification", "tagging"):
        return None
    outputs = getattr(model, "num_classes", None) or getattr(model, "num_labels", None)
    if outputs is not None and int(outputs) != len(task.labels):
        raise ValueError(f"--task {task.name} has {len(task.labels)} labels {list(task.labels)} but the model in "
                         f"--input {args.input} has {outputs} outputs.")
    return dict(enumerate(task.labels))


def _to_hf_shape(shape, layout):
    shape = tuple(shape)
    if layout == "linear":
        return shape[::-1]
    if layout == "heads_in":
        return (shape[1] * shape[2], shape[0])
    if layout == "heads_out":
        return (shape[2], shape[0] * shape[1])
    if layout == "heads_b":
        return (shape[0] * shape[1],)
    return shape


def _copy_tokenizer_file(tokenizer, target):
    with open(target + ".tmp", "wb") as f:
        f.write(tokenizer.proto)
    os.replace(target + ".tmp", target)


def write_model(args, model, tokenizer):
    """Writes `model` as `--to` at `--output`; returns a ConversionReport of what was written."""
    target, path = args.target, args.output
    if target == "original":
        from albert_tf.checkpoints.original import original_ports, original_shape, save_original_checkpoint

        backbone = getattr(model, "backbone", model)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        save_original_checkpoint(model, path)
        rows = [(v, name, original_shape(v.shape, layout)) for v, name, layout in original_ports(model)]
        report = _written(model, rows, "the original TF1 writer has no name for this head")
        backbone.config.to_json_file(os.path.join(directory, "albert_config.json"))
        if tokenizer is not None:
            name = os.path.basename(tokenizer.spm_model_file) if tokenizer.spm_model_file else "spiece.model"
            _copy_tokenizer_file(tokenizer, os.path.join(directory, name))
        return report
    if target == "huggingface":
        from albert_tf.checkpoints.huggingface import architecture_of, huggingface_ports, save_huggingface

        architecture = args.huggingface_architecture or architecture_of(model)
        save_huggingface(model, path, architecture=architecture, id2label=label_names(args, model))
        rows = [(v, key, _to_hf_shape(v.shape, layout)) for v, key, layout in huggingface_ports(model, architecture)]
        report = _written(model, rows, f"HuggingFace {architecture} has no such weight")
        if tokenizer is not None:
            _copy_tokenizer_file(tokenizer, os.path.join(path, "spiece.model"))
            settings = {
                "tokenizer_class": "AlbertTokenizer",
                "do_lower_case": tokenizer.do_lower_case,
                "keep_accents": False,
                "remove_space": True,
                "bos_token": "[CLS]", "eos_token": "[SEP]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "[MASK]",
            }
            with open(os.path.join(path, "tokenizer_config.json.tmp"), "w", encoding="utf-8") as f:
                json.dump(settings, f, indent=2)
            os.replace(os.path.join(path, "tokenizer_config.json.tmp"), os.path.join(path, "tokenizer_config.json"))
        return report
    if target == "keras-hub":
        from albert_tf.checkpoints.keras_hub import save_keras_hub_preset

        return save_keras_hub_preset(
            model, path, tokenizer=tokenizer, task=args.keras_hub_task, accept_mlm_epsilon=args.accept_mlm_epsilon
        )
    if target == "saved_model":
        from albert_tf.export import export_saved_model

        export_saved_model(model, path, tokenizer=tokenizer, max_seq_length=args.max_seq_length)
        report = _written(model, [(v, v.path, v.shape) for v in model.weights], "")
        if tokenizer is None:
            report.ignore("tokenizer", "none given: only the token-id signatures are exported (pass --spm_model_file)")
        return report
    # keras
    if not path.endswith(".keras"):
        raise ValueError(f"--output {path}: a Keras model file must end in .keras.")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = path[: -len(".keras")] + ".tmp.keras"
    model.save(temporary)
    os.replace(temporary, path)
    report = _written(model, [(v, v.path, v.shape) for v in model.weights], "")
    if tokenizer is not None:
        report.ignore("tokenizer", "a .keras file holds no SentencePiece model; pass --spm_model_file when reading it")
    return report


def written_summary(output, report, tokenizer):
    """One line saying what was written to `output` and what was not, the tokenizer apart from the weights.

    The tokenizer rides in the report's `ignored` entries only so that the table lists it; counted with the
    weights it made the line contradict itself ("not written: 1 (...); tokenizer included").
    """
    ignored = dict(report.ignored)
    tokenizer_reason = ignored.pop("tokenizer", None)
    line = f"wrote {len(report.mapped)} variables to {output}"
    if ignored:
        line += f"; {len(ignored)} variables not written ({'; '.join(sorted(set(ignored.values())))})"
    if tokenizer is None:
        return line + f"; no tokenizer ({tokenizer_reason or 'none given: pass --spm_model_file to include one'})"
    if tokenizer_reason:
        return line + f"; tokenizer not written: {tokenizer_reason}"
    return line + "; tokenizer included"


def run(args, out=None):
    out = out or sys.stdout
    if args.source == args.target and os.path.abspath(args.input) == os.path.abspath(args.output):
        raise ValueError("--input and --output are the same path.")
    model, tokenizer, read_report = read_model(args)
    vocab_size = getattr(model, "backbone", model).config.vocab_size
    if tokenizer is not None and tokenizer.vocab_size != vocab_size:
        where = args.spm_model_file or f"the tokenizer of {args.input}"
        raise ValueError(f"{where} has {tokenizer.vocab_size} pieces but the model's vocab_size is {vocab_size}.")
    write_report = write_model(args, model, tokenizer)
    if not args.quiet:
        print(f"== read {args.source} {args.input} as {type(model).__name__}", file=out)
        print(read_report.table(), file=out)
        print(f"== wrote {args.target} {args.output}", file=out)
        print(write_report.table(), file=out)
    print(f"albert-convert: {args.source} -> {args.target}: read: {read_report.summary()}", file=out)
    print(f"albert-convert: {written_summary(args.output, write_report, tokenizer)}", file=out)
    return model, read_report, write_report


@cli_entry_point("albert-convert")
def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except ImportError as e:
        # e.g. a pytorch_model.bin without torch: the user's file needs another format, not a bug.
        raise ValueError(str(e)) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
