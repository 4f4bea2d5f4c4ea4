"""curves.png from train_metrics.csv (step column or row index), eval history and final eval results."""

import json
import sys

import pytest

from albert_tf.training.curves import read_eval_results, read_metrics, write_curves

pytest.importorskip("matplotlib")


def test_step_column_wins_over_row_index(tmp_path):
    (tmp_path / "a.csv").write_text("step,loss\n10,2.0\n30,1.5\n")
    (tmp_path / "b.csv").write_text("epoch,loss\n0,2.0\n1,1.5\n")
    assert [r["step"] for r in read_metrics(tmp_path / "a.csv", steps_per_row=100)] == [10, 30]
    assert [r["step"] for r in read_metrics(tmp_path / "b.csv", steps_per_row=100)] == [100, 200]


def test_final_eval_is_the_last_block(tmp_path):
    (tmp_path / "eval_results.txt").write_text("global_step = 10\nloss = 3.0\nglobal_step = 20\nloss = 2.0\n")
    assert read_eval_results(tmp_path / "eval_results.txt") == {"global_step": 20, "loss": 2.0}
    (tmp_path / "eval_results.txt").write_text("eval_accuracy = 0.5\nglobal_step = 10\neval_accuracy = 0.7\nglobal_step = 20\n")
    assert read_eval_results(tmp_path / "eval_results.txt") == {"eval_accuracy": 0.7, "global_step": 20}


def test_png_with_train_and_eval_curves(tmp_path):
    import matplotlib.image

    (tmp_path / "train_metrics.csv").write_text(
        "step,loss,masked_lm_accuracy,val_loss\n50,9.0,0.02,9.1\n100,7.0,0.10,7.4\n150,6.0,0.16,6.6\n")
    (tmp_path / "eval_history.json").write_text(json.dumps(
        [{"global_step": 50, "eval_accuracy": 0.4}, {"global_step": 150, "eval_accuracy": 0.6}]))
    path = write_curves(str(tmp_path))
    assert path == str(tmp_path / "curves.png")
    image = matplotlib.image.imread(path)
    assert image.shape[0] >= 300 and image.shape[1] >= 1000  # two panels side by side
    assert not (tmp_path / "curves.png.incomplete").exists()


def test_nothing_without_metrics_or_matplotlib(tmp_path, monkeypatch):
    assert write_curves(str(tmp_path)) is None
    (tmp_path / "train_metrics.csv").write_text("step,loss\n1,2.0\n")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    assert write_curves(str(tmp_path)) is None and not (tmp_path / "curves.png").exists()
