"""Package attributes imported on first use (PEP 562), so that a TensorFlow-free submodule stays cheap.

``import albert_tf.data.schemas`` runs ``albert_tf/__init__.py`` and ``albert_tf/data/__init__.py``
first; if those imported the models, every data-preparation process and worker would pay 8-11 s
for a TensorFlow it never uses. Packages therefore name their public attributes here and import
the module that defines one when it is first read.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Dict, Iterable, List, Tuple


def attach(package: str, exports: Dict[str, str], submodules: Iterable[str] = ()) -> Tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps a name to its defining module.

    Example:

    >>> getattr_, dir_ = attach("albert_tf", {"AlbertConfig": "albert_tf.config"}, ["data"])
    >>> getattr_("AlbertConfig").__name__, "data" in dir_()
    ('AlbertConfig', True)
    """
    submodules = frozenset(submodules)
    names = sorted(set(exports) | submodules)

    def __getattr__(name: str):
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> List[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
