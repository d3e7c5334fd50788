"""Answering a question, alone or as a turn of a conversation.

1. With a chat history, the question is first rewritten into a standalone question (a short LLM call), so a
   follow-up such as "and the quarter after?" keeps its subject; retrieval uses the standalone question.
2. The top-k chunks are retrieved; when none reaches the relevance threshold the LLM is not asked at all.
   When the question names two or more amounts of one kind, a line after it orders them (rag.amounts).
3. The prompt is ordered for llama.cpp's prefix cache: system prompt, then earlier turns exactly as they were
   sent (their context blocks and question, then the answer), then only the blocks not shown before (numbered
   on, so [n] means the same block all conversation long) and the question. When that does not fit the prompt
   budget, earlier turns keep only their question and answer and the blocks are numbered afresh; then the
   oldest turns go, then the lowest-ranked chunks (none is cut mid-text).
4. The answer streams through the answer check (rag.guard.AnswerCheck): a word is shown once the check has
   seen it, and an answer that repeats what a planted sentence asks for, or recites the instructions, is
   stopped and withheld. Afterwards each cited sentence is checked against what it cites (rag.grounding).
Not here: keeping the history (callers pass it in), queueing (rag.queue).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import PurePath

from rag.amounts import find_amounts, order_note
from rag.compress import compress
from rag.embedder import Embedder
from rag.errors import InputError
from rag.grounding import check_citations
from rag.guard import AnswerCheck, Block, releasable
from rag.llm import Generator, Message, Pieces
from rag.lookup import lookup_note
from rag.prompt import (
    NOT_FOUND,
    REWRITE_PROMPT,
    RULES,
    SYSTEM_PROMPT,
    SYSTEM_PROMPT_LOOKED_UP,
    TABLE_EXAMPLE,
    TRANSLATE_PROMPT,
    follow_up_message,
    merge_neighbours,
    user_message,
)
from rag.queue import QueuedGenerator
from rag.retrieve import Filters, Retrieval, Retriever
from rag.settings import RetrieveSettings
from rag.store import Store
from rag.types import AnswerResult, Hit, Source, Timings

_CITATION = re.compile(r"\s*\[\d+\]")
# What the model is told, which an answer must not recite (the refusal it is told to give is its to give).
INSTRUCTIONS = (RULES.replace(NOT_FOUND, ""), REWRITE_PROMPT)  # the table example is no secret to recite


def translate_question(generator: Generator, question: str) -> str:
    """`question` in English, by the LLM: a CJK question searches English documents with it (rag.retrieve)."""
    messages: list[Message] = [
        {"role": "system", "content": TRANSLATE_PROMPT},
        {"role": "user", "content": question},
    ]
    with closing(generator.stream(messages, max_tokens=64)) as pieces:
        return "".join(pieces).strip()


@dataclass(frozen=True)
class Turn:
    """One finished exchange: the user message exactly as it was sent (so the prefix cache matches) and the
    blocks that message showed, with their numbers."""

    question: str
    answer: str
    user_content: str
    shown: tuple[Source, ...] = ()


class AnswerStream:
    """Iterate to receive the answer piece by piece; `sources` is known before the first piece and
    `result` (with `unsupported`) is complete once iteration ends."""

    def __init__(
        self,
        hits: list[Hit],
        pieces: Iterator[str] | None,
        started: float,
        retrieve_s: float,
        *,
        standalone: str | None = None,
        user_content: str = "",
        question: str = "",
        embedder: Embedder | None = None,
        numbers: list[int] | None = None,
        shown: tuple[Source, ...] = (),
        earlier: tuple[Source, ...] = (),
        asked: str = "",
        check: bool = True,
    ) -> None:
        numbers = numbers or list(range(1, len(hits) + 1))
        self.sources = [Source.of(n, h) for n, h in zip(numbers, hits, strict=True)]
        self.shown = shown
        self._citable = [*earlier, *shown]
        self._pieces = pieces
        self._started = started
        self._embedder = embedder
        self.question = question
        self._asked = asked
        self.user_content = user_content
        self._check = check
        self.result = AnswerResult(
            answer="" if pieces is not None else NOT_FOUND,
            sources=self.sources if pieces is not None else [],
            timings=Timings(retrieve_s=retrieve_s, total_s=time.perf_counter() - started),
            found=pieces is not None,
            standalone_question=standalone,
        )

    def __iter__(self) -> Iterator[str]:
        if self._pieces is None:
            yield self.result.answer
            return
        check = self.answer_check() if self._check else None
        text, shown = "", 0
        for piece in self._pieces:
            text += piece
            verdict = check.verdict(text) if check else None
            if verdict:
                close = getattr(self._pieces, "close", None)
                if close:
                    close()  # the model stops at once and goes to the next in line
                yield from self._withhold(verdict, shown)
                return
            end = releasable(text, final=False) if check else len(text)
            if end > shown:
                yield self._shown(text[shown:end])
                shown = end
        if len(text) > shown:
            yield self._shown(text[shown:])
        self.result.answer = text.strip()
        self.result.timings.total_s = time.perf_counter() - self._started
        self.result.unsupported = check_citations(
            self.result.answer, self._citable or self.sources, self._embedder, given=self._asked
        )

    def answer_check(self) -> AnswerCheck:
        """The check for this answer: the blocks in its prompt (this turn's and the earlier turns' kept ones)."""
        blocks = [Block(f"[{s.n}] {PurePath(s.source).name}", s.text) for s in (self._citable or self.sources)]
        return AnswerCheck(blocks, self._asked or self.question, INSTRUCTIONS, (TABLE_EXAMPLE,))

    def _shown(self, text: str) -> str:
        """`text`, the first time noting when the user saw the answer begin."""
        if self.result.timings.first_token_s is None:
            self.result.timings.first_token_s = time.perf_counter() - self._started
        return text

    def _withhold(self, verdict: str, shown: int) -> Iterator[str]:
        yield self._shown(("\n\n" if shown else "") + verdict)
        self.result.answer = verdict
        self.result.withheld = True
        self.result.timings.total_s = time.perf_counter() - self._started

    def consume(self) -> AnswerResult:
        for _ in self:
            pass
        return self.result

    def turn(self) -> Turn:
        """The exchange to keep in the history once the answer is complete."""
        return Turn(self.question, self.result.answer, self.user_content or self.question, self.shown)


class Answerer:
    def __init__(
        self,
        embedder: Embedder,
        store: Store,
        generator: Generator,
        settings: RetrieveSettings | None = None,
        *,
        retriever: Retriever | None = None,
        rewrite_max_tokens: int = 96,
        check_answers: bool = True,
    ) -> None:
        """Answers with `generator` from what is retrieved as `settings` say (k, min_score, compress; the
        defaults when None), by `retriever` or one built from the same settings."""
        s = settings or RetrieveSettings()
        self.embedder = embedder
        self.store = store
        # Every answer waits its turn for the model (rag.queue); a bare generator gets a queue of its own.
        self.generator = generator if isinstance(generator, QueuedGenerator) else QueuedGenerator(generator)
        self.k = s.k
        self.min_score = s.min_score
        self.rewrite_max_tokens = rewrite_max_tokens
        self.retriever = retriever or Retriever(embedder, store, s)
        self.compress = s.compress  # show the model only the parts of each chunk that bear on the question
        self.check_answers = check_answers  # rag.guard.AnswerCheck; off only to measure what it adds

    def retrieve(self, question: str, k: int | None = None, filters: Filters | None = None) -> list[Hit]:
        """The k best chunks (hybrid search within the documents the question is about, rag.retrieve), then
        the chunks ranked just below them that share their pages (`rag.retrieve.page_companions`)."""
        return self.search(question, k, filters).hits

    def search(self, question: str, k: int | None = None, filters: Filters | None = None) -> Retrieval:
        """`retrieve`, with what the relevance decision needs (the scope, the best similarity, ...)."""
        return self.retriever.search(question, k or self.k, filters, companions=True)

    def _stream(
        self, messages: list[Message], on_wait: Callable[[int], None] | None = None, max_tokens: int | None = None
    ) -> Pieces:
        return self.generator.stream(messages, max_tokens=max_tokens, on_wait=on_wait)

    def standalone_question(self, question: str, history: list[Turn]) -> str:
        """The question rewritten to stand alone, given the last turns (the question itself on a first turn)."""
        if not history:
            return question
        recent = history[-3:]
        lines = [f"User: {t.question}\nAssistant: {_CITATION.sub('', t.answer)[:400]}" for t in recent]
        messages: list[Message] = [
            {"role": "system", "content": REWRITE_PROMPT},
            {"role": "user", "content": "\n".join(lines) + f"\nFollow-up question: {question}\nRewritten:"},
        ]
        text = ""
        # A rewrite that ends by itself leaves its prompt in the prefix cache, so the next turn's rewrite (which
        # starts with the same turns) skips them; `closing` frees the model at once when a second line starts.
        with closing(self._stream(messages, max_tokens=self.rewrite_max_tokens)) as pieces:
            for piece in pieces:
                text += piece
                if "\n" in text.strip():
                    break
        text = text.strip()
        rewritten = text.splitlines()[0].removeprefix("Rewritten:").strip().strip('"') if text else ""
        rewritten = drop_copied_answer(rewritten, question, _CITATION.sub("", recent[-1].answer))
        return rewritten or question

    def ask(
        self,
        question: str,
        k: int | None = None,
        history: list[Turn] | None = None,
        on_wait: Callable[[int], None] | None = None,
        filters: Filters | None = None,
    ) -> AnswerStream:
        if not question.strip():
            raise InputError("the question is empty")
        history = list(history or [])
        started = time.perf_counter()
        standalone = self.standalone_question(question.strip(), history)
        retrieving = time.perf_counter()
        retrieval = self.search(standalone, k, filters)  # this question's own findings, never shared state
        hits = retrieval.hits
        retrieve_s = time.perf_counter() - retrieving  # the rewrite is not retrieval; first_token_s counts both
        # The threshold is calibrated on the best cosine similarity of a question's dense candidates: when that
        # passes, the fused hits go to the model (a chunk BM25 found may be less similar to the question). For a
        # question mostly in Chinese the English embedder's similarity says little: a hit holding most of the
        # question's terms counts instead; for a CJK passage given to a question in another script, the
        # multilingual similarity that put it there (rag.retrieve).
        r = retrieval
        found = r.best_score >= self.min_score or r.cjk_coverage >= 0.6 or r.cross_language
        relevant = hits if found else []
        if self.compress:
            relevant = [_compressed(h, standalone) for h in relevant]
        if not relevant:
            stream = AnswerStream(
                hits, None, started, retrieve_s, standalone=standalone if history else None, question=question
            )
            stream.result.timings.rerank_s = retrieval.rerank_s
            return stream
        asked = question.strip() if standalone == question.strip() else f"{question.strip()}\nIn full: {standalone}"
        note = order_note(standalone)  # the engine orders the amounts: small models misjudge "which is higher"
        asked += f"\n{note}" if note else ""
        cell = lookup_note(standalone, relevant)  # and reads the table cell asked for: they take wrong columns
        asked += f"\n{cell}" if cell else ""
        # with the cell read, no worked example; a conversation keeps the system prompt it started with
        system = SYSTEM_PROMPT_LOOKED_UP if cell and not history else SYSTEM_PROMPT
        plan = self._fit(asked, history, relevant, system)
        stream = AnswerStream(
            plan.hits,
            self._stream(plan.messages, on_wait),
            started,
            retrieve_s,
            standalone=standalone if history else None,
            user_content=plan.content,
            question=question,
            embedder=self.embedder,
            numbers=plan.numbers,
            shown=plan.shown,
            earlier=plan.earlier,
            asked=asked,
            check=self.check_answers,
        )
        stream.result.timings.rerank_s = retrieval.rerank_s
        return stream

    def _fit(self, question: str, history: list[Turn], hits: list[Hit], system: str) -> _Plan:
        """The messages for this turn, within the generator's prompt budget. Pieces of one page are shown as
        one block (rag.prompt.merge_neighbours); the lowest-ranked piece is the first to go."""
        budget = self.generator.prompt_budget
        plan = _plan(question, history, merge_neighbours(hits), keep_blocks=True, system=system)
        if self.generator.count_tokens(plan.messages) <= budget:
            return plan
        while True:  # compact: earlier turns as question and answer only, blocks numbered afresh
            plan = _plan(question, history, merge_neighbours(hits), keep_blocks=False, system=system)
            if self.generator.count_tokens(plan.messages) <= budget or not (history or len(hits) > 1):
                return plan
            if history:
                history = history[1:]  # the oldest turn goes first; the newest stay
            else:
                hits = hits[:-1]  # then the lowest-ranked piece


_COMPARES = re.compile(
    r"\b(?:which|higher|lower|more|less|larger|smaller|bigger|compare[sd]?|difference|both|than|change[sd]?)\b"
    r"|哪|比较|对比|差|变化",
    re.IGNORECASE,
)


def _compressed(hit: Hit, question: str) -> Hit:
    """`hit` with only the parts of its text that bear on `question` (rag.compress)."""
    text = compress(hit.chunk.text, question, hit.chunk.context)
    return hit if text == hit.chunk.text else replace(hit, chunk=replace(hit.chunk, text=text))


def drop_copied_answer(rewritten: str, follow_up: str, answer: str) -> str:
    """A rewrite that copies the earlier answer's figure into a question that does not compare ("... ended
    December 31, 2022, as stated in the document, were $82,959 million?") loses the copied clause: a small
    model otherwise answers with the old figure. The clause is the text before the figure that the rewrite
    and the answer share."""
    if _COMPARES.search(follow_up):
        return rewritten
    asked = {(a.kind, a.value) for a in find_amounts(follow_up)}
    for amount in find_amounts(rewritten):
        if (amount.kind, amount.value) in asked or amount.text not in answer:
            continue
        at, in_answer = rewritten.find(amount.text), answer.find(amount.text)
        shared = 0
        while shared < min(at, in_answer) and rewritten[at - shared - 1] == answer[in_answer - shared - 1]:
            shared += 1
        cut = at - shared
        year = re.match(r",?\s*\d{4}\b", rewritten[cut:])  # "December 31" and "June 25" share ", 2022"
        kept = rewritten[: cut + (year.end() if year else 0)].rstrip(" ,;:-")
        kept = re.sub(r"\s+(?:was|were|is|are|of|at)$", "", kept).rstrip(" ,;:-")
        if len(kept.split()) >= 4:
            return kept.rstrip("?") + "?"
    return rewritten


@dataclass(frozen=True)
class _Plan:
    messages: list[Message]
    hits: list[Hit]
    numbers: list[int]
    content: str
    shown: tuple[Source, ...]  # blocks this turn's message shows
    earlier: tuple[Source, ...]  # blocks shown by the earlier turns kept in the prompt


def _plan(question: str, history: list[Turn], hits: list[Hit], keep_blocks: bool, system: str) -> _Plan:
    messages: list[Message] = [{"role": "system", "content": system}]
    for t in history:
        user = t.user_content if keep_blocks else f"Question: {t.question}"
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": t.answer}]
    earlier = tuple(s for t in history for s in t.shown) if keep_blocks else ()
    if not keep_blocks or not history:
        numbers = list(range(1, len(hits) + 1))
        content = user_message(question, hits, numbers)
        new_hits, new_numbers = hits, numbers
    else:
        # a block shown before counts only with the same text: compressed for another question, it is new
        known = {(s.chunk_id, s.text): s.n for s in earlier}
        next_n = max(known.values(), default=0) + 1
        numbers, new_hits, new_numbers, again = [], [], [], []
        for h in hits:
            if (h.chunk.id, h.chunk.text) in known:
                numbers.append(known[h.chunk.id, h.chunk.text])
                again.append(known[h.chunk.id, h.chunk.text])
            else:
                numbers.append(next_n)
                new_hits.append(h)
                new_numbers.append(next_n)
                next_n += 1
        content = follow_up_message(question, new_hits, new_numbers, again)
    messages.append({"role": "user", "content": content})
    shown = tuple(Source.of(n, h) for n, h in zip(new_numbers, new_hits, strict=True))
    return _Plan(messages, hits, numbers, content, shown, earlier)
