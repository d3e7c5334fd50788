"""Table look-up: the figure a question asks for, read by the engine from a table in the retrieved blocks and
stated in a line under the question.

Small models read wide tables badly: asked for "the latest quarter", the default 1.5B model often copies the
nine-month column, or a percentage row for an amount. The chunker names a table's columns ("Columns: 1) Three
Months Ended July 1, 2023; 2) ...", ingest.tables); here a question that asks about one period is matched
against them:

- the column: the question's kind of period ("six months", "nine months" / "year to date", "fiscal year", else
  a quarter) ending on the date the question names, or else on the date the block's document covers (its card,
  rag.cards: the period a report covers is what "Q3 2023" or "the latest 10-Q" picked it for);
- the row: the label most of whose words the question holds ("iPhone" over "Total net sales" for "the total
  revenue from iPhone sales"), then the shared words weighted by how rare they are in the blocks; half of the
  label's words at least must be the question's, a row of percentages counts only when the question asks for
  one, and a tie between two rows with different figures is no answer.

The line names the row, the column, the file and page, and the figure with the table's unit. It stands outside
the quoted blocks, so a row whose label addresses an AI (rag.guard) or is longer than a label is never used, and
chat-template markers are broken up (rag.prompt.inert). No line when the question names no period or two
(two dates, two fiscal quarters), or no column or row fits.
Not here: where the columns' names come from (ingest.tables), the prompt's layout (rag.prompt).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import PurePath

from rag.cards import find_dates, question_scope
from rag.guard import remove_instructions
from rag.prompt import inert
from rag.rows import column_names, row_figures
from rag.text import tokenize
from rag.types import Hit

_GROUPS = (
    ("six", re.compile(r"\bsix[- ]months?\b|\bhalf[- ]year\b|\bfirst half\b|\b26 weeks\b", re.I)),
    ("nine", re.compile(r"\bnine[- ]months?\b|\byear[- ]to[- ]date\b|\bytd\b|\b39 weeks\b", re.I)),
    (
        "year",
        re.compile(
            r"\b(?:fiscal|full)[- ]year\b|\byears? ended\b|\bannual\b|\btwelve[- ]months?\b|\b52 weeks\b|\b10-k\b", re.I
        ),
    ),
    ("quarter", re.compile(r"\bquarter(?:ly)?\b|\bthree[- ]months?\b|\bQ[1-4]\b|\b10-q\b|\b13 weeks\b", re.I)),
)
_COLUMN_GROUPS = {
    "six": re.compile(r"^(?:Six Months|Twenty-Six Weeks|26 Weeks) Ended\b", re.I),
    "nine": re.compile(r"^(?:Nine Months|Thirty-Nine Weeks|39 Weeks) Ended\b", re.I),
    "year": re.compile(r"^(?:(?:Fiscal )?Years? Ended|Twelve Months Ended|Fifty-Two Weeks Ended)\b", re.I),
    "quarter": re.compile(r"^(?:Three Months|Thirteen Weeks|13 Weeks|Quarters? Ended)", re.I),
}
_PERIOD_WORDS = {"latest", "recent", "most", "quarter", "quarterli", "month", "three", "six", "nine", "year"}
_PERCENT = re.compile(r"%|\bpercent|\bratio\b|\brate\b|\bshare of\b|百分", re.I)
_MAX_LABEL = 80  # characters
_UNIT = re.compile(r"\((?:[^()]*?\b)?in (millions|billions|thousands)\b", re.I)


@dataclass(frozen=True)
class Cell:
    label: str
    column: str
    figure: str
    unit: str  # "millions", or ""
    hit: Hit

    def note(self) -> str:
        where = PurePath(self.hit.chunk.source).name
        page = f"page {self.hit.chunk.page} of " if self.hit.chunk.page is not None else ""
        unit = f" (in {self.unit})" if self.unit else ""
        return inert(
            f'Table look-up by the engine: in the table on {page}{where}, the row "{self.label}" and the column '
            f'"{self.column}" hold {self.figure}{unit}.'
        )


def _asked_group(question: str) -> str | None:
    for name, pattern in _GROUPS:
        if pattern.search(question):
            return name
    return None


def _column_ends_on(column: str, day: date) -> bool:
    written = f"{day:%B} {day.day}, {day.year}"
    return column.endswith(written) or (column.endswith(str(day.year)) and not find_dates(column))


def _card_date(hit: Hit) -> date | None:
    dates = [d for _, d in find_dates(hit.chunk.context)]
    return dates[-1] if dates else None


def _rows(hit: Hit) -> list[tuple[str, list[str], list[str], str]]:
    """(label, figures, column names, unit) of every row of `hit` that has one figure per named column."""
    rows = []
    columns: list[str] = []
    unit = ""
    for line in hit.chunk.text.split("\n"):
        if line.startswith("Columns: "):
            columns = column_names(line)
            continue
        if m := _UNIT.search(line):
            unit = m.group(1).lower()
        parsed = row_figures(line) if columns else None
        if not parsed or len(parsed[1]) != len(columns) or len(parsed[0]) > _MAX_LABEL:
            continue
        if remove_instructions(parsed[0])[1] == 0:  # a label addressed to an AI is never quoted outside the blocks
            rows.append((parsed[0], parsed[1], columns, unit))
    return rows


def find_cell(question: str, hits: Sequence[Hit]) -> Cell | None:
    """The table cell `question` asks for among `hits` (see the module docstring), or None."""
    group = _asked_group(question)
    scope = question_scope(question, [])
    if group is None and not scope.latest and not scope.dates:
        return None
    if len(set(scope.dates)) > 1 or len(scope.fiscal) > 1:
        return None
    group = group or "quarter"
    card_terms = {t for h in hits for t in tokenize(h.chunk.context)}
    wanted = set(tokenize(question, question=True)) - card_terms - _PERIOD_WORDS
    wanted = {t for t in wanted if not t.isdigit()}
    if not wanted:
        return None
    counts = Counter(t for h in hits for t in tokenize(h.chunk.text) if t in wanted)
    percent_asked = bool(_PERCENT.search(question))
    scored: list[tuple[float, float, Cell]] = []
    for hit in hits:
        day = scope.dates[0] if scope.dates else _card_date(hit)
        if day is None:
            continue
        for label, figures, columns, unit in _rows(hit):
            at = [i for i, c in enumerate(columns) if _COLUMN_GROUPS[group].match(c) and _column_ends_on(c, day)]
            if len(at) != 1 or figures[at[0]] in ("—", "–", "-"):
                continue
            if not percent_asked and all(f.endswith("%") for f in figures):
                continue
            own = set(tokenize(label))
            shared = own & wanted
            if not shared or len(shared) * 2 < len(own):
                continue
            weight = sum(1.0 / counts[t] for t in shared if counts[t])
            scored.append((len(shared) / len(own), weight, Cell(label, columns[at[0]], figures[at[0]], unit, hit)))
    if not scored:
        return None
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    best = scored[0]
    rivals = [s for s in scored[1:] if (s[0], s[1]) == (best[0], best[1]) and s[2].figure != best[2].figure]
    return None if rivals else best[2]


def lookup_note(question: str, hits: Sequence[Hit]) -> str | None:
    """The line stating the cell `question` asks for, or None."""
    cell = find_cell(question, hits)
    return cell.note() if cell else None
