"""The original ALBERT tokenization as TensorFlow ops, id-for-id equal to Python.

Serving raw strings needs the tokenizer inside the graph, and a model only
behaves as trained if the ids are *exactly* those of the Python pipeline in
:mod:`albert_tf.text.tokenizer`. Close is not enough, so each Python step gets
a formulation that is exact by construction, one job per module:

* :mod:`.tables`: Unicode tables probed from Python itself (whitespace, NFKD
  without combining marks, ``str.lower`` and its final-sigma classes);
* :mod:`.preprocess`: ``preprocess_text`` in the graph, through those tables;
* :mod:`.unigram`: SentencePiece's unigram search with Python's float32
  arithmetic, because tensorflow-text's op breaks ties differently;
* :mod:`.fast_exact`: the same ids from tensorflow-text's fast kernel on a
  rewritten model, with the rows where that kernel can differ (proved from its
  source) routed to :mod:`.unigram`; the default, about 10x faster;
* :mod:`.gated`: ragged work run only when needed, in a TF1-session-safe form;
* :mod:`.digits`: the digit-comma rule, re-encoded and spliced back;
* :mod:`.pipeline`: the chain of the three for one model and setting, and the
  process-wide caches that let layers share traced functions;
* :mod:`.layers`: the Keras layers :class:`AlbertInGraphTokenizer` and
  :class:`AlbertPreprocessor`.
"""

from albert_tf.text.in_graph.layers import AlbertInGraphTokenizer, AlbertPreprocessor
from albert_tf.text.in_graph.preprocess import preprocess_text_graph

__all__ = ["AlbertInGraphTokenizer", "AlbertPreprocessor", "preprocess_text_graph"]
