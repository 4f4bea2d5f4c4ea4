"""albert-export: a servable SavedModel (and optionally TFLite and ONNX) from any checkpoint albert_tf reads.

Goes beyond the original `export_to_tfhub.py`: raw-string signatures with the tokenizer in the graph,
token signatures as the original TF-Hub module (`tokens`, `mlm`, `sop`, `tokenization_info`), task outputs
for fine-tuned models, a TFLite flatbuffer and an ONNX file for token ids.

    albert-export --checkpoint albert_base/model.ckpt-best --albert_config_file albert_base/albert_config.json \\
        --spm_model_file albert_base/30k-clean.model --export_dir exported/albert_base --max_seq_length 128
"""

import argparse
import os
import sys

from .flags import add_bool, cli_entry_point, show_defaults

#: albert_tf.litert.QUANTIZE_MODES, repeated here so that --help does not import TensorFlow
#: (tests/export/test_litert.py checks that they agree).
QUANTIZE_MODES = ("none", "dynamic", "float16", "int8")


def build_parser():
    p = argparse.ArgumentParser(prog="albert-export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True,
                   help="a .keras file, an albert_tf checkpoint (prefix or directory), an original TF1 checkpoint, "
                        "a HuggingFace directory (config.json + model.safetensors) or a keras-hub preset directory")
    p.add_argument("--albert_config_file", default=None,
                   help="albert_config.json for TF checkpoints (default: the one beside the checkpoint)")
    p.add_argument("--spm_model_file", default=None,
                   help="SentencePiece .model (default: the one a HuggingFace or keras-hub directory carries); "
                        "without any, only the token signatures are exported")
    add_bool(p, "do_lower_case", True)
    p.add_argument("--export_dir", required=True, help="SavedModel directory (replaced atomically)")
    p.add_argument("--max_seq_length", type=int, default=512, help="strings are packed and cut to this length")
    p.add_argument("--label_names", default=None,
                   help="comma-separated class names: 'predictions' then returns these strings")
    p.add_argument("--top_k", type=int, default=5, help="fill-mask candidates per [MASK] (pretrained models)")
    add_bool(p, "exact_segmentation", True,
             "break SentencePiece score ties as Python does (false: faster tensorflow-text search)")
    add_bool(p, "overwrite", True, "replace an existing --export_dir")
    add_bool(p, "merge_lora", True,
             "a LoRA model (model.keras with model.lora.npz beside it, from albert-finetune --lora_rank) is "
             "exported with the adapters merged into the kernels; false keeps them as variables of their own, "
             "e.g. --merge_lora false")
    add_bool(p, "onnx", False,
             "also write <export_dir>/model.onnx: the tokens signature (int32 input_ids, input_mask, segment_ids "
             "[batch, sequence] in, its outputs out) for onnxruntime; needs the onnx extra "
             "(pip install 'albert_tf[onnx]'), e.g. --onnx")
    add_bool(p, "tflite", False, "also write <export_dir>/albert_model.tflite taking [1, max_seq_length] token ids, "
             "e.g. --tflite --quantize dynamic")
    p.add_argument("--quantize", default="none", choices=QUANTIZE_MODES,
                   help="precision of the --tflite file: none (float32), dynamic (int8 weights, float "
                        "activations), float16 (float16 weights) or int8 (full integer, calibrated on "
                        "--representative_records); e.g. --quantize dynamic")
    p.add_argument("--representative_records", default=None, metavar="PATTERN",
                   help="fine-tuning TFRecords of the task (glob or comma-separated) that calibrate "
                        "--quantize int8; required by it, e.g. --representative_records 'sst2/dev*.tfrecord'")
    p.add_argument("--representative_examples", type=int, default=300,
                   help="how many records calibrate --quantize int8, e.g. --representative_examples 500")
    return show_defaults(p, (
        "albert-export --checkpoint run1/model.keras --spm_model_file spm.model \\\n    "
        "--export_dir exported/albert/1 --max_seq_length 128\n  "
        "albert-export --checkpoint run1/model.keras --export_dir exported/albert/1 --max_seq_length 128 \\\n    "
        "--tflite --quantize int8 --representative_records 'sst2/eval*.tfrecord'"))


def _adapters_of(checkpoint):
    """The LoRA adapters file beside the `.keras` model `checkpoint` names; a one-line error without one."""
    from albert_tf.checkpoints import formats
    from albert_tf.errors import UserInputError
    from albert_tf.models.lora import adapters_path

    found = formats.checkpoint_format(checkpoint)
    if found.kind == formats.MISSING:
        return None  # the loader names the missing file, which is the error to fix first
    adapters = adapters_path(found.path) if found.kind == formats.KERAS else None
    if adapters is None or not os.path.exists(adapters):
        where = f"no {os.path.basename(adapters)} beside it" if adapters else "it is not a .keras model"
        raise UserInputError(f"--merge_lora false: --checkpoint {checkpoint} has no LoRA adapters ({where}; they are "
                             "written by albert-finetune --lora_rank).")
    return adapters


@cli_entry_point("albert-export")
def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.max_seq_length < 3:
        raise ValueError(f"--max_seq_length {args.max_seq_length}: expected at least 3")
    if args.quantize != "none" and not args.tflite:
        parser.error(f"--quantize {args.quantize} applies to the LiteRT file: add --tflite")
    if args.quantize == "int8" and not args.representative_records:
        parser.error("--quantize int8 needs --representative_records PATTERN (a few hundred of the task's "
                     "TFRecords to calibrate the int8 ranges)")
    if args.representative_records and args.quantize != "int8":
        parser.error("--representative_records calibrates --quantize int8 only; drop it or add --quantize int8")
    if args.representative_examples < 1:
        parser.error(f"--representative_examples {args.representative_examples}: expected at least 1")

    if args.onnx:
        from albert_tf.errors import UserInputError
        from albert_tf.export_onnx import tf2onnx_missing

        if tf2onnx_missing():
            raise UserInputError(f"--onnx: {tf2onnx_missing()}")

    from albert_tf.checkpoints.loading import load_model
    from albert_tf.export import export_saved_model, export_tflite, signature_summary
    from albert_tf.text import AlbertTokenizer

    adapters = None if args.merge_lora else _adapters_of(args.checkpoint)
    model, tokenizer = load_model(args.checkpoint, config=args.albert_config_file, return_tokenizer=True)
    if adapters:
        from albert_tf.models.lora import load_lora_weights

        settings = load_lora_weights(model, adapters)
        print(f"LoRA adapters kept as variables: {adapters} ({settings})")
    if args.spm_model_file:
        tokenizer = AlbertTokenizer(args.spm_model_file, do_lower_case=args.do_lower_case)
    elif tokenizer is not None:
        print(f"tokenizer: the one in {args.checkpoint} (do_lower_case={tokenizer.do_lower_case})")
    examples = None
    if args.quantize == "int8":  # read before the export, so that bad records stop it at once
        from albert_tf.litert import representative_features

        shape = model.serving_inputs(args.max_seq_length, batch_size=1)["input_ids"].shape
        examples = representative_features(args.representative_records, shape, args.representative_examples)
        print(f"int8 calibration: {len(examples)} examples of {args.representative_records}")
    label_names = None if not args.label_names else [n.strip() for n in args.label_names.split(",")]
    export_saved_model(model, args.export_dir, tokenizer=tokenizer, max_seq_length=args.max_seq_length,
                       label_names=label_names, top_k=args.top_k, exact_segmentation=args.exact_segmentation,
                       overwrite=args.overwrite, merge_lora=args.merge_lora)
    print(f"SavedModel: {args.export_dir} ({type(model).__name__})")
    for name, sig in sorted(signature_summary(args.export_dir).items()):
        print(f"  {name}({', '.join(sorted(sig['inputs']))}) -> {', '.join(sorted(sig['outputs']))}")
    if args.tflite:
        tflite_file = os.path.join(args.export_dir, "albert_model.tflite")
        size = export_tflite(model, tflite_file, max_seq_length=args.max_seq_length, quantize=args.quantize,
                             representative_dataset=examples)
        print(f"TFLite: {tflite_file} ({size / 2**20:.2f} MiB, --quantize {args.quantize})")
    if args.onnx:
        from albert_tf.export_onnx import export_onnx

        onnx_file = os.path.join(args.export_dir, "model.onnx")
        size = export_onnx(model, onnx_file)
        print(f"ONNX: {onnx_file} ({size / 2**20:.2f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
