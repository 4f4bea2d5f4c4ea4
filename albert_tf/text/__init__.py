"""Text: the original ALBERT SentencePiece pipeline, in Python and in the graph."""

from albert_tf.text.in_graph import (
    AlbertInGraphTokenizer,
    AlbertPreprocessor,
    preprocess_text_graph,
)
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

__all__ = [
    "AlbertInGraphTokenizer",
    "AlbertPreprocessor",
    "AlbertTokenizer",
    "InvalidUtf8Warning",
    "SPECIAL_PIECES",
    "SPIECE_UNDERLINE",
    "Utf8DecodeCounter",
    "encode_ids",
    "encode_pieces",
    "iter_text_lines",
    "preprocess_text",
    "preprocess_text_graph",
    "truncate_seq_pair",
]
