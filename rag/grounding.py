"""Checking citations after generation: each answer sentence that cites [n] is compared with the chunk(s) it
cites. A sentence is unsupported when it cites a source that does not exist, states a number the cited text
does not contain, or shares too little with the cited text (word overlap, then embedding similarity). Numbers
the question itself states count as given: a follow-up's standalone question carries figures from earlier,
checked answers, and the engine's own comparison line (rag.amounts) computes differences.
Not here: judging sentences without citations, or entailment with a model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from rag.embedder import Embedder
from rag.types import Source

_SENTENCE = re.compile(r"[^.!?。！？\n]+(?:[.!?。！？]+(?:\s*\[\d+\])*|$)")
_CITE = re.compile(r"\[(\d+)\]")
_NUMBER = re.compile(r"(?<![A-Za-z])\d[\d,]*(?:\.\d+)?")  # "Q1" or "MP3" name things, they are not amounts
_WORD = re.compile(r"[\u3400-\u9fff]|[^\W\d_]{4,}", re.UNICODE)


# A point with a letter or digit right after it ends no sentence: "$82.9 billion", "2022 Q3 AAPL.pdf", "e.g."
_INNER_POINT = re.compile(r"\.(?=\w)")


def sentences(text: str) -> list[str]:
    masked = _INNER_POINT.sub("\x00", text)
    return [s.strip().replace("\x00", ".") for s in _SENTENCE.findall(masked) if s.strip()]


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def check_citations(
    answer: str,
    sources: Sequence[Source],
    embedder: Embedder | None = None,
    min_overlap: float = 0.5,
    min_similarity: float = 0.5,
    given: str = "",
) -> list[dict[str, object]]:
    """The cited sentences of `answer` that the cited sources do not support, each with a reason. Numbers in
    `given` (the question as asked) need no source."""
    unsupported: list[dict[str, object]] = []
    known = _numbers(given)
    for sentence in sentences(answer):
        cites = [int(n) for n in _CITE.findall(sentence)]
        if not cites:
            continue
        claim = re.sub(r"\s+([.!?。！？])", r"\1", _CITE.sub("", sentence)).strip()
        by_number = {s.n: s for s in sources}
        cited = [by_number[n] for n in cites if n in by_number]
        reason = ""
        if len(cited) < len(cites):
            reason = "cites a source that does not exist"
        else:
            text = "\n".join(f"{s.context}\n{s.text}" for s in cited)  # the card line was shown too
            missing = sorted(_numbers(claim) - _numbers(text) - known)
            words = {w.lower() for w in _WORD.findall(claim)}
            overlap = len(words & {w.lower() for w in _WORD.findall(text)}) / len(words) if words else 1.0
            if missing:
                reason = f"numbers not in the cited source: {', '.join(missing)}"
            elif overlap < min_overlap:
                similar = False
                if embedder is not None:
                    vectors = embedder.embed([claim, *(s.text for s in cited)])
                    similar = max(_cosine(vectors[0], v) for v in vectors[1:]) >= min_similarity
                if not similar:
                    reason = "not supported by the cited source"
        if reason:
            unsupported.append({"sentence": claim, "cites": cites, "reason": reason})
    return unsupported
