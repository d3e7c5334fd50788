"""Plain data passed between ingest, store, retrieval and answering. No behaviour beyond formatting."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath

# The first line of a chunk that continues a table: its headings follow (ingest.tables writes it; the prompt
# and compression read it).
TABLE_CONTINUED = "(table continued)"


@dataclass(frozen=True)
class Page:
    """Text of one page (PDF) or of a whole document (other formats, page None)."""

    text: str
    page: int | None
    ocr: bool = False  # read by OCR (no text layer); with empty text in a parser's result: still to be read


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    source: str
    page: int | None
    chunk_index: int
    content_hash: str
    doc_hash: str
    context: str = ""  # the document's card line (rag.cards), embedded and keyword-indexed with the text
    ocr: bool = False  # the text was read by OCR from an image of the page

    @property
    def file_name(self) -> str:
        return PurePath(self.source).name

    @property
    def embed_text(self) -> str:
        """What is embedded and keyword-indexed: the card line, then the text."""
        return f"{self.context}\n{self.text}" if self.context else self.text

    def metadata(self) -> dict[str, str | int]:
        meta: dict[str, str | int] = {
            "source": self.source,
            "file_name": self.file_name,
            "chunk_index": self.chunk_index,
            "content_hash": self.content_hash,
            "doc_hash": self.doc_hash,
        }
        if self.context:
            meta["context"] = self.context
        if self.ocr:
            meta["ocr"] = 1
        if self.page is not None:
            meta["page"] = self.page
        return meta


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk and its cosine similarity to the question (1.0 = same direction)."""

    chunk: Chunk
    score: float


def cite(n: int, name: str, page: int | None) -> str:
    """How a block is named to the model and to people: "[2] q3.pdf, page 4" ("[2] notes.md" without pages)."""
    return f"[{n}] {name}" + (f", page {page}" if page is not None else "")


@dataclass(frozen=True)
class Source:
    n: int
    source: str
    page: int | None
    score: float
    text: str
    chunk_id: str = ""
    context: str = ""  # the document's card line, shown to the model with the text
    ocr: bool = False  # the text was read by OCR

    @classmethod
    def of(cls, n: int, hit: Hit) -> Source:
        """Block `n` of a prompt, shown from `hit`."""
        c = hit.chunk
        return cls(n, c.source, c.page, round(hit.score, 4), c.text, c.id, c.context, c.ocr)

    def citation(self) -> str:
        return cite(self.n, PurePath(self.source).name, self.page)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"n": self.n, "source": self.source, "page": self.page, "score": self.score}
        return {**out, "text": self.text, **({"ocr": True} if self.ocr else {})}


@dataclass
class Timings:
    retrieve_s: float = 0.0
    first_token_s: float | None = None
    total_s: float = 0.0
    rerank_s: float | None = None  # part of retrieve_s, when a cross-encoder re-ranks


@dataclass
class AnswerResult:
    answer: str
    sources: list[Source]
    timings: Timings = field(default_factory=Timings)
    found: bool = True
    standalone_question: str | None = None
    unsupported: list[dict[str, object]] = field(default_factory=list)
    withheld: bool = False  # stopped by the answer check (rag.guard): `answer` says why

    def to_dict(self) -> dict[str, object]:
        return {
            "answer": self.answer,
            **({"withheld": True} if self.withheld else {}),
            "unsupported": self.unsupported,
            "sources": [s.to_dict() for s in self.sources],
            "timings": {
                "retrieve_s": round(self.timings.retrieve_s, 4),
                "first_token_s": None if self.timings.first_token_s is None else round(self.timings.first_token_s, 4),
                "total_s": round(self.timings.total_s, 4),
                **({} if self.timings.rerank_s is None else {"rerank_s": round(self.timings.rerank_s, 4)}),
            },
        }
