"""Tables in extracted page text: where each starts, its caption and column headings, and which column is which.

PDF text extraction gives a table as lines: a caption ("CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS"), a
unit line ("(In millions ...)"), column headings ("Three Months Ended Nine Months Ended", "July 1, 2023", ...)
and rows that end in two or more figures ("Total net sales 81,797 82,959 293,787 304,182"). A table here is a
run of such rows (with short label lines between them) and the short lines just above its first row are its
headings. When the headings hold spanning groups ("Three Months Ended", "Nine Months Ended") and a multiple of
as many dates, each column is named: "Columns: 1) Three Months Ended July 1, 2023; 2) ...". The chunker
(ingest.chunk) puts the headings and column names above every chunk that continues a table.
Not here: tables in DOCX/HTML markup (their text is chunked like prose), layout analysis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.cards import find_dates
from rag.types import TABLE_CONTINUED

_FIGURE = r"(?:\(?\$?\s?\(?-?\d[\d,]*(?:\.\d+)?\)?%?|—|–|-)"
_ROW = re.compile(rf"^(.*?)((?:\s+{_FIGURE}){{2,}})\s*$")
_GROUP = re.compile(
    r"\b((?:Three|Six|Nine|Twelve|Thirteen|Twenty-Six|Thirty-Nine|Fifty-Two)\s+(?:Months|Weeks)\s+Ended"
    r"|(?:Fiscal\s+)?Years?\s+Ended|Quarters?\s+Ended|Periods?\s+Ended)\b",
    re.IGNORECASE,
)
_YEAR_COLUMNS = re.compile(r"^\s*((?:19|20)\d{2})(?:\s+((?:19|20)\d{2})){1,5}\s*$")
_MAX_HEADER_LINES = 14
_MAX_GAP = 3  # label lines allowed between rows of one table
_LOWER_WORD = re.compile(r"(?<![\w(])[a-z][a-z]+\b")


def _prose(line: str) -> bool:
    """A line of a sentence ("... for the three months ended ... is as follows:"), not a heading."""
    return len(_LOWER_WORD.findall(line)) >= 3


@dataclass(frozen=True)
class Table:
    header_start: int  # offset of the first heading line
    rows_start: int  # offset of the first row
    end: int  # offset just past the last row
    prefix: str  # the headings and the column names, to put above a chunk that continues the table
    columns: str  # "Columns: 1) ...; 2) ..." or ""


def _figure_count(line: str) -> int:
    m = _ROW.match(line)
    return len(re.findall(rf"{_FIGURE}", m.group(2))) if m else 0


def _is_row(line: str) -> bool:
    m = _ROW.match(line)
    if m is None or not re.search(r"\d", m.group(2)) or _YEAR_COLUMNS.match(line):
        return False
    return not find_dates(line)  # a line of column dates is a heading


def column_names(header: str) -> list[str]:
    """Names of a table's columns from its heading text, or [] when they cannot be told apart."""
    groups = [re.sub(r"\s+", " ", m.group(1)) for m in _GROUP.finditer(header)]
    dates = [f"{d:%B} {d.day}, {d.year}" for _, d in find_dates(header)]
    if groups and dates and len(dates) % len(groups) == 0:
        per = len(dates) // len(groups)
        return [f"{g} {d}" for i, g in enumerate(groups) for d in dates[i * per : (i + 1) * per]]
    if len(dates) >= 2:
        return dates
    for line in header.splitlines():
        m = _YEAR_COLUMNS.match(line)
        if m:
            years = line.split()
            if groups and len(years) % len(groups) == 0:
                per = len(years) // len(groups)
                return [f"{g} {y}" for i, g in enumerate(groups) for y in years[i * per : (i + 1) * per]]
            return years
    return []


def find_tables(text: str) -> list[Table]:
    """The tables of a page's text, in order."""
    lines = text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    rows = [_is_row(line) for line in lines]
    tables: list[Table] = []
    previous_last = -1  # last row line of the table before
    i = 0
    while i < len(lines):
        if not rows[i]:
            i += 1
            continue
        first = i
        last = i
        gap = 0
        j = i + 1
        while j < len(lines) and gap <= _MAX_GAP:
            if rows[j]:
                last, gap = j, 0
            elif len(lines[j]) > 120:
                break
            else:
                gap += 1
            j += 1
        if last > first:  # two or more rows make a table
            head = first
            while head > 0 and first - head < _MAX_HEADER_LINES:
                above = lines[head - 1].strip()
                if not above or rows[head - 1] or len(above) > 100 or head - 1 <= previous_last:
                    break
                if re.search(r"[.!?:]$", above) and len(above) > 60:  # the end of a sentence of prose
                    break
                head -= 1
            header = "\n".join(line.strip() for line in lines[head:first])
            short = first  # column headings are the short lines just above the rows, not a sentence above them
            while short > head and not _prose(lines[short - 1]):
                short -= 1
            names = column_names("\n".join(line.strip() for line in lines[short:first]))
            widths = {_figure_count(lines[j]) for j in range(first, last + 1) if rows[j]}
            if len(names) not in widths:  # names that fit no row are not the columns
                names = []
            columns = "Columns: " + "; ".join(f"{n + 1}) {c}" for n, c in enumerate(names)) if names else ""
            if columns:  # the column names carry the dates: keep the caption, unit and label lines
                header = "\n".join(line for line in header.splitlines() if not re.search(r"\d", line))
            prefix = f"{TABLE_CONTINUED}\n" + header + (f"\n{columns}" if columns else "")
            end = offsets[last] + len(lines[last])
            tables.append(Table(offsets[head], offsets[first], end, prefix.strip(), columns))
            previous_last = last
        i = last + 1
    return tables
