"""``curves.png``: loss and accuracies against steps, train and eval, from a run's ``train_metrics.csv``.

TensorBoard needs a server; a PNG next to the CSV can be looked at anywhere. Drawn with matplotlib
(the ``plot`` extra: ``pip install 'albert_tf[plot]'``); without it :func:`write_curves` does nothing.
The x axis is the CSV's ``step`` column when it has one, else ``(row + 1) * steps_per_row``. Columns
named ``val_*`` (Keras' validation) or ``eval_*`` are the eval curves, drawn dashed, as are the
evaluations of every checkpoint in ``eval_history.json`` (``albert-finetune``: a list of score dicts
with ``global_step``); the final evaluation in ``eval_results.txt`` (``key = value`` lines with
``global_step``) is drawn as points.

Example:

>>> import os, tempfile
>>> run = tempfile.mkdtemp()
>>> with open(os.path.join(run, "train_metrics.csv"), "w") as f:
...     _ = f.write("epoch,loss,masked_lm_accuracy\\n0,9.1,0.02\\n1,7.5,0.09\\n2,6.8,0.15\\n")
>>> rows = read_metrics(os.path.join(run, "train_metrics.csv"), steps_per_row=50)
>>> [row["step"] for row in rows], rows[-1]["masked_lm_accuracy"]
([50, 100, 150], 0.15)
>>> write_curves(run, steps_per_row=50) in (None, os.path.join(run, "curves.png"))
True
"""

from __future__ import annotations

import csv
import json
import math
import os
from typing import Dict, List, Optional

METRICS_FILE = "train_metrics.csv"
CURVES_FILE = "curves.png"
EVAL_FILE = "eval_results.txt"
EVAL_HISTORY_FILE = "eval_history.json"


def read_metrics(path: str, steps_per_row: int = 1) -> List[Dict[str, float]]:
    """Rows of a metrics CSV as floats, each with a ``step``; non-numeric cells are dropped."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for index, row in enumerate(csv.DictReader(f)):
            values = {}
            for key, cell in row.items():
                try:
                    values[key] = float(cell)
                except (TypeError, ValueError):
                    continue
            if "step" in values:
                values["step"] = int(values["step"])
            else:
                values["step"] = (index + 1) * steps_per_row
            rows.append(values)
    return rows


def read_eval_results(path: str) -> Dict[str, float]:
    """The ``key = value`` lines of the last evaluation in ``eval_results.txt``.

    Each evaluation appends its keys sorted, so a key seen again starts the next block.
    """
    block: Dict[str, float] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, sep, value = line.partition("=")
            key = key.strip()
            if not sep:
                continue
            if key in block:
                block = {}
            try:
                block[key] = float(value)
            except ValueError:
                continue
    return block


def _is_eval(column: str) -> bool:
    return column.startswith(("val_", "eval_"))


def _base(column: str) -> str:
    return column.split("_", 1)[1] if _is_eval(column) else column


def write_curves(run_dir: str, steps_per_row: int = 1, metrics_file: str = METRICS_FILE,
                 output: str = CURVES_FILE) -> Optional[str]:
    """Writes ``run_dir/curves.png``; returns its path, or None without matplotlib or metrics."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    csv_path = os.path.join(run_dir, metrics_file)
    rows = read_metrics(csv_path, steps_per_row) if os.path.exists(csv_path) else []
    eval_path = os.path.join(run_dir, EVAL_FILE)
    final_eval = read_eval_results(eval_path) if os.path.exists(eval_path) else {}
    history_path = os.path.join(run_dir, EVAL_HISTORY_FILE)
    if os.path.exists(history_path):
        # One CSV-like row per evaluated checkpoint, its columns prefixed as eval curves.
        with open(history_path, encoding="utf-8") as f:
            history = json.load(f)
        rows = rows + [
            {"step": int(h["global_step"]),
             **{(k if k.startswith("eval_") else "eval_" + k): float(v) for k, v in h.items()
                if k != "global_step" and isinstance(v, (int, float))}}
            for h in history if isinstance(h, dict) and "global_step" in h
        ]
        final_eval = {}  # the final evaluation is one of the history's points
    if not rows and not final_eval:
        return None
    columns = sorted({k for row in rows for k in row} - {"step", "epoch", "learning_rate", "lr"})
    panels = [("loss", [c for c in columns if "loss" in c]),
              ("accuracy", [c for c in columns if "accuracy" in c or c.endswith("_acc")])]
    panels = [(title, cols) for title, cols in panels if cols or any(title in k for k in final_eval)]
    if not panels:
        return None
    figure = Figure(figsize=(6 * len(panels), 4), layout="constrained")
    colours = {}
    for axis, (title, cols) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        for column in cols:
            points = [(r["step"], r[column]) for r in rows if column in r and math.isfinite(r[column])]
            if not points:
                continue
            colour = colours.setdefault(_base(column), f"C{len(colours) % 10}")
            axis.plot(*zip(*points), color=colour, linestyle="--" if _is_eval(column) else "-",
                      marker="." if len(points) < 30 else None,
                      label=("eval " if _is_eval(column) else "train ") + _base(column))
        step = final_eval.get("global_step")
        for key, value in final_eval.items():
            if title in key and step is not None:
                colour = colours.setdefault(key, f"C{len(colours) % 10}")
                axis.plot([step], [value], "o", color=colour, markerfacecolor="none", label=f"eval {key} (final)")
        axis.set_xlabel("step")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    path = os.path.join(run_dir, output)
    tmp = path + ".incomplete"
    figure.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, path)
    return path
