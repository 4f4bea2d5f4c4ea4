"""A SentencePiece model proto rebuilt from a HuggingFace ALBERT `tokenizer.json` (Unigram), so that a
HuggingFace folder without `spiece.model` still gives albert_tf's `AlbertTokenizer`.

Hand-written because neither sentencepiece nor tokenizers converts in this direction. HF's converter keeps
every piece and score, the special tokens and the SentencePiece model's precompiled normaliser, which is
all a Unigram `ModelProto` needs; its own extra normalisers (quote replacement, lowercasing, accent
stripping) are left out on purpose: `AlbertTokenizer` applies the original's preprocessing instead.
"""

from __future__ import annotations

import base64
import json

# sentencepiece ModelProto.SentencePiece.Type values.
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED = 1, 2, 3, 4


def _find(node, kind):
    """The first normaliser / pre-tokenizer of `type` `kind` inside a (possibly nested) Sequence."""
    if not isinstance(node, dict):
        return None
    if node.get("type") == kind:
        return node
    for child in node.get("normalizers", []) + node.get("pretokenizers", []):
        found = _find(child, kind)
        if found is not None:
            return found
    return None


def sentencepiece_proto_from_tokenizer_json(path) -> bytes:
    """Serialized SentencePiece `ModelProto` equivalent to the Unigram model in HF `tokenizer.json` `path`."""
    from sentencepiece import sentencepiece_model_pb2

    with open(path, encoding="utf-8") as f:
        try:
            spec = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
    model = spec.get("model") if isinstance(spec, dict) else None
    if not isinstance(model, dict) or model.get("type") != "Unigram" or not isinstance(model.get("vocab"), list):
        raise ValueError(f"{path}: expected a Unigram tokenizer.json (ALBERT's), got model type {model and model.get('type')!r}.")
    unk_id = model.get("unk_id")
    special = {token["id"] for token in spec.get("added_tokens", []) if token.get("special")}
    proto = sentencepiece_model_pb2.ModelProto()
    pad_id = -1
    for index, entry in enumerate(model["vocab"]):
        if not (isinstance(entry, list) and len(entry) == 2):
            raise ValueError(f"{path}: vocab entry {index} is {entry!r}, expected [piece, score].")
        piece, score = entry
        item = proto.pieces.add()
        item.piece, item.score = piece, float(score)
        if index == unk_id:
            item.type = _UNKNOWN
        elif index in special:
            item.type = _CONTROL
            pad_id = index if piece == "<pad>" else pad_id
        elif float(score) == 0.0:
            # SentencePiece gives user-defined symbols score 0; every learned Unigram piece scores below 0.
            item.type = _USER_DEFINED
        else:
            item.type = _NORMAL
    trainer = proto.trainer_spec
    trainer.model_type = sentencepiece_model_pb2.TrainerSpec.UNIGRAM
    trainer.vocab_size = len(model["vocab"])
    trainer.unk_id = unk_id if unk_id is not None else 0
    trainer.pad_id, trainer.bos_id, trainer.eos_id = pad_id, -1, -1
    trainer.byte_fallback = bool(model.get("byte_fallback", False))
    normalizer = proto.normalizer_spec
    precompiled = _find(spec.get("normalizer"), "Precompiled")
    charsmap = precompiled.get("precompiled_charsmap") if precompiled else None
    normalizer.name = "nmt_nfkc" if charsmap else "identity"
    if charsmap:
        normalizer.precompiled_charsmap = base64.b64decode(charsmap)
    metaspace = _find(spec.get("pre_tokenizer"), "Metaspace")
    normalizer.add_dummy_prefix = metaspace is None or metaspace.get("prepend_scheme", "always") != "never"
    normalizer.remove_extra_whitespaces = True
    normalizer.escape_whitespaces = True
    return proto.SerializeToString()
