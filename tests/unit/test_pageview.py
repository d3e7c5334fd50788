"""The cited passage where it stands (ingest.pageview, ingest.upload.view_passage, rag.sessions): found by its
words despite different spacing and repeated table headings, drawn on its PDF page, shown in its text."""

from __future__ import annotations

import io

import pytest

from ingest.chunk import Chunker
from ingest.pageview import in_context, locate, render_page
from ingest.upload import UploadLimits, index_upload, view_passage
from rag.errors import DocumentLoadError
from rag.fakes import HashingEmbedder
from rag.sessions import UploadSessions
from tests.conftest import SAMPLE
from tests.fixtures.make_pdf import pdf_bytes

PAGE = (
    "Travel rules. Economy class is required for flights under six hours. "
    "Hotels may cost at most EUR 180 per night in London and EUR 140 elsewhere. "
    "Meals are paid up to EUR 60 a day. Taxis need a receipt."
)


def test_a_passage_is_found_by_its_words_not_its_spacing():
    passage = "Policy card line | expense.pdf\nHotels  may cost at most\nEUR 180 per night in London and EUR 140"
    start, end = locate(PAGE, passage)
    assert PAGE[start:end] == "Hotels may cost at most EUR 180 per night in London and EUR 140"
    assert locate(PAGE, "Parking is free on weekends for visitors.") is None
    assert locate("", "anything") is None and locate(PAGE, "") is None


def test_the_densest_stretch_wins_over_a_heading_repeated_elsewhere():
    text = "Three Months Ended June. " + "filler word " * 30 + "Net sales Three Months Ended July 81,797 iPhone 39,669."
    start, end = locate(
        text, "Columns: Three Months Ended July\nNet sales Three Months Ended July 81,797 iPhone 39,669"
    )
    assert text[start:end] == "Net sales Three Months Ended July 81,797 iPhone 39,669"


def test_chinese_is_found_character_by_character():
    text = "第一章 总则。员工每周最多可以远程办公三天，需提前申请。第二章 其他。"
    start, end = locate(text, "员工每周最多可以远程办公三天")
    assert text[start:end] == "员工每周最多可以远程办公三天"


def test_a_passage_in_context_has_the_text_around_it_cut_at_words():
    text = "alpha beta gamma " * 100 + PAGE + " omega psi chi" * 100
    context = in_context(text, "Meals are paid up to EUR 60 a day", around=50)
    assert context is not None and context.passage == "Meals are paid up to EUR 60 a day"
    assert context.before.startswith("…") and context.after.endswith("…")
    assert text.index(context.passage) > 0 and context.before[1:] in text and context.after[:-1] in text
    assert in_context(text, "nothing of this is there at all") is None


def test_a_pdf_page_is_drawn_with_the_passage_marked():
    from PIL import Image

    data = pdf_bytes(["Cover page.", PAGE])
    view = render_page(data, 2, "Hotels may cost at most EUR 180 per night in London")
    assert view.marks >= 1 and not view.ocr
    image = Image.open(io.BytesIO(view.png)).convert("RGB")
    assert image.size == (850, 1100)  # a letter page at 100 dpi
    yellow = sum(1 for r, g, b in image.getdata() if r > 200 and g > 180 and b < 150)
    assert yellow > 500, "the mark is drawn"
    plain = render_page(data, 2, "Parking is free on weekends for visitors.")
    assert plain.marks == 0 and plain.png != view.png
    with pytest.raises(ValueError, match="has 2 pages, not a page 3"):
        render_page(data, 3, "x")


def test_view_passage_draws_pdf_pages_in_a_worker_and_shows_text_files_in_context():
    limits = UploadLimits(parse_seconds=60)
    view = view_passage("policy.pdf", pdf_bytes([PAGE]), 1, "Meals are paid up to EUR 60 a day", limits)
    assert view.marks >= 1
    context = view_passage("notes.md", ("# Notes\n\n" + PAGE).encode(), None, "Taxis need a receipt", limits)
    assert context.passage == "Taxis need a receipt" and context.before.endswith("EUR 60 a day. ")
    with pytest.raises(DocumentLoadError, match="page 1"):
        view_passage("broken.pdf", b"%PDF-1.4 not really", 1, "x", limits)


def test_a_session_keeps_its_uploads_bytes_for_the_page_view_within_a_limit():
    embedder = HashingEmbedder()
    sessions = UploadSessions(embedder.name, lambda: embedder.dim, ttl_seconds=60, keep_bytes=150_000)
    data = (SAMPLE / "expense-policy.pdf").read_bytes()
    chunker = Chunker(embedder.count_tokens, 256, 200, 30)
    uploaded = index_upload("policy.pdf", data, sessions.store("a"), embedder, chunker, UploadLimits())
    assert uploaded.source.startswith("upload/") and uploaded.source.endswith("/policy.pdf")
    sessions.add_file("a", "policy.pdf", uploaded.state(), uploaded.source, data)
    sessions.add_file("a", "big.pdf", "ready, 1 chunk", "upload/x/big.pdf", b"x" * 150_000)  # over the limit
    sessions.add_file("a", "scan.pdf", "not indexed: OCR read no text")
    assert [(u.name, u.ready) for u in sessions.files("a")] == [
        ("policy.pdf", True),
        ("big.pdf", True),
        ("scan.pdf", False),
    ]
    assert sessions.document("a", uploaded.source) == data
    assert sessions.document("a", "upload/x/big.pdf") is None, "not kept: the session's limit"
    assert sessions.document("b", uploaded.source) is None, "another session's upload"
    sessions.close("a")
    assert sessions.document("a", uploaded.source) is None
