"""Chunking: split page text into pieces that fit the embedder's window, on sentence boundaries.

Lengths are counted with the embedder's own tokenizer, so no chunk is ever truncated when embedded.
Separators go from paragraphs to lines to sentences (Latin . ! ? and Chinese 。！？) to clauses to words;
a piece is cut mid-word only when a single word is longer than a chunk. Chunks never cross pages, so each
chunk cites one page. Ids derive from the file's path and content and the chunk's text: the same file
ingested twice gives the same ids. Not here: semantic or layout-aware (table) chunking.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.types import Chunk, Page

SEPARATORS = ["\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "；", "; ", "，", ", ", " ", ""]

CountTokens = Callable[[Sequence[str]], list[int]]  # tokens incl. the window's special tokens


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chunk_id(source: str, doc_hash: str, page: int | None, index: int, text: str) -> str:
    """Stable id of a chunk: the same file at the same path always gives the same ids."""
    return sha256_text(f"{source}\x00{doc_hash}\x00{page}\x00{index}\x00{text}")[:32]


class Chunker:
    def __init__(self, count_tokens: CountTokens, window: int, max_tokens: int, overlap_tokens: int) -> None:
        """`window` is the embedder's limit incl. special tokens; `max_tokens` the target size."""
        self.count_tokens = count_tokens
        self.window = window
        self.specials = count_tokens([""])[0]  # e.g. [CLS] + [SEP] = 2
        self.size = min(max_tokens, window - self.specials)
        if self.size < 4:
            raise ValueError(f"chunk size {self.size} tokens is too small")
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

    def split(self, text: str) -> list[str]:
        """Pieces of `text`, each within the window (checked with the real tokenizer)."""
        out: list[str] = []
        pending = [(text, self.size)]
        while pending:
            piece, size = pending.pop(0)
            parts = [p for p in self._splitter(size).split_text(piece) if p.strip()]
            counts = self.count_tokens(parts)
            for part, count in zip(parts, counts, strict=True):
                if count <= self.window:
                    out.append(part)
                else:  # sum of parts' tokens undercounted the whole; split this one tighter
                    pending.insert(0, (part, max(4, size * self.window // count - 4)))
        return out

    def chunk(self, pages: Sequence[Page], source: str, doc_hash: str) -> list[Chunk]:
        chunks: list[Chunk] = []
        for page in pages:
            for text in self.split(page.text):
                index = len(chunks)
                chunks.append(
                    Chunk(
                        id=chunk_id(source, doc_hash, page.page, index, text),
                        text=text,
                        source=source,
                        page=page.page,
                        chunk_index=index,
                        content_hash=sha256_text(text),
                        doc_hash=doc_hash,
                    )
                )
        return chunks
