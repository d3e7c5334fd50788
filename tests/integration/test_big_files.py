"""Big files ingest completely: a 10 MB plain-text export (60,000 lines) and a generated 2,000-page PDF, each
through a real `ragqa ingest` process into a real Chroma (the hashing embedder: the sizes are under test, not
the model). Every chunk is counted in the collection and the keyword index, and the process's peak RSS is
printed (`pytest -s` shows it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rag.pipeline import build_pipeline
from rag.settings import load_settings
from tests.conftest import ROOT
from tests.fixtures.make_pdf import pdf_bytes

pytestmark = pytest.mark.slow


def ingest(path, index) -> tuple[dict, float]:
    env = {**os.environ, "RAGQA_MODE": "fake", "PYTHONPATH": str(ROOT)}
    script = (
        "import resource, sys\n"
        "from app.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print('peak_rss_mb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "ingest", str(path), "--index", str(index), "--json"],
        env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    peak = float(done.stderr.rsplit("peak_rss_mb", 1)[1].split()[0])
    return json.loads(done.stdout), peak


def stored(index) -> tuple[int, int]:
    store = build_pipeline(load_settings(environ={}, mode="fake", index_dir=index)).open_store(create=False)
    return store.count(), len(store.keywords.ids())


def test_a_10_mb_text_file(tmp_path):
    lines = [
        f"Line {i}: ticket {i * 7} was closed by team {i % 13} after {i % 90} minutes; the customer rated the "
        f"support {i % 5 + 1} of 5 and wrote a comment. " + "detail " * 6
        for i in range(60_000)
    ]
    path = tmp_path / "export.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.stat().st_size > 10_000_000
    report, peak = ingest(path, tmp_path / "index")
    print(f"\n10 MB text: {path.stat().st_size / 1e6:.1f} MB, {report['chunks_added']} chunks, peak RSS {peak:.0f} MB")
    assert report["files_indexed"] == 1 and report["chunks_added"] > 5461  # more than one Chroma write takes
    assert stored(tmp_path / "index") == (report["chunks_added"], report["chunks_added"])


def test_a_2000_page_pdf(tmp_path):
    pages = [f"Page {n} of the manual.\nStep {n}: tighten bolt {n % 40} to {n % 9 + 1}0 Nm." for n in range(1, 2001)]
    path = tmp_path / "manual.pdf"
    path.write_bytes(pdf_bytes(pages))
    report, peak = ingest(path, tmp_path / "index")
    print(f"\n2,000-page PDF: {report['chunks_added']} chunks, peak RSS {peak:.0f} MB")
    assert report["files_indexed"] == 1 and report["chunks_added"] >= 2000
    assert stored(tmp_path / "index") == (report["chunks_added"], report["chunks_added"])
