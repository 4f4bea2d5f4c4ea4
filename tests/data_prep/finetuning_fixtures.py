"""Small hand-written fine-tuning inputs (GLUE TSVs, SQuAD JSON, RACE articles) and a tiny vocabulary."""

from __future__ import annotations

import json
import os
import random

WORDS = (
    "the cat sat on a mat and dog ran to park with big red ball it is not good film movie story "
    "very fun bad actor plot city river old new man woman child house car road tree sun rain day "
    "night who what where when which how many year people first last team won game played"
).split()

ACCENTED = ["café", "naïve", "résumé", "über", "señor", "Zürich", "crème", "brûlée"]


def training_sentences(seed: int = 3, count: int = 600):
    rng = random.Random(seed)
    sentences = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 14))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), rng.choice(ACCENTED))
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words)), f"{rng.randint(1, 99)},{rng.randint(100, 999)},")
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words)), '"' + rng.choice(WORDS) + '"')
        sentences.append(" ".join(words) + rng.choice([".", "?", "!", ","]))
    return sentences


def train_model(directory: str, vocab_size: int = 260) -> str:
    """A unigram model with the original recipe (pad 0, unk 1, [CLS] [SEP] [MASK], user symbols)."""
    from albert_tf.text.tokenizer import preprocess_text
    from data_prep.vocab import train_sentencepiece

    lines = [preprocess_text(s, lower=True) for s in training_sentences()]
    proto = train_sentencepiece(lines, vocab_size=vocab_size, num_threads=1, random_seed=7)
    path = os.path.join(directory, "ft.model")
    with open(path, "wb") as f:
        f.write(proto)
    return path


def write(path: str, text: str, bom: bool = False) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        f.write(text)
    return path


def tsv(rows) -> str:
    return "".join("\t".join(str(c) for c in row) + "\n" for row in rows)


# One small file per task and split, in the official GLUE column layouts.
def write_glue(root: str) -> str:
    pairs = [
        ("The cat sat on the mat.", "A cat is sitting."),
        ('He said "no"  to   the plan.', "The   plan was rejected."),
        ("Café owners in Zürich won.", ""),
        ("A very long sentence " + "with many words " * 20, "short one"),
    ]
    mnli_header = ["index", "promptID", "pairID", "genre", "s1bp", "s2bp", "s1p", "s2p", "sentence1", "sentence2",
                   "label1", "gold_label"]
    mnli = [mnli_header] + [[i, 0, 0, "g", "", "", "", "", a, b, "x", lab]
                            for i, ((a, b), lab) in enumerate(zip(pairs, ["entailment", "neutral", "contradiction",
                                                                           "entailment"]))]
    write(f"{root}/MNLI/train.tsv", tsv(mnli))
    write(f"{root}/MNLI/dev_matched.tsv", tsv(mnli))
    write(f"{root}/MNLI/dev_mismatched.tsv", tsv(mnli[:3]))
    write(f"{root}/MNLI/test_matched.tsv", tsv([r[:10] for r in mnli]))
    write(f"{root}/MNLI/test_mismatched.tsv", tsv([r[:10] for r in mnli]))
    mrpc = [["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]] + [
        [lab, 1, 2, a, b] for (a, b), lab in zip(pairs, "1010")]
    write(f"{root}/MRPC/train.tsv", tsv(mrpc), bom=True)
    write(f"{root}/MRPC/dev.tsv", tsv(mrpc), bom=True)
    write(f"{root}/MRPC/test.tsv", tsv([["index"] + mrpc[0][1:]] + [[i, 1, 2, a, b] for i, (a, b) in enumerate(pairs)]))
    cola = [["gj04", lab, "*" if lab == "0" else "", a] for (a, _), lab in zip(pairs, "1001")]
    write(f"{root}/CoLA/train.tsv", tsv(cola))
    write(f"{root}/CoLA/dev.tsv", tsv(cola))
    write(f"{root}/CoLA/test.tsv", tsv([["index", "sentence"]] + [[i, a] for i, (a, _) in enumerate(pairs)]))
    sst = [["sentence", "label"]] + [[a, lab] for (a, _), lab in zip(pairs, "1100")]
    write(f"{root}/SST-2/train.tsv", tsv(sst))
    write(f"{root}/SST-2/dev.tsv", tsv(sst))
    write(f"{root}/SST-2/test.tsv", tsv([["index", "sentence"]] + [[i, a] for i, (a, _) in enumerate(pairs)]))
    sts_header = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2",
                  "score"]
    sts = [sts_header] + [[i, "g", "f", "2012", i, "s", "s", a, b, score]
                          for i, ((a, b), score) in enumerate(zip(pairs, ["5.000", "3.2", "0.5", "1"]))]
    write(f"{root}/STS-B/train.tsv", tsv(sts))
    write(f"{root}/STS-B/dev.tsv", tsv(sts))
    write(f"{root}/STS-B/test.tsv", tsv([r[:9] for r in sts]))
    qqp = [["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]] + [
        [i, 1, 2, a, b, lab] for i, ((a, b), lab) in enumerate(zip(pairs, "0110"))]
    qqp.insert(3, [99, 1, 2, "a short row"])  # skipped by the original
    write(f"{root}/QQP/train.tsv", tsv(qqp))
    write(f"{root}/QQP/dev.tsv", tsv(qqp))
    write(f"{root}/QQP/test.tsv", tsv([["id", "question1", "question2"]] + [[i, a, b] for i, (a, b) in enumerate(pairs)]))
    for task, labels in (("QNLI", ["entailment", "not_entailment"]), ("RTE", ["entailment", "not_entailment"]),
                         ("WNLI", ["0", "1"])):
        rows = [["index", "sentence1", "sentence2", "label"]] + [
            [i, a, b, labels[i % 2]] for i, (a, b) in enumerate(pairs)]
        write(f"{root}/{task}/train.tsv", tsv(rows))
        write(f"{root}/{task}/dev.tsv", tsv(rows))
        write(f"{root}/{task}/test.tsv", tsv([r[:3] for r in rows]))
    write(f"{root}/diagnostic/diagnostic.tsv",
          tsv([["index", "sentence1", "sentence2"]] + [[i, a, b] for i, (a, b) in enumerate(pairs)]))
    return root


SQUAD_PARAGRAPHS = [
    # accents, punctuation, extra spaces
    ("The  Café   «Zürich» (founded 1901, in Bern) serves crème brûlée;  naïve visitors love it!",
     [("Where is the café?", "Bern", None), ("What does it serve?", "crème brûlée", None),
      ("When was it founded?", "1901", None)]),
    # CJK without spaces, mixed with Latin
    ("東京は日本の首都です。 The city of 東京 has many people, and a tower.",
     # The first "東京" is inside one piece with its sentence; the answer is the second one.
     [("What is the capital?", "東京", "last"), ("What does the city have?", "a tower", None)]),
    # a long paragraph: several windows at max_seq_length 64
    (" ".join(["The team played the game in the old city and won the first year."] * 6
              + ["The red ball was found near the river by a child."]
              + ["Many people ran to the park with the dog every day."] * 4),
     [("Where was the ball found?", "near the river", None), ("Who found it?", "a child", None)]),
]


def squad_json(path: str, version_2: bool = False, impossible: bool = False) -> str:
    paragraphs = []
    qid = 0
    for context, questions in SQUAD_PARAGRAPHS:
        qas = []
        for question, answer, occurrence in questions:
            start = context.rindex(answer) if occurrence == "last" else context.index(answer)
            qas.append({"id": f"q{qid}", "question": question, "answers": [{"text": answer, "answer_start": start}]})
            qid += 1
        if impossible:
            qas.append({"id": f"q{qid}", "question": "Who is the king of the mat?", "answers": [],
                        "is_impossible": True})
            qid += 1
        paragraphs.append({"context": context, "qas": qas})
    data = {"version": "v2.0" if version_2 else "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}
    return write(path, json.dumps(data, ensure_ascii=False))


RACE_ARTICLES = {
    ("dev", "middle", "2.txt"): {
        "id": "middle2.txt", "article": "Tom has a red ball. He plays with   the dog in the park every day.",
        "questions": ["Tom plays with _ in the park.", "What colour is the ball?"],
        "options": [["the cat", "the dog", "a child", "a man"], ["red", "blue", "green", "black"]],
        "answers": ["B", "A"]},
    ("dev", "middle", "10.txt"): {
        "id": "middle10.txt", "article": "The café is in Zürich. " * 30,
        "questions": ["Where is the café?"], "options": [["Bern", "Zürich", "Paris", "Rome"]], "answers": ["B"]},
    ("dev", "high", "1.txt"): {
        "id": "high1.txt", "article": "The river runs by the old city, and the  people love it.",
        "questions": ["The people _ the river _ ."], "options": [["love", "hate", "fear", "see"]],
        "answers": ["A"]},
}


def write_race(root: str, concatenated: bool = False) -> str:
    if concatenated:
        by_level = {}
        for (split, level, name), article in sorted(RACE_ARTICLES.items(), key=lambda kv: kv[0][2]):
            by_level.setdefault((split, level), []).append(json.dumps(article, ensure_ascii=False))
        for (split, level), lines in by_level.items():
            write(f"{root}/RACE/{split}/{level}/all.txt", "\n".join(lines) + "\n")
    else:
        for (split, level, name), article in RACE_ARTICLES.items():
            write(f"{root}/RACE/{split}/{level}/{name}", json.dumps(article, ensure_ascii=False))
    return root


def parse_records(path: str):
    """Every record of a TFRecord file as ``{feature name: list of values}``, in written order,
    decoded by TensorFlow's own protobuf classes (and ``tf.data``'s reader, which checks the CRCs)."""
    import tensorflow as tf

    out = []
    for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
        example = tf.train.Example.FromString(raw)
        row = {}
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            row[name] = list(getattr(feature, kind).value)
        out.append(row)
    return out

