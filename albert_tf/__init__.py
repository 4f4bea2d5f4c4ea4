"""albert_tf: ALBERT on Keras 3 / TensorFlow, faithful to Google's original release.

``import albert_tf`` is cheap: the public names below are imported on first use, so the
TensorFlow-free parts (``albert_tf.config``, ``albert_tf.data.schemas``, ``albert_tf.text.tokenizer``)
serve the data-preparation jobs without importing TensorFlow. Every layer, model, optimizer and
schedule is still registered with Keras as soon as Keras is imported, so `.keras` files written by
albert_tf load with ``keras.saving.load_model`` after ``import albert_tf`` (see
:mod:`albert_tf._keras_registration`).
"""

import importlib

from albert_tf import _keras_registration, _lazy

__version__ = "0.1.0"

# Public name -> the module that defines it. Add new public names here, not as imports: an import
# here would make every `import albert_tf.<submodule>` pay for TensorFlow.
_EXPORTS = {
    "AdamWeightDecayOptimizer": "albert_tf.training",
    "AlbertBackbone": "albert_tf.models",
    "AlbertClassifier": "albert_tf.models",
    "AlbertConfig": "albert_tf.config",
    "AlbertInGraphTokenizer": "albert_tf.text",
    "AlbertMultipleChoice": "albert_tf.models",
    "AlbertPreprocessor": "albert_tf.text",
    "AlbertPretrainer": "albert_tf.models",
    "AlbertQuestionAnswering": "albert_tf.models",
    "AlbertTokenClassifier": "albert_tf.models",
    "AlbertTokenizer": "albert_tf.text",
    "ClassificationHead": "albert_tf.layers",
    "FinetuningOptions": "albert_tf.training.finetuning",
    "Task": "albert_tf.tasks",
    "bucket_by_length": "albert_tf.data.bucketing",
    "get_task": "albert_tf.tasks",
    "register_task": "albert_tf.tasks",
    "run_finetuning": "albert_tf.training.finetuning",
    "FactorizedEmbedding": "albert_tf.layers",
    "LAMBOptimizer": "albert_tf.training",
    "MaskedLMHead": "albert_tf.layers",
    "SentenceOrderHead": "albert_tf.layers",
    "SharedEncoder": "albert_tf.layers",
    "SpanHead": "albert_tf.layers",
    "SquadV2Head": "albert_tf.layers",
    "UserInputError": "albert_tf.errors",
    "WarmupPolynomialDecay": "albert_tf.training",
    "create_optimizer": "albert_tf.training",
    "enable_lora": "albert_tf.models.lora",
    "export_saved_model": "albert_tf.export",
    "export_tflite": "albert_tf.export",
    "merge_lora": "albert_tf.models.lora",
    "select_strategy": "albert_tf.training",
}
# Subpackages reachable as attributes (`albert_tf.checkpoints.load_huggingface(...)`).
_SUBMODULES = ("checkpoints", "config", "data", "export", "layers", "metrics", "models", "tasks", "text", "training")
# Imported once Keras is: together they define every Keras object albert_tf registers.
_KERAS_MODULES = (
    "albert_tf.layers",
    "albert_tf.models",
    "albert_tf.training",
    "albert_tf.text.in_graph",
)
# What the other Keras backends (JAX, PyTorch) register: the models and the original's optimizers, written
# in keras.ops. The training engine, in-graph tokenizer and export are TensorFlow's, and a JAX process
# without TensorFlow installed must still load `.keras` models (with their optimizer).
_BACKEND_NEUTRAL_KERAS_MODULES = (
    "albert_tf.layers",
    "albert_tf.models",
    "albert_tf.models.lora",
    "albert_tf.training.optimizers",
)

__all__ = sorted(set(_EXPORTS) | {"checkpoints", "data"})
__getattr__, __dir__ = _lazy.attach(__name__, _EXPORTS, _SUBMODULES)


def _register_keras_objects():
    import keras  # loaded already: this runs once Keras is

    if keras.backend.backend() == "tensorflow":
        modules = _KERAS_MODULES + tuple(sorted(set(_EXPORTS.values())))
    else:
        modules = _BACKEND_NEUTRAL_KERAS_MODULES
    for module in modules:
        importlib.import_module(module)


_keras_registration.call_when_keras_loaded(_register_keras_objects)
