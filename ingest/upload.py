"""Uploaded files: checked (type by content, size, page count, parse time) and indexed into a collection of
one session only, kept in memory, never on disk and never in the company index.

The bytes are parsed by a worker process (ingest.workers) that is killed when it runs past the time limit and
may use only so much memory, so a hostile or pathological file cannot hang or exhaust the app. pypdf's safety
limits are never raised for uploads.
Not here: the session lifecycle and TTL (rag.sessions), the widgets (app/views).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from ingest.chunk import Chunker
from ingest.index import Prefetched
from ingest.load import sniff
from ingest.pageview import Context, PageView, in_context
from ingest.workers import OcrProgress, ParseLimits, ocr_label, parser_pool
from rag.cards import make_card
from rag.embedder import Embedder
from rag.errors import DocumentLoadError
from rag.store import embedded_text
from rag.text import mostly_cjk
from rag.types import Page

# What a user may upload, by extension, and what the content must look like.
ALLOWED = {".pdf": {"pdf"}, ".txt": {"text"}, ".md": {"text"}, ".docx": {"zip"}}


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 20 * 1024 * 1024  # keep equal to .streamlit/config.toml server.maxUploadSize
    max_pages: int = 300
    parse_seconds: float = 30.0
    parse_memory_mb: int = 2048  # address space of a parsing worker: a hostile file fails, not the app
    workers: int = 2  # uploads of all sessions are parsed by this many worker processes
    max_chunks: int = 3000  # about 1.5 MB of text: more is a job for `ragqa ingest`, not a chat upload
    embed_seconds: float = 300.0  # embedding an upload stops past this; nothing of it is kept
    ocr_pages: int = 20  # scanned pages read by OCR per upload (about 10 to 30 s each on 2 cores)
    ocr_seconds: float = 60.0  # per scanned page


def safe_name(name: str) -> str:
    """The file name alone (no folders), for display and metadata only: uploads are never written to disk."""
    base = PurePath(name.replace("\\", "/")).name.strip() or "upload"
    return "".join(ch for ch in base if ch.isprintable())[:200]


def check_upload(name: str, data: bytes, limits: UploadLimits) -> str:
    """The upload's extension after checking it against its content and size; DocumentLoadError otherwise."""
    suffix = PurePath(safe_name(name)).suffix.lower()
    if suffix not in ALLOWED:
        raise DocumentLoadError(name, f"not accepted: {suffix or 'no extension'} (allowed: {', '.join(ALLOWED)})")
    if len(data) > limits.max_bytes:
        raise DocumentLoadError(name, f"too large: {len(data)} bytes, the limit is {limits.max_bytes}")
    if not data:
        raise DocumentLoadError(name, "empty file")
    kind = sniff(data)
    if kind not in ALLOWED[suffix]:
        raise DocumentLoadError(name, f"content is {kind}, not what a {suffix} file holds")
    return suffix


def parse_upload(
    name: str,
    data: bytes,
    limits: UploadLimits,
    password: str | None = None,
    on_ocr_page: OcrProgress | None = None,
) -> list[Page]:
    """Pages of an upload, parsed by a worker of the parser pool (ingest.workers) within the limits;
    `on_ocr_page(done, total)` as its pages without a text layer are read by OCR."""
    name = safe_name(name)
    check_upload(name, data, limits)
    parse = ParseLimits(
        limits.parse_seconds,
        limits.parse_memory_mb,
        max_pages=limits.max_pages,
        ocr_pages=limits.ocr_pages,
        ocr_seconds=limits.ocr_seconds,
    )
    return parser_pool(limits.workers, limits.parse_memory_mb).parse(name, data, parse, password, on_ocr_page)


@dataclass(frozen=True)
class Uploaded:
    chunks: int
    ocr_pages: int  # pages (or images) whose text was read by OCR
    source: str = ""  # what its chunks name as their source

    def state(self) -> str:
        """How the upload is listed: "ready, 12 chunks" (", 2 pages read by OCR")."""
        ocr = f", {self.ocr_pages} page{'s' if self.ocr_pages != 1 else ''} read by OCR" if self.ocr_pages else ""
        return f"ready, {self.chunks} chunk{'s' if self.chunks != 1 else ''}{ocr}"


def index_upload(
    name: str,
    data: bytes,
    store: Any,
    embedder: Embedder,
    chunker: Chunker,
    limits: UploadLimits,
    password: str | None = None,
    on_progress: Callable[[float, str], None] | None = None,
) -> Uploaded:
    """Check, parse, chunk, embed and store one upload into `store` (the session's). Returns its chunks."""
    name = safe_name(name)

    def ocr_page(done: int, total: int) -> None:
        if on_progress:
            on_progress(0.05 + 0.35 * done / total, ocr_label(name, done, total))

    if on_progress:
        on_progress(0.05, f"Reading {name}")
    pages = parse_upload(name, data, limits, password, ocr_page)
    if on_progress:
        on_progress(0.4, f"Splitting {len(pages)} page(s)")
    doc_hash = hashlib.sha256(data).hexdigest()
    source = f"upload/{doc_hash[:12]}/{name}"
    card = make_card(pages, name)
    chunks = chunker.chunk(pages, source, doc_hash, context=card.line)
    if len(chunks) > limits.max_chunks:
        raise DocumentLoadError(name, f"too long: {len(chunks)} chunks, the limit for an upload is {limits.max_chunks}")
    started = time.monotonic()
    # chunks written mostly in CJK are embedded a second time, by the multilingual model (rag.store)
    cjk = [c.embed_text for c in chunks if mostly_cjk(c.text)] if store.multilingual is not None else []
    total = len(chunks) + len(cjk)

    def progress(offset: int, what: str) -> Callable[[int, int], None]:
        def embedded(done: int, count: int) -> None:
            if time.monotonic() - started > limits.embed_seconds:
                raise DocumentLoadError(name, f"took longer than {limits.embed_seconds:g} s to embed; not indexed")
            if on_progress:
                on_progress(0.4 + 0.55 * (offset + done) / total, f"Embedded {done} of {count} {what}")

        return embedded

    # embedded first, then written in one go: an upload stopped part-way leaves nothing in the session
    texts = [embedded_text(c.embed_text) for c in chunks]
    vectors = Prefetched(embedder, texts, batch=64, on_batch=progress(0, "chunks"))
    multilingual = None
    if store.multilingual is not None and cjk:
        multilingual = Prefetched(store.multilingual, cjk, batch=16, on_batch=progress(len(chunks), "CJK chunks"))
    store.replace_source(source, chunks, vectors, card.to_dict(), multilingual=multilingual)
    if on_progress:
        on_progress(1.0, f"{name}: {len(chunks)} chunks ready")
    return Uploaded(len(chunks), sum(p.ocr for p in pages), source)


def view_passage(
    name: str, data: bytes, page: int | None, passage: str, limits: UploadLimits, ocr: bool = False
) -> PageView | Context | None:
    """Where a cited passage stands in its file (an upload's bytes, or a company document's), worked out by a
    worker of the parser pool within the limits: a PDF's page drawn with the passage marked (from OCR when
    `ocr`: the passage was read so); any other file's passage within its text, or None when the text no
    longer holds it (the file changed since)."""
    if PurePath(name).suffix.lower() == ".pdf" and page is not None:
        pool = parser_pool(limits.workers, limits.parse_memory_mb)
        return pool.render_page(data, page, passage, limits.parse_seconds + limits.ocr_seconds, ocr=ocr)
    parse = ParseLimits(  # an image file's text is read by OCR again, as at ingest
        limits.parse_seconds, limits.parse_memory_mb, ocr_pages=limits.ocr_pages, ocr_seconds=limits.ocr_seconds
    )
    pages = parser_pool(limits.workers, limits.parse_memory_mb).parse(safe_name(name), data, parse)
    return in_context("\n\n".join(p.text for p in pages if page is None or p.page == page), passage)
