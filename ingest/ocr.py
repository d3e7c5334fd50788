"""OCR for pages without a text layer: scanned PDF pages and image files, read by RapidOCR.

`rapidocr-onnxruntime` carries PP-OCRv4 detection and recognition models for Chinese and English inside its
wheel (onnxruntime only; nothing is downloaded); pypdfium2 renders a PDF page to pixels. The engine is loaded
once per parsing process (ingest.workers), on the first page it reads. Lines come back in reading order (top
to bottom, then left to right within a line's height); a line the recogniser is unsure of (score below 0.5)
is left out rather than guessed.
Not here: deciding which pages need OCR and the time limit per page (ingest.load, ingest.workers).
"""

from __future__ import annotations

import io
import threading
from typing import Any

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
DPI = 150  # render scale for PDF pages: small print stays legible, a letter page is 1275 x 1650 pixels
MAX_SIDE = 4000  # pixels; a larger page or image is scaled down first (an enormous page is not a memory bomb)

_engine: Any = None
_lock = threading.Lock()


def _ocr() -> Any:
    global _engine
    with _lock:
        if _engine is None:
            from rapidocr_onnxruntime import RapidOCR

            _engine = RapidOCR(use_cls=False, print_verbose=False)
        return _engine


Box = tuple[float, float, float, float]  # left, top, right, bottom, in pixels


def _boxes(result: list[Any] | None) -> list[tuple[float, float, float, str, Box]]:
    """RapidOCR's confident boxes as (vertical centre, height, left, text, box), top to bottom."""
    boxes = []
    for box, text, score in result or []:
        if float(score) < 0.5 or not str(text).strip():
            continue
        xs, ys = [p[0] for p in box], [p[1] for p in box]
        rect = (min(xs), min(ys), max(xs), max(ys))
        boxes.append((sum(ys) / len(ys), max(ys) - min(ys), min(xs), str(text).strip(), rect))
    return sorted(boxes, key=lambda b: (b[0], b[2]))


def _reading_order(result: list[Any] | None) -> list[list[tuple[str, Box]]]:
    """The boxes in lines, in reading order: boxes whose vertical centres are within half a line's height of
    each other form one line, read left to right."""
    lines: list[list[tuple[float, str, Box]]] = []
    last_y, last_h = None, 0.0
    for y, h, x, text, rect in _boxes(result):
        if last_y is None or y - last_y > max(h, last_h) / 2:
            lines.append([])
            last_y, last_h = y, h
        lines[-1].append((x, text, rect))
    return [[(text, rect) for _, text, rect in sorted(line, key=lambda b: b[0])] for line in lines]


def _lines(result: list[Any] | None) -> str:
    return "\n".join(" ".join(text for text, _ in line) for line in _reading_order(result))


def _recognise(image: Any) -> list[Any] | None:
    import numpy as np
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image))
    image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    result, _ = _ocr()(np.asarray(image))
    return result  # type: ignore[no-any-return]


def read_image(image: Any) -> str:
    """The text of one image (a numpy RGB array or a PIL image)."""
    return _lines(_recognise(image))


def read_boxes(image: Any) -> list[tuple[Box, str]]:
    """Each piece of text `read_image` reads, with its box, in the same reading order. The image must be at
    most MAX_SIDE pixels a side (boxes are in its pixels)."""
    return [(rect, text) for line in _reading_order(_recognise(image)) for text, rect in line]


def read_pdf_page(data: bytes, number: int, password: str | None = None) -> str:
    """The text of page `number` (1-based) of a PDF, rendered at DPI."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data, password=password)
    try:
        page = pdf[number - 1]
        width, height = page.get_size()
        scale = min(DPI / 72, MAX_SIDE / max(width, height, 1.0))
        image = page.render(scale=scale).to_pil()
        page.close()
    finally:
        pdf.close()
    return read_image(image)


def read_image_file(data: bytes) -> list[str]:
    """The text of each frame of an image file (a TIFF may hold several pages)."""
    from PIL import Image, ImageSequence

    with Image.open(io.BytesIO(data)) as image:
        return [read_image(frame.copy()) for frame in ImageSequence.Iterator(image)]
