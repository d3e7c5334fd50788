"""Evaluation runs: index a data set into the pipeline's collection (skipping what is already there), then
measure retrieval or answers with the product's own retriever and answerer (metrics in rag.eval).

`ragqa eval retrieval --beir DIR` and `ragqa eval qa --csv FILE --docs DIR` call these. Not here: metric
definitions (rag.eval), printing (app/cli.py).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

from ingest.index import Indexer
from rag.eval import (
    QaRecord,
    distinct,
    figure_in,
    figure_pages,
    figures,
    find_evidence,
    first_money,
    load_beir,
    load_questions,
    matches,
    mrr_at,
    ndcg_at,
    page_texts,
    recall_at,
)
from rag.pipeline import Pipeline

Progress = Callable[[int, int, str], None]  # (done, total, label)


def evaluate_retrieval(
    pipeline: Pipeline,
    folder: Path,
    on_progress: Progress | None = None,
    on_index_progress: Progress | None = None,
    limit: int | None = None,
) -> dict[str, object]:
    """nDCG@10, recall@10, recall@100 and MRR@10 of the pipeline's retrieval on a BEIR folder. The @10
    metrics come from retrieval exactly as configured; recall@100 from the same retriever with a pool of
    at least 300 candidates each way (the default pool of 40 cannot hold 100 documents)."""
    data = load_beir(folder)
    docs = [(f"beir:{doc_id}", title, text) for doc_id, (title, text) in data.corpus.items()]
    Indexer(pipeline).index_texts(docs, on_progress=on_index_progress)
    retriever = pipeline.retriever(pipeline.open_store(create=False))
    deep = pipeline.retriever(retriever.store)
    deep.candidates = max(deep.candidates, 300)
    queries = list(data.queries.items())[:limit]
    totals = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    started = time.perf_counter()
    for i, (qid, text) in enumerate(queries):
        grades = data.qrels[qid]
        top = distinct([h.chunk.source.removeprefix("beir:") for h in retriever.retrieve(text, 40)])
        pool = distinct([h.chunk.source.removeprefix("beir:") for h in deep.retrieve(text, 300)])
        totals["ndcg@10"] += ndcg_at(top, grades, 10)
        totals["recall@10"] += recall_at(top, grades, 10)
        totals["mrr@10"] += mrr_at(top, grades, 10)
        totals["recall@100"] += recall_at(pool, grades, 100)
        if on_progress:
            on_progress(i + 1, len(queries), qid)
    n = max(1, len(queries))
    out: dict[str, object] = {key: round(value / n, 4) for key, value in totals.items()}
    out["queries"] = len(queries)
    out["seconds"] = round(time.perf_counter() - started, 2)
    return out


def evaluate_qa(
    pipeline: Pipeline,
    csv_path: Path,
    docs: Path,
    k: int,
    retrieval_only: bool,
    report_path: Path,
    on_progress: Progress | None = None,
    on_index_progress: Progress | None = None,
    limit: int | None = None,
    kinds: tuple[str, ...] = (),
    money_only: bool = False,
) -> dict[str, object]:
    """Source-document hit@1 and hit@k over a question CSV, evidence-page hit@1 and hit@k over the questions
    whose evidence page is known or can be derived (rag.eval), whether the gold `$` figure is in the blocks,
    and (unless `retrieval_only`) the share of the gold answers' figures found in the answers; one JSON line
    per question goes to `report_path`."""
    items = load_questions(csv_path)
    if kinds:
        items = [q for q in items if q.kind in kinds]
    if money_only:
        items = [q for q in items if first_money(q.answer) is not None]
    items = items[:limit]
    indexer = Indexer(pipeline)
    indexed = indexer.ingest([docs], on_progress=on_index_progress)
    answerer = pipeline.answerer
    pages_of = page_texts(pipeline.open_store(create=False).all_chunks())
    started = time.perf_counter()
    records: list[QaRecord] = []
    searching = 0.0
    report_path.parent.mkdir(parents=True, exist_ok=True)
    with report_path.open("w", encoding="utf-8") as report:
        for i, item in enumerate(items):
            asked = time.perf_counter()
            found = answerer.search(item.question, k)
            searching += time.perf_counter() - asked
            hits, scope = found.hits, found.scope
            record = QaRecord(
                question=item.question,
                kind=item.kind,
                patterns=list(item.patterns),
                retrieved=[{"file": Path(h.chunk.source).name, "page": h.chunk.page} for h in hits],
                hit_at_1=bool(hits) and matches(hits[0].chunk.source, item.patterns),
                hit_at_k=any(matches(h.chunk.source, item.patterns) for h in hits),
                scope=scope.reasons,
            )
            evidence = find_evidence(item, pages_of)
            if evidence is not None:
                on_page = [h.chunk.source == evidence.source and h.chunk.page in evidence.pages for h in hits]
                record.evidence = dataclasses.asdict(evidence)
                record.evidence_hit_at_1 = bool(on_page) and on_page[0]
                record.evidence_hit_at_k = any(on_page)
            money = first_money(item.answer)
            if money is not None:
                holding = figure_pages(item, pages_of)
                record.figure_page_hit = any(h.chunk.page in holding.get(h.chunk.source, ()) for h in hits)
                shown = "\n".join(f"{h.chunk.context}\n{h.chunk.text}" for h in hits)
                record.first_money_in_blocks = figure_in(money, shown, tolerance=0.0, money=True)
            if not retrieval_only:
                result = answerer.ask(item.question, k=k).consume()
                gold = figures(item.answer)
                record.answer = result.answer
                record.gold_figures = len(gold)
                record.figures_found = sum(figure_in(g, result.answer) for g in gold)
                record.first_money_found = None if money is None else figure_in(money, result.answer, money=True)
            record.seconds = round(time.perf_counter() - asked, 3)
            records.append(record)
            report.write(json.dumps(dataclasses.asdict(record), ensure_ascii=False) + "\n")
            report.flush()
            if on_progress:
                on_progress(i + 1, len(items), item.question[:40])
    n = max(1, len(records))
    out: dict[str, object] = {
        "questions": len(records),
        "k": k,
        "source_hit@1": round(sum(r.hit_at_1 for r in records) / n, 4),
        "source_hit@k": round(sum(r.hit_at_k for r in records) / n, 4),
        "answer_match": None,
        "report": str(report_path),
        "seconds": round(time.perf_counter() - started, 2),
        "retrieval_ms_per_question": round(1000 * searching / n, 1),
    }
    with_money = [r for r in records if r.first_money_in_blocks is not None]
    if with_money:
        out["questions_with_money"] = len(with_money)
        out["first_money_in_blocks"] = sum(bool(r.first_money_in_blocks) for r in with_money)
        out["first_money_page_in_blocks"] = sum(bool(r.figure_page_hit) for r in with_money)
    placed = [r for r in records if r.evidence is not None]
    out["evidence_labelled"] = len(placed)
    if placed:
        out["evidence_hit@1"] = round(sum(bool(r.evidence_hit_at_1) for r in placed) / len(placed), 4)
        out["evidence_hit@k"] = round(sum(bool(r.evidence_hit_at_k) for r in placed) / len(placed), 4)
    if not retrieval_only:
        gold_total = sum(r.gold_figures for r in records)
        out["answer_match"] = round(sum(r.figures_found for r in records) / gold_total, 4) if gold_total else None
        out["first_money_found"] = sum(bool(r.first_money_found) for r in records)
    if indexed.files_failed:
        out["files_failed"] = indexed.files_failed
    return out
