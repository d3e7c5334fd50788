"""Query-aware compression of a retrieved chunk before it goes into the prompt: keep the sentences and table
rows that share words with the question, with what says what they are, and drop the rest.

A chunk is read as a sequence of units: prose sentences, table rows (a label followed only by figures), the
table's heading fragments ("Three Months Ended", "July 1,", "2023") and the "Columns:" line the chunker
writes (ingest.tables). A unit is kept when it holds at least half as many of the question's terms (rag.text:
stemmed, CJK characters and bigrams) as the best unit, and at least one; the heading line of the chunk and
lines giving units ("in millions") are kept with any row. When the chunk names its columns and a kept row
has one figure per column, the row is rewritten with each figure's column ("Total net sales: $ 81,797 (Three
Months Ended July 1, 2023); ..."): small models otherwise take the wrong column. The question's terms that
the document's card already holds (company, ticker, "quarterly", "report") do not count: every chunk of the
document has them. Nothing is compressed when no unit matches. Dropped stretches are marked "…".
Not here: choosing the chunks (rag.retrieve), the prompt's layout (rag.prompt), reading table rows (rag.rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.rows import column_names, is_columns_line, label_row, row_figures
from rag.text import CJK, tokenize
from rag.types import TABLE_CONTINUED

ELIDED = "…"
_UNITS = re.compile(r"\b(?:in (?:millions|billions|thousands)|dollars in|except (?:per|number))\b|百万|千元|亿元", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])")
_HEADING_PIECE = re.compile(r"^[\w ,.()/&'’-]{1,40}$")
_DATE = re.compile(
    r"^(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?(?:\s+\d{4})?$|^\d{4}(?:\s+change)?$",
    re.I,
)  # heading fragments that look like rows: "July 1,", "2023", "2022 Change"
_MIN_CHARS = 300  # shorter chunks are left whole
_CAPTION_ROWS = 8


@dataclass
class _Unit:
    text: str
    kind: str  # "prose" | "row" | "heading" | "columns" | "marker"
    score: int = 0


def _units(text: str) -> list[_Unit]:
    units: list[_Unit] = []
    prose: list[str] = []

    def flush() -> None:
        if prose:
            joined = " ".join(prose)
            units.extend(_Unit(s, "prose") for s in _SENTENCE_END.split(joined) if s.strip())
            prose.clear()

    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            flush()
            continue
        if is_columns_line(line):
            flush()
            units.append(_Unit(line, "columns"))
        elif line == TABLE_CONTINUED:
            flush()
            units.append(_Unit(line, "marker"))
        elif _DATE.match(line):
            flush()
            units.append(_Unit(line, "heading"))
        elif (row := row_figures(line)) and len(row[0]) <= 80 and ". " not in row[0]:
            flush()
            units.append(_Unit(line, "row"))
        elif _HEADING_PIECE.match(line) and not line.endswith("."):
            flush()
            units.append(_Unit(line, "heading"))
        else:
            prose.append(line)
    flush()
    return units


def _in_table(unit: _Unit) -> bool:
    """Rows, heading fragments and short lines such as "(In millions)  Shares  Amount"."""
    return unit.kind in ("row", "heading") or (unit.kind == "prose" and len(unit.text) <= 60)


def compress(text: str, question: str, card: str = "") -> str:
    """`text` cut down to what bears on `question` (see the module docstring); `text` itself when nothing
    matches or it is short."""
    if len(text) + 2 * len(CJK.findall(text)) < _MIN_CHARS:  # a CJK character is about a word
        return text
    terms = set(tokenize(question, question=True)) - set(tokenize(card))
    if not terms:
        return text
    units = _units(text)
    for unit in units:
        if unit.kind in ("prose", "row", "heading"):
            unit.score = len(terms & set(tokenize(unit.text)))
    best = max((u.score for u in units), default=0)
    if best == 0:
        return text
    cutoff = max(1, (best + 1) // 2)
    chosen = [
        u.score >= (best if u.kind == "heading" else cutoff)  # heading fragments only when they match best
        for u in units
    ]
    for i, unit in enumerate(units):  # a matching caption brings the table below it, if no row matched itself
        if not (chosen[i] and unit.kind == "prose"):
            continue
        run = i + 1
        while run < len(units) and run <= i + _CAPTION_ROWS and _in_table(units[run]):
            run += 1
        below = range(i + 1, run)
        rows = [j for j in below if units[j].kind == "row"]
        if rows and not any(chosen[j] for j in rows):
            for j in below:
                chosen[j] = True
    columns = column_names(text)
    keep_row = any(c and u.kind == "row" for u, c in zip(units, chosen, strict=True))
    kept: list[str] = []
    dropped = False
    for i, unit in enumerate(units):
        keep = chosen[i]
        if unit.kind == "marker" or (unit.kind == "columns" and keep_row):
            keep = True
        elif unit.kind == "heading" and keep_row and not columns:
            keep = True  # the table's own headings say which column is which
        elif keep_row and unit.kind in ("prose", "heading") and _UNITS.search(unit.text):
            keep = True
        elif i == 0 and unit.kind == "heading":
            keep = True  # the chunk's heading
        if keep:
            if dropped and kept and kept[-1] != ELIDED:
                kept.append(ELIDED)
            kept.append(label_row(unit.text, columns) if unit.kind == "row" else unit.text)
            dropped = False
        else:
            dropped = True
    if dropped:
        kept.append(ELIDED)
    return "\n".join(kept)
