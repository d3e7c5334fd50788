"""Retrieval: which documents a question is about, then hybrid (dense + BM25) search within them.

1. Scope. The user's filters (`Filters`: documents, folders, kinds, date range) and what the question names,
   read against the documents' cards (rag.cards): a company or ticker keeps that company's documents, a
   period ("Q2 2023", "the quarter ended April 1, 2023") the documents covering it (as they or their file
   names state it; the calendar quarter only when nothing states it), "latest" the newest of
   them, a kind ("10-K", "policy") the documents of that kind. A rule that would leave nothing is skipped.
2. Candidates: the `candidates` best chunks by cosine similarity (Chroma) and the `candidates` best by BM25 over
   the whole collection (rag.keyword), both within the scope.
3. Fusion: each candidate scores dense_weight x cosine + keyword_weight x BM25 / best BM25 + coverage_weight x
   the share of the question's terms it holds (file name and card line included). The candidate whose fused
   score + row_weight x the fit of its best table row's label to the question is best (rag.rows: the chunk
   holding the line item asked for) goes first. The weights were set by hand and checked on SciFact and the
   sec-10q questions (docs/benchmarks.md); benchmarks/tune_fusion.py sweeps them (SciFact train queries,
   sec-10q, the Chinese set) for anyone tuning them to their own documents. A question written mostly in
   Chinese (or Japanese, Korean) uses its own dense and keyword weights: the default embedder was trained on
   English, and character-bigram BM25 is the stronger signal there.
   CJK chunks also score multilingual_weight x their multilingual (E5) similarity: for a question in another
   script stretched from unrelated text (0.7) to 1, for a CJK question from the lowest to the highest among its
   candidates, as BM25 is relative to its best (on tests/fixtures/zh-rust-retrieval 60 of 80 first against 57
   with the fixed floor; the other Chinese sets unchanged or one better).
   A question mostly in CJK over documents that are not is also searched in its English translation (by the
   LLM, `translate`): the best English chunk takes the k-th place, as a CJK chunk does for an English question.
4. Spread: a question across documents ("how has ... changed", "compare") takes the best chunk of each
   document in scope before the second of any.
5. Optional cross-encoder re-ranking of the fused list (`reranker_path`, off by default).
6. For the answer: the k best, then the chunks ranked just below them (within `page_depth`) that share one of
   their pages (`page_companions`), so a table row and the heading that names it travel together.
A hit's score stays its cosine similarity, which the relevance threshold is calibrated on.
Not here: query rewriting for follow-ups (rag.answer), the stores themselves (rag.store, rag.keyword).
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

from rag.cards import CJK_LANGUAGES, Card, company_matches, period_matches, question_scope
from rag.embedder import Embedder
from rag.errors import ConfigError
from rag.rows import row_fit
from rag.settings import RetrieveSettings
from rag.store import Store
from rag.text import mostly_cjk, tokenize
from rag.types import Hit

logger = logging.getLogger(__name__)


MULTILINGUAL_FLOOR = 0.7  # E5's cosine similarities lie between about 0.7 (unrelated) and 0.95


def promote_row(question: str, ranked: list[Hit], fused: Callable[[Hit], float], weight: float) -> list[Hit]:
    """`ranked` (best first) with the candidate whose fused score plus `weight` x its row fit (rag.rows) is
    best moved to the front, when it holds a row that fits at all; the others keep their order. Re-sorting all
    candidates by that sum put three statement chunks in front of every question and lost the prose page of
    narrative ones (sec-10q evidence page hit@3 14 -> 9 of 26 placed); one promoted chunk keeps them."""
    fit = row_fit(question, ranked)
    best = max(ranked, key=lambda h: fused(h) + weight * fit.get(h.chunk.id, 0.0))
    if not fit.get(best.chunk.id):
        return ranked
    return [best] + [h for h in ranked if h is not best]


def _stretch(similarities: Mapping[str, float], relative: bool) -> Callable[[float], float]:
    """E5 similarities onto the 0..1 scale of the other signals: from the fixed floor of unrelated text, or
    (`relative`) from the lowest to the highest of this question's candidates, as BM25 is divided by its best
    (from the floor when they are all alike)."""
    low, span = MULTILINGUAL_FLOOR, 1.0 - MULTILINGUAL_FLOOR
    if relative and similarities and max(similarities.values()) > min(similarities.values()):
        low = min(similarities.values())
        span = max(similarities.values()) - low
    return lambda similarity: max(0.0, (similarity - low) / span)


def page_companions(ranked: Sequence[Hit], k: int, depth: int) -> list[Hit]:
    """The chunks ranked k+1..`depth` that lie on a page (a document, for formats without pages) of one of the
    first k, at most k of them, best first. A figure's table row and the heading that names it often sit in
    different chunks of one page, and the page's other chunks are more likely to hold the answer than a new
    page ranked k+1: on the sec-10q questions with a `$` answer, the first 3 chunks and their companions
    within the first 12 hold the gold figure for 33 of 121 questions against 30 for the first 4 chunks, with
    3 % more text (docs/design.md)."""
    pages = {(h.chunk.source, h.chunk.page) for h in ranked[:k]}
    return [h for h in ranked[k:depth] if (h.chunk.source, h.chunk.page) in pages][:k]


def terms(text: str) -> set[str]:
    """The distinct index terms of `text` (stemmed words, numbers, CJK bigrams)."""
    return set(tokenize(text))


@lru_cache(maxsize=20_000)
def _chunk_terms(chunk_id: str, text: str) -> frozenset[str]:
    return frozenset(tokenize(text))


def coverage(wanted: set[str], hit: Hit) -> float:
    """The share of `wanted` terms found in the chunk, its card line or its file name."""
    if not wanted:
        return 0.0
    have = _chunk_terms(hit.chunk.id, f"{hit.chunk.embed_text}\n{PurePath(hit.chunk.source).stem}")
    return len(wanted & have) / len(wanted)


@dataclass(frozen=True)
class Filters:
    """What a user restricts a question to. Empty fields do not restrict."""

    docs: tuple[str, ...] = ()  # file names or paths, with * and ? wildcards
    folders: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None

    @property
    def empty(self) -> bool:
        return not (self.docs or self.folders or self.kinds or self.date_from or self.date_to)

    def allows(self, source: str, card: Card | None) -> bool:
        name = PurePath(source).name
        if self.docs and not any(fnmatch.fnmatch(name, d) or fnmatch.fnmatch(source, d) for d in self.docs):
            return False
        if self.folders and not any(_under(source, f) for f in self.folders):
            return False
        if self.kinds and (card is None or not any(k.lower() in (card.kind, card.form.lower()) for k in self.kinds)):
            return False
        if self.date_from or self.date_to:
            end = card.end_date if card else None
            if end is None or (self.date_from and end < self.date_from) or (self.date_to and end > self.date_to):
                return False
        return True

    @classmethod
    def parse(cls, docs: Sequence[str] = (), where: Sequence[str] = ()) -> Filters:
        """From `--doc NAME` and `--where` conditions: `kind=policy`, `folder=/srv/docs/hr`,
        `date>=2023-01-01`, `date<=2023-12-31`."""
        folders: list[str] = []
        kinds: list[str] = []
        date_from = date_to = None
        for cond in where:
            for op in (">=", "<=", "="):
                if op in cond:
                    key, value = (part.strip() for part in cond.split(op, 1))
                    break
            else:
                raise ConfigError(f"bad filter {cond!r}: use kind=..., folder=..., date>=YYYY-MM-DD or date<=...")
            key = key.lower()
            if key == "kind" and op == "=":
                kinds.append(value.lower())
            elif key == "folder" and op == "=":
                folders.append(value)
            elif key == "date" and op in (">=", "<="):
                try:
                    day = date.fromisoformat(value)
                except ValueError as exc:
                    raise ConfigError(f"bad date in filter {cond!r}: use YYYY-MM-DD") from exc
                date_from, date_to = (day, date_to) if op == ">=" else (date_from, day)
            else:
                raise ConfigError(f"unknown filter {cond!r}: use kind=..., folder=..., date>=... or date<=...")
        return cls(tuple(docs), tuple(folders), tuple(kinds), date_from, date_to)


def _under(source: str, folder: str) -> bool:
    try:
        return Path(source).resolve().is_relative_to(Path(folder).expanduser().resolve())
    except (OSError, ValueError):
        return False


@dataclass
class Scope:
    """The sources a question is searched in (None: all) and why, for reports and debugging."""

    sources: list[str] | None
    reasons: list[str] = field(default_factory=list)
    spread: bool = False


def scope_for(question: str, cards: Mapping[str, Card], filters: Filters | None = None) -> Scope:
    """The documents the question is about (see the module docstring, step 1)."""
    reasons: list[str] = []
    allowed = dict(cards)
    if filters is not None and not filters.empty:
        allowed = {s: c for s, c in cards.items() if filters.allows(s, c)}
        reasons.append(f"filters: {len(allowed)} documents")
        if not allowed:
            return Scope([], reasons)
    if not allowed:
        return Scope(None if filters is None or filters.empty else [], reasons)
    scope = question_scope(question, allowed.values())
    if scope.companies:
        named = {s: c for s, c in allowed.items() if company_matches(question, c)}
        if named:
            allowed = named
            reasons.append(f"company {', '.join(scope.companies)}: {len(named)} documents")
    if scope.kinds:
        kinds = {s: c for s, c in allowed.items() if c.kind in scope.kinds}
        if kinds:
            allowed = kinds
            reasons.append(f"kind {', '.join(scope.kinds)}: {len(kinds)} documents")
    if scope.dates or scope.fiscal:
        periods = {s: c for s, c in allowed.items() if period_matches(scope, c)}
        periods = periods or {s: c for s, c in allowed.items() if period_matches(scope, c, weak=True)}
        if periods:
            allowed = periods
            reasons.append(f"period: {len(periods)} documents")
    elif scope.latest:
        newest: dict[str, tuple[date, str]] = {}
        for s, c in allowed.items():
            end = c.end_date
            key = (c.companies[0].lower() if c.companies else "") + "|" + c.kind
            if end is not None and (key not in newest or end > newest[key][0]):
                newest[key] = (end, s)
        if newest:
            allowed = {s: allowed[s] for _, s in newest.values()}
            reasons.append(f"latest: {len(allowed)} documents")
    narrowed = len(allowed) < len(cards)
    spread = scope.multi and len(allowed) > 1 and (bool(scope.companies) or bool(reasons))
    return Scope(sorted(allowed) if narrowed else None, reasons, spread)


@dataclass
class Retrieval:
    """What retrieval found for one question, returned as a value: nothing about a question is kept on the
    `Retriever`, which every user of a process shares."""

    hits: list[Hit]
    scope: Scope
    best_score: float = 0.0  # the best cosine similarity of the question's dense candidates
    cjk_coverage: float = 0.0  # for a question mostly in CJK: the best share of its terms a hit holds
    cross_language: bool = False  # a chunk in another script took a place (see Retriever._cross_language)
    translation: str | None = None  # a CJK question's English translation, when one was searched
    rerank_s: float | None = None  # the cross-encoder's time, when it ran


class Retriever:
    """Hybrid retrieval over one store (see the module docstring)."""

    def __init__(
        self,
        embedder: Embedder,
        store: Store,
        settings: RetrieveSettings | None = None,
        *,
        multilingual: Embedder | None = None,
        translate: Callable[[str], str] | None = None,
    ) -> None:
        """Retrieval as `settings` say (the defaults when None); `multilingual` scores CJK chunks, `translate`
        turns a CJK question into English (both off when None). The weights stay attributes, for benchmarks
        that sweep them."""
        s = settings or RetrieveSettings()
        self.embedder = embedder
        self.store = store
        self.candidates = s.candidates
        self.dense_weight = s.dense_weight
        self.keyword_weight = s.keyword_weight
        self.coverage_weight = s.coverage_weight
        self.cjk_dense_weight = s.cjk_dense_weight
        self.cjk_keyword_weight = s.cjk_keyword_weight
        self.multilingual = multilingual
        self.multilingual_weight = s.multilingual_weight
        self.cross_language_min = s.cross_language_min
        self.page_depth = s.page_depth
        self.translate = translate
        self.translated_min = s.min_score
        self.row_weight = s.row_weight
        self.use_cards = s.use_cards
        self.reranker_path = s.reranker_path
        self._reranker: Any = None
        self._cards: tuple[object, dict[str, Card]] | None = None

    def cards(self) -> dict[str, Card]:
        """The documents' cards, read again only when a writer changed them."""
        version = self.store.cards_version()
        if self._cards is None or self._cards[0] != version:
            self._cards = (version, {s: Card.from_dict(c) for s, c in self.store.cards().items()})
        return self._cards[1]

    def retrieve(self, question: str, k: int, filters: Filters | None = None, companions: bool = False) -> list[Hit]:
        """The k best chunks for `question`, best first (`search(...).hits`)."""
        return self.search(question, k, filters, companions).hits

    def search(self, question: str, k: int, filters: Filters | None = None, companions: bool = False) -> Retrieval:
        """The k best chunks for `question`, best first, with what the answer's relevance decision needs. With
        `companions`, then the chunks ranked below them within the first `page_depth` that lie on one of their
        pages (`page_companions`)."""
        scope = Scope(None)
        if self.use_cards or (filters is not None and not filters.empty):
            scope = scope_for(question if self.use_cards else "", self.cards(), filters)
        if scope.sources is not None and not scope.sources:
            return Retrieval([], scope)
        cjk = mostly_cjk(question)
        ranked, multilingual, best_score = self._rank(question, max(k, self.candidates), scope.sources)
        found = Retrieval([], scope, best_score)
        if not cjk and multilingual:
            ranked, found.cross_language = self._cross_language(ranked, multilingual, k)
        if cjk:  # the English embedder's similarity says little here; the words do
            asked = set(tokenize(question, question=True))
            found.cjk_coverage = max((coverage(asked, h) for h in ranked[:k]), default=0.0)
            if self.translate is not None and self._english_in(scope):
                ranked, found.translation, taken = self._from_translation(question, ranked, k, scope)
                found.cross_language = found.cross_language or taken
        if self.reranker_path is not None:
            ranked, found.rerank_s = self._rerank(question, ranked[: max(3 * k, 20)])
        if scope.spread:
            ranked = _spread(ranked)
        found.hits = ranked[:k] + page_companions(ranked, k, self.page_depth) if companions else ranked[:k]
        return found

    def _rank(
        self, question: str, n: int, sources: Sequence[str] | None, with_multilingual: bool = True
    ) -> tuple[list[Hit], dict[str, float], float]:
        """Steps 2 and 3: the candidates of `question` fused and sorted, best first; with them the multilingual
        similarities of the CJK chunks among them and the best cosine similarity of the dense candidates."""
        dense_weight, keyword_weight = self.dense_weight, self.keyword_weight
        cjk = mostly_cjk(question)
        if cjk:  # the default embedder knows English: lean on the keyword index
            dense_weight, keyword_weight = self.cjk_dense_weight, self.cjk_keyword_weight
        vector = self.embedder.embed_query(question)
        dense = self.store.search(vector, n, sources)
        found: dict[str, Hit] = {h.chunk.id: h for h in dense}
        keyword: dict[str, float] = {}
        if keyword_weight > 0:
            keyword = dict(self.store.keyword_search(question, n, sources))
            missing = [i for i in keyword if i not in found]
            for hit in self.store.get(missing, vector):
                found[hit.chunk.id] = hit
        multilingual: dict[str, float] = {}
        model = self.multilingual.name if self.multilingual is not None else ""
        if (
            with_multilingual
            and self.multilingual is not None
            and self.multilingual_weight > 0
            and self.store.has_multilingual(model)
        ):
            meaning = self.multilingual.embed_query(question)
            multilingual = dict(self.store.multilingual_search(meaning, n, sources, model))
            missing = [i for i in multilingual if i not in found]
            for hit in self.store.get(missing, vector):
                found[hit.chunk.id] = hit
        best_bm25 = max(keyword.values(), default=0.0) or 1.0
        wanted = terms(question)
        stretch = _stretch(multilingual, relative=cjk)

        def fused(hit: Hit) -> float:
            score = dense_weight * hit.score
            score += keyword_weight * keyword.get(hit.chunk.id, 0.0) / best_bm25
            if self.coverage_weight > 0:
                score += self.coverage_weight * coverage(wanted, hit)
            if hit.chunk.id in multilingual:
                score += self.multilingual_weight * stretch(multilingual[hit.chunk.id])
            return score

        ranked = sorted(found.values(), key=fused, reverse=True)
        if self.row_weight > 0:
            ranked = promote_row(question, ranked, fused, self.row_weight)
        return ranked, multilingual, max((h.score for h in dense), default=0.0)

    def _cross_language(self, ranked: list[Hit], multilingual: dict[str, float], k: int) -> tuple[list[Hit], bool]:
        """For a question not in CJK: the CJK chunk most like it (multilingual similarity at least
        `cross_language_min`) takes the k-th place unless it is among the first k already. Its words cannot
        match the question's, so fusion alone may not show it; the k-th place is the one an English passage is
        least likely to be needed in. With it, whether such a chunk qualified."""
        best_id = max(multilingual, key=multilingual.__getitem__)
        if multilingual[best_id] < self.cross_language_min:
            return ranked, False
        best = next((h for h in ranked if h.chunk.id == best_id), None)
        return (ranked if best is None else _at_most_kth(ranked, best, k)), True

    def _english_in(self, scope: Scope) -> bool:
        """Whether any document in `scope` is not written in CJK (by its card; no cards: assume so)."""
        cards = self.cards()
        if not cards:
            return True
        sources = cards.keys() if scope.sources is None else [s for s in scope.sources if s in cards]
        return any(cards[s].language not in CJK_LANGUAGES for s in sources)

    def _from_translation(
        self, question: str, ranked: list[Hit], k: int, scope: Scope
    ) -> tuple[list[Hit], str | None, bool]:
        """For a CJK question: its English translation (`translate`, the LLM) is searched too, and the best chunk
        not written in CJK takes the k-th place unless it is among the first k already, when its cosine
        similarity to the translation reaches `translated_min` (the relevance threshold). The question's own
        words cannot match an English passage, nor can the default embedder read them; the first k-1 places
        stay those of the question itself. The mirror of `_cross_language`. With the ranking: the translation
        searched (None when there was none) and whether its chunk took a place."""
        try:
            english = self.translate(question) if self.translate is not None else ""
        except Exception as exc:  # noqa: BLE001 - a search aid: without it the question is still answered
            logger.warning("question not translated: %s", exc)
            return ranked, None, False
        english = english.splitlines()[0].strip().strip('"') if english else ""
        if not english or mostly_cjk(english):
            return ranked, None, False
        found, _, _ = self._rank(english, max(k, self.candidates), scope.sources, with_multilingual=False)
        best = next((h for h in found if not mostly_cjk(h.chunk.text)), None)
        if best is None or best.score < self.translated_min:
            return ranked, english, False
        return _at_most_kth(ranked, best, k), english, True

    def _rerank(self, question: str, hits: list[Hit]) -> tuple[list[Hit], float]:
        started = time.perf_counter()
        if self._reranker is None:
            try:
                from sentence_transformers import CrossEncoder
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ImportError("re-ranking needs sentence-transformers: pip install -e .") from exc
            if not Path(str(self.reranker_path)).exists():
                raise ConfigError(f"re-ranker {self.reranker_path} does not exist: set retrieve.reranker_path")
            self._reranker = CrossEncoder(str(self.reranker_path), local_files_only=True)
        scores = self._reranker.predict([(question, h.chunk.embed_text) for h in hits], show_progress_bar=False)
        order = sorted(range(len(hits)), key=lambda i: float(scores[i]), reverse=True)
        seconds = time.perf_counter() - started
        logger.info("re-ranked %d chunks in %.2f s", len(hits), seconds)
        return [hits[i] for i in order], seconds


def _at_most_kth(ranked: list[Hit], hit: Hit, k: int) -> list[Hit]:
    """`ranked` with `hit` at the k-th place, unless it is among the first k already."""
    if any(h.chunk.id == hit.chunk.id for h in ranked[:k]):
        return ranked
    rest = [h for h in ranked if h.chunk.id != hit.chunk.id]
    return rest[: k - 1] + [hit] + rest[k - 1 :]


def _spread(ranked: list[Hit]) -> list[Hit]:
    """The best chunk of each source in turn, then the second of each, and so on (ranks kept within)."""
    by_source: dict[str, list[Hit]] = {}
    for hit in ranked:
        by_source.setdefault(hit.chunk.source, []).append(hit)
    out: list[Hit] = []
    depth = 0
    while len(out) < len(ranked):
        for hits in by_source.values():
            if depth < len(hits):
                out.append(hits[depth])
        depth += 1
    return out
