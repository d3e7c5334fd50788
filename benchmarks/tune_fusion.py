"""Sweep the fusion weights of retrieval over indexes built by `ragqa eval` (nothing is re-embedded).

For each (dense, keyword, coverage) weight triple it prints, side by side: SciFact nDCG@10 on the first N
(default 300) *train* queries (tuning there keeps the test queries for the reported number), sec-10q source
hit@1 / hit@4, and the Chinese set's first / top-4 share. Questions mostly in Chinese use their own weights
(cosine, BM25, multilingual similarity), so a second table sweeps those on the Chinese set. Then SciFact
nDCG@10 on the test queries for dense only, keyword only and the configured hybrid. Build the indexes first:

    ragqa eval retrieval --beir ../shared/datasets/scifact --index /tmp/ev/scifact
    ragqa eval qa --csv ../shared/datasets/sec-10q/qna_data.csv --docs ../shared/datasets/sec-10q/docs \
        --retrieval-only --index /tmp/ev/sec
    ragqa eval retrieval --beir tests/fixtures/zh-retrieval --index /tmp/ev/zh
    .venv/bin/python benchmarks/tune_fusion.py /tmp/ev/scifact /tmp/ev/sec /tmp/ev/zh [N]
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from rag.eval import distinct, load_beir, load_questions, matches, ndcg_at
from rag.pipeline import build_pipeline
from rag.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"


def retriever_for(index: Path):  # noqa: ANN201 - a benchmark
    pipeline = build_pipeline(load_settings(index_dir=index))
    return pipeline.retriever(pipeline.open_store(create=False))


def chinese_share(retriever, zh) -> tuple[float, float]:  # noqa: ANN001 - a benchmark
    """The share of the Chinese set's questions with a relevant passage first, and in the top 4."""
    first = top4 = 0
    for qid, text in zh.queries.items():
        ranked = distinct([h.chunk.source.removeprefix("beir:") for h in retriever.retrieve(text, 20)])
        relevant = {d for d, g in zh.qrels[qid].items() if g > 0}
        first += bool(ranked) and ranked[0] in relevant
        top4 += bool(relevant & set(ranked[:4]))
    return first / len(zh.queries), top4 / len(zh.queries)


def main() -> None:
    scifact_index, sec_index, zh_index = (Path(p) for p in sys.argv[1:4])
    scifact = load_beir(SHARED / "scifact", split="train")
    sci_queries = list(scifact.queries.items())[: int(sys.argv[4]) if len(sys.argv) > 4 else 300]
    zh = load_beir(ROOT / "tests" / "fixtures" / "zh-retrieval")
    questions = load_questions(SHARED / "sec-10q" / "qna_data.csv")
    sci, sec, chinese = retriever_for(scifact_index), retriever_for(sec_index), retriever_for(zh_index)
    configured = (sci.dense_weight, sci.keyword_weight, sci.coverage_weight)
    grid = list(itertools.product([1.0], [0.0, 0.3, 1.0], [0.0, 0.5])) + [(1.0, 0.6, 0.5), (1.0, 0.3, 1.0)]
    print("dense keyword coverage | scifact-train nDCG@10 | sec hit@1 hit@4 | zh first top4")
    for dense, keyword, cover in grid:
        for r in (sci, sec, chinese):
            r.dense_weight, r.keyword_weight, r.coverage_weight = dense, keyword, cover
        ndcg = 0.0
        for qid, text in sci_queries:
            ranked = distinct([h.chunk.source.removeprefix("beir:") for h in sci.retrieve(text, 40)])
            ndcg += ndcg_at(ranked, scifact.qrels[qid])
        h1 = h4 = 0
        for q in questions:
            hits = sec.retrieve(q.question, 4)
            h1 += bool(hits) and matches(hits[0].chunk.source, q.patterns)
            h4 += any(matches(h.chunk.source, q.patterns) for h in hits)
        z1, z4 = chinese_share(chinese, zh)
        n, m = len(sci_queries), len(questions)
        print(
            f"{dense:4.1f} {keyword:7.1f} {cover:8.2f} | {ndcg / n:21.4f} | {h1 / m:9.3f} {h4 / m:5.3f} | "
            f"{z1:8.3f} {z4:4.3f}",
            flush=True,
        )
    chinese.dense_weight, chinese.keyword_weight, chinese.coverage_weight = configured
    cjk = (chinese.cjk_dense_weight, chinese.cjk_keyword_weight, chinese.multilingual_weight)
    print("cjk_dense cjk_keyword multilingual | zh first top4")
    for weights in sorted({*itertools.product([0.0, 0.3], [0.5, 1.0], [0.25, 0.5, 1.0]), cjk}):
        chinese.cjk_dense_weight, chinese.cjk_keyword_weight, chinese.multilingual_weight = weights
        z1, z4 = chinese_share(chinese, zh)
        print(f"{weights[0]:9.1f} {weights[1]:11.1f} {weights[2]:12.2f} | {z1:8.3f} {z4:4.3f}", flush=True)
    test = load_beir(SHARED / "scifact")
    named = {"dense only": (1.0, 0.0, 0.0), "keyword only (BM25)": (0.0, 1.0, 0.0), "hybrid (configured)": configured}
    for name, (dense, keyword, cover) in named.items():
        sci.dense_weight, sci.keyword_weight, sci.coverage_weight = dense, keyword, cover
        ndcg = sum(
            ndcg_at(distinct([h.chunk.source.removeprefix("beir:") for h in sci.retrieve(text, 40)]), test.qrels[q])
            for q, text in test.queries.items()
        )
        print(f"SciFact test nDCG@10, {name}: {ndcg / len(test.queries):.4f}", flush=True)


if __name__ == "__main__":
    main()
