"""Ingest speed: `ragqa ingest` against the naive LangChain tutorial pipeline, in one run, same files.

The naive pipeline is the tutorial's: PyPDFLoader per file, RecursiveCharacterTextSplitter(1000, 200),
HuggingFaceEmbeddings (sentence-transformers, same all-MiniLM-L6-v2 folder), Chroma.from_documents. It crashes
on the 2023 Q1 and Q2 MSFT filings (pypdf LimitReachedError), so both sides get the other 18 filings.
Each side runs in a fresh subprocess into a fresh index; wall time of the whole subprocess is reported.

    .venv/bin/python benchmarks/ingest_vs_naive.py [DOCS_DIR]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = (
    Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "../shared/datasets/sec-10q/docs"
)
SKIP = {"2023 Q1 MSFT.pdf", "2023 Q2 MSFT.pdf"}

NAIVE = r"""
import sys, time, os
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
print("naive chunks", len(splits))
"""

OURS = r"""
import sys
from pathlib import Path
from ingest.index import Indexer
from rag.pipeline import build_pipeline
from rag.settings import load_settings
files, index = sys.argv[1:-1], sys.argv[-1]
settings = load_settings(index_dir=index)
p = build_pipeline(settings)
report = Indexer(p).ingest([Path(f) for f in files])
print("ragqa chunks", report.chunks_added, "failed", report.files_failed)
"""


def run(code: str, files: list[str], index: str) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *files, index], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed:\n{proc.stderr[-2000:]}")
    print(proc.stdout.strip().splitlines()[-1], f"in {seconds:.1f} s", flush=True)
    return seconds


def main() -> None:
    files = sorted(str(p) for p in DOCS.glob("*.pdf") if p.name not in SKIP)
    print(f"{len(files)} filings from {DOCS}")
    with tempfile.TemporaryDirectory() as tmp:
        naive = run(NAIVE, files, str(Path(tmp, "naive")))
        ours = run(OURS, files, str(Path(tmp, "ours")))
    print(f"naive {naive:.1f} s | ragqa {ours:.1f} s | ragqa/naive = {ours / naive:.2f}")


if __name__ == "__main__":
    main()
