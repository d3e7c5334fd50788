"""Retrieval: dense top-N from the store, re-ranked by how many of the question's terms each chunk holds.

Dense similarity alone ranks near-identical passages of similar documents (the same table in four quarterly
filings) almost equally; the question's exact terms ("June 25, 2022", a product name) tell them apart. A chunk's
terms include its file's name, which often says what its pages do not ("2022 Q3 AAPL.pdf" for "Apple's Q3 2022
report"). The final order is (1 - w) x cosine + w x term coverage, over the `candidates` best dense hits; a hit's
reported score stays its cosine similarity, which the relevance threshold is calibrated on. Words, numbers and
single CJK characters are terms; a short list of English function words is not. Not here: BM25 over the whole
collection, model-based re-ranking (none ships on PyPI here; a user-supplied cross-encoder would plug in here).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePath

from rag.types import Hit

_TERM = re.compile(r"[\u3400-\u9fff]|[a-z0-9]+(?:[.,'][a-z0-9]+)*", re.UNICODE)
_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
    }
)


def terms(text: str) -> set[str]:
    return {t.replace("'s", "") for t in _TERM.findall(text.lower()) if t not in _STOP}


def rerank(question: str, hits: Sequence[Hit], k: int, weight: float = 0.5) -> list[Hit]:
    """The k best of `hits` by (1 - weight) x cosine + weight x share of the question's terms in the chunk."""
    wanted = terms(question)
    if not wanted or weight <= 0:
        return list(hits)[:k]

    def combined(hit: Hit) -> float:
        coverage = len(wanted & (terms(hit.chunk.text) | terms(PurePath(hit.chunk.source).stem))) / len(wanted)
        return (1 - weight) * hit.score + weight * coverage

    return sorted(hits, key=combined, reverse=True)[:k]
