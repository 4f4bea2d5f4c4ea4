"""`AlbertConfig`: the original `albert_config.json`, presets, validation and exact parameter counts."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from albert_tf.errors import UserInputError
from albert_tf.io import write_text_atomic

SHARING_MODES = ("all", "ffn", "attention", "none")
# The original maps these strings (case-insensitively) to functions; anything else raises. "gelu" is the
# original's tanh approximation; "gelu_exact" (beyond the original) is the erf form HuggingFace calls "gelu".
ACTIVATIONS = ("gelu", "gelu_exact", "relu", "tanh", "linear", "")

_INT_FIELDS = (
    "vocab_size",
    "embedding_size",
    "hidden_size",
    "num_hidden_layers",
    "num_hidden_groups",
    "num_attention_heads",
    "intermediate_size",
    "inner_group_num",
    "max_position_embeddings",
    "type_vocab_size",
)


@dataclasses.dataclass
class AlbertConfig:
    """Hyper-parameters of an ALBERT model, with the keys of the original `albert_config.json`.

    Defaults reproduce the original constructor, whose defaults are the **xxlarge** sizes (not base);
    use `from_preset` for the published models. Unknown JSON keys are kept in `extra` and written back
    by `to_dict`, as the original keeps every key it reads (e.g. `net_structure_type`, `gap_size`).

    `sharing` goes beyond the original: the paper's cross-layer sharing ablation.
    `"all"` (the original) shares whole blocks within a group, `"ffn"` shares only the feed-forward
    weights, `"attention"` only the attention weights, `"none"` gives every layer its own weights
    (BERT with a factorized embedding).

    Example:

    >>> config = AlbertConfig.from_preset("albert-base-v2")
    >>> config.hidden_size, config.num_hidden_layers, config.hidden_dropout_prob
    (768, 12, 0.0)
    >>> tiny = AlbertConfig(vocab_size=300, embedding_size=16, hidden_size=32,
    ...                     num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    >>> tiny.layer_to_group()
    [0, 0]
    """

    vocab_size: int
    embedding_size: int = 128
    hidden_size: int = 4096
    num_hidden_layers: int = 12
    num_hidden_groups: int = 1
    num_attention_heads: int = 64
    intermediate_size: int = 16384
    inner_group_num: int = 1
    down_scale_factor: int = 1
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    sharing: str = "all"
    extra: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self, source: str | None = None) -> None:
        """Raises `ValueError` naming the offending key (and `source`, a file, when given)."""
        where = f" in {source}" if source else ""

        def fail(message):
            raise ValueError(f"Invalid ALBERT config{where}: {message}")

        if self.vocab_size is None:
            fail("`vocab_size` is required (the original has no default for it).")
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                fail(f"`{name}` must be an integer, got {value!r}.")
            if value <= 0:
                fail(f"`{name}` must be positive, got {value}.")
        if self.hidden_size % self.num_attention_heads:
            fail(
                f"`hidden_size` ({self.hidden_size}) must be divisible by `num_attention_heads` "
                f"({self.num_attention_heads})."
            )
        if self.num_hidden_groups > self.num_hidden_layers:
            fail(
                f"`num_hidden_groups` ({self.num_hidden_groups}) cannot exceed `num_hidden_layers` "
                f"({self.num_hidden_layers}): a group with no layer would never be used."
            )
        act = "" if self.hidden_act is None else self.hidden_act
        if not isinstance(act, str) or act.lower() not in ACTIVATIONS:
            fail(f"`hidden_act` must be one of {list(ACTIVATIONS)} (any case), got {self.hidden_act!r}.")
        if self.sharing not in SHARING_MODES:
            fail(f"`sharing` must be one of {list(SHARING_MODES)}, got {self.sharing!r}.")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                fail(f"`{name}` must be a number in [0, 1), got {value!r}.")
        if not isinstance(self.initializer_range, (int, float)) or self.initializer_range <= 0:
            fail(f"`initializer_range` must be a positive number, got {self.initializer_range!r}.")

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str | None = None) -> "AlbertConfig":
        """Builds a config from a dict of original keys; unknown keys go to `extra`."""
        if not isinstance(values, dict):
            where = f" in {source}" if source else ""
            raise ValueError(f"An ALBERT config{where} must be a JSON object, got {type(values).__name__}.")
        values = dict(values)
        if values.get("vocab_size") is None:
            where = f" {source}" if source else ""
            raise ValueError(f"ALBERT config{where} has no `vocab_size`; the original requires it.")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        extra = dict(values.pop("extra", None) or {})
        extra.update({k: values.pop(k) for k in list(values) if k not in known})
        config = cls.__new__(cls)
        # Assign first and validate once, so the error can name the file.
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            if f.name in values:
                setattr(config, f.name, values[f.name])
            elif f.default is not dataclasses.MISSING:
                setattr(config, f.name, f.default)
        config.extra = extra
        config.validate(source)
        return config

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "AlbertConfig":
        """Reads an original `albert_config.json` (keys missing from the file keep the defaults)."""
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"ALBERT config file not found: {path}") from None
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"ALBERT config file {path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})."
            ) from None
        return cls.from_dict(values, source=path)

    def to_dict(self) -> dict[str, Any]:
        """All keys, the unknown ones from the source file included, as the original writes them."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        values.update(self.extra)
        return values

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str | os.PathLike) -> None:
        """Writes the config atomically (temp file + rename), sorted and indented as the original."""
        write_text_atomic(path, self.to_json_string())

    # ------------------------------------------------------------------ checks against flags and files
    def check_sequence_length(self, max_seq_length: int, source: str = "the config") -> None:
        """Raises `UserInputError` when `max_seq_length` exceeds `max_position_embeddings` (no position to embed).

        >>> AlbertConfig(vocab_size=30, embedding_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        ...              intermediate_size=32, max_position_embeddings=64).check_sequence_length(128, "c.json")
        Traceback (most recent call last):
        ...
        albert_tf.errors.UserInputError: --max_seq_length 128 is longer than max_position_embeddings 64 in c.json.
        """
        if max_seq_length > self.max_position_embeddings:
            raise UserInputError(
                f"--max_seq_length {max_seq_length} is longer than max_position_embeddings "
                f"{self.max_position_embeddings} in {source}."
            )

    def check_vocabulary(self, pieces: int, source: str, spm_model_file: str, allow_mismatch: bool = False) -> str:
        """Checks `vocab_size` against the SentencePiece model's `pieces`; returns a note when they differ by consent.

        A smaller `vocab_size` is always an error: ids at or past it index beyond the embedding table (a
        120-line `InvalidArgumentError` mid-training otherwise). A larger one leaves rows that no id ever
        reaches; `allow_mismatch` (`--allow_vocab_mismatch`) accepts that as deliberate padding (a table
        rounded up for the accelerator's tiling, say).
        """
        if pieces == self.vocab_size:
            return ""
        both = f"vocab_size {self.vocab_size} in {source} but {pieces} pieces in --spm_model_file {spm_model_file}"
        if self.vocab_size < pieces:
            raise UserInputError(f"{both}; ids {self.vocab_size} to {pieces - 1} would index past "
                                 "the embedding table (vocab_size must be at least the piece count)")
        if not allow_mismatch:
            raise UserInputError(f"{both}; the embedding rows past {pieces - 1} would never be "
                                 "used (pass --allow_vocab_mismatch if the padding is deliberate)")
        return f"{both}: {self.vocab_size - pieces} embedding rows are padding (--allow_vocab_mismatch)"

    def replace(self, **changes) -> "AlbertConfig":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ presets
    @classmethod
    def from_preset(cls, name: str) -> "AlbertConfig":
        """Published English models: `albert-{base,large,xlarge,xxlarge}-v{1,2}`."""
        if name not in PRESETS:
            raise ValueError(f"Unknown ALBERT preset {name!r}; expected one of {sorted(PRESETS)}.")
        return cls.from_dict(PRESETS[name])

    @staticmethod
    def preset_names() -> list[str]:
        return sorted(PRESETS)

    # ------------------------------------------------------------------ derived quantities
    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def layer_to_group(self) -> list[int]:
        """Group used by each layer, computed as the original does: `int(l / L * G)` in float.

        The float order matters: for some shapes it differs from integer arithmetic
        (e.g. L = G = 22 sends layer 15 to group 14), and the original's behaviour is the reference.
        """
        L, G = self.num_hidden_layers, self.num_hidden_groups
        return [int(layer / L * G) for layer in range(L)]

    def used_groups(self) -> list[int]:
        """Groups that own weights: a group no layer is routed to never gets variables."""
        return sorted(set(self.layer_to_group()))

    def num_parameters(self, with_pretraining_heads: bool = False) -> int:
        """Exact parameter count of the architecture (backbone with pooler; optionally MLM + SOP heads)."""
        V, E, H = self.vocab_size, self.embedding_size, self.hidden_size
        I, P, T, K = self.intermediate_size, self.max_position_embeddings, self.type_vocab_size, self.inner_group_num
        embeddings = (V + P + T) * E + 2 * E
        projection = (E * H + H) if E != H else 0
        attention = 4 * (H * H + H) + 2 * H
        ffn = (H * I + I) + (I * H + H) + 2 * H
        groups = len(self.used_groups())
        layers = self.num_hidden_layers
        attention_copies = (groups if self.sharing in ("all", "attention") else layers) * K
        ffn_copies = (groups if self.sharing in ("all", "ffn") else layers) * K
        pooler = H * H + H
        total = embeddings + projection + attention_copies * attention + ffn_copies * ffn + pooler
        if with_pretraining_heads:
            total += (H * E + E) + 2 * E + V  # MLM transform, its LayerNorm, output bias (decoder is tied)
            total += 2 * H + 2  # SOP classifier
        return total


def _published(layers, hidden, heads, intermediate, dropout):
    return {
        "vocab_size": 30000,
        "embedding_size": 128,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_hidden_groups": 1,
        "num_attention_heads": heads,
        "intermediate_size": intermediate,
        "inner_group_num": 1,
        "down_scale_factor": 1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": dropout,
        "attention_probs_dropout_prob": dropout,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        # Keys the published files carry and the model ignores; kept so a round trip is lossless.
        "net_structure_type": 0,
        "gap_size": 0,
        "num_memory_blocks": 0,
    }


_SIZES = {
    "base": (12, 768, 12, 3072),
    "large": (24, 1024, 16, 4096),
    "xlarge": (24, 2048, 16, 8192),
    "xxlarge": (12, 4096, 64, 16384),
}

PRESETS: dict[str, dict[str, Any]] = {}
for _size, _shape in _SIZES.items():
    # v1 used dropout 0.1 except xxlarge; v2 was trained without dropout.
    PRESETS[f"albert-{_size}-v1"] = _published(*_shape, dropout=0.0 if _size == "xxlarge" else 0.1)
    PRESETS[f"albert-{_size}-v2"] = _published(*_shape, dropout=0.0)
PRESETS["albert-xxlarge-v1"]["layers_to_keep"] = []
PRESETS["albert-xxlarge-v2"]["layers_to_keep"] = []

