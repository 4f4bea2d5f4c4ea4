"""`SharedEncoder`: L layers routed over G parameter groups of K inner blocks, with sharing ablations."""

import keras

from albert_tf.config import SHARING_MODES
from albert_tf.layers.transformer import FeedForwardSublayer, SelfAttentionSublayer


def layer_to_group(num_layers, num_groups):
    """The original's routing, `int(l / L * G)` in Python float (not integer arithmetic)."""
    return [int(layer / num_layers * num_groups) for layer in range(num_layers)]


@keras.saving.register_keras_serializable(package="albert_tf")
class SharedEncoder(keras.layers.Layer):
    """ALBERT's encoder with cross-layer parameter sharing.

    Layer `l` uses group `int(l / L * G)` and applies that group's K inner blocks in sequence; every
    applied block's output is returned, so the result is a list of `L * K` tensors (the original's
    `all_encoder_layers`). Each block is an attention half and a feed-forward half; `sharing` says
    which halves are owned by the group (shared by its layers) and which by each layer:

    | sharing       | attention owned by | feed-forward owned by |
    |---------------|--------------------|-----------------------|
    | `"all"`       | group (original)   | group                 |
    | `"attention"` | group              | layer                 |
    | `"ffn"`       | layer              | group                 |
    | `"none"`      | layer              | layer                 |

    Example:

    >>> import numpy as np
    >>> encoder = SharedEncoder(num_hidden_layers=3, num_hidden_groups=2, inner_group_num=2,
    ...                         hidden_size=16, num_attention_heads=2, intermediate_size=32)
    >>> outputs = encoder(np.random.rand(1, 4, 16).astype("float32"), np.ones((1, 4), "int32"))
    >>> len(outputs), encoder.routing
    (6, [0, 0, 1])
    """

    def __init__(
        self,
        num_hidden_layers,
        hidden_size,
        num_attention_heads,
        intermediate_size,
        num_hidden_groups=1,
        inner_group_num=1,
        sharing="all",
        hidden_act="gelu",
        hidden_dropout=0.0,
        attention_dropout=0.0,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if sharing not in SHARING_MODES:
            raise ValueError(f"sharing must be one of {list(SHARING_MODES)}, got {sharing!r}.")
        if not 0 < num_hidden_groups <= num_hidden_layers:
            raise ValueError(
                f"num_hidden_groups ({num_hidden_groups}) must be between 1 and num_hidden_layers "
                f"({num_hidden_layers})."
            )
        self.num_hidden_layers = num_hidden_layers
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.num_hidden_groups = num_hidden_groups
        self.inner_group_num = inner_group_num
        self.sharing = sharing
        self.hidden_act = hidden_act
        self.hidden_dropout = hidden_dropout
        self.attention_dropout = attention_dropout
        self.initializer_range = initializer_range
        self.routing = layer_to_group(num_hidden_layers, num_hidden_groups)

        def owners(shared_by_group):
            # One owner per layer: the group when shared, else the layer itself.
            if shared_by_group:
                return [f"group_{g}" for g in self.routing]
            return [f"layer_{layer}" for layer in range(num_hidden_layers)]

        attention_owners = owners(sharing in ("all", "attention"))
        ffn_owners = owners(sharing in ("all", "ffn"))

        # Sublayers live in flat lists (tracked by Keras); the index tables map (layer, inner) to them.
        self.attention_sublayers = []
        self.ffn_sublayers = []
        self._attention_index = self._make_sublayers(attention_owners, "attention", self.attention_sublayers)
        self._ffn_index = self._make_sublayers(ffn_owners, "ffn", self.ffn_sublayers)

    def _make_sublayers(self, owners, kind, store):
        index, created = [], {}
        for owner in owners:
            row = []
            for inner in range(self.inner_group_num):
                name = f"{owner}_inner_{inner}_{kind}"
                if name not in created:
                    created[name] = len(store)
                    store.append(self._new_sublayer(kind, name))
                row.append(created[name])
            index.append(row)
        return index

    def _new_sublayer(self, kind, name):
        if kind == "attention":
            return SelfAttentionSublayer(
                hidden_size=self.hidden_size,
                num_attention_heads=self.num_attention_heads,
                attention_dropout=self.attention_dropout,
                hidden_dropout=self.hidden_dropout,
                initializer_range=self.initializer_range,
                dtype=self.dtype_policy,
                name=name,
            )
        return FeedForwardSublayer(
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            hidden_dropout=self.hidden_dropout,
            initializer_range=self.initializer_range,
            dtype=self.dtype_policy,
            name=name,
        )

    def block(self, layer, inner):
        """The (attention, feed-forward) sublayers applied as inner block `inner` of layer `layer`."""
        return (
            self.attention_sublayers[self._attention_index[layer][inner]],
            self.ffn_sublayers[self._ffn_index[layer][inner]],
        )

    def group_blocks(self):
        """`(group, inner, attention, ffn)` for every group that owns weights, in group order.

        The weight layout of the original release (and of HuggingFace), defined for `sharing="all"`.
        """
        if self.sharing != "all":
            raise ValueError(f"Group-owned blocks exist only with sharing='all', not {self.sharing!r}.")
        first_layer = {}
        for layer, group in enumerate(self.routing):
            first_layer.setdefault(group, layer)
        return [
            (group, inner, *self.block(layer, inner))
            for group, layer in sorted(first_layer.items())
            for inner in range(self.inner_group_num)
        ]

    def build(self, hidden_states_shape, input_mask_shape=None):
        shape = (None, None, self.hidden_size)
        for sublayer in self.attention_sublayers + self.ffn_sublayers:
            sublayer.build(shape)
        self.built = True

    def call(self, hidden_states, input_mask, training=None):
        outputs = []
        for layer in range(self.num_hidden_layers):
            for inner in range(self.inner_group_num):
                attention, ffn = self.block(layer, inner)
                hidden_states = attention(hidden_states, input_mask, training=training)
                hidden_states = ffn(hidden_states, training=training)
                outputs.append(hidden_states)
        return outputs

    def compute_output_spec(self, hidden_states, input_mask, training=None):
        count = self.num_hidden_layers * self.inner_group_num
        return [keras.KerasTensor(hidden_states.shape, dtype=self.compute_dtype) for _ in range(count)]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_hidden_layers": self.num_hidden_layers,
                "hidden_size": self.hidden_size,
                "num_attention_heads": self.num_attention_heads,
                "intermediate_size": self.intermediate_size,
                "num_hidden_groups": self.num_hidden_groups,
                "inner_group_num": self.inner_group_num,
                "sharing": self.sharing,
                "hidden_act": self.hidden_act,
                "hidden_dropout": self.hidden_dropout,
                "attention_dropout": self.attention_dropout,
                "initializer_range": self.initializer_range,
            }
        )
        return config
