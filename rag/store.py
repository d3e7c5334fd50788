"""Vector stores: the `Store` interface and its real default, a persistent Chroma collection on disk.

The collection records the embedding model's name and dimension in its metadata; opening it with another
model raises IndexMismatchError instead of failing later on a dimension error. Similarity is cosine.
Writes go through LangChain's indexing API (`langchain_core.indexing.index`) with a SQL record manager
(rag.records): it knows which chunk ids belong to which source file, skips chunks already stored, and
removes a file's stale chunks when the file changes or disappears.
Not here: a Chroma server client (same class, other client), lexical search, reranking.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rag.embedder import Embedder
from rag.errors import ConfigError, IndexMismatchError, RagError
from rag.records import chunk_record_manager
from rag.types import Chunk, Hit

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")


def check_collection_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        raise ConfigError(
            f"invalid collection name {name!r}: use 3-512 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class WriteStats:
    added: int
    deleted: int
    skipped: int


class Store(Protocol):
    def replace_source(self, source: str, chunks: Sequence[Chunk], embedder: Embedder) -> WriteStats:
        """Make `chunks` the only chunks of `source`: add the new ones, drop the stale ones."""
        ...

    def search(self, embedding: Sequence[float], k: int) -> list[Hit]:
        """The k most similar chunks, best first."""
        ...


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


class _LangChainEmbeddings:
    """Our Embedder seen as LangChain `Embeddings` (what langchain_chroma.Chroma calls)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed([text])[0]


class ChromaStore:
    """One Chroma collection. `create=False` opens an existing collection only (for asking).

    `dim` may be a callable, called only when the collection is created: opening an existing collection
    never loads the embedding model."""

    def __init__(
        self,
        path: Path,
        collection: str,
        embedding_model: str,
        dim: int | Callable[[], int],
        create: bool = True,
        client: Any = None,
        records: Any = None,
    ) -> None:
        self.path = path
        self.name = check_collection_name(collection)
        self.embedding_model = embedding_model
        self._dim = dim
        self._records: Any = records
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
            dim = self._dim() if callable(self._dim) else self._dim
            return self.client.create_collection(
                self.name,
                metadata={"hnsw:space": "cosine", "embedding_model": self.embedding_model, "embedding_dim": dim},
                embedding_function=None,
            )
        col = self.client.get_collection(self.name, embedding_function=None)
        meta = col.metadata or {}
        model, built_dim = meta.get("embedding_model"), meta.get("embedding_dim")
        if model != self.embedding_model:
            raise IndexMismatchError(
                f"collection {self.name!r} in {self.path} was built with embedding model {model!r} "
                f"({built_dim}-d), but {self.embedding_model!r} is configured. Set the embedder back, rebuild "
                "the collection with `ragqa reindex SOURCE_DIR...`, or use another --collection or --index.",
                built_with=str(model),
            )
        return col

    @property
    def dim(self) -> int:
        return int((self.collection.metadata or {})["embedding_dim"])

    @property
    def records(self) -> Any:
        if self._records is None:
            self._records = chunk_record_manager(self.path, self.name)
        return self._records

    def count(self) -> int:
        return int(self.collection.count())

    def _langchain_view(self, embedder: Embedder) -> Any:
        from langchain_chroma import Chroma

        return Chroma(
            client=self.client,
            collection_name=self.name,
            embedding_function=_LangChainEmbeddings(embedder),  # type: ignore[arg-type]
        )

    def replace_source(self, source: str, chunks: Sequence[Chunk], embedder: Embedder) -> WriteStats:
        """Index one file's chunks through LangChain's indexing API: chunks already recorded are skipped,
        new ones embedded and written in one call, and the source's chunks not in `chunks` deleted
        ("scoped_full" cleanup). If the write fails, the new chunks it may have stored are taken back."""
        from langchain_core.documents import Document
        from langchain_core.indexing import index

        if any(c.source != source for c in chunks):
            raise ValueError("every chunk must come from `source`")
        docs = [Document(page_content=c.text, metadata=c.metadata(), id=c.id) for c in chunks]
        known = set(self.records.list_keys(group_ids=[source]))
        try:
            result = index(
                docs,
                self.records,
                self._langchain_view(embedder),
                batch_size=max(1, len(docs)),  # one write per file
                cleanup="scoped_full",
                source_id_key="source",
                key_encoder=lambda doc: str(doc.id),
            )
        except BaseException:
            fresh = [c.id for c in chunks if c.id not in known]
            if fresh:
                self.collection.delete(ids=fresh)
                self.records.delete_keys(fresh)
            raise
        return WriteStats(result["num_added"], result["num_deleted"], result["num_skipped"])

    def delete_source(self, source: str) -> int:
        """Remove every chunk of `source` (store first, then its records, so a crash leaves it findable)."""
        keys = self.records.list_keys(group_ids=[source])
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            self.collection.delete(ids=batch)
            self.records.delete_keys(batch)
        return len(keys)

    def drop(self) -> None:
        """Delete the whole collection and its chunk records."""
        self.records.delete_keys(self.records.list_keys())
        self.client.delete_collection(self.name)

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


class MergedStore:
    """Searches several stores and keeps the k best hits overall (e.g. an upload plus the company docs)."""

    def __init__(self, stores: Sequence[Any]) -> None:
        self.stores = list(stores)

    def search(self, embedding: Sequence[float], k: int) -> list[Hit]:
        hits = [h for store in self.stores for h in store.search(embedding, k)]
        return sorted(hits, key=lambda h: h.score, reverse=True)[:k]
