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


def _lines(result: list[Any] | None) -> str:
    """RapidOCR's boxes as text in reading order: boxes whose vertical centres are within half a line's
    height of each other form one line, read left to right."""
    boxes = []
    for box, text, score in result or []:
        if float(score) < 0.5 or not str(text).strip():
            continue
        ys = [p[1] for p in box]
        boxes.append((sum(ys) / len(ys), max(ys) - min(ys), min(p[0] for p in box), str(text).strip()))
    boxes.sort()
    lines: list[list[tuple[float, str]]] = []
    last_y, last_h = None, 0.0
    for y, h, x, text in boxes:
        if last_y is None or y - last_y > max(h, last_h) / 2:
            lines.append([])
            last_y, last_h = y, h
        lines[-1].append((x, text))
    return "\n".join(" ".join(t for _, t in sorted(line)) for line in lines)


def read_image(image: Any) -> str:
    """The text of one image (a numpy RGB array or a PIL image)."""
    import numpy as np
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image))
    image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    result, _ = _ocr()(np.asarray(image))
    return _lines(result)


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
