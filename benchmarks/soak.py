"""Soak: 8 simulated chat sessions ask questions for a bounded time while `ragqa reindex` of the 20 sec-10q
filings runs in another process on the same index. Prints requests, errors, p50/p95 latency (whole answer) and
how many re-index writes the sessions lived through, and the serving process's peak memory.

Each session is a thread with its own conversation (a follow-up every third question) over one shared
pipeline, as the app's sessions are; the LLM serves them through its queue. The index is built from the first
10 filings, then the re-index mirrors all 20 (adding ten), so the sessions see the index change under them.

    .venv/bin/python benchmarks/soak.py [MINUTES] [SESSIONS]     # RAGQA_MODE=fake: no models, fast
"""

from __future__ import annotations

import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ingest.reindex import reindex
from rag.pipeline import build_pipeline
from rag.records import IndexGeneration
from rag.settings import load_settings

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "sec-10q"


def main() -> None:
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    sessions = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    with (DATA / "qna_data.csv").open(encoding="utf-8-sig") as fh:
        questions = [row["Question"] for row in csv.DictReader(fh)]
    with tempfile.TemporaryDirectory() as tmp:
        src, index = Path(tmp) / "docs", Path(tmp) / "index"
        src.mkdir()
        filings = sorted((DATA / "docs").glob("*.pdf"))
        for f in filings[:10]:
            shutil.copy(f, src / f.name)
        settings = load_settings(index_dir=index)
        reindex(build_pipeline(settings), [src])
        for f in filings[10:]:
            shutil.copy(f, src / f.name)
        pipeline = build_pipeline(settings)
        pipeline.warm_up()
        before = IndexGeneration(index).current()
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        writer = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "reindex", str(src), "--index", str(index)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        deadline = time.monotonic() + minutes * 60

        def session(n: int) -> None:
            history = []
            i = n
            while time.monotonic() < deadline:
                question = questions[i % len(questions)] if i % 3 else "And in the quarter before?"
                i += sessions
                started = time.perf_counter()
                try:
                    stream = pipeline.answerer.ask(question, history=history[-2:])
                    stream.consume()
                    history.append(stream.turn())
                    with lock:
                        latencies.append(time.perf_counter() - started)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=session, args=(n,)) for n in range(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        writer_rc = writer.wait()
        writes = IndexGeneration(index).current() - before
    lat = sorted(latencies)
    p95 = lat[max(0, int(len(lat) * 0.95) - 1)] if lat else float("nan")
    print(f"{sessions} sessions, {minutes:g} min, re-index exit {writer_rc}, {writes} index writes during the run")
    print(f"requests {len(lat) + len(errors)}, errors {len(errors)}")
    if lat:
        print(f"latency p50 {statistics.median(lat):.2f} s, p95 {p95:.2f} s, max {lat[-1]:.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the serving process {peak:.0f} MB")
    for e in errors[:5]:
        print("  error:", e)


if __name__ == "__main__":
    main()
