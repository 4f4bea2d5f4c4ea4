import json

import pytest

from albert_tf import AlbertConfig
from albert_tf.config import PRESETS

PUBLISHED = {  # L, H, N, I: original_release.md section 1.2
    "base": (12, 768, 12, 3072),
    "large": (24, 1024, 16, 4096),
    "xlarge": (24, 2048, 16, 8192),
    "xxlarge": (12, 4096, 64, 16384),
}


@pytest.mark.parametrize("size", sorted(PUBLISHED))
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_presets_have_published_values(size, version):
    config = AlbertConfig.from_preset(f"albert-{size}-{version}")
    L, H, N, I = PUBLISHED[size]
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.intermediate_size) == (L, H, N, I)
    assert (config.vocab_size, config.embedding_size, config.max_position_embeddings, config.type_vocab_size) == (30000, 128, 512, 2)
    assert (config.num_hidden_groups, config.inner_group_num, config.hidden_act) == (1, 1, "gelu")
    dropout = 0.1 if version == "v1" and size != "xxlarge" else 0.0
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == dropout


def test_defaults_are_the_original_constructor_defaults_xxlarge():
    config = AlbertConfig.from_dict({"vocab_size": 30000})
    assert (config.hidden_size, config.num_attention_heads, config.intermediate_size) == (4096, 64, 16384)
    assert (config.embedding_size, config.num_hidden_layers, config.hidden_dropout_prob) == (128, 12, 0.0)


def test_reads_original_json_keeping_unknown_keys(tmp_path):
    original = dict(PRESETS["albert-base-v2"])
    path = tmp_path / "albert_config.json"
    path.write_text(json.dumps(original))
    config = AlbertConfig.from_json_file(path)
    assert config.extra == {"net_structure_type": 0, "gap_size": 0, "num_memory_blocks": 0}
    out = tmp_path / "out.json"
    config.to_json_file(out)
    text = out.read_text()
    assert text.endswith("}\n") and json.loads(text) == {**original, "sharing": "all"}
    assert list(json.loads(text)) == sorted(json.loads(text)), "keys are written sorted, as the original"


def test_missing_vocab_size_names_the_file(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"hidden_size": 768}))
    with pytest.raises(ValueError, match=r"cfg\.json.*vocab_size"):
        AlbertConfig.from_json_file(path)


def test_not_json_names_the_file_and_position(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"vocab_size": 30000,\n  "hidden_size": }')
    with pytest.raises(ValueError, match=r"broken\.json is not valid JSON \(line 2"):
        AlbertConfig.from_json_file(path)
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        AlbertConfig.from_json_file(tmp_path / "nowhere.json")


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(hidden_size=100, num_attention_heads=12), "divisible"),
        (dict(num_hidden_groups=13), "cannot exceed"),
        (dict(hidden_size=0), "must be positive"),
        (dict(intermediate_size=-1), "must be positive"),
        (dict(num_hidden_layers=2.5), "must be an integer"),
        (dict(hidden_act="swish"), "hidden_act"),
        (dict(sharing="half"), "sharing"),
        (dict(hidden_dropout_prob=1.5), "hidden_dropout_prob"),
    ],
)
def test_validation_errors_name_the_key(change, message):
    values = dict(PRESETS["albert-base-v2"], **change)
    with pytest.raises(ValueError, match=message):
        AlbertConfig.from_dict(values, source="my_config.json")
    with pytest.raises(ValueError, match="my_config.json"):
        AlbertConfig.from_dict(values, source="my_config.json")


def test_activation_names_are_case_insensitive():
    assert AlbertConfig(vocab_size=10, hidden_act="GELU").hidden_act == "GELU"


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="albert-base-v2"):
        AlbertConfig.from_preset("albert-huge")


@pytest.mark.parametrize(
    "L, G, expected",
    [
        (12, 1, [0] * 12),
        (12, 2, [0] * 6 + [1] * 6),
        (12, 3, [0] * 4 + [1] * 4 + [2] * 4),
        (12, 5, [0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4]),
        (5, 3, [0, 0, 1, 1, 2]),
        (7, 3, [0, 0, 0, 1, 1, 2, 2]),
    ],
)
def test_layer_to_group_matches_the_original(L, G, expected):
    assert AlbertConfig(vocab_size=10, num_hidden_layers=L, num_hidden_groups=G).layer_to_group() == expected


def test_layer_to_group_uses_float_arithmetic_like_the_original():
    routing = AlbertConfig(vocab_size=10, num_hidden_layers=22, num_hidden_groups=22).layer_to_group()
    assert routing[15] == 14  # integer arithmetic would give 15
    assert 15 not in AlbertConfig(vocab_size=10, num_hidden_layers=22, num_hidden_groups=22).used_groups()
    assert AlbertConfig(vocab_size=10, num_hidden_layers=49, num_hidden_groups=49).layer_to_group()[1] == 0


@pytest.mark.parametrize(
    "size, backbone, with_heads",
    [
        ("base", 11_683_584, 11_813_810),
        ("large", 17_683_968, 17_847_474),
        ("xlarge", 58_724_864, 59_021_490),
        ("xxlarge", 222_595_584, 223_158_450),
    ],
)
def test_parameter_counts_equal_the_original_architecture(size, backbone, with_heads):
    config = AlbertConfig.from_preset(f"albert-{size}-v2")
    assert config.num_parameters() == backbone
    assert config.num_parameters(with_pretraining_heads=True) == with_heads
