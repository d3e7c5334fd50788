"""Indexing: read files, chunk, embed, and write each file's chunks to the store all at once.

A file whose content hash is already in the collection is skipped before it is parsed or embedded. One
bad file is reported with its reason and never stops the run; a file is either wholly in the store or not
at all. Not here: removing files that disappeared from the source folders (that is the re-index job).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ingest.chunk import Chunker
from ingest.load import SUPPORTED_SUFFIXES, load_document, read_file
from rag.embedder import Embedder
from rag.errors import DocumentLoadError
from rag.settings import Settings
from rag.store import Store
from rag.types import Chunk

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # (files done, files total, current path)

_PREFETCH = 2  # files parsed ahead of the one being embedded


@dataclass
class IngestReport:
    files_seen: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_failed: list[dict[str, str]] = field(default_factory=list)
    chunks_added: int = 0
    chunks_total: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "files_seen": self.files_seen,
            "files_indexed": self.files_indexed,
            "files_unchanged": self.files_unchanged,
            "files_failed": self.files_failed,
            "chunks_added": self.chunks_added,
            "chunks_total": self.chunks_total,
            "seconds": round(self.seconds, 3),
        }


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files under `paths` (folders walked recursively, hidden entries skipped), sorted, de-duplicated.
    Files named explicitly are kept whatever their type, so an unsupported one is reported, not ignored."""
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                        found[Path(root, name)] = None
        else:
            found[path] = None
    return list(found)


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Indexer:
    def __init__(self, embedder: Embedder, store: Store, settings: Settings) -> None:
        self.embedder = embedder
        self.store = store
        self.settings = settings
        self.chunker = Chunker(
            embedder.count_tokens,
            window=embedder.max_tokens,
            max_tokens=settings.chunk.max_tokens,
            overlap_tokens=settings.chunk.overlap_tokens,
        )

    def prepare(self, path: Path, password: str | None = None, trusted: bool = True) -> list[Chunk] | None:
        """Read and chunk one file. None when its content is already indexed (it is then not parsed)."""
        data = read_file(path, self.settings.ingest.max_file_mb * 1024 * 1024)
        doc_hash = file_sha256(data)
        if self.store.has_document(doc_hash):
            return None
        factor = self.settings.ingest.pdf_limit_factor if trusted else 1
        pages = load_document(path, data, password=password, pdf_limit_factor=factor)
        chunks = self.chunker.chunk(pages, str(path.resolve()), doc_hash)
        if not chunks:
            raise DocumentLoadError(path, "no extractable text")
        return chunks

    def commit(self, chunks: list[Chunk]) -> int:
        """Embed and store one file's chunks, all or nothing. Returns how many were new."""
        return self.store.add(chunks, self.embedder.embed([c.text for c in chunks]))

    def ingest_file(self, path: Path, password: str | None = None, trusted: bool = True) -> int | None:
        """Index one file. Returns chunks added, or None when its content is already indexed."""
        chunks = self.prepare(path, password, trusted)
        return None if chunks is None else self.commit(chunks)

    def ingest(
        self,
        paths: Iterable[Path],
        password: str | None = None,
        on_progress: Progress | None = None,
    ) -> IngestReport:
        """Index every file under `paths`. The next file is parsed in a helper thread while the current one
        is embedded (pypdf is pure Python; torch releases the GIL), so parsing and embedding overlap."""
        started = time.perf_counter()
        files = discover(paths)
        report = IngestReport(files_seen=len(files))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragqa-load") as pool:
            ahead: deque[Future[list[Chunk] | None]] = deque()
            queued = iter(files)
            for path in itertools.islice(queued, _PREFETCH):
                ahead.append(pool.submit(self.prepare, path, password))
            for i, path in enumerate(files):
                if on_progress:
                    on_progress(i, len(files), str(path))
                future = ahead.popleft()
                following = next(queued, None)
                if following is not None:
                    ahead.append(pool.submit(self.prepare, following, password))
                try:
                    chunks = future.result()
                    added = None if chunks is None else self.commit(chunks)
                except DocumentLoadError as exc:
                    logger.warning("skipped %s: %s", path, exc.reason)
                    report.files_failed.append({"path": str(path), "error": exc.reason})
                    continue
                except Exception as exc:  # noqa: BLE001 - one bad file never stops the run
                    logger.exception("failed on %s", path)
                    report.files_failed.append({"path": str(path), "error": f"{type(exc).__name__}: {exc}"})
                    continue
                if added is None:
                    report.files_unchanged += 1
                else:
                    report.files_indexed += 1
                    report.chunks_added += added
        if on_progress:
            on_progress(len(files), len(files), "")
        report.chunks_total = self.store.count()
        report.seconds = time.perf_counter() - started
        return report
