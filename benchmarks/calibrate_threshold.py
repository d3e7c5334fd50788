"""Calibrate `retrieve.min_score`, the cosine similarity below which ragqa answers "not in the documents".

Data: SciFact test claims (../shared/datasets/scifact). The 300 test claims are split in two halves by id.
The indexed corpus holds the cited abstracts of the first half plus 1,000 other abstracts; the second half's
cited abstracts are left out. So every claim of the first half has its evidence in the index ("answerable"),
every claim of the second half has none but faces close neighbours ("near misses"), and the 195 questions of
../shared/datasets/sec-10q/qna_data.csv ask about something else entirely ("off-topic"). For each question the
top-1 cosine similarity is recorded (chunks embedded the way ingest does).

The threshold is for "nothing relevant was found"; near misses are left to the model, whose prompt tells it to
say so. So the rule is: the highest threshold that still keeps 98 % of answerable questions; the script prints
what it then refuses of the near misses and of the off-topic questions.

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
        q = np.array([embedder.embed_query(queries[i]) for i in qids])
        return (q @ matrix.T).max(axis=1)

    with (DATA.parent / "sec-10q" / "qna_data.csv").open(encoding="utf-8-sig") as fh:
        off_topic = [row["Question"] for row in csv.DictReader(fh)]
    queries.update({f"sec{i}": q for i, q in enumerate(off_topic)})

    pos, neg, off = top1(answerable), top1(unanswerable), top1([f"sec{i}" for i in range(len(off_topic))])
    print(
        f"top-1 similarity, median: answerable {np.median(pos):.3f}, near misses {np.median(neg):.3f}, "
        f"off-topic {np.median(off):.3f}"
    )
    chosen = max(float(t) for t in np.arange(0.0, 0.9, 0.01) if (pos >= t).mean() >= 0.98)
    for t in sorted({0.1, 0.2, 0.3, 0.4, 0.5, round(chosen, 2)}):
        print(
            f"threshold {t:.2f}: answerable kept {(pos >= t).mean():.1%}, near misses refused "
            f"{(neg < t).mean():.1%}, off-topic refused {(off < t).mean():.1%}"
        )
    print(f"chosen threshold (keeps >= 98 % of answerable): {chosen:.2f}")


if __name__ == "__main__":
    main()
