"""Time to first token of typical sec-10q questions on a warm engine, by the number of chunks in the prompt (k).

Questions: the "Single-Doc Single-Chunk RAG" questions of ../shared/datasets/sec-10q/qna_data.csv whose
reference answer holds a figure such as "$36,413 million" (the first N in file order). For every question and
every k, the LLM gets a fresh prompt cache warmed on the system prompt, as the app does at start, so the time
is that of a question arriving at a running app: retrieval, then the question's own blocks evaluated. Besides
time, it counts how often the reference's first figure (same digits) is in the prompt's blocks and in the
answer: what a smaller k gives up. One run, all k side by side.

    .venv/bin/python benchmarks/ttft.py INDEX_DIR [N] [K[:DEPTH] ...]
    (INDEX_DIR: the 20 filings ingested with `ragqa ingest ../shared/datasets/sec-10q/docs --index INDEX_DIR`;
     N defaults to 20, the k values to 3 2; the first is the reference for the ratios. DEPTH sets
     retrieve.page_depth for that k (the chunks below the k best that share their pages join them); without
     it, the setting's value: `4:0 3` compares four chunks alone with the default three and their companions)
"""

from __future__ import annotations

import csv
import re
import statistics
import sys
from pathlib import Path

from rag.pipeline import build_pipeline
from rag.prompt import warm_up_prompts
from rag.settings import load_settings

QNA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "sec-10q" / "qna_data.csv"
FIGURE = re.compile(r"\$\s?(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)")


def questions(n: int) -> list[tuple[str, str]]:
    """(question, reference figure) pairs."""
    picked = []
    with QNA.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            match = FIGURE.search(row["Answer"])
            if row["Question Type"] == "Single-Doc Single-Chunk RAG" and match:
                picked.append((row["Question"], match.group(1)))
    return picked[:n]


def right(answer: str, figure: str) -> bool:
    digits = figure.replace(",", "")
    return any(d.replace(",", "") == digits for d in re.findall(r"\d[\d,]*(?:\.\d+)?", answer))


def main() -> None:
    if not QNA.exists():
        sys.exit(f"{QNA} is missing: this benchmark needs ../shared/datasets")
    index = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    settings = load_settings(index_dir=index)
    runs = [(int(k), int(d or settings.retrieve.page_depth)) for k, _, d in (a.partition(":") for a in sys.argv[3:])]
    runs = runs or [(3, settings.retrieve.page_depth), (2, settings.retrieve.page_depth)]
    ks = [f"{k}:{d}" for k, d in runs]
    pipeline = build_pipeline(settings)
    gen = pipeline.generator.inner  # the local llama.cpp model: its prompt cache is emptied per question below
    answerer = pipeline.answerer
    pipeline.embedder.embed(["warm-up"])
    results: dict[str, list[tuple[float, int, bool, bool]]] = {k: [] for k in ks}
    for i, (question, figure) in enumerate(questions(n), 1):
        for name, (k, depth) in zip(ks, runs, strict=True):
            answerer.retriever.page_depth = depth
            gen.reset_cache()  # nothing left over
            gen.warm(warm_up_prompts()[0])
            stream = answerer.ask(question, k=k)
            result = stream.consume()
            ttft = result.timings.first_token_s or result.timings.total_s
            tokens = gen.count_tokens(
                [*warm_up_prompts()[0][:1], {"role": "user", "content": stream.user_content or question}]
            )
            ok = right(result.answer, figure)
            shown = any(right(s.text, figure) for s in stream.sources)
            results[name].append((ttft, tokens, ok, shown))
            print(
                f"{i:>2} k={name} {ttft:5.2f} s {tokens:>5} tok  figure {figure} "
                f"in blocks: {'yes' if shown else 'no '} in answer: {'yes' if ok else 'no '}  "
                f"{question[:50]!r} -> {result.answer[:80]!r}"
            )
            sys.stdout.flush()

    base = statistics.median(r[0] for r in results[ks[0]])
    print(f"\n{len(results[ks[0]])} questions, warm engine, system prompt cached; ratio = median / median at k={ks[0]}")
    head = ("k:depth", "median TTFT", "p90 TTFT", "ratio", "prompt tok", "in blocks", "in answer")
    print("{:>7} {:>12} {:>9} {:>6} {:>11} {:>10} {:>10}".format(*head))
    for k in ks:
        times = sorted(r[0] for r in results[k])
        p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
        tokens = statistics.mean(r[1] for r in results[k])
        answered, shown = sum(r[2] for r in results[k]), sum(r[3] for r in results[k])
        med, total = statistics.median(times), len(times)
        print(
            f"{k:>7} {med:>10.2f} s {p90:>7.2f} s {med / base:>6.2f} {tokens:>11.0f} "
            f"{shown:>6}/{total:<3} {answered:>6}/{total:<3}"
        )


if __name__ == "__main__":
    main()
