"""Parsing files nobody vetted in a pool of worker processes: reused from file to file, each file with its own
time limit, each worker with a memory limit.

A file that hangs a parser is stopped at its time limit (its worker is killed and replaced, the pool goes on);
one that needs more memory than a worker may have fails with that reason; a parser that crashes the process
fails that file only. Workers are forked from a small server process (not from the app's many threads, which
may hold locks), have the parsers imported once, and die with it when the parent process dies, so a killed
run leaves no parser behind. `ragqa ingest`/`reindex` and uploads share this; several files are parsed at
once while the calling process chunks and embeds. A PDF's pages without a text layer are then read by OCR
(ingest.ocr) one page per task, each with its own time limit, at most `ocr_pages` of them per file; a page
that fails or times out is left out and logged, and a file none of whose pages could be read fails. The
page a reader opens from a citation is drawn here too (ingest.pageview), under a time limit.
Not here: what parsing does (ingest.load), chunking and embedding (ingest.index), upload checks (ingest.upload).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Future, TimeoutError
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from ingest.load import NO_TEXT_LAYER, load_document
from ingest.pageview import DPI, PageView
from rag.errors import DocumentLoadError
from rag.types import Page

logger = logging.getLogger(__name__)

OcrProgress = Callable[[int, int], None]  # (pages read by OCR so far, pages to read) of one file


def ocr_label(name: str, done: int, total: int) -> str:
    """What progress shows while a file's pages are read by OCR."""
    pages = "page" if total == 1 else "pages"
    return f"{name}: reading {total} {pages} by OCR" if done == 0 else f"{name}: OCR read {done} of {total} {pages}"


@dataclass(frozen=True)
class ParseLimits:
    seconds: float  # per file, from the moment a worker starts on it
    memory_mb: int  # address space of each worker
    max_pages: int | None = None  # more pages than this fail the file (uploads)
    pdf_limit_factor: int = 1  # pypdf's safety limits may be raised this much on a retry (trusted folders)
    ocr_pages: int = 0  # pages without a text layer read by OCR per file (0: OCR off)
    ocr_seconds: float = 120.0  # per page OCR'd


def _start_worker(memory_mb: int) -> None:
    """In each worker: the memory limit, and death with the parent (the fork server, which exits with the
    process that started it)."""
    import ctypes
    import resource
    import signal

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)


def _count_pdf_pages(data: bytes) -> int:
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        reader.decrypt("")
    return len(reader.pages)


def _parse(name: str, data: bytes, password: str | None, limits: ParseLimits) -> tuple[str, Any]:
    """In a worker: ("ok", [(text, page), ...]) or ("error", reason)."""
    try:
        if limits.max_pages is not None and PurePath(name).suffix.lower() == ".pdf":
            try:
                count = _count_pdf_pages(data)
            except Exception:  # noqa: BLE001 - load_document below gives the specific reason
                count = 0
            if count > limits.max_pages:
                return "error", f"too many pages: {count}, the limit is {limits.max_pages}"
        pages = load_document(
            Path(name), data, password=password, pdf_limit_factor=limits.pdf_limit_factor, ocr=limits.ocr_pages > 0
        )
        last = max((p.page or 0 for p in pages), default=0)
        if limits.max_pages is not None and last > limits.max_pages:  # the count failed, the pages were read
            return "error", f"too many pages: {last}, the limit is {limits.max_pages}"
        return "ok", [(p.text, p.page, p.ocr) for p in pages]
    except DocumentLoadError as exc:
        return "error", exc.reason
    except MemoryError:
        return "error", f"needs more than {limits.memory_mb} MB to read; not indexed"
    except Exception as exc:  # noqa: BLE001 - anything else is still only this file's failure
        return "error", f"not readable ({type(exc).__name__})"


def _page_task(task: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """In a worker: ("ok", task(*args)) for one page's task (OCR, drawing), or ("error", reason): the page's
    failure only."""
    try:
        return "ok", task(*args)
    except MemoryError:
        return "error", "out of memory"
    except Exception as exc:  # noqa: BLE001 - the page's failure only
        return "error", f"{type(exc).__name__}: {exc}"


def _ocr_page(data: bytes, number: int, password: str | None) -> tuple[str, Any]:
    """In a worker: ("ok", text of PDF page `number`) or ("error", reason)."""
    from ingest.ocr import read_pdf_page

    return _page_task(read_pdf_page, data, number, password)


def _render_page(data: bytes, number: int, passage: str, password: str | None, ocr: bool) -> tuple[str, Any]:
    """In a worker: ("ok", PageView of PDF page `number` with `passage` marked) or ("error", reason)."""
    from ingest.pageview import render_page

    return _page_task(render_page, data, number, passage, password, DPI, ocr)


class ParserPool:
    """`workers` parser processes with `memory_mb` each; `submit` a file, then `pages` for its result."""

    def __init__(self, workers: int, memory_mb: int) -> None:
        from pebble import ProcessPool

        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["ingest.load"])  # parsers imported once in the server, not per file
        self.memory_mb = memory_mb
        self._pool = ProcessPool(max_workers=workers, initializer=_start_worker, initargs=(memory_mb,), context=ctx)

    def submit(self, name: str, data: bytes, limits: ParseLimits, password: str | None = None) -> Future[Any]:
        return self._pool.schedule(_parse, args=(name, data, password, limits), timeout=limits.seconds)

    @staticmethod
    def pages(future: Future[Any], name: str | Path, limits: ParseLimits) -> list[Page]:
        """The file's pages, or DocumentLoadError with the reason it could not be read."""
        try:
            status, payload = future.result()
        except TimeoutError:
            raise DocumentLoadError(name, f"took longer than {limits.seconds:g} s to read; not indexed") from None
        except Exception as exc:  # noqa: BLE001 - the worker died: out of memory, a parser crash, a kill
            reason = (
                f"the reading process died ({type(exc).__name__}); it may need more than {limits.memory_mb} MB;"
                " not indexed"
            )
            raise DocumentLoadError(name, reason) from None
        if status != "ok":
            raise DocumentLoadError(name, payload)
        return [Page(text=t, page=p, ocr=o) for t, p, o in payload]

    def parse(
        self,
        name: str | Path,
        data: bytes,
        limits: ParseLimits,
        password: str | None = None,
        on_ocr_page: OcrProgress | None = None,
    ) -> list[Page]:
        """The file's pages (DocumentLoadError with the reason it could not be read); `on_ocr_page(done, total)`
        is told as the pages without a text layer are read by OCR."""
        pages = self.pages(self.submit(str(name), data, limits, password), name, limits)
        if any(p.ocr and not p.text for p in pages):
            pages = self._read_by_ocr(name, data, pages, limits, password, on_ocr_page)
        return pages

    def _read_by_ocr(
        self,
        name: str | Path,
        data: bytes,
        pages: list[Page],
        limits: ParseLimits,
        password: str | None,
        on_page: OcrProgress | None,
    ) -> list[Page]:
        """The pages marked for OCR read, each by a worker within `limits.ocr_seconds`, the first
        `limits.ocr_pages` of them; pages that could not be read are left out."""
        wanted = [p for p in pages if p.ocr and not p.text]
        if len(wanted) > limits.ocr_pages:
            logger.warning(
                "%s: %d pages without a text layer; OCR reads the first %d", name, len(wanted), limits.ocr_pages
            )
        futures = {
            p.page: self._pool.schedule(_ocr_page, args=(data, p.page, password), timeout=limits.ocr_seconds)
            for p in wanted[: limits.ocr_pages]
        }
        read: dict[int | None, str] = {}
        failures = []
        if on_page and futures:
            on_page(0, len(futures))
        for done, (number, future) in enumerate(futures.items(), 1):
            try:
                status, text = future.result()
            except TimeoutError:
                status, text = "error", f"took longer than {limits.ocr_seconds:g} s"
            except Exception as exc:  # noqa: BLE001 - the worker died: memory, a crash
                status, text = "error", f"the reading process died ({type(exc).__name__})"
            if status == "ok" and text.strip():
                read[number] = text.strip()
            else:
                failures.append(f"page {number}: {text if status != 'ok' else 'no text found'}")
            if on_page:
                on_page(done, len(futures))
        if failures:
            logger.warning("%s: OCR read %d of %d pages (%s)", name, len(read), len(futures), "; ".join(failures))
        out = [Page(read[p.page], p.page, ocr=True) if p.page in read else p for p in pages]
        out = [p for p in out if p.text]
        if not out:
            raise DocumentLoadError(name, f"{NO_TEXT_LAYER}; OCR read no text ({'; '.join(failures[:3])})")
        return out

    def render_page(
        self, data: bytes, number: int, passage: str, seconds: float, password: str | None = None, ocr: bool = False
    ) -> PageView:
        """Page `number` of the PDF `data` with `passage` marked (ingest.pageview), drawn by a worker within
        `seconds`; DocumentLoadError with the reason otherwise."""
        args = (data, number, passage, password, ocr)
        future = self._pool.schedule(_render_page, args=args, timeout=seconds)
        try:
            status, payload = future.result()
        except TimeoutError:
            raise DocumentLoadError(f"page {number}", f"took longer than {seconds:g} s to draw") from None
        except Exception as exc:  # noqa: BLE001 - the worker died: memory, a crash
            raise DocumentLoadError(f"page {number}", f"the drawing process died ({type(exc).__name__})") from None
        if status != "ok":
            raise DocumentLoadError(f"page {number}", payload)
        return payload  # type: ignore[no-any-return]

    def close(self) -> None:
        self._pool.stop()
        self._pool.join()


_pools: dict[tuple[int, int], ParserPool] = {}
_lock = threading.Lock()


def parser_pool(workers: int, memory_mb: int) -> ParserPool:
    """The process's pool for these settings, started on first use and reused (by every ingest, re-index and
    upload of the process); stopped at exit."""
    with _lock:
        pool = _pools.get((workers, memory_mb))
        if pool is None:
            pool = _pools[(workers, memory_mb)] = ParserPool(workers, memory_mb)
        return pool


@atexit.register
def _close_all() -> None:
    for pool in _pools.values():
        pool.close()
    _pools.clear()
