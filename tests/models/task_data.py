"""Tiny fine-tuning batches with the original record feature names."""

import numpy as np


def inputs(config, batch=4, length=12, seed=0, pad=(0, 3, 5, 1, 0, 2, 4, 6)):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), "int32")
    for row in range(batch):
        count = pad[row % len(pad)]
        if count:
            mask[row, length - count:] = 0
    segments = np.zeros((batch, length), "int32")
    segments[:, length // 3:] = 1
    return {
        "input_ids": (rng.integers(5, config.vocab_size, (batch, length)) * mask).astype("int32"),
        "input_mask": mask,
        "segment_ids": segments * mask,
    }


def classification_batch(config, num_classes=3, batch=4, seed=0, **kwargs):
    data = inputs(config, batch=batch, seed=seed, **kwargs)
    rng = np.random.default_rng(seed + 100)
    if num_classes == 1:
        data["label_ids"] = rng.uniform(0.0, 5.0, (batch, 1)).astype("float32")
    else:
        data["label_ids"] = rng.integers(0, num_classes, (batch, 1)).astype("int64")
    data["is_real_example"] = np.ones((batch, 1), "int64")
    return data


def squad_batch(config, batch=4, length=12, seed=0):
    """SQuAD features: query in segment 0 (p_mask 1), context in segment 1 (p_mask 0), CLS p_mask 0."""
    data = inputs(config, batch=batch, length=length, seed=seed)
    rng = np.random.default_rng(seed + 200)
    p_mask = 1 - data["segment_ids"].copy()
    p_mask[:, 0] = 0
    p_mask[data["input_mask"] == 0] = 1
    data["p_mask"] = p_mask.astype("int32")
    data["unique_ids"] = np.arange(1000000000, 1000000000 + batch, dtype="int64")[:, None]
    starts, ends, impossible = [], [], []
    for row in range(batch):
        context = np.flatnonzero(p_mask[row] == 0)[1:]
        if row % 3 == 2:
            starts.append(0), ends.append(0), impossible.append(1)
        else:
            s = rng.choice(context[:-1])
            starts.append(s), ends.append(rng.choice(context[context >= s])), impossible.append(0)
    data["start_positions"] = np.array(starts, "int64")[:, None]
    data["end_positions"] = np.array(ends, "int64")[:, None]
    data["is_impossible"] = np.array(impossible, "int64")[:, None]
    return data


def race_batch(config, batch=4, num_choices=4, length=10, seed=0, flat=False):
    rows = inputs(config, batch=batch * num_choices, length=length, seed=seed)
    shape = (batch, num_choices * length) if flat else (batch, num_choices, length)
    data = {key: value.reshape(shape) for key, value in rows.items()}
    data["label_ids"] = np.random.default_rng(seed + 300).integers(0, num_choices, (batch, 1)).astype("int64")
    data["is_real_example"] = np.ones((batch, 1), "int64")
    return data


def tagging_batch(config, num_labels=5, batch=4, seed=0):
    data = inputs(config, batch=batch, seed=seed)
    labels = np.random.default_rng(seed + 400).integers(0, num_labels, data["input_ids"].shape).astype("int64")
    labels[data["input_mask"] == 0] = -100
    labels[:, 0] = -100
    data["label_ids"] = labels
    return data


def perturb(model, seed=0, scale=0.2):
    """Moves every weight off its initial value so that convention differences show."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        centre = 1.0 if variable.path.endswith("gamma") else 0.0
        variable.assign((centre + rng.normal(0.0, scale, tuple(variable.shape))).astype("float32"))
