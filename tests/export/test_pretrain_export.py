"""albert-pretrain ends with a SavedModel next to model.keras, serving what the saved model.keras computes."""

import numpy as np

from tests.tools.test_pretrain_cli import records, straight_pretrain  # noqa: F401  (fixtures)


def test_pretrain_writes_a_saved_model(straight_pretrain):  # noqa: F811
    import keras
    import tensorflow as tf

    import albert_tf  # noqa: F401  (registers the classes model.keras names)

    # The session's uninterrupted run, without --spm_model_file: the token signatures only (the string
    # ones are tested in test_saved_model).
    output_dir, stdout = straight_pretrain
    assert (output_dir / "saved_model" / "saved_model.pb").exists() and (output_dir / "model.keras").exists()
    assert "'saved_model'" in stdout
    served = tf.saved_model.load(str(output_dir / "saved_model")).signatures
    assert set(served) == {"serving_default", "tokens", "mlm", "sop"}
    model = keras.saving.load_model(str(output_dir / "model.keras"))
    ids = tf.constant([[2, 40, 41, 3, 50, 3], [2, 60, 3, 0, 0, 0]], tf.int32)
    features = {"input_ids": ids, "input_mask": tf.cast(ids > 0, tf.int32),
                "segment_ids": tf.constant([[0, 0, 0, 0, 1, 1], [0] * 6], tf.int32)}
    out = served["tokens"](**features)
    expected = model.backbone(features)
    np.testing.assert_allclose(out["pooled_output"].numpy(), expected["pooled_output"].numpy(), atol=1e-5)
