"""Vector stores: the `Store` interface and its real default, a persistent Chroma collection on disk.

The collection records the embedding model's name and dimension in its metadata; opening it with another
model raises IndexMismatchError instead of failing later on a dimension error. Similarity is cosine.
Not here: a Chroma server client (same class, other client), lexical search, reranking.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from rag.errors import ConfigError, IndexMismatchError, RagError
from rag.types import Chunk, Hit

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")


def check_collection_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        raise ConfigError(
            f"invalid collection name {name!r}: use 3-512 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


class Store(Protocol):
    def add(self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]) -> int:
        """Add chunks not stored yet (by id), all or nothing; return how many were new."""
        ...

    def search(self, embedding: Sequence[float], k: int) -> list[Hit]:
        """The k most similar chunks, best first."""
        ...

    def has_document(self, doc_hash: str) -> bool: ...

    def count(self) -> int: ...


def _chunk_from(id_: str, text: str, meta: dict[str, Any]) -> Chunk:
    page = meta.get("page")
    return Chunk(
        id=id_,
        text=text,
        source=str(meta.get("source", "")),
        page=int(page) if page is not None else None,
        chunk_index=int(meta.get("chunk_index", 0)),
        content_hash=str(meta.get("content_hash", "")),
        doc_hash=str(meta.get("doc_hash", "")),
    )


class ChromaStore:
    """One Chroma collection. `create=False` opens an existing collection only (for asking)."""

    def __init__(
        self,
        path: Path,
        collection: str,
        embedding_model: str,
        dim: int,
        create: bool = True,
        client: Any = None,
    ) -> None:
        self.path = path
        self.name = check_collection_name(collection)
        self.embedding_model = embedding_model
        self.dim = dim
        if client is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(
                path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
            )
        self.client = client
        self.collection = self._open(create)

    def _open(self, create: bool) -> Any:
        existing = {c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()}
        if self.name not in existing:
            if not create:
                raise RagError(
                    f"collection {self.name!r} does not exist in {self.path}: "
                    "run `ragqa ingest PATH` first (or pass --index/--collection)"
                )
            return self.client.create_collection(
                self.name,
                metadata={
                    "hnsw:space": "cosine",
                    "embedding_model": self.embedding_model,
                    "embedding_dim": self.dim,
                },
                embedding_function=None,
            )
        col = self.client.get_collection(self.name, embedding_function=None)
        meta = col.metadata or {}
        model, dim = meta.get("embedding_model"), meta.get("embedding_dim")
        if model != self.embedding_model or dim != self.dim:
            raise IndexMismatchError(
                f"collection {self.name!r} in {self.path} was built with embedding model {model!r} "
                f"({dim}-d), but {self.embedding_model!r} ({self.dim}-d) is configured. Set the embedder "
                "back, or ingest into another collection (--collection) or index (--index)."
            )
        return col

    def count(self) -> int:
        return int(self.collection.count())

    def has_document(self, doc_hash: str) -> bool:
        got = self.collection.get(where={"doc_hash": doc_hash}, limit=1, include=[])
        return bool(got["ids"])

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        step = 1000
        for start in range(0, len(ids), step):
            got = self.collection.get(ids=list(ids[start : start + step]), include=[])
            found.update(got["ids"])
        return found

    def add(self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]) -> int:
        if len(chunks) != len(embeddings):
            raise ValueError("chunks and embeddings differ in length")
        have = self.existing_ids([c.id for c in chunks])
        seen: set[str] = set()
        new = []
        for chunk, emb in zip(chunks, embeddings, strict=True):
            if chunk.id in have or chunk.id in seen:
                continue
            seen.add(chunk.id)
            new.append((chunk, emb))
        step = max(1, int(self.client.get_max_batch_size()))
        written: list[str] = []
        try:
            for start in range(0, len(new), step):
                batch = new[start : start + step]
                ids = [c.id for c, _ in batch]
                self.collection.add(
                    ids=ids,
                    embeddings=[list(e) for _, e in batch],
                    documents=[c.text for c, _ in batch],
                    metadatas=[c.metadata() for c, _ in batch],
                )
                written.extend(ids)
        except BaseException:
            if written:  # all or nothing: take back what this call wrote
                self.collection.delete(ids=written)
            raise
        return len(new)

    def search(self, embedding: Sequence[float], k: int) -> list[Hit]:
        if self.count() == 0:
            return []
        res = self.collection.query(
            query_embeddings=[list(embedding)],
            n_results=k,
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for id_, text, meta, dist in zip(
            res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
        ):
            hits.append(Hit(chunk=_chunk_from(id_, text or "", dict(meta or {})), score=1.0 - float(dist)))
        return hits

    def all_chunks(self) -> list[Chunk]:
        got = self.collection.get(include=["documents", "metadatas"])
        return [
            _chunk_from(i, t or "", dict(m or {}))
            for i, t, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]
