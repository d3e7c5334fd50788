"""Tables in extracted page text: where each starts, its caption and column headings, and which column is which.

PDF text extraction gives a table as lines: a caption ("CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS"), a
unit line ("(In millions ...)"), column headings ("Three Months Ended Nine Months Ended", "July 1, 2023", ...)
and rows that end in two or more figures ("Total net sales 81,797 82,959 293,787 304,182"). A table here is a
run of such rows (with short label lines between them; blank lines, which some PDFs put between all lines, do
not count) and the short lines just above its first row are its headings. When the headings hold spanning groups
("Three Months Ended", "Nine Months Ended") and a multiple of as many dates (or a month and day over a line of
years: "September 30," above "2023 2022"), each column is named: "Columns: 1) Three Months Ended July 1, 2023;
2) ...", with the change columns the headings name ("Percentage Change", "$ Change") after the periods of their
group, when a row has as many figures as there are names. The chunker (ingest.chunk) puts the headings and
column names above every chunk that continues a table.
Not here: tables in DOCX/HTML markup (their text is chunked like prose), layout analysis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.cards import MONTH_RE, find_dates
from rag.types import TABLE_CONTINUED

_FIGURE = r"(?:\(?\$?\s?\(?-?\d[\d,]*(?:\.\d+)?(?:\s?\))?(?:\s?(?:%|(?:ppts?|pts|bps)\b))?|—|–|-)"  # "2 %", "2ppt"
_ROW = re.compile(rf"^(.*?)((?:\s+{_FIGURE}){{2,}})\s*$")
_GROUP = re.compile(
    r"\b((?:Three|Six|Nine|Twelve|Thirteen|Twenty-Six|Thirty-Nine|Fifty-Two)\s+(?:Months|Weeks)\s+Ended"
    r"|(?:Fiscal\s+)?Years?\s+Ended|Quarters?\s+Ended|Periods?\s+Ended)\b",
    re.IGNORECASE,
)
_YEAR = r"(?:19|20)\d{2}"
_YEAR_COLUMNS = re.compile(rf"^\s*{_YEAR}(?:\s+{_YEAR}){{1,5}}\s*$")
_YEAR_RUN = re.compile(rf"\b{_YEAR}(?:\s+{_YEAR})+\b")
_MONTH_DAY = re.compile(rf"\b({MONTH_RE}\s+\d{{1,2}})\b")
_CHANGE = re.compile(
    r"(?:(?:\$|%|Percent(?:age)?|[a-z]+-over-[a-z]+)\s*)?\bChange\b|\bIncrease\s*/?\s*\(?Decrease\)?|\bVariance\b", re.I
)
_CHANGE_WORD = re.compile(r"\b(?:Percent(?:age)?|Change|Increase|Decrease|Variance)\b|\b[a-z]+-over-[a-z]+\b", re.I)
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


def _named(line: str) -> bool:
    """A heading line that a "Columns:" line says again: dates, or only group and change words."""
    return bool(re.search(r"\d", line)) or not re.sub(r"[\W_]+", "", _CHANGE_WORD.sub("", _GROUP.sub("", line)))


def _figure_count(line: str) -> int:
    m = _ROW.match(line)
    return len(re.findall(rf"{_FIGURE}", m.group(2))) if m else 0


def _is_row(line: str) -> bool:
    m = _ROW.match(line)
    if m is None or not re.search(r"\d", m.group(2)) or _YEAR_COLUMNS.match(line):
        return False
    return not find_dates(line)  # a line of column dates is a heading


def _period_blocks(flat: str, groups: list[str]) -> list[list[str]]:
    """The period columns of a heading, one list per spanning group (one list when there is no group)."""
    runs = [m.group().split() for m in _YEAR_RUN.finditer(flat)]
    if runs:  # "September 30, 2023 2022": a month and day over a line of years
        years = [y for run in runs for y in run]
        days = [m.group(1) for m in _MONTH_DAY.finditer(flat)]
        blocks = len(groups) or 1
        if len(years) % blocks or len(days) not in (0, 1, blocks, len(years)):
            return []
        per = len(years) // blocks
        if len(days) != len(years):  # one day for all columns, or one per group
            days = [days[min(i // per, len(days) - 1)] if days else "" for i in range(len(years))]
        names = [f"{d}, {y}" if d else y for d, y in zip(days, years, strict=True)]
        return [
            [" ".join(filter(None, (g, n))) for n in names[i * per : (i + 1) * per]]
            for i, g in enumerate(groups or [""])
        ]
    dates = [f"{d:%B} {d.day}, {d.year}" for _, d in find_dates(flat)]
    if groups and dates and len(dates) % len(groups) == 0:
        per = len(dates) // len(groups)
        return [[f"{g} {d}" for d in dates[i * per : (i + 1) * per]] for i, g in enumerate(groups)]
    return [dates] if len(dates) >= 2 else []


def column_names(header: str, changes: bool = True) -> list[str]:
    """Names of a table's columns from its heading text, or [] when they cannot be told apart.

    Each spanning group ("Three Months Ended") names its periods (full dates, or a month and day over a line of
    years); with `changes`, the change columns the heading names ("Percentage Change", "$ Change") follow the
    periods of their group, as they stand in a table."""
    flat = " ".join(header.split())
    groups = [re.sub(r"\s+", " ", m.group(1)) for m in _GROUP.finditer(flat)]
    blocks = _period_blocks(flat, groups)
    found = [" ".join(m.group().split()) for m in _CHANGE.finditer(flat)] if changes else []
    if blocks and found and len(found) % len(blocks) == 0:
        per = len(found) // len(blocks)
        for i, block in enumerate(blocks):
            own = found[i * per : (i + 1) * per]
            block += [f"{c} ({groups[i]})" if len(groups) > 1 else c for c in own]
    return [name for block in blocks for name in block]


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
            elif lines[j].strip():  # blank lines (some PDFs put one between every two rows) are no gap
                gap += 1
            j += 1
        if last > first:  # two or more rows make a table
            head = first
            heading_lines = 0
            while head > 0 and heading_lines < _MAX_HEADER_LINES:
                above = lines[head - 1].strip()
                if rows[head - 1] or len(above) > 100 or head - 1 <= previous_last:
                    break
                if above and not lines[head].strip() and _prose(above):  # a paragraph above a blank line
                    break
                if re.search(r"[.!?:]$", above) and len(above) > 60:  # the end of a sentence of prose
                    break
                head -= 1
                heading_lines += bool(above)
            header = "\n".join(line.strip() for line in lines[head:first] if line.strip())
            # the column headings are the lines above the rows up to a sentence that gives dates (a label or unit
            # line, "Net sales by category:", "($ in millions)", gives none and is passed over)
            short = first
            while short > head and not (_prose(lines[short - 1]) and re.search(r"\d", lines[short - 1])):
                short -= 1
            heading = "\n".join(line.strip() for line in lines[short:first])
            widths = {_figure_count(lines[j]) for j in range(first, last + 1) if rows[j]}
            names = column_names(heading)
            if len(names) not in widths:  # change columns the rows do not have
                names = column_names(heading, changes=False)
            if len(names) not in widths:  # names that fit no row are not the columns
                names = []
            columns = "Columns: " + "; ".join(f"{n + 1}) {c}" for n, c in enumerate(names)) if names else ""
            if columns:  # the column names carry the dates and groups: keep the caption, unit and label lines
                header = "\n".join(line for line in header.splitlines() if not _named(line))
            prefix = f"{TABLE_CONTINUED}\n" + header + (f"\n{columns}" if columns else "")
            end = offsets[last] + len(lines[last])
            tables.append(Table(offsets[head], offsets[first], end, prefix.strip(), columns))
            previous_last = last
        i = last + 1
    return tables
