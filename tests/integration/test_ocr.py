"""OCR with the real engine (RapidOCR's bundled PP-OCRv4 models): generated scanned pages read back, image
files, and the parser pool's per-page reading."""

from __future__ import annotations

import difflib
import io
import os
import re
from pathlib import Path

import pytest

from ingest.load import load_document
from ingest.workers import ParseLimits, parser_pool
from rag.errors import DocumentLoadError
from tests.fixtures.make_scan import CJK_FONT, FONT, font_for, scanned_page

pytestmark = pytest.mark.slow

TEXT = [
    "Brightwater Analytics scanned travel policy, page one.",
    "Hotels are reimbursed up to EUR 220 per night in London.",
    "Claims older than 90 days are not reimbursed.",
    "Lost laptops must be reported within one hour.",
]


ZH = ["远程办公指南（扫描件）", "员工每周最多可以远程办公三天。", "远程办公须提前一天在系统中申请。"]


def scanned(lines: list[str], fmt: str) -> bytes:
    data = scanned_page(lines, fmt)
    if data is None and font_for(lines) == CJK_FONT:
        reason = f"{CJK_FONT} is absent: the test draws its Chinese page with Noto Sans CJK (`make test` gets it)"
        if os.environ.get("TEST_CJK_FONT"):
            pytest.fail(reason)
        pytest.skip(reason)
    if data is None:
        pytest.skip(f"{FONT} is absent: the test draws its page with DejaVu Sans")
    return data


def similarity(read: str, expected: str) -> float:
    """Share of characters read right, spaces ignored (the recogniser sometimes drops them)."""
    squash = lambda s: re.sub(r"\s+", "", s)  # noqa: E731
    return difflib.SequenceMatcher(None, squash(read), squash(expected)).ratio()


def test_a_scanned_pdf_page_is_read_back():
    data = scanned(TEXT, "PDF")
    with pytest.raises(DocumentLoadError, match="no text layer"):
        load_document(Path("scan.pdf"), data)  # OCR off: refused with the reason
    [pending] = load_document(Path("scan.pdf"), data, ocr=True)
    assert pending.ocr and pending.text == "" and pending.page == 1  # marked for the pool to read
    limits = ParseLimits(120, 4096, ocr_pages=5, ocr_seconds=120)
    [page] = parser_pool(1, 4096).parse("scan.pdf", data, limits)
    assert page.ocr and page.page == 1
    assert similarity(page.text, "\n".join(TEXT)) >= 0.95, page.text
    assert page.text.splitlines()[1].startswith("Hotels")  # lines in reading order


def test_a_chinese_scanned_page_is_read_back_searchable_and_marked():
    from ingest.pageview import render_page
    from rag.keyword import KeywordIndex

    data = scanned(ZH, "PDF")
    limits = ParseLimits(120, 4096, ocr_pages=5, ocr_seconds=120)
    [page] = parser_pool(1, 4096).parse("zh-scan.pdf", data, limits)
    assert page.ocr and similarity(page.text, "\n".join(ZH)) >= 0.95, page.text
    index = KeywordIndex(None, "zh")
    index.replace_source("zh-scan.pdf", [("zh0", page.text), ("en0", "Parking rules for visitors.")], None)
    assert [i for i, _ in index.search("每周可以远程办公几天？", 2)] == ["zh0"], "searchable by a Chinese question"
    assert render_page(data, 1, "员工每周最多可以远程办公三天。").marks == 1


def two_scanned_pages() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for lines in (TEXT[:2], TEXT[2:]):
        writer.add_page(PdfReader(io.BytesIO(scanned(lines, "PDF"))).pages[0])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_progress_counts_the_pages_read_by_ocr(fake_settings, tmp_path):
    """Ingest (CLI and nightly job) and uploads say which page of a scanned file OCR is on."""
    from ingest.chunk import Chunker
    from ingest.index import Indexer
    from ingest.upload import UploadLimits, index_upload
    from rag.fakes import HashingEmbedder
    from rag.pipeline import build_pipeline
    from rag.sessions import UploadSessions

    data = two_scanned_pages()
    pages: list[tuple[int, int]] = []
    limits = ParseLimits(120, 4096, ocr_pages=5, ocr_seconds=120)
    read = parser_pool(1, 4096).parse("scan.pdf", data, limits, on_ocr_page=lambda *p: pages.append(p))
    assert [p.page for p in read] == [1, 2] and pages == [(0, 2), (1, 2), (2, 2)]

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "scan.pdf").write_bytes(data)
    (folder / "notes.txt").write_text("Hotels in Paris cost up to EUR 180 per night.\n" * 5)
    told: list[tuple[int, int, str]] = []
    embedder = HashingEmbedder()
    report = Indexer(build_pipeline(fake_settings, embedder=embedder)).ingest(
        [folder], on_progress=lambda *a: told.append(a)
    )
    assert report.files_indexed == 2, report.files_failed
    labels = [label for _, _, label in told]
    assert labels.index("scan.pdf: reading 2 pages by OCR") < labels.index("scan.pdf: OCR read 1 of 2 pages")
    assert labels.index("scan.pdf: OCR read 1 of 2 pages") < labels.index("scan.pdf: OCR read 2 of 2 pages")
    assert all(done <= 2 and total == 2 for done, total, _ in told) and told[-1][0] == 2

    shown: list[tuple[float, str]] = []
    sessions = UploadSessions(embedder.name, lambda: embedder.dim, ttl_seconds=60)
    chunker = Chunker(embedder.count_tokens, 256, 200, 30)
    upload_limits = UploadLimits(max_bytes=10_000_000, max_pages=5, parse_seconds=60)
    uploaded = index_upload(
        "scan.pdf", data, sessions.store("s"), embedder, chunker, upload_limits, on_progress=lambda *a: shown.append(a)
    )
    assert uploaded.ocr_pages == 2
    ocr = [text for _, text in shown if "OCR" in text]
    assert ocr == [
        "scan.pdf: reading 2 pages by OCR",
        "scan.pdf: OCR read 1 of 2 pages",
        "scan.pdf: OCR read 2 of 2 pages",
    ]
    assert [f for f, _ in shown] == sorted(f for f, _ in shown)  # the bar only moves forward


def test_image_files_are_read_and_checked_by_content():
    png = scanned(TEXT[:2], "PNG")
    [page] = load_document(Path("scan.png"), png, ocr=True)
    assert page.ocr and page.page is None and similarity(page.text, "\n".join(TEXT[:2])) >= 0.95
    with pytest.raises(DocumentLoadError, match="OCR, which is off"):
        load_document(Path("scan.png"), png)
    with pytest.raises(DocumentLoadError, match="not an image"):
        load_document(Path("scan.jpg"), b"just text", ocr=True)


def test_a_page_past_its_time_limit_is_left_out_and_the_file_fails_with_the_reason():
    data = scanned(TEXT, "PDF")
    limits = ParseLimits(120, 4096, ocr_pages=5, ocr_seconds=0.01)
    with pytest.raises(DocumentLoadError, match=r"OCR read no text \(page 1: took longer than 0.01 s\)"):
        parser_pool(1, 4096).parse("scan.pdf", data, limits)


def test_the_ocr_benchmark_prints_seconds_per_page(tmp_path):
    from tests.conftest import run_benchmark

    scan = tmp_path / "scan.pdf"
    scan.write_bytes(scanned(TEXT[:1], "PDF"))
    header, row, summary = run_benchmark("ocr_speed.py", str(scan)).strip().splitlines()
    assert header.split() == ["file", "page", "chars", "seconds"]
    assert row.split()[1] == "1" and int(row.split()[2]) > 30 and float(row.split()[3]) > 0
    assert summary.startswith("1 pages: median ")


def test_a_scanned_page_is_drawn_with_the_cited_lines_marked_from_the_ocr_boxes():
    from PIL import Image

    from ingest.pageview import render_page

    data = scanned(TEXT, "PDF")
    passage = (
        "quarterly memo | scan.pdf\nHotels are reimbursed up to EUR 220 per night in London.\nClaims older than 90"
    )
    view = render_page(data, 1, passage)
    assert view.ocr and view.marks == 2, "the two lines of the passage, not the others"
    image = Image.open(io.BytesIO(view.png)).convert("RGB")
    assert image.size == (850, 1100), "shown at the page view's 100 dpi, read at OCR's 150"
    marked_rows = {y for y in range(image.height) if any(_yellow(image.getpixel((x, y))) for x in range(80, 400, 4))}
    # the scan's lines are drawn 70 px apart from y = 150 at 150 dpi: lines 2 and 3 are at 220 and 290 there
    assert marked_rows and min(marked_rows) > 220 * 100 / 150 - 10 and max(marked_rows) < 290 * 100 / 150 + 40
    assert render_page(data, 1, "Nothing of this stands on the page at all.").marks == 0


def _yellow(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return r > 200 and g > 170 and b < 160


def test_an_image_files_cited_passage_is_shown_in_the_text_ocr_reads():
    from ingest.upload import UploadLimits, view_passage

    png = scanned(TEXT, "PNG")
    [page] = load_document(Path("scan.png"), png, ocr=True)
    line = page.text.splitlines()[2]  # what the index holds: the text as OCR read it ("Claims ... 9o days")
    context = view_passage("scan.png", png, None, line, UploadLimits(parse_seconds=120))
    assert context is not None and context.passage == line
    assert context.before.endswith("London.\n") and context.after.startswith("\nLost laptops")
