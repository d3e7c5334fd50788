"""Chunking: split page text into pieces that fit the embedder's window, on sentence boundaries.

Lengths are counted with the embedder's own tokenizer, so no chunk is ever truncated when embedded.
Separators go from paragraphs to lines to sentences (Latin . ! ? and Chinese 。！？) to clauses to words;
a piece is cut mid-word only when a single word is longer than a chunk. Chunks never cross pages, so each
chunk cites one page. Ids derive from the file's path and content and the chunk's text (and its context line):
the same file ingested twice gives the same ids.

Tables (ingest.tables): a chunk that holds rows of a table repeats the table's caption and column headings when
it does not start with them, and says which column is which ("Columns: 1) Three Months Ended July 1, 2023;
..."), so a chunk of figures is never without its periods and units. The document's card line (rag.cards) is
embedded with every chunk; both are counted in the window. Not here: semantic or layout-aware chunking.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.tables import find_tables
from rag.errors import ConfigError
from rag.types import Chunk, Page

SEPARATORS = ["\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "；", "; ", "，", ", ", " ", ""]

CountTokens = Callable[[Sequence[str]], list[int]]  # tokens incl. the window's special tokens


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chunk_id(source: str, doc_hash: str, page: int | None, index: int, text: str, context: str = "") -> str:
    """Stable id of a chunk: the same file at the same path always gives the same ids."""
    extra = f"\x00{context}" if context else ""
    return sha256_text(f"{source}\x00{doc_hash}\x00{page}\x00{index}\x00{text}{extra}")[:32]


class Chunker:
    def __init__(self, count_tokens: CountTokens, window: int, max_tokens: int, overlap_tokens: int) -> None:
        """`window` is the embedder's limit incl. special tokens; `max_tokens` the target size."""
        self.count_tokens = count_tokens
        self.window = window
        self.specials = count_tokens([""])[0]  # e.g. [CLS] + [SEP] = 2
        self.size = min(max_tokens, window - self.specials)
        if self.size < 4:
            raise ConfigError(f"chunk size {self.size} tokens is too small")
        self.overlap = min(overlap_tokens, self.size // 2)

    def _splitter(self, size: int) -> RecursiveCharacterTextSplitter:
        return RecursiveCharacterTextSplitter(
            separators=SEPARATORS,
            keep_separator="end",
            chunk_size=size,
            chunk_overlap=min(self.overlap, size // 2),
            length_function=lambda text: self.count_tokens([text])[0] - self.specials,
            strip_whitespace=True,
        )

    def split(self, text: str, reserve: int = 0) -> list[str]:
        """Pieces of `text`, each within the window less `reserve` tokens (checked with the real tokenizer)."""
        window = self.window - reserve
        out: list[str] = []
        pending = [(text, max(4, min(self.size, window - self.specials)))]
        while pending:
            piece, size = pending.pop(0)
            parts = [p for p in self._splitter(size).split_text(piece) if p.strip()]
            counts = self.count_tokens(parts)
            for part, count in zip(parts, counts, strict=True):
                if count <= window or size <= 4:
                    out.append(part)
                else:  # sum of parts' tokens undercounted the whole; split this one tighter
                    pending.insert(0, (part, max(4, size * window // count - 4)))
        return out

    def _tokens(self, text: str) -> int:
        return self.count_tokens([text])[0] - self.specials if text else 0

    def page_texts(self, text: str, reserve: int) -> list[str]:
        """A page's chunk texts: split within the window less `reserve` (the context line), rows of a table
        preceded by its headings."""
        tables = [t for t in find_tables(text) if self._tokens(t.prefix) <= self.size // 2]
        if not tables:
            return self.split(text, reserve)
        prefix_tokens = max(self._tokens(t.prefix) for t in tables) + 1
        out: list[str] = []
        cursor = 0
        for piece in self.split(text, reserve + prefix_tokens):
            start = text.find(piece, cursor)
            if start < 0:
                start = cursor
            end = start + len(piece)
            cursor = max(cursor, start + 1)
            table = next((t for t in tables if start < t.end and end > t.rows_start), None)
            if table is None:
                out.append(piece)
            elif start <= table.header_start:  # the headings are in the piece: name the columns above the rows
                at = table.rows_start - start
                out.append(piece if not table.columns else f"{piece[:at]}{table.columns}\n{piece[at:]}")
            else:
                out.append(f"{table.prefix}\n{piece}")
        return out

    def chunk(self, pages: Sequence[Page], source: str, doc_hash: str, context: str = "") -> list[Chunk]:
        """The chunks of a document. `context` (the document's card line) is embedded with each chunk, so
        each chunk's text is kept short enough for both to fit the window."""
        reserve = self._tokens(context) + 1 if context else 0
        if reserve > self.size // 2:  # an overlong card line is cut, never the text
            context = context[: len(context) * (self.size // 2) // reserve]
            reserve = self._tokens(context) + 1
        chunks: list[Chunk] = []
        for page in pages:
            for text in self.page_texts(page.text, reserve):
                index = len(chunks)
                chunks.append(
                    Chunk(
                        id=chunk_id(source, doc_hash, page.page, index, text, context),
                        text=text,
                        source=source,
                        page=page.page,
                        chunk_index=index,
                        content_hash=sha256_text(text),
                        doc_hash=doc_hash,
                        context=context,
                        ocr=page.ocr,
                    )
                )
        return chunks
