"""Table rows in chunk text: reading them (a label, then figures; the chunker's "Columns:" line) and their fit
to a question, for the table look-up (rag.lookup), compression (rag.compress) and retrieval (rag.retrieve).

Row fit: how well the best table row of a retrieved chunk names what the question asks for.

A figure in a filing sits in a table row ("Research and development 7,442 6,797 22,608 19,490") whose label is
the line item a question names ("How much did Apple spend on research and development ..."). A chunk of a
statement holds twenty such rows, so its embedding and its BM25 score say little about any one of them: the
chunk that holds the asked row ranks below prose that repeats the question's words. Here each candidate chunk
is scored by its best row: the share of the question's terms the row's label holds, each term weighted by how
rare it is among the candidates' lines (inverse document frequency), so that words every line shares (the
company, "quarter", "million") count for little and the line item counts for much. Retrieval
(rag.retrieve.promote_row) moves the candidate with the best fused score + `row_weight` x this to the front.

A row is a line that ends in `min_figures` figures or more after a label (row_figures); prose and headings
score 0. No rule here names a company, a form or a line item.
Not here: reading the cell a question asks for (rag.lookup), finding the rows in page text (ingest.tables).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from rag.text import tokenize
from rag.types import Hit

_FIGURE = r"\(?-?\$?\s?\d[\d,]*(?:\.\d+)?(?:\s?\))?\s?%?|—|–"  # "(554 )": a negative figure as some PDFs extract it
# Each figure is an atomic group and the label holds no nested quantifier, so a line is matched in quadratic
# time at worst: with "(?:(?:figure)\s*)+" a run of digits could be split into figures in exponentially many
# ways, and a 147-character footnote ending in "0.2, 12.8, 14.5, 17.0, 13.6, and 13.5 years as of" took 95 s.
_ROW = re.compile(rf"^(?P<label>.*?)\s+(?P<figures>(?:(?>{_FIGURE})\s*+)+)$")
_LETTER = re.compile(r"[^\W\d_]")
_ONE_FIGURE = re.compile(_FIGURE)
_COLUMNS_LINE = re.compile(r"^Columns: (?P<names>.+)$")
_COLUMN_NAME = re.compile(r"(?:^|;\s*)\d+\)\s*")
MAX_LABEL = 120  # characters: a longer "label" is a sentence that ends in figures, not a row


def is_columns_line(line: str) -> bool:
    """The "Columns: 1) ...; 2) ..." line the chunker writes under a table (ingest.tables)."""
    return bool(_COLUMNS_LINE.match(line.strip()))


def column_names(text: str) -> list[str]:
    """The names on the chunk's "Columns:" line, in order ([] when it has none)."""
    for line in text.split("\n"):
        if m := _COLUMNS_LINE.match(line.strip()):
            return [n.strip() for n in _COLUMN_NAME.split(m.group("names")) if n.strip()]
    return []


def _parse(line: str) -> re.Match[str] | None:
    """A label that holds a letter, then only figures. The first split whose rest is all figures is taken: when
    its label has no letter, neither has the line (figures hold none), so no later split could do better."""
    m = _ROW.match(line)
    return m if m and _LETTER.search(m.group("label")) else None


def row_figures(line: str) -> tuple[str, list[str]] | None:
    """A table row's label and figures ("Total net sales 81,797 82,959" -> ("Total net sales", ["81,797",
    "82,959"])), or None for a line that is no row."""
    m = _parse(line.strip())
    if not m:
        return None
    return m.group("label").strip(), [f.strip() for f in _ONE_FIGURE.findall(m.group("figures")) if f.strip()]


def label_row(row: str, columns: list[str]) -> str:
    """A table row with each figure followed by its column's name, when there is one figure per column."""
    parsed = row_figures(row)
    if not parsed or not columns or len(parsed[1]) != len(columns):
        return row
    label, figures = parsed
    return f"{label}: " + "; ".join(f"{f} ({c})" for f, c in zip(figures, columns, strict=True))


def row_labels(text: str, min_figures: int = 2) -> list[frozenset[str]]:
    """The index terms of the label of each table row of `text`."""
    labels = []
    for line in text.splitlines():
        parsed = row_figures(line)
        if parsed and len(parsed[1]) >= min_figures and len(parsed[0]) <= MAX_LABEL:
            labels.append(frozenset(tokenize(parsed[0])))
    return labels


def row_fit(question: str, hits: Sequence[Hit], min_figures: int = 2) -> dict[str, float]:
    """For each hit's chunk id: the best share (0..1, rarity-weighted) of the question's terms that one of its
    table rows' labels holds; rarity is counted over the lines of all `hits`."""
    wanted = set(tokenize(question, question=True))
    if not wanted:
        return {}
    lines = 0
    seen: Counter[str] = Counter()
    rows: dict[str, list[frozenset[str]]] = {}
    for hit in hits:
        for line in hit.chunk.text.splitlines():
            if line.strip():
                lines += 1
                seen.update(wanted.intersection(tokenize(line)))
        rows[hit.chunk.id] = row_labels(hit.chunk.text, min_figures)
    weight = {t: math.log(1 + lines / (1 + seen[t])) for t in wanted}
    total = sum(weight.values())
    return {
        chunk_id: max((sum(weight[t] for t in wanted & label) / total for label in labels), default=0.0)
        for chunk_id, labels in rows.items()
    }
