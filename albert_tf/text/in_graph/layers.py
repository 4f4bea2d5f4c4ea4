"""The Keras layers: raw strings to ids (:class:`AlbertInGraphTokenizer`) and to packed features
(:class:`AlbertPreprocessor`), equal to :class:`~albert_tf.text.tokenizer.AlbertTokenizer`."""

from __future__ import annotations

import base64
from typing import Optional

import keras
import tensorflow as tf

from albert_tf._compat import accept_string_inputs
from albert_tf.text.in_graph.packing import pack_segments
from albert_tf.text.in_graph.pipeline import pipeline_for
from albert_tf.text.tokenizer import AlbertTokenizer, SpecialIdsMixin, model_source


def _decode_proto(proto) -> bytes:
    if isinstance(proto, (bytes, bytearray)):
        return bytes(proto)
    if isinstance(proto, str):  # as stored by get_config
        return base64.b64decode(proto.encode("ascii"))
    raise TypeError(f"proto must be bytes or a base64 string, got {type(proto).__name__}")


def _as_batch(inputs) -> tuple:
    """1-D string tensor plus a flag saying whether the input was a scalar."""
    x = tf.convert_to_tensor(inputs, dtype=tf.string)
    if x.shape.rank == 0:
        return tf.reshape(x, [1]), True
    if x.shape.rank == 2 and x.shape[-1] == 1:
        return tf.squeeze(x, -1), False
    if x.shape.rank != 1:
        raise ValueError(f"Expected a string tensor of shape [batch] or [batch, 1], got {x.shape}")
    return x, False


@keras.saving.register_keras_serializable(package="albert_tf")
class AlbertInGraphTokenizer(SpecialIdsMixin, keras.layers.Layer):
    """Raw strings to ALBERT ids inside the graph, equal to :class:`AlbertTokenizer`.

    The SentencePiece model travels in ``get_config`` (base64), so ``.keras``
    files and SavedModels are self-contained. Output: int32 ``RaggedTensor``
    ``[batch, None]`` (a 1-D tensor for a scalar input). Works in ``tf.data``.

    Args:
        spm_model_file: path of the ``.model`` file; or pass ``proto``.
        proto: serialized model bytes (or the base64 string from a config).
        do_lower_case: as :class:`AlbertTokenizer`.
        keep_spurious_underline: reproduce the original digit-comma quirk.
        exact_segmentation: Python SentencePiece's segmentation, id for id
            (tensorflow-text's fast kernel on a rewritten model, and the
            in-graph ``UnigramSegmenter`` for the rows that kernel may get
            wrong, see ``fast_exact``); False uses the tensorflow-text op's
            search, about as fast, but it may pick another of two equally
            scored segmentations (a few lines in ten thousand of ordinary text).

    Example:

    >>> import io, sentencepiece
    >>> model = io.BytesIO()
    >>> sentencepiece.SentencePieceTrainer.train(  # the README's spm_train recipe, on toy sentences
    ...     sentence_iterator=iter([f"In {1900 + i}, the city had {i * 1234:,} people." for i in range(100)]),
    ...     model_writer=model, vocab_size=60, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
    ...     control_symbols=["[CLS]", "[SEP]", "[MASK]"],
    ...     user_defined_symbols=["(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac"], minloglevel=2)
    >>> proto = model.getvalue()
    >>> layer = AlbertInGraphTokenizer(proto=proto)  # or spm_model_file="30k-clean.model"
    >>> ids = layer(tf.constant(["In 1990, the CAFÉ!", ""]))
    >>> python = AlbertTokenizer.from_proto(proto)
    >>> ids.to_list() == [python.convert_tokens_to_ids(python.tokenize(t))
    ...                   for t in ["In 1990, the CAFÉ!", ""]]
    True
    """

    def __init__(
        self,
        spm_model_file: Optional[str] = None,
        proto=None,
        do_lower_case: bool = True,
        keep_spurious_underline: bool = True,
        exact_segmentation: bool = True,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "int32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        # A config read back from a `.keras` file carries the bytes base64-encoded.
        proto, source = model_source(spm_model_file, None if proto is None else _decode_proto(proto))
        self.proto = proto
        self.do_lower_case = bool(do_lower_case)
        self.keep_spurious_underline = bool(keep_spurious_underline)
        self.exact_segmentation = bool(exact_segmentation)
        pipeline = pipeline_for(
            proto, source, self.do_lower_case, self.keep_spurious_underline, self.exact_segmentation)
        self.special_ids = dict(pipeline.special_ids)
        self.vocabulary_size = pipeline.vocabulary_size
        # The pipeline (and its traced functions) is shared by every layer with
        # the same model and settings. It is a plain object, not a Trackable,
        # so neither Keras nor TF tracking follows it (tests/text pins that).
        self._pipeline = pipeline
        # Its SentencePiece ops hold the model as a resource: tracked here so
        # that SavedModels of this layer export it.
        self._sentencepiece = pipeline.op_strings
        self._sentencepiece_ids = pipeline.op_ids
        # Strings in, ints out: keep Keras from converting or casting inputs.
        accept_string_inputs(self)
        self.built = True

    @classmethod
    def from_tokenizer(cls, tokenizer: AlbertTokenizer, **kwargs) -> "AlbertInGraphTokenizer":
        """The in-graph twin of a Python :class:`AlbertTokenizer` (kwargs override)."""
        settings = {
            "do_lower_case": tokenizer.do_lower_case,
            "keep_spurious_underline": tokenizer.keep_spurious_underline,
        }
        settings.update(kwargs)
        return cls(proto=tokenizer.proto, **settings)


    def preprocess(self, texts) -> tf.Tensor:
        """In-graph ``preprocess_text(text, lower=do_lower_case)`` of a 1-D batch."""
        return self._pipeline.preprocess(texts)

    def encode_pieces(self, texts) -> tf.RaggedTensor:
        """In-graph ``encode_pieces`` of pre-processed 1-D strings: ragged pieces."""
        return self._pipeline.encode_pieces(texts)

    def encode_ids(self, texts) -> tf.RaggedTensor:
        """In-graph ``encode_ids`` of pre-processed 1-D strings: ragged int32 ids."""
        return self._pipeline.encode_ids(texts)

    def tokenize(self, texts) -> tf.RaggedTensor:
        """Ragged pieces (strings) of raw 1-D texts, pre-processing included."""
        texts, _ = _as_batch(texts)
        return self._pipeline.pieces_fn(texts)

    def call(self, inputs):
        texts, scalar = _as_batch(inputs)
        ids = self._pipeline.ids_fn(texts)
        return ids[0] if scalar else ids

    def compute_output_spec(self, inputs):
        shape = tuple(inputs.shape)
        if len(shape) == 2 and shape[-1] == 1:
            shape = shape[:1]
        return keras.KerasTensor(shape + (None,), dtype="int32", ragged=True)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "proto": base64.b64encode(self.proto).decode("ascii"),
                "do_lower_case": self.do_lower_case,
                "keep_spurious_underline": self.keep_spurious_underline,
                "exact_segmentation": self.exact_segmentation,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="albert_tf")
class AlbertPreprocessor(keras.layers.Layer):
    """Raw strings to the backbone's ``input_ids``/``input_mask``/``segment_ids``.

    Same ids as ``AlbertTokenizer.encode(text_a, text_b, max_seq_length=
    sequence_length)``: ``[CLS] A [SEP] (B [SEP])``, the original pair
    truncation (longer side first, ties cut B: see
    :func:`~.packing.pack_segments`), padding with the ``<pad>`` id to ``sequence_length``.

    ``exact_segmentation`` as in :class:`AlbertInGraphTokenizer`.

    Inputs: a string tensor ``[batch]`` (one segment), a tuple ``(text_a,
    text_b)``, or a dict with ``"text"`` (or ``"text_a"``) and optional
    ``"text_b"``. Outputs: dict of int32 ``[batch, sequence_length]``.

    Example:

    >>> import io, sentencepiece
    >>> model = io.BytesIO()
    >>> sentencepiece.SentencePieceTrainer.train(  # the README's spm_train recipe, on toy sentences
    ...     sentence_iterator=iter([f"In {1900 + i}, the city had {i * 1234:,} people." for i in range(100)]),
    ...     model_writer=model, vocab_size=60, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
    ...     control_symbols=["[CLS]", "[SEP]", "[MASK]"],
    ...     user_defined_symbols=["(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac"], minloglevel=2)
    >>> proto = model.getvalue()
    >>> pre = AlbertPreprocessor(proto=proto, sequence_length=10)
    >>> out = pre({"text": tf.constant(["the city"]), "text_b": tf.constant(["1,000"])})
    >>> out["segment_ids"].numpy().tolist()
    [[0, 0, 0, 0, 0, 0, 1, 1, 1, 1]]
    >>> expected = AlbertTokenizer.from_proto(proto).encode("the city", "1,000", max_seq_length=10)
    >>> {name: tensor.numpy()[0].tolist() for name, tensor in out.items()} == expected
    True
    """

    def __init__(
        self,
        spm_model_file: Optional[str] = None,
        proto=None,
        do_lower_case: bool = True,
        sequence_length: int = 512,
        keep_spurious_underline: bool = True,
        exact_segmentation: bool = True,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "int32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if int(sequence_length) < 3:
            raise ValueError(
                f"sequence_length={sequence_length} leaves no room for [CLS] A [SEP] B [SEP]; "
                "expected at least 3"
            )
        self.sequence_length = int(sequence_length)
        self.tokenizer = AlbertInGraphTokenizer(
            spm_model_file=spm_model_file,
            proto=proto,
            do_lower_case=do_lower_case,
            keep_spurious_underline=keep_spurious_underline,
            exact_segmentation=exact_segmentation,
            name="tokenizer",
        )
        accept_string_inputs(self)
        self.built = True

    @classmethod
    def from_tokenizer(cls, tokenizer: AlbertTokenizer, sequence_length: int = 512, **kwargs):
        """Packs exactly like ``tokenizer.encode(..., max_seq_length=sequence_length)``."""
        settings = {
            "do_lower_case": tokenizer.do_lower_case,
            "keep_spurious_underline": tokenizer.keep_spurious_underline,
        }
        settings.update(kwargs)
        return cls(proto=tokenizer.proto, sequence_length=sequence_length, **settings)

    @staticmethod
    def _segments(inputs) -> list:
        if isinstance(inputs, dict):
            unknown = set(inputs) - {"text", "text_a", "text_b"}
            if unknown or not ({"text", "text_a"} & set(inputs)):
                raise ValueError(
                    f"Expected a dict with 'text' (or 'text_a') and optional 'text_b', got keys "
                    f"{sorted(inputs)}"
                )
            first = inputs["text"] if "text" in inputs else inputs["text_a"]
            return [first] + ([inputs["text_b"]] if "text_b" in inputs else [])
        if isinstance(inputs, (list, tuple)):
            if not 1 <= len(inputs) <= 2:
                raise ValueError(f"Expected one or two text segments, got {len(inputs)}")
            return list(inputs)
        return [inputs]

    def call(self, inputs):
        segments = [_as_batch(x) for x in self._segments(inputs)]
        scalar = segments[0][1]
        outputs = self.pack(tuple(self.tokenizer(texts) for texts, _ in segments))
        if scalar:
            outputs = {k: v[0] for k, v in outputs.items()}
        return outputs

    def pack(self, ids) -> dict:
        """Packs one or two ragged id batches ``[batch, None]`` (from ``self.tokenizer``) as ``call`` does."""
        tokenizer = self.tokenizer
        return pack_segments(ids, self.sequence_length, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id)

    def compute_output_spec(self, inputs):
        first = self._segments(inputs)[0]
        shape = tuple(first.shape)
        if len(shape) == 2 and shape[-1] == 1:
            shape = shape[:1]
        return {
            name: keras.KerasTensor(shape + (self.sequence_length,), dtype="int32")
            for name in ("input_ids", "input_mask", "segment_ids")
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "proto": base64.b64encode(self.tokenizer.proto).decode("ascii"),
                "do_lower_case": self.tokenizer.do_lower_case,
                "sequence_length": self.sequence_length,
                "keep_spurious_underline": self.tokenizer.keep_spurious_underline,
                "exact_segmentation": self.tokenizer.exact_segmentation,
            }
        )
        return config
