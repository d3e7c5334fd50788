"""Ingest speed: `ragqa ingest` against the naive LangChain tutorial pipeline, in one run; then a folder of
many small files against the filings' chunks per second.

The naive pipeline is the tutorial's: PyPDFLoader per file, RecursiveCharacterTextSplitter(1000, 200),
HuggingFaceEmbeddings (sentence-transformers, same all-MiniLM-L6-v2 folder), Chroma.from_documents. It crashes
on the 2023 Q1 and Q2 MSFT filings (pypdf LimitReachedError), so it gets the other 18 filings; ragqa gets all
of them (the issue's measure: naive seconds on 18 / ragqa seconds on 20). Each side runs in a fresh subprocess
into a fresh index; wall time and peak memory (the process and its parser processes) are reported.

Small files: the first N SciFact abstracts (default all 5,183) written as one .txt file each, ingested the
same way; their chunks per second against the filings'.

    .venv/bin/python benchmarks/ingest_vs_naive.py [DOCS_DIR] [SMALL_FILES]
    (DOCS_DIR defaults to ../shared/datasets/sec-10q/docs; SMALL_FILES 0 skips the second part)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DOCS = Path(sys.argv[1]) if len(sys.argv) > 1 else SHARED / "sec-10q" / "docs"
SMALL = int(sys.argv[2]) if len(sys.argv) > 2 else 5183
SCIFACT = SHARED / "scifact" / "corpus.jsonl"
SKIP = {"2023 Q1 MSFT.pdf", "2023 Q2 MSFT.pdf"}

NAIVE = r"""
import sys, time, os, resource
from pathlib import Path
os.environ["HF_HUB_OFFLINE"] = "1"
from langchain_community.document_loaders import PyPDFLoader
from langchain_community.embeddings import HuggingFaceEmbeddings
from langchain_text_splitters import RecursiveCharacterTextSplitter
from langchain_chroma import Chroma
from rag.models import resolve
from rag.settings import load_settings
files, index = sys.argv[1:-1], sys.argv[-1]
model = resolve("all-minilm-l6-v2", load_settings().models_dir)
docs = [d for f in files for d in PyPDFLoader(f).load()]
splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
emb = HuggingFaceEmbeddings(model_name=str(model))
Chroma.from_documents(splits, emb, persist_directory=index)
peak = max(resource.getrusage(r).ru_maxrss for r in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print("naive", len(files), "files", len(splits), "chunks", "peak_mb", peak // 1024)
"""

OURS = r"""
import resource, sys
from pathlib import Path
from ingest.index import Indexer
from rag.pipeline import build_pipeline
from rag.settings import load_settings
files, index = sys.argv[1:-1], sys.argv[-1]
settings = load_settings(index_dir=index)
p = build_pipeline(settings)
report = Indexer(p).ingest([Path(f) for f in files])
peak = max(resource.getrusage(r).ru_maxrss for r in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print("ragqa", report.files_indexed, "files", report.chunks_added, "chunks", "peak_mb", peak // 1024)
for failed in report.files_failed:
    print("failed", failed["path"], failed["error"], file=sys.stderr)
"""


def run(code: str, files: list[str], index: str) -> tuple[float, dict[str, int]]:
    """Seconds of the whole subprocess, and what it printed last: files, chunks, peak_mb."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *files, index], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed:\n{proc.stderr[-2000:]}")
    last = proc.stdout.strip().splitlines()[-1].split()
    print(" ".join(last), f"in {seconds:.1f} s", flush=True)
    return seconds, {last[i + 1]: int(last[i]) for i in (1, 3)} | {"peak_mb": int(last[-1])}


def small_files(folder: Path, n: int) -> int:
    """The first `n` SciFact abstracts as .txt files in `folder`; how many were written."""
    import json

    written = 0
    with SCIFACT.open(encoding="utf-8") as f:
        for line in f:
            if written >= n:
                break
            doc = json.loads(line)
            (folder / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}\n", encoding="utf-8")
            written += 1
    return written


def main() -> None:
    every = sorted(str(p) for p in DOCS.glob("*.pdf"))
    files = [f for f in every if Path(f).name not in SKIP]
    print(f"{len(every)} filings from {DOCS}; the naive pipeline gets {len(files)}")
    with tempfile.TemporaryDirectory() as tmp:
        naive, _ = run(NAIVE, files, str(Path(tmp, "naive")))
        ours, got = run(OURS, every, str(Path(tmp, "ours")))
        print(
            f"naive ({len(files)} files) {naive:.1f} s | ragqa ({got['files']} of {len(every)} files) {ours:.1f} s"
            f" | naive/ragqa = {naive / ours:.2f} (goal >= 3.0) | ragqa peak RSS {got['peak_mb']} MB (goal <= 1536)"
        )
        if SMALL <= 0 or not SCIFACT.exists():
            return
        folder = Path(tmp, "small")
        folder.mkdir()
        count = small_files(folder, SMALL)
        small, few = run(OURS, [str(folder)], str(Path(tmp, "small-index")))
        long_rate, small_rate = got["chunks"] / ours, few["chunks"] / small
        print(
            f"filings {long_rate:.1f} chunks/s | {count} small files {small_rate:.1f} chunks/s"
            f" ({few['chunks']} chunks in {small:.1f} s) | small/filings = {small_rate / long_rate:.2f} (goal >= 0.80)"
        )


if __name__ == "__main__":
    main()
