"""The cited passage where it stands: a PDF page rendered with the passage marked, or a text's passage with the
text around it.

A chunk's text is not a verbatim slice of the page (pypdf and pdfium space words differently; a chunk that
continues a table starts with the table's headings and names its columns), so the passage is found by its
words: each run of three consecutive words of the page that also follow each other in the passage is part of
it, and the densest stretch of such runs is the passage. On a page with a text layer the stretch's characters
are boxed from pdfium's own positions; a scanned page is read by OCR (ingest.ocr) and the boxes of its lines
that fall in the stretch are marked (there runs of eight letters or digits stand for words: OCR drops spaces).
Words are letters and digits; Chinese, Japanese and Korean characters count one each. Runs in the worker
processes of uploads (ingest.workers), on the pages a reader asks for.
Not here: which pages to show and caching them (app/), parsing for the index (ingest.load).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from rag.errors import InputError

DPI = 100  # a letter page is 850 x 1100 pixels: readable in the app's column
MARK = (255, 213, 0, 110)  # translucent yellow
OUTLINE = (214, 120, 0, 255)
_CHARACTER = re.compile(r"[^\W_]")
_OPENING, _CLOSING = set("<([{\"'“‘$€£¥#+-/"), set(">)]}\"'”’%")  # a marked word takes these along
_GAP = 12  # marked words further apart than this many words belong to separate stretches
_WORD = re.compile(
    r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]|[^\W_\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]+"
)


@dataclass(frozen=True)
class PageView:
    png: bytes
    marks: int  # boxes drawn (0: the passage was not found on the page)
    ocr: bool  # the page has no text layer: positions come from OCR


@dataclass(frozen=True)
class Context:
    before: str
    passage: str
    after: str


def _words(text: str, characters: bool) -> list[tuple[int, int, str]]:
    pattern = _CHARACTER if characters else _WORD
    return [(m.start(), m.end(), m.group().casefold()) for m in pattern.finditer(text)]


def locate(text: str, passage: str, characters: bool = False) -> tuple[int, int] | None:
    """The character span of `text` that holds `passage` (found by its words, see the module), or None. With
    `characters`, by runs of letters and digits whatever the spaces (OCR often drops them: "Claimsolderthan")."""
    words = _words(text, characters)
    wanted = [w for _, _, w in _words(passage, characters)]
    if not words or not wanted:
        return None
    n, gap = (8, 4 * _GAP) if characters else (3, _GAP)
    n = min(n, len(wanted))
    grams = {tuple(wanted[i : i + n]) for i in range(len(wanted) - n + 1)}
    marked = sorted(
        {
            j
            for i in range(len(words) - n + 1)
            if tuple(w for _, _, w in words[i : i + n]) in grams
            for j in range(i, i + n)
        }
    )
    if not marked:
        return None
    stretches: list[list[int]] = [[marked[0]]]
    for i in marked[1:]:
        if i - stretches[-1][-1] > gap:
            stretches.append([])
        stretches[-1].append(i)
    best = max(stretches, key=len)
    start, end = words[best[0]][0], words[best[-1]][1]
    while start > 0 and text[start - 1] in _OPENING:  # "<script", "$81,797", "(1"
        start -= 1
    while end < len(text) and text[end] in _CLOSING:  # "</script>", "12%", "(1)"
        end += 1
    last = passage.rstrip()[-1:]
    if last and not last.isalnum() and text[end : end + 1] == last:  # the full stop the passage ends with
        end += 1
    return start, end


def in_context(text: str, passage: str, around: int = 600) -> Context | None:
    """`passage` within `text` with up to `around` characters either side (cut at a line or word), or None."""
    span = locate(text, passage)
    if span is None:
        return None
    start, end = span
    before, after = text[max(0, start - around) : start], text[end : end + around]
    if start > around:  # cut after the first space or line break: no half word
        before = "…" + re.split(r"\s", before, maxsplit=1)[-1]
    if end + around < len(text):
        cut = max(after.rfind("\n"), after.rfind(" "))
        after = (after[:cut] if cut > 0 else after) + "…"
    return Context(before, text[start:end], after)


def _draw(image: Any, boxes: list[tuple[float, float, float, float]], size: tuple[int, int]) -> bytes:
    """`image` with each (left, top, right, bottom) pixel box marked, as PNG of `size` pixels."""
    from PIL import Image, ImageDraw

    if image.size != size:
        sx, sy = size[0] / image.width, size[1] / image.height
        image = image.resize(size)
        boxes = [(a * sx, b * sy, c * sx, d * sy) for a, b, c, d in boxes]

    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for left, top, right, bottom in boxes:
        draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=MARK, outline=OUTLINE, width=2)
    out = io.BytesIO()
    Image.alpha_composite(base, layer).convert("RGB").save(out, format="PNG", optimize=True)
    return out.getvalue()


def _ocr_boxes(image: Any, passage: str) -> list[tuple[float, float, float, float]]:
    """The pixel boxes of the OCR lines of `image` that hold part of `passage`."""
    from ingest.ocr import read_boxes

    lines = read_boxes(image)
    text, spans = "", []
    for box, line in lines:
        spans.append((len(text), len(text) + len(line), box))
        text += line + "\n"
    found = locate(text, passage, characters=True)
    if found is None:
        return []
    start, end = found
    return [box for s, e, box in spans if s < end and e > start]


def render_page(
    data: bytes, number: int, passage: str, password: str | None = None, dpi: int = DPI, ocr: bool = False
) -> PageView:
    """Page `number` (1-based) of the PDF `data` as PNG, with `passage` marked; positions from OCR when the
    page has no text layer or the passage was read by OCR (`ocr`: ingest read the page so)."""
    import pypdfium2 as pdfium

    from ingest import ocr as reader

    pdf = pdfium.PdfDocument(data, password=password)
    try:
        if not 1 <= number <= len(pdf):
            raise InputError(f"the PDF has {len(pdf)} pages, not a page {number}")
        page = pdf[number - 1]
        width, height = page.get_size()
        textpage = page.get_textpage()
        text = textpage.get_text_range()
        scanned = ocr or not text.strip()
        # a scan is read at the resolution ingest read it at, then shown at `dpi` like the others
        scale = min((reader.DPI if scanned else dpi) / 72, reader.MAX_SIDE / max(width, height, 1.0))
        image = page.render(scale=scale).to_pil()
        boxes: list[tuple[float, float, float, float]] = []
        span = None if scanned else locate(text, passage)
        if span is not None:
            start, end = span
            for i in range(textpage.count_rects(start, end - start)):
                left, bottom, right, top = textpage.get_rect(i)
                boxes.append((left * scale, (height - top) * scale, right * scale, (height - bottom) * scale))
        textpage.close()
        page.close()
    finally:
        pdf.close()
    if scanned:
        boxes = _ocr_boxes(image, passage)
    shown = min(dpi / 72, reader.MAX_SIDE / max(width, height, 1.0))
    png = _draw(image, boxes, (round(width * shown), round(height * shown)))
    return PageView(png, len(boxes), scanned)
