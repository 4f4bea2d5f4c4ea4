"""tools/bench_backends.py: its FLOP count against a hand count, its keras-hub twin against our model, and one
short measurement on the tiny model (the figures themselves: docs/bench_backends.md)."""

import doctest
import json
import types

import pytest

from tools import bench_backends


def test_the_flop_count_is_the_hand_count_of_a_tiny_config():
    config = bench_backends.config_for("tiny")  # V=300, E=16, H=32, L=2 (one shared layer applied twice), F=64
    s, p = 8, 2
    projection = 2 * s * 16 * 32                        # 8,192: E->H at every position
    qkvo = 4 * (2 * s * 32 * 32)                        # 65,536: Q, K, V and the output projection
    scores_and_values = 2 * (2 * s * s * 32)            # 8,192: QK^T and the weights times V, all heads together
    ffn = 2 * (2 * s * 32 * 64)                         # 65,536: in and out
    forward = projection + 2 * (qkvo + scores_and_values + ffn)     # 286,720
    mlm = 2 * p * 32 * 16 + 2 * p * 16 * 300           # 2,048 + 19,200: the E-wide transform and the output layer
    assert bench_backends.model_flops(config, s, p, training=False) == forward == 286_720
    assert bench_backends.model_flops(config, s, p, training=True) == 3 * (forward + mlm) == 923_904


def test_the_docstring_example_runs():
    result = doctest.testmod(bench_backends)
    assert result.attempted and not result.failed


def test_bert_large_has_no_embedding_projection_and_24_unshared_layers():
    config = bench_backends.config_for("bert-large")
    assert (config.sharing, config.embedding_size, config.num_hidden_layers) == ("none", 1024, 24)
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.0
    # At S=1 each layer is 4 HxH projections, the FFN's two Hx4H and 2*2*H for the scores: (8+16)H^2 + 4H.
    h = 1024
    assert bench_backends.model_flops(config, 1, 1, training=False) == 24 * (2 * 12 * h * h + 4 * h)


def test_keras_hub_builds_the_same_model():
    pytest.importorskip("keras_hub")
    config = bench_backends.config_for("tiny")
    from albert_tf import AlbertPretrainer

    backbone, masked_lm = bench_backends.keras_hub_models(config, "float32")
    pretrainer = AlbertPretrainer(config)
    sop_head = config.hidden_size * 2 + 2  # ours also trains sentence order; keras-hub's MLM model has no SOP head
    assert masked_lm.count_params() == pretrainer.count_params() - sop_head
    assert backbone.count_params() == pretrainer.backbone.count_params()


def test_one_short_measurement_gives_every_row(tmp_path, capsys):
    args = types.SimpleNamespace(batch_size=2, seq_length=16, max_predictions_per_seq=2, steps=2, rounds=1)
    rows = bench_backends.measure("tiny", "float32", args, implementations=("albert_tf",))
    assert [(r["implementation"], r["mode"]) for r in rows] == [("albert_tf", "train"), ("albert_tf", "infer")]
    for row in rows:
        assert "error" not in row, row
        assert row["seconds_per_step"] > 0
        assert row["sequences_per_second"] == pytest.approx(2 / row["seconds_per_step"])
        assert row["achieved_tflops"] == pytest.approx(row["sequences_per_second"] * row["flops_per_sequence"] / 1e12)
    report = {"meta": {"backend": "tensorflow", "device": "cpu: test", "keras": "3", "backend_version": "tf",
                       "keras_hub": "n/a", "batch_size": 2, "seq_length": 16, "steps": 2, "rounds": 1,
                       "peaks": {"float32": {"tflops": 1.0, "source": "--peak_tflops"}}, "vector_extensions": "-",
                       "load_before": "0", "load_after": "0"}, "rows": rows}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    bench_backends.main(["--compare", str(path)])
    table = capsys.readouterr().out.splitlines()
    train = next(line.split() for line in table if line.startswith("tensorflow tiny") and " train " in line)
    assert train[4] == f"{rows[0]['sequences_per_second']:.2f}" and train[5] == "-"  # no keras-hub row: no ratio
    assert train[-2] == f"{100 * rows[0]['achieved_tflops']:.1f}%"  # MFU against the 1 TFLOP/s peak given


def test_help_shows_every_default_and_an_example():
    parser = bench_backends.build_parser()
    text = " ".join(parser.format_help().split())
    assert "example: python tools/bench_backends.py --backend jax" in text
    for action in parser._actions:
        if action.option_strings and action.help != "show this help message and exit":
            flag = action.option_strings[0]
            assert f"e.g. {flag}" in " ".join(parser._get_formatter()._expand_help(action).split()), flag


def test_bad_flags_are_one_line_errors(capsys):
    with pytest.raises(SystemExit):
        bench_backends.main(["--sizes", "albert-huge"])
    assert "albert-huge: expected a comma list of albert-base" in capsys.readouterr().err
