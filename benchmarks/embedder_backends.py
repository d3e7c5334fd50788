"""Retrieval quality and speed of the embedder's backends in one run: int8 ONNX (the default) against torch
fp32, same model (all-MiniLM-L6-v2), same data set, same retrieval.

For each backend, `ragqa eval retrieval --beir DIR --json` indexes the corpus into its own temporary folder and
scores the test queries; the whole command is timed (indexing is most of it). The int8 backend is the default
only while its nDCG@10 is within 0.005 of fp32's.

    .venv/bin/python benchmarks/embedder_backends.py [BEIR_DIR] [LIMIT]
    (BEIR_DIR defaults to ../shared/datasets/scifact; LIMIT scores only the first LIMIT queries)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEIR = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "datasets" / "scifact"
LIMIT = sys.argv[2] if len(sys.argv) > 2 else None
BACKENDS = ("onnx-int8", "torch")


def evaluate(backend: str, index: Path) -> tuple[dict[str, float], float]:
    cmd = [str(Path(sys.executable).with_name("ragqa")), "eval", "retrieval", "--beir", str(BEIR)]
    cmd += ["--index", str(index), "--json", *(["--limit", LIMIT] if LIMIT else [])]
    env = {**os.environ, "RAGQA_EMBEDDER__BACKEND": backend}
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{backend}: {' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), seconds


def main() -> None:
    if not (BEIR / "corpus.jsonl").exists():
        sys.exit(f"{BEIR} holds no corpus.jsonl: this benchmark needs a BEIR folder (../shared/datasets/scifact)")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in BACKENDS:
            results[backend] = evaluate(backend, Path(tmp, backend))
            print(f"{backend} done in {results[backend][1]:.0f} s", flush=True)
    queries = results[BACKENDS[0]][0]["queries"]
    print(f"\n{BEIR.name}: {queries} queries; whole command (indexing + queries) timed")
    print(f"{'backend':>10} {'nDCG@10':>8} {'recall@10':>9} {'recall@100':>10} {'MRR@10':>7} {'seconds':>8}")
    for backend, (m, seconds) in results.items():
        print(
            f"{backend:>10} {m['ndcg@10']:>8.4f} {m['recall@10']:>9.4f} {m['recall@100']:>10.4f} "
            f"{m['mrr@10']:>7.4f} {seconds:>8.0f}"
        )
    (int8, int8_s), (fp32, fp32_s) = (results[b] for b in BACKENDS)
    difference = fp32["ndcg@10"] - int8["ndcg@10"]
    print(f"nDCG@10 fp32 - int8 = {difference:+.4f} (goal <= 0.005); time int8/fp32 = {int8_s / fp32_s:.2f}")


if __name__ == "__main__":
    main()
