"""OCR with the real engine (RapidOCR's bundled PP-OCRv4 models): generated scanned pages read back, image
files, and the parser pool's per-page reading."""

from __future__ import annotations

import difflib
import io
import re
from pathlib import Path

import pytest

from ingest.load import load_document
from ingest.workers import ParseLimits, parser_pool
from rag.errors import DocumentLoadError

pytestmark = pytest.mark.slow

TEXT = [
    "Brightwater Analytics scanned travel policy, page one.",
    "Hotels are reimbursed up to EUR 220 per night in London.",
    "Claims older than 90 days are not reimbursed.",
    "Lost laptops must be reported within one hour.",
]
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def scanned(lines: list[str], fmt: str) -> bytes:
    """A page image of `lines` (black on white, 150 dpi, a little noise like a scanner's), saved as `fmt`:
    "PDF" wraps it in a PDF with no text layer."""
    from PIL import Image, ImageDraw, ImageFont

    if not FONT.exists():
        pytest.skip(f"{FONT} is absent: the test draws its page with DejaVu Sans")
    image = Image.new("L", (1275, 1650), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), 30)
    for i, line in enumerate(lines):
        draw.text((100, 150 + 70 * i), line, fill=0, font=font)
    for x in range(0, 1275, 97):  # scanner specks
        draw.point((x, (x * 31) % 1650), fill=90)
    out = io.BytesIO()
    image.save(out, fmt, resolution=150)
    return out.getvalue()


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
