"""Search latency at 10k and 100k chunks: the whole retrieval of a question (question embedding, dense search
in Chroma's HNSW index, BM25 in the keyword index, fusion and scoping) timed over 200 questions, p50 and p95.

The chunks are synthetic (text drawn from a Zipf-distributed vocabulary of 20,000 words, 60 words a chunk,
100 chunks a document) and embedded by the hashing embedder, so building 100k takes minutes, not hours: what
is timed is the search, not the model (a real question embedding adds about 10 ms with MiniLM on 2 cores).
The HNSW settings are the configured ones (`retrieve.hnsw_*`).

    .venv/bin/python benchmarks/search_latency.py [SIZES...]      # default: 10000 100000
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rag.pipeline import build_pipeline
from rag.settings import load_settings
from rag.types import Chunk

VOCABULARY = 20_000
PER_CHUNK = 60
PER_DOCUMENT = 100


def word(n: int) -> str:
    """The n-th word of the vocabulary, in letters only (the keyword index splits letters from digits: "w12x3"
    would be four tokens, two of them in every chunk)."""
    letters = ""
    while True:
        n, rest = divmod(n, 26)
        letters += "abcdefghijklmnopqrstuvwxyz"[rest]
        if n == 0:
            return "q" + letters


def words(rng: random.Random, n: int) -> list[str]:
    """`n` words drawn Zipf-like: a few common, most rare, as in real text."""
    return [word(min(int(rng.paretovariate(1.1)), VOCABULARY) * 7 + rng.randrange(7)) for _ in range(n)]


def build(index: Path, size: int, rng: random.Random) -> object:
    pipeline = build_pipeline(load_settings(environ={}, mode="fake", index_dir=index))
    store, embedder = pipeline.store, pipeline.embedder
    for doc in range(0, size, PER_DOCUMENT):
        source = f"/synthetic/doc{doc // PER_DOCUMENT:05d}.md"
        chunks = [
            Chunk(f"{source}:{i}", " ".join(words(rng, PER_CHUNK)), source, None, i, f"h{doc}-{i}", f"d{doc}")
            for i in range(min(PER_DOCUMENT, size - doc))
        ]
        store.replace_source(source, chunks, embedder)
    return pipeline


def measure(size: int, queries: int = 200) -> tuple[float, float, float]:
    rng = random.Random(size)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        pipeline = build(Path(tmp) / "index", size, rng)
        built = time.perf_counter() - started
        answerer = pipeline.answerer  # type: ignore[attr-defined]
        questions = [" ".join(words(rng, 8)) for _ in range(queries)]
        answerer.retrieve(questions[0])  # first call opens the index
        times = []
        for question in questions:
            t = time.perf_counter()
            answerer.retrieve(question)
            times.append(time.perf_counter() - t)
    times.sort()
    return built, statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    print(f"{'chunks':>8} {'build s':>8} {'p50 ms':>8} {'p95 ms':>8}   (goal: p95 <= 100 ms at 100k)")
    for size in sizes:
        built, p50, p95 = measure(size)
        print(f"{size:>8} {built:>8.1f} {p50 * 1000:>8.1f} {p95 * 1000:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
