"""Evaluation: retrieval on BEIR-format sets and question answering on question sets like sec-10q's.

- BEIR (`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`): nDCG@10 (trec_eval's definition: gain = the graded
  relevance, log2 discount, ideal from the judged documents), recall@10 and @100 and MRR@10, over the queries
  that have judgements. A document's rank is the rank of its first chunk.
- Question sets (CSV with columns Question, Source Docs, Answer; Question Type optional): a question is a hit at
  k when the file of any of the k chunks retrieved for it (the blocks the model is shown) matches any of its
  comma-separated "Source Docs" patterns (`*AAPL*`); hit@1 looks at the first chunk. With answers, each gold
  answer's figures (money and percentages, rag.amounts, and other numbers of three or more digits) are looked
  for in the answer, equal within 1 % after scaling (`$82.9 billion` = `82,959 million`).
- Evidence (page level): a question's evidence is a page of its one source document. The CSV may name it
  (column "Evidence Page": page numbers as the citations show them, "12" or "12; 13") or give a string the page
  holds (column "Evidence"); otherwise it is derived: the pages of the source whose text holds the gold answer's
  first `$` figure (any scale, as above), kept only when exactly one page does (a figure on several pages says
  nothing about which one answers). evidence hit@1 / hit@k: the first / any retrieved chunk lies on an
  evidence page. Questions whose patterns match no indexed file or several are not labelled. Beside it, for
  every question with a `$` answer: whether a retrieved chunk lies on any page that holds the figure.
Not here: building the index (the CLI uses ingest/), printing (app/cli.py).
"""

from __future__ import annotations

import csv
import fnmatch
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path, PurePath

from rag.amounts import find_amounts
from rag.errors import RagError
from rag.types import Chunk

# ---------------------------------------------------------------- BEIR


@dataclass(frozen=True)
class BeirSet:
    corpus: dict[str, tuple[str, str]]  # doc id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> grade


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise RagError(f"{path}, line {n}: not JSON ({exc})") from exc


def load_beir(folder: Path, split: str = "test") -> BeirSet:
    """A BEIR data set folder; only queries judged in `split` are kept."""
    paths = {name: folder / name for name in ("corpus.jsonl", "queries.jsonl")}
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for path in [*paths.values(), qrels_path]:
        if not path.is_file():
            raise RagError(f"{path} is missing: a BEIR folder has corpus.jsonl, queries.jsonl, qrels/{split}.tsv")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                continue  # the header line
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    corpus = {
        str(d["_id"]): (str(d.get("title") or ""), str(d.get("text") or "")) for d in _jsonl(paths["corpus.jsonl"])
    }
    queries = {str(q["_id"]): str(q["text"]) for q in _jsonl(paths["queries.jsonl"]) if str(q["_id"]) in qrels}
    return BeirSet(corpus, queries, {q: r for q, r in qrels.items() if q in queries})


def ndcg_at(ranked: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    dcg = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    relevant = {d for d, g in grades.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr_at(ranked: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranked[:k]):
        if grades.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def distinct(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


# ---------------------------------------------------------------- question sets


@dataclass(frozen=True)
class QaItem:
    question: str
    patterns: tuple[str, ...]
    answer: str
    kind: str = ""
    pages: tuple[int, ...] = ()  # the CSV's "Evidence Page"
    evidence: str = ""  # the CSV's "Evidence": a string the evidence page holds


def _page_numbers(raw: str, where: str) -> tuple[int, ...]:
    try:
        pages = tuple(int(p) for p in re.split(r"[;,\s]+", raw.strip()) if p)
    except ValueError:
        raise RagError(f"{where}: Evidence Page must be page numbers such as 12 or 12; 13, not {raw!r}") from None
    if any(p < 1 for p in pages):
        raise RagError(f"{where}: Evidence Page numbers start at 1, not {raw!r}")
    return pages


def load_questions(path: Path) -> list[QaItem]:
    """Rows of a question CSV (columns Question, Source Docs, Answer; Question Type, Evidence Page and
    Evidence optional)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"Question", "Source Docs"} - set(reader.fieldnames or [])
            if missing:
                raise RagError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
            return [
                QaItem(
                    row["Question"].strip(),
                    tuple(p.strip() for p in (row["Source Docs"] or "").split(",") if p.strip()),
                    (row.get("Answer") or "").strip(),
                    (row.get("Question Type") or "").strip(),
                    _page_numbers(row.get("Evidence Page") or "", f"{path} row {line}"),
                    " ".join((row.get("Evidence") or "").split()),
                )
                for line, row in enumerate(reader, start=2)
                if (row.get("Question") or "").strip()
            ]
    except OSError as exc:
        raise RagError(f"cannot read {path}: {exc}") from exc


def matches(source: str, patterns: Sequence[str]) -> bool:
    """The file matches a "Source Docs" pattern (on its name; `*X*` also as a plain substring)."""
    name = PurePath(source).name
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(name, p + ".*") for p in patterns)


_BARE = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d])|(?<![\w.,])\d{3,}(?:\.\d+)?(?![\d])")
_YEARLIKE = re.compile(r"^(19|20)\d{2}$")


def figures(text: str) -> list[Decimal]:
    """The figures of a text: amounts with currency or percent (their scale applied) and bare numbers of
    three or more digits that are not years."""
    out: list[Decimal] = [a.value for a in find_amounts(text)]
    for m in _BARE.finditer(text):
        raw = m.group(0).replace(",", "")
        if _YEARLIKE.match(raw):
            continue
        try:
            out.append(Decimal(raw))
        except InvalidOperation:
            continue
    return list(dict.fromkeys(out))


def first_money(text: str) -> Decimal | None:
    """The first `$` amount of a text, its scale applied."""
    for a in find_amounts(text):
        if a.kind == "USD" and "$" in a.head:
            return a.value
    return None


@lru_cache(maxsize=4096)  # a page is searched for the figure of every question about its document
def _figures_of(text: str, money: bool) -> tuple[Decimal, ...]:
    if money:
        for amount in find_amounts(text):
            if amount.kind == "%":
                text = text.replace(amount.text, " ")
    return tuple(figures(text))


def figure_in(value: Decimal, answer: str, tolerance: float = 0.01, money: bool = False) -> bool:
    """`value` appears in `answer` within `tolerance`, also when written in another scale
    (82,959 million = $82.959 billion = 82959). For a `money` value a percentage is no match ("40.215%" is
    not $40,215 million)."""
    if value == 0:
        return False
    for found in _figures_of(answer, money):
        for scale in (1, 10**3, 10**6, 10**9, Decimal("0.001"), Decimal("0.000001"), Decimal("0.000000001")):
            if abs(found * scale - value) <= abs(value) * Decimal(str(tolerance)):
                return True
    return False


def page_texts(chunks: Iterable[Chunk]) -> dict[str, dict[int, str]]:
    """source -> page -> the text of its chunks on that page, in order (chunks without a page left out)."""
    parts: dict[str, dict[int, list[tuple[int, str]]]] = defaultdict(lambda: defaultdict(list))
    for c in chunks:
        if c.page is not None:
            parts[c.source][c.page].append((c.chunk_index, c.text))
    return {
        source: {page: "\n".join(t for _, t in sorted(texts)) for page, texts in pages.items()}
        for source, pages in parts.items()
    }


@dataclass(frozen=True)
class Evidence:
    source: str
    pages: tuple[int, ...]
    derived_from: str  # "page" (the CSV names it), "string" (the CSV's Evidence), "gold figure"


def find_evidence(item: QaItem, pages_of: Mapping[str, Mapping[int, str]]) -> Evidence | None:
    """The question's evidence pages (module docstring), or None when it cannot be placed on one source's
    pages."""
    sources = [s for s in pages_of if matches(s, item.patterns)]
    if len(sources) != 1:
        return None
    source, pages = sources[0], pages_of[sources[0]]
    if item.pages:
        return Evidence(source, item.pages, "page")
    if item.evidence:
        wanted = " ".join(item.evidence.split()).casefold()
        found = tuple(p for p, text in sorted(pages.items()) if wanted in " ".join(text.split()).casefold())
        return Evidence(source, found, "string") if found else None
    found = figure_pages(item, {source: pages}).get(source, ())
    return Evidence(source, found, "gold figure") if len(found) == 1 else None


def figure_pages(item: QaItem, pages_of: Mapping[str, Mapping[int, str]]) -> dict[str, tuple[int, ...]]:
    """The pages of each of the question's sources that hold its gold answer's first `$` figure."""
    money = first_money(item.answer)
    if money is None:
        return {}
    out = {}
    for source, pages in pages_of.items():
        if matches(source, item.patterns):
            found = tuple(p for p, t in sorted(pages.items()) if figure_in(money, t, tolerance=0.0, money=True))
            if found:
                out[source] = found
    return out


@dataclass
class QaRecord:
    """One question's outcome, as written to the per-question report."""

    question: str
    kind: str
    patterns: list[str]
    retrieved: list[dict[str, object]]
    hit_at_1: bool
    hit_at_k: bool
    scope: list[str] = field(default_factory=list)
    answer: str | None = None
    gold_figures: int = 0
    figures_found: int = 0
    first_money_found: bool | None = None
    first_money_in_blocks: bool | None = None  # the gold figure is in the retrieved text (exactly, any scale)
    evidence: dict[str, object] | None = None  # Evidence as a dict, when the question has one
    evidence_hit_at_1: bool | None = None
    evidence_hit_at_k: bool | None = None
    figure_page_hit: bool | None = None  # a retrieved chunk lies on a page holding the gold `$` figure
    seconds: float = 0.0
