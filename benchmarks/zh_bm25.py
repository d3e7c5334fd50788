"""Chinese retrieval, side by side: plain BM25 over character bigrams vs ragqa's default retrieval.

Both run on the same BEIR-format folder (default: tests/fixtures/zh-retrieval, 40 questions; the larger
tests/fixtures/zh-rust-retrieval has 80 over 373 passages) in one run. A question counts at
1 when a relevant passage is ranked first, at 4 when one is among the first four passages. The baseline is the
usual thirty lines (Okapi BM25, k1 = 1.2, b = 0.75, character bigrams of the CJK runs, words otherwise); ragqa
is the product as configured (`load_settings()`: real models unless RAGQA_MODE=fake), indexed into a temporary
folder, asked for 4 chunks as an answer would be (a passage from the other language takes the k-th place, so
asking for 20 would hide it at the 20th).

    .venv/bin/python benchmarks/zh_bm25.py [BEIR_DIR] [--embedder NAME ...]

With tests/fixtures/mixed-retrieval (Chinese and English passages; question ids say the languages: "zz-"
Chinese to Chinese, "ez-" English to Chinese, "ze-" Chinese to English) the table has a column per direction;
`--embedder all-minilm-l6-v2+none --embedder all-minilm-l6-v2 --embedder multilingual-e5-small+none` runs
MiniLM alone, MiniLM with the multilingual vectors for CJK chunks (the default), and E5 for every chunk.
"""

from __future__ import annotations

import argparse
import math
import re
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


def group(qid: str) -> str:
    """Questions are grouped by an id prefix ("zz-", "ez-", "ze-": question and passage languages), if any."""
    head, sep, _ = qid.partition("-")
    return head if sep and len(head) <= 3 else "all"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("beir", nargs="?", type=Path, default=ROOT / "tests" / "fixtures" / "zh-retrieval")
    parser.add_argument(
        "--embedder",
        action="append",
        metavar="MODEL[+MULTILINGUAL]",
        help=(
            "embedder model to run ragqa with, and after '+' the multilingual embedder for CJK chunks ('none' = "
            "off); repeat to compare (default: the configured ones)"
        ),
    )
    args = parser.parse_args()
    data = load_beir(args.beir)
    corpus = {d: f"{title}\n{text}" for d, (title, text) in data.corpus.items()}
    runs: dict[str, dict[str, list[str]]] = {
        "bm25 bigrams": {q: bm25_ranking(corpus, t) for q, t in data.queries.items()}
    }
    for spec in args.embedder or [""]:
        model, plus, multilingual = spec.partition("+")
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(index_dir=Path(tmp))
            if model:
                settings.embedder.model = model
            if plus:
                settings.embedder.multilingual = None if multilingual == "none" else multilingual
            pipeline = build_pipeline(settings)
            Indexer(pipeline).index_texts([(f"beir:{d}", t, x) for d, (t, x) in data.corpus.items()])
            retriever = pipeline.retriever(pipeline.open_store(create=False))
            runs[f"ragqa {settings.embedder.model}+{settings.embedder.multilingual}"] = {
                q: distinct([h.chunk.source.removeprefix("beir:") for h in retriever.retrieve(t, 4)])
                for q, t in data.queries.items()
            }
    groups = sorted({group(q) for q in data.queries})
    print(f"{len(data.queries)} questions, {len(corpus)} passages ({args.beir}); first / top 4 per group")
    print(
        f"  {'':<46}" + "".join(f"{g + ' (' + str(sum(group(q) == g for q in data.queries)) + ')':>18}" for g in groups)
    )
    tallies: dict[str, dict[str, tuple[int, int]]] = {}
    for name, rankings in runs.items():
        cells = []
        for g in groups:
            qids = [q for q in data.queries if group(q) == g]
            top1 = top4 = 0
            for q in qids:
                relevant = {d for d, grade in data.qrels[q].items() if grade > 0}
                ranking = rankings[q]
                top1 += bool(ranking) and ranking[0] in relevant
                top4 += bool(relevant & set(ranking[:4]))
            tallies.setdefault(name, {})[g] = (top1, top4)
            cells.append(f"{top1 / len(qids):7.1%} / {top4 / len(qids):6.1%}")
        print(f"  {name:<46}" + "".join(f"{c:>18}" for c in cells))
    base = tallies["bm25 bigrams"]
    for name, cells in tallies.items():
        if name == "bm25 bigrams":
            continue
        ratios = ", ".join(
            f"{g} {cells[g][0] / max(1, base[g][0]):.2f} / {cells[g][1] / max(1, base[g][1]):.2f}" for g in groups
        )
        print(f"  ratio {name} / bm25 (first / top 4): {ratios}")


if __name__ == "__main__":
    main()
