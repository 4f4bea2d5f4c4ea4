"""Generated text and hand-built SentencePiece models for the tokenizer tests.

Everything is generated here (no shared data): a training text for a ~400-piece
unigram model trained with the original recipe, a hand-built model whose pieces
and scores make golden segmentations predictable, and a test corpus of several
thousand deliberately awkward lines.
"""

import random
import unicodedata

WORDS = (
    "the of and to in a is was for on that with as by at from his her it an were are which this be "
    "or has had not but also first one their its new after who they have two been other all she when "
    "time into year years people world state city during between number numbers million about"
).split()
ACCENTED = ["Café", "naïve", "RÉSUMÉ", "Ångström", "Øresund", "Dvořák", "Łódź", "São Paulo", "Zürich",
            "façade", "jalapeño", "Ñandú", "crème brûlée", "Škoda", "İstanbul", "Ærø", "œuvre"]
CJK = ["中文字符", "日本語のテキスト", "한국어 텍스트", "漢字かな交じり", "東京", "北京大学", "ㄅㄆㄇ"]
EMOJI = ["😀", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "❤️", "🤖🚀", "☃"]
QUOTES = ["“quoted”", "‘single’", "„low“", "«guillemets»", "``tex quotes''", "'plain'", '"double"',
          "‹a›", "don’t", "it's"]
NUMBERS = ["1,000,000", "12,345,", "3,500,", "100,200,", "1990,", "0,5", "12,345.67", "٣,٤", "١٢,",
           "१२,", "²,", "①,", "１２,３４５", "7,", "2,000,000,", "00,", "1,2,3,4,", "4,3,2,1", "$1,200",
           "€3,50", "£1,000,"]
SPACES = ["\t", "  ", "\u00a0", "\u3000", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\u2028", "\u2029",
          "\u200b", "\u00ad", "\r", "\x0b", "\x0c", "\u2003", "\u202f", "\u205f", "\u1680"]
GREEK = ["ΟΔΥΣΣΕΥΣ", "Σ", "ΣΑΣ Σ.", "ἈΣ", "Σ'Σ", "aΣ\u0301", "ΑΣ\u00adΑ", "ϹΑϹ", "𝚺𝛂𝚺", "ΑΣ\u0345",
         "ʰΣ", "Σʰ", "ΣΣΣ", "a'Σ'", "Ά·Σ·", "ΣIΣ"]
CASE = ["İSTANBUL", "ıi", "STRASSE ß ẞ", "ǅemal ǈ ǋ", "ÀÉÎÕÜ", "ΆΈΉ", "ꭰꭱ ᏸ", "ᲐᲑᲒ", "ǰ", "ŉ", "K Å"]
COMPAT = ["ﬁ ﬂ ﬃ", "½ ¼ ⅞", "…", "ｆｕｌｌｗｉｄｔｈ", "Ⅻ ⅻ", "㎏ ㎞", "℡ ™", "𝐁𝐨𝐥𝐝", "ⓐⓑ", "¨ ´ ¸",
          "ｶﾀｶﾅ", "㈱", "ℌ", "µ", "ſ", "º ª"]
COMBINING = ["e\u0301", "a\u0308\u0323", "\u0301leading", "Z̤̈", "हिन्दी", "ภาษาไทย", "العربية", "مُحَمَّد",
             "שָׁלוֹם", "ກາ", "ཀྵ", "\u302e\u302f", "ᬅ᭄", "ꦲ꧀", "Ỗ", "ǖ"]
ODD = ["\x00", "\x7f", "\ufeff", "\ufffd", "\U000e0001", "\U0010fffd", "\ue000", "\u0600"]
FRAGMENTS = [ACCENTED, CJK, EMOJI, QUOTES, NUMBERS, SPACES, GREEK, CASE, COMPAT, COMBINING, ODD]


def _assigned_char(rng):
    while True:
        cp = rng.randrange(0x110000)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        if unicodedata.category(chr(cp)) != "Cn":
            return chr(cp)


def _word(rng):
    w = rng.choice(WORDS)
    roll = rng.random()
    if roll < 0.15:
        return w.capitalize()
    if roll < 0.2:
        return w.upper()
    return w


def varied_line(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.02:
        return ""
    if kind < 0.04:
        return "".join(rng.choice(SPACES + [" "]) for _ in range(rng.randint(1, 4)))
    if kind < 0.06:  # very long line
        parts = []
        for _ in range(rng.randint(300, 900)):
            parts.append(_word(rng) if rng.random() < 0.8 else rng.choice(NUMBERS))
        return " ".join(parts)
    if kind < 0.12:  # random assigned characters from all of Unicode
        return "".join(
            _assigned_char(rng) if rng.random() < 0.7 else rng.choice([" ", "a", "Σ", ","])
            for _ in range(rng.randint(1, 40))
        )
    parts = []
    for _ in range(rng.randint(1, 18)):
        roll = rng.random()
        if roll < 0.55:
            parts.append(_word(rng))
        else:
            parts.append(rng.choice(rng.choice(FRAGMENTS)))
    glue = [rng.choice([" ", " ", " ", "", "\t", ", ", "  "]) for _ in parts]
    line = "".join(p + g for p, g in zip(parts, glue))
    if rng.random() < 0.1:
        line = rng.choice(SPACES) + line + rng.choice(SPACES)
    return line


def make_corpus(n: int = 2400, seed: int = 0) -> list:
    rng = random.Random(seed)
    lines = [varied_line(rng) for _ in range(n)]
    # A few lines every corpus must contain, whatever the seed.
    lines += ["", "in 1990, the year", "numbers 100,200, 3,500,", "1,000,000 and 12,345, then",
              "\t\tTabs\tand  spaces ", "Café NAÏVE “quoted” ‘single’ résumé ﬁ ½ …", "ΟΔΥΣΣΕΥΣ ΣΑΣ",
              "x" * 5000, ("1,234, " * 400).strip()]
    return lines


def training_lines(n: int = 3000, seed: int = 1) -> list:
    """Text for the tiny model: English-like words, many comma numbers, a few non-ASCII letters."""
    rng = random.Random(seed)
    extra = ["cafe", "naive", "σας", "ας", "ς", "σ", "中文", "東京", "“quoted”", "‘single’", "…", "£5", "€3"]
    lines = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(3, 20)):
            roll = rng.random()
            if roll < 0.12:
                parts.append(f"{rng.randint(0, 10 ** rng.randint(1, 7)):,}" + rng.choice(["", ",", ",", "."]))
            elif roll < 0.17:
                parts.append(rng.choice(extra))
            elif roll < 0.2:
                parts.append(rng.choice(["(", ")", '"', "-", ".", "–", "!", "?", ";", ":", "'s"]))
            else:
                parts.append(_word(rng))
        lines.append(" ".join(parts))
    return lines


HANDMADE_PIECES = [
    # (piece, score): unigram picks the segmentation with the highest total score.
    ("▁in", -2.0), ("▁the", -2.0), ("▁year", -2.0), ("▁numbers", -2.0), ("▁", -3.0),
    ("1990,", -1.0), ("100,", -1.0), ("200,", -1.0), ("▁3,", -1.0), ("500,", -1.0),
    ("▁1", -4.0), ("99", -4.0), ("00", -4.0), ("▁20", -4.0), ("500", -2.0), ("▁3", -4.0),
    (",", -3.0), ("``", -2.0), ("''", -2.0), ("▁hi", -2.0), ("hi", -2.5),
] + [(c, -10.0) for c in "abcdefghijklmnopqrstuvwxyz0123456789`'"]


#: Extra pieces with scores that are not exactly representable, as trained scores
#: are: whether "1 11" or "11 1" wins then depends on float rounding.
ROUNDING_PIECES = [("1", -7.829107), ("11", -8.754688), ("0", -7.1234), ("00", -8.3456), ("▁1", -6.5432)]


def handmade_model_proto(drop=(), rounding=False) -> bytes:
    """A unigram model with chosen pieces and scores (identity normaliser), so the
    segmentations in the golden tests follow from the table above, not from training.
    ``rounding`` swaps in :data:`ROUNDING_PIECES` for the digit pieces."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = pb.ModelProto()
    specials = [("<pad>", pb.ModelProto.SentencePiece.CONTROL), ("<unk>", pb.ModelProto.SentencePiece.UNKNOWN),
                ("[CLS]", pb.ModelProto.SentencePiece.CONTROL), ("[SEP]", pb.ModelProto.SentencePiece.CONTROL),
                ("[MASK]", pb.ModelProto.SentencePiece.CONTROL)]
    for piece, kind in specials:
        model.pieces.add(piece=piece, score=0.0, type=kind)
    for symbol in ["(", ")", '"', "-", ".", "–", "£", "€"]:
        model.pieces.add(piece=symbol, score=0.0, type=pb.ModelProto.SentencePiece.USER_DEFINED)
    table = dict(HANDMADE_PIECES)
    if rounding:
        table.update(ROUNDING_PIECES)
    for piece, score in table.items():
        if piece in drop:
            continue
        model.pieces.add(piece=piece, score=score, type=pb.ModelProto.SentencePiece.NORMAL)
    spec = model.trainer_spec
    spec.model_type = pb.TrainerSpec.UNIGRAM
    spec.vocab_size = len(model.pieces)
    spec.pad_id, spec.unk_id, spec.bos_id, spec.eos_id = 0, 1, -1, -1
    norm = model.normalizer_spec
    norm.name = "identity"
    norm.add_dummy_prefix = True
    norm.remove_extra_whitespaces = True
    norm.escape_whitespaces = True
    return model.SerializeToString()
