"""What a pretraining-data job tells its user about the corpus and the output: warnings and rates.

Both runners log these messages and keep them, with the rates, in the JSON summary, so a corpus in
the wrong format (one paragraph per line, say) is caught from the summary of either.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from data_prep import token_store
from data_prep.masking import MaskingConfig, ngram_probabilities
from data_prep.pretraining.specs import PretrainingDataConfig, PretrainingDataError


def corpus_report(store: token_store.TokenStore) -> dict:
    """The ``corpus`` entry of the summary: what pass one found."""
    return {
        "documents": store.num_documents,
        "sentences": store.num_sentences,
        "tokens": store.report.tokens,
        "lines": store.report.lines,
        "single_sentence_documents": int((store.sentences_per_document() == 1).sum()),
        "invalid_utf8_lines": store.report.invalid_utf8_lines,
    }


def corpus_warnings(store: token_store.TokenStore, config: PretrainingDataConfig) -> List[str]:
    """Human-readable warnings about the corpus (also logged and kept in the summary)."""
    report = store.report
    messages = []
    if report.invalid_utf8_lines:
        messages.append(
            f"{report.invalid_utf8_lines} input lines were not valid UTF-8 (first at "
            f"{report.first_invalid_utf8}); the invalid bytes were replaced by U+FFFD"
        )
    sentences = store.sentences_per_document()
    single = int((sentences == 1).sum())
    if single:
        share = single / len(sentences)
        message = (
            f"{single} of {len(sentences)} documents ({share:.0%}) have a single sentence; as in the "
            "original, their instances take segment B from a random other document (label 1)"
        )
        if share > 0.5:
            message += (
                ". That many suggests the input is not one sentence per line with blank lines only "
                "between documents; albert-prepare-corpus converts raw text into that format"
            )
        messages.append(message)
    lengths = store.sentence_lengths()
    too_long = int((lengths > config.max_seq_length - 3).sum())
    if too_long:
        longest = report.longest_sentence
        messages.append(
            f"{too_long} sentences have more than --max_seq_length - 3 = {config.max_seq_length - 3} "
            f"tokens (longest: {longest[0]} tokens at {longest[1]}); they are truncated as in the "
            "original. Is the input one sentence per line?"
        )
    if store.num_documents == 1:
        messages.append(
            "the corpus has a single document: random-document B segments come from that same "
            "document (the original does the same after 10 tries)"
        )
    if report.lines_without_tokens:
        messages.append(f"{report.lines_without_tokens} non-blank lines tokenized to nothing and were dropped")
    return messages


def empty_corpus_error(files: Sequence[str], store: Optional[token_store.TokenStore]) -> PretrainingDataError:
    lines = store.report.lines if store is not None else 0
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return PretrainingDataError(
        f"--input_file has no text: {len(files)} file(s) ({shown}) with {lines} lines, none of which "
        "holds a token. Expected one sentence per line with a blank line between documents; no "
        "output was written"
    )


def summarize(stats: dict, masking: MaskingConfig) -> dict:
    """Derived rates from merged block counters (what the statistics tests and users look at)."""
    instances = max(int(stats.get("instances", 0)), 1)
    predictions = max(int(stats.get("predictions", 0)), 1)
    spans = stats.get("span_units", [])
    span_total = max(sum(spans), 1)
    return {
        "instances": int(stats.get("instances", 0)),
        "documents_processed": int(stats.get("documents", 0)),
        "tokens": int(stats.get("tokens", 0)),
        "masked_lm_predictions": int(stats.get("predictions", 0)),
        "mask_rate": stats.get("predictions", 0) / max(int(stats.get("tokens", 0)), 1),
        "replaced_by_mask_share": stats.get("replaced_by_mask", 0) / predictions,
        "kept_share": stats.get("kept", 0) / predictions,
        "replaced_by_random_share": stats.get("replaced_by_random", 0) / predictions,
        "span_units_share": {str(n + 1): c / span_total for n, c in enumerate(spans)},
        "ngram_spec_share": {
            str(n + 1): float(p)
            for n, p in enumerate(ngram_probabilities(masking.ngram, masking.favor_shorter_ngram))
        },
        "label_1_share": stats.get("label_1", 0) / instances,
        "swapped_share": stats.get("swapped", 0) / instances,
        "random_document_share": stats.get("random_document", 0) / instances,
        "short_target_share": stats.get("short_target", 0) / instances,
        "short_target_document_share": stats.get("short_target_documents", 0) / max(int(stats.get("documents", 0)), 1),
        "truncated_share": stats.get("truncated", 0) / instances,
        "mean_tokens_a": stats.get("tokens_a", 0) / instances,
        "mean_tokens_b": stats.get("tokens_b", 0) / instances,
    }
