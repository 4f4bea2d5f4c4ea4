"""Everything between raw strings and ids for one model and setting, and the process-wide caches.

A :class:`Pipeline` chains :mod:`.preprocess`, the segmentation (exact: the
fast kernel of :mod:`.fast_exact` with :class:`~.unigram.UnigramSegmenter` for the
rows it routes, or the segmenter alone with ``fast_exact=False``; else
tensorflow-text's op) and the digit-comma rule of :mod:`.digits`. Building one
traces and optimises large graphs, so eagerly built pipelines and segmenters are cached per process and shared by
every layer with the same model and settings.
"""

from __future__ import annotations

import warnings

import tensorflow as tf
import tensorflow_text as tf_text

from albert_tf.text.in_graph.digits import VocabTables, split_digit_comma_ids, split_digit_comma_pieces
from albert_tf.text.in_graph.fast_exact import FastExactSegmenter, search_model
from albert_tf.text.in_graph.preprocess import preprocess_text_graph
from albert_tf.text.in_graph.unigram import UnigramSegmenter, installed_sentencepiece_is_emulated
from albert_tf.text.tokenizer import load_sentencepiece, special_ids


_SEGMENTERS: dict = {}


def _segmenter_for(proto: bytes) -> UnigramSegmenter:
    """One segmenter (and one traced search) per model and process, when built eagerly."""
    if not tf.executing_eagerly():
        return UnigramSegmenter(
            proto, tf_text.SentencepieceTokenizer(model=proto, out_type=tf.string))
    segmenter = _SEGMENTERS.get(proto)
    if segmenter is not None and not _usable(lambda: segmenter.segment(tf.constant(["a"]))):
        segmenter = None  # the runtime dropped its SentencePiece resource: build it again
    if segmenter is None:
        if len(_SEGMENTERS) >= 8:
            _SEGMENTERS.pop(next(iter(_SEGMENTERS)))
        segmenter = UnigramSegmenter(
            proto, tf_text.SentencepieceTokenizer(model=proto, out_type=tf.string))
        _SEGMENTERS[proto] = segmenter
    return segmenter


def _usable(probe) -> bool:
    """Whether `probe()` still finds its resources: a cached object whose SentencePiece resource the
    runtime has dropped (its handle was destroyed, or the eager context reset) must be rebuilt."""
    try:
        probe()
    except (tf.errors.NotFoundError, tf.errors.FailedPreconditionError):
        return False
    return True


class Pipeline:
    """Everything between raw strings and ids, for one model and one setting.

    Shared by the layers with the same model and settings (see
    :func:`pipeline_for`): its functions are traced and optimised once per
    process instead of once per layer. With ``exact_segmentation``,
    ``fast_exact`` (the default) segments through :mod:`.fast_exact`; False
    keeps the whole search in the graph (benchmarks compare the two).
    """

    def __init__(self, proto: bytes, source: str, do_lower_case: bool,
                 keep_spurious_underline: bool, exact_segmentation: bool, fast_exact: bool = True):
        sp = load_sentencepiece(proto, source)  # validates before TF sees the bytes
        self.special_ids = special_ids(sp, source)
        self.vocabulary_size = sp.GetPieceSize()
        self.do_lower_case = do_lower_case
        self.keep_spurious_underline = keep_spurious_underline
        self._vocab_tables = VocabTables.build(sp)
        self._segmenter = None
        if exact_segmentation and not UnigramSegmenter.applies_to(proto):
            warnings.warn(
                f"{source} is not a unigram model without byte fallback; the in-graph "
                "tokenizer uses the tensorflow-text op's own search, whose ties may "
                "differ from Python SentencePiece",
                stacklevel=4,
            )
        elif exact_segmentation:
            if not installed_sentencepiece_is_emulated():
                import sentencepiece

                warnings.warn(
                    f"sentencepiece {sentencepiece.__version__} is installed; the in-graph "
                    "search reproduces 0.2.2/0.2.3, so tied segmentations may differ from "
                    "this Python path (install sentencepiece>=0.2.2,<0.3)",
                    stacklevel=4,
                )
            self._segmenter = _segmenter_for(proto)
        if self._segmenter is not None:
            self.op_strings = self._segmenter.op
        else:
            self.op_strings = tf_text.SentencepieceTokenizer(model=proto, out_type=tf.string)
        self.op_ids = tf_text.SentencepieceTokenizer(model=proto, out_type=tf.int32)
        # The exact ids at the fast kernel's speed (see fast_exact); `fast_exact=False` keeps
        # the whole search in the graph, for benchmarks and tests that compare the two.
        self._fast = None
        if self._segmenter is not None and fast_exact and search_model(proto) is not None:
            self._fast = FastExactSegmenter(
                proto, self.op_strings, lambda texts: self._segmenter.segment(texts)[0],
                self._exact_pieces)
        # Eagerly run, the search loops would crawl op by op: always go through these.
        spec = [tf.TensorSpec([None], tf.string)]
        self.ids_fn = tf.function(
            lambda texts: self.encode_ids(self.preprocess(texts)),
            input_signature=spec, autograph=False, reduce_retracing=True)
        self.pieces_fn = tf.function(
            lambda texts: self.encode_pieces(self.preprocess(texts)),
            input_signature=spec, autograph=False, reduce_retracing=True)

    def preprocess(self, texts) -> tf.Tensor:
        """In-graph ``preprocess_text(text, lower=do_lower_case)`` of a 1-D batch."""
        return preprocess_text_graph(texts, self.do_lower_case)

    def _raw_pieces(self, texts) -> tf.RaggedTensor:
        """SentencePiece ``EncodeAsPieces`` of 1-D strings (no digit-comma rule)."""
        if self._segmenter is None:
            return self.op_strings.tokenize(texts)
        if self._fast is not None:
            return self._fast.pieces(texts)
        return self._exact_pieces(texts)

    def _exact_pieces(self, texts) -> tf.RaggedTensor:
        _, starts, ends, cps = self._segmenter.segment(texts)
        normalized = tf.strings.unicode_encode(cps, "UTF-8")
        rows = starts.value_rowids()
        pieces = tf.strings.substr(
            tf.gather(normalized, rows), starts.flat_values, ends.flat_values - starts.flat_values,
            unit="UTF8_CHAR")
        return starts.with_flat_values(pieces)

    def _raw_ids(self, texts) -> tf.RaggedTensor:
        """SentencePiece ``EncodeAsIds`` of 1-D strings (no digit-comma rule)."""
        if self._segmenter is None:
            return self.op_ids.tokenize(texts)
        if self._fast is not None:
            return self._fast.ids(texts)
        return self._segmenter.segment(texts)[0]

    def alive(self) -> bool:
        """Whether the runtime still holds this pipeline's resources (see `_usable`)."""
        return _usable(lambda: (self.encode_ids(tf.constant(["a"])), self.encode_pieces(tf.constant(["a"]))))

    def encode_pieces(self, texts) -> tf.RaggedTensor:
        """In-graph ``encode_pieces`` of pre-processed 1-D strings: ragged pieces."""
        return split_digit_comma_pieces(self._raw_pieces(texts), self._raw_pieces, self.keep_spurious_underline)

    def encode_ids(self, texts) -> tf.RaggedTensor:
        """In-graph ``encode_ids`` of pre-processed 1-D strings: ragged int32 ids."""
        tables = self._vocab_tables
        if tables is None:  # see VocabTables.build: only exact on piece strings
            pieces = self.encode_pieces(texts)
            return pieces.with_flat_values(
                tf.cast(self.op_strings.string_to_id(pieces.flat_values), tf.int32)
            )
        return split_digit_comma_ids(self._raw_ids(texts), self._raw_ids, self.keep_spurious_underline, tables)


_PIPELINES: dict = {}


def pipeline_for(proto: bytes, source: str, do_lower_case: bool,
                 keep_spurious_underline: bool, exact_segmentation: bool,
                 fast_exact: bool = True) -> Pipeline:
    """The process-wide pipeline for these settings when built eagerly, else a fresh one
    (``fast_exact`` as in :class:`Pipeline`)."""
    key = (proto, do_lower_case, keep_spurious_underline, exact_segmentation, fast_exact)
    if not tf.executing_eagerly():  # graph-bound resources must not outlive their graph
        return Pipeline(proto, source, *key[1:])
    if key in _PIPELINES and not _PIPELINES[key].alive():
        del _PIPELINES[key]
    if key not in _PIPELINES:
        if len(_PIPELINES) >= 16:
            _PIPELINES.pop(next(iter(_PIPELINES)))
        _PIPELINES[key] = Pipeline(proto, source, *key[1:])
    return _PIPELINES[key]
