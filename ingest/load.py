"""Loading documents into text, one function per format: PDF (per page), TXT, MD, HTML, DOCX.

Each loader returns `Page`s (page numbers for PDFs, None otherwise) or raises DocumentLoadError with a
short, specific reason. The type is checked by content, not only by extension.
Pages without a text layer are OCR'd (ingest.ocr): image files here, in the parsing process; a PDF's image-only
pages come back as empty pages marked `ocr`, which the parser pool then reads one by one, each with its own time
limit (ingest.workers). Not here: attachments inside PDFs (ignored), legacy .doc.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from ingest.ocr import IMAGE_SUFFIXES
from rag.errors import DocumentLoadError, UnsupportedFileError
from rag.types import Page

logger = logging.getLogger(__name__)

PDF_SUFFIXES = {".pdf"}
TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst"}
HTML_SUFFIXES = {".html", ".htm"}
DOCX_SUFFIXES = {".docx"}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES | DOCX_SUFFIXES | IMAGE_SUFFIXES
NO_TEXT_LAYER = "no text layer (scanned?): pages hold only images"

_BAD_CHARS = re.compile(r"[\ufffd\x00-\x08\x0b\x0c\x0e-\x1f]")


def sniff(data: bytes) -> str:
    """What the bytes are: 'pdf', 'zip' (DOCX is a zip), 'image' (PNG, JPEG, TIFF), 'html', 'text' or
    'binary'."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")):
        return "image"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if b"\x00" in head and not (head.startswith((b"\xff\xfe", b"\xfe\xff"))):
        return "binary"
    lowered = head.lower().lstrip()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "html"
    return "text"


def _clean(text: str) -> str:
    text = _BAD_CHARS.sub("", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# ---------------------------------------------------------------- PDF


def _pages_from_objects(reader: object) -> list[object]:
    """Page dictionaries found by scanning every object, for files whose page tree is broken."""
    from pypdf import PageObject
    from pypdf.generic import DictionaryObject, IndirectObject

    pages: list[object] = []
    xref = getattr(reader, "xref", {})
    for gen, objects in xref.items():
        for idnum in sorted(objects):
            ref = IndirectObject(idnum, gen, reader)  # type: ignore[arg-type]
            try:
                obj = reader.get_object(ref)  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - a damaged object is skipped, the rest still counts
                continue
            if isinstance(obj, DictionaryObject) and obj.get("/Type") == "/Page":
                page = PageObject(reader, ref)  # type: ignore[arg-type]
                page.update(obj)
                pages.append(page)
    return pages


def _has_images(page: object) -> bool:
    try:
        resources = page.get("/Resources")  # type: ignore[attr-defined]
        resources = resources.get_object() if resources is not None else None
        xobjects = resources.get("/XObject") if resources is not None else None
        if xobjects is None:
            return False
        return any(x.get_object().get("/Subtype") == "/Image" for x in xobjects.get_object().values())
    except Exception:  # noqa: BLE001 - best effort: only used to word the error
        return False


def _decrypt(reader: object, path: Path, password: str | None) -> None:
    """Open an encrypted PDF: first with the empty user password that many files use (owner restrictions
    only), then with `password`; raise a specific DocumentLoadError otherwise."""
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    for candidate in ("", password) if password else ("",):
        try:
            if reader.decrypt(candidate):  # type: ignore[attr-defined]
                return
        except DependencyError as exc:
            raise DocumentLoadError(path, "encrypted with AES: install `cryptography`") from exc
        except (FileNotDecryptedError, PdfReadError, NotImplementedError) as exc:
            raise DocumentLoadError(path, f"encrypted: cannot decrypt ({exc})") from exc
    if not password:
        raise DocumentLoadError(path, "encrypted: needs a password (--pdf-password)")
    raise DocumentLoadError(path, "encrypted: wrong password")


def _read_pdf(path: Path, data: bytes, password: str | None, limit_factor: int, ocr: bool) -> list[Page]:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
    except LimitReachedError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise DocumentLoadError(path, f"not a readable PDF ({exc})") from exc
    if reader.is_encrypted:
        _decrypt(reader, path, password)
    try:
        page_objects: list[object] = list(reader.pages)
    except LimitReachedError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.warning("%s: broken page tree (%s); scanning objects for pages", path, exc)
        page_objects = _pages_from_objects(reader)
        if not page_objects:
            raise DocumentLoadError(path, f"not a readable PDF: no pages found ({exc})") from exc

    pages: list[Page] = []
    images = 0
    errors = 0
    for number, page in enumerate(page_objects, start=1):
        try:
            text = _extract_page(page, path, number, limit_factor)
        except DocumentLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - pypdf raises many types on damaged pages
            logger.warning("%s page %d: text extraction failed: %s", path, number, exc)
            errors += 1
            continue
        text = _clean(text)
        if re.search(r"\w", text):  # a page with no letter or digit counts as empty
            pages.append(Page(text=text, page=number))
        elif _has_images(page):
            images += 1
            if ocr:
                pages.append(Page(text="", page=number, ocr=True))  # read later, by OCR
    if pages:
        return pages
    if images:
        raise DocumentLoadError(path, f"{NO_TEXT_LAYER}; OCR is off (ingest.ocr_pages)")
    if errors:
        raise DocumentLoadError(path, "not a readable PDF: text extraction failed on every page")
    raise DocumentLoadError(path, "no extractable text: the pages are empty")


def _raised_limits(factor: int) -> Any:
    """pypdf's configuration with every numeric safety limit multiplied by `factor`: bounded, never off."""
    from pypdf import Configuration

    base = Configuration()
    return base.with_overwrites(
        **{
            f.name: getattr(base, f.name) * factor
            for f in base.__dataclass_fields__.values()
            if f.type in ("int", int) and getattr(base, f.name) > 0
        }
    )


def _extract_page(page: object, path: Path, number: int, limit_factor: int) -> str:
    """One page's text. When pypdf's safety limits stop it and `limit_factor` > 1 (trusted local files),
    that page alone is read again with the limits raised by the factor; untrusted uploads use 1."""
    from pypdf import apply_configuration
    from pypdf.errors import LimitReachedError

    try:
        return page.extract_text() or ""  # type: ignore[attr-defined, no-any-return]
    except LimitReachedError as exc:
        if limit_factor <= 1:
            raise DocumentLoadError(path, f"too complex: pypdf safety limit reached on page {number} ({exc})") from exc
        logger.info("%s page %d: %s; retrying with limits x%d", path, number, exc, limit_factor)
    try:
        with apply_configuration(_raised_limits(limit_factor)):
            return page.extract_text() or ""  # type: ignore[attr-defined, no-any-return]
    except LimitReachedError as exc:
        raise DocumentLoadError(
            path, f"too complex: pypdf safety limit reached on page {number} even at x{limit_factor} ({exc})"
        ) from exc


def load_pdf(
    path: Path, data: bytes, password: str | None = None, limit_factor: int = 1, ocr: bool = False
) -> list[Page]:
    """Text of each page with its 1-based page number; with `ocr`, a page holding only images comes back
    empty and marked `ocr` (to be read by OCR). Limits: see `_extract_page`; a file whose structure (not a
    page) trips a limit is read once more with raised limits when `limit_factor` > 1."""
    from pypdf import apply_configuration
    from pypdf.errors import LimitReachedError

    try:
        return _read_pdf(path, data, password, limit_factor, ocr)
    except LimitReachedError as exc:
        if limit_factor <= 1:
            raise DocumentLoadError(path, f"too complex: pypdf safety limit reached ({exc})") from exc
        logger.info("%s: %s; retrying with limits x%d", path, exc, limit_factor)
    try:
        with apply_configuration(_raised_limits(limit_factor)):
            return _read_pdf(path, data, password, limit_factor, ocr)
    except LimitReachedError as exc:
        raise DocumentLoadError(
            path, f"too complex: pypdf safety limit reached even at x{limit_factor} ({exc})"
        ) from exc


# ---------------------------------------------------------------- text, HTML, DOCX


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 (with or without BOM) when it decodes; otherwise the encoding charset-normalizer detects."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise DocumentLoadError(path, "not text: could not detect an encoding")
    return str(best)


def load_text(path: Path, data: bytes) -> list[Page]:
    if sniff(data) == "binary":
        raise DocumentLoadError(path, "not a text file: binary content")
    text = _clean(decode_text(data, path))
    if not text:
        raise DocumentLoadError(path, "no extractable text: the file is empty")
    return [Page(text=text, page=None)]


class _HTMLText(HTMLParser):
    _SKIP = {"script", "style", "noscript", "template", "head"}
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def load_html(path: Path, data: bytes) -> list[Page]:
    parser = _HTMLText()
    parser.feed(decode_text(data, path))
    parser.close()
    text = _clean(re.sub(r"[ \t\r\f\v]+", " ", "".join(parser.parts)))
    if not text:
        raise DocumentLoadError(path, "no extractable text: the HTML has no visible text")
    return [Page(text=text, page=None)]


MAX_DOCX_INFLATED_BYTES = 256 * 1024 * 1024  # what a DOCX may unpack to; a zip bomb unpacks to gigabytes


def _check_inflated_size(path: Path, data: bytes, limit: int) -> None:
    """Inflate every member in pieces, counting, before python-docx reads it whole: a member that unpacks past
    `limit` in total stops here (sizes written in the zip are not trusted)."""
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    while piece := member.read(1 << 20):
                        total += len(piece)
                        if total > limit:
                            raise DocumentLoadError(
                                path, f"unpacks to more than {limit // (1024 * 1024)} MB (a zip bomb?); not read"
                            )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as exc:
        raise DocumentLoadError(path, f"not a readable DOCX ({exc})") from exc


def load_docx(path: Path, data: bytes) -> list[Page]:
    if sniff(data) != "zip":
        raise DocumentLoadError(path, "not a DOCX file (no zip container)")
    _check_inflated_size(path, data, MAX_DOCX_INFLATED_BYTES)
    try:
        import docx
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DocumentLoadError(path, "reading DOCX needs python-docx: pip install python-docx") from exc
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentLoadError(path, f"not a readable DOCX ({exc})") from exc
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text for cell in row.cells))
    text = _clean("\n".join(lines))
    if not text:
        raise DocumentLoadError(path, "no extractable text: the document is empty")
    return [Page(text=text, page=None)]


# ---------------------------------------------------------------- dispatch


def read_file(path: Path, max_bytes: int | None = None) -> bytes:
    """The file's bytes, or DocumentLoadError when it is missing, unreadable or over `max_bytes`."""
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise DocumentLoadError(path, f"too large: {size} bytes, the limit is {max_bytes}")
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise DocumentLoadError(path, "no such file") from exc
    except OSError as exc:
        raise DocumentLoadError(path, f"cannot read file ({exc.strerror or exc})") from exc


def load_image(path: Path, data: bytes) -> list[Page]:
    """An image file's text, by OCR (each frame of a TIFF is a page)."""
    from ingest.ocr import read_image_file

    texts = read_image_file(data)
    pages = [Page(_clean(t), n if len(texts) > 1 else None, ocr=True) for n, t in enumerate(texts, start=1)]
    pages = [p for p in pages if re.search(r"\w", p.text)]
    if not pages:
        raise DocumentLoadError(path, "no text found by OCR in the image")
    return pages


def load_document(
    path: Path, data: bytes | None = None, password: str | None = None, pdf_limit_factor: int = 1, ocr: bool = False
) -> list[Page]:
    """Pages of one file (`data` = its bytes when already read), or DocumentLoadError. With `ocr`, image files
    are read by OCR and a PDF's image-only pages come back marked for it (see `load_pdf`); without, both are
    refused with the reason.

    The type is chosen by extension and checked against the content."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileError(path, f"unsupported file type {suffix or '(none)'}")
    if data is None:
        data = read_file(path)
    kind = sniff(data)
    if suffix in PDF_SUFFIXES:
        if kind != "pdf":
            raise DocumentLoadError(path, "not a PDF: the file does not start with a PDF header")
        return _specific(path, suffix, lambda: load_pdf(path, data, password, pdf_limit_factor, ocr))
    if kind == "pdf":
        raise DocumentLoadError(path, f"a PDF named {suffix}: rename it to .pdf")
    if suffix in IMAGE_SUFFIXES:
        if kind != "image":
            raise DocumentLoadError(path, f"not an image: the content is not PNG, JPEG or TIFF ({kind})")
        if not ocr:
            raise DocumentLoadError(path, "an image: its text can only be read by OCR, which is off (ingest.ocr_pages)")
        return _specific(path, suffix, lambda: load_image(path, data))
    loaders: dict[str, Callable[[Path, bytes], list[Page]]] = {
        **{s: load_text for s in TEXT_SUFFIXES},
        **{s: load_html for s in HTML_SUFFIXES},
        **{s: load_docx for s in DOCX_SUFFIXES},
    }
    return _specific(path, suffix, lambda: loaders[suffix](path, data))


def _specific(path: Path, suffix: str, read: Callable[[], list[Page]]) -> list[Page]:
    """Run a reader; an exception its library was not expected to raise on damaged input (pypdf's bare
    AssertionError, an AttributeError deep in a page tree) becomes a DocumentLoadError that says what happened."""
    try:
        return read()
    except (DocumentLoadError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - libraries fail on damaged files in many ways
        logger.debug("reader failure on %s", path, exc_info=True)
        detail = f"{type(exc).__name__}: {exc}" if str(exc).strip() else type(exc).__name__
        kind = suffix.lstrip(".").upper()
        raise DocumentLoadError(path, f"damaged {kind} content the reader failed on ({detail})") from exc
