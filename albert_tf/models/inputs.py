"""Input checks shared by the models: a wrong key or dtype fails with a message that says what was expected."""

#: The token inputs of every model (the backbone's dict; multiple choice adds an option axis).
INPUT_KEYS = ("input_ids", "input_mask", "segment_ids")

# keras-hub and HuggingFace name the same inputs differently; point users from theirs to ours.
_OTHER_NAMES = {
    "token_ids": "input_ids",
    "input_word_ids": "input_ids",
    "padding_mask": "input_mask",
    "attention_mask": "input_mask",
    "token_type_ids": "segment_ids",
    "input_type_ids": "segment_ids",
    "mlm_positions": "masked_lm_positions",
}


def select_inputs(inputs, required, model_name, integer_keys=None):
    """Returns `{key: inputs[key] for key in required}`, or raises naming what is missing.

    Extra keys are allowed (a training batch also carries labels); missing ones are an error, with a hint
    when the caller used another library's name for the same input. Keys in `integer_keys` (default: all)
    must hold integer tensors.
    """
    integer_keys = required if integer_keys is None else integer_keys
    if not isinstance(inputs, dict):
        raise TypeError(
            f"{model_name} expects a dict with keys {list(required)}, got {type(inputs).__name__}."
        )
    missing = [key for key in required if key not in inputs]
    if missing:
        hints = [f"'{other}' -> '{ours}'" for other, ours in _OTHER_NAMES.items() if other in inputs and ours in missing]
        hint = f" Rename: {', '.join(hints)}." if hints else ""
        raise KeyError(
            f"{model_name} inputs are missing {missing}; expected keys {list(required)}, "
            f"got {sorted(inputs)}.{hint}"
        )
    selected = {key: inputs[key] for key in required}
    for key in integer_keys:
        dtype = getattr(selected[key], "dtype", None)
        if dtype is not None and "int" not in str(dtype):
            raise TypeError(f"{model_name} input '{key}' must be an integer tensor, got dtype {dtype}.")
    return selected
