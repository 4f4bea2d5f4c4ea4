"""Runs albert_tf's Keras registration as soon as Keras is imported, and never before.

A `.keras` file names our classes as ``"albert_tf>AlbertBackbone"``; Keras 3 resolves such a name
only through its registry, which the defining module fills when it runs (Keras imports modules on
its own only for its own packages). ``import albert_tf`` must stay TensorFlow-free for the
data-preparation jobs, so it cannot import the models eagerly. Instead it asks for a callback once
Keras is in the process, whichever import brought it in: then ``import albert_tf`` followed by
``keras.saving.load_model`` works as before, and a process that never imports Keras never pays.

The callback waits until the outermost import of a watched package (Keras, TensorFlow,
tensorflow_text, keras_hub) or of an albert_tf module has finished: TensorFlow imports Keras
halfway through its own initialisation, and an albert_tf module may itself be what imports Keras,
so running the callback when Keras alone is done would meet half-initialised modules. Python has no
post-import hook, hence the small meta-path finder that wraps those modules' loaders; it removes
itself once the callback has run.
"""

from __future__ import annotations

import sys
import threading
from typing import Callable

#: Top-level packages whose import may bring Keras in, or that albert_tf's Keras side imports.
WATCHED_PACKAGES = frozenset({"keras", "tensorflow", "tensorflow_text", "keras_hub", "tf_keras"})

_local = threading.local()
_lock = threading.Lock()


def _keras_loaded() -> bool:
    module = sys.modules.get("keras")
    spec = getattr(module, "__spec__", None)
    return module is not None and not getattr(spec, "_initializing", False)


class _WatchingLoader:
    """Delegates to the real loader and tells the finder when an outermost watched import ends."""

    def __init__(self, loader, finder: "_KerasImportFinder"):
        self._loader = loader
        self._finder = finder

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        # The module keeps its real loader: importlib.resources, inspect and pickle look there.
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        depth = getattr(_local, "depth", 0)
        _local.depth = depth + 1
        try:
            self._loader.exec_module(module)
        finally:
            _local.depth = depth
        if depth == 0:
            self._finder.run_if_keras_loaded()

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _KerasImportFinder:
    """A meta-path finder that finds nothing itself; it wraps the loaders of watched modules."""

    def __init__(self, callback: Callable[[], None]):
        self.callback = callback
        self.done = False

    def find_spec(self, fullname, path, target=None):
        if fullname not in WATCHED_PACKAGES and not fullname.startswith("albert_tf."):
            return None
        try:
            later = sys.meta_path[sys.meta_path.index(self) + 1:]
        except ValueError:  # removed meanwhile
            return None
        for finder in later:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _WatchingLoader(spec.loader, self)
        return spec

    def run_if_keras_loaded(self) -> None:
        # Called between imports (no watched module executing), so a Keras in sys.modules is whole.
        if self.done or "keras" not in sys.modules:
            return
        with _lock:
            if self.done:
                return
            self.done = True
            if self in sys.meta_path:
                sys.meta_path.remove(self)
        self.callback()


def call_when_keras_loaded(callback: Callable[[], None]) -> None:
    """Calls ``callback`` now if Keras is imported, else right after the import that brings it in.

    Example (in a process that has imported Keras, the callback runs at once):

    >>> import keras
    >>> seen = []
    >>> call_when_keras_loaded(lambda: seen.append("registered"))
    >>> seen
    ['registered']
    """
    if _keras_loaded():
        callback()
        return
    sys.meta_path.insert(0, _KerasImportFinder(callback))
