"""Tests of albert_tf._compat: each private-API patch fails here by name when the private API moves,
and a scan keeps every private Keras/TensorFlow name inside albert_tf/_compat.py."""


# ---------------------------------------------------------------------------------------------------
# Section: fitting under a strategy.


def test_patch_in_multi_worker_mode_private_name():
    from tensorflow.python.distribute.collective_all_reduce_strategy import CollectiveAllReduceExtended

    assert hasattr(CollectiveAllReduceExtended, "_in_multi_worker_mode"), (
        "patch in_multi_worker_mode: MultiWorkerMirroredStrategy.extended._in_multi_worker_mode moved; "
        "see albert_tf/_compat.py")


def test_patch_fit_ready_symbolic_build_private_names():
    import keras

    assert hasattr(keras.Model, "_maybe_symbolic_build"), (
        "patch fit_ready_symbolic_build: keras.Model._maybe_symbolic_build moved; see albert_tf/_compat.py")
    assert hasattr(keras.Model, "_flatten_layers"), (
        "patch fit_ready_symbolic_build: keras.Model._flatten_layers moved; see albert_tf/_compat.py")


def test_patch_fit_ready_scalar_metrics_overrides_the_instance_steps():
    import keras
    import numpy as np
    import tensorflow as tf

    from albert_tf._compat import mark_fit_ready, scalar_metrics_with_axis

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    scalar_metrics_with_axis(model)
    logs = model.test_step((tf.ones([4, 2]), tf.ones([4, 1])))
    assert all(np.shape(v) == (1,) for v in logs.values()), "patch fit_ready_scalar_metrics: the instance steps are not used"
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert mark_fit_ready(model, strategy) is mark_fit_ready(model, strategy)
    model.fit(tf.ones([4, 2]), tf.ones([4, 1]), epochs=1, verbose=0)


# ---------------------------------------------------------------------------------------------------
# Section: optimizers.


def test_patch_optimizer_variable_index():
    import keras

    variable = keras.Variable([1.0, 2.0])
    optimizer = keras.optimizers.SGD()
    optimizer.build([variable])
    assert hasattr(optimizer, "_get_variable_index"), "patch optimizer_variable_index: Optimizer._get_variable_index moved"
    # `update_step` receives the backend variable; the private lookup must still map it back.
    assert optimizer._get_variable_index(variable.value) == 0, "patch optimizer_variable_index: no longer maps tf.Variable"


def test_patch_optimizer_clip_after_cross_replica_sum():
    import keras
    import tensorflow as tf

    optimizer = keras.optimizers.SGD(global_clipnorm=1.0)
    for name in ("_clip_gradients", "_backend_update_step", "_all_reduce_sum_gradients", "_distribution_strategy"):
        assert hasattr(optimizer, name), f"patch optimizer_clip_after_cross_replica_sum: Optimizer.{name} moved"
    assert callable(getattr(getattr(getattr(tf.__internal__, "distribute", None), "interim", None), "maybe_merge_call", None)), (
        "patch optimizer_clip_after_cross_replica_sum: tf.__internal__.distribute.interim.maybe_merge_call moved"
    )


def test_patch_optimizer_skip_nonfinite_updates():
    import keras
    import numpy as np
    import tensorflow as tf

    from albert_tf.training.optimizers import AdamWeightDecayOptimizer

    variable = keras.Variable([1.0])
    keras.optimizers.SGD(0.1).apply([keras.ops.array([float("nan")])], [variable])
    # The defect; if Keras starts skipping such updates itself, the patch can go.
    assert np.isnan(variable.numpy()).all(), "patch optimizer_skip_nonfinite_updates: Keras now skips NaN updates"
    optimizer = keras.optimizers.SGD()
    for name in ("_backend_update_step", "_all_reduce_sum_gradients", "_distribution_strategy"):
        assert hasattr(optimizer, name), f"patch optimizer_skip_nonfinite_updates: Optimizer.{name} moved"
    variable = keras.Variable([1.0])
    guarded = AdamWeightDecayOptimizer(0.1)
    guarded.apply([tf.constant([float("nan")])], [variable])
    assert variable.numpy().tolist() == [1.0], "patch optimizer_skip_nonfinite_updates: the NaN update was applied"
    assert int(guarded.nonfinite_updates_skipped.numpy()) == 1, "patch optimizer_skip_nonfinite_updates: not counted"


def test_patch_optimizer_schedule_at_update_count():
    import keras

    from albert_tf.training.optimizers import AdamWeightDecayOptimizer

    schedule = keras.optimizers.schedules.PolynomialDecay(1.0, 100, 0.0)
    optimizer = AdamWeightDecayOptimizer(schedule, gradient_accumulation_steps=4)
    assert hasattr(keras.optimizers.Optimizer, "_get_current_learning_rate"), (
        "patch optimizer_schedule_at_update_count: Optimizer._get_current_learning_rate moved"
    )
    assert optimizer._learning_rate is schedule, "patch optimizer_schedule_at_update_count: Optimizer._learning_rate moved"
    optimizer.build([keras.Variable([0.0])])
    optimizer._iterations.assign(40)  # 40 micro-steps = 10 updates
    assert abs(float(optimizer.learning_rate) - 0.9) < 1e-6, (
        "patch optimizer_schedule_at_update_count: the schedule no longer sees the update count"
    )


def test_patch_optimizer_accumulation_across_replicas():
    import keras
    import tensorflow as tf

    variable = keras.Variable([1.0])
    optimizer = keras.optimizers.SGD(gradient_accumulation_steps=2)
    optimizer.build([variable])
    for name in ("_backend_apply_gradients", "_iterations", "_accumulated_gradients", "_distribution_strategy"):
        assert hasattr(optimizer, name), f"patch optimizer_accumulation_across_replicas: Optimizer.{name} moved"
    assert len(optimizer._accumulated_gradients) == 1, (
        "patch optimizer_accumulation_across_replicas: one accumulator per variable expected"
    )
    assert callable(getattr(getattr(getattr(tf.__internal__, "distribute", None), "interim", None), "maybe_merge_call", None)), (
        "patch optimizer_accumulation_across_replicas: tf.__internal__.distribute.interim.maybe_merge_call moved"
    )


def test_optimizer_seam_docstring_example_runs():
    import doctest

    from albert_tf import _compat

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(_compat.OriginalUpdateOptimizer, "OriginalUpdateOptimizer", globs=vars(_compat).copy()):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0, result


def test_optimizer_seam_helpers_override_nothing_in_keras():
    # The seam's own helpers must stay ours: a Keras release adding a private of the same name would be
    # silently overridden.
    import keras

    from albert_tf._compat import OriginalUpdateOptimizer

    for name in ("_variable_index", "_commit", "_accumulates_across_replicas", "_is_accumulation_boundary",
                 "_assign_per_replica", "_distributed_guarded_update", "_update_if_finite", "_count_nonfinite_update"):
        assert name in vars(OriginalUpdateOptimizer), name
        assert not hasattr(keras.optimizers.Optimizer, name), f"OriginalUpdateOptimizer.{name} now overrides Keras"


# ---------------------------------------------------------------------------------------------------
# Section: Keras object tracking.


def test_accept_string_inputs_names_exist():
    import keras

    layer = keras.layers.Layer()
    for name in ("_convert_input_args", "_allow_non_tensor_positional_args"):
        assert hasattr(layer, name), f"patch accept_string_inputs: keras.layers.Layer lost {name}"


def test_accept_string_inputs_lets_strings_through():
    import keras
    import pytest
    import tensorflow as tf

    from albert_tf._compat import accept_string_inputs

    class Lengths(keras.layers.Layer):
        def call(self, texts):
            return tf.strings.length(tf.convert_to_tensor(texts, tf.string))

    with pytest.raises(ValueError, match="positional"):  # the defect; if this passes, drop the patch
        Lengths()(["a b", "c"])
    layer = Lengths(dtype="int32")
    accept_string_inputs(layer)
    assert layer(["a b", "c"]).numpy().tolist() == [3, 1], "patch accept_string_inputs no longer works"




# ---------------------------------------------------------------------------------------------------
# Section: walking a model's layers.


def test_patch_walk_sublayers():
    import keras

    from albert_tf._compat import direct_sublayers

    class Head(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

    head = Head()
    assert hasattr(head, "_layers"), "patch walk_sublayers: Layer._layers moved"
    assert direct_sublayers(head) == [head.dense], "patch walk_sublayers: Layer._layers no longer lists sublayers"

    class Wrapper(keras.Model):
        def __init__(self, head):
            super().__init__()
            self.head = head

    assert direct_sublayers(Wrapper(head)) == [head], "patch walk_sublayers: a model's _layers no longer lists its layers"


# ---------------------------------------------------------------------------------------------------
# Section: the scan of the tree.
#
# What counts as a private Keras/TensorFlow name, precisely (the scan is not a grep for underscores):
#
# * `x.__internal__` (TensorFlow's `tf.__internal__`), and imports of `keras.src`, `keras_hub.src`,
#   `tensorflow.python` or any `_`-prefixed module of those packages;
# * inside a method of one of our classes that derives from a Keras/TF class: `self._x` / `cls._x` /
#   `super()._x` (also through `getattr`/`setattr`/`hasattr`/`delattr` with a constant name) where a
#   Keras/TF class of its MRO has `_x` as an attribute or assigns `self._x` in its source, and
#   `object.__setattr__(self, ...)` / `object.__delattr__(self, ...)`, which bypass Keras' tracking;
# * on any other receiver: `obj._x` whose name our tree never defines (def, class attribute, `self._x`
#   assignment, module name) and which occurs in the source of keras, tensorflow, keras_hub or
#   tensorflow_text;
# * (by importing albert_tf's modules and walking their classes) a private attribute or method that one
#   of our classes defines while a Keras/TF base class already has it: an override of a private hook.
#
# Other libraries' privates are out of scope, on purpose: argparse's `parser._actions`
# (tools/flags.py), transformers' `config._attn_implementation` (tools/make_hf_golden.py) and
# importlib's `spec._initializing` (albert_tf/_keras_registration.py) are not Keras/TF internals, and
# the seam cannot host them: `albert_tf/_compat.py` imports TensorFlow, which `--help` and data prep
# must not. Their names occur nowhere in Keras/TF, so the rule above leaves them alone by construction.

import ast  # noqa: E402 (each section keeps its own imports, so parallel edits merge cleanly)
import functools  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import inspect  # noqa: E402
import re  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

_REPO = Path(__file__).resolve().parents[1]
_SCANNED_PACKAGES = ("albert_tf", "data_prep", "tools")
_SEAM = Path("albert_tf") / "_compat.py"
_KERAS_TF_PACKAGES = ("keras", "tensorflow", "keras_hub", "tensorflow_text")
_PRIVATE_MODULE = re.compile(r"^(keras|keras_hub)\.src(\.|$)|^tensorflow\.python(\.|$)|^(keras|keras_hub|tensorflow|tensorflow_text)\.(.*\.)?_")
_ATTRIBUTE_FUNCTIONS = ("getattr", "setattr", "hasattr", "delattr")


def _is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@functools.lru_cache(maxsize=None)
def _keras_tf_identifiers():
    """Every `_name` that occurs in the Python source of the Keras/TF packages installed."""
    pattern = re.compile(rb"\b_[A-Za-z]\w*")
    names = set()
    for package in _KERAS_TF_PACKAGES:
        spec = importlib.util.find_spec(package)
        for root in (spec.submodule_search_locations or []) if spec else []:
            for path in Path(root).rglob("*.py"):
                names.update(pattern.findall(path.read_bytes()))
    return frozenset(name.decode() for name in names)


def _is_keras_tf_class(cls):
    return cls.__module__.split(".")[0] in _KERAS_TF_PACKAGES


@functools.lru_cache(maxsize=None)
def _self_assigned_in_source(base):
    """`_x` in `self._x = ...` anywhere in `base`'s own source (Keras/TF instance attributes)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(base)))
    except (OSError, TypeError, SyntaxError):
        return frozenset()
    return frozenset(
        node.attr for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name) and node.value.id == "self" and _is_private(node.attr)
    )


def _owned_by_keras_tf(cls, name):
    """The Keras/TF base of `cls` that has (or sets) the private `name`, else None."""
    for base in cls.__mro__[1:]:
        if _is_keras_tf_class(base) and (name in vars(base) or name in _self_assigned_in_source(base)):
            return base
    return None


def _scanned_files():
    for package in _SCANNED_PACKAGES:
        for path in sorted((_REPO / package).rglob("*.py")):
            relative = path.relative_to(_REPO)
            if relative != _SEAM:
                yield relative


def _module_name(relative):
    parts = list(relative.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _our_class(relative, qualname):
    """Our class `qualname` in albert_tf (imported), or None outside albert_tf / when not importable."""
    if relative.parts[0] != "albert_tf":
        return None
    obj = importlib.import_module(_module_name(relative))
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj if inspect.isclass(obj) else None


class _Scan(ast.NodeVisitor):
    """Collects (line, name, receiver kind, enclosing class qualname) for one file."""

    def __init__(self):
        self.classes = []
        self.accesses = []  # (line, name, on_self, class qualname or None)
        self.bypasses = []  # (line, call text, class qualname)
        self.internal = []  # (line, text)
        self.defined = set()  # private names our code defines (not on foreign objects)
        self.class_members = {}  # class qualname -> {name: line}

    def _qualname(self):
        return ".".join(self.classes) if self.classes else None

    def visit_ClassDef(self, node):
        self.classes.append(node.name)
        members = self.class_members.setdefault(self._qualname(), {})
        for statement in node.body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                members[statement.name] = statement.lineno
            for target in getattr(statement, "targets", [getattr(statement, "target", None)]):
                if isinstance(target, ast.Name):
                    members[target.id] = statement.lineno
        self.defined.update(members)
        self.generic_visit(node)
        self.classes.pop()

    def visit_FunctionDef(self, node):
        self.defined.add(node.name)
        self.defined.update(arg.arg for arg in ast.walk(node.args) if isinstance(arg, ast.arg))
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            self.defined.add(node.id)

    def visit_alias(self, node):
        self.defined.add((node.asname or node.name).split(".")[0])

    def visit_Import(self, node):
        for alias in node.names:
            if _PRIVATE_MODULE.search(alias.name):
                self.internal.append((node.lineno, f"import {alias.name}"))
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.module and _PRIVATE_MODULE.search(node.module):
            self.internal.append((node.lineno, f"from {node.module} import ..."))
        self.generic_visit(node)

    @staticmethod
    def _on_self(receiver):
        if isinstance(receiver, ast.Name):
            return receiver.id in ("self", "cls")
        return isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name) and receiver.func.id == "super"

    def visit_Attribute(self, node):
        if node.attr == "__internal__":
            self.internal.append((node.lineno, f"{ast.unparse(node)}"))
        elif _is_private(node.attr):
            on_self = self._on_self(node.value)
            self.accesses.append((node.lineno, node.attr, on_self, self._qualname()))
            if on_self and isinstance(node.ctx, ast.Store):
                self.defined.add(node.attr)
        self.generic_visit(node)

    def visit_Call(self, node):
        function = node.func
        if isinstance(function, ast.Name) and function.id in _ATTRIBUTE_FUNCTIONS and len(node.args) >= 2:
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and _is_private(name.value):
                on_self = self._on_self(node.args[0])
                self.accesses.append((node.lineno, name.value, on_self, self._qualname()))
                if on_self and function.id == "setattr":
                    self.defined.add(name.value)
        if (isinstance(function, ast.Attribute) and function.attr in ("__setattr__", "__delattr__")
                and isinstance(function.value, ast.Name) and function.value.id == "object"
                and node.args and self._on_self(node.args[0]) and self.classes):
            self.bypasses.append((node.lineno, ast.unparse(function), self._qualname()))
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                self.defined.add(name.value)
        self.generic_visit(node)


def _scan(relative):
    scan = _Scan()
    scan.visit(ast.parse((_REPO / relative).read_text(), str(relative)))
    return scan


def private_keras_tf_uses(files=None):
    """`file:line: what` for every private Keras/TF name named in `files` (default: the tree but the seam)."""
    tree = {relative: _scan(relative) for relative in _scanned_files()}
    seam = _scan(_SEAM)
    scans = tree if files is None else {relative: tree.get(relative) or _scan(relative) for relative in files}
    keras_tf = _keras_tf_identifiers()
    # Ours: defined in the tree, or by the seam when the name is not a Keras/TF one itself.
    ours = set().union(*(scan.defined for scan in tree.values())) | (seam.defined - keras_tf)

    found = []
    for relative, scan in scans.items():
        classes = {qualname: _our_class(relative, qualname) for qualname in scan.class_members}
        for line, text in scan.internal:
            found.append(f"{relative}:{line}: {text} (TensorFlow/Keras internals)")
        for line, call, qualname in scan.bypasses:
            cls = classes.get(qualname)
            if cls is None or any(_is_keras_tf_class(base) for base in cls.__mro__[1:]):
                found.append(f"{relative}:{line}: {call} bypasses Keras/TF attribute tracking in {qualname}")
        for line, name, on_self, qualname in scan.accesses:
            cls = classes.get(qualname) if on_self else None
            if cls is not None:
                base = _owned_by_keras_tf(cls, name)
                if base is not None:
                    found.append(f"{relative}:{line}: {name} (private to {base.__module__}.{base.__qualname__})")
            elif name in keras_tf and name not in ours:
                found.append(f"{relative}:{line}: {name} (a private Keras/TensorFlow name)")
        for qualname, cls in classes.items():
            if cls is None:
                continue
            for name, line in scan.class_members[qualname].items():
                base = _owned_by_keras_tf(cls, name) if _is_private(name) else None
                if base is not None:
                    found.append(f"{relative}:{line}: {qualname}.{name} overrides private "
                                 f"{base.__module__}.{base.__qualname__}.{name}")
    return sorted(set(found), key=lambda entry: (entry.split(":")[0], int(entry.split(":")[1]), entry))


def test_no_private_keras_or_tensorflow_name_outside_the_seam():
    found = private_keras_tf_uses()
    assert not found, "private Keras/TensorFlow names outside albert_tf/_compat.py:\n" + "\n".join(found)


def test_the_scan_sees_each_kind_of_private_use_in_the_seam_itself():
    # Scanned like any other module, the seam must light up: proof the rules see what they guard.
    found = "\n".join(private_keras_tf_uses([_SEAM]))
    for expected in (": _get_variable_index (private to", ": tf.__internal__ (", "OriginalUpdateOptimizer._clip_gradients "
                     "overrides private", ": _iterations (private to", ": _accumulated_gradients (private to",
                     ": _layers (a private Keras/TensorFlow name)"):
        assert expected in found, (expected, found)


def test_the_scan_reads_attribute_functions_tracking_bypasses_and_private_modules():
    scan = _Scan()
    scan.visit(ast.parse(textwrap.dedent("""
        class A:
            def f(self, model):
                object.__setattr__(self, "_pipeline", 1)
                getattr(model, "_layers")
                model._flatten_layers()
                import keras.src.ops
    """)))
    assert scan.bypasses == [(4, "object.__setattr__", "A")]
    assert (5, "_layers", False, "A") in scan.accesses and (6, "_flatten_layers", False, "A") in scan.accesses
    assert scan.internal == [(7, "import keras.src.ops")]
    assert "_layers" not in scan.defined and "_pipeline" in scan.defined
