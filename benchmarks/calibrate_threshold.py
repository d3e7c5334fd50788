"""Calibrate `retrieve.min_score`, the cosine similarity below which ragqa answers "not in the documents".

Data: SciFact test claims (../shared/datasets/scifact). The 300 test claims are split in two halves by id.
The indexed corpus holds the cited abstracts of the first half plus 1,000 other abstracts; the second half's
cited abstracts are left out. So every claim of the first half has its evidence in the index ("answerable"),
every claim of the second half has none ("unanswerable"), and both face the same distractors. For each claim
the top-1 cosine similarity is recorded (embedded as chunks the way ingest does), and the script prints the
threshold that best separates the two groups, with the rates at a few thresholds.

    .venv/bin/python benchmarks/calibrate_threshold.py
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from ingest.chunk import Chunker
from rag.pipeline import build_pipeline
from rag.settings import load_settings

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "scifact"


def main() -> None:
    corpus = {}
    with (DATA / "corpus.jsonl").open() as fh:
        for line in fh:
            d = json.loads(line)
            corpus[d["_id"]] = f"{d['title']}. {d['text']}"
    queries = {}
    with (DATA / "queries.jsonl").open() as fh:
        for line in fh:
            q = json.loads(line)
            queries[q["_id"]] = q["text"]
    qrels: dict[str, set[str]] = {}
    with (DATA / "qrels" / "test.tsv").open() as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels.setdefault(row["query-id"], set()).add(row["corpus-id"])
    ids = sorted(qrels, key=int)
    answerable, unanswerable = ids[::2], ids[1::2]
    cited = {d for q in answerable for d in qrels[q]}
    excluded = {d for q in unanswerable for d in qrels[q]}
    rng = random.Random(0)
    others = rng.sample(sorted(set(corpus) - cited - excluded), 1000)
    docs = sorted(cited - excluded) + others

    pipeline = build_pipeline(load_settings())
    embedder = pipeline.embedder
    chunker = Chunker(embedder.count_tokens, embedder.max_tokens, 200, 30)
    texts = [piece for d in docs for piece in chunker.split(corpus[d])]
    print(
        f"{len(answerable)} answerable and {len(unanswerable)} unanswerable claims; "
        f"{len(docs)} abstracts, {len(texts)} chunks indexed"
    )
    import numpy as np

    matrix = np.array(embedder.embed(texts))

    def top1(qids: list[str]) -> np.ndarray:
        q = np.array(embedder.embed([queries[i] for i in qids]))
        return (q @ matrix.T).max(axis=1)

    pos, neg = top1(answerable), top1(unanswerable)
    best = max(
        (float(t) for t in np.arange(0.0, 0.9, 0.01)),
        key=lambda t: ((pos >= t).mean() + (neg < t).mean()) / 2,
    )
    print(f"top-1 similarity: answerable median {np.median(pos):.3f}, unanswerable median {np.median(neg):.3f}")
    for t in sorted({0.1, 0.2, 0.3, 0.4, 0.5, round(best, 2)}):
        print(
            f"threshold {t:.2f}: answerable kept {(pos >= t).mean():.1%}, unanswerable refused {(neg < t).mean():.1%}"
        )
    print(f"best balanced threshold: {best:.2f}")


if __name__ == "__main__":
    main()
