"""The map in docs/architecture.md, checked: imports point tools -> data_prep -> albert_tf, inside albert_tf
training/export/checkpoints -> tasks/models -> layers, and no two modules import each other (a
function-level import counts: it hides a cycle, it does not remove one)."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("albert_tf", "data_prep", "tools")

#: What each layer of albert_tf may not import (the layers below it never import the ones above).
FORBIDDEN = {
    "albert_tf.layers": ("albert_tf.models", "albert_tf.tasks", "albert_tf.training", "albert_tf.export",
                         "albert_tf.checkpoints"),
    "albert_tf.models": ("albert_tf.tasks", "albert_tf.training", "albert_tf.export", "albert_tf.checkpoints"),
    "albert_tf.text": ("albert_tf.models", "albert_tf.training", "albert_tf.export", "albert_tf.checkpoints"),
    "albert_tf.data": ("albert_tf.models", "albert_tf.training", "albert_tf.export", "albert_tf.checkpoints"),
    "albert_tf.checkpoints": ("albert_tf.training",),
    "albert_tf": ("data_prep", "tools", "albert_tf_tools"),
    "data_prep": ("tools", "albert_tf_tools"),
}


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: pathlib.Path):
    """Every module `path` imports, at any depth of the file (functions included), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield target, node.lineno
            for alias in node.names:  # `from package import module`
                yield f"{target}.{alias.name}", node.lineno


def sources():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def owns(prefix: str, name: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_imports_point_one_way():
    wrong = []
    for path in sources():
        name = module_name(path)
        if name == "albert_tf._keras_registration":
            continue  # it names the packages it watches, it does not import them
        rules = [(layer, banned) for layer, banned in FORBIDDEN.items() if owns(layer, name)]
        for target, line in imports_of(path):
            for layer, banned in rules:
                for prefix in banned:
                    if owns(prefix, target):
                        wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target} ({layer} may not import {prefix})")
    assert not wrong, "imports against the map in docs/architecture.md:\n" + "\n".join(sorted(set(wrong)))


def test_no_two_modules_of_albert_tf_import_each_other():
    modules = {module_name(p): p for p in sorted((ROOT / "albert_tf").rglob("*.py"))}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for target, _ in imports_of(path):
            # `from albert_tf.models import backbone` names a module; `... import AlbertBackbone` a package.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not owns(target, name):  # a package importing its own modules
                targets.add(target)
        graph[name] = targets
    cycles = []
    for start in graph:
        for middle in graph[start]:
            if start in graph.get(middle, ()) and start < middle and not (owns(start, middle) or owns(middle, start)):
                cycles.append(f"{start} <-> {middle}")
    assert not cycles, "modules that import each other:\n" + "\n".join(cycles)


@pytest.mark.parametrize("source, expected", [
    ("from albert_tf.training import runner\n", {"albert_tf.training", "albert_tf.training.runner"}),
    ("def f():\n    import data_prep.vocab\n", {"data_prep.vocab"}),
])
def test_the_scan_sees_module_and_function_level_imports(tmp_path, source, expected):
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert {target for target, _ in imports_of(path)} >= expected


def test_doctests_inside_albert_tf_import_nothing_from_data_prep_or_tools():
    wrong = []
    for path in sorted((ROOT / "albert_tf").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.strip()
            if code.startswith((">>> ", "... ")) and any(
                f"{word} {package}" in code for word in ("import", "from") for package in ("data_prep", "tools", "albert_tf_tools")
            ):
                wrong.append(f"{path.relative_to(ROOT)}:{number}: {code}")
    assert not wrong, "doctests inside albert_tf that import data_prep or tools:\n" + "\n".join(wrong)
