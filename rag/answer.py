"""Answering one question: retrieve the top-k chunks, prompt the LLM with them, stream the answer.

When nothing retrieved reaches the relevance threshold the LLM is not asked at all: the answer says the
documents do not hold it. Not here: chat history, question rewriting, citation checking.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from rag.embedder import Embedder
from rag.llm import Generator
from rag.prompt import NOT_FOUND, build_messages
from rag.store import Store
from rag.types import AnswerResult, Hit, Source, Timings


class AnswerStream:
    """Iterate to receive the answer piece by piece; `sources` is known before the first piece and
    `result` is complete once iteration ends."""

    def __init__(self, hits: list[Hit], pieces: Iterator[str] | None, started: float, retrieve_s: float):
        self.sources = [
            Source(n=i, source=h.chunk.source, page=h.chunk.page, score=round(h.score, 4), text=h.chunk.text)
            for i, h in enumerate(hits, start=1)
        ]
        self._pieces = pieces
        self._started = started
        self.result = AnswerResult(
            answer="" if pieces is not None else NOT_FOUND,
            sources=self.sources,
            timings=Timings(retrieve_s=retrieve_s, total_s=time.perf_counter() - started),
            found=pieces is not None,
        )

    def __iter__(self) -> Iterator[str]:
        if self._pieces is None:
            yield self.result.answer
            return
        parts: list[str] = []
        for piece in self._pieces:
            if self.result.timings.first_token_s is None:
                self.result.timings.first_token_s = time.perf_counter() - self._started
            parts.append(piece)
            yield piece
        self.result.answer = "".join(parts).strip()
        self.result.timings.total_s = time.perf_counter() - self._started

    def consume(self) -> AnswerResult:
        for _ in self:
            pass
        return self.result


class Answerer:
    def __init__(
        self, embedder: Embedder, store: Store, generator: Generator, k: int = 4, min_score: float = 0.2
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.generator = generator
        self.k = k
        self.min_score = min_score

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        [vector] = self.embedder.embed([question])
        return self.store.search(vector, k or self.k)

    def ask(self, question: str, k: int | None = None) -> AnswerStream:
        if not question.strip():
            raise ValueError("the question is empty")
        started = time.perf_counter()
        hits = self.retrieve(question, k)
        retrieve_s = time.perf_counter() - started
        relevant = [h for h in hits if h.score >= self.min_score]
        if not relevant:
            return AnswerStream(hits, None, started, retrieve_s)
        messages = build_messages(question, relevant)
        while len(relevant) > 1 and self.generator.count_tokens(messages) > self.generator.prompt_budget:
            relevant = relevant[:-1]  # the lowest-ranked chunk goes first; none is cut mid-text
            messages = build_messages(question, relevant)
        pieces = self.generator.stream(messages)
        return AnswerStream(relevant, pieces, started, retrieve_s)
