"""Row fit: how well the best table row of a retrieved chunk names what the question asks for.

A figure in a filing sits in a table row ("Research and development 7,442 6,797 22,608 19,490") whose label is
the line item a question names ("How much did Apple spend on research and development ..."). A chunk of a
statement holds twenty such rows, so its embedding and its BM25 score say little about any one of them: the
chunk that holds the asked row ranks below prose that repeats the question's words. Here each candidate chunk
is scored by its best row: the share of the question's terms the row's label holds, each term weighted by how
rare it is among the candidates' lines (inverse document frequency), so that words every line shares (the
company, "quarter", "million") count for little and the line item counts for much. Retrieval
(rag.retrieve) adds `row_weight` times this to the fused score of every candidate.

A row is a line that ends in `min_figures` figures or more after a label (rag.compress.row_figures); prose and
headings score 0. No rule here names a company, a form or a line item.
Not here: reading the cell a question asks for (rag.lookup), finding the rows in page text (ingest.tables).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from rag.compress import row_figures
from rag.keyword import tokenize
from rag.types import Hit

MAX_LABEL = 120  # characters: a longer "label" is a sentence that ends in figures, not a row


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
