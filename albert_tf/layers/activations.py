"""The original's `hidden_act` names mapped to functions."""

import keras


def gelu_tanh(x):
    """GELU, tanh approximation: what the original calls "gelu" (Keras' default "gelu" is the erf form)."""
    return keras.activations.gelu(x, approximate=True)


def gelu_exact(x):
    """GELU, erf form: what HuggingFace and Keras call "gelu"; albert_tf's name for it is "gelu_exact"."""
    return keras.activations.gelu(x, approximate=False)


def _identity(x):
    return x


_ACTIVATIONS = {
    "gelu": gelu_tanh,
    "gelu_exact": gelu_exact,
    "relu": keras.activations.relu,
    "tanh": keras.activations.tanh,
    "linear": _identity,
    "": _identity,
}


def get_activation(name):
    """Returns the function for an original `hidden_act` string (case-insensitive; None/"" is identity)."""
    key = "" if name is None else str(name).lower()
    if key not in _ACTIVATIONS:
        raise ValueError(f"Unsupported activation {name!r}; expected one of {sorted(_ACTIVATIONS)}.")
    return _ACTIVATIONS[key]
