"""Text: the original ALBERT SentencePiece pipeline, in Python and in the graph.

:mod:`albert_tf.text.tokenizer` needs only SentencePiece (the data-preparation jobs use it);
the in-graph twin (:mod:`albert_tf.text.in_graph`) imports TensorFlow on first use of a name.
"""

from albert_tf import _lazy
from albert_tf.text.tokenizer import (
    SPECIAL_PIECES,
    SPIECE_UNDERLINE,
    AlbertTokenizer,
    InvalidUtf8Warning,
    Utf8DecodeCounter,
    encode_ids,
    encode_pieces,
    iter_text_lines,
    preprocess_text,
    truncate_seq_pair,
)

_EXPORTS = {
    name: "albert_tf.text.in_graph"
    for name in ("AlbertInGraphTokenizer", "AlbertPreprocessor", "preprocess_text_graph")
}

__all__ = sorted(
    set(_EXPORTS)
    | {
        "AlbertTokenizer",
        "InvalidUtf8Warning",
        "SPECIAL_PIECES",
        "SPIECE_UNDERLINE",
        "Utf8DecodeCounter",
        "encode_ids",
        "encode_pieces",
        "iter_text_lines",
        "preprocess_text",
        "truncate_seq_pair",
    }
)
__getattr__, __dir__ = _lazy.attach(__name__, _EXPORTS, ("in_graph", "tokenizer"))
