"""The embedding-geometry measures on tables whose answer is known by construction, and the tool end to end."""

import json

import numpy as np
import pytest

from tools import embedding_anisotropy as tool


def test_identical_rows_point_one_way_and_orthonormal_rows_spread_evenly():
    same = tool.geometry(np.tile([[3.0, 4.0, 0.0]], (5, 1)))
    assert same["top1_energy_share"] == pytest.approx(1.0)
    assert same["mean_pair_cosine"] == pytest.approx(1.0)
    assert same["mean_cosine_with_mean_direction"] == pytest.approx(1.0)
    spread = tool.geometry(np.eye(4))
    assert spread["top1_energy_share"] == pytest.approx(0.25) and spread["top5_energy_share"] == pytest.approx(1.0)
    assert spread["mean_pair_cosine"] == pytest.approx(0.0, abs=1e-12)
    # Two vectors at 60 degrees: their one pair has cosine 0.5.
    assert tool.geometry(np.array([[1.0, 0.0], [0.5, np.sqrt(0.75)]]))["mean_pair_cosine"] == pytest.approx(0.5)


def test_a_shared_offset_is_found_in_a_saved_model(tmp_path):
    import keras

    from albert_tf import AlbertPretrainer
    from tests.conftest import tiny_config

    keras.utils.set_random_seed(0)
    model = AlbertPretrainer(tiny_config())
    model({"input_ids": np.ones((1, 8), "int32"), "input_mask": np.ones((1, 8), "int32"),
           "segment_ids": np.zeros((1, 8), "int32"), "masked_lm_positions": np.array([[1, 2]], "int32")})
    table = next(w for w in model.weights if w.path.endswith("word_embeddings/embeddings"))
    offset = np.zeros(table.shape[1], "float32")
    offset[0] = 0.1  # five standard deviations along one axis, for every word
    table.assign(table.numpy() + offset)
    path = str(tmp_path / "model.keras")
    model.save(path)
    out = tmp_path / "geometry.json"
    assert tool.main(["--model", path, "--output", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["shape"] == list(table.shape)
    assert results["trained"]["top1_energy_share"] > 0.5 > results["random_init"]["top1_energy_share"]
    assert results["trained"]["mean_pair_cosine"] > 0.5 and abs(results["random_init"]["mean_pair_cosine"]) < 0.05
