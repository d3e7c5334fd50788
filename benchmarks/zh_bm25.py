"""Chinese retrieval, side by side: plain BM25 over character bigrams vs ragqa's default retrieval.

Both run on the same BEIR-format folder (default: tests/fixtures/zh-retrieval) in one run. A question counts at
1 when a relevant passage is ranked first, at 4 when one is among the first four passages. The baseline is the
usual thirty lines (Okapi BM25, k1 = 1.2, b = 0.75, character bigrams of the CJK runs, words otherwise); ragqa
is the product as configured (`load_settings()`: real models unless RAGQA_MODE=fake), indexed into a temporary
folder.

    .venv/bin/python benchmarks/zh_bm25.py [BEIR_DIR]
"""

from __future__ import annotations

import math
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

from ingest.index import Indexer
from rag.eval import distinct, load_beir
from rag.pipeline import build_pipeline
from rag.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


def bigrams(text: str) -> list[str]:
    out: list[str] = []
    for run in re.findall(r"[\u4e00-\u9fff]+|[a-z0-9]+", text.lower()):
        if "\u4e00" <= run[0] <= "\u9fff":
            out += [run[i : i + 2] for i in range(len(run) - 1)] or [run]
        else:
            out.append(run)
    return out


def bm25_ranking(corpus: dict[str, str], query: str, k1: float = 1.2, b: float = 0.75) -> list[str]:
    docs = {d: Counter(bigrams(t)) for d, t in corpus.items()}
    avg = sum(sum(c.values()) for c in docs.values()) / len(docs)
    df = Counter(tok for c in docs.values() for tok in c)
    n = len(docs)
    scores = {}
    for d, counts in docs.items():
        length = sum(counts.values())
        s = 0.0
        for tok in set(bigrams(query)):
            if tok in counts:
                idf = math.log(1 + (n - df[tok] + 0.5) / (df[tok] + 0.5))
                s += idf * counts[tok] * (k1 + 1) / (counts[tok] + k1 * (1 - b + b * length / avg))
        scores[d] = s
    return sorted(scores, key=lambda d: scores[d], reverse=True)


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "fixtures" / "zh-retrieval"
    data = load_beir(folder)
    corpus = {d: f"{title}\n{text}" for d, (title, text) in data.corpus.items()}
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(index_dir=Path(tmp))
        pipeline = build_pipeline(settings)
        Indexer(pipeline).index_texts([(f"beir:{d}", t, x) for d, (t, x) in data.corpus.items()])
        retriever = pipeline.retriever(pipeline.open_store(create=False))
        tallies = {"bm25 bigrams": [0, 0], "ragqa": [0, 0]}
        for qid, query in data.queries.items():
            relevant = {d for d, g in data.qrels[qid].items() if g > 0}
            ours = distinct([h.chunk.source.removeprefix("beir:") for h in retriever.retrieve(query, 20)])
            for name, ranking in (("bm25 bigrams", bm25_ranking(corpus, query)), ("ragqa", ours)):
                tallies[name][0] += ranking[0] in relevant if ranking else 0
                tallies[name][1] += bool(relevant & set(ranking[:4]))
    n = len(data.queries)
    print(f"{n} questions, {len(corpus)} passages ({folder})")
    for name, (top1, top4) in tallies.items():
        print(f"  {name:<14} first {top1 / n:6.1%}   top 4 {top4 / n:6.1%}")
    base1, base4 = tallies["bm25 bigrams"]
    ours1, ours4 = tallies["ragqa"]
    print(f"  ratio ragqa / bm25: first {ours1 / max(1, base1):.2f}, top 4 {ours4 / max(1, base4):.2f}")


if __name__ == "__main__":
    main()
