"""Uploaded files: checked (type by content, size, page count, parse time) and indexed into a collection of
one session only, kept in memory, never on disk and never in the company index.

The bytes are parsed in a child process that is killed when it runs past the time limit, so a hostile or
pathological file cannot hang the app. pypdf's safety limits are never raised for uploads.
Not here: the session lifecycle and TTL (rag.sessions), the widgets (app/views).
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from ingest.chunk import Chunker
from ingest.load import load_document, sniff
from rag.cards import make_card
from rag.embedder import Embedder
from rag.errors import DocumentLoadError
from rag.types import Page

# What a user may upload, by extension, and what the content must look like.
ALLOWED = {".pdf": {"pdf"}, ".txt": {"text"}, ".md": {"text"}, ".docx": {"zip"}}


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 20 * 1024 * 1024  # keep equal to .streamlit/config.toml server.maxUploadSize
    max_pages: int = 300
    parse_seconds: float = 30.0
    parse_memory_mb: int = 2048  # address space of the parsing child: a hostile file fails, not the app


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


def _count_pdf_pages(data: bytes) -> int:
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        reader.decrypt("")
    return len(reader.pages)


def _parse(conn: Any, name: str, data: bytes, password: str | None, max_pages: int, memory_mb: int) -> None:
    """Child process: parse and send back ("ok", pages) or ("error", reason)."""
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        if PurePath(name).suffix.lower() == ".pdf":
            try:
                count = _count_pdf_pages(data)
            except Exception:  # noqa: BLE001 - load_document below gives the specific reason
                count = 0
            if count > max_pages:
                conn.send(("error", f"too many pages: {count}, the limit is {max_pages}"))
                return
        pages = load_document(Path(name), data, password=password, pdf_limit_factor=1)
        last = max((p.page or 0 for p in pages), default=0)
        if last > max_pages:  # the count above failed on a damaged page tree, but the pages were read
            conn.send(("error", f"too many pages: {last}, the limit is {max_pages}"))
            return
        conn.send(("ok", [(p.text, p.page) for p in pages]))
    except DocumentLoadError as exc:
        conn.send(("error", exc.reason))
    except MemoryError:
        conn.send(("error", f"needs more than {memory_mb} MB to read; not indexed"))
    except Exception as exc:  # noqa: BLE001 - anything else is still only this upload's failure
        conn.send(("error", f"not readable ({type(exc).__name__})"))
    finally:
        conn.close()


def _parser_context() -> Any:
    """Children forked from a small server process started once, not from this one: the app and `ragqa serve`
    run many threads, and a child forked while another thread holds a lock (logging, torch, SQLite) can hang
    on it until the time limit."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["ingest.load"])  # parsers imported once in the server, not per upload
    return ctx


def parse_upload(name: str, data: bytes, limits: UploadLimits, password: str | None = None) -> list[Page]:
    """Pages of an upload, parsed in a child process within `limits.parse_seconds`."""
    name = safe_name(name)
    check_upload(name, data, limits)
    ctx = _parser_context()
    parent, child = ctx.Pipe(duplex=False)
    args = (child, name, data, password, limits.max_pages, limits.parse_memory_mb)
    proc = ctx.Process(target=_parse, args=args, daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(limits.parse_seconds):
            raise DocumentLoadError(name, f"took longer than {limits.parse_seconds:.0f} s to read; not indexed")
        status, payload = parent.recv()
    except EOFError:
        raise DocumentLoadError(name, "the reader stopped unexpectedly; not indexed") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent.close()
    if status != "ok":
        raise DocumentLoadError(name, payload)
    return [Page(text=t, page=p) for t, p in payload]


def index_upload(
    name: str,
    data: bytes,
    store: Any,
    embedder: Embedder,
    chunker: Chunker,
    limits: UploadLimits,
    password: str | None = None,
    on_progress: Callable[[float, str], None] | None = None,
) -> int:
    """Check, parse, chunk, embed and store one upload into `store` (the session's). Returns its chunks."""
    name = safe_name(name)
    if on_progress:
        on_progress(0.05, f"Reading {name}")
    pages = parse_upload(name, data, limits, password)
    if on_progress:
        on_progress(0.4, f"Splitting {len(pages)} page(s)")
    doc_hash = hashlib.sha256(data).hexdigest()
    source = f"upload/{doc_hash[:12]}/{name}"
    card = make_card(pages, name)
    chunks = chunker.chunk(pages, source, doc_hash, context=card.line)
    if on_progress:
        on_progress(0.6, f"Embedding {len(chunks)} chunks")
    store.replace_source(source, chunks, embedder, card.to_dict())
    if on_progress:
        on_progress(1.0, f"{name}: {len(chunks)} chunks ready")
    return len(chunks)
