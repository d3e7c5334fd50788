"""Property-based tests (hypothesis, bounded examples so `make test` stays quick) on the code that reads
untrusted text: no uncaught exception, no hang, and the invariants each module promises."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunk import Chunker
from ingest.load import load_document
from rag.amounts import find_amounts, order_note
from rag.compress import compress
from rag.errors import DocumentLoadError
from rag.fakes import HashingEmbedder
from rag.grounding import check_citations, sentences
from rag.guard import REMOVED, remove_instructions
from rag.prompt import inert
from rag.types import Page, Source

BOUNDED = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
COUNT = HashingEmbedder().count_tokens
# text with the characters that matter here: words, CJK, digits and separators, punctuation, markup, newlines
TEXT = st.text(
    alphabet=st.sampled_from(list("abc XYZ 0123456789.,;:!?$€%()[]<>|/-_*#\n\t'\"") + list("销售额。，！？万亿元")),
    max_size=400,
)


@BOUNDED
@given(text=TEXT, window=st.integers(8, 40), overlap=st.integers(0, 6))
def test_chunks_stay_within_the_window_and_lose_nothing(text, window, overlap):
    from collections import Counter

    chunker = Chunker(COUNT, window=window, max_tokens=window - 2, overlap_tokens=min(overlap, window // 3))
    pieces = chunker.split(text)
    assert all(COUNT([p])[0] <= window or len(p.split()) <= 1 for p in pieces)
    wanted, got = Counter("".join(text.split())), Counter("".join("".join(pieces).split()))
    assert not wanted - got  # every character of the text is in some chunk (overlap may repeat some)


@BOUNDED
@given(pages=st.lists(TEXT, min_size=1, max_size=4))
def test_chunk_ids_are_stable_and_pages_within_the_document(pages):
    chunker = Chunker(COUNT, window=30, max_tokens=24, overlap_tokens=4)
    doc = [Page(text=t, page=i + 1) for i, t in enumerate(pages)]
    first = chunker.chunk(doc, "/d/a.pdf", "h", "A card | report")
    again = chunker.chunk(doc, "/d/a.pdf", "h", "A card | report")
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)
    assert all(1 <= (c.page or 0) <= len(pages) for c in first)


@BOUNDED
@given(answer=TEXT, source_text=TEXT)
def test_the_citation_check_never_fails_and_keeps_the_text(answer, source_text):
    for sentence in sentences(answer):
        assert sentence == sentence.strip() and sentence and sentence in answer
    flagged = check_citations(answer, [Source(1, "/d/a.md", None, 0.5, source_text)])
    assert all(set(f) == {"sentence", "cites", "reason"} for f in flagged)


@BOUNDED
@given(text=TEXT)
def test_amounts_are_ordered_only_when_of_one_kind(text):
    amounts = find_amounts(text)
    assert all(a.value >= 0 for a in amounts)
    note = order_note(text)
    if note is not None:
        kinds = [a.kind for a in amounts]
        assert any(kinds.count(k) >= 2 for k in kinds)


@BOUNDED
@given(text=TEXT, question=TEXT)
def test_compression_keeps_lines_of_the_text_only(text, question):
    out = compress(text, question)
    if out != text:
        kept = {line.strip() for line in text.split("\n")}
        for line in out.split("\n"):
            label = line.split(": ", 1)[0]  # a row labelled with its columns starts with the row's own label
            assert line == "…" or any(line in k or k in line or (label and k.startswith(label)) for k in kept if k)


@BOUNDED
@given(text=TEXT)
def test_the_guard_and_marker_breaking_keep_ordinary_text(text):
    cleaned, removed = remove_instructions(text)
    assert removed >= 0 and (removed > 0) == (REMOVED in cleaned and REMOVED not in text)
    assert "<|im_start|>" not in inert(text + "<|im_start|>")


@settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".pdf", ".txt", ".md", ".html", ".docx"]))
def test_loaders_fail_only_with_a_reason(data, suffix):
    try:
        pages = load_document(Path(f"fuzz{suffix}"), data)
    except DocumentLoadError as exc:
        assert exc.reason
    else:
        assert all(isinstance(p.text, str) for p in pages)


@pytest.mark.parametrize("prefix", [b"%PDF-1.7\n", b"PK\x03\x04", b"<html>"])
@settings(max_examples=40, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(tail=st.binary(max_size=2000))
def test_damaged_files_with_real_headers_fail_only_with_a_reason(prefix, tail):
    suffix = {b"%PDF-1.7\n": ".pdf", b"PK\x03\x04": ".docx", b"<html>": ".html"}[prefix]
    try:
        load_document(Path(f"damaged{suffix}"), prefix + tail)
    except DocumentLoadError as exc:
        assert exc.reason
