"""Indexing: read files, chunk, embed, and write each file's chunks to the store.

A file is recognised as unchanged first from its size and mtime, then from its sha256, before it is parsed or
embedded (rag.records keeps both). A changed file's chunks replace its old ones. One bad file is reported with
its reason and never stops the run. The next file is parsed in a helper thread while the current one is
embedded. Progress is told per file and, while a scanned file is read by OCR, per page (`ProgressRelay`).
Not here: removing files that disappeared (ingest.reindex does that), locking (ingest.lock).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

from ingest.chunk import Chunker
from ingest.load import SUPPORTED_SUFFIXES, read_file
from ingest.ocr import IMAGE_SUFFIXES
from ingest.workers import OcrProgress, ParseLimits, ocr_label, parser_pool
from rag.cards import Card, language_of, make_card, read_sidecar
from rag.embedder import Embedder
from rag.errors import DocumentLoadError
from rag.pipeline import Pipeline
from rag.records import FileRecord
from rag.store import embedded_text
from rag.types import Chunk, Page

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # (files done, files total, what to show: file, chunks so far)
Outcome = Literal["added", "updated", "unchanged", "failed"]

_PREFETCH = 2  # files parsed ahead of the one being embedded, per parsing process
_GROUP_CHUNKS = 256  # chunks of consecutive ready files embedded together
_AHEAD_BYTES = 4 * 1024 * 1024  # more files are read ahead while together they are smaller than this
_MAX_AHEAD = 512


class ProgressRelay:
    """One `Progress` callback fed by the loop that finishes files and by the threads reading the next files
    (their OCR pages: "scan.pdf: OCR read 3 of 40 pages"), one call at a time; a page's message keeps the count of
    files done."""

    def __init__(self, on_progress: Progress | None, total: int) -> None:
        self._on_progress = on_progress
        self._total = total
        self._done = 0
        self._lock = threading.Lock()

    def file_done(self, done: int, label: str) -> None:
        with self._lock:
            self._done = done
            if self._on_progress:
                self._on_progress(done, self._total, label)

    def ocr_page(self, path: Path, page: int, pages: int) -> None:
        with self._lock:
            if self._on_progress:
                self._on_progress(self._done, self._total, ocr_label(path.name, page, pages))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


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


@dataclass(frozen=True)
class Result:
    path: Path
    outcome: Outcome
    chunks_added: int = 0
    error: str = ""


@dataclass(frozen=True)
class Prepared:
    record: FileRecord
    chunks: list[Chunk]
    is_new: bool
    card: Card | None = None


class Prefetched:
    """An embedder that answers from vectors computed ahead in one large, length-sorted batch (many small
    documents embed as fast as a few long ones); anything else goes to the real embedder. With `on_batch`,
    the texts are embedded `batch` at a time and `on_batch(done, total)` is called after each (it may raise
    to stop: an upload's time limit)."""

    def __init__(
        self,
        embedder: Embedder,
        texts: list[str],
        batch: int = 256,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self.embedder = embedder
        self.name = embedder.name
        unique = sorted(set(texts), key=lambda t: (len(t), t))  # the same batches in every process
        if on_batch is None:
            self._vectors = dict(zip(unique, embedder.embed(unique), strict=True))
            return
        self._vectors = {}
        for start in range(0, len(unique), batch):
            part = unique[start : start + batch]
            self._vectors.update(zip(part, embedder.embed(part), strict=True))
            on_batch(start + len(part), len(unique))

    @property
    def dim(self) -> int:
        return self.embedder.dim

    @property
    def max_tokens(self) -> int:
        return self.embedder.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.embedder.count_tokens(texts)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        missing = [t for t in texts if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.embedder.embed(missing), strict=True))
        return [self._vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text)


def discover(
    paths: Iterable[Path], images: bool = True, errors: list[str] | None = None, symlinks: bool = False
) -> list[Path]:
    """Files under `paths` (folders walked recursively, hidden entries skipped), sorted, de-duplicated; image
    files only with `images` (OCR on). Files named explicitly are kept whatever their type, so an unsupported
    one is reported, not ignored. Symbolic links found in a folder are skipped unless `symlinks` (a link in a
    shared folder could point anywhere the service can read); a folder's links to folders are never followed.
    Folders that cannot be read are skipped; with `errors`, each is appended there ("path: reason"), so a caller
    that removes what it did not find can tell unread from deleted."""
    suffixes = SUPPORTED_SUFFIXES if images else SUPPORTED_SUFFIXES - IMAGE_SUFFIXES
    found: dict[Path, None] = {}

    def unreadable(exc: OSError) -> None:
        if errors is not None:
            errors.append(f"{exc.filename}: {exc.strerror or exc}")

    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path, onerror=unreadable):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    wanted = not name.startswith(".") and Path(name).suffix.lower() in suffixes
                    if wanted and (symlinks or not os.path.islink(os.path.join(root, name))):
                        found[Path(root, name)] = None
        else:
            found[path] = None
    return list(found)


def source_of(path: Path) -> str:
    """How a file is named in the index: its absolute path."""
    return str(path.resolve())


class Indexer:
    """Writes files into the pipeline's store. Models and the store are touched only when a file changed."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings

    @cached_property
    def chunker(self) -> Chunker:
        embedder = self.pipeline.embedder
        return Chunker(
            embedder.count_tokens,
            window=embedder.max_tokens,
            max_tokens=self.settings.chunk.max_tokens,
            overlap_tokens=self.settings.chunk.overlap_tokens,
        )

    def unchanged_by_stat(self, path: Path) -> bool:
        """True when the file's size and mtime equal its record's: unchanged without reading it."""
        record = self.pipeline.files.get(source_of(path))
        try:
            st = path.stat()
        except OSError:
            return False
        same = record is not None and (record.size, record.mtime_ns) == (st.st_size, st.st_mtime_ns)
        return same and record is not None and record.current

    def prepare(
        self,
        path: Path,
        password: str | None = None,
        trusted: bool = True,
        on_ocr_page: OcrProgress | None = None,
    ) -> Prepared | None:
        """Read and chunk one file; None when its content is already indexed (then it is not parsed)."""
        if self.unchanged_by_stat(path):
            return None
        source = source_of(path)
        try:
            st = path.stat()
        except OSError as exc:
            raise DocumentLoadError(path, "no such file" if isinstance(exc, FileNotFoundError) else str(exc)) from exc
        data = read_file(path, self.settings.ingest.max_file_mb * 1024 * 1024)
        doc_hash = hashlib.sha256(data).hexdigest()
        old = self.pipeline.files.get(source)
        if old is not None and old.current and old.doc_hash == doc_hash:  # touched, not changed: new mtime only
            self.pipeline.files.put(FileRecord(source, doc_hash, len(data), st.st_mtime_ns, old.chunks))
            return None
        ingest = self.settings.ingest
        factor = ingest.pdf_limit_factor if trusted else 1
        limits = ParseLimits(
            ingest.parse_seconds, ingest.parse_memory_mb, None, factor, ingest.ocr_pages, ingest.ocr_seconds
        )
        pool = parser_pool(ingest.parse_workers, ingest.parse_memory_mb)
        pages = pool.parse(path, data, limits, password, on_ocr_page)
        card = make_card(pages, path.name, overrides=read_sidecar(path))
        chunks = self.chunker.chunk(pages, source, doc_hash, context=card.line)
        if not chunks:
            raise DocumentLoadError(path, "no extractable text")
        record = FileRecord(source, doc_hash, len(data), st.st_mtime_ns, len(chunks))
        return Prepared(record, chunks, old is None, card)

    def commit(self, prepared: Prepared, embedder: Embedder | None = None) -> int:
        """Embed and store one file's chunks (replacing its old ones), then record the file. Returns how
        many chunks were new."""
        card = prepared.card.to_dict() if prepared.card else None
        stats = self.pipeline.store.replace_source(
            prepared.record.source, prepared.chunks, embedder or self.pipeline.embedder, card
        )
        self.pipeline.files.put(prepared.record)  # last: a crash before this leaves the file looking changed
        return stats.added

    def run(
        self, files: list[Path], password: str | None = None, relay: ProgressRelay | None = None
    ) -> Iterator[Result]:
        """Index `files`, yielding one Result per file (unchanged and failed files as soon as they are known,
        indexed ones after their group is stored). The next files are read, parsed (by the parser processes,
        ingest.workers) and chunked by helper threads while the current ones are embedded; only a few files are
        ever held ahead. Consecutive files are embedded together until they hold _GROUP_CHUNKS chunks, so a
        folder of small files embeds in full batches; each file is still stored and recorded on its own.
        `relay` is told the OCR pages read (from the helper threads)."""
        workers = self.settings.ingest.parse_workers
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ragqa-load")
        try:
            ahead: deque[tuple[Path, Future[Prepared | None], int]] = deque()
            queued = iter(files)
            held_bytes = 0

            def fill() -> None:  # a few files ahead; many more while they are small
                nonlocal held_bytes
                while len(ahead) < _PREFETCH * workers or (held_bytes < _AHEAD_BYTES and len(ahead) < _MAX_AHEAD):
                    path = next(queued, None)
                    if path is None:
                        return
                    size = _size(path)
                    on_page = functools.partial(relay.ocr_page, path) if relay else None
                    ahead.append((path, pool.submit(self.prepare, path, password, True, on_page), size))
                    held_bytes += size

            fill()
            group: list[tuple[Path, Prepared]] = []
            while ahead:
                path, future, size = ahead.popleft()
                held_bytes -= size
                fill()
                try:
                    prepared = future.result()
                except DocumentLoadError as exc:
                    logger.warning("skipped %s: %s", path, exc.reason)
                    yield Result(path, "failed", error=exc.reason)
                    prepared = None
                except Exception as exc:  # noqa: BLE001 - one bad file never stops the run
                    logger.exception("failed on %s", path)
                    yield Result(path, "failed", error=f"{type(exc).__name__}: {exc}")
                    prepared = None
                else:
                    if prepared is None:
                        yield Result(path, "unchanged")
                if prepared is not None:
                    group.append((path, prepared))
                held = sum(len(p.chunks) for _, p in group)
                # groups depend on the files only, never on timing: int8 vectors depend a little on their batch
                if group and (held >= _GROUP_CHUNKS or not ahead):
                    yield from self._commit_group(group)
                    group = []
        finally:  # also when stopped early (Ctrl-C, a closed generator): files not started are not parsed
            pool.shutdown(wait=True, cancel_futures=True)

    def _commit_group(self, group: list[tuple[Path, Prepared]]) -> Iterator[Result]:
        """Embed the new files' chunks of `group` in one length-sorted batch, then store each file."""
        embedder: Embedder = self.pipeline.embedder
        fresh = [embedded_text(c.embed_text) for _, p in group if p.is_new for c in p.chunks]
        try:
            if fresh:
                embedder = Prefetched(embedder, fresh)
        except Exception as exc:  # noqa: BLE001 - the group's files fail, the run goes on
            logger.exception("embedding failed for %d files", len(group))
            for path, _ in group:
                yield Result(path, "failed", error=f"{type(exc).__name__}: {exc}")
            return
        for path, prepared in group:
            try:
                added = self.commit(prepared, embedder)
            except Exception as exc:  # noqa: BLE001 - one bad file never stops the run
                logger.exception("failed on %s", path)
                yield Result(path, "failed", error=f"{type(exc).__name__}: {exc}")
                continue
            yield Result(path, "added" if prepared.is_new else "updated", chunks_added=added)

    def index_texts(
        self,
        docs: Sequence[tuple[str, str, str]],
        on_progress: Progress | None = None,
        batch: int = 128,
    ) -> int:
        """Index documents given as (source, title, text), e.g. a BEIR corpus, `batch` documents per embedding
        call. The title and the text's language are the document's card; a document already indexed with the
        same text is skipped.
        Returns the chunks added."""
        added = 0
        for start in range(0, len(docs), batch):
            group = []
            for source, title, text in docs[start : start + batch]:
                doc_hash = hashlib.sha256(f"{title}\x00{text}".encode()).hexdigest()
                old = self.pipeline.files.get(source)
                if old is not None and old.current and old.doc_hash == doc_hash:
                    continue
                card = Card(title=title, language=language_of(f"{title}\n{text}"))
                chunks = self.chunker.chunk([Page(text, None)], source, doc_hash, context=card.line)
                if chunks:
                    group.append((FileRecord(source, doc_hash, len(text), 0, len(chunks)), chunks, card))
            if group:
                texts = [embedded_text(c.embed_text) for _, cs, _ in group for c in cs]
                embedder = Prefetched(self.pipeline.embedder, texts)
                for record, chunks, card in group:
                    stats = self.pipeline.store.replace_source(record.source, chunks, embedder, card.to_dict())
                    self.pipeline.files.put(record)
                    added += stats.added
            if on_progress:
                done = min(start + batch, len(docs))
                on_progress(done, len(docs), f"{added:,} chunks added")
        return added

    def ingest(
        self,
        paths: Iterable[Path],
        password: str | None = None,
        on_progress: Progress | None = None,
    ) -> IngestReport:
        """Index every file under `paths`; nothing is removed. A folder that cannot be read is reported as a
        failure (its files would otherwise be missing without a word)."""
        started = time.perf_counter()
        ingest = self.settings.ingest
        unread: list[str] = []
        files = discover(paths, images=ingest.ocr_pages > 0, errors=unread, symlinks=ingest.follow_symlinks)
        report = IngestReport(files_seen=len(files))
        for error in unread:
            folder, _, reason = error.partition(": ")
            report.files_failed.append({"path": folder, "error": f"cannot read the folder: {reason}"})
        relay = ProgressRelay(on_progress, len(files))
        for i, result in enumerate(self.run(files, password, relay)):
            if result.outcome == "failed":
                report.files_failed.append({"path": str(result.path), "error": result.error})
            elif result.outcome == "unchanged":
                report.files_unchanged += 1
            else:
                report.files_indexed += 1
                report.chunks_added += result.chunks_added
            relay.file_done(i + 1, f"{result.path.name}, {report.chunks_added:,} chunks added")
        report.chunks_total = self.pipeline.store.count()
        report.seconds = time.perf_counter() - started
        return report
